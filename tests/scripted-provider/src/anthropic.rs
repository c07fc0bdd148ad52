//! The Anthropic Messages wire format: `message` objects, the named-event SSE stream
//! (`message_start`, `content_block_start`/`_delta`/`_stop` per block, `ping`,
//! `message_delta`, `message_stop`), the models list and `{"type": "error", ...}` errors.
//!
//! Invariants (as the real API): block indexes count from 0 in content order (text first,
//! then tool uses); `message_start` carries the input side of the usage with
//! `output_tokens: 1`, and `message_delta` the cumulative usage with the final
//! `output_tokens`. Usage is converted from neutral terms here: `input_tokens = input`,
//! `cache_read_input_tokens = cached_input`, `cache_creation_input_tokens = cache_write`,
//! `output_tokens = output + reasoning`.

use serde::Serialize;
use serde_json::Value;

use crate::answer::{Answer, Ctx};
use crate::frame::{Frame, FrameKind};
use crate::step::ScriptedUsage;

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'static str>,
}

fn usage(u: &ScriptedUsage, output_tokens: Option<u64>, service_tier: bool) -> Usage {
    Usage {
        input_tokens: u.input,
        cache_creation_input_tokens: u.cache_write,
        cache_read_input_tokens: u.cached_input,
        output_tokens: output_tokens.unwrap_or(u.output + u.reasoning),
        service_tier: service_tier.then_some("standard"),
    }
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'a str>,
    stop_sequence: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageOut<'a>,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDelta<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
        }
    }

    fn frame(&self, kind: FrameKind) -> Frame {
        Frame::event(kind, self.name(), &to_vec(self))
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<()>,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs into memory cannot fail; an empty body would show it.
    serde_json::to_vec(value).unwrap_or_default()
}

fn message_id(ctx: &Ctx) -> String {
    format!("msg_scripted{}", ctx.id)
}

fn tool_ids(ctx: &Ctx, answer: &Answer) -> Vec<String> {
    answer
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.id.clone()
                .unwrap_or_else(|| format!("toolu_scripted{}_{i}", ctx.id))
        })
        .collect()
}

/// Whether the answer has a text block: it has text, or nothing else.
fn has_text_block(answer: &Answer) -> bool {
    !answer.text.is_empty() || answer.tool_calls.is_empty()
}

/// A tool call's `input`: its arguments parsed, or the string itself if they are not JSON.
fn input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// The non-streaming `message` body.
pub(crate) fn message(ctx: &Ctx, answer: &Answer) -> Vec<u8> {
    let id = message_id(ctx);
    let ids = tool_ids(ctx, answer);
    let mut content = Vec::with_capacity(answer.tool_calls.len() + 1);
    if has_text_block(answer) {
        content.push(Block::Text { text: &answer.text });
    }
    for (call, id) in answer.tool_calls.iter().zip(&ids) {
        content.push(Block::ToolUse {
            id,
            name: &call.name,
            input: input(&call.arguments),
        });
    }
    to_vec(&MessageOut {
        id: &id,
        kind: "message",
        role: "assistant",
        model: &ctx.model,
        content,
        stop_reason: Some(&answer.finish_anthropic),
        stop_sequence: None,
        usage: answer.usage.as_ref().map(|u| usage(u, None, true)),
    })
}

fn message_start(ctx: &Ctx, answer: &Answer) -> Frame {
    let id = message_id(ctx);
    Event::MessageStart {
        message: MessageOut {
            id: &id,
            kind: "message",
            role: "assistant",
            model: &ctx.model,
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: answer.usage.as_ref().map(|u| usage(u, Some(1), true)),
        },
    }
    .frame(FrameKind::Head)
}

