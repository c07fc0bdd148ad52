//! The desktop app's own gateway listener (`gateway.desktop_listen`, off by default): the
//! `/v1/*` gateway routes and nothing else, on the loopback `gateway.desktop_address`, so
//! agents and SDKs on this machine can use the desktop as their base URL.
//!
//! Lifecycle: [`spawn`] follows the config live: switched on, it binds and serves; switched
//! off or moved, the old listener stops (its open requests finish) before a new one binds. A
//! bind failure (port in use) is kept in the [`ListenerCell`] for the Settings screen and the
//! log, never fatal; it is tried again on the next config change.
//!
//! Invariants:
//! - Loopback only (a config rule on `gateway.desktop_address`, checked again here).
//! - Only the gateway: `/api`, the feed and the dashboard are not served on this port.
//! - Every request needs a named API token of scope `operate`, as on a node: the listener's
//!   own bootstrap token is random and never shown, and the desktop's in-process token is
//!   not valid here.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use flightdeck_engine::Engine;
use flightdeck_engine::secrets::ApiToken;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::{ApiOptions, Transport};

/// How long a stopped listener's open requests may take to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// The listener's state, as the Settings screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListenerState {
    /// `gateway.desktop_listen`.
    pub enabled: bool,
    /// `gateway.desktop_address`.
    pub address: String,
    /// Bound and serving.
    pub listening: bool,
    /// The address bound (differs from `address` when that names port 0).
    pub bound: Option<String>,
    /// Why it is not listening although enabled (e.g. the port is in use).
    pub error: Option<String>,
}

/// Where the listener reports its state; shared with the Router (`GET /api/v1/gateway`).
#[derive(Debug, Clone, Default)]
pub struct ListenerCell(Arc<RwLock<Option<ListenerState>>>);

impl ListenerCell {
    pub fn get(&self) -> Option<ListenerState> {
        match self.0.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, state: ListenerState) {
        match self.0.write() {
            Ok(mut s) => *s = Some(state),
            Err(p) => *p.into_inner() = Some(state),
        }
    }
}

/// The gateway-only Router for the listener on `port`.
fn gateway_router(engine: Engine, port: u16) -> Result<Router, String> {
    let token = ApiToken::generate().map_err(|e| e.to_string())?;
    let body_limit =
        usize::try_from(engine.config().current().server.body_limit_bytes).unwrap_or(usize::MAX);
    Ok(crate::gateway_only_router(
        engine,
        ApiOptions {
            token,
            allowed_hosts: Vec::new(),
            ui_dir: None,
            body_limit_bytes: body_limit,
            transport: Transport::Tcp,
            desktop_user: String::new(),
            served_port: Some(port),
            desktop_gateway: None,
        },
    ))
}

/// A listener serving, and how to stop it.
struct Running {
    address: String,
    bound: SocketAddr,
    stop: CancellationToken,
    abort: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting; open requests get [`DRAIN`] to finish, then are cut.
    async fn stop(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(DRAIN, &mut self.task).await.is_err() {
            self.abort.cancel();
            let _ = self.task.await;
        }
    }
}

async fn start(engine: &Engine, address: &str) -> Result<Running, String> {
    let addr: SocketAddr = flightdeck_engine::config::parse_listen(address)
        .filter(|a| a.ip().is_loopback())
        .ok_or_else(|| format!("`{address}` is not a loopback IP:PORT"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = gateway_router(engine.clone(), local.port())?;
    let (stop, abort) = (CancellationToken::new(), CancellationToken::new());
    let task = tokio::spawn(crate::http_server::serve(
        listener,
        app,
        stop.clone(),
        abort.clone(),
        crate::http_server::HEADER_READ_TIMEOUT,
    ));
    tracing::info!(address = %local, "desktop gateway listening");
    Ok(Running {
        address: address.to_string(),
        bound: local,
        stop,
        abort,
        task,
    })
}

/// Follows `gateway.desktop_listen` / `gateway.desktop_address` until `cancel`, reporting
/// into `cell`.
pub fn spawn(
    engine: Engine,
    cell: ListenerCell,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = engine.config().subscribe();
        let mut running: Option<Running> = None;
        let mut last: Option<(bool, String)> = None;
        loop {
            let (enabled, address) = {
                let c = engine.config().current();
                (c.gateway.desktop_listen, c.gateway.desktop_address.clone())
            };
            if last.as_ref() != Some(&(enabled, address.clone())) {
                last = Some((enabled, address.clone()));
                if let Some(r) = running.take_if(|r| !enabled || r.address != address) {
                    r.stop().await;
                    tracing::info!("desktop gateway stopped");
                }
                let mut error = None;
                if enabled && running.is_none() {
                    match start(&engine, &address).await {
                        Ok(r) => running = Some(r),
                        Err(e) => {
                            tracing::warn!(error = %e, "the desktop gateway cannot listen");
                            error = Some(e);
                        }
                    }
                }
                cell.set(ListenerState {
                    enabled,
                    address,
                    listening: running.is_some(),
                    bound: running.as_ref().map(|r| r.bound.to_string()),
                    error,
                });
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        if let Some(r) = running {
            r.stop().await;
        }
    })
}
