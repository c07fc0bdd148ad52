//! Turning a [`Step`] into a response in one protocol: replies (JSON or a paced stream),
//! errors in the protocol's format, and the faults (malformed, truncated, stalled, hanging,
//! endless answers).
//!
//! Invariant: the call's [`CallGuard`] is marked done exactly when the answer is complete
//! (or ended on purpose); until then it travels with the handler future or the body, so a
//! client that leaves mid-way is counted as disconnected and nothing else happens.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::answer::{Answer, Ctx, next_id};
use crate::body::{End, Plan};
use crate::frame::{self, Frame, FrameKind};
use crate::request::Parsed;
use crate::state::CallGuard;
use crate::step::{Endless, Fault, Status, Step};
use crate::{anthropic, openai};

/// Default text bytes per delta of an endless answer.
const ENDLESS_CHUNK_BYTES: usize = 16;
/// Default pause between deltas of an endless answer.
const ENDLESS_DELAY: Duration = Duration::from_millis(1);

/// Which API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    OpenAi,
    Anthropic,
}

impl Proto {
    fn request_id_header(self) -> HeaderName {
        match self {
            Self::OpenAi => HeaderName::from_static("x-request-id"),
            Self::Anthropic => HeaderName::from_static("request-id"),
        }
    }

    fn body(self, ctx: &Ctx, answer: &Answer) -> Vec<u8> {
        match self {
            Self::OpenAi => openai::completion(ctx, answer),
            Self::Anthropic => anthropic::message(ctx, answer),
        }
    }

    fn frames(self, ctx: &Ctx, answer: &Answer) -> Vec<Frame> {
        match self {
            Self::OpenAi => openai::stream(ctx, answer),
            Self::Anthropic => anthropic::stream(ctx, answer),
        }
    }

    /// A data line that is not JSON, then the stream's normal last frame.
    fn malformed_frames(self) -> [Frame; 2] {
        match self {
            Self::OpenAi => [
                Frame::data(
                    FrameKind::Delta,
                    br#"{"id":"chatcmpl-broken","choices":[{"delta":{"content":"brok"#,
                ),
                openai::done(),
            ],
            Self::Anthropic => [
                Frame::event(
                    FrameKind::Delta,
                    "content_block_delta",
                    br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_del"#,
                ),
                anthropic::stop(),
            ],
        }
    }

    fn text_delta(self, ctx: &Ctx, text: &str) -> Frame {
        match self {
            Self::OpenAi => openai::text_delta(ctx, text),
            Self::Anthropic => anthropic::text_delta(text),
        }
    }

    fn endless_prefix(self, ctx: &Ctx) -> Vec<u8> {
        match self {
            Self::OpenAi => openai::endless_prefix(ctx),
            Self::Anthropic => anthropic::endless_prefix(ctx),
        }
    }
}

/// A fresh request id, sent in the protocol's request-id header.
fn request_id() -> String {
    format!("req_scripted{}", next_id())
}

/// A response with this status, content type, request id and body.
fn response(proto: Proto, status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::try_from(request_id()) {
        headers.insert(proto.request_id_header(), id);
    }
    response
}

fn json(proto: Proto, body: Vec<u8>) -> Response {
    response(proto, StatusCode::OK, "application/json", Body::from(body))
}

