//! The LLM gateway: `POST /v1/chat/completions` and `GET /v1/models` (OpenAI-compatible),
//! `POST /v1/messages` (Anthropic-compatible), on the same call path as Flightdeck's own
//! agents (`Engine::providers`).
//!
//! Invariants:
//! - Auth is a named API token of scope `operate` (or the node's token), as
//!   `Authorization: Bearer` or `x-api-key` (what the Anthropic SDK sends), with the same
//!   lockout as `/api/v1`; the token's name is the call's client in the ledger.
//! - Every error is in the protocol's own error shape (so SDKs raise their usual
//!   exceptions) with Flightdeck's stable code inside; errors no retry can fix carry
//!   `x-should-retry: false` (honoured by the official SDKs), rate limits `Retry-After`.
//! - Streams are passed through as they arrive; a client that goes away drops the stream,
//!   which cancels the upstream call (and records it as `cancelled`).
//!
//! Must never: echo a provider key, or buffer a whole streamed answer.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::identity::{Actor, Scope};
use flightdeck_engine::providers::neutral::StreamEvent;
use flightdeck_engine::providers::wire::{anthropic, openai};
use flightdeck_engine::providers::{CacheMode, CallContext, CallError, Protocol};
use futures_util::StreamExt;

use crate::AppState;
use crate::error::status_of;

/// Which protocol a gateway path speaks (for its errors).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Openai,
    Anthropic,
}

fn dialect_of(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::Openai
    }
}

/// An error answer in the dialect's shape.
fn error_response(
    dialect: Dialect,
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> Response {
    let body = match dialect {
        Dialect::Openai => openai::encode_error(status.as_u16(), code.as_str(), message),
        Dialect::Anthropic => anthropic::encode_error(status.as_u16(), code.as_str(), message),
    };
    let mut r = (status, axum::Json(body)).into_response();
    // Already rendered in the protocol's shape: the middleware keeps it as it is.
    r.extensions_mut().insert(crate::error::Rendered);
    let final_codes = [
        ErrorCode::UnknownModel,
        ErrorCode::ProviderAuthFailed,
        ErrorCode::ProviderRejected,
        ErrorCode::ResponseTooLarge,
        ErrorCode::BadRequest,
        ErrorCode::InvalidJson,
        ErrorCode::Unauthorized,
        ErrorCode::InsufficientScope,
        ErrorCode::TokenExpired,
        ErrorCode::PayloadTooLarge,
        ErrorCode::LedgerUnavailable,
        // Waiting a few seconds does not refill a budget: the SDKs must not retry.
        ErrorCode::BudgetExceeded,
        ErrorCode::PriceUnknown,
    ];
    if final_codes.contains(&code) {
        r.headers_mut()
            .insert("x-should-retry", HeaderValue::from_static("false"));
    }
    r
}

fn call_error_response(dialect: Dialect, e: &CallError) -> Response {
    let status = status_of(e.code);
    let mut r = error_response(dialect, status, e.code, &e.message);
    if let Some(wait) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if let Some(id) = &e.call_id
        && let Ok(v) = HeaderValue::from_str(id)
    {
        r.headers_mut().insert("x-flightdeck-call-id", v);
    }
    r
}

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, token)) = v.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The token check of the gateway (scope `operate`), answering in the path's dialect.
async fn gateway_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let dialect = dialect_of(req.uri().path());
    let ip = crate::auth::client_ip(&state, req.extensions().get::<ConnectInfo<SocketAddr>>());
    let (actor, scope) = match crate::auth::authenticate(&state, presented_token(req.headers()), ip)
    {
        Ok(found) => found,
        Err(crate::auth::Refusal::LockedOut(wait)) => {
            let mut r = error_response(
                dialect,
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManyAuthFailures,
                &crate::auth::lockout_message(wait),
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Err(crate::auth::Refusal::Failed(e)) => {
            let message = if presented_token(req.headers()).is_none() {
                "missing API key: send a Flightdeck API token as `Authorization: Bearer <token>` or `x-api-key`".to_string()
            } else {
                e.message.clone()
            };
            return error_response(dialect, e.status, e.code, &message);
        }
    };
    if scope < Scope::Operate {
        return error_response(
            dialect,
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientScope,
            &format!(
                "this token's scope is {}; the gateway needs operate",
                scope.as_str()
            ),
        );
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

fn cache_mode(headers: &HeaderMap) -> Result<CacheMode, String> {
    match headers
        .get("x-flightdeck-cache")
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None => Ok(CacheMode::Default),
        Some("default") => Ok(CacheMode::Default),
        Some("off" | "no") => Ok(CacheMode::Off),
        Some("on" | "yes") => Ok(CacheMode::On),
        Some("force") => Ok(CacheMode::Force),
        Some(other) => Err(format!(
            "x-flightdeck-cache: `{other}` is not one of default, off, on, force"
        )),
    }
}

fn context(actor: &Actor, protocol: Protocol, headers: &HeaderMap) -> Result<CallContext, String> {
    let mut ctx = CallContext::new(actor.label(), protocol);
    ctx.cache = cache_mode(headers)?;
    Ok(ctx.with_tags(tags(headers)?))
}

/// `x-flightdeck-tags: team-a, urgent`: tags for cost rollups and budgets (the rules of a
/// task's tags: at most 32, each 1-128 of a-z, 0-9, - _ . : /).
fn tags(headers: &HeaderMap) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for value in headers.get_all("x-flightdeck-tags") {
        let text = value
            .to_str()
            .map_err(|_| "x-flightdeck-tags: not ASCII text".to_string())?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if !flightdeck_engine::orchestrator::valid_tag(tag) {
                return Err(format!(
                    "x-flightdeck-tags: `{tag}` is not a tag (1-128 of a-z, 0-9, - _ . : /)"
                ));
            }
            out.push(tag.to_string());
        }
    }
    out.sort();
    out.dedup();
    if out.len() > flightdeck_engine::orchestrator::MAX_TAGS {
        return Err(format!(
            "x-flightdeck-tags: at most {} tags",
            flightdeck_engine::orchestrator::MAX_TAGS
        ));
    }
    Ok(out)
}

