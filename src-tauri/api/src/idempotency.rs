//! `Idempotency-Key` on POST requests (conventions in docs/api.md): a client that sends a
//! POST again with the same key (after a timeout, a dropped connection, a crash) gets the
//! first answer again, marked `Idempotent-Replayed: true`, instead of creating twice. The
//! same key with a different method, path, query or body is refused with 409
//! `idempotency_key_reused`; a second request while the first is running with 409
//! `idempotency_key_in_use`. Keys are per actor and kept 24 hours (engine `idempotency`).
//! Answers of 5xx are not kept, so a retry after a failure inside the node runs again.

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::idempotency::{self, Answer, Claim};
use flightdeck_engine::identity::Actor;

use crate::AppState;
use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Larger answers are not kept (none of today's POSTs comes near).
const MAX_KEPT_ANSWER: usize = 1024 * 1024;

fn engine_error(e: &idempotency::IdempotencyError) -> Response {
    ApiError::from_engine(e.code(), e).into_response()
}

/// The middleware, inside the token check (it needs the actor).
pub async fn idempotent(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(&IDEMPOTENCY_KEY) {
        return next.run(req).await;
    }
    let key = match req.headers().get(&IDEMPOTENCY_KEY).map(HeaderValue::to_str) {
        Some(Ok(k)) if idempotency::valid_key(k) => k.to_string(),
        _ => return engine_error(&idempotency::IdempotencyError::InvalidKey),
    };
    let actor = req
        .extensions()
        .get::<Actor>()
        .map(Actor::label)
        .unwrap_or_default();
    let target = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().to_string(), |u| u.0.to_string());
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        // The body limit layer's error: the request is too large.
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body exceeds server.body_limit_bytes",
            )
            .into_response();
        }
    };
    let print = idempotency::fingerprint(parts.method.as_str(), &target, &bytes);
    let store = state.engine.idempotency();
    let ticket = match store.claim(&actor, &key, &print).await {
        Ok(Claim::Fresh(ticket)) => ticket,
        Ok(Claim::Replay(answer)) => return replay(answer),
        Err(e) => return engine_error(&e),
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_KEPT_ANSWER).await {
        Ok(b) => b,
        Err(_) => {
            if let Err(e) = store.release(ticket).await {
                tracing::warn!(error = %e, "releasing an idempotency key failed");
            }
            return ApiError::internal("an answer too large to keep for Idempotency-Key")
                .into_response();
        }
    };
    let outcome = if parts.status.is_server_error() {
        store.release(ticket).await
    } else {
        let answer = Answer {
            status: parts.status.as_u16(),
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            body: body.to_vec(),
        };
        store.complete(ticket, &answer).await
    };
    if let Err(e) = outcome {
        // The request itself succeeded; a retry with this key may run it again.
        tracing::warn!(error = %e, "keeping the answer for an Idempotency-Key failed");
    }
    Response::from_parts(parts, Body::from(body))
}

fn replay(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(answer.body)).into_response();
    let headers = response.headers_mut();
    if let Some(v) = answer
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    // A kept error body is already an ApiErrorBody: the error layer must not rewrite it.
    response.extensions_mut().insert(crate::error::Rendered);
    response
}
