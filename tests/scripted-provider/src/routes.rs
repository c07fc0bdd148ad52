//! The HTTP surface: the provider endpoints (OpenAI chat completions and models, Anthropic
//! messages), key checks, and the control API (`POST /_script`, `POST /_reset`,
//! `GET /_calls`).
//!
//! Invariants: every request to a provider endpoint (or to an unknown path outside `/_`) is
//! recorded before it is answered; a request refused for its key (401) or its body (400) is
//! recorded but pops no step; the control API is never recorded or counted.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::request;
use crate::respond::{self, Proto};
use crate::state::{CallGuard, Recorded, Shared};
use crate::step::Step;

/// The largest request body accepted (bigger ones get axum's 413).
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// The body of `POST /_script`: steps for the shared queue, or for `model`'s queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The model whose queue gets the steps (consulted before the shared queue); absent:
    /// the shared queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub steps: Vec<Step>,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai_chat))
        .route("/chat/completions", post(openai_chat))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/_script", post(script))
        .route("/_reset", post(reset))
        .route("/_calls", get(calls))
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(shared)
}

async fn openai_chat(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    provider(shared, Proto::OpenAi, method, uri, headers, body).await
}

async fn anthropic_messages(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    provider(shared, Proto::Anthropic, method, uri, headers, body).await
}

async fn provider(
    shared: Arc<Shared>,
    proto: Proto,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = request::parse(&body);
    let key = check_key(&shared, proto, &headers);
    let refused = if key.is_err() {
        Some("unauthorized")
    } else if parsed.error.is_some() {
        Some("invalid_request")
    } else {
        None
    };
    let guard = CallGuard::new(Arc::clone(&shared));
    let step = shared.record(
        Recorded {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            model: parsed.model.clone(),
            stream: parsed.stream,
            answer: refused.unwrap_or("default"),
            headers,
            body,
        },
        refused.is_none(),
    );
    if let Err(message) = key {
        let mut guard = guard;
        guard.done();
        return unauthorized(proto, message);
    }
    if let Some(message) = &parsed.error {
        let mut guard = guard;
        guard.done();
        return respond::error(proto, 400, Some(message), None, None, None);
    }
    respond::step(proto, step.unwrap_or_else(Step::echo), parsed, guard).await
}

/// Checks the key when one is required: `Authorization: Bearer` for OpenAI; `x-api-key` or
/// `Authorization: Bearer` for Anthropic (its Python SDK 2.x sends the api key as a bearer
/// token). The error is the message of the 401.
fn check_key(shared: &Shared, proto: Proto, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(required) = &shared.require_key else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")));
    let api_key = match proto {
        Proto::OpenAi => None,
        Proto::Anthropic => headers.get("x-api-key").map(|v| v.to_str().ok()),
    };
    let matches = |sent: Option<Option<&str>>| sent.flatten() == Some(required.as_str());
    if matches(bearer) || matches(api_key) {
        return Ok(());
    }
    match (proto, bearer.is_some() || api_key.is_some()) {
        (Proto::OpenAi, false) => Err(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        ),
        (Proto::OpenAi, true) => Err("Incorrect API key provided."),
        (Proto::Anthropic, false) => Err("x-api-key header is required"),
        (Proto::Anthropic, true) => Err("invalid x-api-key"),
    }
}

fn unauthorized(proto: Proto, message: &str) -> Response {
    // OpenAI sends `invalid_api_key` for a wrong key and a null code for a missing one.
    let code = if message.starts_with("Incorrect") {
        "invalid_api_key"
    } else {
        ""
    };
    respond::error(proto, 401, Some(message), None, Some(code), None)
}

/// The protocol a request without a protocol-specific path speaks: Anthropic's SDKs always
/// send `anthropic-version`.
fn proto_of(headers: &HeaderMap) -> Proto {
    if headers.contains_key("anthropic-version") {
        Proto::Anthropic
    } else {
        Proto::OpenAi
    }
}

async fn models(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let proto = proto_of(&headers);
    let key = check_key(&shared, proto, &headers);
    shared.record(
        Recorded {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            model: None,
            stream: false,
            answer: if key.is_ok() {
                "models"
            } else {
                "unauthorized"
            },
            headers,
            body: Bytes::new(),
        },
        false,
    );
    if let Err(message) = key {
        return unauthorized(proto, message);
    }
    let body = match proto {
        Proto::OpenAi => shared.openai_models.clone(),
        Proto::Anthropic => shared.anthropic_models.clone(),
    };
    json_response(StatusCode::OK, body)
}

async fn unknown(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().starts_with("/_") {
        return control_error(StatusCode::NOT_FOUND, "unknown control path".to_owned());
    }
    let proto = proto_of(&headers);
    let message = format!("Unknown request URL: {} {}", method, uri.path());
    shared.record(
        Recorded {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            model: None,
            stream: false,
            answer: "unknown_path",
            headers,
            body,
        },
        false,
    );
    respond::error(proto, 404, Some(&message), None, Some(""), None)
}

fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn control_error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json_response(status, body)
}

async fn script(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let script: Script = match serde_json::from_slice(&body) {
        Ok(script) => script,
        Err(error) => return control_error(StatusCode::BAD_REQUEST, error.to_string()),
    };
    for (i, step) in script.steps.iter().enumerate() {
        if let Err(error) = step.validate() {
            return control_error(StatusCode::BAD_REQUEST, format!("steps[{i}]: {error}"));
        }
    }
    let added = script.steps.len();
    shared.script(script.model, script.steps);
    let counts = shared.counts();
    let body = serde_json::json!({
        "added": added,
        "queued": counts.queued,
        "queued_by_model": counts.queued_by_model,
    })
    .to_string();
    json_response(StatusCode::OK, body)
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response {
    match serde_json::to_vec(&shared.counts()) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(error) => control_error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}
