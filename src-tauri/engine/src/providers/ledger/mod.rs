//! The usage ledger: one row per LLM call (gateway or agent) in `calls`, written off the
//! latency path and never lost silently.
//!
//! How a call is recorded: [`Ledger::begin`] writes a `begin` line to the journal (one
//! `write(2)`, microseconds) and returns a [`Ticket`]; [`Ticket::finish`] writes the `end`
//! line and hands the row to the recorder task, which group-commits rows into `calls`
//! (with their `calls` feed events) and then lets the journal drop what is committed.
//!
//! What a crash can lose (docs/ledger.md): a killed process loses nothing — on the next open
//! every finished call in the journal is written, and every call that was still in flight is
//! written with outcome `unrecorded` (its time, client, route and model, no tokens). A power
//! cut can also lose the journal lines the kernel had not written back, i.e. the calls of
//! the last ~20 ms (the recorder's linger, `recorder::LINGER`) before its commit.
//!
//! Invariants: one row per call id (recovery inserts with `OR IGNORE`); cost is `Decimal`
//! or `NULL` for unknown, never a made-up zero; a ticket dropped without `finish` (a
//! cancelled task, a panic) is recorded as `cancelled`.
//! Must never: block a call on SQLite, or store prompts, answers or keys.

pub mod journal;
mod query;
mod recorder;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::error::ErrorCode;
use crate::store::{Store, StoreError};

use super::neutral::Usage;
pub use query::CallFilter;
pub(crate) use query::quantile;

/// How the call reached Flightdeck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// `/v1/chat/completions`.
    Openai,
    /// `/v1/messages`.
    Anthropic,
    /// Flightdeck's own agents.
    Internal,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    Error,
    /// The client went away (or the caller dropped the call) before it finished.
    Cancelled,
    /// The node stopped (crash, kill) while the call was in flight: found in the journal on
    /// the next start; tokens and cost are not known.
    Unrecorded,
}

/// Where the price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceSourceName {
    Config,
    Shipped,
    Local,
}

/// What happened on one provider/model of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HopOutcome {
    Ok,
    Failed,
    /// Not tried: its circuit breaker was open, or its rate limit full with `on_limit = fail`.
    Skipped,
}

/// One hop of the fallback chain, with the reason it was left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Hop {
    pub provider: String,
    pub model: String,
    pub outcome: HopOutcome,
    /// The stable code of the last failure, when it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub latency_us: u64,
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallRecord {
    pub id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
    pub client: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The route asked for, when the model was a route name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// What the client put in `model`.
    pub requested_model: String,
    /// The provider and model that answered (or were tried last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub node_id: String,
    pub protocol: Protocol,
    pub stream: bool,
    pub usage: Usage,
    /// USD; `None` when the model has no price (unknown, not zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cost: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_source: Option<PriceSourceName>,
    pub latency_us: u64,
    /// Time to the first token (streams) or to the whole answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<u64>,
    pub outcome: CallOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub cache_hit: bool,
    /// What a cache hit saved (the cost of the original call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub saved_cost: Option<Decimal>,
    pub hops: Vec<Hop>,
    /// The caller's tags (a task's, or a gateway request's `x-flightdeck-tags`): cost
    /// rollups and budgets by tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl CallRecord {
    /// A call starting now: outcome `unrecorded` until it is finished.
    pub fn start(
        id: String,
        started_at: DateTime<Utc>,
        client: String,
        requested_model: String,
        node_id: String,
        protocol: Protocol,
        stream: bool,
    ) -> Self {
        Self {
            id,
            started_at,
            finished_at: None,
            client,
            agent: None,
            task_id: None,
            route: None,
            requested_model,
            provider: None,
            model: None,
            node_id,
            protocol,
            stream,
            usage: Usage::default(),
            cost: None,
            price_source: None,
            latency_us: 0,
            ttft_us: None,
            outcome: CallOutcome::Unrecorded,
            error_code: None,
            error_message: None,
            cache_hit: false,
            saved_cost: None,
            hops: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// Failures of the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The journal could not be written: the call is refused rather than left unrecorded.
    #[error("the usage ledger's journal cannot be written: {0}")]
    Journal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no call {0}")]
    NotFound(String),
}

impl LedgerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Journal(_) => ErrorCode::LedgerUnavailable,
            Self::Store(e) => e.code(),
            Self::NotFound(_) => ErrorCode::NotFound,
        }
    }
}

/// The ledger of one node. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    journal: Mutex<journal::Journal>,
    recorder: recorder::Handle,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ledger")
    }
}

/// A call being recorded. [`Ticket::finish`] records it; dropping it records it as
/// `cancelled`.
pub struct Ticket {
    ledger: Ledger,
    begin_segment: u64,
    record: Option<CallRecord>,
}

impl Ticket {
    /// The row as it stands (fill it in, then `finish`).
    pub fn record(&mut self) -> Option<&mut CallRecord> {
        self.record.as_mut()
    }

    /// Records the call; never waits for the database.
    pub fn finish(mut self, record: CallRecord) {
        self.record = None;
        self.ledger.end(self.begin_segment, record);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.outcome = CallOutcome::Cancelled;
            record.finished_at = Some(self.ledger.inner.clock.now());
            if record.error_code.is_none() {
                record.error_code = Some("cancelled".into());
            }
            self.ledger.end(self.begin_segment, record);
        }
    }
}

