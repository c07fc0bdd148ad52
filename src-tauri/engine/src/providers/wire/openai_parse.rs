//! OpenAI chat completions, gateway side in: a client's request body as a neutral
//! [`ChatRequest`] (re-exported as `openai::parse_request`).
//!
//! Invariants: system and developer messages become `ChatRequest.system`, in order; unknown
//! fields are ignored; wrong types, unknown roles, `n` > 1 and unsupported part or tool types
//! are rejected with the field's path and why. Must never: panic on any body.

use serde_json::{Value, json};

use super::WireError;
use super::fields::{
    Obj, at, bad, get, join, object, opt_array, opt_bool, opt_f64, opt_i64, opt_object, opt_str,
    opt_u32, req_str, string_list, wrong,
};
use crate::providers::neutral::{
    ChatRequest, ContentPart, Message, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
};

/// A client's request body as a neutral request.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, WireError> {
    let o = super::fields::request_object(body)?;
    let model = req_str(&o, "model", "")?;
    if model.trim().is_empty() {
        return Err(bad("model", "must not be empty"));
    }
    if let Some(n) = opt_i64(&o, "n", "")?
        && n != 1
    {
        return Err(bad("n", "only n = 1 is supported"));
    }
    let raw = opt_array(&o, "messages", "")?
        .ok_or_else(|| bad("messages", "missing (an array is required)"))?;
    let mut req = ChatRequest {
        model: model.to_string(),
        ..ChatRequest::default()
    };
    for (i, m) in raw.iter().enumerate() {
        parse_message(m, &at("messages", i), &mut req)?;
    }
    if let Some(tools) = opt_array(&o, "tools", "")? {
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(parse_tool(t, &at("tools", i))?);
        }
    }
    req.tool_choice = parse_tool_choice(get(&o, "tool_choice"))?;
    req.max_tokens = match opt_u32(&o, "max_completion_tokens", "")? {
        Some(n) => Some(n),
        None => opt_u32(&o, "max_tokens", "")?,
    };
    req.temperature = opt_f64(&o, "temperature", "")?;
    req.top_p = opt_f64(&o, "top_p", "")?;
    req.stop = string_list(&o, "stop", "")?;
    req.response_format = opt_object(&o, "response_format", "")?
        .map(parse_response_format)
        .transpose()?;
    req.seed = opt_i64(&o, "seed", "")?;
    req.stream = opt_bool(&o, "stream", "")?.unwrap_or(false);
    Ok(req)
}

fn parse_message(v: &Value, path: &str, req: &mut ChatRequest) -> Result<(), WireError> {
    let m = object(v, path)?;
    let role = req_str(m, "role", path)?;
    let content_path = join(path, "content");
    let content = match get(m, "content") {
        None => Vec::new(),
        Some(c) => parse_content(c, &content_path)?,
    };
    let mut message = Message {
        role: Role::User,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        is_error: false,
    };
    match role {
        "system" | "developer" => {
            if message
                .content
                .iter()
                .any(|p| matches!(p, ContentPart::Image { .. }))
            {
                return Err(bad(&content_path, "a system message may hold text only"));
            }
            req.system.push(message.joined_text());
            return Ok(());
        }
        "user" => {
            if get(m, "content").is_none() {
                return Err(bad(&content_path, "missing (a user message needs content)"));
            }
        }
        "assistant" => {
            message.role = Role::Assistant;
            if let Some(calls) = opt_array(m, "tool_calls", path)? {
                let calls_path = join(path, "tool_calls");
                for (i, c) in calls.iter().enumerate() {
                    message
                        .tool_calls
                        .push(parse_tool_call(c, &at(&calls_path, i))?);
                }
            }
        }
        "tool" => {
            message.role = Role::Tool;
            message.tool_call_id = Some(req_str(m, "tool_call_id", path)?.to_string());
        }
        other => {
            return Err(bad(
                &join(path, "role"),
                format!(
                    "unknown role \"{other}\" (expected system, developer, user, assistant or tool)"
                ),
            ));
        }
    }
    req.messages.push(message);
    Ok(())
}

