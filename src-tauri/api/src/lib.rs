//! The Flightdeck API: one axum [`Router`] over the [`Engine`], built by [`router`].
//!
//! The headless node serves it over TCP; the desktop shell hands requests to it in-process
//! (`tower::ServiceExt::oneshot`) and streams the feed through [`feed::FeedSession`], so the
//! two can never expose different command sets. A server of WebSockets builds it with
//! [`router_with_feeds`] to wait for the feeds' close at shutdown. The OpenAPI document is
//! generated from the handlers' annotations (utoipa, [`openapi()`]) and served at
//! `/api/v1/openapi.json`.
//!
//! Invariants: no dependency on tauri; every `/api/v1` route except the WebSocket feed (which
//! authenticates by its first message) sits behind bearer auth; every error is an
//! [`error::ApiErrorBody`], also for a panicking handler and a timed-out request.

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod budgets;
pub mod calls;
pub mod charts;
pub mod costs;
pub mod dashboard;
pub mod desktop_gateway;
pub mod error;
pub mod feed;
pub mod gateway;
pub mod hosts;
pub mod http_server;
pub mod idempotency;
pub mod middleware;
mod openapi;
pub mod page;
pub mod reconciliations;
pub mod reports;
pub mod runs;
pub mod secrets;
pub mod series;
pub mod shell;
pub mod system;
pub mod tasks;
pub mod tokens;
pub mod v1;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use flightdeck_engine::Engine;
use flightdeck_engine::secrets::ApiToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::hosts::AllowedHosts;

pub use crate::openapi::openapi;

/// Content-Security-Policy of the node's own dashboard. The style hash is the report's
/// stylesheet (`flightdeck_engine::reports::html::style_source`, checked by a test): a report
/// opened from the dashboard is a `blob:` page under this policy too.
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'sha256-h94eE8MiEUKAop4U6Jvu3z95Ogt9xtRJvMYp8xVeCZ8='; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// How long an HTTP request (reading its body included) may take before it is answered 408.
/// The WebSocket feed is not affected: its upgrade answers at once.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests reach the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Over a TCP listener (`flightdeck serve`): every request must name an allowed host.
    Tcp,
    /// Handed over in-process by the desktop shell: requests carry no Host header, and the
    /// webview's origins (`tauri://localhost`, `http://tauri.localhost`) are allowed.
    InProcess,
}

/// How the router is set up.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The bearer token clients must present.
    pub token: ApiToken,
    /// Host names accepted besides loopback (config `server.allowed_hosts`, listen address).
    /// Check entries with [`hosts::normalize_host`] first: the router ignores bad ones.
    pub allowed_hosts: Vec<String>,
    /// Serve the dashboard (ui/dist) at `/` from here.
    pub ui_dir: Option<PathBuf>,
    /// Largest request body.
    pub body_limit_bytes: usize,
    /// TCP (the node) or in-process (the desktop).
    pub transport: Transport,
    /// Who the in-process requests come from (the OS user name); unused over TCP.
    pub desktop_user: String,
    /// The port the node serves on (Origins must name it); `None` in-process.
    pub served_port: Option<u16>,
    /// The desktop's gateway listener, whose state `GET /api/v1/gateway` shows (desktop only).
    pub desktop_gateway: Option<desktop_gateway::ListenerCell>,
}

