//! The audit log (`audit_log`): an append-only, hash-chained record of every proposal,
//! decision, edit, escalation, execution, standing approval, policy or config change and
//! token change, with its actor and time.
//!
//! Each entry's `hash` is SHA-256 over a domain tag, the previous entry's hash and the
//! entry's own fields (`seq`, `at`, `actor`, `kind`, `subject`, `detail` as stored), each
//! length-prefixed (see [`entry_hash`]); the first entry links to [`GENESIS`]. [`verify`]
//! walks the chain and names the first entry that was altered, removed or moved; the head
//! (`seq` and `hash` of the last entry), exported and compared later, also proves that
//! nothing was cut from the end or rewritten wholesale.
//!
//! Invariants: an entry is appended in the same write transaction as the change it records
//! ([`append`] takes the transaction), so a change and its audit entry commit together;
//! `seq` counts from 1 without gaps; entries are never updated or deleted (triggers refuse
//! it, retention keeps them forever).

mod export;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::store::values::{time_from_db, time_to_db};
use crate::store::{Db, Store, StoreError, WriteTx};

pub use export::{ExportFormat, export};

/// What the first entry links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An action was proposed and a rule required a human decision (a request was created).
    ApprovalRequested,
    /// A rule allowed a proposed action at once.
    ActionAllowed,
    /// A rule denied a proposed action.
    ActionDenied,
    /// One approver's approval of a request that needs more than one.
    ApprovalVoted,
    /// A request was decided (approved, rejected).
    ApprovalDecided,
    /// An approver changed the arguments when approving (the diff is in the detail).
    ApprovalEdited,
    /// A request's SLA is close (the warning step).
    ApprovalWarned,
    /// A request passed its SLA and moved along the escalation chain.
    ApprovalEscalated,
    /// A request's SLA ran out and its rule's timeout action decided it.
    ApprovalExpired,
    /// An approved or allowed action ran (its outcome is in the detail).
    ActionExecuted,
    StandingApprovalCreated,
    StandingApprovalRevoked,
    /// The `[actions]` or `[[policies]]` in force changed.
    PoliciesChanged,
    /// The config in force changed (or a change was refused).
    ConfigChanged,
    TokenCreated,
    TokenRevoked,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApprovalRequested => "approval_requested",
            Self::ActionAllowed => "action_allowed",
            Self::ActionDenied => "action_denied",
            Self::ApprovalVoted => "approval_voted",
            Self::ApprovalDecided => "approval_decided",
            Self::ApprovalEdited => "approval_edited",
            Self::ApprovalWarned => "approval_warned",
            Self::ApprovalEscalated => "approval_escalated",
            Self::ApprovalExpired => "approval_expired",
            Self::ActionExecuted => "action_executed",
            Self::StandingApprovalCreated => "standing_approval_created",
            Self::StandingApprovalRevoked => "standing_approval_revoked",
            Self::PoliciesChanged => "policies_changed",
            Self::ConfigChanged => "config_changed",
            Self::TokenCreated => "token_created",
            Self::TokenRevoked => "token_revoked",
        }
    }
}

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: String,
    pub kind: AuditKind,
    pub subject: String,
    pub detail: Value,
}

impl NewEntry {
    pub fn new(
        actor: impl Into<String>,
        kind: AuditKind,
        subject: impl Into<String>,
        detail: Value,
    ) -> Self {
        Self {
            actor: actor.into(),
            kind,
            subject: subject.into(),
            detail,
        }
    }
}

/// One entry as stored. `kind` is text here: a verifier must be able to show a row whatever
/// was written into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The last entry of the chain: keep it somewhere else and compare later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainHead {
    /// A whole number (`436`, not `436.0`).
    pub seq: u64,
    pub hash: String,
}

/// What [`verify`] found wrong first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's contents no longer match its hash, or the entry's hash was recomputed
    /// (the next entry no longer links to it).
    Altered,
    /// Entries are missing (a gap in `seq`, or a link to an entry that is not there).
    Removed,
    /// The entry links to an entry that is elsewhere in the log.
    Reordered,
    /// The log ends before the head that was kept.
    Truncated,
    /// The entry at the kept head's `seq` is not the one that was kept.
    Rewritten,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The entry it is about (for `removed`, the first missing one).
    pub seq: u64,
    pub message: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The log's head as found (`None`: empty).
    pub head: Option<ChainHead>,
    /// The first problem (`None` when `ok`).
    pub problem: Option<Problem>,
}

