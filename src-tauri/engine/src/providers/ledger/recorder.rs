//! The ledger's recorder: one task that takes finished calls from a channel and commits
//! them to `calls` in batches (one write transaction per batch, each row with its `calls`
//! event), then reports the journal segments that are now safe to drop. Also the recovery
//! of a previous run's journal.
//!
//! A batch lingers up to [`LINGER`] after its first row (or until [`BATCH`] rows, a flush
//! or shutdown), so a steady trickle of calls shares one commit and one fsync instead of
//! paying one each; the journal already holds every row, so the wait risks nothing on a
//! kill, and a power cut loses at most the calls of the last `LINGER` plus one commit.
//!
//! Invariants: a row is acknowledged to the journal only after its transaction committed;
//! a failed commit is retried (with a pause) with the same rows, never dropped; rows are
//! inserted with `OR IGNORE` on their id, so a retry or a recovery never doubles one.
//! Must never: wait on the callers (the channel is unbounded: memory, not latency, absorbs
//! a slow disk; the journal holds the same rows).

use std::time::Duration;

use rusqlite::params;
use tokio::sync::{mpsc, oneshot};

use super::journal::Entry;
use super::{CallOutcome, CallRecord};
use crate::events::Event;
use crate::store::values::{json_to_db, money_to_db, time_to_db};
use crate::store::{Store, StoreError, WriteTx};

/// Rows per transaction at most.
const BATCH: usize = 512;

/// How long a batch waits for more rows after its first one.
pub(super) const LINGER: Duration = Duration::from_millis(20);

enum Msg {
    Row(Box<CallRecord>, Vec<u64>),
    Flush(oneshot::Sender<()>),
}

/// The callers' side of the recorder.
pub(super) struct Handle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Handle {
    pub(super) fn send(&self, record: CallRecord, segments: Vec<u64>) {
        if self.tx.send(Msg::Row(Box::new(record), segments)).is_err() {
            // Only after shutdown: the journal keeps the row for the next start.
            tracing::warn!("ledger recorder stopped; the call stays in the journal");
        }
    }

    pub(super) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the recorder; the receiver gets, after each commit, the segments of the rows
/// committed (one entry per journal line).
pub(super) fn spawn(
    store: Store,
    clock: crate::clock::SharedClock,
    tracker: &tokio_util::task::TaskTracker,
    cancel: tokio_util::sync::CancellationToken,
) -> (Handle, mpsc::UnboundedReceiver<Vec<u64>>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    tracker.spawn(async move {
        let mut rows: Vec<CallRecord> = Vec::new();
        let mut segments: Vec<u64> = Vec::new();
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut stopping = false;
        loop {
            // At shutdown: commit what has arrived, then stop (later rows stay in the
            // journal and are written at the next start).
            let first = if stopping {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    m = rx.recv() => match m { Some(m) => m, None => break },
                    () = cancel.cancelled() => { stopping = true; continue; }
                }
            };
            // Real time, not the engine's clock: this is I/O batching, and a test's paused
            // or manual clock must not hold rows back.
            let linger_until = tokio::time::Instant::now() + LINGER;
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Row(row, segs) => {
                        rows.push(*row);
                        segments.extend(segs);
                    }
                    Msg::Flush(w) => waiters.push(w),
                }
                if rows.len() >= BATCH {
                    break;
                }
                next = match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(_) if stopping || !waiters.is_empty() => None,
                    Err(_) => tokio::select! {
                        m = tokio::time::timeout_at(linger_until, rx.recv()) => match m {
                            Ok(Some(m)) => Some(m),
                            Ok(None) | Err(_) => None,
                        },
                        () = cancel.cancelled() => { stopping = true; None }
                    },
                };
            }
            if !rows.is_empty() {
                let batch = std::mem::take(&mut rows);
                commit(&store, &clock, batch).await;
                let _ = done_tx.send(std::mem::take(&mut segments));
            }
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
        }
    });
    (Handle { tx }, done_rx)
}

