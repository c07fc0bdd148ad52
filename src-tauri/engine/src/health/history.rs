//! The history of health transitions (`health_transitions`): owned by health, written with
//! the transition's event in one transaction, kept [`RETAIN_FOR`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::HealthStatus;
use crate::events::Event;
use crate::store::values::{self, StoredEnum};
use crate::store::{Store, StoreError};

/// How long transitions are kept.
pub const RETAIN_FOR: Duration = Duration::from_secs(90 * 24 * 3600);

impl StoredEnum for HealthStatus {
    const ALL: &'static [Self] = &[Self::Healthy, Self::Degraded, Self::Unhealthy];
    fn as_db(self) -> &'static str {
        self.as_str()
    }
}

/// One stored transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthTransition {
    pub id: i64,
    pub dependency: String,
    /// `None` for the first observation after a start.
    pub from: Option<HealthStatus>,
    pub to: HealthStatus,
    pub message: Option<String>,
    pub at: DateTime<Utc>,
}

/// A transition to store; with `publish`, its [`Event::Health`] goes into the same
/// transaction (the first observation after a start is stored, not published).
#[derive(Debug, Clone)]
pub(super) struct NewTransition {
    pub dependency: String,
    pub from: Option<HealthStatus>,
    pub to: HealthStatus,
    pub message: Option<String>,
    pub at: DateTime<Utc>,
}

/// Stores `t` (and its event) unless the history already ends in `t.to` for that
/// dependency: a write that timed out but committed must not be stored twice when the
/// next report retries it.
pub(super) fn record(
    store: &Store,
    t: NewTransition,
) -> impl Future<Output = Result<(), StoreError>> + Send + 'static + use<> {
    store.write(move |tx| {
        let last: Option<String> = tx.query_opt(
            "SELECT to_status FROM health_transitions WHERE dependency = ?1 \
             ORDER BY id DESC LIMIT 1",
            [&t.dependency],
            |r| r.get(0),
        )?;
        if t.from.is_some() && last.as_deref() == Some(t.to.as_db()) {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO health_transitions (dependency, from_status, to_status, message, at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                t.dependency,
                t.from.map(StoredEnum::as_db),
                t.to.as_db(),
                t.message,
                values::time_to_db(t.at)
            ],
        )?;
        if let Some(from) = t.from {
            tx.append_event(Event::Health {
                dependency: t.dependency.clone(),
                from,
                to: t.to,
                message: t.message.clone(),
            })?;
        }
        Ok(())
    })
}

/// A `health_transitions` row (`id, dependency, from_status, to_status, message, at`).
fn transition_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<HealthTransition> {
    let from: Option<String> = r.get(2)?;
    Ok(HealthTransition {
        id: r.get(0)?,
        dependency: r.get(1)?,
        from: from.as_deref().map(HealthStatus::from_db).transpose()?,
        to: HealthStatus::from_db(&r.get::<_, String>(3)?)?,
        message: r.get(4)?,
        at: values::time_from_db(r.get(5)?)?,
    })
}

/// Stored transitions, newest first: at most `limit`, with ids below `before` when given.
pub async fn list(
    store: &Store,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<HealthTransition>, StoreError> {
    store
        .read(move |db| {
            db.query_all(
                "SELECT id, dependency, from_status, to_status, message, at \
                 FROM health_transitions WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                rusqlite::params![before.unwrap_or(i64::MAX), limit],
                transition_of,
            )
        })
        .await
}

/// Transitions in `[from, until)`, oldest first (at most `limit`).
pub async fn between(
    store: &Store,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<HealthTransition>, StoreError> {
    store
        .read(move |db| {
            db.query_all(
                "SELECT id, dependency, from_status, to_status, message, at \
                 FROM health_transitions WHERE at >= ?1 AND at < ?2 ORDER BY id LIMIT ?3",
                rusqlite::params![values::time_to_db(from), values::time_to_db(until), limit],
                transition_of,
            )
        })
        .await
}

/// Deletes transitions older than [`RETAIN_FOR`] as of `now`.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let cutoff =
        values::time_to_db(now) - i64::try_from(RETAIN_FOR.as_millis()).unwrap_or(i64::MAX);
    store
        .write(move |tx| tx.execute("DELETE FROM health_transitions WHERE at < ?1", [cutoff]))
        .await
}
