//! `scripted-provider`: the scripted provider as a process, for Python tests and benchmarks.
//! Prints `listening on http://ADDR` as its first stdout line (flushed) so a script can read
//! the port, and serves until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use flightdeck_scripted_provider::ScriptedProvider;

/// The scripted OpenAI/Anthropic-compatible provider (see the crate docs for the control API).
#[derive(Parser)]
#[command(name = "scripted-provider", version)]
struct Args {
    /// Address to listen on (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Refuse (401) requests without this key (`Authorization: Bearer` / `x-api-key`).
    #[arg(long, env = "SCRIPTED_PROVIDER_REQUIRE_KEY")]
    require_key: Option<String>,
    /// A model for `GET /v1/models` (repeat for more; default: a small built-in list).
    #[arg(long = "model")]
    models: Vec<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut builder = ScriptedProvider::builder().listen(args.listen);
    if let Some(key) = args.require_key {
        builder = builder.require_key(key);
    }
    if !args.models.is_empty() {
        builder = builder.models(args.models);
    }
    let provider = builder.start().await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", provider.base_url())?;
        stdout.flush()?;
    }
    stopped().await?;
    provider.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn stopped() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
