//! Conversation memory compression: when an agent's conversation no longer fits its context
//! budget and its `memory.strategy` is `summarize`, the older turns are summarised by a model
//! call instead of being dropped. The summary is a step of its own (`summary`, with the
//! range of steps it replaces in its `detail`); the summarised steps are kept. Rebuilding the
//! conversation from the steps applies the latest summary (it folds in any earlier one), so
//! a resumed task sees the same conversation and never summarises the same turns twice.
//!
//! Pinned: the rendered prompt (first message) and the `keep_recent` latest messages; a tool
//! call stays with its results.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::orchestrator::{Step, StepKind};
use crate::providers::neutral::{Message, Role};

/// What happens to turns that no longer fit the context budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemoryStrategy {
    /// The oldest turns are left out of the call (they stay recorded).
    #[default]
    Truncate,
    /// The oldest turns are summarised by a model call; the summary goes in their place.
    Summarize,
}

fn default_summary_tokens() -> u32 {
    512
}
fn default_keep_recent() -> u32 {
    2
}

/// `[agents.<name>.memory]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    #[serde(default)]
    pub strategy: MemoryStrategy,
    /// The route (or `provider/model`) that writes summaries; default: the agent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Longest summary, in tokens.
    #[serde(default = "default_summary_tokens")]
    pub max_tokens: u32,
    /// The latest messages never summarised.
    #[serde(default = "default_keep_recent")]
    pub keep_recent: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            strategy: MemoryStrategy::default(),
            route: None,
            max_tokens: default_summary_tokens(),
            keep_recent: default_keep_recent(),
        }
    }
}

/// The instructions of a summary call.
pub const SUMMARY_INSTRUCTIONS: &str = "You compress the history of an AI agent's conversation so it can go on within its context window. Summarize the turns below faithfully and concisely: the facts learned, the decisions made, every tool call with its result, and what is still open. Do not add anything that is not in them. Answer with the summary only.";

/// The conversation to send, rebuilt from the recorded steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    /// The messages (the prompt first), each with the step that added it (`None`: the
    /// prompt).
    pub messages: Vec<(Option<u32>, Message)>,
    /// The latest summary, replacing the turns it names.
    pub summary: Option<String>,
    /// How many messages the summary stands for.
    pub summarized: usize,
}

impl Conversation {
    pub fn messages(&self) -> Vec<Message> {
        self.messages.iter().map(|(_, m)| m.clone()).collect()
    }

    /// The system text carrying the summary.
    pub fn summary_system(&self) -> Option<String> {
        self.summary.as_ref().map(|s| {
            format!("Summary of the earlier conversation (older turns were compressed):\n{s}")
        })
    }
}

/// Where a summary step's replaced range is.
fn range_of(detail: Option<&Value>) -> Option<(u32, u32)> {
    let d = detail?;
    let from = u32::try_from(d.get("from")?.as_u64()?).ok()?;
    let to = u32::try_from(d.get("to")?.as_u64()?).ok()?;
    Some((from, to))
}

/// The conversation of `prompt` and `steps`, the latest summary applied.
pub fn rebuild(prompt: Message, steps: &[Step]) -> Conversation {
    let mut c = Conversation {
        messages: vec![(None, prompt)],
        ..Conversation::default()
    };
    for s in steps {
        if s.kind == StepKind::Summary {
            if let Some((from, to)) = range_of(s.detail.as_ref()) {
                let before = c.messages.len();
                c.messages
                    .retain(|(step, _)| !step.is_some_and(|n| (from..=to).contains(&n)));
                c.summarized += before - c.messages.len();
                c.summary = Some(s.message.joined_text());
            }
            continue;
        }
        c.messages.push((Some(s.step), s.message.clone()));
    }
    c
}

/// The messages to summarise (indices into `c.messages`): everything between the prompt and
/// the `keep_recent` latest, with a tool call kept together with its results. `None`: fewer
/// than two.
pub fn span(c: &Conversation, keep_recent: u32) -> Option<(usize, usize)> {
    let n = c.messages.len();
    let keep = usize::try_from(keep_recent).unwrap_or(usize::MAX).max(1);
    let mut first_kept = n.checked_sub(keep)?.max(1);
    // Results at the start of what is kept take their call along.
    while first_kept > 1 && c.messages[first_kept].1.role == Role::Tool {
        first_kept -= 1;
    }
    if first_kept < 3 {
        return None;
    }
    Some((1, first_kept - 1))
}

