//! The `allybridge` binary: parses the command line and wires the crates
//! together. Each verb lives in its own module under `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    allocator::tune_for_a_daemon();
    let args = cli::Cli::parse();
    let daemon = matches!(args.command, cli::Command::Serve(_));
    if !daemon {
        cli::end_quietly_on_a_closed_pipe();
    }
    cli::init_tracing(args.verbose, daemon);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
