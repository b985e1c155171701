//! The `allybridge` binary: parses the command line and wires the crates
//! together. Each verb lives in its own module under `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: about a fifth less CPU than the system allocator for the
/// daemon's many small HTTP and JSON buffers (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose, matches!(args.command, cli::Command::Serve(_)));
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
