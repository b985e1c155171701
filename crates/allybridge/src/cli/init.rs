//! `allybridge init`: writes the commented `allybridge.toml` and a fresh
//! master key file (`allybridge.key`, mode 0600) in the current folder, or
//! in `--dir`, which it creates when missing. `--key-only` writes just the
//! key — where the configuration already in that folder puts it (`[store]
//! key_file`) — for a configuration copied from elsewhere. It refuses to
//! overwrite either file without `--force` (and `--key-only` never
//! overwrites a key), because a replaced key makes every stored credential
//! unreadable. It contacts nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use secrecy::ExposeSecret;
use serde_json::json;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing allybridge.toml and allybridge.key (stored credentials become unreadable).
    #[arg(long, conflicts_with = "key_only")]
    pub force: bool,
    /// Write only the master key, where the folder's allybridge.toml says (`[store] key_file`); never overwrites one.
    #[arg(long)]
    pub key_only: bool,
    /// The folder to write into (created when missing).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("could not set the permissions of {}", path.display()))?;
    }
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("could not write {}", path.display()))
}

/// Writes a new master key to `path` (mode 0600); its key id.
fn write_key(path: &Path, force: bool) -> anyhow::Result<String> {
    let key = store::MasterKey::generate();
    let mut text = key.to_base64().expose_secret().to_string();
    text.push('\n');
    write_file(path, text.as_bytes(), 0o600, force)?;
    Ok(key.id().to_string())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the folder {}", dir.display()))
}

/// `--key-only`: the key where the folder's configuration (if any) puts it.
fn key_only(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let config_path = args.dir.join("allybridge.toml");
    let key_path = if config_path.exists() {
        let config = super::context::load_config(&config_path)?;
        daemon::store_setup::key_file(&config)
    } else {
        args.dir.join("allybridge.key")
    };
    if key_path.exists() {
        bail!(
            "{} already exists; it is the master key of the credentials stored with it, so it is never replaced by --key-only",
            key_path.display()
        );
    }
    if let Some(parent) = key_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    let key_id = write_key(&key_path, false)?;
    if args.json {
        println!(
            "{}",
            json!({"key_file": key_path.display().to_string(), "key_id": key_id})
        );
    } else {
        println!(
            "Wrote {} (the master key: keep it private, back it up, never commit it).",
            key_path.display()
        );
        println!(
            "Credentials are stored encrypted with it: run `allybridge connect` for each tenant, then `allybridge check`."
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    if args.key_only {
        return key_only(&args);
    }
    let config_path = args.dir.join("allybridge.toml");
    let key_path = args.dir.join("allybridge.key");
    if !args.force {
        for p in [&config_path, &key_path] {
            if p.exists() {
                let only_key = if p == &config_path && !key_path.exists() {
                    "; to make only the master key for it, run `allybridge init --key-only`"
                } else {
                    ""
                };
                bail!(
                    "{} already exists; keep it, or run `allybridge init --force` to overwrite (a new key makes stored credentials unreadable){only_key}",
                    p.display()
                );
            }
        }
    }
    create_dir(&args.dir)?;
    write_file(
        &config_path,
        config::Config::template().as_bytes(),
        0o644,
        args.force,
    )?;
    let key_id = write_key(&key_path, args.force)?;
    if args.json {
        println!(
            "{}",
            json!({"config": config_path.display().to_string(), "key_file": key_path.display().to_string(), "key_id": key_id})
        );
    } else {
        println!(
            "Wrote {} and {} (the master key: keep it private, back it up, never commit it).",
            config_path.display(),
            key_path.display()
        );
        println!("Next: edit allybridge.toml (location_id, site_url, flows), then run");
        println!("  allybridge connect ghl --tenant main --oauth   (or --token)");
        println!("  allybridge connect accessally --tenant main");
        println!("  allybridge check");
        println!("  allybridge sync --dry-run");
    }
    Ok(ExitCode::SUCCESS)
}
