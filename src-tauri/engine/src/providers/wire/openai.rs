//! OpenAI chat completions (`/v1/chat/completions`), both ways: gateway side
//! ([`parse_request`], [`encode_response`], [`StreamEncoder`], [`encode_error`],
//! [`encode_models`]) and client side ([`encode_request`], [`parse_response`],
//! [`StreamDecoder`], [`parse_error_message`]). Request parsing lives in `openai_parse`,
//! the stream halves in `openai_stream`.
//!
//! Invariants: usage is normalised to the neutral kinds (OpenAI counts cached tokens inside
//! `prompt_tokens` and reasoning inside `completion_tokens`; see [`usage_from`]); system and
//! developer messages become `ChatRequest.system`, in order. Unknown request fields are
//! ignored; wrong types and unsupported shapes are rejected with the field's path.
//! Must never: panic on any body, or put a key or transport detail in a body.

use serde_json::{Value, json};

use super::WireError;
use super::fields::{count, prefixed, response_object, text_of};
use crate::providers::neutral::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, ResponseFormat, Role, ToolCall,
    ToolChoice, Usage,
};

pub use super::openai_parse::parse_request;
pub use super::openai_stream::{StreamDecoder, StreamEncoder};

/// Models that take `max_completion_tokens` and refuse `max_tokens` (OpenAI's reasoning
/// models); every other (and every OpenAI-compatible server) gets `max_tokens`.
fn wants_max_completion_tokens(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| m.starts_with(p))
}

/// A neutral request as an upstream OpenAI request body.
pub fn encode_request(req: &ChatRequest, upstream_model: &str, stream: bool) -> Value {
    let mut messages: Vec<Value> = req
        .system
        .iter()
        .map(|s| json!({"role": "system", "content": s}))
        .collect();
    for m in &req.messages {
        messages.push(encode_message(m));
    }
    let mut body = json!({"model": upstream_model, "messages": messages});
    let Some(o) = body.as_object_mut() else {
        return body;
    };
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let (Some(d), Some(fo)) = (&t.description, f.as_object_mut()) {
                    fo.insert("description".into(), json!(d));
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        o.insert("tools".into(), json!(tools));
    }
    if let Some(c) = &req.tool_choice {
        let v = match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
        o.insert("tool_choice".into(), v);
    }
    if let Some(n) = req.max_tokens {
        let key = if wants_max_completion_tokens(upstream_model) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        o.insert(key.into(), json!(n));
    }
    if let Some(t) = req.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        o.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        o.insert("stop".into(), json!(req.stop));
    }
    if let Some(f) = &req.response_format {
        let v = match f {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}})
            }
        };
        o.insert("response_format".into(), v);
    }
    if let Some(s) = req.seed {
        o.insert("seed".into(), json!(s));
    }
    if stream {
        o.insert("stream".into(), json!(true));
        o.insert("stream_options".into(), json!({"include_usage": true}));
    }
    body
}

fn encode_message(m: &Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.joined_text()}),
        Role::User => json!({"role": "user", "content": encode_content(&m.content)}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.joined_text(),
        }),
        Role::Assistant => {
            let text = m.joined_text();
            let content = if text.is_empty() && !m.tool_calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            let mut v = json!({"role": "assistant", "content": content});
            if !m.tool_calls.is_empty()
                && let Some(o) = v.as_object_mut()
            {
                o.insert("tool_calls".into(), encode_tool_calls(&m.tool_calls));
            }
            v
        }
    }
}

/// One text part as a plain string; anything else as an array of parts.
fn encode_content(parts: &[ContentPart]) -> Value {
    match parts {
        [] => json!(""),
        [ContentPart::Text { text }] => json!(text),
        _ => Value::Array(
            parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text } => json!({"type": "text", "text": text}),
                    ContentPart::Image { url } => {
                        json!({"type": "image_url", "image_url": {"url": url}})
                    }
                })
                .collect(),
        ),
    }
}

fn encode_tool_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect(),
    )
}

