//! The durable task queue: tasks enqueued (with an optional idempotency key), leased by
//! workers with a lease id and a deadline, retried with exponential backoff and full jitter,
//! moved to dead-letter after their last attempt, cancelled and requeued. Owns `tasks` and
//! `task_attempts` and the `tasks` feed topic.
//!
//! Invariants:
//! - Every state change and its `tasks` event commit in one transaction.
//! - A worker's writes are fenced by its lease id: once a lease expired (and the task was
//!   taken back, given to another worker, finished or cancelled), the old holder's
//!   `complete`/`fail`/`heartbeat` change nothing and get [`QueueError::LeaseLost`].
//! - An idempotency key names one task forever: the same key with the same payload answers
//!   that task; with another payload it is refused.
//! - Attempts are numbered across requeues (`task_attempts` keeps every one).
//!
//! Must never: run agents or call models (the workers do, on top of this); wait (callers
//! wait on the engine's clock).

pub(crate) mod queue;
pub mod runs;
pub mod settings;
pub mod tasks;
#[cfg(test)]
mod tests;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ErrorCode;
use crate::clock::SharedClock;
use crate::store::values::StoredEnum;
use crate::store::{Store, StoreError};

pub use queue::TaskFilter;
pub use settings::OrchestratorConfig;
pub use tasks::Tasks;

/// Default attempts of a task that names none.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Most attempts a task may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// Largest accepted `input`, serialized.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Most tags on a task.
pub const MAX_TAGS: usize = 32;

/// Whether `s` is a valid tag (of a task, or a gateway request's `x-flightdeck-tags`):
/// 1-128 of a-z, A-Z, 0-9, - _ . : /.
pub fn valid_tag(s: &str) -> bool {
    queue::valid_name(s)
}

/// Where a task is. Terminal: `succeeded`, `failed`, `dead`, `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Due; waiting for a worker.
    Queued,
    /// Waiting for its `run_at` (delayed, or backing off before a retry).
    Scheduled,
    /// Leased by a worker.
    Running,
    /// Every provider of its agent's chain is unreachable: parked, attempts not spent.
    WaitingForProvider,
    /// A proposed action waits for a human decision.
    WaitingApproval,
    Succeeded,
    /// Failed for good in a way retrying cannot fix (e.g. invalid input).
    Failed,
    /// Dead-letter: every attempt failed.
    Dead,
    Cancelled,
}

impl StoredEnum for TaskState {
    const ALL: &'static [Self] = &[
        Self::Queued,
        Self::Scheduled,
        Self::Running,
        Self::WaitingForProvider,
        Self::WaitingApproval,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
        Self::Cancelled,
    ];

    fn as_db(self) -> &'static str {
        self.as_str()
    }
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::WaitingForProvider => "waiting_for_provider",
            Self::WaitingApproval => "waiting_approval",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// Nothing more happens to it unless it is requeued.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Dead | Self::Cancelled
        )
    }
}

/// What to enqueue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The agent to run it (or `capability`; exactly one of the two).
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$")]
    pub agent: Option<String>,
    /// A capability some agent has, instead of naming the agent.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$")]
    pub capability: Option<String>,
    /// The task's input (the agent's template variables).
    #[serde(default)]
    pub input: Value,
    /// The same key with the same payload gives the same task; with another payload, 409.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
    /// Higher runs first (default 0).
    #[serde(default)]
    pub priority: i32,
    /// Not before this time (delayed task).
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts before dead-letter (default: the agent's `max_attempts`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
    /// Longest one attempt may run, in milliseconds.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Up to 32, each 1-128 of a-z, 0-9, `-_.:/`.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub tags: Vec<String>,
}

/// A failure recorded on a task or an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskFailure {
    pub code: String,
    pub message: String,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    pub input: Value,
    pub state: TaskState,
    pub priority: i32,
    pub run_at: DateTime<Utc>,
    pub max_attempts: u32,
    /// Attempts made in this round (a requeue starts a new round).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The lease's deadline while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Cancel was asked while it ran: it stops at its next step.
    pub cancel_requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Requeues so far (steps belong to a round).
    pub round: u32,
    /// The agent definition this round runs on (pinned by its first attempt; a hash, see
    /// `GET /api/v1/agents`'s `version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
}