fn sse(proto: Proto, plan: Plan) -> Response {
    let mut response = response(
        proto,
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        plan.into_body(),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON head with a `Content-Length` for `full_len` bytes, whatever the body sends.
fn json_with_length(proto: Proto, full_len: usize, plan: Plan) -> Response {
    let mut response = response(proto, StatusCode::OK, "application/json", plan.into_body());
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
    response
}

/// An error in the protocol's format.
pub(crate) fn error(
    proto: Proto,
    status: u16,
    message: Option<&str>,
    error_type: Option<&str>,
    code: Option<&str>,
    retry_after: Option<u64>,
) -> Response {
    let (status, message) = match StatusCode::from_u16(status) {
        Ok(s) => (s, message.map(str::to_owned)),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(format!("scripted status {status} is not an HTTP status")),
        ),
    };
    let id = request_id();
    let body = match proto {
        Proto::OpenAi => openai::error(status.as_u16(), error_type, code, message.as_deref()),
        Proto::Anthropic => anthropic::error(status.as_u16(), error_type, message.as_deref(), &id),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::try_from(id) {
        headers.insert(proto.request_id_header(), id);
    }
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

async fn latency(ms: Option<u64>) {
    if let Some(ms) = ms.filter(|ms| *ms > 0) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Answers a request that passed auth and validation with `step`.
pub(crate) async fn step(
    proto: Proto,
    step: Step,
    parsed: Parsed,
    mut guard: CallGuard,
) -> Response {
    match step {
        Step::Reply(reply) => {
            latency(reply.latency_ms).await;
            let answer = Answer::from_reply(&reply, &parsed);
            let ctx = Ctx::new(&parsed);
            if parsed.stream {
                let frames = proto.frames(&ctx, &answer);
                sse(
                    proto,
                    Plan::new(frames, answer.chunk_delay, End::Finish, guard),
                )
            } else {
                guard.done();
                json(proto, proto.body(&ctx, &answer))
            }
        }
        Step::Status(Status {
            status,
            retry_after,
            message,
            error_type,
            code,
            latency_ms,
        }) => {
            latency(latency_ms).await;
            guard.done();
            error(
                proto,
                status,
                message.as_deref(),
                error_type.as_deref(),
                code.as_deref(),
                retry_after,
            )
        }
        Step::Malformed(Fault {
            after_chunks,
            latency_ms,
        }) => {
            latency(latency_ms).await;
            if parsed.stream {
                let after = after_chunks.unwrap_or(0) as usize;
                let mut frames = cut_echo(proto, &parsed, after);
                frames.extend(proto.malformed_frames());
                sse(proto, Plan::new(frames, Duration::ZERO, End::Finish, guard))
            } else {
                guard.done();
                json(proto, b"this is not JSON {\"choices\": [".to_vec())
            }
        }
        Step::Truncate(Fault {
            after_chunks,
            latency_ms,
        }) => {
            latency(latency_ms).await;
            broken(proto, &parsed, after_chunks.unwrap_or(1), End::Abort, guard)
        }
        Step::Stall(Fault {
            after_chunks,
            latency_ms,
        }) => {
            latency(latency_ms).await;
            broken(proto, &parsed, after_chunks.unwrap_or(1), End::Stall, guard)
        }
        // The guard stays alive (and undone) until hyper drops this future.
        Step::Hang => std::future::pending::<Response>().await,
        Step::Endless(Endless {
            chunk_delay_ms,
            chunk_bytes,
            latency_ms,
        }) => {
            latency(latency_ms).await;
            let every = chunk_delay_ms.map_or(ENDLESS_DELAY, Duration::from_millis);
            let text: String = "endless "
                .chars()
                .cycle()
                .take(chunk_bytes.unwrap_or(ENDLESS_CHUNK_BYTES).max(1))
                .collect();
            let ctx = Ctx::new(&parsed);
            if parsed.stream {
                let answer = Answer::echo(&parsed, 1);
                let head = frame::head(proto.frames(&ctx, &answer));
                let piece = proto.text_delta(&ctx, &text).bytes;
                let end = End::Repeat { piece, every };
                sse(proto, Plan::new(head, Duration::ZERO, end, guard))
            } else {
                let prefix = Frame {
                    kind: FrameKind::Head,
                    bytes: Bytes::from(proto.endless_prefix(&ctx)),
                };
                let end = End::Repeat {
                    piece: Bytes::from(text),
                    every,
                };
                let plan = Plan::new(vec![prefix], Duration::ZERO, end, guard);
                response(proto, StatusCode::OK, "application/json", plan.into_body())
            }
        }
    }
}

/// The echo's stream, cut after `after` deltas.
fn cut_echo(proto: Proto, parsed: &Parsed, after: usize) -> Vec<Frame> {
    let answer = Answer::echo(parsed, after + 1);
    frame::cut(proto.frames(&Ctx::new(parsed), &answer), after)
}

/// `truncate` and `stall`: streams send `after` deltas of the echo, non-streams a head
/// promising the whole echo (and, when aborting, half of it); then `end`.
fn broken(proto: Proto, parsed: &Parsed, after: u32, end: End, guard: CallGuard) -> Response {
    if parsed.stream {
        let frames = cut_echo(proto, parsed, after as usize);
        sse(proto, Plan::new(frames, Duration::ZERO, end, guard))
    } else {
        let full = proto.body(&Ctx::new(parsed), &Answer::echo(parsed, 1));
        let full_len = full.len();
        let frames = match end {
            End::Abort => vec![Frame {
                kind: FrameKind::Head,
                bytes: Bytes::from(full).slice(..full_len / 2),
            }],
            _ => Vec::new(),
        };
        json_with_length(
            proto,
            full_len,
            Plan::new(frames, Duration::ZERO, end, guard),
        )
    }
}
