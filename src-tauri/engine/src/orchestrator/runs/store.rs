//! The runs' transactions on `runs` and `run_steps`: create a run and start its first
//! steps; advance a run when one of its step tasks changes (in that change's transaction,
//! called from the queue's `announce`); cancel; read.
//!
//! Invariant: a step's task is created in the transaction that settled the last step it
//! needs and linked to it there (`run_steps.task_id`), so no crash can lose a step or start
//! one twice. A step that cannot be created (its input too large, say) fails the step, not
//! the transaction that settled the step before it.

use std::collections::BTreeMap;

use rusqlite::params;
use serde_json::Value;

use super::decide::{self, AnswerGroup, RunState, StepNow, StepState};
use super::spec::{self, Resolved};
use super::{Run, RunError, RunEvent, RunEventStep, RunFilter, RunStep};
use crate::events::Event;
use crate::orchestrator::queue::{self, Checked};
use crate::orchestrator::{NewTask, QueueError, Task, TaskFailure, TaskState};
use crate::store::values::{StoredEnum, json_to_db, time_from_db, time_to_db};
use crate::store::{Db, StoreError, WriteTx};

/// The actor of a run's step tasks, and the prefix that tells the queue a task is a step.
pub(crate) const ACTOR_PREFIX: &str = "run:";

const RUN_COLUMNS: &str = "id, name, spec, input, state, result, disagreements, decided_by, \
    error_code, error_message, idempotency_key, created_by, created_at, updated_at, finished_at, seq";

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn run_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Run)> {
    let spec: Resolved = parse(&r.get::<_, String>(2)?)?;
    let opt_json = |i: usize| -> rusqlite::Result<Option<Value>> {
        r.get::<_, Option<String>>(i)?
            .map(|t| parse(&t))
            .transpose()
    };
    let code: Option<String> = r.get(8)?;
    let message: Option<String> = r.get(9)?;
    Ok((
        r.get(15)?,
        Run {
            id: r.get(0)?,
            name: r.get(1)?,
            input: parse(&r.get::<_, String>(3)?)?,
            state: RunState::from_db(&r.get::<_, String>(4)?)?,
            result: opt_json(5)?,
            disagreements: r
                .get::<_, Option<String>>(6)?
                .map(|t| parse(&t))
                .transpose()?
                .unwrap_or_default(),
            decided_by: r
                .get::<_, Option<String>>(7)?
                .map(|t| parse(&t))
                .transpose()?
                .unwrap_or_default(),
            error: code.map(|code| TaskFailure {
                code,
                message: message.unwrap_or_default(),
            }),
            idempotency_key: r.get(10)?,
            created_by: r.get(11)?,
            created_at: time_from_db(r.get(12)?)?,
            updated_at: time_from_db(r.get(13)?)?,
            finished_at: r.get::<_, Option<i64>>(14)?.map(time_from_db).transpose()?,
            spec,
            steps: Vec::new(),
        },
    ))
}

/// Run `id` with its steps.
pub(crate) fn get(db: &Db<'_>, id: &str) -> Result<Option<Run>, RunError> {
    let found = db.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
        [id],
        run_of,
    )?;
    let Some((_, mut run)) = found else {
        return Ok(None);
    };
    run.steps = steps(db, &run)?;
    Ok(Some(run))
}

fn must_get(db: &Db<'_>, id: &str) -> Result<Run, RunError> {
    get(db, id)?.ok_or_else(|| RunError::NotFound(id.to_string()))
}

