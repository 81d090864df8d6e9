//! `mock-server`: the Cloakroom worker API with embedded storage.
//!
//! `mock-server serve` runs the server; further subcommands (the offline CLI) work on the
//! data directory while the server is stopped. The commands are defined in `cli::args`
//! and run in `cli::run`; this file only dispatches.

use std::process::ExitCode;

use clap::Parser;
use cloakroom_mock_server::cli::{args::Cli, run};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOAKROOM_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run::run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-server: {}", e.message);
            e.exit_code()
        }
    }
}
