//! The queue's transactions on `tasks` and `task_attempts`: each function is one write (or
//! read) job on the store, with the `tasks` event of every state change in the same
//! transaction.
//!
//! Fencing: a worker's writes match `lease_id` *and* `state = 'running'`; a row that no
//! longer matches means the lease was lost, and nothing is written.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    Attempt, AttemptOutcome, DEFAULT_MAX_ATTEMPTS, Enqueued, Failure, Lease, MAX_ATTEMPTS_LIMIT,
    MAX_INPUT_BYTES, MAX_TAGS, NewTask, QueueError, Step, StepKind, Task, TaskEvent, TaskFailure,
    TaskState,
};
use crate::events::Event;
use crate::store::Db;
use crate::store::WriteTx;
use crate::store::values::{StoredEnum, at_stored_precision, json_to_db, time_from_db, time_to_db};

const COLUMNS: &str = "id, agent, capability, input, state, priority, run_at, max_attempts, \
    attempts, timeout_ms, tags, idempotency_key, lease_until, worker, cancel_requested, result, \
    error_code, error_message, created_by, created_at, updated_at, finished_at, seq, round, \
    agent_version";

/// Filters of [`super::Queue::list`].
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub agent: Option<String>,
    pub tag: Option<String>,
}

/// A [`NewTask`] whose fields were checked, with its fingerprint.
pub(super) struct Checked {
    new: NewTask,
    input: String,
    tags: String,
    fingerprint: String,
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

impl Checked {
    pub(super) fn task(&self) -> &NewTask {
        &self.new
    }

    /// The agent chosen for a capability and the attempts it gives a task that names none
    /// (the fingerprint stays the one of what was sent).
    pub(super) fn route(&mut self, agent: Option<String>, default_attempts: Option<u32>) {
        if agent.is_some() {
            self.new.agent = agent;
        }
        if self.new.max_attempts.is_none() {
            self.new.max_attempts = default_attempts;
        }
    }