/// OpenAI's `usage` object in neutral kinds (saturating: a provider's odd numbers never
/// underflow).
pub(super) fn usage_from(u: &Value) -> Usage {
    let cached = count(u, "/prompt_tokens_details/cached_tokens");
    let reasoning = count(u, "/completion_tokens_details/reasoning_tokens");
    Usage {
        input: count(u, "/prompt_tokens").saturating_sub(cached),
        output: count(u, "/completion_tokens").saturating_sub(reasoning),
        cached_input: cached,
        cache_write: 0,
        reasoning,
        estimated: false,
    }
}

/// Neutral usage as OpenAI's `usage` object.
pub(super) fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.total_input(),
        "completion_tokens": u.total_output(),
        "total_tokens": u.total_input() + u.total_output(),
        "prompt_tokens_details": {"cached_tokens": u.cached_input},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    })
}

pub(super) fn finish_from(s: &str) -> FinishReason {
    match s {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

pub(super) fn finish_str(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop | FinishReason::StopSequence => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// The upstream's `{"error": ...}` as an InvalidResponse, if this is one.
pub(super) fn upstream_error(v: &Value) -> Option<WireError> {
    let e = v.get("error").filter(|e| !e.is_null())?;
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| e.as_str().map(str::to_string))
        .unwrap_or_else(|| e.to_string());
    Some(WireError::InvalidResponse(message))
}

/// An upstream answer body as a neutral answer; the bool says whether usage was reported.
pub fn parse_response(req: &ChatRequest, body: &[u8]) -> Result<(ChatResponse, bool), WireError> {
    let o = response_object(body)?;
    let v = Value::Object(o);
    if let Some(e) = upstream_error(&v) {
        return Err(e);
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| WireError::InvalidResponse("the answer has no choices".into()))?;
    let message = choice.get("message").cloned().unwrap_or(Value::Null);
    let mut text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().map(|p| text_of(p, "text")).collect(),
        _ => String::new(),
    };
    if text.is_empty() {
        text = text_of(&message, "refusal");
    }
    let mut tool_calls = Vec::new();
    for c in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = c.get("function").cloned().unwrap_or(Value::Null);
        let arguments = match f.get("arguments") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        tool_calls.push(ToolCall {
            id: text_of(c, "id"),
            name: text_of(&f, "name"),
            arguments,
        });
    }
    let usage = v.get("usage").filter(|u| u.is_object());
    let model = Some(text_of(&v, "model")).filter(|m| !m.is_empty());
    let response = ChatResponse {
        id: text_of(&v, "id"),
        model: model.unwrap_or_else(|| req.model.clone()),
        text,
        tool_calls,
        finish_reason: finish_from(
            choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop"),
        ),
        usage: usage.map(usage_from).unwrap_or_default(),
    };
    Ok((response, usage.is_some()))
}

/// A neutral answer as a client's `chat.completion` body.
pub fn encode_response(resp: &ChatResponse, model: &str, created: i64) -> Value {
    let content = if resp.text.is_empty() && !resp.tool_calls.is_empty() {
        Value::Null
    } else {
        json!(resp.text)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !resp.tool_calls.is_empty()
        && let Some(m) = message.as_object_mut()
    {
        m.insert("tool_calls".into(), encode_tool_calls(&resp.tool_calls));
    }
    json!({
        "id": prefixed(&resp.id, "chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_str(resp.finish_reason),
            "logprobs": null,
        }],
        "usage": usage_json(&resp.usage),
    })
}

/// An error body in OpenAI's shape.
pub fn encode_error(status: u16, code: &str, message: &str) -> Value {
    let kind = match status {
        // What OpenAI itself answers when an account's quota is spent.
        _ if code == "budget_exceeded" => "insufficient_quota",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500.. => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The message of an upstream error body (or a short prefix of a body that is not JSON).
pub fn parse_error_message(body: &[u8]) -> Option<String> {
    super::fields::error_message(body)
}

/// `GET /v1/models`: `(id, owned_by)` pairs as OpenAI's model list.
pub fn encode_models(models: &[(String, String)]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    json!({"object": "list", "data": data})
}