fn call_headers(r: &mut Response, call_id: &str, provider: &str, model: &str, cache_hit: bool) {
    let h = r.headers_mut();
    for (name, value) in [
        ("x-flightdeck-call-id", call_id),
        ("x-flightdeck-provider", provider),
        ("x-flightdeck-model", model),
        ("x-flightdeck-cache", if cache_hit { "hit" } else { "miss" }),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
}

fn unix_now(state: &AppState) -> i64 {
    state.engine.clock().now().timestamp()
}

/// An SSE response over `frames`.
fn sse(frames: impl futures_util::Stream<Item = String> + Send + 'static) -> Response {
    let body = Body::from_stream(frames.map(|f| Ok::<_, Infallible>(Bytes::from(f))));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// `POST /v1/chat/completions`.
async fn chat_completions(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(&state, &actor, &headers, &body, Dialect::Openai).await
}

/// `POST /v1/messages`.
async fn messages(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    call(&state, &actor, &headers, &body, Dialect::Anthropic).await
}

/// One gateway call in dialect `d`: parse, call (whole or streamed), answer in `d`.
async fn call(
    state: &AppState,
    actor: &Actor,
    headers: &HeaderMap,
    body: &[u8],
    d: Dialect,
) -> Response {
    let (parsed, protocol) = match d {
        Dialect::Openai => (openai::parse_request(body), Protocol::Openai),
        Dialect::Anthropic => (anthropic::parse_request(body), Protocol::Anthropic),
    };
    let bad = |m: &str| error_response(d, StatusCode::BAD_REQUEST, ErrorCode::BadRequest, m);
    let request = match parsed {
        Ok(r) => r,
        Err(e) => return bad(&e.to_string()),
    };
    let ctx = match context(actor, protocol, headers) {
        Ok(c) => c,
        Err(m) => return bad(&m),
    };
    let model = request.model.clone();
    let providers = state.engine.providers();
    let created = unix_now(state);
    if request.stream {
        let stream = match providers.stream(request, ctx).await {
            Ok(s) => s,
            Err(e) => return call_error_response(d, &e),
        };
        let (provider, upstream_model) = stream.provider_model();
        let (id, hit) = (stream.call_id().to_string(), stream.cache_hit);
        let events = stream.into_stream();
        let frames = match d {
            Dialect::Openai => {
                let mut encoder = openai::StreamEncoder::new(&model, created);
                events
                    .map(move |item| match item {
                        Ok(ev) => encoder.encode(&ev),
                        Err(e) => format!(
                            "data: {}\n\ndata: [DONE]\n\n",
                            openai::encode_error(
                                status_of(e.code).as_u16(),
                                e.code.as_str(),
                                &e.message
                            )
                        ),
                    })
                    .boxed()
            }
            Dialect::Anthropic => {
                let mut encoder = anthropic::StreamEncoder::new(&model);
                events
                    .map(move |item: Result<StreamEvent, CallError>| match item {
                        Ok(ev) => encoder.encode(&ev),
                        Err(e) => flightdeck_engine::providers::wire::sse::frame(
                            Some("error"),
                            &anthropic::encode_error(
                                status_of(e.code).as_u16(),
                                e.code.as_str(),
                                &e.message,
                            )
                            .to_string(),
                        ),
                    })
                    .boxed()
            }
        };
        let mut r = sse(frames);
        call_headers(&mut r, &id, &provider, &upstream_model, hit);
        return r;
    }
    match providers.complete(request, ctx).await {
        Ok(done) => {
            let answer = match d {
                Dialect::Openai => openai::encode_response(&done.response, &model, created),
                Dialect::Anthropic => anthropic::encode_response(&done.response, &model),
            };
            let mut r = axum::Json(answer).into_response();
            call_headers(
                &mut r,
                &done.call_id,
                &done.provider,
                &done.model,
                done.cache_hit,
            );
            r
        }
        Err(e) => call_error_response(d, &e),
    }
}

/// `GET /v1/models`: the routes and the declared models.
async fn models(State(state): State<AppState>) -> Response {
    let list: Vec<(String, String)> = state
        .engine
        .providers()
        .models()
        .into_iter()
        .map(|m| (m.id, m.owned_by))
        .collect();
    axum::Json(openai::encode_models(&list)).into_response()
}

/// Unknown `/v1/*` paths, in OpenAI's shape.
async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    error_response(
        dialect_of(&path),
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        &format!(
            "no gateway endpoint {path} (there are POST /v1/chat/completions, GET /v1/models, POST /v1/messages)"
        ),
    )
}

/// The gateway's routes, with their own token check and body limit.
pub(crate) fn router(state: AppState, max_request_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/v1/{*rest}", axum::routing::any(not_found))
        .layer(axum::extract::DefaultBodyLimit::max(max_request_bytes))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            max_request_bytes,
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| too_large(req, next, max_request_bytes),
        ))
        .layer(axum::middleware::from_fn_with_state(state, gateway_auth))
}