    pub(super) fn new(mut new: NewTask) -> Result<Self, QueueError> {
        let invalid = |m: String| Err(QueueError::Invalid(m));
        match (&new.agent, &new.capability) {
            (None, None) => return invalid("a task names an `agent` or a `capability`".into()),
            (Some(_), Some(_)) => {
                return invalid("a task names an `agent` or a `capability`, not both".into());
            }
            (Some(n), None) | (None, Some(n)) if !valid_name(n) => {
                return invalid(format!(
                    "{n:?} is not a valid agent or capability name (1-128 of a-z, 0-9, - _ . : /)"
                ));
            }
            _ => {}
        }
        if let Some(key) = &new.idempotency_key
            && !crate::idempotency::valid_key(key)
        {
            return invalid(format!(
                "idempotency_key must be 1 to {} visible ASCII characters",
                crate::idempotency::MAX_KEY_LEN
            ));
        }
        // Hashed as sent (0: none given), so a default taken from the agent's settings later
        // does not change what the idempotency key is compared with.
        let max = new.max_attempts.unwrap_or(0);
        if new.max_attempts.is_some() && !(1..=MAX_ATTEMPTS_LIMIT).contains(&max) {
            return invalid(format!(
                "max_attempts must be 1 to {MAX_ATTEMPTS_LIMIT} (got {max})"
            ));
        }
        if new.timeout_ms == Some(0) {
            return invalid("timeout_ms must be at least 1".into());
        }
        if new.tags.len() > MAX_TAGS || new.tags.iter().any(|t| !valid_name(t)) {
            return invalid(format!(
                "at most {MAX_TAGS} tags, each 1-128 of a-z, 0-9, - _ . : /"
            ));
        }
        new.tags.sort();
        new.tags.dedup();
        let input = json_to_db(&new.input)?;
        if input.len() > MAX_INPUT_BYTES {
            return invalid(format!(
                "input is {} bytes; the limit is {MAX_INPUT_BYTES}",
                input.len()
            ));
        }
        let tags = json_to_db(&new.tags)?;
        let mut h = Sha256::new();
        for part in [
            new.agent.as_deref().unwrap_or(""),
            new.capability.as_deref().unwrap_or(""),
            &input,
            &tags,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(new.priority.to_le_bytes());
        h.update(max.to_le_bytes());
        h.update(new.timeout_ms.unwrap_or(0).to_le_bytes());
        h.update(new.run_at.map(time_to_db).unwrap_or(0).to_le_bytes());
        Ok(Self {
            new,
            input,
            tags,
            fingerprint: hex::encode(h.finalize()),
        })
    }
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn task_of(r: &Row<'_>) -> rusqlite::Result<(i64, Task)> {
    let json = |i: usize| -> rusqlite::Result<Value> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let opt_time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        r.get::<_, Option<i64>>(i)?.map(time_from_db).transpose()
    };
    let state: String = r.get(4)?;
    let tags = json(10)?;
    let result: Option<String> = r.get(15)?;
    let code: Option<String> = r.get(16)?;
    let message: Option<String> = r.get(17)?;
    let task = Task {
        id: r.get(0)?,
        agent: r.get(1)?,
        capability: r.get(2)?,
        input: json(3)?,
        state: TaskState::from_db(&state)?,
        priority: r.get(5)?,
        run_at: time_from_db(r.get(6)?)?,
        max_attempts: u32_of(r.get(7)?),
        attempts: u32_of(r.get(8)?),
        timeout_ms: r
            .get::<_, Option<i64>>(9)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        tags: serde_json::from_value(tags).unwrap_or_default(),
        idempotency_key: r.get(11)?,
        lease_until: opt_time(12)?,
        worker: r.get(13)?,
        cancel_requested: r.get::<_, i64>(14)? == 1,
        result: result.and_then(|t| serde_json::from_str(&t).ok()),
        error: code.map(|code| TaskFailure {
            code,
            message: message.unwrap_or_default(),
        }),
        created_by: r.get(18)?,
        created_at: time_from_db(r.get(19)?)?,
        updated_at: time_from_db(r.get(20)?)?,
        finished_at: opt_time(21)?,
        round: u32_of(r.get(23)?),
        agent_version: r.get(24)?,
    };
    Ok((r.get(22)?, task))
}

pub(super) fn get(db: &Db<'_>, id: &str) -> Result<Option<Task>, QueueError> {
    Ok(db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
            [id],
            task_of,
        )?
        .map(|(_, t)| t))
}

fn must_get(db: &Db<'_>, id: &str) -> Result<Task, QueueError> {
    get(db, id)?.ok_or_else(|| QueueError::NotFound(id.to_string()))
}

/// Appends the `tasks` event of `task`'s current state.
fn announce(tx: &mut WriteTx<'_>, task: &Task) -> Result<(), QueueError> {
    tx.append_event(Event::Tasks(TaskEvent {
        id: task.id.clone(),
        agent: task.agent.clone(),
        state: task.state,
        attempts: task.attempts,
        error_code: task.error.as_ref().map(|e| e.code.clone()),
    }))?;
    // A run's step: its run advances in this same transaction.
    super::runs::store::on_task(tx, task)
}

/// Re-reads `id` and announces it.
fn changed(tx: &mut WriteTx<'_>, id: &str) -> Result<Task, QueueError> {
    let task = must_get(tx, id)?;
    announce(tx, &task)?;
    Ok(task)
}

pub(super) fn enqueue(
    tx: &mut WriteTx<'_>,
    c: &Checked,
    id: &str,
    created_by: &str,
) -> Result<Enqueued, QueueError> {
    if let Some(key) = &c.new.idempotency_key {
        let found: Option<(String, String)> = tx.query_opt(
            "SELECT id, fingerprint FROM tasks WHERE idempotency_key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some((existing, print)) = found {
            if print != c.fingerprint {
                return Err(QueueError::KeyReused(key.clone()));
            }
            return Ok(Enqueued {
                task: must_get(tx, &existing)?,
                created: false,
            });
        }
    }
    let now = at_stored_precision(tx.now());
    let run_at = at_stored_precision(c.new.run_at.unwrap_or(now).max(now));
    let state = if run_at > now {
        TaskState::Scheduled
    } else {
        TaskState::Queued
    };
    tx.execute(
        "INSERT INTO tasks (id, agent, capability, input, state, priority, run_at, max_attempts, \
         attempts, attempt_seq, round, timeout_ms, tags, idempotency_key, fingerprint, \
         cancel_requested, created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, 0, ?9, ?10, ?11, ?12, 0, ?13, ?14, ?14)",
        params![
            id,
            c.new.agent,
            c.new.capability,
            c.input,
            state.as_db(),
            c.new.priority,
            time_to_db(run_at),
            c.new.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            c.new
                .timeout_ms
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            c.tags,
            c.new.idempotency_key,
            c.fingerprint,
            created_by,
            time_to_db(now),
        ],
    )?;
    // The row as written, without reading it back.
    let task = Task {
        id: id.to_string(),
        agent: c.new.agent.clone(),
        capability: c.new.capability.clone(),
        input: c.new.input.clone(),
        state,
        priority: c.new.priority,
        run_at,
        max_attempts: c.new.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        attempts: 0,
        timeout_ms: c.new.timeout_ms,
        tags: c.new.tags.clone(),
        idempotency_key: c.new.idempotency_key.clone(),
        lease_until: None,
        worker: None,
        cancel_requested: false,
        result: None,
        error: None,
        created_by: created_by.to_string(),
        created_at: now,
        updated_at: now,
        finished_at: None,
        round: 0,
        agent_version: None,
    };
    announce(tx, &task)?;
    Ok(Enqueued {
        task,
        created: true,
    })
}

pub(super) fn find_by_key(db: &Db<'_>, c: &Checked) -> Result<Option<Task>, QueueError> {
    let Some(key) = &c.new.idempotency_key else {
        return Ok(None);
    };
    let found: Option<(String, String)> = db.query_opt(
        "SELECT id, fingerprint FROM tasks WHERE idempotency_key = ?1",
        [key],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match found {
        None => Ok(None),
        Some((_, print)) if print != c.fingerprint => Err(QueueError::KeyReused(key.clone())),
        Some((id, _)) => get(db, &id),
    }
}

pub(super) fn attempts(db: &Db<'_>, id: &str) -> Result<Vec<Attempt>, QueueError> {
    must_get(db, id)?;
    Ok(db.query_all(
        "SELECT attempt, worker, started_at, finished_at, outcome, error_code, error_message \
         FROM task_attempts WHERE task_id = ?1 ORDER BY attempt",
        [id],
        |r| {
            let outcome: Option<String> = r.get(4)?;
            let code: Option<String> = r.get(5)?;
            let message: Option<String> = r.get(6)?;
            Ok(Attempt {
                attempt: u32_of(r.get(0)?),
                worker: r.get(1)?,
                started_at: time_from_db(r.get(2)?)?,
                finished_at: r.get::<_, Option<i64>>(3)?.map(time_from_db).transpose()?,
                outcome: outcome
                    .as_deref()
                    .map(AttemptOutcome::from_db)
                    .transpose()?,
                error: code.map(|code| TaskFailure {
                    code,
                    message: message.unwrap_or_default(),
                }),
            })
        },
    )?)
}

pub(super) fn list(
    db: &Db<'_>,
    f: &TaskFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<(i64, Task)>, QueueError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Only the conditions given, so SQLite can seek: `seq < ?` on the rowid, `state` and
    // `agent` on their (…, seq) indexes (an `?1 IS NULL OR …` would scan every row).
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(state) = f.state {
        clauses.push("state = ?");
        args.push(state.as_db().to_string().into());
    }
    if let Some(agent) = &f.agent {
        clauses.push("agent = ?");
        args.push(agent.clone().into());
    }
    if let Some(tag) = &f.tag {
        clauses.push("EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE value = ?)");
        args.push(tag.clone().into());
    }
    if let Some(seq) = before {
        clauses.push("seq < ?");
        args.push(seq.into());
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    args.push(limit.into());
    Ok(db.query_all(
        &format!("SELECT {COLUMNS} FROM tasks {filter} ORDER BY seq DESC LIMIT ?"),
        rusqlite::params_from_iter(args),
        task_of,
    )?)
}

pub(super) fn lease(
    tx: &mut WriteTx<'_>,
    worker: &str,
    n: usize,
    ttl: Duration,
    agent: Option<&str>,
) -> Result<Vec<Lease>, QueueError> {
    let now = tx.now();
    let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let ids: Vec<String> = match agent {
        // The index `tasks_ready` serves this one: (agent, priority, run_at, seq).
        Some(agent) => tx.query_all(
            "SELECT id FROM tasks WHERE state IN ('queued', 'scheduled') AND agent = ?1 \
               AND run_at <= ?2 ORDER BY priority DESC, run_at, seq LIMIT ?3",
            params![agent, time_to_db(now), limit],
            |r| r.get(0),
        )?,
        None => tx.query_all(
            "SELECT id FROM tasks WHERE state IN ('queued', 'scheduled') AND run_at <= ?1 \
             ORDER BY priority DESC, run_at, seq LIMIT ?2",
            params![time_to_db(now), limit],
            |r| r.get(0),
        )?,
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let lease_id = uuid::Uuid::new_v4().to_string();
        let ((_, task), attempt): ((i64, Task), i64) = tx.query_one(
            &format!(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1, \
                   attempt_seq = attempt_seq + 1, lease_id = ?2, lease_until = ?3, worker = ?4, \
                   updated_at = ?5 \
                 WHERE id = ?1 RETURNING {COLUMNS}, attempt_seq"
            ),
            params![id, lease_id, time_to_db(until), worker, time_to_db(now)],
            |r| Ok((task_of(r)?, r.get(25)?)),
        )?;
        tx.execute(
            "INSERT INTO task_attempts (task_id, attempt, lease_id, worker, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, attempt, lease_id, worker, time_to_db(now)],
        )?;
        announce(tx, &task)?;
        out.push(Lease {
            task,
            lease_id,
            attempt: u32_of(attempt),
            until,
        });
    }
    Ok(out)
}

/// The task held under `lease_id`, or `LeaseLost`.
fn held(tx: &WriteTx<'_>, id: &str, lease_id: &str) -> Result<(), QueueError> {
    let holds: Option<i64> = tx
        .conn()
        .query_row(
            "SELECT 1 FROM tasks WHERE id = ?1 AND lease_id = ?2 AND state = 'running'",
            params![id, lease_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| tx.err(e))?;
    match holds {
        Some(_) => Ok(()),
        None => {
            must_get(tx, id)?;
            Err(QueueError::LeaseLost(id.to_string()))
        }
    }
}

fn end_attempt(
    tx: &WriteTx<'_>,
    id: &str,
    lease_id: &str,
    outcome: AttemptOutcome,
    error: Option<&TaskFailure>,
) -> Result<(), QueueError> {
    tx.execute(
        "UPDATE task_attempts SET finished_at = ?3, outcome = ?4, error_code = ?5, \
           error_message = ?6 \
         WHERE task_id = ?1 AND lease_id = ?2 AND outcome IS NULL",
        params![
            id,
            lease_id,
            time_to_db(tx.now()),
            outcome.as_db(),
            error.map(|e| e.code.as_str()),
            error.map(|e| e.message.as_str()),
        ],
    )?;
    Ok(())
}

pub(super) fn pin_version(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    version: &str,
) -> Result<(), QueueError> {
    held(tx, id, lease_id)?;
    tx.execute(
        "UPDATE tasks SET agent_version = ?2 WHERE id = ?1 AND agent_version IS NULL",
        params![id, version],
    )?;
    Ok(())
}

pub(super) fn heartbeat(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    ttl: Duration,
) -> Result<bool, QueueError> {
    held(tx, id, lease_id)?;
    let until = tx.now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60));
    let cancel: i64 = tx.query_one(
        "UPDATE tasks SET lease_until = ?2 WHERE id = ?1 RETURNING cancel_requested",
        params![id, time_to_db(until)],
        |r| r.get(0),
    )?;
    Ok(cancel == 1)
}

pub(super) fn complete(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    result: &str,
) -> Result<Task, QueueError> {
    let now = time_to_db(tx.now());
    // Fenced in the statement itself: no row unless this lease still holds the task.
    let done = tx.query_opt(
        &format!(
            "UPDATE tasks SET state = 'succeeded', result = ?3, error_code = NULL, \
               error_message = NULL, lease_id = NULL, lease_until = NULL, updated_at = ?4, \
               finished_at = ?4 WHERE id = ?1 AND lease_id = ?2 AND state = 'running' \
             RETURNING {COLUMNS}"
        ),
        params![id, lease_id, result, now],
        task_of,
    )?;
    let Some((_, task)) = done else {
        must_get(tx, id)?;
        return Err(QueueError::LeaseLost(id.to_string()));
    };
    end_attempt(tx, id, lease_id, AttemptOutcome::Succeeded, None)?;
    announce(tx, &task)?;
    Ok(task)
}

/// After a failed or expired attempt: the next state and run time.
fn after_failure(
    task: &Task,
    kind: Failure,
    cancel_requested: bool,
    now: DateTime<Utc>,
    delay: Duration,
) -> (TaskState, DateTime<Utc>) {
    if cancel_requested {
        return (TaskState::Cancelled, now);
    }
    match kind {
        Failure::Permanent => (TaskState::Failed, now),
        Failure::Retryable if task.attempts >= task.max_attempts => (TaskState::Dead, now),
        Failure::Retryable => {
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            let state = if at > now {
                TaskState::Scheduled
            } else {
                TaskState::Queued
            };
            (state, at)
        }
    }
}

fn settle(
    tx: &mut WriteTx<'_>,
    task: &Task,
    state: TaskState,
    run_at: DateTime<Utc>,
    error: Option<&TaskFailure>,
) -> Result<Task, QueueError> {
    let now = time_to_db(tx.now());
    let finished = state.is_terminal().then_some(now);
    tx.execute(
        "UPDATE tasks SET state = ?2, run_at = ?3, error_code = ?4, error_message = ?5, \
           lease_id = NULL, lease_until = NULL, updated_at = ?6, finished_at = ?7 \
         WHERE id = ?1",
        params![
            task.id,
            state.as_db(),
            time_to_db(run_at),
            error.map(|e| e.code.as_str()),
            error.map(|e| e.message.as_str()),
            now,
            finished,
        ],
    )?;
    changed(tx, &task.id)
}

pub(super) fn fail(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    kind: Failure,
    error: &TaskFailure,
    delay: Duration,
) -> Result<Task, QueueError> {
    held(tx, id, lease_id)?;
    let task = must_get(tx, id)?;
    end_attempt(tx, id, lease_id, AttemptOutcome::Failed, Some(error))?;
    let (state, at) = after_failure(&task, kind, task.cancel_requested, tx.now(), delay);
    settle(tx, &task, state, at, Some(error))
}

pub(crate) fn park(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    state: TaskState,
    why: &str,
) -> Result<Task, QueueError> {
    held(tx, id, lease_id)?;
    let task = must_get(tx, id)?;
    let note = TaskFailure {
        code: "parked".into(),
        message: why.to_string(),
    };
    end_attempt(tx, id, lease_id, AttemptOutcome::Parked, Some(&note))?;
    tx.execute(
        "UPDATE tasks SET attempts = MAX(attempts - 1, 0) WHERE id = ?1",
        [id],
    )?;
    let state = if task.cancel_requested {
        TaskState::Cancelled
    } else if matches!(
        state,
        TaskState::WaitingForProvider | TaskState::WaitingApproval
    ) {
        state
    } else {
        TaskState::Queued
    };
    if state == TaskState::Cancelled {
        crate::approvals::store::close_for_task(tx, id, "the task was cancelled")?;
    }
    settle(tx, &task, state, tx.now(), None)
}

/// A task whose call a budget refused waits, scheduled for `run_at` (the budget's reset),
/// its attempt refunded and the reason on the task (or cancelled, if that was asked).
pub(crate) fn park_until(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    run_at: DateTime<Utc>,
    why: &TaskFailure,
) -> Result<Task, QueueError> {
    held(tx, id, lease_id)?;
    let task = must_get(tx, id)?;
    end_attempt(tx, id, lease_id, AttemptOutcome::Parked, Some(why))?;
    tx.execute(
        "UPDATE tasks SET attempts = MAX(attempts - 1, 0) WHERE id = ?1",
        [id],
    )?;
    if task.cancel_requested {
        crate::approvals::store::close_for_task(tx, id, "the task was cancelled")?;
        return settle(tx, &task, TaskState::Cancelled, tx.now(), None);
    }
    settle(tx, &task, TaskState::Scheduled, run_at, Some(why))
}

/// A task waiting for an approval goes back to the queue (its request was decided). A task
/// in another state (cancelled meanwhile) is left alone; `false` then.
pub(crate) fn resume_after_approval(tx: &mut WriteTx<'_>, id: &str) -> Result<bool, QueueError> {
    let now = time_to_db(tx.now());
    let n = tx.execute(
        "UPDATE tasks SET state = 'queued', run_at = ?2, updated_at = ?2 \
         WHERE id = ?1 AND state = 'waiting_approval'",
        params![id, now],
    )?;
    if n > 0 {
        changed(tx, id)?;
    }
    Ok(n > 0)
}

pub(super) fn wake_waiting(
    tx: &mut WriteTx<'_>,
    agents: Option<&[String]>,
) -> Result<usize, QueueError> {
    let agents_json = agents.map(json_to_db).transpose()?;
    let ids: Vec<String> = tx.query_all(
        "SELECT id FROM tasks WHERE state = 'waiting_for_provider' \
           AND (?1 IS NULL OR agent IN (SELECT value FROM json_each(?1)))",
        [agents_json],
        |r| r.get(0),
    )?;
    let now = time_to_db(tx.now());
    for id in &ids {
        tx.execute(
            "UPDATE tasks SET state = 'queued', run_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        changed(tx, id)?;
    }
    Ok(ids.len())
}

pub(super) fn wake_one_waiting(tx: &mut WriteTx<'_>, agent: &str) -> Result<bool, QueueError> {
    let id: Option<String> = tx.query_opt(
        "SELECT id FROM tasks WHERE state = 'waiting_for_provider' AND agent = ?1 \
         ORDER BY priority DESC, seq LIMIT 1",
        [agent],
        |r| r.get(0),
    )?;
    let Some(id) = id else { return Ok(false) };
    let now = time_to_db(tx.now());
    tx.execute(
        "UPDATE tasks SET state = 'queued', run_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    changed(tx, &id)?;
    Ok(true)
}

pub(super) fn cancel(tx: &mut WriteTx<'_>, id: &str) -> Result<Task, QueueError> {
    let task = must_get(tx, id)?;
    if task.state.is_terminal() {
        return Err(QueueError::Finished {
            id: id.to_string(),
            state: task.state,
            what: "it cannot be cancelled",
        });
    }
    let now = time_to_db(tx.now());
    if task.state == TaskState::Running {
        // The worker learns it at its next heartbeat or step and stops there.
        tx.execute(
            "UPDATE tasks SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        return changed(tx, id);
    }
    tx.execute(
        "UPDATE tasks SET state = 'cancelled', cancel_requested = 1, updated_at = ?2, \
           finished_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    // Its requests will never be acted on: they leave the inbox.
    crate::approvals::store::close_for_task(tx, id, "the task was cancelled")?;
    changed(tx, id)
}

pub(super) fn requeue(tx: &mut WriteTx<'_>, id: &str) -> Result<Task, QueueError> {
    let task = must_get(tx, id)?;
    if !matches!(
        task.state,
        TaskState::Dead | TaskState::Failed | TaskState::Cancelled
    ) {
        return Err(QueueError::NotRequeueable {
            id: id.to_string(),
            state: task.state,
        });
    }
    super::runs::store::check_requeue(tx, &task)?;
    let now = time_to_db(tx.now());
    tx.execute(
        "UPDATE tasks SET state = 'queued', attempts = 0, round = round + 1, run_at = ?2, \
           cancel_requested = 0, agent_version = NULL, \
           result = NULL, error_code = NULL, error_message = NULL, worker = NULL, \
           updated_at = ?2, finished_at = NULL WHERE id = ?1",
        params![id, now],
    )?;
    changed(tx, id)
}

pub(super) fn expire_leases(
    tx: &mut WriteTx<'_>,
    delay: impl Fn(u32) -> Duration,
) -> Result<usize, QueueError> {
    let now = tx.now();
    let expired: Vec<(String, String)> = tx.query_all(
        "SELECT id, lease_id FROM tasks WHERE state = 'running' AND lease_until < ?1",
        [time_to_db(now)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let error = TaskFailure {
        code: "lease_expired".into(),
        message: "the worker stopped renewing its lease (it crashed, was killed or stalled)".into(),
    };
    for (id, lease_id) in &expired {
        let task = must_get(tx, id)?;
        end_attempt(tx, id, lease_id, AttemptOutcome::Expired, Some(&error))?;
        let (state, at) = after_failure(
            &task,
            Failure::Retryable,
            task.cancel_requested,
            now,
            delay(task.attempts),
        );
        settle(tx, &task, state, at, Some(&error))?;
    }
    Ok(expired.len())
}

pub(super) fn counts(db: &Db<'_>) -> Result<Vec<(TaskState, u64)>, QueueError> {
    let rows: Vec<(String, i64)> = db.query_all(
        "SELECT state, COUNT(*) FROM tasks GROUP BY state",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.into_iter()
        .map(|(s, n)| {
            Ok((
                TaskState::from_db(&s).map_err(|e| db.err(e))?,
                u64::try_from(n).unwrap_or(0),
            ))
        })
        .collect()
}

pub(super) fn record_step(
    tx: &mut WriteTx<'_>,
    id: &str,
    lease_id: &str,
    attempt: u32,
    step: &Step,
) -> Result<(), QueueError> {
    held(tx, id, lease_id)?;
    let task = must_get(tx, id)?;
    tx.execute(
        "INSERT INTO task_steps (task_id, round, step, attempt, kind, call_id, name, message, \
           detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id,
            task.round,
            step.step,
            attempt,
            step.kind.as_db(),
            step.call_id,
            step.name,
            json_to_db(&step.message)?,
            step.detail.as_ref().map(json_to_db).transpose()?,
            time_to_db(tx.now()),
        ],
    )?;
    Ok(())
}

/// The steps of task `id` in `round` (`None`: its current round), in order.
pub(super) fn steps(db: &Db<'_>, id: &str, round: Option<u32>) -> Result<Vec<Step>, QueueError> {
    let task = must_get(db, id)?;
    let round = round.unwrap_or(task.round);
    Ok(db.query_all(
        "SELECT step, attempt, kind, call_id, name, message, detail, at FROM task_steps \
         WHERE task_id = ?1 AND round = ?2 ORDER BY step",
        params![id, round],
        |r| {
            let kind: String = r.get(2)?;
            let message: String = r.get(5)?;
            let detail: Option<String> = r.get(6)?;
            let bad = |e: serde_json::Error| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
            };
            Ok(Step {
                step: u32_of(r.get(0)?),
                attempt: u32_of(r.get(1)?),
                kind: StepKind::from_db(&kind)?,
                call_id: r.get(3)?,
                name: r.get(4)?,
                message: serde_json::from_str(&message).map_err(bad)?,
                detail: detail
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .map_err(bad)?,
                at: Some(time_from_db(r.get(7)?)?),
            })
        },
    )?)
}

pub(super) fn load(db: &Db<'_>) -> Result<Vec<(String, u64)>, QueueError> {
    let rows: Vec<(String, i64)> = db.query_all(
        "SELECT agent, COUNT(*) FROM tasks \
         WHERE state IN ('queued', 'scheduled', 'running') AND agent IS NOT NULL GROUP BY agent",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows
        .into_iter()
        .map(|(a, n)| (a, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// The tasks of `agent` created at or after `since`, added up.
pub(super) fn agent_stats(
    db: &Db<'_>,
    agent: &str,
    since: DateTime<Utc>,
) -> Result<super::AgentTaskStats, QueueError> {
    let since = time_to_db(since);
    // Tasks are numbered in creation order: the window starts after the newest task created
    // before it (found from the end, so only the window is read), and every query below
    // seeks the agent's tasks from there (`tasks_agent`).
    let after: i64 = db.query_one(
        "SELECT COALESCE((SELECT seq FROM tasks WHERE created_at < ?1 ORDER BY seq DESC LIMIT 1), 0)",
        [since],
        |r| r.get(0),
    )?;
    let window = "t.agent = ?1 AND t.seq > ?2 AND t.created_at >= ?3";
    let p = params![agent, after, since];
    let mut s = super::AgentTaskStats::default();
    let states: Vec<(String, i64)> = db.query_all(
        &format!("SELECT t.state, COUNT(*) FROM tasks t WHERE {window} GROUP BY t.state"),
        p,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (state, n) in states {
        let n = u64::try_from(n).unwrap_or(0);
        s.tasks += n;
        match state.as_str() {
            "succeeded" => s.succeeded += n,
            "failed" | "dead" => s.failed += n,
            "cancelled" => s.cancelled += n,
            _ => s.open += n,
        }
    }
    let (attempts, tried, output_invalid): (i64, i64, i64) = db.query_one(
        &format!(
            "SELECT \
               (SELECT COUNT(*) FROM task_attempts a JOIN tasks t ON t.id = a.task_id \
                  WHERE {window} AND a.outcome IS NOT 'parked'), \
               (SELECT COUNT(*) FROM tasks t WHERE {window} AND t.attempt_seq > 0), \
               (SELECT COUNT(*) FROM tasks t WHERE {window} AND t.error_code = 'output_invalid')"
        ),
        p,
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    s.attempts = u64::try_from(attempts).unwrap_or(0);
    s.retries = s.attempts.saturating_sub(u64::try_from(tried).unwrap_or(0));
    let mut durations: Vec<f64> = db.query_all(
        &format!(
            "SELECT a.finished_at - a.started_at FROM task_attempts a JOIN tasks t ON t.id = a.task_id \
             WHERE {window} AND a.outcome = 'succeeded'"
        ),
        p,
        |r| r.get::<_, i64>(0).map(|ms| ms as f64),
    )?;
    durations.sort_by(f64::total_cmp);
    s.duration_p50_ms = crate::providers::ledger::quantile(&durations, 0.5);
    s.duration_p95_ms = crate::providers::ledger::quantile(&durations, 0.95);
    let kinds: Vec<(String, i64)> = db.query_all(
        &format!(
            "SELECT s.kind, COUNT(*) FROM task_steps s JOIN tasks t ON t.id = s.task_id \
             WHERE {window} GROUP BY s.kind"
        ),
        p,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (kind, n) in kinds {
        let n = u64::try_from(n).unwrap_or(0);
        s.steps += n;
        match kind.as_str() {
            "model" => s.model_steps += n,
            "tool" => s.tool_steps += n,
            "reask" => s.reasks += n,
            _ => s.summaries += n,
        }
    }
    // Steps per finished task: the steps of their last round only.
    let finished_steps: i64 = db.query_one(
        &format!(
            "SELECT COUNT(*) FROM task_steps s JOIN tasks t ON t.id = s.task_id \
             WHERE {window} AND s.round = t.round \
               AND t.state IN ('succeeded', 'failed', 'dead', 'cancelled')"
        ),
        p,
        |r| r.get(0),
    )?;
    let finished = s.succeeded + s.failed;
    s.success_rate = (finished > 0).then(|| s.succeeded as f64 / finished as f64);
    let checks_failed = s.reasks + u64::try_from(output_invalid).unwrap_or(0);
    s.validation_failures = checks_failed;
    s.validation_pass_rate = (s.succeeded + checks_failed > 0)
        .then(|| s.succeeded as f64 / (s.succeeded + checks_failed) as f64);
    let done = s.succeeded + s.failed + s.cancelled;
    s.steps_per_task = (done > 0).then(|| finished_steps as f64 / done as f64);
    Ok(s)
}
