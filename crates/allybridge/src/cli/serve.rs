//! `allybridge serve`: parses its flags, starts the daemon (the `daemon`
//! library's [`daemon::Daemon`]: HTTP server, workers, pollers,
//! reconciler, admin page, OAuth callback, alert watch), prints where it
//! serves and what the operator should know, and stops it on Ctrl-C or
//! SIGTERM: intake and polling stop, the workers finish the round they are
//! in, then the process exits.

use std::process::ExitCode;

use clap::Args;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Listen here instead of `[server] listen` (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

/// Resolves a shutdown signal: Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let daemon = daemon::Daemon::start(
        config,
        daemon::ServeOptions {
            listen: args.listen,
            mode_file: context::mode_file(&args.config),
        },
    )
    .await?;
    for notice in daemon.notices() {
        eprintln!("allybridge: {notice}");
    }
    eprintln!("allybridge serving on http://{}", daemon.address());
    shutdown_signal().await;
    eprintln!("allybridge: shutting down (finishing the jobs in progress)…");
    daemon.stop().await?;
    eprintln!("allybridge: stopped");
    Ok(ExitCode::SUCCESS)
}
