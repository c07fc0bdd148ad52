//! `flightdeck`: the headless node (`serve`) and the command-line tools around it.
//!
//! A thin adapter: it parses arguments, loads the config, opens the engine, and hands it to
//! the API router. Errors are printed as one clear line (with their causes) and exit 1;
//! argument errors exit 2 (clap's, and a [`UsageError`]).

mod approvals_cli;
mod budget_cli;
mod calls_cli;
mod cli;
mod commands;
mod costs_cli;
mod forecast_cli;
mod node_api;
mod reconcile_cli;
mod report_cli;
mod run_cli;
mod secrets_cli;
mod series_cli;
mod serve;
mod task_cli;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

/// A command line that cannot work as given (exit 2, like clap's argument errors).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flightdeck: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Blocking work abandoned at shutdown (a hung keychain call) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flightdeck: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
