//! Cross-cutting middleware: request ids, tracing spans, HTTP metrics, request logging,
//! uniform error bodies, panics, Host/Origin checks and bearer auth.
//!
//! Invariants:
//! - Every response carries `X-Request-ID` (the client's, if sane, else a new UUID) and every
//!   log line of the request is inside a span that has it.
//! - Metric labels are bounded: the matched route pattern (never the raw path) and one of the
//!   standard methods or `OTHER` (clients choose method names freely).
//! - A bare error from outside our handlers (axum's 405, a 408 timeout...) gets the JSON body
//!   but keeps its other headers (`Allow`...).
//! - A request naming a Host or Origin that is not this node's is refused before routing's
//!   handlers run (DNS rebinding, cross-site requests to a loopback node); over TCP a request
//!   must name one.
//! - Logs never carry headers, bodies or tokens; a panic's message goes to the log, never to
//!   the client.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::telemetry::IntGauge;
use tracing::Instrument;

use crate::error::{ApiError, REQUEST_ID, Rendered};
use crate::{AppState, Transport};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_string())
}

/// The method as a metric label: the standard ones by name, anything else `OTHER`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Request id, span, metrics, logging and error-body normalisation, in one place.
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
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %id, method, route = %route);
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
        let original = std::mem::take(response.headers_mut());
        response =
            REQUEST_ID.sync_scope(id.clone(), || ApiError::from_status(status).into_response());
        keep_headers(response.headers_mut(), original);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let elapsed = started.elapsed();
    let status_label = status.as_u16().to_string();
    let labels = [method, route.as_str(), status_label.as_str()];
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // One line per request; the span adds request_id, method and route.
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), latency_ms, "served");
        }
    });
    response
}

/// Copies `original`'s headers into a rewritten error response, except those describing the
/// old body and those the new response sets itself.
fn keep_headers(fresh: &mut HeaderMap, original: HeaderMap) {
    let mut current = None;
    for (name, value) in original {
        // `HeaderMap`'s iterator names only the first of repeated values.
        if let Some(name) = name {
            current = (name != header::CONTENT_TYPE
                && name != header::CONTENT_LENGTH
                && name != header::TRANSFER_ENCODING
                && !fresh.contains_key(&name))
            .then_some(name);
        }
        if let Some(name) = &current {
            fresh.append(name.clone(), value);
        }
    }
}

/// The response to a panicking handler: a JSON 500 under the request id; the panic's message
/// goes to the log only.
pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    ApiError::internal(format_args!("handler panicked: {message}")).into_response()
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

/// Refuses requests whose Host (or absolute-form authority) or Origin is not this node
/// (403 `forbidden_host`), and, over TCP, requests that name no host at all (400).
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let hosts = &state.hosts;
    let host = req.headers().get(header::HOST);
    let authority = req.uri().authority();
    if host.is_none() && authority.is_none() && state.transport == Transport::Tcp {
        // HTTP/1.0 clients may omit it; a node over TCP must still know who was meant.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "a Host header naming this node is required",
        )
        .into_response();
    }
    let host_ok = host.is_none_or(|h| h.to_str().is_ok_and(|h| hosts.allows(h)));
    let authority_ok = authority.is_none_or(|a| hosts.allows(a.as_str()));
    if !host_ok || !authority_ok {
        return forbidden(
            "the Host header does not name this node (add it to server.allowed_hosts to allow it)",
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin.to_str().is_ok_and(|o| hosts.allows_origin(o))
    {
        return forbidden("requests from this Origin are not allowed");
    }
    next.run(req).await
}

fn forbidden(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::ForbiddenHost, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn method_labels_are_bounded() {
        for (m, want) in [
            (Method::GET, "GET"),
            (Method::PATCH, "PATCH"),
            (Method::from_bytes(b"FOO1").unwrap(), "OTHER"),
            (Method::from_bytes(b"get").unwrap(), "OTHER"),
        ] {
            assert_eq!(method_label(&m), want);
        }
    }

    #[test]
    fn rewritten_errors_keep_headers_but_not_the_old_body_type() {
        let mut original = HeaderMap::new();
        original.insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        original.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        original.insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
        original.append("x-multi", HeaderValue::from_static("a"));
        original.append("x-multi", HeaderValue::from_static("b"));
        let mut fresh = HeaderMap::new();
        fresh.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        keep_headers(&mut fresh, original);
        assert_eq!(fresh[header::ALLOW], "GET,HEAD");
        assert_eq!(fresh[header::CONTENT_TYPE], "application/json");
        assert!(!fresh.contains_key(header::CONTENT_LENGTH));
        let multi: Vec<_> = fresh.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_panic_becomes_a_json_500_without_its_message() {
        let response = REQUEST_ID
            .scope("rid-7".into(), async {
                panic_response(Box::new("secret detail"))
            })
            .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert_eq!(body["error"]["request_id"], "rid-7");
        assert!(!String::from_utf8_lossy(&bytes).contains("secret detail"));
    }
}
