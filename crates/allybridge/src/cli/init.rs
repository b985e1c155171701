//! `allybridge init`: writes the commented `allybridge.toml` and a fresh
//! master key file (`allybridge.key`, mode 0600) in the current folder.
//! It refuses to overwrite either without `--force`, because a replaced key
//! makes every stored credential unreadable. It contacts nothing.

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
    #[arg(long)]
    pub force: bool,
    /// The folder to write into.
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

pub async fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let config_path = args.dir.join("allybridge.toml");
    let key_path = args.dir.join("allybridge.key");
    if !args.force {
        for p in [&config_path, &key_path] {
            if p.exists() {
                bail!(
                    "{} already exists; keep it, or run `allybridge init --force` to overwrite (a new key makes stored credentials unreadable)",
                    p.display()
                );
            }
        }
    }
    write_file(
        &config_path,
        config::Config::template().as_bytes(),
        0o644,
        args.force,
    )?;
    let key = store::MasterKey::generate();
    let mut text = key.to_base64().expose_secret().to_string();
    text.push('\n');
    write_file(&key_path, text.as_bytes(), 0o600, args.force)?;
    if args.json {
        println!(
            "{}",
            json!({"config": config_path.display().to_string(), "key_file": key_path.display().to_string(), "key_id": key.id()})
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
