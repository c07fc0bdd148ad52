//! Anthropic Messages streams (re-exported from `anthropic`): [`StreamDecoder`] turns an
//! upstream's events (`message_start`, `content_block_*`, `message_delta`, `message_stop`)
//! into neutral [`StreamEvent`]s (client side); [`StreamEncoder`] turns neutral events into
//! that event sequence for a gateway client.
//!
//! Invariants: the decoder emits `Start` at `message_start` and `Finish` once, at
//! `message_stop`; tool blocks get neutral indexes 0, 1, ... in order; the forced tool of a
//! JSON-schema answer format streams as text. The encoder's block indexes are consecutive
//! from 0, at most one block is open at a time, and every stream it writes has at least
//! one block (what the official SDKs' accumulators expect).
//! Must never: panic on any event, or emit anything after `Finish`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::WireError;
use super::anthropic::{
    finish_from, finish_str, schema_tool, upstream_error, usage_from, usage_json,
};
use super::fields::{prefixed, short, text_of};
use super::sse::{SseEvent, frame};
use crate::providers::neutral::{ChatRequest, FinishReason, StreamEvent, Usage};

#[derive(Debug, Clone, Copy)]
enum Block {
    Text,
    Tool(u32),
    /// The forced tool of a JSON-schema answer format: its input is the answer's text.
    Schema,
    Ignored,
}

/// Upstream events → neutral events.
#[derive(Debug)]
pub struct StreamDecoder {
    model: String,
    schema: Option<String>,
    blocks: HashMap<u64, Block>,
    next_tool: u32,
    schema_seen: bool,
    usage: Usage,
    usage_seen: bool,
    reason: Option<FinishReason>,
    done: bool,
}

impl StreamDecoder {
    pub fn new(req: &ChatRequest) -> Self {
        Self {
            model: req.model.clone(),
            schema: schema_tool(req).map(str::to_string),
            blocks: HashMap::new(),
            next_tool: 0,
            schema_seen: false,
            usage: Usage::default(),
            usage_seen: false,
            reason: None,
            done: false,
        }
    }

    /// One SSE event; returns the neutral events it carried.
    pub fn push(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>, WireError> {
        let mut out = Vec::new();
        let data = ev.data.trim();
        if data.is_empty() || self.done {
            return Ok(out);
        }
        let v: Value = serde_json::from_str(data).map_err(|_| {
            WireError::InvalidResponse(format!("stream: a data line is not JSON: {}", short(data)))
        })?;
        if let Some(e) = upstream_error(&v) {
            return Err(e);
        }
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or_default();
        match kind {
            "message_start" => {
                let m = v.get("message").cloned().unwrap_or(Value::Null);
                if let Some(u) = m.get("usage").filter(|u| u.is_object()) {
                    self.usage = usage_from(u, self.usage);
                    self.usage_seen = true;
                }
                let model = Some(text_of(&m, "model")).filter(|s| !s.is_empty());
                out.push(StreamEvent::Start {
                    id: text_of(&m, "id"),
                    model: model.unwrap_or_else(|| self.model.clone()),
                });
            }
            "content_block_start" => self.block_start(&v, &mut out),
            "content_block_delta" => self.block_delta(&v, &mut out),
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.reason = Some(finish_from(r));
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    self.usage = usage_from(u, self.usage);
                    self.usage_seen = true;
                }
            }
            "message_stop" => {
                self.done = true;
                let mut reason = self.reason.unwrap_or_default();
                if self.schema_seen && self.next_tool == 0 {
                    reason = FinishReason::Stop;
                }
                out.push(StreamEvent::Finish {
                    reason,
                    usage: self.usage_seen.then_some(self.usage),
                });
            }
            _ => {} // ping, content_block_stop, unknown events
        }
        Ok(out)
    }

    fn block_start(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let b = v.get("content_block").cloned().unwrap_or(Value::Null);
        let block = match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = text_of(&b, "text");
                if !text.is_empty() {
                    out.push(StreamEvent::TextDelta { text });
                }
                Block::Text
            }
            Some("tool_use") => {
                let name = text_of(&b, "name");
                let input = b
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()));
                if !self.schema_seen && self.schema.as_deref() == Some(name.as_str()) {
                    self.schema_seen = true;
                    if let Some(i) = input {
                        out.push(StreamEvent::TextDelta {
                            text: i.to_string(),
                        });
                    }
                    Block::Schema
                } else {
                    let n = self.next_tool;
                    self.next_tool += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index: n,
                        id: text_of(&b, "id"),
                        name,
                    });
                    if let Some(i) = input {
                        out.push(StreamEvent::ToolCallDelta {
                            index: n,
                            arguments: i.to_string(),
                        });
                    }
                    Block::Tool(n)
                }
            }
            _ => Block::Ignored, // thinking, redacted_thinking, server tools
        };
        self.blocks.insert(index, block);
    }

    fn block_delta(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let d = v.get("delta").cloned().unwrap_or(Value::Null);
        let block = self.blocks.get(&index).copied().unwrap_or(Block::Ignored);
        let piece = match d.get("type").and_then(Value::as_str) {
            Some("text_delta") => text_of(&d, "text"),
            Some("input_json_delta") => text_of(&d, "partial_json"),
            _ => return, // thinking, signature, citations
        };
        if piece.is_empty() {
            return;
        }
        match block {
            Block::Text | Block::Schema => out.push(StreamEvent::TextDelta { text: piece }),
            Block::Tool(n) => out.push(StreamEvent::ToolCallDelta {
                index: n,
                arguments: piece,
            }),
            Block::Ignored => {}
        }
    }

    /// The upstream stream ended: true when that was a proper end (`message_stop` seen).
    pub fn finish(&mut self) -> bool {
        self.done
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Tool(u32),
}

