//! Token counts Flightdeck makes itself, when a provider reports no usage (some local
//! servers, a stream that broke): OpenAI's `o200k_base` encoding (tiktoken-rs, its BPE
//! ranks built into the binary), loaded once on first use.
//!
//! Invariants: numbers from here are always marked `estimated` on the call; a rough count
//! (bytes / 4) is used only if the encoder cannot be built, and is marked the same way.
//! Must never: fetch anything at run time.

use std::sync::OnceLock;

use super::neutral::{ChatRequest, ContentPart};

fn encoder() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens in `text`.
pub fn count(text: &str) -> u64 {
    match encoder() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => (text.len() as u64).div_ceil(4),
    }
}

/// Per-message overhead of the chat format (role markers), as OpenAI documents it.
const PER_MESSAGE: u64 = 3;

/// The input tokens of `request`: system, messages (text, tool calls and results), tools.
pub fn count_request(request: &ChatRequest) -> u64 {
    let mut n = 3; // the reply's priming
    for s in &request.system {
        n += PER_MESSAGE + count(s);
    }
    for m in &request.messages {
        n += PER_MESSAGE;
        for part in &m.content {
            n += match part {
                ContentPart::Text { text } => count(text),
                // Images are priced by the provider's own rules; a flat guess is marked
                // estimated like everything here.
                ContentPart::Image { .. } => 85,
            };
        }
        for call in &m.tool_calls {
            n += count(&call.name) + count(&call.arguments);
        }
    }
    for tool in &request.tools {
        n += count(&tool.name)
            + tool.description.as_deref().map_or(0, count)
            + count(&tool.parameters.to_string());
    }
    n
}

/// A cheap upper-ish bound used for client-side token rate limits (no BPE on the hot
/// path): bytes / 3 of the request plus the tokens it may produce.
pub fn quick_estimate(request: &ChatRequest) -> u32 {
    let mut bytes = 0usize;
    for s in &request.system {
        bytes += s.len();
    }
    for m in &request.messages {
        for part in &m.content {
            if let ContentPart::Text { text } = part {
                bytes += text.len();
            }
        }
    }
    let input = u32::try_from(bytes / 3).unwrap_or(u32::MAX);
    input.saturating_add(request.max_tokens.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::neutral::{Message, Role};

    #[test]
    fn counts_with_the_real_encoding() {
        // "hello world" is two tokens in o200k_base.
        assert_eq!(count("hello world"), 2);
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "hello world")],
            ..ChatRequest::default()
        };
        assert_eq!(count_request(&r), 3 + 3 + 2);
    }
}
