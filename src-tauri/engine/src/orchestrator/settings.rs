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
    /// Tasks running at once on this node per provider, counted by the first provider of
    /// each agent's route (`{ openai = 4 }`); a provider not named has no limit of its own.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub provider_concurrency: std::collections::BTreeMap<String, u32>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: 8,
            lease_secs: 30,
            sweep_secs: 5,
            provider_concurrency: std::collections::BTreeMap::new(),
        }
    }
}

impl OrchestratorConfig {
    pub(crate) fn violations(&self, providers: &[&String]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .provider_concurrency
            .iter()
            .filter_map(|(p, n)| {
                let key = format!("orchestrator.provider_concurrency.{p}");
                if !providers.contains(&p) {
                    Some((
                        key,
                        format!("names provider `{p}`, which is not configured"),
                    ))
                } else if *n == 0 {
                    Some((key, "must be at least 1 (leave it out for no limit)".into()))
                } else {
                    None
                }
            })
            .collect();
        let ranges: [(&str, u64, u64, u64); 3] = [
            ("orchestrator.workers", self.workers.into(), 1, 1024),
            ("orchestrator.lease_secs", self.lease_secs, 3, 3600),
            ("orchestrator.sweep_secs", self.sweep_secs, 1, 3600),
        ];
        out.extend(
            ranges
                .into_iter()
                .filter(|(_, v, min, max)| !(*min..=*max).contains(v))
                .map(|(k, _, min, max)| {
                    (k.to_string(), format!("must be between {min} and {max}"))
                }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_configured_providers_and_stay_in_range() {
        let up = "up".to_string();
        let mut c = OrchestratorConfig::default();
        assert!(c.violations(&[&up]).is_empty());
        c.provider_concurrency.insert("up".into(), 2);
        assert!(c.violations(&[&up]).is_empty());
        c.provider_concurrency.insert("nope".into(), 1);
        c.provider_concurrency.insert("up".into(), 0);
        c.workers = 0;
        let keys: Vec<String> = c.violations(&[&up]).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "orchestrator.provider_concurrency.nope",
                "orchestrator.provider_concurrency.up",
                "orchestrator.workers"
            ]
        );
    }
}