/// What a step of a task was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A model call (its answer is the message; the call is in the ledger).
    Model,
    /// A tool's result.
    Tool,
    /// The answer did not match the output schema: the model is asked again.
    Reask,
    /// Older turns summarised by a model call (`detail`: `{"from", "to"}`, the steps it
    /// replaces in the conversation; they stay recorded).
    Summary,
}

impl StoredEnum for StepKind {
    const ALL: &'static [Self] = &[Self::Model, Self::Tool, Self::Reask, Self::Summary];

    fn as_db(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Tool => "tool",
            Self::Reask => "reask",
            Self::Summary => "summary",
        }
    }
}

/// A completed step of a task: what went back into its conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    /// From 0, in order, within the task's round.
    pub step: u32,
    /// The attempt that did it.
    pub attempt: u32,
    pub kind: StepKind,
    /// The ledger row of a model step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// The tool of a tool step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The message it added to the conversation.
    pub message: crate::providers::neutral::Message,
    /// Validation errors (re-asks), a tool's arguments, a model call's context budget
    /// (`{"context": {"budget", "used", "dropped"}}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// When it was recorded (`None` before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    Failed,
    /// Its lease ran out (the worker died or stalled).
    Expired,
    Cancelled,
    /// Handed back without spending the attempt (no provider reachable, shutdown).
    Parked,
}

impl StoredEnum for AttemptOutcome {
    const ALL: &'static [Self] = &[
        Self::Succeeded,
        Self::Failed,
        Self::Expired,
        Self::Cancelled,
        Self::Parked,
    ];

    fn as_db(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Parked => "parked",
        }
    }
}

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// Numbered from 1 across requeues.
    pub attempt: u32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AttemptOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskFailure>,
}

/// A leased task: the lease id fences everything its holder writes.
#[derive(Debug, Clone)]
pub struct Lease {
    pub task: Task,
    pub lease_id: String,
    /// The attempt's number (across requeues).
    pub attempt: u32,
    pub until: DateTime<Utc>,
}

/// What routing decided for a task being enqueued.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    /// The agent chosen for its capability.
    pub agent: Option<String>,
    /// Attempts when the task names none (the agent's `max_attempts`; else 3).
    pub default_attempts: Option<u32>,
}

/// What `enqueue` did.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub task: Task,
    /// `false`: the idempotency key named an existing task with the same payload.
    pub created: bool,
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (after a backoff), unless attempts are used up.
    Retryable,
    /// Retrying cannot help: the task fails now.
    Permanent,
}

/// What an agent's tasks over a window add up to (`GET /api/v1/agents/{name}/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentTaskStats {
    pub tasks: u64,
    pub succeeded: u64,
    /// Failed or dead-lettered.
    pub failed: u64,
    pub cancelled: u64,
    /// Not finished yet.
    pub open: u64,
    /// Succeeded out of succeeded + failed (cancelled ones left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// Attempts made (parked ones, which spend nothing, left out).
    pub attempts: u64,
    /// Attempts beyond each task's first.
    pub retries: u64,
    /// Duration of the attempts that succeeded, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_p95_ms: Option<f64>,
    pub steps: u64,
    pub model_steps: u64,
    pub tool_steps: u64,
    pub reasks: u64,
    pub summaries: u64,
    /// Answers that did not match the output schema (re-asks, and last answers that failed
    /// the task).
    pub validation_failures: u64,
    /// Answers that passed out of all checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_pass_rate: Option<f64>,
    /// Steps per finished task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_task: Option<f64>,
}

