//! Agents: their definitions (`[agents.<name>]` in the config, hot-reloaded; a task runs on
//! the definition it started with), prompt templates (minijinja, strict), output schemas
//! (JSON Schema, with coercion of near-misses), capability routing, and the loop that runs
//! one attempt of a task (`run`).
//!
//! Invariants: a template or schema that does not compile never reaches the running config
//! (config validation refuses it); a missing template variable fails the task before any
//! model call; capability routing is deterministic (the rule in [`pick`]).
//!
//! Must never: touch the queue's tables (the orchestrator owns them) or call a model except
//! through [`crate::providers::Providers`].

pub mod actions;
pub mod context;
pub mod definitions;
pub mod memory;
pub mod metrics;
pub mod output;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod template;
pub mod templates;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub use settings::AgentConfig;

use crate::config::Config;

/// An agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentInfo {
    pub name: String,
    /// A hash of the definition: changes with every edit of it.
    pub version: String,
    /// Whether a call to its route could go now (some hop without an open breaker).
    pub healthy: bool,
    #[serde(flatten)]
    pub config: AgentConfig,
}

/// The version of a definition: the first 12 hex digits of the SHA-256 of its JSON.
pub fn version_of(config: &AgentConfig) -> String {
    let json = serde_json::to_vec(config).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..6])
}

/// Every agent of `config`, by name; `healthy(route)` says whether a call to its route could
/// go now ([`crate::providers::Providers::readiness`] is not `Rejected`).
pub fn list(config: &Config, healthy: impl Fn(&str) -> bool) -> Vec<AgentInfo> {
    config
        .agents
        .iter()
        .map(|(name, a)| AgentInfo {
            name: name.clone(),
            version: version_of(a),
            healthy: healthy(&a.route),
            config: a.clone(),
        })
        .collect()
}

/// A candidate for a capability: its name, health and load (tasks queued or running).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub healthy: bool,
    pub load: u64,
}

/// The agent for a capability: **healthy first, then the least loaded, then the first by
/// name** (so the same state always gives the same answer). `None`: no agent has it.
pub fn pick(mut candidates: Vec<Candidate>) -> Option<String> {
    candidates.sort_by(|a, b| {
        b.healthy
            .cmp(&a.healthy)
            .then(a.load.cmp(&b.load))
            .then(a.name.cmp(&b.name))
    });
    candidates.into_iter().next().map(|c| c.name)
}

/// The agents of `config` that have `capability`.
pub fn with_capability<'a>(config: &'a Config, capability: &str) -> Vec<&'a str> {
    config
        .agents
        .iter()
        .filter(|(_, a)| a.capabilities.iter().any(|c| c == capability))
        .map(|(n, _)| n.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, healthy: bool, load: u64) -> Candidate {
        Candidate {
            name: name.into(),
            healthy,
            load,
        }
    }

    #[test]
    fn capability_routing_prefers_healthy_then_idle_then_name() {
        let cases: Vec<(Vec<Candidate>, Option<&str>)> = vec![
            (vec![], None),
            (vec![c("a", false, 0), c("b", true, 9)], Some("b")),
            (vec![c("a", true, 3), c("b", true, 1)], Some("b")),
            (vec![c("b", true, 1), c("a", true, 1)], Some("a")),
            (vec![c("a", false, 5), c("b", false, 1)], Some("b")),
        ];
        for (candidates, want) in cases {
            assert_eq!(pick(candidates.clone()).as_deref(), want, "{candidates:?}");
        }
    }
}
