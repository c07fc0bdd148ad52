//! Integration tests of the scripted provider over real HTTP: both protocols' shapes (JSON
//! and SSE), every step kind, the queues, the counters, key checks and the binary.
//!
//! Test helpers panic by design: a failing helper is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod control;
mod faults;
mod openai;
mod support;
