//! LLM providers: one call path for every model call Flightdeck makes or serves.
//!
//! The map: `neutral` the protocol-free request/response; `wire` the OpenAI and Anthropic
//! protocols both ways (client and gateway side); `settings` the config sections.
pub mod breaker;
pub mod cache;
pub mod ledger;
pub mod neutral;
pub mod prices;
pub mod ratelimit;
pub mod retry;
pub mod settings;
pub mod wire;