/// The payload of the `tasks` feed topic: a task changed state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskEvent {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub state: TaskState,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no task {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "idempotency key {0:?} was used for a task with a different payload; use a new key for a new task"
    )]
    KeyReused(String),
    #[error("task {id} is {state} already: {what}", state = .state.as_str())]
    Finished {
        id: String,
        state: TaskState,
        what: &'static str,
    },
    #[error("task {id} is {state}: only dead, failed or cancelled tasks can be requeued", state = .state.as_str())]
    NotRequeueable { id: String, state: TaskState },
    #[error("task {id} cannot be requeued: {why}")]
    StepOfDecidedRun { id: String, why: String },
    #[error("the lease on task {0} was lost (it expired and the task moved on)")]
    LeaseLost(String),
    #[error("no agent named {0:?} (agents: {1})")]
    UnknownAgent(String, String),
    #[error("no agent has the capability {0:?}")]
    UnknownCapability(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl QueueError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::BadRequest,
            Self::KeyReused(_) => ErrorCode::IdempotencyKeyReused,
            Self::Finished { .. } | Self::NotRequeueable { .. } | Self::StepOfDecidedRun { .. } => {
                ErrorCode::TaskFinished
            }
            Self::LeaseLost(_) => ErrorCode::LeaseLost,
            Self::UnknownAgent(..) => ErrorCode::UnknownAgent,
            Self::UnknownCapability(_) => ErrorCode::UnknownCapability,
            Self::Store(e) => e.code(),
        }
    }
}

/// Backoff of the queue's retries: full jitter over `min(cap, base · 2^(n-1))`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1 = the first), for a random `unit` in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = 2f64.powi(i32::try_from(attempt.saturating_sub(1).min(30)).unwrap_or(30));
        let ceiling = (self.base.as_secs_f64() * exp).min(self.cap.as_secs_f64());
        Duration::from_secs_f64(ceiling * unit.clamp(0.0, 1.0))
    }
}

/// A random fraction in [0, 1).
fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The queue: a cheap handle over the store and the clock.
#[derive(Clone)]
pub struct Queue {
    store: Store,
    clock: SharedClock,
    backoff: Backoff,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").finish_non_exhaustive()
    }
}