/// The steps of `run`, with their tasks' progress.
fn steps(db: &Db<'_>, run: &Run) -> Result<Vec<RunStep>, StoreError> {
    let levels = run.spec.levels();
    let rows: Vec<StepRow> = db.query_all(
        "SELECT s.step, s.agent, s.state, s.task_id, t.state, t.attempts, t.result, \
           t.error_code, t.error_message, t.finished_at, s.error_code, s.error_message \
         FROM run_steps s LEFT JOIN tasks t ON t.id = s.task_id \
         WHERE s.run_id = ?1 ORDER BY s.position",
        [&run.id],
        |r| {
            let task = match r.get::<_, Option<String>>(4)? {
                None => None,
                Some(state) => Some(TaskRow {
                    state: TaskState::from_db(&state)?,
                    attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    result: r
                        .get::<_, Option<String>>(6)?
                        .map(|t| parse(&t))
                        .transpose()?,
                    error: r.get::<_, Option<String>>(7)?.map(|code| TaskFailure {
                        code,
                        message: r
                            .get::<_, Option<String>>(8)
                            .ok()
                            .flatten()
                            .unwrap_or_default(),
                    }),
                    finished_at: r.get::<_, Option<i64>>(9)?.map(time_from_db).transpose()?,
                }),
            };
            let unstarted = r.get::<_, Option<String>>(10)?.map(|code| TaskFailure {
                code,
                message: r
                    .get::<_, Option<String>>(11)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            });
            Ok((
                r.get(0)?,
                r.get(1)?,
                StepState::from_db(&r.get::<_, String>(2)?)?,
                r.get(3)?,
                task,
                unstarted,
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, agent, state, task_id, task, unstarted)| {
            let needs = run
                .spec
                .step(&id)
                .map(|s| s.needs.clone())
                .unwrap_or_default();
            RunStep {
                level: levels.get(&id).copied().unwrap_or(0),
                state,
                task_state: task.as_ref().map(|t| t.state),
                attempts: task.as_ref().map(|t| t.attempts),
                result: task.as_ref().and_then(|t| t.result.clone()),
                error: task.as_ref().and_then(|t| t.error.clone()).or(unstarted),
                finished_at: task.as_ref().and_then(|t| t.finished_at),
                id,
                agent,
                needs,
                task_id,
            }
        })
        .collect())
}

/// A `run_steps` row: step, agent, state, task id, the task's progress, and why the step
/// could not start.
type StepRow = (
    String,
    String,
    StepState,
    Option<String>,
    Option<TaskRow>,
    Option<TaskFailure>,
);

struct TaskRow {
    state: TaskState,
    attempts: u32,
    result: Option<Value>,
    error: Option<TaskFailure>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs matching `filter`, newest first, after the cursor `before` (a `seq`).
pub(crate) fn list(
    db: &Db<'_>,
    filter: &RunFilter,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<(i64, Run)>, RunError> {
    let rows = db.query_all(
        &format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR state = ?1) \
               AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR seq < ?3) \
             ORDER BY seq DESC LIMIT ?4"
        ),
        params![
            filter.state.map(|s| s.as_db()),
            filter.name,
            before,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        run_of,
    )?;
    rows.into_iter()
        .map(|(seq, mut run)| {
            run.steps = steps(db, &run)?;
            Ok((seq, run))
        })
        .collect()
}

/// What a new run is.
pub(crate) struct NewRunRow {
    pub id: String,
    pub name: Option<String>,
    pub spec: Resolved,
    pub input: Value,
    pub idempotency_key: Option<String>,
    pub fingerprint: String,
    pub created_by: String,
}

/// Creates a run (or finds the one its idempotency key names) and starts its first steps.
pub(crate) fn create(tx: &mut WriteTx<'_>, new: &NewRunRow) -> Result<(Run, bool), RunError> {
    if let Some(key) = &new.idempotency_key {
        let found: Option<(String, String)> = tx.query_opt(
            "SELECT id, fingerprint FROM runs WHERE idempotency_key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some((id, print)) = found {
            if print != new.fingerprint {
                return Err(RunError::KeyReused(key.clone()));
            }
            return Ok((must_get(tx, &id)?, false));
        }
    }
    let now = time_to_db(tx.now());
    tx.execute(
        "INSERT INTO runs (id, name, spec, input, state, idempotency_key, fingerprint, \
           created_by, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?8)",
        params![
            new.id,
            new.name,
            json_to_db(&new.spec)?,
            json_to_db(&new.input)?,
            new.idempotency_key,
            new.fingerprint,
            new.created_by,
            now
        ],
    )?;
    for (i, s) in new.spec.steps.iter().enumerate() {
        tx.execute(
            "INSERT INTO run_steps (run_id, step, position, agent, state) \
             VALUES (?1, ?2, ?3, ?4, 'pending')",
            params![new.id, s.id, i64::try_from(i).unwrap_or(0), s.agent],
        )?;
    }
    advance(tx, &new.id, true)?;
    Ok((must_get(tx, &new.id)?, true))
}

/// Whether `task` may be requeued as far as runs go: a step of a run that succeeded or was
/// cancelled, or one its run left behind, would spend again for a result nobody reads.
pub(crate) fn check_requeue(tx: &WriteTx<'_>, task: &Task) -> Result<(), QueueError> {
    if !task.created_by.starts_with(ACTOR_PREFIX) {
        return Ok(());
    }
    let found: Option<(String, String)> = tx.query_opt(
        "SELECT r.id, r.state FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE s.task_id = ?1",
        [&task.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    match found {
        Some((_, state)) if state == "running" || state == "failed" => Ok(()),
        Some((run, state)) => Err(QueueError::StepOfDecidedRun {
            id: task.id.clone(),
            why: format!("it is a step of run {run}, which is {state}: start a new run instead"),
        }),
        None => Err(QueueError::StepOfDecidedRun {
            id: task.id.clone(),
            why: "its run no longer follows it (the step started again with a new task)".into(),
        }),
    }
}

/// The queue's hook: `task` changed (in `tx`); when it is a run's step, the run advances.
pub(crate) fn on_task(tx: &mut WriteTx<'_>, task: &Task) -> Result<(), QueueError> {
    if !task.created_by.starts_with(ACTOR_PREFIX) {
        return Ok(());
    }
    let run: Option<String> = tx.query_opt(
        "SELECT run_id FROM run_steps WHERE task_id = ?1",
        [&task.id],
        |r| r.get(0),
    )?;
    match run {
        Some(run) => advance(tx, &run, false).map_err(|e| match e {
            RunError::Queue(q) => q,
            RunError::Store(s) => QueueError::Store(s),
            other => QueueError::Invalid(other.to_string()),
        }),
        // A step task being created: its row is linked right after.
        None => Ok(()),
    }
}

/// Applies the decision for run `id` as it is now; announces the run when anything changed
/// (always when `created`).
fn advance(tx: &mut WriteTx<'_>, id: &str, created: bool) -> Result<(), RunError> {
    let run = must_get(tx, id)?;
    let now_steps: Vec<StepNow> = run
        .steps
        .iter()
        .map(|s| StepNow {
            state: s.state,
            task: s.task_state.map(|t| (t, s.result.clone(), s.finished_at)),
        })
        .collect();
    let d = decide::decide(&run.spec, &now_steps, run.state);
    let now = time_to_db(tx.now());
    let mut changed = created;
    if d.reopen {
        tx.execute(
            "UPDATE runs SET state = 'running', result = NULL, disagreements = NULL, \
               decided_by = NULL, error_code = NULL, error_message = NULL, updated_at = ?2, \
               finished_at = NULL WHERE id = ?1",
            params![id, now],
        )?;
        changed = true;
    }
    if let Some(out) = &d.finish {
        tx.execute(
            "UPDATE runs SET state = ?2, result = ?3, disagreements = ?4, decided_by = ?5, \
               error_code = ?6, error_message = ?7, updated_at = ?8, finished_at = ?8 \
             WHERE id = ?1",
            params![
                id,
                out.state.as_db(),
                out.result.as_ref().map(json_to_db).transpose()?,
                json_to_db(&out.disagreements)?,
                json_to_db(&out.decided_by)?,
                out.error.as_ref().map(|e| e.0.as_str()),
                out.error.as_ref().map(|e| e.1.as_str()),
                now
            ],
        )?;
        changed = true;
    }
    // Outputs of the steps that succeeded: the inputs of the steps that start.
    let outputs: BTreeMap<String, Value> = run
        .steps
        .iter()
        .filter(|s| s.task_state == Some(TaskState::Succeeded))
        .filter_map(|s| s.result.clone().map(|r| (s.id.clone(), r)))
        .collect();
    let mut again = false;
    for (i, state) in d.states.iter().enumerate() {
        let Some(step) = run.steps.get(i) else {
            continue;
        };
        if d.unlink.contains(&i) {
            // Its failed task stays in the queue's history; the step starts again later.
            tx.execute(
                "UPDATE run_steps SET task_id = NULL, state = ?3 WHERE run_id = ?1 AND step = ?2",
                params![id, step.id, state.as_db()],
            )?;
            changed = true;
        } else if d.start.contains(&i) {
            let Some(spec_step) = run.spec.steps.get(i) else {
                continue;
            };
            let disagreements: Vec<AnswerGroup> = if spec_step.judge {
                decide::disagreements(&decide::answers(&run.spec, &d.states, &now_steps))
            } else {
                Vec::new()
            };
            let input = spec::step_input(
                spec_step,
                &run.input,
                &outputs,
                &serde_json::to_value(&disagreements).unwrap_or(Value::Null),
            );
            let task_id = uuid::Uuid::new_v4().to_string();
            let made = Checked::new(NewTask {
                agent: Some(spec_step.agent.clone()),
                capability: None,
                input,
                idempotency_key: None,
                priority: 0,
                run_at: None,
                max_attempts: Some(spec_step.max_attempts),
                timeout_ms: spec_step.timeout_ms,
                tags: vec![format!("{ACTOR_PREFIX}{id}")],
            })
            .and_then(|c| queue::enqueue(tx, &c, &task_id, &format!("{ACTOR_PREFIX}{id}")));
            match made {
                Ok(made) => {
                    tx.execute(
                        "UPDATE run_steps SET task_id = ?3, state = 'running', error_code = NULL, \
                           error_message = NULL WHERE run_id = ?1 AND step = ?2",
                        params![id, step.id, made.task.id],
                    )?;
                }
                // Nothing was written for it: the step fails, the run decides on.
                Err(e @ (QueueError::Invalid(_) | QueueError::KeyReused(_))) => {
                    tx.execute(
                        "UPDATE run_steps SET state = 'failed', error_code = 'step_not_started', \
                           error_message = ?3 WHERE run_id = ?1 AND step = ?2",
                        params![
                            id,
                            step.id,
                            format!("the step's task could not be created: {e}")
                        ],
                    )?;
                    again = true;
                }
                Err(e) => return Err(e.into()),
            }
            changed = true;
        } else if *state != step.state {
            tx.execute(
                "UPDATE run_steps SET state = ?3 WHERE run_id = ?1 AND step = ?2",
                params![id, step.id, state.as_db()],
            )?;
            changed = true;
        }
    }
    // The run is decided: what still runs is cancelled (each cancel comes back here and
    // finds the run decided, so it only records the step's state).
    for &i in &d.cancel {
        if let Some(task_id) = run.steps.get(i).and_then(|s| s.task_id.clone()) {
            match queue::cancel(tx, &task_id) {
                Ok(_) | Err(QueueError::Finished { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if again {
        // A step could not start: decide again with it failed.
        return advance(tx, id, true);
    }
    if changed {
        announce(tx, id)?;
    }
    Ok(())
}

fn announce(tx: &mut WriteTx<'_>, id: &str) -> Result<(), RunError> {
    let run = must_get(tx, id)?;
    tx.append_event(Event::Runs(RunEvent {
        id: run.id.clone(),
        name: run.name.clone(),
        state: run.state,
        steps: run
            .steps
            .iter()
            .map(|s| RunEventStep {
                id: s.id.clone(),
                state: s.state,
            })
            .collect(),
    }))?;
    Ok(())
}

/// Cancels run `id`: steps not started are cancelled, running step tasks are told to stop.
pub(crate) fn cancel(tx: &mut WriteTx<'_>, id: &str) -> Result<Run, RunError> {
    let run = must_get(tx, id)?;
    if run.state != RunState::Running {
        return Err(RunError::Finished {
            id: id.to_string(),
            state: run.state,
        });
    }
    let now = time_to_db(tx.now());
    tx.execute(
        "UPDATE runs SET state = 'cancelled', error_code = 'cancelled', \
           error_message = 'the run was cancelled', updated_at = ?2, finished_at = ?2 \
         WHERE id = ?1",
        params![id, now],
    )?;
    tx.execute(
        "UPDATE run_steps SET state = 'cancelled' WHERE run_id = ?1 AND state = 'pending'",
        [id],
    )?;
    for s in &run.steps {
        if let (Some(task_id), Some(state)) = (&s.task_id, s.task_state)
            && !state.is_terminal()
        {
            match queue::cancel(tx, task_id) {
                Ok(_) | Err(QueueError::Finished { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    announce(tx, id)?;
    must_get(tx, id)
}
