//! Cross-cutting middleware: request ids, tracing spans, HTTP metrics, uniform error bodies,
//! Host/Origin checks and bearer auth.
//!
//! Invariants:
//! - Every response carries `X-Request-ID` (the client's, if sane, else a new UUID) and every
//!   log line of the request is inside a span that has it.
//! - Metric labels use the matched route pattern, never the raw path.
//! - A request naming a Host or Origin that is not this node's is refused before routing's
//!   handlers run (DNS rebinding, cross-site requests to a loopback node).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::secrets::ApiToken;
use flightdeck_engine::telemetry::IntGauge;
use tracing::Instrument;

use crate::AppState;
use crate::error::{ApiError, REQUEST_ID, Rendered};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_string())
}

/// Request id, span, metrics and error-body normalisation, in one place.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let metrics = state.engine.metrics().clone();
    // A guard, not inc/dec: hyper drops this future when the client goes away mid-request.
    let in_flight = InFlight::new(metrics.http_in_flight.clone());
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    drop(in_flight);
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<Rendered>().is_none()
    {
        response =
            REQUEST_ID.sync_scope(id.clone(), || ApiError::from_status(status).into_response());
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let elapsed = started.elapsed();
    let status_label = status.as_u16().to_string();
    let labels = [method.as_str(), route.as_str(), status_label.as_str()];
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        );
    });
    response
}

/// Counts a request in flight until dropped.
struct InFlight(IntGauge);

impl InFlight {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Host names this node answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: HashSet<String>,
}

impl AllowedHosts {
    /// Loopback names, the desktop's origins, plus `extra` (config `server.allowed_hosts` and
    /// the listen address).
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        let mut names: HashSet<String> = ["localhost", "127.0.0.1", "[::1]", "tauri.localhost"]
            .into_iter()
            .map(String::from)
            .collect();
        names.extend(extra.into_iter().map(|h| h.to_ascii_lowercase()));
        Self { names }
    }

    fn allows(&self, host: &str) -> bool {
        self.names.contains(&host.to_ascii_lowercase())
    }
}

/// The host part of `host[:port]` or `[v6]:port`.
fn host_part(authority: &str) -> &str {
    if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

/// Refuses requests whose Host or Origin is not this node (403 `forbidden_host`).
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let hosts = &state.hosts;
    if let Some(host) = req.headers().get(header::HOST) {
        let ok = host
            .to_str()
            .map(|h| hosts.allows(host_part(h)))
            .unwrap_or(false);
        if !ok {
            return forbidden(
                "the Host header does not name this node (add it to server.allowed_hosts to allow it)",
            );
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin
            .to_str()
            .map(|o| origin_allowed(hosts, o))
            .unwrap_or(false);
        if !ok {
            return forbidden("requests from this Origin are not allowed");
        }
    }
    next.run(req).await
}

fn origin_allowed(hosts: &AllowedHosts, origin: &str) -> bool {
    if origin == "tauri://localhost" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && hosts.allows(host_part(rest))
}

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::ForbiddenHost, message).into_response()
}

/// Requires `Authorization: Bearer <token>`.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match bearer(&req) {
        Some(presented) if state.token.matches(presented) => next.run(req).await,
        Some(_) => ApiError::unauthorized("wrong bearer token").into_response(),
        None => ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` header (`flightdeck token` prints it)",
        )
        .into_response(),
    }
}

fn bearer(req: &Request<Body>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token in force, shared by the auth middleware and the feed.
pub type SharedToken = Arc<ApiToken>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_table() {
        let hosts = AllowedHosts::new(["node.lan".to_string()]);
        let cases = [
            ("127.0.0.1:7878", true),
            ("localhost", true),
            ("LOCALHOST:80", true),
            ("[::1]:7878", true),
            ("node.lan:7878", true),
            ("evil.example:7878", false),
            ("127.0.0.1.evil.example", false),
        ];
        for (h, ok) in cases {
            assert_eq!(hosts.allows(host_part(h)), ok, "{h}");
        }
        let origins = [
            ("http://127.0.0.1:7878", true),
            ("http://localhost:1420", true),
            ("tauri://localhost", true),
            ("http://tauri.localhost", true),
            ("https://evil.example", false),
            ("null", false),
            ("file://", false),
        ];
        for (o, ok) in origins {
            assert_eq!(origin_allowed(&hosts, o), ok, "{o}");
        }
    }

    #[test]
    fn request_id_sanity() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(sane_request_id(&ok).as_deref(), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "<script>"] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert!(sane_request_id(&v).is_none(), "{bad}");
        }
        let long = HeaderValue::from_str(&"a".repeat(129)).unwrap();
        assert!(sane_request_id(&long).is_none());
    }
}
