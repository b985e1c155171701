//! The command line: verbs, their flags, and dispatch to each verb's module.

mod admin_password;
mod backup;
mod check;
mod connect;
mod context;
mod demo;
mod dlq;
mod init;
mod keys;
mod logs;
mod ops;
mod probe;
mod reconcile;
mod scopes;
mod serve;
mod sim;
mod sync;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps a HighLevel sub-account and an AccessAlly site in sync.
#[derive(Debug, Parser)]
#[command(name = "allybridge", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulators of both systems (the sandbox), until interrupted.
    Sim(sim::SimArgs),
    /// The whole product on embedded defaults: both simulators, SQLite, the engine, live activity, a summary.
    Demo(demo::DemoArgs),
    /// Write a commented allybridge.toml and a master key file in the current folder.
    Init(init::InitArgs),
    /// Store credentials: `connect ghl --tenant T (--token | --oauth)`, `connect accessally --tenant T`.
    Connect(connect::ConnectArgs),
    /// Read-only health check: connections, scopes, webhooks, and the mapping against both catalogs.
    Check(check::CheckArgs),
    /// The daemon: webhooks, workers, pollers, reconciler, alerts, admin page, OAuth callback, /healthz, /readyz, /metrics.
    Serve(serve::ServeArgs),
    /// A reconciliation scan: report drift per flow; --repair fixes it.
    Reconcile(reconcile::ReconcileArgs),
    /// Dead letters: list, show, replay, drop.
    Dlq(dlq::DlqArgs),
    /// The integration log (what happened to each record).
    Logs(logs::LogsArgs),
    /// The master key: rotate.
    Keys(keys::KeysArgs),
    /// The operations catalog: list, describe, run one HighLevel action.
    Ops(ops::OpsArgs),
    /// One backfill / catch-up pass; --dry-run prints what would change and writes nothing.
    Sync(sync::SyncArgs),
    /// A consistent copy of the (SQLite) store in a new file, while `serve` runs.
    Backup(backup::BackupArgs),
    /// Put a backup in place of the store (checked first; the store it replaces is kept).
    Restore(backup::RestoreArgs),
    /// Read a password from stdin and print its argon2 hash for [server] admin_password_hash.
    AdminPassword(admin_password::AdminPasswordArgs),
    /// The HighLevel scopes and webhook events the flows need (for a marketplace app or a private token).
    Scopes(scopes::ScopesArgs),
}

/// Lets a closed stdout end the process quietly, as it ends `head` or
/// `grep`: SIGPIPE gets its default action back (Rust ignores it, so every
/// `println!` after the reader went away would panic with "Broken pipe").
/// Not for the daemon, which must outlive whoever reads its output.
pub fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    {
        // SAFETY: called first thing in `main`, before any other thread
        // runs; setting a signal's disposition to its default has no other
        // effect.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

/// Whether log lines get ANSI colours: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
pub fn colour_logs(on_a_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    on_a_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs to stderr: `ALLYBRIDGE_LOG` (EnvFilter syntax) if set, else by
/// verbosity; the daemon logs at info by default. Colours as
/// [`colour_logs`] says.
pub fn init_tracing(verbose: u8, daemon: bool) {
    let default = match verbose {
        0 if daemon => "info",
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALLYBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = colour_logs(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sim(args) => sim::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Init(args) => init::run(args).await,
        Command::Connect(args) => connect::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Keys(args) => keys::run(args).await,
        Command::Ops(args) => ops::run(args).await,
        Command::Sync(args) => sync::run(args).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Restore(args) => backup::restore(args).await,
        Command::AdminPassword(args) => admin_password::run(args).await,
        Command::Scopes(args) => scopes::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::colour_logs;

    #[test]
    fn colours_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour_logs(true, None));
        assert!(colour_logs(true, Some(OsStr::new(""))));
        assert!(!colour_logs(true, Some(OsStr::new("1"))));
        assert!(!colour_logs(false, None));
        assert!(!colour_logs(false, Some(OsStr::new("1"))));
    }
}
