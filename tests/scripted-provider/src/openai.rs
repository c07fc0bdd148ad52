//! The OpenAI chat-completions wire format: `chat.completion` objects, `chat.completion.chunk`
//! SSE streams ending in `data: [DONE]`, the models list and `{"error": {...}}` errors.
//!
//! Invariants (as the real API): every chunk of one stream has the same `id`, `created` and
//! `model`; with `stream_options.include_usage` every chunk carries `"usage": null` except
//! one last chunk with `"choices": []` and the usage, sent before `[DONE]`; without it no
//! chunk has a `usage` key. Usage is converted from neutral terms here: `prompt_tokens =
//! input + cached_input`, `completion_tokens = output + reasoning`.

use serde::Serialize;

use crate::answer::{Answer, Ctx};
use crate::frame::{Frame, FrameKind};
use crate::step::ScriptedUsage;

const FINGERPRINT: &str = "fp_scripted";

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

fn usage(u: &ScriptedUsage) -> Usage {
    let prompt = u.input + u.cached_input;
    let completion = u.output + u.reasoning;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: PromptDetails {
            cached_tokens: u.cached_input,
            audio_tokens: 0,
        },
        completion_tokens_details: CompletionDetails {
            reasoning_tokens: u.reasoning,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
        },
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    annotations: [(); 0],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without `include_usage`; `null` on every chunk but the usage chunk with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// `Some(None)` is an explicit `null` (the role chunk of a tool-call-only answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallDelta<'a>>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

fn completion_id(ctx: &Ctx) -> String {
    format!("chatcmpl-scripted{}", ctx.id)
}

fn tool_call_ids(ctx: &Ctx, answer: &Answer) -> Vec<String> {
    answer
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.id.clone()
                .unwrap_or_else(|| format!("call_scripted{}_{i}", ctx.id))
        })
        .collect()
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs into memory cannot fail; an empty body would show it.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The non-streaming `chat.completion` body.
pub(crate) fn completion(ctx: &Ctx, answer: &Answer) -> Vec<u8> {
    let id = completion_id(ctx);
    let ids = tool_call_ids(ctx, answer);
    let content = if answer.text.is_empty() && !answer.tool_calls.is_empty() {
        None
    } else {
        Some(answer.text.as_str())
    };
    to_vec(&Completion {
        id: &id,
        object: "chat.completion",
        created: ctx.created,
        model: &ctx.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                refusal: None,
                annotations: [],
                tool_calls: answer
                    .tool_calls
                    .iter()
                    .zip(&ids)
                    .map(|(t, id)| ToolCall {
                        id: id.clone(),
                        kind: "function",
                        function: Function {
                            name: &t.name,
                            arguments: &t.arguments,
                        },
                    })
                    .collect(),
            },
            logprobs: None,
            finish_reason: &answer.finish_openai,
        }],
        usage: answer.usage.as_ref().map(usage),
        service_tier: "default",
        system_fingerprint: FINGERPRINT,
    })
}

/// Builds the chunks of one stream.
struct Chunks<'a> {
    id: String,
    ctx: &'a Ctx,
}

impl<'a> Chunks<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        Self {
            id: completion_id(ctx),
            ctx,
        }
    }

    fn frame(
        &self,
        kind: FrameKind,
        delta: Delta<'_>,
        finish_reason: Option<&str>,
        usage_chunk: Option<Usage>,
    ) -> Frame {
        let choices = if usage_chunk.is_some() {
            Vec::new()
        } else {
            vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }]
        };
        let usage = match usage_chunk {
            Some(u) => Some(Some(u)),
            None if self.ctx.include_usage => Some(None),
            None => None,
        };
        Frame::data(
            kind,
            &to_vec(&Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.ctx.created,
                model: &self.ctx.model,
                system_fingerprint: FINGERPRINT,
                choices,
                usage,
            }),
        )
    }

    fn role(&self, answer: &Answer) -> Frame {
        let content = if answer.text.is_empty() && !answer.tool_calls.is_empty() {
            None
        } else {
            Some("")
        };
        let delta = Delta {
            role: Some("assistant"),
            content: Some(content),
            ..Delta::default()
        };
        self.frame(FrameKind::Head, delta, None, None)
    }

    fn text(&self, piece: &str) -> Frame {
        let delta = Delta {
            content: Some(Some(piece)),
            ..Delta::default()
        };
        self.frame(FrameKind::Delta, delta, None, None)
    }
}

