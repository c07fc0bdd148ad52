//! The context window of an agent's calls: a token budget per call (the smallest context size
//! among the route's models that declare one, `[models."p/m"].context_tokens`, minus the
//! room kept for the answer), and priority-based truncation to fit it.
//!
//! Priorities: the system instructions and the first message (the rendered prompt) are
//! pinned, and so is the latest message (what the model must answer); turns in between are
//! dropped oldest first, a tool call together with the results that answer it (a result
//! without its call would be refused by the providers). What was dropped is reported, and
//! recorded on the model step.
//!
//! Counting uses the same tokenizer as the ledger's estimates (tiktoken `o200k_base`), so it
//! is an estimate for models with other tokenizers.

use serde::Serialize;

use crate::providers::neutral::{ChatRequest, Message, Role};
use crate::providers::tokens;

/// Room kept for the answer when the agent sets no `max_tokens`.
pub const DEFAULT_ANSWER_RESERVE: u64 = 1024;

/// How a request was fitted into its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fit {
    /// Tokens the request may use (context minus the answer's room).
    pub budget: u64,
    /// Tokens the request uses after truncation (estimated).
    pub used: u64,
    /// Messages left out, oldest first.
    pub dropped: usize,
    /// Messages a summary stands for (memory compression; see `memory.rs`).
    pub summarized: usize,
}

/// The budget of a call to models with `context` tokens, answering in up to `max_tokens`.
pub fn budget(context: u64, max_tokens: Option<u32>) -> u64 {
    let reserve = max_tokens.map_or(DEFAULT_ANSWER_RESERVE, u64::from);
    context.saturating_sub(reserve)
}

fn message_tokens(m: &Message) -> u64 {
    let one = ChatRequest {
        messages: vec![m.clone()],
        ..ChatRequest::default()
    };
    // `count_request` adds the reply's priming (3) once per request.
    tokens::count_request(&one).saturating_sub(3)
}

