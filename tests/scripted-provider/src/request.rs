//! Reading a provider request: the few fields the scripted answers depend on (model, stream,
//! `stream_options.include_usage`, the last user text and a word count of all messages).
//!
//! Both protocols share one reader: OpenAI and Anthropic messages are both `{role, content}`
//! with `content` a string or an array of parts carrying `text` (Anthropic's `tool_result`
//! nests its `content`); Anthropic's top-level `system` is counted too. Parsing is lenient
//! about everything but what a real provider would refuse outright: a body that is not a JSON
//! object, and a missing `model` or `messages`.

use serde::Deserialize;
use serde_json::Value;

/// What a provider request asked for.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub model: Option<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// The text of the last `user` message (parts joined by a newline).
    pub last_user_text: String,
    /// Whitespace-separated words of all messages (and `system`).
    pub words: u64,
    /// The last message is a tool result (OpenAI `role: tool`; Anthropic a user message with
    /// a `tool_result` part).
    pub ends_with_tool_result: bool,
    /// Why the request is refused with a 400, if it is.
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    system: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Value>,
}

/// Reads a chat-completions or messages request body.
pub(crate) fn parse(body: &[u8]) -> Parsed {
    let wire: Wire = match serde_json::from_slice(body) {
        Ok(wire) => wire,
        Err(error) => {
            return Parsed {
                error: Some(format!(
                    "We could not parse the JSON body of your request: {error}"
                )),
                ..Parsed::default()
            };
        }
    };
    let mut parsed = Parsed {
        model: wire.model,
        stream: wire.stream.unwrap_or(false),
        include_usage: wire
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        ..Parsed::default()
    };
    if let Some(system) = &wire.system {
        parsed.words += words_of_content(system);
    }
    match wire.messages {
        Some(messages) => {
            for message in &messages {
                if let Some(content) = &message.content {
                    parsed.words += words_of_content(content);
                }
            }
            parsed.ends_with_tool_result = messages.last().is_some_and(|m| {
                m.role.as_deref() == Some("tool")
                    || m.content
                        .as_ref()
                        .and_then(Value::as_array)
                        .is_some_and(|parts| {
                            parts.iter().any(|p| {
                                p.get("type").and_then(Value::as_str) == Some("tool_result")
                            })
                        })
            });
            if let Some(content) = messages
                .iter()
                .rev()
                .find(|m| m.role.as_deref() == Some("user"))
                .and_then(|m| m.content.as_ref())
            {
                let mut text = String::new();
                push_text(content, &mut text);
                parsed.last_user_text = text;
            }
        }
        None => parsed.error = Some("messages: Field required".to_owned()),
    }
    if parsed.model.is_none() {
        parsed.error = Some("model: Field required".to_owned());
    }
    parsed
}

/// Whitespace-separated words in `text`.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn words_of_content(content: &Value) -> u64 {
    match content {
        Value::String(s) => words(s),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part {
                Value::String(s) => words(s),
                Value::Object(o) => {
                    o.get("text").and_then(Value::as_str).map_or(0, words)
                        + o.get("content").map_or(0, words_of_content)
                }
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn push_text(content: &Value, out: &mut String) {
    match content {
        Value::String(s) => push_part(out, s),
        Value::Array(parts) => {
            for part in parts {
                match part {
                    Value::String(s) => push_part(out, s),
                    Value::Object(o) => {
                        if let Some(text) = o.get("text").and_then(Value::as_str) {
                            push_part(out, text);
                        }
                        if let Some(nested) = o.get("content") {
                            push_text(nested, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn push_part(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_and_anthropic_shapes() {
        let p = parse(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"system","content":"be brief"},
                            {"role":"user","content":"hello there"},
                            {"role":"assistant","content":"hi"},
                            {"role":"user","content":[{"type":"text","text":"how are"},
                                                      {"type":"image_url","image_url":{}},
                                                      {"type":"text","text":"you"}]}]}"#,
        );
        assert_eq!(p.error, None);
        assert_eq!(p.model.as_deref(), Some("m"));
        assert!(p.stream && p.include_usage);
        assert_eq!(p.last_user_text, "how are\nyou");
        assert_eq!(p.words, 8);

        let p = parse(
            br#"{"model":"c","max_tokens":5,"system":[{"type":"text","text":"sys tem"}],
                "messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t",
                             "content":[{"type":"text","text":"42 degrees"}]}]}]}"#,
        );
        assert_eq!(p.error, None);
        assert!(!p.stream);
        assert_eq!(p.last_user_text, "42 degrees");
        assert_eq!(p.words, 4);
    }

    #[test]
    fn refuses_what_a_provider_refuses() {
        assert!(parse(b"not json").error.is_some());
        assert!(parse(br#"{"messages":[]}"#).error.is_some());
        let p = parse(br#"{"model":"m"}"#);
        assert_eq!(p.model.as_deref(), Some("m"));
        assert!(p.error.is_some());
    }
}
