//! The agents' Prometheus metrics (registered in the node's registry): attempts by outcome
//! and their duration, output validations, and steps. Their LLM calls (tokens, cost,
//! retries, fallbacks) are the providers' metrics, under the agent's `agent:<name>` client in
//! the ledger.
//!
//! Invariants: the `agent` label is a configured agent's name; outcomes and kinds are the
//! fixed sets below, so the series are bounded by the config.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::telemetry::{Metrics, TelemetryError};

#[derive(Clone, Debug)]
pub struct AgentMetrics {
    /// `succeeded`, `retried`, `dead`, `failed`, `cancelled`, `waiting_for_provider`,
    /// `timeout`, `lease_lost`.
    pub attempts: IntCounterVec,
    pub duration: HistogramVec,
    /// `pass` or `fail` (a fail is followed by a re-ask, or fails the task).
    pub validations: IntCounterVec,
    /// `model`, `tool`, `reask`.
    pub steps: IntCounterVec,
}

impl AgentMetrics {
    pub fn new(registry: &Metrics) -> Result<Self, TelemetryError> {
        let m = Self {
            attempts: IntCounterVec::new(
                Opts::new(
                    "flightdeck_agent_attempts_total",
                    "Task attempts by agent and how they ended (succeeded, retried, dead, failed, cancelled, waiting_for_provider, timeout, lease_lost).",
                ),
                &["agent", "outcome"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "flightdeck_agent_attempt_duration_seconds",
                    "Task attempt duration by agent, model calls and tools included.",
                )
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                ]),
                &["agent"],
            )?,
            validations: IntCounterVec::new(
                Opts::new(
                    "flightdeck_agent_validations_total",
                    "Answers checked against the agent's output schema, by result (pass, fail).",
                ),
                &["agent", "result"],
            )?,
            steps: IntCounterVec::new(
                Opts::new(
                    "flightdeck_agent_steps_total",
                    "Completed task steps by agent and kind (model, tool, reask).",
                ),
                &["agent", "kind"],
            )?,
        };
        registry.register(Box::new(m.attempts.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.validations.clone()))?;
        registry.register(Box::new(m.steps.clone()))?;
        Ok(m)
    }
}
