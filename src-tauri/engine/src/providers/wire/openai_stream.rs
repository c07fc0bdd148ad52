//! OpenAI chat-completion streams (re-exported from `openai`): [`StreamDecoder`] turns an
//! upstream's `chat.completion.chunk` events into neutral [`StreamEvent`]s (client side);
//! [`StreamEncoder`] turns neutral events into chunks for a gateway client.
//!
//! Invariants: the decoder emits `Start` once (on the first chunk), then deltas, then
//! `Finish` once: at `[DONE]`, or as soon as both a finish reason and a usage chunk were
//! seen; upstream tool-call indexes are mapped to neutral indexes 0, 1, ... in order of
//! appearance. The encoder writes `Start` before anything else even when the neutral
//! stream lacks one, and ends with a finish chunk, a usage chunk and `[DONE]`.
//! Must never: panic on any chunk, or emit anything after `Finish`.

use serde_json::{Value, json};

use super::WireError;
use super::fields::{prefixed, short, text_of};
use super::openai::{finish_from, finish_str, upstream_error, usage_from, usage_json};
use super::sse::SseEvent;
use crate::providers::neutral::{ChatRequest, FinishReason, StreamEvent, Usage};

/// Upstream chunks → neutral events.
#[derive(Debug)]
pub struct StreamDecoder {
    model: String,
    started: bool,
    /// `(upstream index, upstream id, neutral index)` of each tool call seen.
    tools: Vec<(u64, String, u32)>,
    reason: Option<FinishReason>,
    usage: Option<Usage>,
    finished: bool,
    done: bool,
}

impl StreamDecoder {
    pub fn new(req: &ChatRequest) -> Self {
        Self {
            model: req.model.clone(),
            started: false,
            tools: Vec::new(),
            reason: None,
            usage: None,
            finished: false,
            done: false,
        }
    }

    /// One SSE event; returns the neutral events it carried.
    pub fn push(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>, WireError> {
        let mut out = Vec::new();
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.done = true;
            self.start(&mut out, String::new(), String::new());
            self.finish_now(&mut out);
            return Ok(out);
        }
        if data.is_empty() {
            return Ok(out);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|_| {
            WireError::InvalidResponse(format!("stream: a data line is not JSON: {}", short(data)))
        })?;
        if let Some(e) = upstream_error(&chunk) {
            return Err(e);
        }
        if self.finished {
            return Ok(out);
        }
        self.start(&mut out, text_of(&chunk, "id"), text_of(&chunk, "model"));
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage_from(u));
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(choice) = choice {
            let delta = choice.get("delta").cloned().unwrap_or(Value::Null);
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::TextDelta {
                    text: text.to_string(),
                });
            }
            for piece in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.tool_piece(piece, &mut out);
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.reason = Some(finish_from(r));
            }
        }
        if self.reason.is_some() && self.usage.is_some() {
            self.finish_now(&mut out);
        }
        Ok(out)
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>, id: String, model: String) {
        if !self.started {
            self.started = true;
            let model = if model.is_empty() {
                self.model.clone()
            } else {
                model
            };
            out.push(StreamEvent::Start { id, model });
        }
    }

    fn finish_now(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.finished {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason: self.reason.unwrap_or_default(),
                usage: self.usage,
            });
        }
    }

    fn tool_piece(&mut self, piece: &Value, out: &mut Vec<StreamEvent>) {
        let upstream = piece.get("index").and_then(Value::as_u64).unwrap_or(0);
        let id = text_of(piece, "id");
        let f = piece.get("function").cloned().unwrap_or(Value::Null);
        let known = self
            .tools
            .iter()
            .rev()
            .find(|(i, known_id, _)| *i == upstream && (id.is_empty() || *known_id == id))
            .map(|t| t.2);
        let index = match known {
            Some(n) => n,
            None => {
                let n = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                let id = if id.is_empty() {
                    format!("call_{n}")
                } else {
                    id.clone()
                };
                self.tools.push((upstream, id.clone(), n));
                out.push(StreamEvent::ToolCallStart {
                    index: n,
                    id,
                    name: text_of(&f, "name"),
                });
                n
            }
        };
        if let Some(args) = f
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            out.push(StreamEvent::ToolCallDelta {
                index,
                arguments: args.to_string(),
            });
        }
    }

    /// The upstream stream ended: true when that was a proper end (`[DONE]` or a finish
    /// reason seen).
    pub fn finish(&mut self) -> bool {
        self.done || self.reason.is_some()
    }
}

/// Neutral events → `chat.completion.chunk` SSE frames for a gateway client.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    created: i64,
    id: String,
    started: bool,
    finished: bool,
}

impl StreamEncoder {
    pub fn new(model: &str, created: i64) -> Self {
        Self {
            model: model.to_string(),
            created,
            id: "chatcmpl-".to_string(),
            started: false,
            finished: false,
        }
    }

    /// Zero or more `data: {json}\n\n` frames for one event.
    pub fn encode(&mut self, ev: &StreamEvent) -> String {
        let mut out = String::new();
        if self.finished {
            return out;
        }
        if let StreamEvent::Start { id, .. } = ev {
            self.id = prefixed(id, "chatcmpl-");
        }
        if !self.started {
            self.started = true;
            self.chunk(&mut out, json!({"role": "assistant", "content": ""}), None);
        }
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta { text } => {
                if !text.is_empty() {
                    self.chunk(&mut out, json!({"content": text}), None);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let call = json!({"index": index, "id": id, "type": "function",
                                  "function": {"name": name, "arguments": ""}});
                self.chunk(&mut out, json!({"tool_calls": [call]}), None);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if !arguments.is_empty() {
                    let call = json!({"index": index, "function": {"arguments": arguments}});
                    self.chunk(&mut out, json!({"tool_calls": [call]}), None);
                }
            }
            StreamEvent::Finish { reason, usage } => {
                self.finished = true;
                self.chunk(&mut out, json!({}), Some(*reason));
                if let Some(u) = usage {
                    let body = json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage_json(u),
                    });
                    push_data(&mut out, &body.to_string());
                }
                push_data(&mut out, "[DONE]");
            }
        }
        out
    }

    fn chunk(&self, out: &mut String, delta: Value, reason: Option<FinishReason>) {
        let body = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": reason.map(finish_str),
            }],
        });
        push_data(out, &body.to_string());
    }
}

fn push_data(out: &mut String, data: &str) {
    out.push_str("data: ");
    out.push_str(data);
    out.push_str("\n\n");
}
