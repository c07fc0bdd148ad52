//! Anthropic Messages (`/v1/messages`), both ways: gateway side ([`parse_request`],
//! [`encode_response`], [`StreamEncoder`], [`encode_error`]) and client side
//! ([`encode_request`], [`parse_response`], [`StreamDecoder`], [`parse_error_message`]).
//! Request parsing lives in `anthropic_parse`, the stream halves in `anthropic_stream`.
//!
//! Invariants: upstream requests alternate roles (consecutive same-role turns are merged,
//! tool results travel as `tool_result` blocks first in a user turn); a JSON-schema answer
//! format is a forced tool named after the schema, whose input comes back as the answer's
//! text (see [`schema_tool`]); usage maps one to one (Anthropic reports cache reads and
//! writes beside `input_tokens`; its `output_tokens` include thinking).
//! Must never: panic on any body, or put a key or transport detail in a body.

use serde_json::{Value, json};

use super::WireError;
use super::fields::{arguments_object, prefixed, response_object, text_of};
use crate::providers::neutral::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, ResponseFormat, Role, ToolCall,
    ToolChoice, Usage,
};

pub use super::anthropic_parse::parse_request;
pub use super::anthropic_stream::{StreamDecoder, StreamEncoder};

/// `max_tokens` when the neutral request has none (Anthropic requires it).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Appended to the system prompt for a JSON-object answer format.
const JSON_OBJECT_INSTRUCTION: &str = "Answer with one JSON object and nothing else.";

/// The name of the forced tool standing for a JSON-schema answer format, if any.
pub(super) fn schema_tool(req: &ChatRequest) -> Option<&str> {
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { name, .. }) => Some(name),
        _ => None,
    }
}

/// A neutral request as an upstream Anthropic request body.
pub fn encode_request(req: &ChatRequest, upstream_model: &str, stream: bool) -> Value {
    let mut system: Vec<String> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => {
                system.push(m.joined_text());
                continue;
            }
            Role::User => (
                "user",
                m.content.iter().filter_map(part_block).collect::<Vec<_>>(),
            ),
            Role::Tool => ("user", vec![tool_result_block(m)]),
            Role::Assistant => {
                let mut blocks: Vec<Value> = m.content.iter().filter_map(part_block).collect();
                blocks.extend(m.tool_calls.iter().map(|c| {
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(&c.arguments)})
                }));
                ("assistant", blocks)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, blocks)| {
            // Tool results first in a user turn, as Anthropic requires (stable otherwise).
            let (mut results, rest): (Vec<Value>, Vec<Value>) = blocks
                .into_iter()
                .partition(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"));
            results.extend(rest);
            json!({"role": role, "content": results})
        })
        .collect();
    if req.response_format == Some(ResponseFormat::JsonObject) {
        system.push(JSON_OBJECT_INSTRUCTION.to_string());
    }
    let mut body = json!({
        "model": upstream_model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
    });
    let Some(o) = body.as_object_mut() else {
        return body;
    };
    if !system.is_empty() {
        o.insert("system".into(), json!(system.join("\n\n")));
    }
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let schema = if t.parameters.is_object() {
                t.parameters.clone()
            } else {
                json!({"type": "object", "properties": {}})
            };
            let mut v = json!({"name": t.name, "input_schema": schema});
            if let (Some(d), Some(vo)) = (&t.description, v.as_object_mut()) {
                vo.insert("description".into(), json!(d));
            }
            v
        })
        .collect();
    let mut choice = req.tool_choice.as_ref().map(|c| match c {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
    });
    if let Some(ResponseFormat::JsonSchema { name, schema, .. }) = &req.response_format {
        tools.push(
            json!({"name": name, "description": "Answer in this format", "input_schema": schema}),
        );
        choice = Some(json!({"type": "tool", "name": name}));
    }
    if !tools.is_empty() {
        o.insert("tools".into(), json!(tools));
        if let Some(c) = choice {
            o.insert("tool_choice".into(), c);
        }
    }
    if let Some(t) = req.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        o.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        o.insert("stop_sequences".into(), json!(req.stop));
    }
    if stream {
        o.insert("stream".into(), json!(true));
    }
    body
}

/// A content part as an Anthropic block (empty text is dropped: Anthropic refuses it).
fn part_block(p: &ContentPart) -> Option<Value> {
    match p {
        ContentPart::Text { text } if text.is_empty() => None,
        ContentPart::Text { text } => Some(json!({"type": "text", "text": text})),
        ContentPart::Image { url } => Some(image_block(url)),
    }
}

fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media_type, data)) = rest.split_once(";base64,")
    {
        return json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}});
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

fn tool_result_block(m: &crate::providers::neutral::Message) -> Value {
    let only_text = m
        .content
        .iter()
        .all(|p| matches!(p, ContentPart::Text { .. }));
    let content = if only_text {
        json!(m.joined_text())
    } else {
        Value::Array(m.content.iter().filter_map(part_block).collect())
    };
    let mut v = json!({
        "type": "tool_result",
        "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
        "content": content,
    });
    if m.is_error
        && let Some(o) = v.as_object_mut()
    {
        o.insert("is_error".into(), json!(true));
    }
    v
}

pub(super) fn finish_from(s: &str) -> FinishReason {
    match s {
        "max_tokens" => FinishReason::Length,
        "stop_sequence" => FinishReason::StopSequence,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop, // end_turn, pause_turn, unknown
    }
}

pub(super) fn finish_str(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic's usage fields found in `u`, over `base` (a `message_delta` carries only some).
pub(super) fn usage_from(u: &Value, base: Usage) -> Usage {
    let pick = |key: &str, old: u64| u.get(key).and_then(Value::as_u64).unwrap_or(old);
    Usage {
        input: pick("input_tokens", base.input),
        output: pick("output_tokens", base.output),
        cached_input: pick("cache_read_input_tokens", base.cached_input),
        cache_write: pick("cache_creation_input_tokens", base.cache_write),
        reasoning: base.reasoning,
        estimated: false,
    }
}

/// Neutral usage as Anthropic's `usage` object (reasoning counted in `output_tokens`).
pub(super) fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "output_tokens": u.total_output(),
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cached_input,
    })
}

/// The upstream's `{"type":"error","error":{...}}` as an InvalidResponse, if this is one.
pub(super) fn upstream_error(v: &Value) -> Option<WireError> {
    if v.get("type").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let message = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map_or_else(|| v.to_string(), str::to_string);
    Some(WireError::InvalidResponse(message))
}

/// An upstream answer body as a neutral answer; the bool says whether usage was reported.
pub fn parse_response(req: &ChatRequest, body: &[u8]) -> Result<(ChatResponse, bool), WireError> {
    let v = Value::Object(response_object(body)?);
    if let Some(e) = upstream_error(&v) {
        return Err(e);
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::InvalidResponse("the answer has no content array".into()))?;
    let schema = schema_tool(req);
    let mut text = String::new();
    let mut schema_text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(&text_of(b, "text")),
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                let name = text_of(b, "name");
                if schema_text.is_none() && schema == Some(name.as_str()) {
                    schema_text = Some(input.to_string());
                } else {
                    tool_calls.push(ToolCall {
                        id: text_of(b, "id"),
                        name,
                        arguments: input.to_string(),
                    });
                }
            }
            _ => {} // thinking, redacted_thinking, server tools
        }
    }
    let mut finish_reason = finish_from(
        v.get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("end_turn"),
    );
    if let Some(s) = schema_text {
        text = s;
        if tool_calls.is_empty() {
            finish_reason = FinishReason::Stop;
        }
    }
    let usage = v.get("usage").filter(|u| u.is_object());
    let model = Some(text_of(&v, "model")).filter(|m| !m.is_empty());
    let response = ChatResponse {
        id: text_of(&v, "id"),
        model: model.unwrap_or_else(|| req.model.clone()),
        text,
        tool_calls,
        finish_reason,
        usage: usage
            .map(|u| usage_from(u, Usage::default()))
            .unwrap_or_default(),
    };
    Ok((response, usage.is_some()))
}

/// A neutral answer as a client's `message` body.
pub fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let mut content = Vec::new();
    if !resp.text.is_empty() {
        content.push(json!({"type": "text", "text": resp.text}));
    }
    for c in &resp.tool_calls {
        let input = match serde_json::from_str::<Value>(&c.arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        };
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
    }
    if content.is_empty() {
        content.push(json!({"type": "text", "text": ""}));
    }
    json!({
        "id": prefixed(&resp.id, "msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": finish_str(resp.finish_reason),
        "stop_sequence": null,
        "usage": usage_json(&resp.usage),
    })
}

/// An error body in Anthropic's shape; the message carries the stable code in brackets.
pub fn encode_error(status: u16, code: &str, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": format!("[{code}] {message}")}})
}

/// The message of an upstream error body (or a short prefix of a body that is not JSON).
pub fn parse_error_message(body: &[u8]) -> Option<String> {
    super::fields::error_message(body)
}