/// The whole event stream of an answer, `message_stop` included.
pub(crate) fn stream(ctx: &Ctx, answer: &Answer) -> Vec<Frame> {
    let mut frames = vec![message_start(ctx, answer)];
    let mut index = 0;
    let mut pinged = false;
    let mut ping = |frames: &mut Vec<Frame>| {
        if !pinged {
            pinged = true;
            frames.push(Event::Ping.frame(FrameKind::Head));
        }
    };
    if has_text_block(answer) {
        frames.push(
            Event::ContentBlockStart {
                index,
                content_block: Block::Text { text: "" },
            }
            .frame(FrameKind::Head),
        );
        ping(&mut frames);
        for piece in answer.pieces() {
            frames.push(
                Event::ContentBlockDelta {
                    index,
                    delta: BlockDelta::TextDelta { text: piece },
                }
                .frame(FrameKind::Delta),
            );
        }
        frames.push(Event::ContentBlockStop { index }.frame(FrameKind::Head));
        index += 1;
    }
    for (call, id) in answer.tool_calls.iter().zip(tool_ids(ctx, answer)) {
        frames.push(
            Event::ContentBlockStart {
                index,
                content_block: Block::ToolUse {
                    id: &id,
                    name: &call.name,
                    input: Value::Object(serde_json::Map::new()),
                },
            }
            .frame(FrameKind::Head),
        );
        ping(&mut frames);
        for piece in crate::answer::split(&call.arguments, 2) {
            frames.push(
                Event::ContentBlockDelta {
                    index,
                    delta: BlockDelta::InputJsonDelta {
                        partial_json: piece,
                    },
                }
                .frame(FrameKind::Delta),
            );
        }
        frames.push(Event::ContentBlockStop { index }.frame(FrameKind::Head));
        index += 1;
    }
    frames.push(
        Event::MessageDelta {
            delta: MessageDelta {
                stop_reason: &answer.finish_anthropic,
                stop_sequence: None,
            },
            usage: answer.usage.as_ref().map(|u| usage(u, None, false)),
        }
        .frame(FrameKind::Tail),
    );
    frames.push(stop());
    frames
}

/// `event: message_stop`.
pub(crate) fn stop() -> Frame {
    Event::MessageStop.frame(FrameKind::Tail)
}

/// One text delta of `text` in block 0 (for the endless stream).
pub(crate) fn text_delta(text: &str) -> Frame {
    Event::ContentBlockDelta {
        index: 0,
        delta: BlockDelta::TextDelta { text },
    }
    .frame(FrameKind::Delta)
}

/// The start of a `message` body whose text never closes.
pub(crate) fn endless_prefix(ctx: &Ctx) -> Vec<u8> {
    format!(
        r#"{{"id":"{}","type":"message","role":"assistant","model":{},"content":[{{"type":"text","text":""#,
        message_id(ctx),
        serde_json::to_string(&ctx.model).unwrap_or_default()
    )
    .into_bytes()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorObject<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// The usual `(type, message)` of an Anthropic error with this status.
pub(crate) fn error_defaults(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("invalid_request_error", "Invalid request (scripted)."),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Forbidden (scripted)."),
        404 => ("not_found_error", "Not found (scripted)."),
        413 => ("request_too_large", "Request exceeds the maximum size."),
        429 => ("rate_limit_error", "Rate limited (scripted)."),
        504 => ("timeout_error", "Request timed out (scripted)."),
        529 => ("overloaded_error", "Overloaded"),
        s if s >= 500 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "Request failed (scripted)."),
    }
}

/// A `{"type": "error", "error": {...}, "request_id": ...}` body.
pub(crate) fn error(
    status: u16,
    kind: Option<&str>,
    message: Option<&str>,
    request_id: &str,
) -> Vec<u8> {
    let (default_kind, default_message) = error_defaults(status);
    to_vec(&ErrorBody {
        kind: "error",
        error: ErrorObject {
            kind: kind.unwrap_or(default_kind),
            message: message.unwrap_or(default_message),
        },
        request_id,
    })
}

#[derive(Serialize)]
struct ModelList<'a> {
    data: Vec<Model<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Model<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'static str,
}

/// The `GET /v1/models` body in Anthropic's shape.
pub(crate) fn models(models: &[String]) -> Vec<u8> {
    to_vec(&ModelList {
        data: models
            .iter()
            .map(|id| Model {
                kind: "model",
                id,
                display_name: id,
                created_at: "2025-01-01T00:00:00Z",
            })
            .collect(),
        has_more: false,
        first_id: models.first().map(String::as_str),
        last_id: models.last().map(String::as_str),
    })
}