impl Ledger {
    /// Recovers what a previous run left in the journal (finished calls written, calls in
    /// flight written as `unrecorded`), then starts the recorder. Runs before any call.
    pub async fn open(
        store: Store,
        clock: SharedClock,
        data_dir: &std::path::Path,
        tracker: &tokio_util::task::TaskTracker,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<Self, LedgerError> {
        let dir = data_dir.join("ledger-journal");
        let (entries, leftovers) =
            journal::read_leftovers(&dir).map_err(|e| LedgerError::Journal(e.to_string()))?;
        let backfilled = crate::costs::rollup::backfill(&store).await?;
        if backfilled > 0 {
            tracing::info!(calls = backfilled, "built the cost rollups from the ledger");
        }
        let recovered = recorder::recover(&store, entries).await?;
        if recovered.total() > 0 {
            tracing::warn!(
                finished = recovered.finished,
                unrecorded = recovered.unrecorded,
                "recovered ledger rows from the journal after an unclean stop"
            );
        }
        for path in leftovers {
            std::fs::remove_file(&path).map_err(|e| LedgerError::Journal(e.to_string()))?;
        }
        let journal =
            journal::Journal::open(&dir).map_err(|e| LedgerError::Journal(e.to_string()))?;
        let (handle, committed) = recorder::spawn(store.clone(), clock.clone(), tracker, cancel);
        let ledger = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                journal: Mutex::new(journal),
                recorder: handle,
            }),
        };
        let weak = Arc::downgrade(&ledger.inner);
        tracker.spawn(async move {
            let mut committed = committed;
            while let Some(segments) = committed.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                if let Ok(mut j) = inner.journal.lock() {
                    j.committed(segments);
                }
            }
        });
        Ok(ledger)
    }

    fn append(&self, entry: &journal::Entry) -> Result<u64, LedgerError> {
        let mut j = self
            .inner
            .journal
            .lock()
            .map_err(|_| LedgerError::Journal("journal lock poisoned".into()))?;
        j.append(entry)
            .map_err(|e| LedgerError::Journal(e.to_string()))
    }

    /// Starts recording `record` (a [`CallRecord::start`]).
    pub fn begin(&self, record: CallRecord) -> Result<Ticket, LedgerError> {
        let entry = journal::Entry::Begin(Box::new(record));
        let begin_segment = self.append(&entry)?;
        let journal::Entry::Begin(record) = entry else {
            return Err(LedgerError::Journal("unreachable".into()));
        };
        Ok(Ticket {
            ledger: self.clone(),
            begin_segment,
            record: Some(*record),
        })
    }

    fn end(&self, begin_segment: u64, record: CallRecord) {
        let entry = journal::Entry::End(Box::new(record));
        let segments = match self.append(&entry) {
            Ok(end_segment) => vec![begin_segment, end_segment],
            Err(error) => {
                // The begin line stays: a crash now would show the call as unrecorded.
                tracing::error!(%error, "could not journal a finished call; recording it anyway");
                vec![begin_segment]
            }
        };
        let journal::Entry::End(record) = entry else {
            return;
        };
        self.inner.recorder.send(*record, segments);
    }

    /// Waits until every call finished so far is committed (tests, shutdown, `calls ls`
    /// right after a call).
    pub async fn flush(&self) {
        self.inner.recorder.flush().await;
    }

    /// Calls, newest first, after the cursor `after` (a `seq`).
    pub async fn list(
        &self,
        filter: CallFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, CallRecord)>, LedgerError> {
        Ok(self
            .inner
            .store
            .read(move |db| query::list(db, &filter, after, limit))
            .await?)
    }

    /// Calls, oldest first, after `after` (the last `seq` read): exports.
    pub async fn list_oldest_first(
        &self,
        filter: CallFilter,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, CallRecord)>, LedgerError> {
        Ok(self
            .inner
            .store
            .read(move |db| query::list_ordered(db, &filter, after, limit, true))
            .await?)
    }

    /// What the calls of `client` since `since` add up to.
    pub async fn totals(
        &self,
        client: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<CallTotals, LedgerError> {
        let client = client.to_string();
        Ok(self
            .inner
            .store
            .read(move |db| query::totals(db, &client, since))
            .await?)
    }

    /// One call by id.
    pub async fn get(&self, id: &str) -> Result<CallRecord, LedgerError> {
        let owned = id.to_string();
        self.inner
            .store
            .read(move |db| query::get(db, &owned))
            .await?
            .ok_or_else(|| LedgerError::NotFound(id.to_string()))
    }
}

/// The calls of one client over a window, added up (cost exactly, in `Decimal`).
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CallTotals {
    pub calls: u64,
    /// Calls that ended `ok`.
    pub ok: u64,
    /// Answered by another hop than the first of the chain.
    pub fallbacks: u64,
    pub cache_hits: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// USD, exact, over the calls with a price.
    pub cost: String,
    /// Calls whose cost is unknown (no price): `cost` leaves them out.
    pub unpriced: u64,
    /// Latency of the `ok` calls, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<f64>,
}

impl CallTotals {
    /// The known cost divided by `n` (to 8 decimals), USD; `None` when `n` is 0.
    pub fn cost_per(&self, n: u64) -> Option<String> {
        if n == 0 {
            return None;
        }
        let cost: Decimal = self.cost.parse().ok()?;
        Some(
            (cost / Decimal::from(n))
                .round_dp(8)
                .normalize()
                .to_string(),
        )
    }
}

/// Calls in `store`, oldest first after `after` (a `seq`), without a running ledger (the
/// CLI's export on a stopped node).
pub async fn list_oldest_first_in(
    store: &Store,
    filter: CallFilter,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<(i64, CallRecord)>, LedgerError> {
    Ok(store
        .read(move |db| query::list_ordered(db, &filter, after, limit, true))
        .await?)
}

/// Calls in `store`, newest first, without a running ledger (the CLI on a stopped node).
pub async fn list_in(
    store: &Store,
    filter: CallFilter,
    limit: u32,
) -> Result<Vec<CallRecord>, LedgerError> {
    let rows = store
        .read(move |db| query::list(db, &filter, None, limit))
        .await?;
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests;
