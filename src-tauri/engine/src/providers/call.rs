//! The call path every LLM call takes (agents and the gateway alike): resolve `model` to a
//! chain → the response cache → for each hop: circuit breaker, key, rate limit, attempts
//! with retries → the answer (whole, or a stream handed to [`super::stream::CallStream`])
//! → one ledger row.
//!
//! Invariants:
//! - A call is in the ledger from its first microsecond ([`Ledger::begin`]) and gets exactly
//!   one row, whatever happens (error, cancellation, a kill: see `ledger`).
//! - A hop is retried only for retryable failures and only before any output reached the
//!   caller; a rejection of the request (400/413/422) ends the chain: no other hop will
//!   take it better. Every hop left carries its reason on the call record.
//! - Settings are the snapshot taken when the call started.
//!
//! Must never: put the key anywhere but the upstream request's header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use secrecy::SecretString;

use super::breaker::{Admission, Breaker, BreakerState, Transition};
use super::cache;
use super::client::{Attempt, AttemptError, UpstreamStream};
use super::ledger::{CallOutcome, CallRecord, Hop, HopOutcome, PriceSourceName, Ticket};
use super::neutral::{ChatRequest, ChatResponse, StreamEvent, Usage};
use super::plan::{self, Plan};
use super::prices::{PriceBook, PriceSource};
use super::ratelimit::{Limits, Refusal};
use super::settings::{OnLimit, RateLimitSettings, Resolved};
use super::{CacheMode, CallContext, CallError, ProviderEvent, Providers, retry, tokens};
use crate::config::Config;
use crate::error::ErrorCode;

/// Live state of one provider/model.
pub(super) struct ModelState {
    pub breaker: Mutex<Breaker>,
    limits: Mutex<Option<(RateLimitSettings, Arc<Limits>)>>,
}

/// A successful attempt.
pub(super) enum Answer {
    Whole(ChatResponse, bool),
    Stream(Box<UpstreamStream>, Vec<StreamEvent>),
}

/// A call between its start and its ledger row.
pub(super) struct Run {
    pub ticket: Option<Ticket>,
    pub record: CallRecord,
    pub started: Instant,
    pub config: Arc<Config>,
    pub request: ChatRequest,
    pub cache_key: Option<cache::Key>,
    /// The budgets' reservation of the hop that answered (settled in `finish`).
    pub hold: Option<crate::costs::budget::Hold>,
}