/// Shared state of every handler: one `Arc`, so the clone each middleware layer and
/// handler takes is one atomic increment (fields are reached through `Deref`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl From<AppStateInner> for AppState {
    fn from(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct AppStateInner {
    pub engine: Engine,
    pub token: Arc<ApiToken>,
    pub hosts: Arc<AllowedHosts>,
    pub transport: Transport,
    /// The OpenAPI document, serialized once.
    pub openapi: Bytes,
    /// The WebSocket feed sessions this router started.
    pub feeds: feed::FeedTasks,
    pub desktop_user: String,
    pub auth_failures: Arc<auth::AuthFailures>,
    pub desktop_gateway: Option<desktop_gateway::ListenerCell>,
}

/// Builds the router over `engine`.
pub fn router(engine: Engine, options: ApiOptions) -> Router {
    router_with_feeds(engine, options).0
}

/// [`router`], and the handle to the WebSocket feed sessions it will start, which a server
/// waits on at shutdown ([`feed::FeedTasks::closed`]) so every feed gets its 1001 close
/// before the process exits.
pub fn router_with_feeds(engine: Engine, options: ApiOptions) -> (Router, feed::FeedTasks) {
    let ui_dir = options.ui_dir.clone();
    let body_limit_bytes = options.body_limit_bytes;
    let state = state_of(engine, options, true);
    let feeds = state.feeds.clone();
    let authed = Router::from(openapi::v1_routes())
        // Unknown paths and methods under /api/v1 answer 404/405 only to a holder of the
        // token: `layer` (not `route_layer`) so nothing is discoverable without it.
        .route("/{*rest}", axum::routing::any(not_found))
        // Inside the token check: keys are per actor.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    // The feed authenticates by its first message (browsers cannot set WebSocket headers).
    let v1 = authed.route("/feed", axum::routing::get(feed::feed));
    let mut app = Router::from(openapi::public_routes()).nest("/api/v1", v1);
    app = match ui_dir {
        Some(dir) => app.fallback(move |req: Request| dashboard::serve(dir.clone(), req)),
        None => app.fallback(not_found),
    };
    // The gateway has its own body limit, and its calls are bounded by the providers'
    // timeouts instead of the API's.
    let app = with_api_limits(app, body_limit_bytes);
    let gateway_limit = usize::try_from(state.engine.config().current().gateway.max_request_bytes)
        .unwrap_or(usize::MAX);
    let app = app.merge(gateway::router(state.clone(), gateway_limit));
    (with_layers(app, state), feeds)
}

/// The shared state of a Router over `engine`; `with_openapi`: serve the OpenAPI document.
fn state_of(engine: Engine, options: ApiOptions, with_openapi: bool) -> AppState {
    let openapi = if with_openapi {
        openapi().to_json().map(Bytes::from).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            Bytes::from_static(b"{}")
        })
    } else {
        Bytes::new()
    };
    AppState::from(AppStateInner {
        engine,
        token: Arc::new(options.token),
        hosts: Arc::new(AllowedHosts::serving(
            options.allowed_hosts,
            options.transport == Transport::InProcess,
            options.served_port,
        )),
        transport: options.transport,
        openapi,
        feeds: feed::FeedTasks::default(),
        desktop_user: options.desktop_user,
        auth_failures: Arc::new(auth::AuthFailures::default()),
        desktop_gateway: options.desktop_gateway,
    })
}

/// A Router with only the gateway (`/v1/*`) and the same middleware as [`router`]: what the
/// desktop serves on its loopback gateway port. Everything else is 404.
pub fn gateway_only_router(engine: Engine, options: ApiOptions) -> Router {
    let state = state_of(engine, options, false);
    let gateway_limit = usize::try_from(state.engine.config().current().gateway.max_request_bytes)
        .unwrap_or(usize::MAX);
    let app = gateway::router(state.clone(), gateway_limit).fallback(not_found);
    with_layers(app, state)
}

/// The API's own limits: its body limit and the 30 s request timeout.
fn with_api_limits(app: Router<AppState>, body_limit: usize) -> Router<AppState> {
    app.layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// The middleware stack around every route, outermost last.
fn with_layers(app: Router<AppState>, state: AppState) -> Router {
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::check_host,
    ))
    // Inside `observe`, so a panic's 500 has the request id and is counted and logged.
    .layer(CatchPanicLayer::custom(middleware::panic_response))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::observe,
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ))
    .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found()
}

#[cfg(test)]
mod tests;
