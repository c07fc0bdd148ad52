//! The durable event log (`events` table): reading it back for resuming feed clients, and
//! its retention.
//!
//! Retention: events older than [`RETAIN_FOR`] are deleted, and of the rest at most
//! [`RETAIN_ROWS`] newest are kept; pruning runs at start and then hourly (see
//! [`crate::retention`]). A client resuming from before the oldest kept event gets a resync.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Event, FeedEvent, Topic};
use crate::store::{Db, Store, StoreError, values};

/// How long events are kept.
pub const RETAIN_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most events kept, whatever their age.
pub const RETAIN_ROWS: i64 = 1_000_000;
/// The most events one resume replays; a client further behind gets a resync.
pub const REPLAY_MAX: i64 = 10_000;

/// The oldest and newest seq in the log, `None` when it is empty.
pub fn bounds(db: &Db<'_>) -> Result<Option<(u64, u64)>, StoreError> {
    let (min, max): (Option<i64>, Option<i64>) =
        db.query_one("SELECT MIN(seq), MAX(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(match (min, max) {
        (Some(a), Some(b)) => Some((to_seq(a), to_seq(b))),
        _ => None,
    })
}

/// The newest seq ever assigned (kept by SQLite even after pruning), 0 for none.
pub fn last_assigned(db: &Db<'_>) -> Result<u64, StoreError> {
    let seq: Option<i64> = db.query_opt(
        "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
        [],
        |r| r.get(0),
    )?;
    Ok(seq.map_or(0, to_seq))
}

/// Events with `after < seq <= upto`, oldest first, at most `limit`.
pub fn read_range(
    db: &Db<'_>,
    after: u64,
    upto: u64,
    limit: i64,
) -> Result<Vec<FeedEvent>, StoreError> {
    let rows: Vec<(i64, i64, String)> = db.query_all(
        "SELECT seq, at, body FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
        rusqlite::params![to_db(after), to_db(upto), limit],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    rows.into_iter()
        .map(|(seq, at, body)| {
            let event: Event = serde_json::from_str(&body).map_err(|e| StoreError::Write {
                message: format!("event {seq} in the log does not decode: {e}"),
            })?;
            Ok(FeedEvent {
                seq: to_seq(seq),
                time: values::time_from_db(at).map_err(|e| db.err(e))?,
                event,
            })
        })
        .collect()
}

/// Deletes what the retention rule no longer keeps, as of `now`; returns how many rows.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let cutoff =
        values::time_to_db(now) - i64::try_from(RETAIN_FOR.as_millis()).unwrap_or(i64::MAX);
    store
        .write(move |tx| {
            let old = tx.execute("DELETE FROM events WHERE at < ?1", [cutoff])?;
            let over = tx.execute(
                "DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?1",
                [RETAIN_ROWS],
            )?;
            Ok::<_, StoreError>(old + over)
        })
        .await
}

/// Topics a subscriber asked for (all when `None`), as a filter.
pub fn wants(topics: Option<&[Topic]>, topic: Topic) -> bool {
    topics.is_none_or(|t| t.contains(&topic))
}

fn to_seq(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