/// The hash of an entry with these fields (`detail` as the stored JSON text).
pub fn entry_hash(
    prev_hash: &str,
    seq: u64,
    at_ms: i64,
    actor: &str,
    kind: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"flightdeck-audit-v1");
    let seq = seq.to_string();
    let at = at_ms.to_string();
    for field in [prev_hash, &seq, &at, actor, kind, subject, detail] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends `entry` in `tx` (so it commits with the change it records); answers its `seq`.
pub fn append(tx: &WriteTx<'_>, entry: &NewEntry) -> Result<u64, StoreError> {
    let last: Option<(i64, String)> = tx.query_opt(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (seq, prev) = match last {
        Some((s, h)) => (u64::try_from(s).unwrap_or(0) + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let at = time_to_db(tx.now());
    let detail = crate::store::values::json_to_db(&entry.detail)?;
    let kind = entry.kind.as_str();
    let hash = entry_hash(&prev, seq, at, &entry.actor, kind, &entry.subject, &detail);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, kind, subject, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            i64::try_from(seq).unwrap_or(i64::MAX),
            at,
            entry.actor,
            kind,
            entry.subject,
            detail,
            prev,
            hash
        ],
    )?;
    Ok(seq)
}

/// A stored row, `detail` as its text.
pub(crate) struct Row {
    pub seq: u64,
    pub at_ms: i64,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Row {
    pub(crate) const COLUMNS: &'static str =
        "seq, at, actor, kind, subject, detail, prev_hash, hash";

    pub(crate) fn from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            at_ms: r.get(1)?,
            actor: r.get(2)?,
            kind: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: r.get(6)?,
            hash: r.get(7)?,
        })
    }

    fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            self.at_ms,
            &self.actor,
            &self.kind,
            &self.subject,
            &self.detail,
        )
    }

    pub(crate) fn entry(&self) -> rusqlite::Result<AuditEntry> {
        Ok(AuditEntry {
            seq: self.seq,
            at: time_from_db(self.at_ms)?,
            actor: self.actor.clone(),
            kind: self.kind.clone(),
            subject: self.subject.clone(),
            detail: serde_json::from_str(&self.detail)
                .unwrap_or_else(|_| Value::String(self.detail.clone())),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// Which entries [`list`] answers (newest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    /// Only entries before this `seq` (the next page).
    pub before: Option<u64>,
}

/// Up to `limit` entries matching `filter`, newest first.
pub fn list(
    db: &Db<'_>,
    filter: &AuditFilter,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = db.query_all(
        &format!(
            "SELECT {} FROM audit_log WHERE (?1 IS NULL OR kind = ?1) \
               AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR subject = ?3) \
               AND (?4 IS NULL OR seq < ?4) ORDER BY seq DESC LIMIT ?5",
            Row::COLUMNS
        ),
        rusqlite::params![
            filter.kind,
            filter.actor,
            filter.subject,
            filter.before.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        Row::from_sql,
    )?;
    rows.iter()
        .map(|r| r.entry().map_err(|e| db.err(e)))
        .collect()
}

/// The head of the log (`None`: empty).
pub fn head(db: &Db<'_>) -> Result<Option<ChainHead>, StoreError> {
    db.query_opt(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        [],
        |r| {
            Ok(ChainHead {
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                hash: r.get(1)?,
            })
        },
    )
}

fn problem(kind: ProblemKind, seq: u64, message: String) -> Option<Problem> {
    Some(Problem { kind, seq, message })
}

/// Calls `f` with every entry, oldest first, streaming (the log is never held in memory).
pub(crate) fn each_row(
    db: &Db<'_>,
    mut f: impl FnMut(Row) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut st = db
        .conn()
        .prepare(&format!(
            "SELECT {} FROM audit_log ORDER BY seq",
            Row::COLUMNS
        ))
        .map_err(|e| db.err(e))?;
    let mut rows = st.query([]).map_err(|e| db.err(e))?;
    while let Some(r) = rows.next().map_err(|e| db.err(e))? {
        f(Row::from_sql(r).map_err(|e| db.err(e))?)?;
    }
    Ok(())
}

/// Walks the whole chain (one read snapshot) and reports the first problem; with `kept`, a
/// head exported earlier, also checks that the log still reaches it unchanged.
pub fn verify(db: &Db<'_>, kept: Option<&ChainHead>) -> Result<Verification, StoreError> {
    let mut entries = 0u64;
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS.to_string();
    let mut last: Option<ChainHead> = None;
    let mut found: Option<Problem> = None;
    let mut kept_seen = false;
    each_row(db, |row| {
        entries += 1;
        if found.is_none() {
            found = check(db, &row, expected_seq, &prev_hash)?;
        }
        if let Some(k) = kept
            && k.seq == row.seq
        {
            kept_seen = true;
            if found.is_none() && k.hash != row.hash {
                found = problem(
                    ProblemKind::Rewritten,
                    row.seq,
                    format!(
                        "entry {} is not the one the kept head names: the log was rewritten from there or before",
                        row.seq
                    ),
                );
            }
        }
        expected_seq = row.seq + 1;
        prev_hash = row.hash.clone();
        last = Some(ChainHead {
            seq: row.seq,
            hash: row.hash,
        });
        Ok(())
    })?;
    if found.is_none()
        && let Some(k) = kept
        && !kept_seen
    {
        let end = last.as_ref().map_or(0, |h| h.seq);
        found = problem(
            ProblemKind::Truncated,
            end + 1,
            format!(
                "the log ends at entry {end} but the kept head is entry {}: entries {}..={} were cut from the end",
                k.seq,
                end + 1,
                k.seq
            ),
        );
    }
    Ok(Verification {
        ok: found.is_none(),
        entries,
        head: last,
        problem: found,
    })
}

/// The problem with `row`, which should be entry `expected_seq` linking to `prev_hash`.
fn check(
    db: &Db<'_>,
    row: &Row,
    expected_seq: u64,
    prev_hash: &str,
) -> Result<Option<Problem>, StoreError> {
    if row.seq != expected_seq {
        let last = row.seq.saturating_sub(1);
        let what = if last == expected_seq {
            format!("entry {expected_seq} was removed")
        } else {
            format!("entries {expected_seq}..={last} were removed")
        };
        return Ok(problem(
            ProblemKind::Removed,
            expected_seq,
            format!(
                "{what} (the log goes from {} to {})",
                expected_seq.saturating_sub(1),
                row.seq
            ),
        ));
    }
    if row.prev_hash != prev_hash {
        // Where does it link to, then?
        let linked: Option<i64> = db.query_opt(
            "SELECT seq FROM audit_log WHERE hash = ?1 LIMIT 1",
            [&row.prev_hash],
            |r| r.get(0),
        )?;
        return Ok(match linked {
            // Its link is intact but its own contents are not: this entry was changed (its
            // link with it), not the one before.
            None if row.computed_hash() != row.hash => problem(
                ProblemKind::Altered,
                row.seq,
                format!(
                    "entry {} was altered: its contents no longer match its hash",
                    row.seq
                ),
            ),
            Some(other) => problem(
                ProblemKind::Reordered,
                row.seq,
                format!(
                    "entry {} was moved: it was written after the entry now at {other}, not after entry {}",
                    row.seq,
                    row.seq.saturating_sub(1)
                ),
            ),
            None if row.seq > 1 => problem(
                ProblemKind::Altered,
                row.seq - 1,
                format!(
                    "entry {} was altered: entry {} links to a different entry {} (its hash was recomputed, or it was replaced)",
                    row.seq - 1,
                    row.seq,
                    row.seq - 1
                ),
            ),
            None => problem(
                ProblemKind::Removed,
                1,
                "the first entry does not start the chain: entries before it were removed".into(),
            ),
        });
    }
    if row.computed_hash() != row.hash {
        return Ok(problem(
            ProblemKind::Altered,
            row.seq,
            format!(
                "entry {} was altered: its contents no longer match its hash",
                row.seq
            ),
        ));
    }
    Ok(None)
}

/// The audit log as the rest of the engine sees it (`engine.audit()`).
#[derive(Clone, Debug)]
pub struct Audit {
    store: Store,
}

impl Audit {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Appends one entry in a transaction of its own.
    pub async fn record(&self, entry: NewEntry) -> Result<u64, StoreError> {
        self.store.write(move |tx| append(tx, &entry)).await
    }

    pub async fn list(
        &self,
        filter: AuditFilter,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.read(move |db| list(db, &filter, limit)).await
    }

    pub async fn head(&self) -> Result<Option<ChainHead>, StoreError> {
        self.store.read(head).await
    }

    pub async fn verify(&self, kept: Option<ChainHead>) -> Result<Verification, StoreError> {
        self.store.read(move |db| verify(db, kept.as_ref())).await
    }

    /// The whole log in `format`, oldest first, with the head it ends at.
    pub async fn export(
        &self,
        format: ExportFormat,
    ) -> Result<(Vec<u8>, Option<ChainHead>), StoreError> {
        self.store
            .read(move |db| {
                let mut out = Vec::new();
                let head = export(db, format, &mut out)?;
                Ok((out, head))
            })
            .await
    }
}
