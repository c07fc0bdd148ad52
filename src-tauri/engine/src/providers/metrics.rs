//! The providers' Prometheus metrics (registered in the node's registry): calls, tokens,
//! cost, latency, retries, fallbacks, the cache and the breakers.
//!
//! Invariants: labels are provider and model names from the config or the client's
//! `provider/model` reference (of a configured provider), outcome and token kind: bounded
//! by what is configured and called. Cost is exported as a float (metrics only; the
//! ledger keeps the exact `Decimal`).

use prometheus::{
    CounterVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

use crate::telemetry::{Metrics, TelemetryError};

#[derive(Clone, Debug)]
pub struct ProviderMetrics {
    pub calls: IntCounterVec,
    pub tokens: IntCounterVec,
    pub cost: CounterVec,
    pub duration: HistogramVec,
    pub retries: IntCounterVec,
    pub fallbacks: IntCounterVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_saved: prometheus::Counter,
    pub cache_entries: IntGauge,
    pub cache_bytes: IntGauge,
    pub breaker: IntGaugeVec,
    pub unknown_price: IntCounterVec,
}

impl ProviderMetrics {
    pub fn new(registry: &Metrics) -> Result<Self, TelemetryError> {
        let pm = &["provider", "model"];
        let m = Self {
            calls: IntCounterVec::new(
                Opts::new(
                    "flightdeck_llm_calls_total",
                    "LLM calls by the provider and model that answered (or were tried last) and outcome.",
                ),
                &["provider", "model", "outcome"],
            )?,
            tokens: IntCounterVec::new(
                Opts::new(
                    "flightdeck_llm_tokens_total",
                    "Tokens of LLM calls by kind (input, output, cached_input, cache_write, reasoning).",
                ),
                &["provider", "model", "kind"],
            )?,
            cost: CounterVec::new(
                Opts::new(
                    "flightdeck_llm_cost_usd_total",
                    "Cost of LLM calls with a known price, USD (the ledger has the exact amounts).",
                ),
                pm,
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "flightdeck_llm_call_duration_seconds",
                    "LLM call latency, retries and fallbacks included.",
                )
                .buckets(vec![
                    0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                ]),
                pm,
            )?,
            retries: IntCounterVec::new(
                Opts::new(
                    "flightdeck_llm_retries_total",
                    "Attempts retried on the same provider/model.",
                ),
                pm,
            )?,
            fallbacks: IntCounterVec::new(
                Opts::new(
                    "flightdeck_llm_fallbacks_total",
                    "Hops left for the next of the chain, by the reason's error code.",
                ),
                &["provider", "model", "code"],
            )?,
            cache_hits: IntCounter::new(
                "flightdeck_llm_cache_hits_total",
                "Calls answered from the response cache.",
            )?,
            cache_misses: IntCounter::new(
                "flightdeck_llm_cache_misses_total",
                "Cacheable calls not found in the response cache.",
            )?,
            cache_saved: prometheus::Counter::new(
                "flightdeck_llm_cache_saved_usd_total",
                "Cost the response cache saved, USD.",
            )?,
            cache_entries: IntGauge::new(
                "flightdeck_llm_cache_entries",
                "Entries in the response cache.",
            )?,
            cache_bytes: IntGauge::new(
                "flightdeck_llm_cache_bytes",
                "Bytes held by the response cache.",
            )?,
            breaker: IntGaugeVec::new(
                Opts::new(
                    "flightdeck_provider_breaker_state",
                    "Circuit breaker per provider/model: 0 closed, 1 half-open, 2 open.",
                ),
                pm,
            )?,
            unknown_price: IntCounterVec::new(
                Opts::new(
                    "flightdeck_llm_unknown_price_calls_total",
                    "Calls to a model with no price: their cost is unknown.",
                ),
                pm,
            )?,
        };
        registry.register(Box::new(m.calls.clone()))?;
        registry.register(Box::new(m.tokens.clone()))?;
        registry.register(Box::new(m.cost.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        registry.register(Box::new(m.fallbacks.clone()))?;
        registry.register(Box::new(m.cache_hits.clone()))?;
        registry.register(Box::new(m.cache_misses.clone()))?;
        registry.register(Box::new(m.cache_saved.clone()))?;
        registry.register(Box::new(m.cache_entries.clone()))?;
        registry.register(Box::new(m.cache_bytes.clone()))?;
        registry.register(Box::new(m.breaker.clone()))?;
        registry.register(Box::new(m.unknown_price.clone()))?;
        Ok(m)
    }
}