/// The answer of a whole (non-streaming) call.
#[derive(Debug, Clone)]
pub struct Completed {
    pub response: ChatResponse,
    pub call_id: String,
    pub provider: String,
    pub model: String,
    pub cache_hit: bool,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Providers {
    pub(super) fn state(&self, hop: &Resolved) -> Arc<ModelState> {
        let key = format!("{}/{}", hop.provider, hop.model);
        let mut map = match self.inner.states.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let state = map
            .entry(key)
            .or_insert_with(|| {
                Arc::new(ModelState {
                    breaker: Mutex::new(Breaker::new(hop.breaker)),
                    limits: Mutex::new(None),
                })
            })
            .clone();
        if let Ok(mut b) = state.breaker.lock() {
            b.set_settings(hop.breaker);
        }
        state
    }

    fn limits(&self, state: &ModelState, hop: &Resolved) -> Option<Arc<Limits>> {
        let mut slot = state.limits.lock().ok()?;
        match &*slot {
            Some((s, l)) if *s == hop.rate_limit => Some(l.clone()),
            _ => {
                let l = Arc::new(Limits::new(hop.rate_limit, self.inner.clock.clone()));
                *slot = Some((hop.rate_limit, l.clone()));
                Some(l)
            }
        }
    }

    pub(super) fn breaker_moved(&self, hop: &Resolved, t: Transition) {
        self.inner
            .metrics
            .breaker
            .with_label_values(&[&hop.provider, &hop.model])
            .set(t.to.gauge());
        tracing::warn!(provider = %hop.provider, model = %hop.model, from = ?t.from, to = ?t.to, "circuit breaker moved");
        (self.inner.publish)(crate::events::Event::Providers(ProviderEvent::Breaker {
            provider: hop.provider.clone(),
            model: hop.model.clone(),
            from: t.from,
            to: t.to,
        }));
    }

    /// Records the outcome of an admitted attempt on the breaker.
    pub(super) fn breaker_record(
        &self,
        hop: &Resolved,
        state: &ModelState,
        admission: Admission,
        success: bool,
    ) {
        let moved = state
            .breaker
            .lock()
            .ok()
            .and_then(|mut b| b.record(self.inner.clock.now(), admission, success));
        if let Some(t) = moved {
            self.breaker_moved(hop, t);
        }
    }

    fn price_book(&self, config: &Arc<Config>) -> Arc<PriceBook> {
        let mut slot = match self.inner.prices.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some((c, book)) = &*slot
            && Arc::ptr_eq(c, config)
        {
            return book.clone();
        }
        let book = Arc::new(PriceBook::new(&config.providers_view()));
        *slot = Some((config.clone(), book.clone()));
        book
    }

    /// Cost of `usage` on `hop` now: `None` when the model has no price (alerted once).
    pub(super) fn cost(
        &self,
        config: &Arc<Config>,
        hop: &Resolved,
        usage: &Usage,
    ) -> (Option<Decimal>, Option<PriceSourceName>) {
        let book = self.price_book(config);
        match book.price(
            &hop.provider,
            &hop.config,
            &hop.model,
            self.inner.clock.now(),
        ) {
            Some(p) => {
                let source = match p.source {
                    PriceSource::Config => PriceSourceName::Config,
                    PriceSource::Shipped => PriceSourceName::Shipped,
                    PriceSource::Local => PriceSourceName::Local,
                };
                (Some(p.cost(usage)), Some(source))
            }
            None => {
                self.inner
                    .metrics
                    .unknown_price
                    .with_label_values(&[&hop.provider, &hop.model])
                    .inc();
                let first = self
                    .inner
                    .unpriced
                    .lock()
                    .map(|mut s| s.insert(format!("{}/{}", hop.provider, hop.model)))
                    .unwrap_or(false);
                if first {
                    tracing::warn!(provider = %hop.provider, model = %hop.model, "no price for this model: its calls' cost is unknown; set [prices.\"{}/{}\"]", hop.provider, hop.model);
                    (self.inner.publish)(crate::events::Event::Providers(
                        ProviderEvent::PriceUnknown {
                            provider: hop.provider.clone(),
                            model: hop.model.clone(),
                        },
                    ));
                }
                (None, None)
            }
        }
    }

    /// Starts a call: the ledger row, the plan, the cache lookup.
    pub(super) fn start(
        &self,
        request: ChatRequest,
        ctx: &CallContext,
    ) -> Result<(Run, Result<Plan, CallError>), CallError> {
        let config = self.inner.config.current();
        let id = uuid::Uuid::new_v4().to_string();
        let mut record = CallRecord::start(
            id.clone(),
            self.inner.clock.now(),
            ctx.client.clone(),
            request.model.clone(),
            self.inner.node_id.clone(),
            ctx.protocol,
            request.stream,
        );
        record.agent.clone_from(&ctx.agent);
        record.task_id.clone_from(&ctx.task_id);
        record.tags.clone_from(&ctx.tags);
        let plan = plan::resolve(&config, &request.model)
            .map_err(|e| CallError::new(ErrorCode::UnknownModel, e.0));
        if let Ok(p) = &plan {
            record.route.clone_from(&p.route);
        }
        let ticket = self
            .inner
            .ledger
            .begin(record.clone())
            .map_err(|e| CallError::new(e.code(), e.to_string()))?;
        let cache_key = match &plan {
            Ok(p) => {
                let wanted = match ctx.cache {
                    CacheMode::Off => false,
                    CacheMode::Force => true,
                    CacheMode::On => request.is_deterministic(),
                    CacheMode::Default => p.route_cache && request.is_deterministic(),
                };
                wanted.then(|| cache::key(&p.chain, &request))
            }
            Err(_) => None,
        };
        Ok((
            Run {
                ticket: Some(ticket),
                record,
                started: Instant::now(),
                config,
                request,
                cache_key,
                hold: None,
            },
            plan,
        ))
    }

    /// Writes the row of a finished call and counts it.
    pub(super) fn finish(&self, mut run: Run) -> CallRecord {
        let r = &mut run.record;
        r.finished_at = Some(self.inner.clock.now());
        r.latency_us = micros(run.started.elapsed());
        let provider = r.provider.clone().unwrap_or_default();
        let model = r.model.clone().unwrap_or_default();
        let m = &self.inner.metrics;
        let outcome = super::ledger_outcome_name(r.outcome);
        m.calls
            .with_label_values(&[&provider, &model, outcome])
            .inc();
        for (kind, n) in [
            ("input", r.usage.input),
            ("output", r.usage.output),
            ("cached_input", r.usage.cached_input),
            ("cache_write", r.usage.cache_write),
            ("reasoning", r.usage.reasoning),
        ] {
            if n > 0 {
                m.tokens
                    .with_label_values(&[&provider, &model, kind])
                    .inc_by(n);
            }
        }
        if let Some(c) = r.cost {
            use rust_decimal::prelude::ToPrimitive;
            m.cost
                .with_label_values(&[&provider, &model])
                .inc_by(c.to_f64().unwrap_or(0.0));
        }
        m.duration
            .with_label_values(&[&provider, &model])
            .observe(run.started.elapsed().as_secs_f64());
        if let Some(hold) = run.hold.take() {
            let r = &run.record;
            let billed = r.outcome == CallOutcome::Ok
                || r.usage.input + r.usage.output + r.usage.cached_input + r.usage.reasoning > 0
                || r.hops.last().is_some_and(|h| h.outcome == HopOutcome::Ok);
            match r.cost {
                Some(c) => hold.settle(Some(c)),
                None if billed => hold.settle(None),
                None => hold.release(),
            }
        }
        let record = run.record.clone();
        if let Some(ticket) = run.ticket.take() {
            ticket.finish(record.clone());
        }
        record
    }

    /// A call that ends in an error before any answer.
    pub(super) fn fail(&self, mut run: Run, error: &CallError) {
        run.record.outcome = CallOutcome::Error;
        run.record.error_code = Some(error.code.as_str().to_string());
        run.record.error_message = Some(error.message.clone());
        self.finish(run);
    }

    /// Tries the hops in order until one answers.
    pub(super) async fn run_hops(
        &self,
        run: &mut Run,
        plan: &Plan,
        stream: bool,
    ) -> Result<(Resolved, Answer, Arc<ModelState>), CallError> {
        // (code, reason, unreachable: connection, timeout, 5xx or open breaker)
        let mut failures: Vec<(ErrorCode, String, bool)> = Vec::new();
        let mut retry_after_hint: Option<Duration> = None;
        for hop in &plan.hops {
            let hop_started = Instant::now();
            let state = self.state(hop);
            let record_hop = |run: &mut Run,
                              outcome: HopOutcome,
                              code: Option<ErrorCode>,
                              reason: Option<String>,
                              attempts: u32| {
                run.record.provider = Some(hop.provider.clone());
                run.record.model = Some(hop.model.clone());
                run.record.hops.push(Hop {
                    provider: hop.provider.clone(),
                    model: hop.model.clone(),
                    outcome,
                    error_code: code.map(|c| c.as_str().to_string()),
                    reason,
                    attempts,
                    latency_us: micros(hop_started.elapsed()),
                });
            };
            // Budgets first: a hop a blocking budget refuses is skipped, like an open
            // breaker; the next hop (a cheaper or free model) may still fit.
            let hold = match self.hold(run, hop) {
                Ok(h) => h,
                Err((code, reason, resets)) => {
                    if let Some(t) = resets {
                        let wait = (t - self.inner.clock.now()).to_std().unwrap_or_default();
                        retry_after_hint = Some(retry_after_hint.map_or(wait, |h| h.max(wait)));
                    }
                    self.inner
                        .metrics
                        .fallbacks
                        .with_label_values(&[&hop.provider, &hop.model, code.as_str()])
                        .inc();
                    record_hop(
                        run,
                        HopOutcome::Skipped,
                        Some(code),
                        Some(reason.clone()),
                        0,
                    );
                    failures.push((code, reason, false));
                    continue;
                }
            };
            // The breaker next: an open one is skipped at no cost.
            let admission = self.admit(hop, &state);
            if admission == Admission::Rejected {
                let reason = "circuit breaker open".to_string();
                self.inner
                    .metrics
                    .fallbacks
                    .with_label_values(&[&hop.provider, &hop.model, "circuit_open"])
                    .inc();
                record_hop(
                    run,
                    HopOutcome::Skipped,
                    Some(ErrorCode::CircuitOpen),
                    Some(reason.clone()),
                    0,
                );
                failures.push((
                    ErrorCode::CircuitOpen,
                    format!("{}/{}: {reason}", hop.provider, hop.model),
                    true,
                ));
                continue;
            }
            let key: Option<SecretString> = match &hop.config.key {
                None => None,
                Some(name) => match self.inner.secrets.get_cached(name).await {
                    Ok(k) => Some(k),
                    Err(e) => {
                        if let Ok(mut b) = state.breaker.lock() {
                            b.abandon(admission);
                        }
                        let reason = match e.code() {
                            ErrorCode::SecretMissing => format!(
                                "the key of provider `{}` is the secret `{name}`, which does not exist (set it with `flightdeck secrets set {name}`)",
                                hop.provider
                            ),
                            _ => format!(
                                "the key of provider `{}` (secret `{name}`) cannot be read: {e}",
                                hop.provider
                            ),
                        };
                        self.inner
                            .metrics
                            .fallbacks
                            .with_label_values(&[&hop.provider, &hop.model, "provider_auth_failed"])
                            .inc();
                        record_hop(
                            run,
                            HopOutcome::Failed,
                            Some(ErrorCode::ProviderAuthFailed),
                            Some(reason.clone()),
                            0,
                        );
                        failures.push((ErrorCode::ProviderAuthFailed, reason, false));
                        continue;
                    }
                },
            };
            let limits = self.limits(&state, hop);
            let mut attempt_no = 0u32;
            let mut admission = admission;
            loop {
                attempt_no += 1;
                if attempt_no > 1 {
                    // A retry is a fresh admission (the first one was used).
                    let a = self.admit(hop, &state);
                    if a == Admission::Rejected {
                        record_hop(
                            run,
                            HopOutcome::Failed,
                            Some(ErrorCode::CircuitOpen),
                            Some("circuit breaker opened during retries".into()),
                            attempt_no - 1,
                        );
                        failures.push((
                            ErrorCode::CircuitOpen,
                            format!("{}/{}: circuit breaker opened", hop.provider, hop.model),
                            true,
                        ));
                        break;
                    }
                    admission = a;
                }
                if let Some(l) = &limits
                    && !l.is_unlimited()
                    && let Err(refusal) = self.wait_for_capacity(l, &run.request).await
                {
                    if let Ok(mut b) = state.breaker.lock() {
                        b.abandon(admission);
                    }
                    let reason = match refusal {
                        Refusal::TooLarge => {
                            "the request needs more tokens than tokens_per_minute allows"
                                .to_string()
                        }
                        Refusal::Wait(d) => format!(
                            "client-side rate limit full (capacity in {} ms)",
                            d.as_millis()
                        ),
                    };
                    if let Refusal::Wait(d) = refusal {
                        retry_after_hint = Some(retry_after_hint.map_or(d, |h| h.min(d)));
                    }
                    self.inner
                        .metrics
                        .fallbacks
                        .with_label_values(&[&hop.provider, &hop.model, "rate_limited"])
                        .inc();
                    record_hop(
                        run,
                        HopOutcome::Skipped,
                        Some(ErrorCode::RateLimited),
                        Some(reason.clone()),
                        attempt_no - 1,
                    );
                    failures.push((
                        ErrorCode::RateLimited,
                        format!("{}/{}: {reason}", hop.provider, hop.model),
                        false,
                    ));
                    break;
                }
                let mut upstream_request = run.request.clone();
                upstream_request.model = hop.model.clone();
                let attempt = Attempt {
                    hop,
                    key: key.as_ref(),
                    request: &upstream_request,
                };
                let now = self.inner.clock.now();
                let result = if stream {
                    match self.inner.upstream.stream(&attempt, now).await {
                        Ok(mut s) => match s.next().await {
                            Ok(Some(first)) => Ok(Answer::Stream(Box::new(s), first)),
                            Ok(None) => Err(AttemptError::Malformed(
                                "the stream ended without an answer".into(),
                            )),
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    }
                } else {
                    self.inner
                        .upstream
                        .complete(&attempt, now)
                        .await
                        .map(|(r, reported)| Answer::Whole(r, reported))
                };
                match result {
                    Ok(answer) => {
                        self.breaker_record(hop, &state, admission, true);
                        record_hop(run, HopOutcome::Ok, None, None, attempt_no);
                        run.hold = hold;
                        return Ok((hop.clone(), answer, state));
                    }
                    Err(e) => {
                        if e.is_provider_failure() {
                            self.breaker_record(hop, &state, admission, false);
                        } else if let Ok(mut b) = state.breaker.lock() {
                            b.abandon(admission);
                        }
                        let code = e.code();
                        let reason = e.describe();
                        if e.is_rejection() {
                            record_hop(
                                run,
                                HopOutcome::Failed,
                                Some(code),
                                Some(reason.clone()),
                                attempt_no,
                            );
                            return Err(CallError::new(
                                code,
                                format!(
                                    "{}/{} refused the request: {reason}",
                                    hop.provider, hop.model
                                ),
                            ));
                        }
                        match retry::next(&hop.retry, attempt_no, e.retryable(), e.retry_after()) {
                            retry::Next::RetryAfter(wait) => {
                                self.inner
                                    .metrics
                                    .retries
                                    .with_label_values(&[&hop.provider, &hop.model])
                                    .inc();
                                tracing::debug!(provider = %hop.provider, model = %hop.model, attempt = attempt_no, wait_ms = wait.as_millis() as u64, %reason, "retrying");
                                self.inner.clock.sleep(wait).await;
                            }
                            retry::Next::FailOver => {
                                if let Some(d) = e.retry_after() {
                                    retry_after_hint =
                                        Some(retry_after_hint.map_or(d, |h| h.min(d)));
                                }
                                self.inner
                                    .metrics
                                    .fallbacks
                                    .with_label_values(&[&hop.provider, &hop.model, code.as_str()])
                                    .inc();
                                record_hop(
                                    run,
                                    HopOutcome::Failed,
                                    Some(code),
                                    Some(reason.clone()),
                                    attempt_no,
                                );
                                failures.push((
                                    code,
                                    format!("{}/{}: {reason}", hop.provider, hop.model),
                                    e.is_unreachable(),
                                ));
                                break;
                            }
                        }
                    }
                }
            }
        }
        Err(chain_error(plan, failures, retry_after_hint))
    }

    /// The budgets' hold on `hop` for this call, or why they refuse it: (code, reason, when
    /// the refusing budget resets).
    #[allow(clippy::type_complexity)]
    fn hold(
        &self,
        run: &Run,
        hop: &Resolved,
    ) -> Result<
        Option<crate::costs::budget::Hold>,
        (ErrorCode, String, Option<chrono::DateTime<chrono::Utc>>),
    > {
        let Some(gate) = &self.inner.budgets else {
            return Ok(None);
        };
        if gate.is_empty() {
            return Ok(None);
        }
        let book = self.price_book(&run.config);
        let price = book.price(
            &hop.provider,
            &hop.config,
            &hop.model,
            self.inner.clock.now(),
        );
        let scope = crate::costs::budget::Scope {
            client: &run.record.client,
            agent: run.record.agent.as_deref(),
            route: run.record.route.as_deref(),
            provider: &hop.provider,
            model: &hop.model,
            tags: &run.record.tags,
        };
        gate.reserve(&scope, price.as_ref(), &run.request)
            .map_err(|r| {
                let code = match r {
                    crate::costs::budget::Refusal::PriceUnknown { .. } => ErrorCode::PriceUnknown,
                    crate::costs::budget::Refusal::Exceeded { .. } => ErrorCode::BudgetExceeded,
                };
                (code, r.message(&hop.provider, &hop.model), r.resets_at())
            })
    }

    /// Takes a request and its tokens from the limits, waiting (on the engine's clock) when
    /// the settings say so and the wait is short enough.
    async fn wait_for_capacity(&self, l: &Limits, request: &ChatRequest) -> Result<(), Refusal> {
        let max_wait = Duration::from_millis(l.settings.max_wait_ms);
        let mut waited = Duration::ZERO;
        let mut request_taken = false;
        loop {
            let step = if request_taken {
                Ok(())
            } else {
                l.take_request()
            };
            let step = step.and_then(|()| {
                request_taken = true;
                l.take_tokens(tokens::quick_estimate(request))
            });
            match step {
                Ok(()) => return Ok(()),
                Err(Refusal::TooLarge) => return Err(Refusal::TooLarge),
                Err(Refusal::Wait(d)) => {
                    if l.settings.on_limit == OnLimit::Fail || waited + d > max_wait {
                        return Err(Refusal::Wait(d));
                    }
                    self.inner.clock.sleep(d).await;
                    waited += d;
                }
            }
        }
    }

    /// The cached answer for this call, if there is one (recorded as a hit).
    pub(super) fn cached(&self, run: &mut Run) -> Option<cache::Entry> {
        let key = run.cache_key?;
        match self.inner.cache.get(&key, self.inner.clock.now()) {
            Some(entry) => {
                self.inner.metrics.cache_hits.inc();
                if let Some(c) = entry.cost {
                    use rust_decimal::prelude::ToPrimitive;
                    self.inner
                        .metrics
                        .cache_saved
                        .inc_by(c.to_f64().unwrap_or(0.0));
                }
                let r = &mut run.record;
                r.cache_hit = true;
                r.provider = Some(entry.provider.clone());
                r.model = Some(entry.model.clone());
                r.cost = Some(Decimal::ZERO);
                r.saved_cost = entry.cost;
                r.outcome = CallOutcome::Ok;
                r.ttft_us = Some(micros(run.started.elapsed()));
                Some(entry)
            }
            None => {
                self.inner.metrics.cache_misses.inc();
                None
            }
        }
    }

    pub(super) fn remember(&self, run: &Run, response: &ChatResponse, cost: Option<Decimal>) {
        if let Some(key) = run.cache_key {
            self.inner.cache.put(
                key,
                response.clone(),
                run.record.provider.clone().unwrap_or_default(),
                run.record.model.clone().unwrap_or_default(),
                cost,
                self.inner.clock.now(),
            );
            let s = self.inner.cache.stats();
            self.inner
                .metrics
                .cache_entries
                .set(i64::try_from(s.entries).unwrap_or(i64::MAX));
            self.inner
                .metrics
                .cache_bytes
                .set(i64::try_from(s.bytes).unwrap_or(i64::MAX));
        }
    }

    /// A whole answer (agents; gateway requests without `stream`).
    pub async fn complete(
        &self,
        request: ChatRequest,
        ctx: CallContext,
    ) -> Result<Completed, CallError> {
        let (mut run, plan) = self.start(request, &ctx)?;
        let id = run.record.id.clone();
        let plan = match plan {
            Ok(p) => p,
            Err(e) => {
                self.fail(run, &e);
                return Err(e.with_call(id));
            }
        };
        if let Some(entry) = self.cached(&mut run) {
            let record = self.finish(run);
            return Ok(Completed {
                response: entry.response,
                call_id: id,
                provider: record.provider.unwrap_or_default(),
                model: record.model.unwrap_or_default(),
                cache_hit: true,
            });
        }
        match self.run_hops(&mut run, &plan, false).await {
            Ok((hop, Answer::Whole(mut response, reported), _state)) => {
                run.record.ttft_us = Some(micros(run.started.elapsed()));
                if !reported {
                    response.usage = estimate(&run.request, &response);
                }
                let (cost, source) = self.cost(&run.config, &hop, &response.usage);
                run.record.usage = response.usage;
                run.record.cost = cost;
                run.record.price_source = source;
                run.record.outcome = CallOutcome::Ok;
                self.remember(&run, &response, cost);
                self.finish(run);
                Ok(Completed {
                    response,
                    call_id: id,
                    provider: hop.provider,
                    model: hop.model,
                    cache_hit: false,
                })
            }
            Ok((_, Answer::Stream(..), _)) => {
                let e =
                    CallError::new(ErrorCode::Internal, "a stream answered a whole call".into());
                self.fail(run, &e);
                Err(e.with_call(id))
            }
            Err(e) => {
                self.fail(run, &e);
                Err(e.with_call(id))
            }
        }
    }

    /// Asks `hop`'s breaker whether a request may go, announcing a state change.
    fn admit(&self, hop: &Resolved, state: &ModelState) -> Admission {
        let (admission, moved) = match state.breaker.lock() {
            Ok(mut b) => b.admit(self.inner.clock.now()),
            Err(_) => (Admission::Allowed, None),
        };
        if let Some(t) = moved {
            self.breaker_moved(hop, t);
        }
        admission
    }

    /// Whether a call to `route` (a route or `provider/model`) could go now: `Allowed` when
    /// some hop's breaker is closed (or has seen no call), `Probe` when the best a hop offers
    /// is a half-open probe, `Rejected` when every hop is behind an open breaker (or the
    /// route resolves to nothing). Changes nothing.
    pub fn readiness(&self, config: &Arc<Config>, route: &str) -> Admission {
        let Ok(plan) = super::plan::resolve(config, route) else {
            return Admission::Rejected;
        };
        let now = self.inner.clock.now();
        let map = match self.inner.states.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let mut best = Admission::Rejected;
        for hop in &plan.hops {
            let key = format!("{}/{}", hop.provider, hop.model);
            let admission = match map.get(&key) {
                None => Admission::Allowed,
                Some(s) => s
                    .breaker
                    .lock()
                    .map(|b| b.peek(now))
                    .unwrap_or(Admission::Allowed),
            };
            match admission {
                Admission::Allowed => return Admission::Allowed,
                Admission::Probe => best = Admission::Probe,
                Admission::Rejected => {}
            }
        }
        best
    }

    /// The state of every breaker that has seen a call.
    pub fn breakers(&self) -> Vec<(String, BreakerState)> {
        let map = match self.inner.states.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let mut out: Vec<(String, BreakerState)> = map
            .iter()
            .filter_map(|(k, s)| s.breaker.lock().ok().map(|b| (k.clone(), b.state())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Usage counted here, marked estimated.
pub(super) fn estimate(request: &ChatRequest, response: &ChatResponse) -> Usage {
    let mut output = tokens::count(&response.text);
    for c in &response.tool_calls {
        output += tokens::count(&c.name) + tokens::count(&c.arguments);
    }
    Usage {
        input: tokens::count_request(request),
        output,
        estimated: true,
        ..Usage::default()
    }
}

/// The error of a chain where no hop answered: the common code when every hop failed the
/// same way, else `provider_unavailable`; the message lists every hop's reason.
fn chain_error(
    plan: &Plan,
    failures: Vec<(ErrorCode, String, bool)>,
    retry_after: Option<Duration>,
) -> CallError {
    if failures.is_empty() {
        return CallError::new(
            ErrorCode::ProviderUnavailable,
            format!(
                "route `{}` has no provider to try",
                plan.route.clone().unwrap_or_default()
            ),
        );
    }
    let first = failures[0].0;
    let code = if failures.iter().all(|(c, _, _)| *c == first) {
        first
    } else {
        ErrorCode::ProviderUnavailable
    };
    let unreachable = failures.iter().all(|(_, _, u)| *u);
    let reasons: Vec<String> = failures.into_iter().map(|(_, r, _)| r).collect();
    let mut e = CallError::new(
        code,
        format!("no provider answered: {}", reasons.join("; ")),
    );
    e.retry_after = retry_after;
    e.unreachable = unreachable;
    e
}

/// (For `mod.rs`.)
pub(super) type States = Mutex<HashMap<String, Arc<ModelState>>>;
