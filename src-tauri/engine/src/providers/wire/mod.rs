//! The wire protocols: OpenAI chat completions ([`openai`]) and Anthropic Messages
//! ([`anthropic`]), each translated to and from the neutral types both ways (client side:
//! neutral → upstream request, upstream answer → neutral; gateway side: client request →
//! neutral, neutral → client answer), plus the server-sent-events framing ([`sse`]) both
//! streams use.
//!
//! Invariants: every translation is pure (no I/O, no clock, no randomness); a client's bad
//! request is a [`WireError::InvalidRequest`] naming the field and why; an upstream answer
//! outside its protocol (or an upstream `error` event) is a [`WireError::InvalidResponse`].
//! Must never: panic on any input, hold a key or any transport detail, or grow without
//! bound while reading a stream.

pub mod anthropic;
mod anthropic_parse;
mod anthropic_stream;
mod fields;
pub mod openai;
mod openai_parse;
mod openai_stream;
pub mod sse;

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

/// Why a translation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// A gateway client sent something unacceptable (the message names the field and why).
    #[error("{0}")]
    InvalidRequest(String),
    /// The upstream provider answered outside its protocol (or reported an error mid-stream).
    #[error("{0}")]
    InvalidResponse(String),
}
