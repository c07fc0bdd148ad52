//! `[orchestrator]`: the task queue's workers on this node.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestratorConfig {
    /// Run tasks on this node (off: it only enqueues and shows them).
    pub enabled: bool,
    /// Tasks running at once on this node, all agents together (each agent also has its
    /// own `concurrency`).
    pub workers: u32,
    /// How long a lease lasts without a heartbeat (a worker renews it every third of it);
    /// a crashed worker's task is taken back after this.
    pub lease_secs: u64,
    /// How often expired leases are taken back and tasks waiting for a provider are looked
    /// at (all of an agent's resume once a hop of its route is closed again; one, as the
    /// breaker's probe, once an open breaker's time is up).
    pub sweep_secs: u64,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: 8,
            lease_secs: 30,
            sweep_secs: 5,
        }
    }
}

impl OrchestratorConfig {
    pub(crate) fn violations(&self) -> Vec<(String, String)> {
        let ranges: [(&str, u64, u64, u64); 3] = [
            ("orchestrator.workers", self.workers.into(), 1, 1024),
            ("orchestrator.lease_secs", self.lease_secs, 3, 3600),
            ("orchestrator.sweep_secs", self.sweep_secs, 1, 3600),
        ];
        ranges
            .into_iter()
            .filter(|(_, v, min, max)| !(*min..=*max).contains(v))
            .map(|(k, _, min, max)| (k.to_string(), format!("must be between {min} and {max}")))
            .collect()
    }
}