/// A string or an array of `text` / `image_url` parts.
fn parse_content(v: &Value, path: &str) -> Result<Vec<ContentPart>, WireError> {
    match v {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![ContentPart::Text { text: s.clone() }]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let pp = at(path, i);
                let o = object(p, &pp)?;
                match req_str(o, "type", &pp)? {
                    "text" => Ok(ContentPart::Text {
                        text: req_str(o, "text", &pp)?.to_string(),
                    }),
                    "image_url" => {
                        let url = match get(o, "image_url") {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Object(img)) => {
                                req_str(img, "url", &join(&pp, "image_url"))?.to_string()
                            }
                            Some(other) => {
                                return Err(wrong(&join(&pp, "image_url"), "an object", other));
                            }
                            None => return Err(bad(&join(&pp, "image_url"), "missing")),
                        };
                        Ok(ContentPart::Image { url })
                    }
                    other => Err(bad(
                        &join(&pp, "type"),
                        format!("unsupported part type \"{other}\" (expected text or image_url)"),
                    )),
                }
            })
            .collect(),
        other => Err(wrong(path, "a string or an array of parts", other)),
    }
}

fn parse_tool_call(v: &Value, path: &str) -> Result<ToolCall, WireError> {
    let c = object(v, path)?;
    if let Some(t) = opt_str(c, "type", path)?
        && t != "function"
    {
        return Err(bad(
            &join(path, "type"),
            format!("unsupported tool call type \"{t}\""),
        ));
    }
    let fpath = join(path, "function");
    let f = opt_object(c, "function", path)?.ok_or_else(|| bad(&fpath, "missing"))?;
    let arguments = match get(f, "arguments") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        Some(other) => return Err(wrong(&join(&fpath, "arguments"), "a string", other)),
    };
    Ok(ToolCall {
        id: req_str(c, "id", path)?.to_string(),
        name: req_str(f, "name", &fpath)?.to_string(),
        arguments,
    })
}

fn parse_tool(v: &Value, path: &str) -> Result<Tool, WireError> {
    let t = object(v, path)?;
    if let Some(ty) = opt_str(t, "type", path)?
        && ty != "function"
    {
        return Err(bad(
            &join(path, "type"),
            format!("unsupported tool type \"{ty}\" (expected function)"),
        ));
    }
    let fpath = join(path, "function");
    let f = opt_object(t, "function", path)?.ok_or_else(|| bad(&fpath, "missing"))?;
    Ok(Tool {
        name: req_str(f, "name", &fpath)?.to_string(),
        description: opt_str(f, "description", &fpath)?.map(str::to_string),
        parameters: get(f, "parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    })
}

fn parse_tool_choice(v: Option<&Value>) -> Result<Option<ToolChoice>, WireError> {
    let path = "tool_choice";
    match v {
        None => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(bad(
                path,
                format!("unknown value \"{other}\" (expected auto, none or required)"),
            )),
        },
        Some(Value::Object(o)) => {
            let fpath = join(path, "function");
            let f = opt_object(o, "function", path)?.ok_or_else(|| bad(&fpath, "missing"))?;
            Ok(Some(ToolChoice::Tool {
                name: req_str(f, "name", &fpath)?.to_string(),
            }))
        }
        Some(other) => Err(wrong(path, "a string or an object", other)),
    }
}

fn parse_response_format(o: &Obj) -> Result<ResponseFormat, WireError> {
    let path = "response_format";
    match req_str(o, "type", path)? {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let spath = join(path, "json_schema");
            let s = opt_object(o, "json_schema", path)?.ok_or_else(|| bad(&spath, "missing"))?;
            Ok(ResponseFormat::JsonSchema {
                name: opt_str(s, "name", &spath)?
                    .unwrap_or("response")
                    .to_string(),
                schema: get(s, "schema").cloned().unwrap_or_else(|| json!({})),
                strict: opt_bool(s, "strict", &spath)?.unwrap_or(false),
            })
        }
        other => Err(bad(
            &join(path, "type"),
            format!("unknown type \"{other}\" (expected text, json_object or json_schema)"),
        )),
    }
}