/// The body limit's bare 413 in the protocol's shape, naming the limit.
async fn too_large(req: Request, next: Next, limit: usize) -> Response {
    let dialect = dialect_of(req.uri().path());
    let r = next.run(req).await;
    if r.status() != StatusCode::PAYLOAD_TOO_LARGE
        || r.extensions().get::<crate::error::Rendered>().is_some()
    {
        return r;
    }
    error_response(
        dialect,
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        &format!(
            "the request is larger than the gateway's limit of {limit} bytes (gateway.max_request_bytes)"
        ),
    )
}

/// Where this node's gateway is served, and the models clients may name.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct GatewayInfo {
    /// Route names and `provider/model` references (`GET /v1/models` lists the same).
    pub models: Vec<flightdeck_engine::providers::ModelEntry>,
    /// The desktop app's own loopback listener (`gateway.desktop_listen`); absent on a node,
    /// whose gateway is served on its API port.
    pub desktop: Option<crate::desktop_gateway::ListenerState>,
}

/// The gateway: the models it serves and the desktop's listener state.
#[utoipa::path(get, path = "/gateway", tag = "gateway",
    responses((status = 200, description = "Gateway info", body = GatewayInfo)),
    security(("bearer" = [])))]
pub async fn gateway_info(State(state): State<AppState>) -> axum::Json<GatewayInfo> {
    axum::Json(GatewayInfo {
        models: state.engine.providers().models(),
        desktop: state.desktop_gateway.as_ref().and_then(|c| c.get()),
    })
}
