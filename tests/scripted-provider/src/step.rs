//! The script: what one provider request is answered with ([`Step`]), in the same serde shape
//! for the JSON control API (`POST /_script`) and for Rust tests.
//!
//! Owns the step types and their validation only; how a step turns into bytes on the wire
//! lives in `answer`, `openai`, `anthropic` and `body`. Usage is scripted in *neutral* terms
//! ([`ScriptedUsage`]) and converted to each protocol's counting by the protocol modules.
//!
//! Invariant: every step struct denies unknown fields, so a typo in a test's script is a 400
//! from `/_script` instead of a silently ignored knob.

use serde::{Deserialize, Serialize};

/// One scripted answer; each provider request pops one (see the crate docs for the queues).
///
/// JSON: internally tagged by `kind`, e.g. `{"kind": "reply", "text": "hi"}`,
/// `{"kind": "status", "status": 429, "retry_after": 2}`, `{"kind": "hang"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A successful answer (text and/or tool calls), streamed if the request asked for it.
    Reply(Reply),
    /// An HTTP error in the protocol's error format.
    Status(Status),
    /// Status 200 with a body that is not JSON (streams: one SSE data line that is not JSON
    /// after `after_chunks` good deltas, default 0).
    Malformed(Fault),
    /// Streams: `after_chunks` content deltas (default 1), then the connection is closed with
    /// no finish chunk, `[DONE]` or `message_stop`. Non-stream: a `Content-Length` for the
    /// whole answer, half of it, then the connection is closed.
    Truncate(Fault),
    /// Streams: `after_chunks` content deltas (default 1), then nothing more while the client
    /// stays. Non-stream: the response head (with a `Content-Length`), then never the body.
    Stall(Fault),
    /// The request is read and no response head is ever sent (until the client goes away).
    Hang,
    /// An answer that never ends: a content delta every `chunk_delay_ms` (streams), or a JSON
    /// body whose text never closes (non-stream).
    Endless(Endless),
}

/// A successful answer. Every field is optional; `Reply::default()` is the default echo.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reply {
    /// The answer text; absent: `"echo: " + the last user message's text`, or no text when
    /// `tool_calls` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Tool calls to answer with (after the text, if any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// When the request ends with a tool result: answer this text instead, without tool
    /// calls. One step then scripts a whole tool round, whatever order requests come in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_tool_result: Option<String>,
    /// The finish reason in either protocol's words (`stop`, `length`, `tool_calls`,
    /// `content_filter` or `end_turn`, `max_tokens`, `tool_use`, `stop_sequence`, `refusal`),
    /// mapped to the other protocol's; anything else is sent as is. Absent: `tool_calls` if
    /// there are tool calls, else `stop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The usage to report; absent: computed from the request and the answer (input = words
    /// of all messages + 1, output = words of the answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ScriptedUsage>,
    /// Send no usage at all (no `usage` object, no usage chunk), like some local servers.
    #[serde(skip_serializing_if = "is_false")]
    pub omit_usage: bool,
    /// Delay before the response head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Delay between two stream deltas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    /// Split the text into this many stream deltas (default: one per word, at most 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u32>,
    /// Make the answer text exactly this many bytes long (padded with `x`, or cut at a
    /// character boundary), for oversized-response tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pad_bytes: Option<usize>,
}

/// One tool call of a [`Reply`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// The call's id; absent: `call_<n>` (OpenAI) / `toolu_<n>` (Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function / tool name.
    pub name: String,
    /// The arguments as a JSON string (OpenAI sends it as is; Anthropic parses it into
    /// `input`, or sends the string itself if it is not JSON). Default `{}`.
    #[serde(default = "empty_object")]
    pub arguments: String,
}

/// Token usage in neutral terms: `input` excludes cached and cache-write tokens, `output`
/// excludes reasoning tokens. Fields left out are 0.
///
/// OpenAI: `prompt_tokens = input + cached_input`, `cached_tokens = cached_input`,
/// `completion_tokens = output + reasoning`, `reasoning_tokens = reasoning` (no cache writes).
/// Anthropic: `input_tokens = input`, `cache_read_input_tokens = cached_input`,
/// `cache_creation_input_tokens = cache_write`, `output_tokens = output + reasoning`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptedUsage {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The HTTP status, 100..=999 (e.g. 400, 401, 429, 500, 503, 529).
    pub status: u16,
    /// Seconds, sent as the `Retry-After` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The error message (default: a generic one for the status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The error's `type` (default: the protocol's type for the status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// OpenAI's `code` (default: the usual one for the status, e.g. `rate_limit_exceeded`;
    /// `""` sends `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Delay before the response head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The knobs of `malformed`, `truncate` and `stall`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Good content deltas before the fault (streams only); the default depends on the kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_chunks: Option<u32>,
    /// Delay before the response head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The knobs of `endless`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Endless {
    /// Delay between two deltas (default 1; 0: as fast as the client reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    /// Text bytes per delta (default 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_bytes: Option<usize>,
    /// Delay before the response head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn empty_object() -> String {
    "{}".to_owned()
}

impl Step {
    /// A reply with this text.
    pub fn reply(text: impl Into<String>) -> Self {
        Self::Reply(Reply::text(text))
    }

