//! `allybridge admin-password`: reads the admin page's password from stdin
//! (first line, or everything when piped without a newline) and prints its
//! argon2id PHC string, to put in `[server] admin_password_hash`. The
//! password itself is never printed.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct AdminPasswordArgs {
    /// Print the hash as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: AdminPasswordArgs) -> anyhow::Result<ExitCode> {
    eprintln!("Type the admin page password, then Enter (or pipe it in):");
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("could not read the password from stdin")?;
    let password = input.lines().next().unwrap_or("").to_string();
    if password.chars().count() < 8 {
        bail!("the password is shorter than 8 characters; choose a longer one");
    }
    let hash = tokio::task::spawn_blocking(move || server::admin::auth::hash_password(&password))
        .await
        .context("the hashing task failed")??;
    if args.json {
        println!("{}", serde_json::json!({ "admin_password_hash": hash }));
    } else {
        println!("{hash}");
        eprintln!("Put it in allybridge.toml:\n  [server]\n  admin_password_hash = \"{hash}\"");
    }
    Ok(ExitCode::SUCCESS)
}