impl Queue {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            backoff: Backoff::default(),
        }
    }

    /// The same queue with another retry backoff.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Enqueues `new` on behalf of `created_by` (an actor), or finds the task its
    /// idempotency key already names.
    pub async fn enqueue(&self, new: NewTask, created_by: &str) -> Result<Enqueued, QueueError> {
        self.enqueue_routed(new, created_by, |_| Ok(Routed::default()))
            .await
    }

    /// [`Queue::enqueue`] where `route` may choose the agent (capability routing) after the
    /// task was checked and fingerprinted as sent.
    pub async fn enqueue_routed(
        &self,
        new: NewTask,
        created_by: &str,
        route: impl FnOnce(&NewTask) -> Result<Routed, QueueError>,
    ) -> Result<Enqueued, QueueError> {
        let mut checked = queue::Checked::new(new)?;
        let routed = route(checked.task())?;
        checked.route(routed.agent, routed.default_attempts);
        let created_by = created_by.to_string();
        let id = uuid::Uuid::new_v4().to_string();
        self.store
            .write(move |tx| queue::enqueue(tx, &checked, &id, &created_by))
            .await
    }

    /// Enqueues every task of `tasks` in one transaction (all or none: one invalid task
    /// refuses the batch, naming its index). Agents are not checked here ([`Tasks`] does).
    pub async fn enqueue_many(
        &self,
        tasks: Vec<NewTask>,
        created_by: &str,
    ) -> Result<Vec<Enqueued>, QueueError> {
        let checked = tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                queue::Checked::new(t).map_err(|e| match e {
                    QueueError::Invalid(m) => QueueError::Invalid(format!("task {i}: {m}")),
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<String> = checked
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let created_by = created_by.to_string();
        self.store
            .write(move |tx| {
                checked
                    .iter()
                    .zip(&ids)
                    .map(|(c, id)| queue::enqueue(tx, c, id, &created_by))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
    }

    /// The task `new`'s idempotency key already names, if any: `Err(KeyReused)` when it was
    /// enqueued with another payload. (Enqueueing checks again inside its transaction.)
    pub async fn find_by_key(&self, new: &NewTask) -> Result<Option<Task>, QueueError> {
        if new.idempotency_key.is_none() {
            return Ok(None);
        }
        let checked = queue::Checked::new(new.clone())?;
        self.store
            .read(move |db| queue::find_by_key(db, &checked))
            .await
    }

    pub async fn get(&self, id: &str) -> Result<Task, QueueError> {
        let id = id.to_string();
        self.store
            .read(move |db| queue::get(db, &id)?.ok_or(QueueError::NotFound(id.clone())))
            .await
    }

    /// Every attempt of task `id`, oldest first.
    pub async fn attempts(&self, id: &str) -> Result<Vec<Attempt>, QueueError> {
        let id = id.to_string();
        self.store.read(move |db| queue::attempts(db, &id)).await
    }

    /// Tasks matching `filter`, newest first, after the cursor `before` (a `seq`), at most
    /// `limit`; each with its `seq` for the next cursor.
    pub async fn list(
        &self,
        filter: TaskFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Task)>, QueueError> {
        self.store
            .read(move |db| queue::list(db, &filter, before, limit))
            .await
    }

    /// Leases up to `n` due tasks of `agent` (`None`: of any agent) for `worker`, for `ttl`;
    /// highest priority, then oldest.
    pub async fn lease(
        &self,
        worker: &str,
        n: usize,
        ttl: Duration,
        agent: Option<&str>,
    ) -> Result<Vec<Lease>, QueueError> {
        let (worker, agent) = (worker.to_string(), agent.map(str::to_string));
        self.store
            .write(move |tx| queue::lease(tx, &worker, n, ttl, agent.as_deref()))
            .await
    }

    /// Pins the agent definition `version` on the lease's task (its first attempt does; later
    /// ones keep it). Fenced by the lease.
    pub async fn pin_version(&self, lease: &Lease, version: &str) -> Result<(), QueueError> {
        let (id, lease_id, version) = (
            lease.task.id.clone(),
            lease.lease_id.clone(),
            version.to_string(),
        );
        self.store
            .write(move |tx| queue::pin_version(tx, &id, &lease_id, &version))
            .await
    }

    /// Extends a lease; answers whether cancel was asked (stop at the next step).
    pub async fn heartbeat(&self, lease: &Lease, ttl: Duration) -> Result<bool, QueueError> {
        let (id, lease_id) = (lease.task.id.clone(), lease.lease_id.clone());
        self.store
            .write(move |tx| queue::heartbeat(tx, &id, &lease_id, ttl))
            .await
    }

    /// The attempt succeeded with `result`: the task is done (fenced by the lease).
    pub async fn complete(&self, lease: &Lease, result: Value) -> Result<Task, QueueError> {
        let (id, lease_id) = (lease.task.id.clone(), lease.lease_id.clone());
        let result = crate::store::values::json_to_db(&result)?;
        self.store
            .write(move |tx| queue::complete(tx, &id, &lease_id, &result))
            .await
    }

    /// Completes several attempts in one transaction; each is fenced by its own lease, so
    /// one lost lease answers `lease_lost` for that task alone.
    pub async fn complete_many(
        &self,
        done: &[(Lease, Value)],
    ) -> Result<Vec<Result<Task, QueueError>>, QueueError> {
        let items = done
            .iter()
            .map(|(l, v)| {
                Ok((
                    l.task.id.clone(),
                    l.lease_id.clone(),
                    crate::store::values::json_to_db(v)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.store
            .write(move |tx| {
                let mut out = Vec::with_capacity(items.len());
                for (id, lease_id, result) in &items {
                    match queue::complete(tx, id, lease_id, result) {
                        // Fenced before anything was written: that task alone is refused.
                        Err(e @ (QueueError::LeaseLost(_) | QueueError::NotFound(_))) => {
                            out.push(Err(e));
                        }
                        // Anything else undoes the whole transaction.
                        Err(e) => return Err(e),
                        Ok(task) => out.push(Ok(task)),
                    }
                }
                Ok(out)
            })
            .await
    }

    /// The attempt failed: retried after a backoff, or dead-lettered after the last attempt
    /// (failed at once when `kind` is permanent). Fenced by the lease.
    pub async fn fail(
        &self,
        lease: &Lease,
        kind: Failure,
        error: TaskFailure,
    ) -> Result<Task, QueueError> {
        let (id, lease_id) = (lease.task.id.clone(), lease.lease_id.clone());
        let delay = self.backoff.delay(lease.task.attempts, unit_random());
        self.store
            .write(move |tx| queue::fail(tx, &id, &lease_id, kind, &error, delay))
            .await
    }

    /// The attempt could not start for a reason that is not the task's (no provider
    /// reachable, the node stopping): the task goes back with its attempt refunded, to
    /// `state` (`queued` or `waiting_for_provider`). Fenced by the lease.
    pub async fn park(
        &self,
        lease: &Lease,
        state: TaskState,
        why: &str,
    ) -> Result<Task, QueueError> {
        let (id, lease_id, why) = (
            lease.task.id.clone(),
            lease.lease_id.clone(),
            why.to_string(),
        );
        self.store
            .write(move |tx| queue::park(tx, &id, &lease_id, state, &why))
            .await
    }

    /// A budget refused the attempt's call: the task is scheduled for `run_at` (when the
    /// budget resets), its attempt refunded, `why` on it. Fenced by the lease.
    pub async fn park_until(
        &self,
        lease: &Lease,
        run_at: DateTime<Utc>,
        why: TaskFailure,
    ) -> Result<Task, QueueError> {
        let (id, lease_id) = (lease.task.id.clone(), lease.lease_id.clone());
        self.store
            .write(move |tx| queue::park_until(tx, &id, &lease_id, run_at, &why))
            .await
    }

    /// Tasks waiting for a provider go back to the queue (a provider recovered).
    pub async fn wake_waiting(&self, agents: Option<Vec<String>>) -> Result<usize, QueueError> {
        self.store
            .write(move |tx| queue::wake_waiting(tx, agents.as_deref()))
            .await
    }

    /// One task of `agent` waiting for a provider goes back to the queue (a probe).
    pub async fn wake_one_waiting(&self, agent: &str) -> Result<bool, QueueError> {
        let agent = agent.to_string();
        self.store
            .write(move |tx| queue::wake_one_waiting(tx, &agent))
            .await
    }

    /// Cancels a task: at once when it is not running, at its next step when it is.
    pub async fn cancel(&self, id: &str) -> Result<Task, QueueError> {
        let id = id.to_string();
        self.store.write(move |tx| queue::cancel(tx, &id)).await
    }

    /// Puts a dead, failed or cancelled task back on the queue with a fresh round of
    /// attempts (its history is kept).
    pub async fn requeue(&self, id: &str) -> Result<Task, QueueError> {
        let id = id.to_string();
        self.store.write(move |tx| queue::requeue(tx, &id)).await
    }

    /// Requeues many tasks in one transaction: those named by `ids`, or else (when `ids` is
    /// empty) the newest `limit` tasks in `state` (dead, failed or cancelled) of `agent`. Each
    /// task answers on its own: requeued, or refused with its error (not found, not
    /// requeueable), so one bad id does not stop the rest.
    pub async fn requeue_many(
        &self,
        ids: Vec<String>,
        state: TaskState,
        agent: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, Result<Task, QueueError>)>, QueueError> {
        if !matches!(
            state,
            TaskState::Dead | TaskState::Failed | TaskState::Cancelled
        ) {
            return Err(QueueError::Invalid(format!(
                "only dead, failed or cancelled tasks can be requeued (not {})",
                state.as_str()
            )));
        }
        self.store
            .write(move |tx| {
                let ids = if ids.is_empty() {
                    tx.query_all(
                        "SELECT id FROM tasks WHERE state = ?1 AND (?2 IS NULL OR agent = ?2) \
                           AND (created_by NOT LIKE 'run:%' OR EXISTS (SELECT 1 FROM run_steps s \
                             JOIN runs r ON r.id = s.run_id WHERE s.task_id = tasks.id \
                             AND r.state IN ('running', 'failed'))) \
                         ORDER BY seq DESC LIMIT ?3",
                        rusqlite::params![
                            state.as_db(),
                            agent,
                            i64::try_from(limit).unwrap_or(i64::MAX)
                        ],
                        |r| r.get::<_, String>(0),
                    )?
                } else {
                    ids.clone()
                };
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    match queue::requeue(tx, &id) {
                        Err(
                            e @ (QueueError::NotFound(_)
                            | QueueError::NotRequeueable { .. }
                            | QueueError::StepOfDecidedRun { .. }),
                        ) => {
                            out.push((id, Err(e)));
                        }
                        Err(e) => return Err(e),
                        Ok(t) => out.push((id, Ok(t))),
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Takes back every task whose lease ran out: retried, or dead-lettered after its last
    /// attempt. Answers how many.
    pub async fn expire_leases(&self) -> Result<usize, QueueError> {
        let backoff = self.backoff;
        self.store
            .write(move |tx| {
                queue::expire_leases(tx, |attempts| backoff.delay(attempts, unit_random()))
            })
            .await
    }

    /// Records a completed step of the lease's task (fenced by the lease).
    pub async fn record_step(&self, lease: &Lease, step: Step) -> Result<(), QueueError> {
        let (id, lease_id, attempt) =
            (lease.task.id.clone(), lease.lease_id.clone(), lease.attempt);
        self.store
            .write(move |tx| queue::record_step(tx, &id, &lease_id, attempt, &step))
            .await
    }

    /// The steps of task `id` in its current round (or `round`).
    pub async fn steps(&self, id: &str, round: Option<u32>) -> Result<Vec<Step>, QueueError> {
        let id = id.to_string();
        self.store
            .read(move |db| queue::steps(db, &id, round))
            .await
    }

    /// Tasks queued, scheduled or running per agent (capability routing's load).
    pub async fn load(&self) -> Result<Vec<(String, u64)>, QueueError> {
        self.store.read(queue::load).await
    }

    /// Creates run `new` (or answers the run its idempotency key names: `false`).
    pub(crate) async fn create_run(
        &self,
        new: runs::store::NewRunRow,
    ) -> Result<(runs::Run, bool), runs::RunError> {
        self.store
            .write(move |tx| runs::store::create(tx, &new))
            .await
    }

    pub async fn run(&self, id: &str) -> Result<runs::Run, runs::RunError> {
        let id = id.to_string();
        self.store
            .read(move |db| runs::store::get(db, &id)?.ok_or(runs::RunError::NotFound(id.clone())))
            .await
    }

    /// Runs matching `filter`, newest first, after the cursor `before` (a `seq`).
    pub async fn runs(
        &self,
        filter: runs::RunFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, runs::Run)>, runs::RunError> {
        self.store
            .read(move |db| runs::store::list(db, &filter, before, limit))
            .await
    }

    /// Cancels a run: its pending steps are cancelled, its running step tasks told to stop.
    pub async fn cancel_run(&self, id: &str) -> Result<runs::Run, runs::RunError> {
        let id = id.to_string();
        self.store
            .write(move |tx| runs::store::cancel(tx, &id))
            .await
    }

    /// What the tasks of `agent` created since `since` add up to.
    pub async fn agent_stats(
        &self,
        agent: &str,
        since: DateTime<Utc>,
    ) -> Result<AgentTaskStats, QueueError> {
        let agent = agent.to_string();
        self.store
            .read(move |db| queue::agent_stats(db, &agent, since))
            .await
    }

    /// How many tasks are in each state.
    pub async fn counts(&self) -> Result<Vec<(TaskState, u64)>, QueueError> {
        self.store.read(queue::counts).await
    }
}