    /// The default echo reply.
    pub fn echo() -> Self {
        Self::Reply(Reply::default())
    }

    /// An error with this HTTP status.
    pub fn status(status: u16) -> Self {
        Self::Status(Status {
            status,
            retry_after: None,
            message: None,
            error_type: None,
            code: None,
            latency_ms: None,
        })
    }

    /// An error with this HTTP status and a `Retry-After` of `seconds`.
    pub fn status_retry_after(status: u16, seconds: u64) -> Self {
        Self::Status(Status {
            status,
            retry_after: Some(seconds),
            message: None,
            error_type: None,
            code: None,
            latency_ms: None,
        })
    }

    /// A 200 whose body is not JSON.
    pub fn malformed() -> Self {
        Self::Malformed(Fault::default())
    }

    /// A response cut off after `after_chunks` stream deltas (non-stream: half a body).
    pub fn truncate(after_chunks: u32) -> Self {
        Self::Truncate(Fault {
            after_chunks: Some(after_chunks),
            latency_ms: None,
        })
    }

    /// A response that stops sending after `after_chunks` stream deltas (non-stream: after
    /// the head).
    pub fn stall(after_chunks: u32) -> Self {
        Self::Stall(Fault {
            after_chunks: Some(after_chunks),
            latency_ms: None,
        })
    }

    /// A response that never ends, one delta every `chunk_delay_ms`.
    pub fn endless(chunk_delay_ms: u64) -> Self {
        Self::Endless(Endless {
            chunk_delay_ms: Some(chunk_delay_ms),
            ..Endless::default()
        })
    }

    /// The step's kind as written in JSON (`reply`, `status`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Reply(_) => "reply",
            Self::Status(_) => "status",
            Self::Malformed(_) => "malformed",
            Self::Truncate(_) => "truncate",
            Self::Stall(_) => "stall",
            Self::Hang => "hang",
            Self::Endless(_) => "endless",
        }
    }

    /// Checks what serde cannot: a status must be a valid HTTP status (100..=999).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Status(s) if !(100..=999).contains(&s.status) => Err(format!(
                "status {} is not an HTTP status (100..=999)",
                s.status
            )),
            _ => Ok(()),
        }
    }
}

impl Reply {
    /// A reply with this text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// Adds a tool call (`arguments` is a JSON string).
    pub fn tool_call(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        self.tool_calls.push(ToolCall {
            id: Some(id.into()),
            name: name.into(),
            arguments: arguments.into(),
        });
        self
    }

    /// Reports this usage instead of the computed one.
    pub fn usage(mut self, usage: ScriptedUsage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Sends no usage at all.
    pub fn omit_usage(mut self) -> Self {
        self.omit_usage = true;
        self
    }

    /// Sets the finish reason (either protocol's words).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }

    /// Waits this long before the response head.
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    /// Streams the text in `chunks` deltas, `delay_ms` apart.
    pub fn chunks(mut self, chunks: u32, delay_ms: u64) -> Self {
        self.chunks = Some(chunks);
        self.chunk_delay_ms = Some(delay_ms);
        self
    }

    /// Makes the text exactly `bytes` long.
    pub fn pad_bytes(mut self, bytes: usize) -> Self {
        self.pad_bytes = Some(bytes);
        self
    }
}

impl From<Reply> for Step {
    fn from(reply: Reply) -> Self {
        Self::Reply(reply)
    }
}

impl ScriptedUsage {
    /// Plain input and output tokens, nothing cached, no reasoning.
    pub fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip_through_json() {
        let steps = vec![
            Step::reply("hi"),
            Step::Reply(
                Reply::default()
                    .tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#)
                    .usage(ScriptedUsage::new(3, 4)),
            ),
            Step::status_retry_after(429, 2),
            Step::malformed(),
            Step::truncate(2),
            Step::stall(0),
            Step::Hang,
            Step::endless(5),
        ];
        let json = serde_json::to_string(&steps).unwrap();
        let back: Vec<Step> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, steps);
    }

    #[test]
    fn json_shapes_parse() {
        let step: Step = serde_json::from_str(r#"{"kind":"hang"}"#).unwrap();
        assert_eq!(step, Step::Hang);
        let step: Step =
            serde_json::from_str(r#"{"kind":"status","status":503,"retry_after":1}"#).unwrap();
        assert_eq!(step, Step::status_retry_after(503, 1));
        let step: Step = serde_json::from_str(
            r#"{"kind":"reply","tool_calls":[{"name":"f"}],"usage":{"input":2}}"#,
        )
        .unwrap();
        let Step::Reply(reply) = step else {
            panic!("not a reply")
        };
        assert_eq!(reply.tool_calls[0].arguments, "{}");
        assert_eq!(reply.usage, Some(ScriptedUsage::new(2, 0)));
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        assert!(serde_json::from_str::<Step>(r#"{"kind":"reply","txt":"x"}"#).is_err());
        assert!(serde_json::from_str::<Step>(r#"{"kind":"explode"}"#).is_err());
        assert!(serde_json::from_str::<Step>(r#"{"kind":"status"}"#).is_err());
        assert!(Step::status(42).validate().is_err());
        assert!(Step::status(529).validate().is_ok());
    }
}
