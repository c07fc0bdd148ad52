//! Retention: the rule for every table that grows with time, in one place.
//!
//! | table | kept |
//! | --- | --- |
//! | `events` | 7 days, at most the newest 1,000,000 ([`crate::events::log`]) |
//! | `health_transitions` | 90 days ([`crate::health::history`]) |
//! | `idempotency_keys` | 24 hours ([`crate::idempotency`]) |
//! | `meta` | forever (a handful of rows) |
//! | `audit_log` | forever (accountability; its triggers refuse deletes) ([`crate::audit`]) |
//! | `approval_requests`, `approval_votes`, `standing_approvals`, `action_executions` | forever (what the audit log names; small) |
//!
//! Later domains add their row here: the ledger is kept forever (money), tasks by their own
//! rule. Pruning runs at start and every [`EVERY`],
//! each rule in its own write transaction; a failure is logged and retried next time.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::Store;

/// How often pruning runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Applies every rule as of `now`.
pub async fn run(store: &Store, now: DateTime<Utc>) {
    match crate::events::log::prune(store, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "pruned old events"),
        Err(error) => tracing::warn!(%error, "pruning events failed; retried in an hour"),
    }
    match crate::health::history::prune(store, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "pruned old health transitions"),
        Err(error) => {
            tracing::warn!(%error, "pruning health transitions failed; retried in an hour")
        }
    }
    match crate::idempotency::prune(store, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, "pruned old idempotency keys"),
        Err(error) => {
            tracing::warn!(%error, "pruning idempotency keys failed; retried in an hour")
        }
    }
}
