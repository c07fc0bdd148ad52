//! The one neutral shape of an LLM call, between the protocols: what an agent or a gateway
//! client asks ([`ChatRequest`]), what comes back ([`ChatResponse`], or a stream of
//! [`StreamEvent`]s) and what it used ([`Usage`]).
//!
//! Every protocol module (`wire::openai`, `wire::anthropic`) translates to and from these
//! types in both directions (client side: neutral → upstream request, upstream response →
//! neutral; gateway side: client request → neutral, neutral → client response), so a chain
//! may fall back from one protocol to the other.
//!
//! Invariants:
//! - [`Usage`] counts each token kind once: `input` is input *not* read from or written to a
//!   cache; `cached_input`, `cache_write` are separate; `output` excludes `reasoning`. (OpenAI
//!   reports cached tokens inside `prompt_tokens` and reasoning inside `completion_tokens`;
//!   Anthropic reports cache reads and writes beside `input_tokens`: the wire modules
//!   normalise.) `estimated` is true when any number was counted here rather than reported.
//! - Tool-call arguments are kept as the JSON text the model produced (it may be invalid
//!   JSON; validating it is the caller's business).
//!
//! Must never: hold a provider key or any transport detail.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The result of a tool call (`tool_call_id` names the call).
    Tool,
}

/// One piece of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    /// An image by URL (`https:` or a `data:` URL with base64 content).
    Image {
        url: String,
    },
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the JSON text the model produced.
    pub arguments: String,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ContentPart>,
    /// Assistant turns: the tools it called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Tool turns: the call this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Tool turns: true when the tool failed (Anthropic's `is_error`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

impl Message {
    /// A message of plain text.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: vec![ContentPart::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }

    /// The text parts joined (images left out).
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text { text } = part {
                out.push_str(text);
            }
        }
        out
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool (OpenAI `required`, Anthropic `any`).
    Required,
    Tool {
        name: String,
    },
}

/// The shape the answer must have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object (OpenAI JSON mode).
    JsonObject,
    /// JSON matching a schema (OpenAI structured output; for Anthropic a forced tool).
    JsonSchema {
        name: String,
        #[schema(value_type = Object)]
        schema: serde_json::Value,
        #[serde(default)]
        strict: bool,
    },
}

/// A call to a model, in no protocol's shape.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// A route name or a `provider/model` reference (before resolution); the upstream model
    /// name once a hop of the chain is chosen.
    pub model: String,
    /// System instructions (OpenAI system/developer messages, Anthropic `system`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// The client wants the answer as a stream.
    #[serde(default)]
    pub stream: bool,
}

impl ChatRequest {
    /// Deterministic enough to cache without being asked: temperature 0 (or a seed).
    pub fn is_deterministic(&self) -> bool {
        self.temperature == Some(0.0) || self.seed.is_some()
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    #[default]
    Stop,
    /// Hit `max_tokens`.
    Length,
    ToolCalls,
    ContentFilter,
    /// A stop sequence matched (Anthropic reports it apart from `stop`).
    StopSequence,
}

/// Tokens a call used, each kind counted once (see the module invariants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Input tokens neither read from nor written to a prompt cache.
    pub input: u64,
    pub output: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write: u64,
    /// Reasoning ("thinking") tokens, not included in `output`.
    pub reasoning: u64,
    /// Some numbers were counted by Flightdeck's tokenizer, not reported by the provider.
    pub estimated: bool,
}

impl Usage {
    /// All input kinds together (what OpenAI calls `prompt_tokens`).
    pub fn total_input(&self) -> u64 {
        self.input + self.cached_input + self.cache_write
    }

