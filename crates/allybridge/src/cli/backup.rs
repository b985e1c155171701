//! `allybridge backup FILE` and `allybridge restore FILE`: a consistent copy
//! of a SQLite store, taken while `serve` runs, and putting one back. A
//! restore checks the copy first (it opens as a store, its schema is not
//! newer than this binary, its credentials open with this master key) in a
//! file beside the store, then moves it into place; the store it replaces is
//! kept beside it. A PostgreSQL store is backed up with PostgreSQL's own
//! tools, and both verbs say how.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use store::Store;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The new file to write (never overwritten).
    pub file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A file `allybridge backup` wrote.
    pub file: PathBuf,
    /// Replace an existing store (it is kept beside it as `…before-restore-TIME`).
    #[arg(long)]
    pub force: bool,
}

/// The SQLite file of the configuration's store, or why there is none.
fn sqlite_file(config: &config::Config) -> anyhow::Result<PathBuf> {
    let url = daemon::store_setup::store_url(config);
    let Some(rest) = url.strip_prefix("sqlite://") else {
        bail!(
            "the store is PostgreSQL: back it up with `pg_dump --format=custom --file FILE URL` and restore it with `pg_restore --dbname URL FILE` into an empty database"
        );
    };
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file == ":memory:" {
        bail!("the store is in memory; there is nothing to back up");
    }
    Ok(PathBuf::from(file))
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    sqlite_file(&config)?;
    let store = daemon::open_store(&config).await?;
    store
        .backup_to(&args.file)
        .await
        .with_context(|| format!("backing up to {}", args.file.display()))?;
    let links = store.link_count().await?;
    store.close().await;
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    if args.json {
        println!(
            "{}",
            json!({"file": args.file.display().to_string(), "links": links, "bytes": bytes})
        );
    } else {
        println!(
            "Backed up the store to {} ({links} links, {bytes} bytes). Keep the master key with it: without it the stored credentials cannot be read.",
            args.file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let target = sqlite_file(&config)?;
    if !args.file.is_file() {
        bail!("{} is not a file", args.file.display());
    }
    if target.exists() && !args.force {
        bail!(
            "a store already exists at {}; stop `allybridge serve`, then run `allybridge restore --force {}` (the current store is kept beside it)",
            target.display(),
            args.file.display()
        );
    }
    // Check a copy beside the store, so a bad backup changes nothing.
    let checking = with_suffix(&target, "restoring");
    remove_sqlite_files(&checking)?;
    std::fs::copy(&args.file, &checking)
        .with_context(|| format!("copying {} to {}", args.file.display(), checking.display()))?;
    let verified = verify(&config, &checking).await;
    if let Err(e) = verified {
        remove_sqlite_files(&checking)?;
        return Err(e.context(format!(
            "{} cannot be restored; nothing was changed",
            args.file.display()
        )));
    }
    let kept = if target.exists() {
        let kept = with_suffix(
            &target,
            &format!(
                "before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        );
        std::fs::rename(&target, &kept)
            .with_context(|| format!("moving the current store to {}", kept.display()))?;
        for side in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with_raw_suffix(&target, side));
        }
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&checking, &target)
        .with_context(|| format!("moving the restored store to {}", target.display()))?;
    println!(
        "Restored {} into {}.",
        args.file.display(),
        target.display()
    );
    if let Some(kept) = kept {
        println!("The store it replaced is kept at {}.", kept.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the copy as a store (migrating it to this binary's schema), and
/// reads every stored credential with this master key.
async fn verify(config: &config::Config, path: &Path) -> anyhow::Result<()> {
    let store = Store::open(
        &Store::sqlite_url(path),
        daemon::store_setup::keyring(config)?,
    )
    .await
    .context("the file does not open as an allybridge store")?;
    let problems = store.integrity_problems().await?;
    let connections = store.connections().await?;
    let mut unreadable = Vec::new();
    for c in &connections {
        for kind in store::CredentialKind::ALL {
            if let Err(e) = store.credential(&c.id, kind).await {
                unreadable.push(format!("{} ({kind:?}): {e}", c.id));
            }
        }
    }
    store.close().await;
    if !problems.is_empty() {
        bail!("it is damaged: {}", problems.join("; "));
    }
    if !unreadable.is_empty() {
        bail!(
            "its credentials do not open with this master key (restore the key it was made with): {}",
            unreadable.join("; ")
        );
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    with_raw_suffix(path, &format!(".{suffix}"))
}

fn with_raw_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_sqlite_files(path: &Path) -> anyhow::Result<()> {
    for side in ["", "-wal", "-shm"] {
        let file = with_raw_suffix(path, side);
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    Ok(())
}
