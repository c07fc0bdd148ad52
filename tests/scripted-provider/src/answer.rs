//! From a [`Reply`] and the request to a protocol-neutral [`Answer`]: the resolved text (echo,
//! padding), tool calls with ids, finish reason in both protocols' words, usage (scripted or
//! computed) and how the text is split into stream deltas.
//!
//! Invariant: everything here is deterministic in the request and the step (ids aside), so
//! tests can predict usage and deltas exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::request::{Parsed, words};
use crate::step::{Reply, ScriptedUsage};

/// Most deltas the text is split into when the step does not say.
const DEFAULT_MAX_CHUNKS: usize = 8;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh number for response and tool-call ids (unique within the process).
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// What every part of one response shares.
pub(crate) struct Ctx {
    pub id: u64,
    pub model: String,
    pub created: u64,
    pub include_usage: bool,
}

impl Ctx {
    pub fn new(parsed: &Parsed) -> Self {
        Self {
            id: next_id(),
            model: parsed.model.clone().unwrap_or_default(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            include_usage: parsed.include_usage,
        }
    }
}

/// A tool call with its id resolved (`None`: the protocol's default id is used).
pub(crate) struct AnswerToolCall {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

/// A protocol-neutral successful answer.
pub(crate) struct Answer {
    pub text: String,
    pub tool_calls: Vec<AnswerToolCall>,
    pub finish_openai: String,
    pub finish_anthropic: String,
    pub usage: Option<ScriptedUsage>,
    pub chunks: usize,
    pub chunk_delay: Duration,
}

impl Answer {
    /// The answer a reply step gives to this request.
    pub fn from_reply(reply: &Reply, parsed: &Parsed) -> Self {
        // A whole tool round in one step: the calls first, this text once they were answered.
        let answered;
        let reply = match &reply.after_tool_result {
            Some(text) if parsed.ends_with_tool_result => {
                answered = Reply {
                    text: Some(text.clone()),
                    tool_calls: Vec::new(),
                    after_tool_result: None,
                    ..reply.clone()
                };
                &answered
            }
            _ => reply,
        };
        let mut text = match &reply.text {
            Some(text) => text.clone(),
            None if !reply.tool_calls.is_empty() => String::new(),
            None => echo(parsed),
        };
        if let Some(len) = reply.pad_bytes {
            pad(&mut text, len);
        }
        let tool_calls: Vec<AnswerToolCall> = reply
            .tool_calls
            .iter()
            .map(|t| AnswerToolCall {
                id: t.id.clone(),
                name: t.name.clone(),
                arguments: t.arguments.clone(),
            })
            .collect();
        let finish = reply
            .finish_reason
            .as_deref()
            .unwrap_or(if tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            });
        let (finish_openai, finish_anthropic) = finish_reasons(finish);
        let usage = if reply.omit_usage {
            None
        } else {
            Some(
                reply
                    .usage
                    .unwrap_or_else(|| computed_usage(parsed, &text, &tool_calls)),
            )
        };
        let chunks = match reply.chunks {
            Some(n) => n as usize,
            None => default_chunks(&text),
        };
        Self {
            text,
            tool_calls,
            finish_openai,
            finish_anthropic,
            usage,
            chunks,
            chunk_delay: Duration::from_millis(reply.chunk_delay_ms.unwrap_or(0)),
        }
    }

    /// The default echo, split into at least `min_chunks` deltas where the text allows (the
    /// faults cut a stream after a number of deltas and need that many).
    pub fn echo(parsed: &Parsed, min_chunks: usize) -> Self {
        let mut answer = Self::from_reply(&Reply::default(), parsed);
        answer.chunks = answer.chunks.max(min_chunks);
        answer
    }

    /// The text's stream deltas.
    pub fn pieces(&self) -> Vec<&str> {
        split(&self.text, self.chunks)
    }
}

/// `"echo: " + the last user message's text`.
pub(crate) fn echo(parsed: &Parsed) -> String {
    format!("echo: {}", parsed.last_user_text)
}

/// Usage when nothing is scripted: input = words of all messages + 1, output = words of the
/// text + for each tool call 1 + words of its arguments.
fn computed_usage(parsed: &Parsed, text: &str, tool_calls: &[AnswerToolCall]) -> ScriptedUsage {
    let tools: u64 = tool_calls.iter().map(|t| 1 + words(&t.arguments)).sum();
    ScriptedUsage::new(parsed.words + 1, words(text) + tools)
}

fn default_chunks(text: &str) -> usize {
    text.split_whitespace()
        .take(DEFAULT_MAX_CHUNKS)
        .count()
        .max(1)
}

/// Maps a finish reason in either protocol's words to (OpenAI, Anthropic).
pub(crate) fn finish_reasons(reason: &str) -> (String, String) {
    let (openai, anthropic) = match reason {
        "stop" | "end_turn" => ("stop", "end_turn"),
        "stop_sequence" => ("stop", "stop_sequence"),
        "length" | "max_tokens" => ("length", "max_tokens"),
        "tool_calls" | "tool_use" => ("tool_calls", "tool_use"),
        "content_filter" | "refusal" => ("content_filter", "refusal"),
        other => (other, other),
    };
    (openai.to_owned(), anthropic.to_owned())
}

/// Makes `text` exactly `len` bytes (or the nearest character boundary below when cutting).
fn pad(text: &mut String, len: usize) {
    if text.len() >= len {
        let mut cut = len;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    } else {
        let missing = len - text.len();
        text.reserve(missing);
        text.extend(std::iter::repeat_n('x', missing));
    }
}

/// Splits `text` into `n` pieces of about equal byte length, at character boundaries; an
/// empty text has no pieces, and there are never more pieces than characters.
pub(crate) fn split(text: &str, n: usize) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let n = n.clamp(1, text.len());
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..=n {
        let mut end = if i == n {
            text.len()
        } else {
            i * text.len() / n
        };
        while !text.is_char_boundary(end) {
            end += 1;
        }
        if end > start {
            pieces.push(&text[start..end]);
            start = end;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_even_and_keeps_characters_whole() {
        assert_eq!(split("abcdef", 3), vec!["ab", "cd", "ef"]);
        assert_eq!(split("ab", 5), vec!["a", "b"]);
        assert_eq!(split("", 3), Vec::<&str>::new());
        let pieces = split("héllo wörld", 4);
        assert_eq!(pieces.concat(), "héllo wörld");
        assert!(pieces.len() <= 4);
    }

    #[test]
    fn pad_pads_and_cuts() {
        let mut s = "ab".to_owned();
        pad(&mut s, 5);
        assert_eq!(s, "abxxx");
        let mut s = "héllo".to_owned();
        pad(&mut s, 2);
        assert_eq!(s, "h");
    }

    #[test]
    fn finish_reasons_map_both_ways() {
        assert_eq!(finish_reasons("tool_use").0, "tool_calls");
        assert_eq!(finish_reasons("length").1, "max_tokens");
        assert_eq!(finish_reasons("weird").1, "weird");
    }
}