/// Commits `rows`, retrying until it works or the store is closed (then the journal keeps
/// them for the next start).
async fn commit(store: &Store, clock: &crate::clock::SharedClock, rows: Vec<CallRecord>) {
    let rows = std::sync::Arc::new(rows);
    let mut pause = Duration::from_millis(50);
    loop {
        let batch = rows.clone();
        let result = store
            .write(move |tx| {
                for row in batch.iter() {
                    insert(tx, row, true)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        match result {
            Ok(()) => return,
            Err(StoreError::Closed) => return,
            Err(error) => {
                tracing::error!(%error, rows = rows.len(), "could not write ledger rows; retrying");
                clock.sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Inserts one row (ignored when its id is there already) and, if it was new and `event`,
/// its `calls` event.
pub(super) fn insert(
    tx: &mut WriteTx<'_>,
    r: &CallRecord,
    event: bool,
) -> Result<bool, StoreError> {
    let hops = json_to_db(&r.hops)?;
    let tags = json_to_db(&r.tags)?;
    let n = tx.execute(
        "INSERT OR IGNORE INTO calls (id, started_at, finished_at, client, agent, task_id, route, \
         requested_model, provider, model, node_id, protocol, stream, input_tokens, \
         output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, \
         usage_estimated, cost, price_source, latency_us, ttft_us, outcome, error_code, \
         error_message, cache_hit, saved_cost, hops, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
         ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, \
         ?26, ?27, ?28, ?29, ?30)",
        params![
            r.id,
            time_to_db(r.started_at),
            r.finished_at.map(time_to_db),
            r.client,
            r.agent,
            r.task_id,
            r.route,
            r.requested_model,
            r.provider,
            r.model,
            r.node_id,
            enum_name(&r.protocol),
            r.stream,
            i64::try_from(r.usage.input).unwrap_or(i64::MAX),
            i64::try_from(r.usage.output).unwrap_or(i64::MAX),
            i64::try_from(r.usage.cached_input).unwrap_or(i64::MAX),
            i64::try_from(r.usage.cache_write).unwrap_or(i64::MAX),
            i64::try_from(r.usage.reasoning).unwrap_or(i64::MAX),
            r.usage.estimated,
            r.cost.map(money_to_db),
            r.price_source.as_ref().map(enum_name),
            i64::try_from(r.latency_us).unwrap_or(i64::MAX),
            r.ttft_us.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
            enum_name(&r.outcome),
            r.error_code,
            r.error_message,
            r.cache_hit,
            r.saved_cost.map(money_to_db),
            hops,
            tags,
        ],
    )?;
    if n == 1 {
        crate::costs::rollup::apply(tx, &r.id)?;
    }
    if n == 1 && event {
        tx.append_event(Event::Calls(Box::new(r.clone())))?;
    }
    Ok(n == 1)
}

/// The snake_case name serde gives a unit variant.
pub(super) fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// What recovery wrote.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    pub finished: usize,
    pub unrecorded: usize,
}

impl Recovered {
    pub fn total(&self) -> usize {
        self.finished + self.unrecorded
    }
}

/// Writes a previous run's journal: ends as they are, begins without an end as
/// `unrecorded`. Rows already in `calls` are left alone.
pub(super) async fn recover(store: &Store, entries: Vec<Entry>) -> Result<Recovered, StoreError> {
    if entries.is_empty() {
        return Ok(Recovered::default());
    }
    let mut ends = std::collections::HashMap::new();
    let mut order = Vec::new();
    let mut begins = std::collections::HashMap::new();
    for entry in entries {
        match entry {
            Entry::Begin(r) => {
                order.push(r.id.clone());
                begins.insert(r.id.clone(), r);
            }
            Entry::End(r) => {
                if !begins.contains_key(&r.id) && !ends.contains_key(&r.id) {
                    order.push(r.id.clone());
                }
                ends.insert(r.id.clone(), r);
            }
        }
    }
    let mut rows = Vec::new();
    let mut recovered = Recovered::default();
    for id in order {
        if let Some(r) = ends.remove(&id) {
            recovered.finished += 1;
            rows.push(*r);
        } else if let Some(mut r) = begins.remove(&id) {
            r.outcome = CallOutcome::Unrecorded;
            r.error_code = Some("unrecorded".into());
            r.error_message = Some(
                "the node stopped while this call was in flight; tokens and cost are not known"
                    .into(),
            );
            recovered.unrecorded += 1;
            rows.push(*r);
        }
    }
    store
        .write(move |tx| {
            for r in &rows {
                insert(tx, r, true)?;
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(recovered)
}
