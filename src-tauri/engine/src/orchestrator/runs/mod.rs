//! Multi-agent runs: one input fanned out to several agents, or a small DAG of steps where
//! a step's output feeds the steps that need it; each step a task of the durable queue (so
//! it has the queue's retries, leases and crash safety), then an aggregation (all results,
//! the first valid one, a majority vote on a field, or a judge agent). Owns `runs`,
//! `run_steps` and the `runs` feed topic.
//!
//! Invariants: a definition is checked whole before anything runs (`spec`); a run advances
//! only in the transaction that changed one of its step tasks (`store::on_task`), so its
//! steps start exactly once; disagreements among the answers are recorded with the outcome.
//!
//! Must never: call a model (steps are tasks; the plan prices without calling).

pub mod decide;
pub mod plan;
pub mod spec;
pub(crate) mod store;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub use decide::{AnswerGroup, RunState, StepState};
pub use plan::RunPlan;
pub use spec::{Aggregate, AggregateMode, Resolved, RunSpec, StepSpec};

use super::{QueueError, TaskFailure, TaskState};
use crate::ErrorCode;
use crate::store::StoreError;

/// What to run: a `[runs.<name>]` of the config, or a definition given whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// A run declared in the config (`[runs.<name>]`); or `definition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<RunSpec>,
    /// The run's input: a JSON object whose fields are the steps' variables.
    #[serde(default = "empty_object")]
    pub input: Value,
    /// The same key with the same run and input gives the same run; otherwise 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A step of a run, with its task's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunStep {
    pub id: String,
    pub agent: String,
    pub needs: Vec<String>,
    /// Depth in the DAG (0: needs nothing).
    pub level: usize,
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_state: Option<TaskState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// A run as stored, with its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    pub id: String,
    /// The `[runs.<name>]` it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub state: RunState,
    pub input: Value,
    /// The definition as checked (agents chosen, the judge step added).
    pub spec: Resolved,
    pub steps: Vec<RunStep>,
    /// The aggregate (`all`: results by step; `first_valid` and `judge`: that result;
    /// `vote`: `{field, value, votes, answers}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The steps whose answers made the result.
    pub decided_by: Vec<String>,
    /// Groups of steps that gave different answers (empty: they agreed).
    pub disagreements: Vec<AnswerGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// The payload of the `runs` feed topic: a run or one of its steps changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunEvent {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub state: RunState,
    /// Every step's state, in definition order.
    pub steps: Vec<RunEventStep>,
}

/// A step in a [`RunEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunEventStep {
    pub id: String,
    pub state: StepState,
}

/// Filters of the runs list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub state: Option<RunState>,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no run {0}")]
    NotFound(String),
    #[error("no run named {0:?} in the config (runs: {1})")]
    UnknownRun(String, String),
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Invalid(#[from] spec::Invalid),
    #[error(
        "idempotency key {0:?} was used for a run with a different definition or input; use a new key for a new run"
    )]
    KeyReused(String),
    #[error("run {id} is {state} already: it cannot be cancelled", state = .state.as_str())]
    Finished { id: String, state: RunState },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) | Self::UnknownRun(..) => ErrorCode::NotFound,
            Self::Bad(_) => ErrorCode::BadRequest,
            Self::Invalid(_) => ErrorCode::RunInvalid,
            Self::KeyReused(_) => ErrorCode::IdempotencyKeyReused,
            Self::Finished { .. } => ErrorCode::RunFinished,
            Self::Queue(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    /// Each problem of an invalid definition (for the error's details).
    pub fn problems(&self) -> Option<&[String]> {
        match self {
            Self::Invalid(i) => Some(&i.0),
            _ => None,
        }
    }
}

/// The fingerprint of what was asked (name or definition, and input), for the key.
pub(crate) fn fingerprint(new: &NewRun) -> Result<String, StoreError> {
    let mut h = Sha256::new();
    let parts = [
        new.run.clone().unwrap_or_default(),
        crate::store::values::json_to_db(&new.definition)?,
        crate::store::values::json_to_db(&new.input)?,
    ];
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The definition `new` asks for, from the config when it names one.
pub(crate) fn definition_of(
    new: &NewRun,
    config: &crate::config::Config,
) -> Result<RunSpec, RunError> {
    if let Some(key) = &new.idempotency_key
        && !crate::idempotency::valid_key(key)
    {
        return Err(RunError::Bad(format!(
            "idempotency_key must be 1 to {} visible ASCII characters",
            crate::idempotency::MAX_KEY_LEN
        )));
    }
    match (&new.run, &new.definition) {
        (Some(name), None) => config.runs.get(name).cloned().ok_or_else(|| {
            RunError::UnknownRun(
                name.clone(),
                if config.runs.is_empty() {
                    "none".into()
                } else {
                    config.runs.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            )
        }),
        (None, Some(d)) => Ok(d.clone()),
        _ => Err(RunError::Bad(
            "a run names a configured `run` or gives a `definition` (one of the two)".into(),
        )),
    }
}