/// The whole `chat.completion.chunk` stream of an answer, `[DONE]` included.
pub(crate) fn stream(ctx: &Ctx, answer: &Answer) -> Vec<Frame> {
    let chunks = Chunks::new(ctx);
    let mut frames = vec![chunks.role(answer)];
    frames.extend(answer.pieces().into_iter().map(|p| chunks.text(p)));
    for (index, (call, id)) in answer
        .tool_calls
        .iter()
        .zip(tool_call_ids(ctx, answer))
        .enumerate()
    {
        let start = Delta {
            tool_calls: vec![ToolCallDelta {
                index,
                id: Some(&id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(&call.name),
                    arguments: "",
                },
            }],
            ..Delta::default()
        };
        frames.push(chunks.frame(FrameKind::Head, start, None, None));
        for piece in crate::answer::split(&call.arguments, 2) {
            let delta = Delta {
                tool_calls: vec![ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: piece,
                    },
                }],
                ..Delta::default()
            };
            frames.push(chunks.frame(FrameKind::Delta, delta, None, None));
        }
    }
    frames.push(chunks.frame(
        FrameKind::Tail,
        Delta::default(),
        Some(&answer.finish_openai),
        None,
    ));
    if ctx.include_usage
        && let Some(u) = &answer.usage
    {
        frames.push(chunks.frame(FrameKind::Tail, Delta::default(), None, Some(usage(u))));
    }
    frames.push(done());
    frames
}

/// `data: [DONE]`.
pub(crate) fn done() -> Frame {
    Frame::data(FrameKind::Tail, b"[DONE]")
}

/// One text delta of `text` (for the endless stream).
pub(crate) fn text_delta(ctx: &Ctx, text: &str) -> Frame {
    Chunks::new(ctx).text(text)
}

/// The start of a `chat.completion` body whose content string never closes.
pub(crate) fn endless_prefix(ctx: &Ctx) -> Vec<u8> {
    format!(
        r#"{{"id":"{}","object":"chat.completion","created":{},"model":{},"choices":[{{"index":0,"message":{{"role":"assistant","content":""#,
        completion_id(ctx),
        ctx.created,
        serde_json::to_string(&ctx.model).unwrap_or_default()
    )
    .into_bytes()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<()>,
    code: Option<&'a str>,
}

/// The usual `(type, code, message)` of an OpenAI error with this status.
pub(crate) fn error_defaults(status: u16) -> (&'static str, Option<&'static str>, &'static str) {
    match status {
        400 => ("invalid_request_error", None, "Invalid request (scripted)."),
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Forbidden (scripted).",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached (scripted). Please try again later.",
        ),
        503 => (
            "server_error",
            None,
            "The engine is currently overloaded, please try again later.",
        ),
        s if s >= 500 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        _ => ("invalid_request_error", None, "Request failed (scripted)."),
    }
}

/// An `{"error": {...}}` body; an empty `code` is sent as `null`.
pub(crate) fn error(
    status: u16,
    kind: Option<&str>,
    code: Option<&str>,
    message: Option<&str>,
) -> Vec<u8> {
    let (default_kind, default_code, default_message) = error_defaults(status);
    to_vec(&ErrorBody {
        error: ErrorObject {
            message: message.unwrap_or(default_message),
            kind: kind.unwrap_or(default_kind),
            param: None,
            code: code.or(default_code).filter(|c| !c.is_empty()),
        },
    })
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

/// The `GET /v1/models` body.
pub(crate) fn models(models: &[String]) -> Vec<u8> {
    to_vec(&ModelList {
        object: "list",
        data: models
            .iter()
            .map(|id| Model {
                id,
                object: "model",
                created: 1_700_000_000,
                owned_by: "scripted",
            })
            .collect(),
    })
}
