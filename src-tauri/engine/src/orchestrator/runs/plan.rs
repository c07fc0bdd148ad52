//! A dry run: the plan of a checked definition (steps by level, agents, model chains, the
//! model calls it may make, and the worst-case cost at today's prices) without calling any
//! model or writing anything.
//!
//! Worst case, per step: `max_attempts × max_steps` calls (tool rounds and re-asks are
//! steps), each at the priciest model of its chain with a full context window in and the
//! agent's `max_tokens` out; with `memory.strategy = "summarize"`, as many summary calls
//! again on the memory's route with its `max_tokens` out. A bound that is not known (no `context_tokens` for a model, no
//! `max_tokens` on the agent, no price) makes the cost unknown, with the reason, never zero.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::spec::{AggregateMode, Resolved};
use crate::config::Config;
use crate::providers::prices::PriceBook;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedStep {
    pub id: String,
    pub agent: String,
    pub needs: Vec<String>,
    pub level: usize,
    /// `provider/model` of each hop of the agent's route.
    pub chain: Vec<String>,
    pub max_attempts: u32,
    /// Model calls at most (`max_attempts × max_steps`, twice that with summaries).
    pub max_calls: u64,
    /// Worst-case cost in USD (a decimal string); absent when a bound is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case_cost_usd: Option<String>,
    /// Why the cost is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_unknown: Option<String>,
}

/// The plan of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunPlan {
    pub steps: Vec<PlannedStep>,
    /// Step ids by level: a level's steps may run in parallel once the one before is done.
    pub levels: Vec<Vec<String>>,
    pub mode: AggregateMode,
    pub of: Vec<String>,
    pub concurrency: u32,
    /// Model calls at least (one per step) and at most.
    pub min_calls: u64,
    pub max_calls: u64,
    /// Sum of the steps' worst cases, in USD; absent when any is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case_cost_usd: Option<String>,
    /// Sum of the worst cases that are known (a lower bound of the worst case when some
    /// are not).
    pub known_worst_case_cost_usd: String,
    pub prices_at: DateTime<Utc>,
}

/// The most one call over `hops` can cost: a full context window in, `out` tokens out, at
/// the priciest hop; or why that is not known.
fn worst_call(
    book: &PriceBook,
    hops: &[crate::providers::settings::Resolved],
    out: u32,
    now: DateTime<Utc>,
) -> Result<Decimal, String> {
    let mut worst = Decimal::ZERO;
    for h in hops {
        let name = format!("{}/{}", h.provider, h.model);
        let ctx = h
            .context_tokens
            .ok_or_else(|| format!("`{name}` has no context_tokens (set [models.\"{name}\"])"))?;
        let price = book
            .price(&h.provider, &h.config, &h.model, now)
            .ok_or_else(|| format!("`{name}` has no price"))?;
        let cost = (Decimal::from(ctx) * price.input + Decimal::from(out) * price.output)
            / Decimal::from(1_000_000u32);
        worst = worst.max(cost);
    }
    Ok(worst)
}

/// The plan of `run` under `config` at `now`.
pub fn plan(run: &Resolved, config: &Arc<Config>, now: DateTime<Utc>) -> RunPlan {
    let book = PriceBook::new(&config.providers_view());
    let levels_by = run.levels();
    let depth = levels_by.values().copied().max().unwrap_or(0);
    let mut levels = vec![Vec::new(); depth + 1];
    let mut steps = Vec::new();
    let mut known = Decimal::ZERO;
    let mut all_known = true;
    let (mut min_calls, mut max_calls) = (0u64, 0u64);
    for s in &run.steps {
        let level = levels_by.get(&s.id).copied().unwrap_or(0);
        if let Some(l) = levels.get_mut(level) {
            l.push(s.id.clone());
        }
        let agent = config.agents.get(&s.agent);
        let steps_per_attempt = agent.map_or(1, |a| u64::from(a.max_steps));
        let model_calls = u64::from(s.max_attempts) * steps_per_attempt;
        // With memory compression, each model call may follow a summary call.
        let summarizes = agent
            .is_some_and(|a| a.memory.strategy == crate::agents::memory::MemoryStrategy::Summarize);
        let summary_calls = if summarizes { model_calls } else { 0 };
        let calls = model_calls + summary_calls;
        min_calls += 1;
        max_calls += calls;
        let hops = agent
            .and_then(|a| crate::providers::plan::resolve(config, &a.route).ok())
            .map(|p| p.hops)
            .unwrap_or_default();
        let chain: Vec<String> = hops
            .iter()
            .map(|h| format!("{}/{}", h.provider, h.model))
            .collect();
        let per_call: Result<Decimal, String> = (|| {
            let out = agent
                .and_then(|a| a.max_tokens)
                .ok_or_else(|| format!("agent `{}` sets no max_tokens", s.agent))?;
            if hops.is_empty() {
                return Err(format!("agent `{}` has no model to call", s.agent));
            }
            let model = worst_call(&book, &hops, out, now)? * Decimal::from(model_calls);
            let summaries = match agent {
                Some(a) if summary_calls > 0 => {
                    let route = a.memory.route.as_deref().unwrap_or(&a.route);
                    let summary_hops = crate::providers::plan::resolve(config, route)
                        .map(|p| p.hops)
                        .unwrap_or_default();
                    worst_call(&book, &summary_hops, a.memory.max_tokens, now)?
                        * Decimal::from(summary_calls)
                }
                _ => Decimal::ZERO,
            };
            Ok(model + summaries)
        })();
        let (cost, why) = match per_call {
            Ok(c) => {
                let total = c.normalize();
                known += total;
                (Some(total.to_string()), None)
            }
            Err(why) => {
                all_known = false;
                (None, Some(why))
            }
        };
        steps.push(PlannedStep {
            id: s.id.clone(),
            agent: s.agent.clone(),
            needs: s.needs.clone(),
            level,
            chain,
            max_attempts: s.max_attempts,
            max_calls: calls,
            worst_case_cost_usd: cost,
            cost_unknown: why,
        });
    }
    RunPlan {
        steps,
        levels,
        mode: run.mode,
        of: run.of.clone(),
        concurrency: run.concurrency,
        min_calls,
        max_calls,
        worst_case_cost_usd: all_known.then(|| known.normalize().to_string()),
        known_worst_case_cost_usd: known.normalize().to_string(),
        prices_at: now,
    }
}
