//! A streamed call after its first events arrived: passes events through as they come,
//! folds them into the whole answer, and writes the ledger row at the end — with the
//! provider's usage, or estimated when the stream carried none or broke.
//!
//! Invariants: nothing is buffered beyond the events of one upstream chunk; an error after
//! the first event ends the stream (it is never retried: the caller saw output); dropping
//! the stream (a client that went away) drops the upstream connection and records the call
//! as `cancelled` with what had arrived.

use std::collections::VecDeque;
use std::sync::Arc;

use super::call::{ModelState, Run, estimate};
use super::client::UpstreamStream;
use super::ledger::CallOutcome;
use super::neutral::{
    ChatRequest, ChatResponse, StreamAccumulator, StreamEvent, response_as_stream,
};
use super::settings::Resolved;
use super::{CallContext, CallError, Providers};
use crate::error::ErrorCode;

/// A streamed answer. Read it with [`CallStream::next`] (or as a `futures` stream with
/// [`CallStream::into_stream`]).
pub struct CallStream {
    providers: Providers,
    run: Option<Run>,
    hop: Option<(Resolved, Arc<ModelState>)>,
    upstream: Option<UpstreamStream>,
    pending: VecDeque<StreamEvent>,
    acc: StreamAccumulator,
    first_seen: bool,
    call_id: String,
    /// The answer came from the cache.
    pub cache_hit: bool,
}

impl std::fmt::Debug for CallStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallStream")
            .field("call_id", &self.call_id)
            .finish()
    }
}

impl CallStream {
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The provider/model answering.
    pub fn provider_model(&self) -> (String, String) {
        self.run
            .as_ref()
            .map(|r| {
                (
                    r.record.provider.clone().unwrap_or_default(),
                    r.record.model.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_default()
    }

    /// The next event; `None` after the last (or after an error).
    pub async fn next(&mut self) -> Option<Result<StreamEvent, CallError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if !self.first_seen {
                    self.first_seen = true;
                    if let Some(run) = &mut self.run {
                        run.record.ttft_us = Some(
                            u64::try_from(run.started.elapsed().as_micros()).unwrap_or(u64::MAX),
                        );
                    }
                }
                self.acc.push(&ev);
                if let StreamEvent::Finish { .. } = ev
                    && self.pending.is_empty()
                {
                    let finished = self.settle_ok();
                    return Some(Ok(finished.unwrap_or(ev)));
                }
                return Some(Ok(ev));
            }
            let upstream = self.upstream.as_mut()?;
            match upstream.next().await {
                Ok(Some(events)) => self.pending.extend(events),
                Ok(None) => {
                    self.upstream = None;
                    if self.run.is_some() {
                        // Ended without a Finish event (the decoder accepted the end).
                        let reason = self.acc.response().finish_reason;
                        let mut ev = StreamEvent::Finish {
                            reason,
                            usage: None,
                        };
                        self.acc.push(&ev);
                        if let Some(f) = self.settle_ok() {
                            ev = f;
                        }
                        return Some(Ok(ev));
                    }
                    return None;
                }
                Err(e) => {
                    self.upstream = None;
                    let error = CallError::new(
                        e.code(),
                        format!("the stream broke after it started: {}", e.describe()),
                    )
                    .with_call(self.call_id.clone());
                    if let Some((hop, state)) = &self.hop
                        && e.is_provider_failure()
                    {
                        self.providers.breaker_record(
                            hop,
                            state,
                            super::breaker::Admission::Allowed,
                            false,
                        );
                    }
                    self.settle(CallOutcome::Error, Some(&error));
                    return Some(Err(error));
                }
            }
        }
    }

    /// Records a proper end; returns the Finish event with the usage filled in.
    fn settle_ok(&mut self) -> Option<StreamEvent> {
        if let Some(upstream) = self.upstream.take() {
            upstream.release();
        }
        let reported = self.acc.usage_reported();
        let usage = self.settle(CallOutcome::Ok, None)?;
        Some(StreamEvent::Finish {
            reason: self.acc.response().finish_reason,
            usage: Some(if reported {
                self.acc.response().usage
            } else {
                usage
            }),
        })
    }

    /// Writes the row; returns the usage recorded.
    fn settle(
        &mut self,
        outcome: CallOutcome,
        error: Option<&CallError>,
    ) -> Option<super::neutral::Usage> {
        let mut run = self.run.take()?;
        let mut response: ChatResponse = self.acc.response().clone();
        if !run.record.cache_hit {
            if !self.acc.usage_reported() || outcome != CallOutcome::Ok {
                let reported = self.acc.usage_reported().then_some(response.usage);
                let mut est = estimate(&run.request, &response);
                if let Some(r) = reported {
                    // A broken stream's reported input is still right; output is what came.
                    est.input = r.input;
                    est.cached_input = r.cached_input;
                    est.cache_write = r.cache_write;
                }
                response.usage = est;
            }
            run.record.usage = response.usage;
            if let Some((hop, _)) = &self.hop {
                let (cost, source) = self.providers.cost(&run.config, hop, &response.usage);
                run.record.cost = cost;
                run.record.price_source = source;
                if outcome == CallOutcome::Ok && self.acc.finished() {
                    self.providers.remember(&run, &response, cost);
                }
            }
        }
        run.record.outcome = outcome;
        if let Some(e) = error {
            run.record.error_code = Some(e.code.as_str().to_string());
            run.record.error_message = Some(e.message.clone());
        }
        let usage = run.record.usage;
        self.providers.finish(run);
        Some(usage)
    }

    /// As a `futures` stream.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<StreamEvent, CallError>> + Send {
        futures_util::stream::unfold(
            self,
            |mut s| async move { s.next().await.map(|item| (item, s)) },
        )
    }
}

impl Drop for CallStream {
    fn drop(&mut self) {
        if self.run.is_some() {
            let e = CallError::new(
                ErrorCode::Unavailable,
                "the client went away before the stream ended".into(),
            );
            self.settle(CallOutcome::Cancelled, Some(&e));
            if let Some(run) = &self.run {
                let _ = run;
            }
        }
    }
}

impl Providers {
    /// A streamed answer: resolves, tries the chain (retries and fallbacks happen before the
    /// first event is handed out) and returns the stream.
    pub async fn stream(
        &self,
        mut request: ChatRequest,
        ctx: CallContext,
    ) -> Result<CallStream, CallError> {
        request.stream = true;
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
            return Ok(CallStream {
                providers: self.clone(),
                run: Some(run),
                hop: None,
                upstream: None,
                pending: response_as_stream(&entry.response).into(),
                acc: StreamAccumulator::default(),
                first_seen: false,
                call_id: id,
                cache_hit: true,
            });
        }
        match self.run_hops(&mut run, &plan, true).await {
            Ok((hop, super::call::Answer::Stream(upstream, first), state)) => Ok(CallStream {
                providers: self.clone(),
                run: Some(run),
                hop: Some((hop, state)),
                upstream: Some(*upstream),
                pending: first.into(),
                acc: StreamAccumulator::default(),
                first_seen: false,
                call_id: id,
                cache_hit: false,
            }),
            Ok(_) => {
                let e = CallError::new(
                    ErrorCode::Internal,
                    "a whole answer came for a stream".into(),
                );
                self.fail(run, &e);
                Err(e.with_call(id))
            }
            Err(e) => {
                self.fail(run, &e);
                Err(e.with_call(id))
            }
        }
    }
}