/// Drops turns from `request` until it fits `budget` tokens. `Err(needed)`: even the pinned
/// messages alone need `needed` tokens.
pub fn fit(request: &mut ChatRequest, budget: u64) -> Result<Fit, u64> {
    let per: Vec<u64> = request.messages.iter().map(message_tokens).collect();
    let fixed = {
        let bare = ChatRequest {
            messages: Vec::new(),
            ..request.clone()
        };
        tokens::count_request(&bare)
    };
    let mut used = fixed + per.iter().sum::<u64>();
    if used <= budget {
        return Ok(Fit {
            budget,
            used,
            dropped: 0,
            summarized: 0,
        });
    }
    let n = request.messages.len();
    let mut keep = vec![true; n];
    let mut dropped = 0;
    // Candidates: everything between the first and the last message, oldest first.
    let mut i = 1;
    while used > budget && i + 1 < n {
        if !keep[i] {
            i += 1;
            continue;
        }
        // A tool call goes with the results that answer it (the messages right after it).
        let mut group = vec![i];
        if request.messages[i].role == Role::Assistant && !request.messages[i].tool_calls.is_empty()
        {
            let mut j = i + 1;
            while j + 1 < n && request.messages[j].role == Role::Tool {
                group.push(j);
                j += 1;
            }
            if j + 1 >= n && j < n && request.messages[j].role == Role::Tool {
                // The results run into the pinned last message: the call and all its results
                // stay (a result without its call, or a call missing a result, is refused),
                // and nothing after it may go either.
                break;
            }
        }
        for &g in &group {
            keep[g] = false;
            used = used.saturating_sub(per[g]);
            dropped += 1;
        }
        i = group.last().map_or(i, |l| l + 1);
    }
    if used > budget {
        return Err(used);
    }
    let mut idx = 0;
    request.messages.retain(|_| {
        let k = keep[idx];
        idx += 1;
        k
    });
    Ok(Fit {
        budget,
        used,
        dropped,
        summarized: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::neutral::ToolCall;

    fn text(role: Role, words: usize) -> Message {
        Message::text(role, vec!["word"; words].join(" "))
    }

    fn call(id: &str) -> Message {
        let mut m = Message::text(Role::Assistant, "");
        m.content.clear();
        m.tool_calls = vec![ToolCall {
            id: id.into(),
            name: "builtin_log".into(),
            arguments: "{}".into(),
        }];
        m
    }

    fn result(id: &str) -> Message {
        let mut m = Message::text(Role::Tool, "logged");
        m.tool_call_id = Some(id.into());
        m
    }

    fn roles(r: &ChatRequest) -> Vec<(Role, usize)> {
        r.messages
            .iter()
            .map(|m| (m.role, m.joined_text().split_whitespace().count()))
            .collect()
    }

    #[test]
    fn the_oldest_turns_go_first_and_pinned_ones_stay() {
        let base = ChatRequest {
            system: vec!["Be brief.".into()],
            messages: vec![
                text(Role::User, 100),     // the prompt: pinned
                text(Role::Assistant, 50), // oldest turn
                text(Role::User, 50),
                text(Role::Assistant, 50),
                text(Role::User, 20), // the latest: pinned
            ],
            ..ChatRequest::default()
        };
        let all = tokens::count_request(&base);
        // Fits: nothing dropped.
        let mut r = base.clone();
        assert_eq!(fit(&mut r, all).unwrap().dropped, 0);
        assert_eq!(r, base);
        // 60 tokens short: the oldest turn (50 words + overhead) and the next one go.
        let mut r = base.clone();
        let f = fit(&mut r, all - 60).unwrap();
        assert_eq!(f.dropped, 2);
        assert!(f.used <= f.budget);
        assert_eq!(
            roles(&r),
            [(Role::User, 100), (Role::Assistant, 50), (Role::User, 20)]
        );
        // Only the pinned ones fit.
        let mut r = base.clone();
        let pinned = all - 3 * (50 + 3);
        let f = fit(&mut r, pinned).unwrap();
        assert_eq!(
            (f.dropped, roles(&r)),
            (3, vec![(Role::User, 100), (Role::User, 20)])
        );
        // Not even those: an error with what they need.
        let mut r = base.clone();
        assert_eq!(fit(&mut r, 50), Err(pinned));
        assert_eq!(r, base, "nothing changed on failure");
    }

    #[test]
    fn a_tool_call_leaves_with_its_results() {
        let base = ChatRequest {
            messages: vec![
                text(Role::User, 30),
                call("a"),
                result("a"),
                text(Role::Assistant, 30),
                text(Role::User, 5),
            ],
            ..ChatRequest::default()
        };
        let all = tokens::count_request(&base);
        let mut r = base.clone();
        let f = fit(&mut r, all - 5).unwrap();
        assert_eq!(f.dropped, 2, "the call and its result, together");
        assert!(r.messages.iter().all(|m| m.role != Role::Tool));
        assert_eq!(r.messages.len(), 3);
        // A call whose results run into the pinned last message stays whole: dropping a
        // result alone would leave a call without its answer.
        let tail = ChatRequest {
            messages: vec![
                text(Role::User, 30),
                text(Role::Assistant, 30),
                call("b"),
                result("b"),
                result("b"),
            ],
            ..ChatRequest::default()
        };
        let all = tokens::count_request(&tail);
        let mut r = tail.clone();
        let f = fit(&mut r, all - 5).unwrap();
        assert_eq!(f.dropped, 1, "only the plain turn before the call");
        assert_eq!(
            r.messages.iter().map(|m| m.role).collect::<Vec<_>>(),
            [Role::User, Role::Assistant, Role::Tool, Role::Tool]
        );
        assert!(r.messages[1].tool_calls.len() == 1);
        assert_eq!(budget(8192, Some(500)), 7692);
        assert_eq!(budget(8192, None), 8192 - DEFAULT_ANSWER_RESERVE);
        assert_eq!(budget(100, Some(500)), 0);
    }
}