    /// Output and reasoning together (what OpenAI calls `completion_tokens`).
    pub fn total_output(&self) -> u64 {
        self.output + self.reasoning
    }
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct ChatResponse {
    /// The provider's id of the answer (or one made up when it gave none).
    pub id: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// The text of the answer (empty when it only called tools).
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: FinishReason,
    pub usage: Usage,
}

/// One piece of a streamed answer. A well-formed stream is `Start`, any number of deltas,
/// then `Finish` (with the usage, when the provider reported it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta {
        text: String,
    },
    /// A tool call begins; `index` orders the calls of this answer (0, 1, ...).
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    /// More of a tool call's argument text.
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    Finish {
        reason: FinishReason,
        /// `None` when the stream ended without reporting usage.
        usage: Option<Usage>,
    },
}

/// Folds stream events into the whole answer they describe (for the ledger, the cache and
/// callers that asked for a stream but want the result).
#[derive(Debug, Default, Clone)]
pub struct StreamAccumulator {
    response: ChatResponse,
    usage_reported: bool,
    finished: bool,
}

impl StreamAccumulator {
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { id, model } => {
                self.response.id.clone_from(id);
                self.response.model.clone_from(model);
            }
            StreamEvent::TextDelta { text } => self.response.text.push_str(text),
            StreamEvent::ToolCallStart { index, id, name } => {
                let i = *index as usize;
                if self.response.tool_calls.len() <= i {
                    self.response.tool_calls.resize(
                        i + 1,
                        ToolCall {
                            id: String::new(),
                            name: String::new(),
                            arguments: String::new(),
                        },
                    );
                }
                self.response.tool_calls[i].id.clone_from(id);
                self.response.tool_calls[i].name.clone_from(name);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(call) = self.response.tool_calls.get_mut(*index as usize) {
                    call.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish { reason, usage } => {
                self.response.finish_reason = *reason;
                if let Some(u) = usage {
                    self.response.usage = *u;
                    self.usage_reported = true;
                }
                self.finished = true;
            }
        }
    }

    /// The stream reached its `Finish`.
    pub fn finished(&self) -> bool {
        self.finished
    }

    pub fn usage_reported(&self) -> bool {
        self.usage_reported
    }

    /// The answer so far.
    pub fn response(&self) -> &ChatResponse {
        &self.response
    }

    pub fn into_response(self) -> ChatResponse {
        self.response
    }
}

/// A whole answer as the stream that would have carried it (a cached answer replayed to a
/// client that asked for a stream).
pub fn response_as_stream(response: &ChatResponse) -> Vec<StreamEvent> {
    let mut out = vec![StreamEvent::Start {
        id: response.id.clone(),
        model: response.model.clone(),
    }];
    if !response.text.is_empty() {
        out.push(StreamEvent::TextDelta {
            text: response.text.clone(),
        });
    }
    for (i, call) in response.tool_calls.iter().enumerate() {
        let index = i as u32;
        out.push(StreamEvent::ToolCallStart {
            index,
            id: call.id.clone(),
            name: call.name.clone(),
        });
        out.push(StreamEvent::ToolCallDelta {
            index,
            arguments: call.arguments.clone(),
        });
    }
    out.push(StreamEvent::Finish {
        reason: response.finish_reason,
        usage: Some(response.usage),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_folds_back_into_its_response() {
        let response = ChatResponse {
            id: "r1".into(),
            model: "m".into(),
            text: "hello".into(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "lookup".into(),
                arguments: r#"{"q":1}"#.into(),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: Usage {
                input: 3,
                output: 4,
                cached_input: 5,
                cache_write: 6,
                reasoning: 7,
                estimated: false,
            },
        };
        let mut acc = StreamAccumulator::default();
        for e in response_as_stream(&response) {
            acc.push(&e);
        }
        assert!(acc.finished() && acc.usage_reported());
        assert_eq!(acc.into_response(), response);
    }

    #[test]
    fn totals_add_the_kinds_each_protocol_lumps_together() {
        let u = Usage {
            input: 10,
            output: 20,
            cached_input: 30,
            cache_write: 40,
            reasoning: 50,
            estimated: false,
        };
        assert_eq!(u.total_input(), 80);
        assert_eq!(u.total_output(), 70);
    }
}
