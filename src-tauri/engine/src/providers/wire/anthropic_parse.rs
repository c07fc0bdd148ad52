//! Anthropic Messages, gateway side in: a client's request body as a neutral
//! [`ChatRequest`] (re-exported as `anthropic::parse_request`).
//!
//! Invariants: `model` and `max_tokens` are required; each `tool_result` block becomes its
//! own neutral `Role::Tool` message, in the order of the blocks (text around it stays in
//! user messages before and after); base64 images become `data:` URLs; thinking blocks,
//! `metadata`, `thinking` and other unknown fields are ignored. Must never: panic on any
//! body, or accept a wrong type silently.

use serde_json::{Value, json};

use super::WireError;
use super::fields::{
    Obj, at, bad, get, join, object, opt_array, opt_bool, opt_f64, opt_object, opt_str, opt_u32,
    req_str, string_list, wrong,
};
use crate::providers::neutral::{
    ChatRequest, ContentPart, Message, Role, Tool, ToolCall, ToolChoice,
};

/// A client's request body as a neutral request.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, WireError> {
    let o = super::fields::request_object(body)?;
    let model = req_str(&o, "model", "")?;
    if model.trim().is_empty() {
        return Err(bad("model", "must not be empty"));
    }
    let max_tokens =
        opt_u32(&o, "max_tokens", "")?.ok_or_else(|| bad("max_tokens", "missing (required)"))?;
    let mut req = ChatRequest {
        model: model.to_string(),
        max_tokens: Some(max_tokens),
        ..ChatRequest::default()
    };
    match get(&o, "system") {
        None => {}
        Some(Value::String(s)) => req.system.extend(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                let p = at("system", i);
                let b = object(b, &p)?;
                match req_str(b, "type", &p)? {
                    "text" => req.system.push(req_str(b, "text", &p)?.to_string()),
                    other => {
                        return Err(bad(
                            &join(&p, "type"),
                            format!("expected a text block, got \"{other}\""),
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(wrong(
                "system",
                "a string or an array of text blocks",
                other,
            ));
        }
    }
    let raw = opt_array(&o, "messages", "")?
        .ok_or_else(|| bad("messages", "missing (an array is required)"))?;
    for (i, m) in raw.iter().enumerate() {
        parse_message(m, &at("messages", i), &mut req.messages)?;
    }
    if let Some(tools) = opt_array(&o, "tools", "")? {
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(parse_tool(t, &at("tools", i))?);
        }
    }
    if let Some(c) = opt_object(&o, "tool_choice", "")? {
        req.tool_choice = Some(match req_str(c, "type", "tool_choice")? {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Required,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Tool {
                name: req_str(c, "name", "tool_choice")?.to_string(),
            },
            other => {
                return Err(bad(
                    "tool_choice.type",
                    format!("unknown type \"{other}\" (expected auto, any, tool or none)"),
                ));
            }
        });
    }
    req.temperature = opt_f64(&o, "temperature", "")?;
    req.top_p = opt_f64(&o, "top_p", "")?;
    req.stop = string_list(&o, "stop_sequences", "")?;
    req.stream = opt_bool(&o, "stream", "")?.unwrap_or(false);
    Ok(req)
}

fn parse_tool(v: &Value, path: &str) -> Result<Tool, WireError> {
    let t = object(v, path)?;
    if let Some(ty) = opt_str(t, "type", path)?
        && ty != "custom"
    {
        return Err(bad(
            &join(path, "type"),
            format!("unsupported tool type \"{ty}\" (only custom tools)"),
        ));
    }
    Ok(Tool {
        name: req_str(t, "name", path)?.to_string(),
        description: opt_str(t, "description", path)?.map(str::to_string),
        parameters: get(t, "input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn new_message(role: Role) -> Message {
    Message {
        role,
        content: Vec::new(),
        tool_calls: Vec::new(),
        tool_call_id: None,
        is_error: false,
    }
}

fn parse_message(v: &Value, path: &str, out: &mut Vec<Message>) -> Result<(), WireError> {
    let m = object(v, path)?;
    let role = match req_str(m, "role", path)? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(bad(
                &join(path, "role"),
                format!("unknown role \"{other}\" (expected user or assistant)"),
            ));
        }
    };
    let cpath = join(path, "content");
    let blocks = match get(m, "content") {
        None => return Err(bad(&cpath, "missing")),
        Some(Value::String(s)) => {
            let mut msg = new_message(role);
            if !s.is_empty() {
                msg.content.push(ContentPart::Text { text: s.clone() });
            }
            out.push(msg);
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        Some(other) => {
            return Err(wrong(
                &cpath,
                "a string or an array of content blocks",
                other,
            ));
        }
    };
    let mut current = new_message(role);
    let mut pushed_any = false;
    for (i, b) in blocks.iter().enumerate() {
        let bpath = at(&cpath, i);
        let block = object(b, &bpath)?;
        match (role, req_str(block, "type", &bpath)?) {
            (_, "text") => current.content.push(ContentPart::Text {
                text: req_str(block, "text", &bpath)?.to_string(),
            }),
            (Role::User, "image") => current.content.push(parse_image(block, &bpath)?),
            (Role::Assistant, "tool_use") => {
                let input = get(block, "input").cloned().unwrap_or_else(|| json!({}));
                current.tool_calls.push(ToolCall {
                    id: req_str(block, "id", &bpath)?.to_string(),
                    name: req_str(block, "name", &bpath)?.to_string(),
                    arguments: input.to_string(),
                });
            }
            (Role::Assistant, "thinking" | "redacted_thinking") => {}
            (Role::User, "tool_result") => {
                if !current.content.is_empty() {
                    out.push(std::mem::replace(&mut current, new_message(role)));
                }
                out.push(parse_tool_result(block, &bpath)?);
                pushed_any = true;
            }
            (_, other) => {
                let who = if role == Role::User {
                    "a user"
                } else {
                    "an assistant"
                };
                return Err(bad(
                    &join(&bpath, "type"),
                    format!("unsupported block type \"{other}\" in {who} message"),
                ));
            }
        }
    }
    if !pushed_any || !current.content.is_empty() || !current.tool_calls.is_empty() {
        out.push(current);
    }
    Ok(())
}

fn parse_image(block: &Obj, path: &str) -> Result<ContentPart, WireError> {
    let spath = join(path, "source");
    let s = opt_object(block, "source", path)?.ok_or_else(|| bad(&spath, "missing"))?;
    match req_str(s, "type", &spath)? {
        "base64" => Ok(ContentPart::Image {
            url: format!(
                "data:{};base64,{}",
                req_str(s, "media_type", &spath)?,
                req_str(s, "data", &spath)?
            ),
        }),
        "url" => Ok(ContentPart::Image {
            url: req_str(s, "url", &spath)?.to_string(),
        }),
        other => Err(bad(
            &join(&spath, "type"),
            format!("unsupported image source \"{other}\" (expected base64 or url)"),
        )),
    }
}

fn parse_tool_result(block: &Obj, path: &str) -> Result<Message, WireError> {
    let mut msg = new_message(Role::Tool);
    msg.tool_call_id = Some(req_str(block, "tool_use_id", path)?.to_string());
    msg.is_error = opt_bool(block, "is_error", path)?.unwrap_or(false);
    let cpath = join(path, "content");
    match get(block, "content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => msg.content.push(ContentPart::Text { text: s.clone() }),
        Some(Value::Array(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                let ppath = at(&cpath, i);
                let part = object(p, &ppath)?;
                match req_str(part, "type", &ppath)? {
                    "text" => msg.content.push(ContentPart::Text {
                        text: req_str(part, "text", &ppath)?.to_string(),
                    }),
                    "image" => msg.content.push(parse_image(part, &ppath)?),
                    other => {
                        return Err(bad(
                            &join(&ppath, "type"),
                            format!("unsupported block type \"{other}\" in a tool result"),
                        ));
                    }
                }
            }
        }
        Some(other) => return Err(wrong(&cpath, "a string or an array of text blocks", other)),
    }
    Ok(msg)
}