/// The text a summary call gets: the earlier summary, then each turn.
pub fn transcript(previous: Option<&str>, messages: &[Message]) -> String {
    let mut out = String::new();
    if let Some(p) = previous {
        out.push_str("Summary so far:\n");
        out.push_str(p);
        out.push_str("\n\nLater turns:\n");
    }
    for m in messages {
        let who = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool result",
        };
        let text = m.joined_text();
        if !text.is_empty() {
            out.push_str(&format!("{who}: {text}\n"));
        }
        for call in &m.tool_calls {
            out.push_str(&format!(
                "assistant called {} with {}\n",
                call.name, call.arguments
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::neutral::ToolCall;

    fn step(n: u32, kind: StepKind, message: Message, detail: Option<Value>) -> Step {
        Step {
            step: n,
            attempt: 1,
            kind,
            call_id: None,
            name: None,
            message,
            detail,
            at: None,
        }
    }

    fn say(role: Role, text: &str) -> Message {
        Message::text(role, text)
    }

    #[test]
    fn summaries_replace_the_turns_they_name_and_the_latest_wins() {
        let prompt = say(Role::User, "prompt");
        let mut steps = vec![
            step(0, StepKind::Model, say(Role::Assistant, "a0"), None),
            step(1, StepKind::Reask, say(Role::User, "u1"), None),
            step(2, StepKind::Model, say(Role::Assistant, "a2"), None),
            step(3, StepKind::Reask, say(Role::User, "u3"), None),
        ];
        let c = rebuild(prompt.clone(), &steps);
        assert_eq!(c.messages.len(), 5);
        assert_eq!(c.summary, None);
        // Summarise steps 0-1: the prompt and steps 2-3 stay.
        steps.push(step(
            4,
            StepKind::Summary,
            say(Role::System, "S1"),
            Some(json!({"from": 0, "to": 1})),
        ));
        steps.push(step(5, StepKind::Model, say(Role::Assistant, "a5"), None));
        let c = rebuild(prompt.clone(), &steps);
        let texts: Vec<String> = c.messages.iter().map(|(_, m)| m.joined_text()).collect();
        assert_eq!(texts, vec!["prompt", "a2", "u3", "a5"]);
        assert_eq!(c.summary.as_deref(), Some("S1"));
        assert_eq!(c.summarized, 2);
        assert!(c.summary_system().unwrap().contains("S1"));
        // A later summary folds in the earlier one and replaces more.
        steps.push(step(
            6,
            StepKind::Summary,
            say(Role::System, "S2"),
            Some(json!({"from": 2, "to": 3})),
        ));
        let c = rebuild(prompt, &steps);
        let texts: Vec<String> = c.messages.iter().map(|(_, m)| m.joined_text()).collect();
        assert_eq!(texts, vec!["prompt", "a5"]);
        assert_eq!(c.summary.as_deref(), Some("S2"));
        assert_eq!(c.summarized, 4);
    }

    #[test]
    fn the_span_keeps_the_prompt_the_recent_turns_and_tool_calls_whole() {
        let mut call = say(Role::Assistant, "");
        call.content.clear();
        call.tool_calls = vec![ToolCall {
            id: "c".into(),
            name: "builtin_log".into(),
            arguments: "{\"message\":\"hi\"}".into(),
        }];
        let mut result = say(Role::Tool, "logged");
        result.tool_call_id = Some("c".into());
        let conv = |ms: Vec<Message>| Conversation {
            messages: ms
                .into_iter()
                .enumerate()
                .map(|(i, m)| (Some(i as u32), m))
                .collect(),
            ..Conversation::default()
        };
        let u = |t: &str| say(Role::User, t);
        let a = |t: &str| say(Role::Assistant, t);
        // prompt, a, u, a, u  (keep 2) → summarise 1..=2.
        assert_eq!(
            span(&conv(vec![u("p"), a("1"), u("2"), a("3"), u("4")]), 2),
            Some((1, 2))
        );
        // Too short to be worth a summary.
        assert_eq!(span(&conv(vec![u("p"), a("1"), u("2")]), 2), None);
        // The kept part would start with a tool result: its call stays with it.
        let c = conv(vec![
            u("p"),
            a("1"),
            u("2"),
            a("3"),
            call.clone(),
            result.clone(),
            a("6"),
        ]);
        assert_eq!(span(&c, 2), Some((1, 3)));
        let t = transcript(Some("before"), &[call, result]);
        assert!(t.starts_with("Summary so far:\nbefore"), "{t}");
        assert!(
            t.contains("assistant called builtin_log with {\"message\":\"hi\"}"),
            "{t}"
        );
        assert!(t.contains("tool result: logged"), "{t}");
    }
}
