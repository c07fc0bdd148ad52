//! The one write path: a single writer thread that owns the only writing connection and
//! group-commits the transactions every domain submits through [`Store::write`].
//!
//! Design (group commit):
//! - Callers send a job (a closure over a [`WriteTx`]) on a channel and await its answer.
//! - The writer takes every job waiting at that moment (up to [`MAX_BATCH`]), runs them one
//!   after the other inside one `BEGIN IMMEDIATE … COMMIT`, and answers each job only after
//!   that `COMMIT` returned. With WAL and `synchronous = FULL` the commit is an fsync of the
//!   WAL, so an acknowledged job is on disk; jobs that arrive while one batch is being synced
//!   form the next batch. A lone writer commits at once; when the last commit answered
//!   several callers, the writer gives them up to [`GATHER`] to come back before it commits
//!   with fewer (otherwise the first caller back would get a commit, and an fsync, of its own
//!   while the others are still waking up). The wait adapts: the next commit expects as many
//!   jobs as this one carried.
//! - A job that fails (returns `Err` or panics) must not take the others with it, nor leave
//!   half of its own writes: the batch is rolled back and run again with a savepoint around
//!   each job, so each failed job is undone alone. Jobs therefore may run more than once and
//!   must keep their side effects inside the transaction (their result is taken from the run
//!   that committed). A failure that ends the whole transaction (SQLite rolls back by itself
//!   on some errors) is handled too: the savepoint pass starts again without that job.
//! - Events appended with [`WriteTx::append_event`] get their sequence number from the
//!   `events` table inside the transaction; they are published on the bus after the commit,
//!   in sequence order, before the callers are answered.
//!
//! What a crash can lose: only jobs that were not yet answered. A kill before `COMMIT`
//! returns loses the whole batch (none of its callers was told "committed"); SQLite's WAL
//! never exposes a partial batch.
//!
//! Must never: await anything while a transaction is open (jobs are synchronous closures, so
//! a write can never wait on the network while it holds the writer), or answer a caller
//! before the commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::db::Db;
use super::{StoreError, values};
use crate::clock::SharedClock;
use crate::events::{Event, EventSink, FeedEvent};

/// The most jobs one commit carries.
pub const MAX_BATCH: usize = 4096;
/// How long the writer waits for the callers its last commit answered to come back before it
/// commits with fewer (see [`Writer::run`]): about two fsyncs here. Measured at 64 writers:
/// no wait 67k/s, 100 µs 116k/s, 200 µs 127k/s, 400 µs 124–160k/s (docs/benchmarks.md).
pub const GATHER: Duration = Duration::from_micros(400);

/// A transaction on the writer. Everything done through it commits together, or not at all.
pub struct WriteTx<'c> {
    db: Db<'c>,
    clock: &'c SharedClock,
    events: &'c mut Vec<FeedEvent>,
}

impl<'c> std::ops::Deref for WriteTx<'c> {
    type Target = Db<'c>;
    fn deref(&self) -> &Db<'c> {
        &self.db
    }
}

impl WriteTx<'_> {
    /// Appends `event` to the durable event log in this transaction and returns its sequence
    /// number. It is published on the bus once the transaction has committed.
    pub fn append_event(&mut self, event: Event) -> Result<u64, StoreError> {
        // At the stored precision, so a live event and its replay from the log are identical.
        let time = values::at_stored_precision(self.clock.now());
        let payload = serde_json::to_string(&event).map_err(|e| StoreError::Encode {
            what: "event",
            message: e.to_string(),
        })?;
        self.db.execute(
            "INSERT INTO events (topic, at, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![event.topic().as_str(), values::time_to_db(time), payload],
        )?;
        let seq = u64::try_from(self.db.conn().last_insert_rowid()).unwrap_or(0);
        self.events.push(FeedEvent { seq, time, event });
        Ok(seq)
    }

    /// The wall-clock time of the engine's clock, for rows stamped in this transaction.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// A submitted transaction, type-erased for the channel.
trait Job: Send {
    /// Runs the closure; `false` when it failed (its error is kept for the answer).
    fn run(&mut self, tx: &mut WriteTx<'_>) -> bool;
    /// Answers the caller with the outcome of the commit.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct TypedJob<F, T, E> {
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for TypedJob<F, T, E>
where
    F: FnMut(&mut WriteTx<'_>) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, tx: &mut WriteTx<'_>) -> bool {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (self.f)(tx)));
        let result = match outcome {
            Ok(result) => result,
            Err(panic) => Err(E::from(StoreError::JobPanicked {
                message: panic_message(&panic),
            })),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (self.result, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Err(e)) | (None, Err(e)) => Err(E::from(e)),
            (Some(Ok(t)), Ok(())) => Ok(t),
            (None, Ok(())) => Err(E::from(StoreError::Closed)),
        };
        // A caller that stopped waiting does not need the answer; what committed stays.
        let _ = self.reply.send(answer);
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a write job panicked".into())
}

/// The sending side, held by the store.
#[derive(Debug, Clone)]
pub(super) struct WriterHandle {
    tx: mpsc::Sender<Msg>,
}

