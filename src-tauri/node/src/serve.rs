//! `flightdeck serve`: the engine and the API on a TCP listener until SIGINT/SIGTERM.
//!
//! Lifecycle: load and check the config → logging → signal handlers → bind → get the token
//! → open the engine → serve. The listener is bound first, so a start that fails on the
//! address (port in use, refused non-loopback address) creates nothing: no data dir, no
//! database, no token; and the token comes before the engine, so a node that could
//! authenticate no one (no keychain) creates no database either. A signal during start-up stops the node cleanly once the
//! engine is open. On the first signal: stop accepting, close feeds (1001), give in-flight
//! requests, the feeds' close frames and engine work up to `shutdown.timeout_secs` in all
//! (connections still open then are aborted), checkpoint and close the database, exit 0.
//! A second signal exits at once (130). The engine writes before it acknowledges, so a forced
//! exit still loses nothing committed.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use flightdeck_api::{ApiOptions, Transport, router_with_feeds};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::{Engine, EngineOptions, ErrorCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::UsageError;
use crate::cli::{Global, ServeArgs};
/// `<data-dir>/node.addr`: the address the running node listens on.
pub const ADDR_FILE: &str = "node.addr";

use crate::commands::{data_dir, env_token, init_logging, load_config_with, overrides};
use flightdeck_api::http_server;

pub async fn serve(global: &Global, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = overrides(global);
    overrides.listen = args.listen.clone();
    overrides.insecure_listen = args.insecure_listen.then_some(true);
    let (config, config_source) = load_config_with(global, &overrides)?;
    // Validated with the config; the check here only keeps an impossible case explicit.
    let addr: SocketAddr = config.server.listen_addr().with_context(|| {
        format!(
            "`{}` is not an IP address with a port or localhost:PORT, e.g. 127.0.0.1:7878",
            config.server.listen
        )
    })?;
    if !addr.ip().is_loopback() && !config.server.insecure_listen {
        return Err(UsageError(format!(
            "refusing to listen on {addr}: it is not a loopback address and TLS is not configured \
             (TLS comes with fleet support). To serve plain HTTP on a trusted network anyway, pass \
             --insecure-listen (or set server.insecure_listen = true)"
        ))
        .into());
    }
    if let Some(dir) = &args.ui_dir
        && !dir.join("index.html").is_file()
    {
        bail!(
            "--ui-dir {}: no index.html there (build the UI with `npm --prefix ui run build`)",
            dir.display()
        );
    }
    // Validated with the config; the router normalizes each entry.
    let mut allowed_hosts = config.server.allowed_hosts.clone();
    let log = init_logging(&config)?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "serving plain HTTP on a non-loopback address (--insecure-listen): anyone who can \
             reach it can try the API, and the token and all data cross the network unencrypted; \
             use it only on a network you trust"
        );
    }
    let data_dir = data_dir(global)?;

    // Before anything slow: a signal from here on stops the node cleanly.
    let stop = CancellationToken::new();
    let signals = Signals::register().context("installing signal handlers")?;
    tokio::spawn(signals.run(stop.clone()));

    // Before the engine creates or migrates anything, so a taken port leaves no trace.
    let listener = bind(addr).await?;
    let local = listener.local_addr().context("reading the bound address")?;

    let engine = Engine::open(EngineOptions {
        data_dir,
        config: config.clone(),
        config_source,
        watch_config: true,
        env_token: env_token(),
        // A node that could authenticate no one fails before it creates a database.
        require_token: true,
        clock: SystemClock::shared(),
    })
    .await
    .map_err(|e| match e.code() {
        ErrorCode::SecretsUnavailable | ErrorCode::SecretMissing => {
            anyhow::Error::new(e).context("cannot get the API token")
        }
        _ => anyhow::Error::new(e),
    })?;
    let token = match engine.api_token().await {
        Ok(token) => token,
        Err(e) => {
            engine.shutdown_within(Duration::from_secs(1)).await;
            return Err(anyhow::Error::new(e).context("cannot get the API token"));
        }
    };
    if stop.is_cancelled() {
        let outcome = engine.shutdown().await;
        tracing::info!(?outcome, "stopped during start-up");
        return Ok(ExitCode::SUCCESS);
    }

    if !local.ip().is_unspecified() {
        allowed_hosts.push(local.ip().to_string());
    }
    // Where the CLI finds this node while it holds the data dir (`token create` and the
    // like go through the API then). Only the lock holder writes it.
    if let Err(error) = std::fs::write(engine.data_dir().join(ADDR_FILE), local.to_string()) {
        tracing::warn!(%error, "cannot record the listening address for the CLI");
    }
    let (app, feeds) = router_with_feeds(
        engine.clone(),
        ApiOptions {
            token,
            allowed_hosts,
            ui_dir: args.ui_dir.clone(),
            body_limit_bytes: usize::try_from(config.server.body_limit_bytes).unwrap_or(usize::MAX),
            transport: Transport::Tcp,
            desktop_user: String::new(),
            served_port: Some(local.port()),
            desktop_gateway: None,
        },
    );
    engine.follow_log_level(log);

    // The one line scripts wait for; the token is never printed here.
    println!("flightdeck listening on http://{local}");
    let _ = std::io::stdout().flush();
    tracing::info!(%local, dashboard = args.ui_dir.is_some(), "serving");

    let abort = CancellationToken::new();
    let server = http_server::serve(
        listener,
        app,
        stop.clone(),
        abort.clone(),
        http_server::HEADER_READ_TIMEOUT,
    );
    tokio::pin!(server);
    // `serve` returns only after `stop`; until then it runs here.
    let served = tokio::select! {
        () = &mut server => true,
        () = stop.cancelled() => false,
    };
    // Feeds and background loops end on the engine's token: feeds send their 1001 close now,
    // while the requests in flight drain.
    engine.shutdown_token().cancel();
    // One budget (read when the signal arrives, so reloads count) for draining requests, the
    // feeds' close frames and then the engine's own work.
    let budget = Duration::from_secs(engine.config().current().shutdown.timeout_secs);
    let until = tokio::time::Instant::now() + budget;
    if !served && tokio::time::timeout_at(until, &mut server).await.is_err() {
        tracing::warn!(
            timeout_secs = budget.as_secs(),
            "requests still in flight after the shutdown timeout; aborting their connections"
        );
        abort.cancel();
        server.await;
    }
    // No connection is left to start a feed: wait for the running ones to send their close.
    if tokio::time::timeout_at(until, feeds.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = feeds.len(),
            "feeds still closing after the shutdown timeout; dropping them"
        );
    }
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    let outcome = engine.shutdown_within(left).await;
    tracing::info!(?outcome, "stopped");
    Ok(ExitCode::SUCCESS)
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{addr} is already in use: another process listens there; stop it or pick another address with --listen"
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot listen on {addr}"))),
    }
}

/// SIGINT and SIGTERM, registered up front.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// First signal: graceful stop. Second: exit at once.
    async fn run(mut self, stop: CancellationToken) {
        self.next().await;
        tracing::info!("stopping: finishing in-flight work (send the signal again to force)");
        stop.cancel();
        self.next().await;
        eprintln!("flightdeck: forced exit");
        std::process::exit(130);
    }
}