/// Neutral events → Anthropic SSE events for a gateway client.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    started: bool,
    finished: bool,
    /// The next block's index.
    next_block: u32,
    open: Option<(Open, u32)>,
    /// Neutral tool index → block index.
    tools: HashMap<u32, u32>,
}

impl StreamEncoder {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            started: false,
            finished: false,
            next_block: 0,
            open: None,
            tools: HashMap::new(),
        }
    }

    /// Zero or more SSE frames for one event.
    pub fn encode(&mut self, ev: &StreamEvent) -> String {
        let mut out = String::new();
        if self.finished {
            return out;
        }
        if !self.started {
            self.started = true;
            let id = match ev {
                StreamEvent::Start { id, .. } => prefixed(id, "msg_"),
                _ => "msg_".to_string(),
            };
            let message = json!({
                "id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": usage_json(&Usage::default()),
            });
            emit(
                &mut out,
                "message_start",
                &json!({"type": "message_start", "message": message}),
            );
        }
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta { text } => {
                if text.is_empty() {
                    return out;
                }
                let index = match self.open {
                    Some((Open::Text, i)) => i,
                    _ => self.open_block(&mut out, Open::Text, json!({"type": "text", "text": ""})),
                };
                let delta = json!({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "text_delta", "text": text}});
                emit(&mut out, "content_block_delta", &delta);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let b = self.open_block(&mut out, Open::Tool(*index), block);
                self.tools.insert(*index, b);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let (Some(b), false) = (self.tools.get(index), arguments.is_empty()) {
                    let delta = json!({"type": "content_block_delta", "index": b,
                                       "delta": {"type": "input_json_delta", "partial_json": arguments}});
                    emit(&mut out, "content_block_delta", &delta);
                }
            }
            StreamEvent::Finish { reason, usage } => {
                self.finished = true;
                if self.next_block == 0 {
                    self.open_block(&mut out, Open::Text, json!({"type": "text", "text": ""}));
                }
                self.close_block(&mut out);
                let u = usage.unwrap_or_default();
                let delta = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": finish_str(*reason), "stop_sequence": null},
                    "usage": usage_json(&u),
                });
                emit(&mut out, "message_delta", &delta);
                emit(&mut out, "message_stop", &json!({"type": "message_stop"}));
            }
        }
        out
    }

    /// Closes the open block (if any) and opens a new one; returns its index.
    fn open_block(&mut self, out: &mut String, kind: Open, block: Value) -> u32 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((kind, index));
        let start = json!({"type": "content_block_start", "index": index, "content_block": block});
        emit(out, "content_block_start", &start);
        index
    }

    fn close_block(&mut self, out: &mut String) {
        if let Some((_, index)) = self.open.take() {
            emit(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }
}

fn emit(out: &mut String, event: &str, data: &Value) {
    out.push_str(&frame(Some(event), &data.to_string()));
}
