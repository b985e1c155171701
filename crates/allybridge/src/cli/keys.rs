//! `allybridge keys rotate`: makes a new master key, re-encrypts every
//! stored credential under it, and swaps the key files — the new key in
//! `allybridge.key`, the old one kept as `allybridge.key.old` until you
//! have checked everything still works. The new key is written (mode
//! 0600) before any credential is re-encrypted, so an interrupted rotation
//! leaves both keys on disk.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use serde_json::json;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// New master key; re-encrypt every stored credential; keep the old key file as allybridge.key.old.
    Rotate {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn write_key(path: &std::path::Path, key: &store::MasterKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    file.write_all(key.to_base64().expose_secret().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("could not write {}", path.display()))
}

pub async fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let KeysAction::Rotate { json } = args.action;
    let config = context::load_config(&args.config.config)?;
    if std::env::var_os(store::MASTER_KEY_ENV).is_some() {
        bail!(
            "{} is set, so the key does not come from the key file; unset it to rotate the key file, or rotate by setting the new key in {} and the old one in {}",
            store::MASTER_KEY_ENV,
            store::MASTER_KEY_ENV,
            store::PREVIOUS_MASTER_KEYS_ENV
        );
    }
    let store = daemon::open_store(&config).await?;
    let key_path = daemon::store_setup::key_file(&config);
    let mut new_path = key_path.clone().into_os_string();
    new_path.push(".new");
    let new_path = std::path::PathBuf::from(new_path);
    let mut old_path = key_path.clone().into_os_string();
    old_path.push(".old");
    let old_path = std::path::PathBuf::from(old_path);
    let new_key = store::MasterKey::generate();
    write_key(&new_path, &new_key)?;
    let report = store
        .rotate_master_key(new_key)
        .await
        .context("re-encryption failed; the old key still opens the store and the new one is in the .new file")?;
    store.close().await;
    std::fs::rename(&key_path, &old_path)
        .with_context(|| format!("could not keep the old key as {}", old_path.display()))?;
    std::fs::rename(&new_path, &key_path)
        .with_context(|| format!("could not move the new key into {}", key_path.display()))?;
    if json {
        println!(
            "{}",
            json!({"new_key_id": report.new_key_id, "re_encrypted": report.re_encrypted, "key_file": key_path.display().to_string(), "old_key_file": old_path.display().to_string()})
        );
    } else {
        println!(
            "Rotated to key {}: {} credentials re-encrypted. New key in {}, old key kept in {} (delete it once everything works). Restart any running `allybridge serve`.",
            report.new_key_id,
            report.re_encrypted,
            key_path.display(),
            old_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