/// What the writer thread is sent.
enum Msg {
    Job(Box<dyn Job>),
    /// Commit what came before, then stop.
    Close,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl WriterHandle {
    /// Submits `f` now (jobs commit in the order they were submitted) and returns a future
    /// of its commit.
    pub(super) fn write<F, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'static + use<F, T, E>
    where
        F: FnMut(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            f,
            result: None,
            reply,
        });
        let sent = self.tx.send(Msg::Job(job)).is_ok();
        async move {
            if !sent {
                return Err(E::from(StoreError::Closed));
            }
            answer.await.unwrap_or(Err(E::from(StoreError::Closed)))
        }
    }

    /// Asks the writer to stop once the jobs sent before are committed. Jobs sent after it
    /// fail with [`StoreError::Closed`].
    pub(super) fn close(&self) {
        let _ = self.tx.send(Msg::Close);
    }
}

/// Starts the writer thread on `conn`. It runs until every [`WriterHandle`] is dropped and
/// the jobs already sent are committed, then checkpoints the WAL, closes the connection and
/// fires `done`.
pub(super) fn spawn(
    conn: Connection,
    path: PathBuf,
    clock: SharedClock,
    sink: Arc<dyn EventSink>,
    done: oneshot::Sender<()>,
) -> Result<WriterHandle, StoreError> {
    let (tx, rx) = mpsc::channel::<Msg>();
    std::thread::Builder::new()
        .name("flightdeck-writer".into())
        .spawn(move || {
            let mut writer = Writer {
                conn,
                path,
                clock,
                sink,
            };
            writer.run(rx);
            // Close the connection before telling anyone: SQLite removes the WAL on the last
            // close, and whoever waits for `done` may look at the files next.
            drop(writer);
            let _ = done.send(());
        })
        .map_err(|e| StoreError::Write {
            message: format!("cannot start the writer thread: {e}"),
        })?;
    Ok(WriterHandle { tx })
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    clock: SharedClock,
    sink: Arc<dyn EventSink>,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(64);
        // How many jobs the last commit carried: about how many callers will be back.
        let mut expected = 1;
        let mut open = true;
        while open {
            match rx.recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Close) | Err(_) => break,
            }
            let mut deadline: Option<Instant> = None;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Job(job)) => {
                        batch.push(job);
                        continue;
                    }
                    Ok(Msg::Close) | Err(mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                if batch.len() >= expected {
                    break;
                }
                // Callers are on their way back: yield rather than park, so each of them
                // does not have to wake this thread (the wait is bounded by GATHER).
                let until = *deadline.get_or_insert_with(|| Instant::now() + GATHER);
                if Instant::now() >= until {
                    break;
                }
                std::thread::yield_now();
            }
            expected = batch.len();
            self.commit_batch(&mut batch);
        }
        // Jobs still queued behind the close are dropped unanswered when `rx` goes: their
        // callers get `Closed`, and nothing of theirs was written.
        drop(rx);
        if let Err(error) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(%error, "WAL checkpoint at close failed; the WAL is replayed at next open");
        }
    }

    /// Runs `batch` in one transaction and answers every job.
    fn commit_batch(&mut self, batch: &mut Vec<Box<dyn Job>>) {
        let mut events = Vec::new();
        let outcome = self.try_batch(batch, &mut events);
        match &outcome {
            Ok(()) => {
                for event in events {
                    self.sink.published(event);
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = batch.len(), "a write transaction failed; none of its jobs committed");
                // Leave the connection usable for the next batch (no-op without a transaction).
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
        for job in batch.drain(..) {
            job.answer(outcome.as_ref().map(|_| ()).map_err(StoreError::duplicate));
        }
    }

    fn try_batch(
        &mut self,
        batch: &mut [Box<dyn Job>],
        events: &mut Vec<FeedEvent>,
    ) -> Result<(), StoreError> {
        self.exec("BEGIN IMMEDIATE")?;
        // Optimistic: no savepoints, which would cost more than most jobs.
        let mut all_ok = true;
        for job in batch.iter_mut() {
            if !self.run_job(job.as_mut(), events) {
                all_ok = false;
                break;
            }
        }
        if all_ok {
            return self.exec("COMMIT");
        }
        // One failed: undo everything and run each job in its own savepoint. A failure that
        // ended the whole transaction (SQLite rolls back by itself on some errors, such as a
        // full disk or an interrupted statement) leaves no savepoint to return to: the pass
        // starts again without that job, so the others still commit. Each restart drops one
        // more job, so this ends.
        let mut failed = vec![false; batch.len()];
        loop {
            self.rollback_if_open()?;
            events.clear();
            self.exec("BEGIN IMMEDIATE")?;
            let mut restart = false;
            for (i, job) in batch.iter_mut().enumerate() {
                if failed[i] {
                    continue;
                }
                self.exec("SAVEPOINT job")?;
                let mark = events.len();
                if self.run_job(job.as_mut(), events) {
                    self.exec("RELEASE job")?;
                    continue;
                }
                failed[i] = true;
                if self.conn.is_autocommit() {
                    restart = true;
                    break;
                }
                self.exec("ROLLBACK TO job")?;
                self.exec("RELEASE job")?;
                events.truncate(mark);
            }
            if !restart {
                return self.exec("COMMIT");
            }
        }
    }

    /// Rolls back the open transaction, if SQLite has not already.
    fn rollback_if_open(&self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            Ok(())
        } else {
            self.exec("ROLLBACK")
        }
    }

    fn run_job(&mut self, job: &mut dyn Job, events: &mut Vec<FeedEvent>) -> bool {
        let mut tx = WriteTx {
            db: Db::new(&self.conn, &self.path),
            clock: &self.clock,
            events,
        };
        job.run(&mut tx)
    }

    fn exec(&self, sql: &str) -> Result<(), StoreError> {
        self.conn
            .execute_batch(sql)
            .map_err(|source| StoreError::sql(&self.path, source))
    }
}
