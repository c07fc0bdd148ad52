//! The workers of one node: lease due tasks (within the node's `orchestrator.workers` and
//! each agent's `concurrency`), run each attempt with a heartbeat that renews its lease and
//! picks up a cancel, and settle it: done, retried, dead-lettered, failed, or parked.
//!
//! Lifecycle: one loop on the engine's tracker. On shutdown the attempts in flight are
//! dropped and their tasks parked back to `queued` (attempt refunded) before the store
//! closes; a kill instead leaves their leases to expire, and the next start (any node's
//! worker) takes them back. Expired leases are swept at start and every `orchestrator.sweep_secs`.
//!
//! Invariants: a task's attempt is settled only through its lease (fenced); a lost lease
//! stops the attempt at once; a task waiting for a provider spends no attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Failure, Lease, QueueError, TaskFailure, TaskState, Tasks};
use crate::agents::run::{self, RunError};
use crate::providers::Admission;

/// The longest the loop sleeps without looking for due tasks (delayed tasks, backoffs).
const POLL: Duration = Duration::from_millis(500);

/// Starts the node's workers.
pub fn spawn(tasks: Tasks, worker_id: String, cancel: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(async move {
        run_loop(tasks, worker_id, cancel).await;
    });
}

async fn run_loop(tasks: Tasks, worker_id: String, cancel: CancellationToken) {
    let mut running: JoinSet<()> = JoinSet::new();
    let mut per_agent: HashMap<String, u32> = HashMap::new();
    let mut per_provider: HashMap<String, u32> = HashMap::new();
    // Who each running attempt counts against, by its task id in the set (so a panicking
    // attempt gives its slots back too).
    let mut slots: HashMap<tokio::task::Id, (String, Option<String>)> = HashMap::new();
    let mut turn = 0usize;
    // The last slot enqueued per schedule (agent, index): each slot is offered once per run
    // (the idempotency key makes it once overall).
    let mut slots_seen: HashMap<(String, usize), chrono::DateTime<chrono::Utc>> = HashMap::new();
    let clock = tasks.queue().clock().clone();
    let mut last_sweep: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let config = tasks.config().current();
        let now = clock.now();
        let sweep = Duration::from_secs(config.orchestrator.sweep_secs);
        if last_sweep.is_none_or(|at| (now - at).to_std().unwrap_or_default() >= sweep) {
            last_sweep = Some(now);
            if let Err(error) = tasks.queue().expire_leases().await {
                tracing::warn!(%error, "could not sweep expired leases");
            }
            wake_recovered(&tasks, &config).await;
            if config.orchestrator.enabled {
                enqueue_schedules(&tasks, &config, now, &mut slots_seen).await;
            }
        }
        let busy = u32::try_from(running.len()).unwrap_or(u32::MAX);
        let free: u32 = if config.orchestrator.enabled {
            config.orchestrator.workers.saturating_sub(busy)
        } else {
            0
        };
        let ttl = Duration::from_secs(config.orchestrator.lease_secs);
        // Each agent leases within its own limit; the starting agent rotates so a small
        // node-wide limit is shared.
        let names: Vec<&String> = config.agents.keys().collect();
        let mut free = free;
        for i in 0..names.len() {
            if free == 0 {
                break;
            }
            let name = names[(i + turn) % names.len()];
            let limit = config.agents.get(name).map_or(0, |a| a.concurrency);
            let mut room = limit
                .saturating_sub(per_agent.get(name).copied().unwrap_or(0))
                .min(free);
            // The provider's own limit, by the first provider of the agent's route.
            let provider = config.agents.get(name).and_then(|a| {
                crate::providers::plan::resolve(&config, &a.route)
                    .ok()
                    .and_then(|plan| plan.hops.first().map(|h| h.provider.clone()))
            });
            if let Some(p) = &provider
                && let Some(max) = config.orchestrator.provider_concurrency.get(p)
            {
                room = room.min(max.saturating_sub(per_provider.get(p).copied().unwrap_or(0)));
            }
            if room == 0 {
                continue;
            }
            match tasks
                .queue()
                .lease(&worker_id, room as usize, ttl, Some(name))
                .await
            {
                Ok(leases) => {
                    for lease in leases {
                        free = free.saturating_sub(1);
                        *per_agent.entry(name.clone()).or_insert(0) += 1;
                        if let Some(p) = &provider {
                            *per_provider.entry(p.clone()).or_insert(0) += 1;
                        }
                        let (t, c) = (tasks.clone(), cancel.clone());
                        let handle = running.spawn(async move {
                            attempt(t, lease, ttl, c).await;
                        });
                        slots.insert(handle.id(), (name.clone(), provider.clone()));
                    }
                }
                Err(error) => tracing::warn!(%error, "could not lease tasks"),
            }
        }
        turn = turn.wrapping_add(1);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tasks.wake().notified() => {}
            done = running.join_next_with_id(), if !running.is_empty() => {
                let id = match done {
                    Some(Ok((id, ()))) => Some(id),
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "a task attempt panicked or was aborted");
                        Some(e.id())
                    }
                    None => None,
                };
                if let Some((agent, provider)) = id.and_then(|id| slots.remove(&id)) {
                    if let Some(n) = per_agent.get_mut(&agent) {
                        *n = n.saturating_sub(1);
                    }
                    if let Some(n) = provider.and_then(|p| per_provider.get_mut(&p)) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            () = clock.sleep(POLL) => {}
        }
    }
    // Each attempt sees the cancellation, parks its task and returns.
    while running.join_next().await.is_some() {}
}

/// Wakes tasks waiting for a provider: all of an agent's once some hop of its route has a
/// closed breaker, one (the breaker's half-open probe) once an open breaker's time is up,
/// none while every hop's breaker is open; so an outage costs no attempts and no calls.
async fn wake_recovered(tasks: &Tasks, config: &Arc<crate::config::Config>) {
    let mut all = Vec::new();
    for (name, a) in &config.agents {
        match tasks.providers().readiness(config, &a.route) {
            Admission::Allowed => all.push(name.clone()),
            Admission::Probe => match tasks.queue().wake_one_waiting(name).await {
                Ok(true) => tasks.wake().notify_waiters(),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "could not wake a waiting task"),
            },
            Admission::Rejected => {}
        }
    }
    if !all.is_empty() {
        match tasks.queue().wake_waiting(Some(all)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    tasks = n,
                    "providers are reachable again: waiting tasks resumed"
                );
                tasks.wake().notify_waiters();
            }
            Err(error) => tracing::warn!(%error, "could not wake waiting tasks"),
        }
    }
}

/// Enqueues the due slot of every schedule (see `agents::schedule`): one task per slot
/// however often it is offered, across restarts and nodes.
async fn enqueue_schedules(
    tasks: &Tasks,
    config: &Arc<crate::config::Config>,
    now: chrono::DateTime<chrono::Utc>,
    seen: &mut HashMap<(String, usize), chrono::DateTime<chrono::Utc>>,
) {
    for (name, agent) in &config.agents {
        for (index, schedule) in agent.schedules.iter().enumerate() {
            let Some(slot) = crate::agents::schedule::due(schedule, now) else {
                continue;
            };
            let key = (name.clone(), index);
            if seen.get(&key) == Some(&slot) {
                continue;
            }
            let new = crate::agents::schedule::task(name, schedule, slot);
            match tasks.enqueue(new, "schedule").await {
                Ok(done) => {
                    seen.insert(key, slot);
                    if done.created {
                        tracing::info!(agent = %name, %slot, task = %done.task.id, "scheduled task enqueued");
                    }
                }
                // The slot ran already with an input since changed: it stays run.
                Err(QueueError::KeyReused(_)) => {
                    seen.insert(key, slot);
                }
                Err(error) => {
                    tracing::warn!(%error, agent = %name, "could not enqueue a scheduled task")
                }
            }
        }
    }
}

/// One attempt of `lease`'s task, settled.
async fn attempt(tasks: Tasks, lease: Lease, ttl: Duration, shutdown: CancellationToken) {
    let config = tasks.config().current();
    let agent_name = lease.task.agent.clone().unwrap_or_default();
    let agent = match definition(&tasks, &lease, &agent_name, &config).await {
        Ok(Ok(found)) => found,
        // The definition it started with cannot be had: running another would break the
        // promise, so the task fails and says why.
        Ok(Err(why)) => {
            settle_error(
                &tasks,
                &lease,
                Failure::Permanent,
                TaskFailure {
                    code: "agent_definition_missing".into(),
                    message: why,
                },
            )
            .await;
            return;
        }
        Err(QueueError::LeaseLost(_)) => {
            count(&tasks, &agent_name, "lease_lost");
            return;
        }
        // The store failed (busy, say): the attempt goes back, unspent, for a later try.
        Err(error) => {
            tracing::warn!(%error, task = %lease.task.id, "could not read or pin the agent's definition");
            if let Err(error) = tasks
                .queue()
                .park(
                    &lease,
                    TaskState::Queued,
                    "its agent's definition could not be read",
                )
                .await
            {
                tracing::warn!(%error, task = %lease.task.id, "could not park a task");
            }
            return;
        }
    };
    let Some(agent) = agent else {
        settle_error(
            &tasks,
            &lease,
            Failure::Permanent,
            TaskFailure {
                code: "unknown_agent".into(),
                message: format!("agent {agent_name:?} is no longer configured"),
            },
        )
        .await;
        return;
    };
    let cancelled = Arc::new(AtomicBool::new(lease.task.cancel_requested));
    let lost = CancellationToken::new();
    let heartbeat = {
        let (tasks, lease, cancelled, lost) = (
            tasks.clone(),
            lease.clone(),
            cancelled.clone(),
            lost.clone(),
        );
        let clock = tasks.queue().clock().clone();
        async move {
            loop {
                clock.sleep(ttl / 3).await;
                match tasks.queue().heartbeat(&lease, ttl).await {
                    Ok(true) => cancelled.store(true, Ordering::Relaxed),
                    Ok(false) => {}
                    Err(QueueError::LeaseLost(_)) => {
                        lost.cancel();
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "heartbeat failed"),
                }
            }
        }
    };
    let limit = lease
        .task
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(agent.timeout_secs));
    let work = run::run(run::Attempt {
        providers: tasks.providers(),
        queue: tasks.queue(),
        approvals: tasks.approvals(),
        config: &config,
        lease: &lease,
        agent_name: &agent_name,
        agent: &agent,
        cancelled: &cancelled,
        metrics: tasks.metrics(),
        context_tokens: crate::providers::plan::resolve(&config, &agent.route)
            .ok()
            .and_then(|plan| plan.hops.iter().filter_map(|h| h.context_tokens).min())
            .map(u64::from),
    });
    let started = std::time::Instant::now();
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, work) => r.map_err(|_| limit),
        () = heartbeat => return,
        () = lost.cancelled() => {
            count(&tasks, &agent_name, "lease_lost");
            return;
        }
        () = shutdown.cancelled() => {
            if let Err(error) = tasks.queue().park(&lease, TaskState::Queued, "the node stopped while it ran").await {
                tracing::warn!(%error, task = %lease.task.id, "could not park a task at shutdown");
            }
            return;
        }
    };
    tasks
        .metrics()
        .duration
        .with_label_values(&[&agent_name])
        .observe(started.elapsed().as_secs_f64());
    // The attempt's calls are in the ledger before the task says how it ended, so whoever
    // sees the task finished also sees what it spent (the ledger's own journal makes the rows
    // durable; they are not in the task's transaction, see docs/tasks.md).
    tasks.providers().ledger().flush().await;
    match outcome {
        Ok(Ok(result)) => match tasks.queue().complete(&lease, result).await {
            Ok(_) => count(&tasks, &agent_name, "succeeded"),
            Err(QueueError::LeaseLost(_)) => count(&tasks, &agent_name, "lease_lost"),
            Err(error) => {
                tracing::warn!(%error, task = %lease.task.id, "could not complete a task");
            }
        },
        Ok(Err(RunError::Queue(QueueError::LeaseLost(_)))) => {
            count(&tasks, &agent_name, "lease_lost");
        }
        Ok(Err(RunError::NeedsApproval(request))) => {
            // The request and the parked task commit together; the worker is free at once.
            match tasks.approvals().park(&lease, *request).await {
                Ok(_) => count(&tasks, &agent_name, "waiting_approval"),
                Err(crate::approvals::ApprovalError::Queue(QueueError::LeaseLost(_))) => {
                    count(&tasks, &agent_name, "lease_lost");
                }
                Err(error) => {
                    tracing::warn!(%error, task = %lease.task.id, "could not park a task for approval");
                    if let Err(error) = tasks
                        .queue()
                        .park(
                            &lease,
                            TaskState::Queued,
                            "its approval request could not be stored",
                        )
                        .await
                    {
                        tracing::warn!(%error, task = %lease.task.id, "could not park a task");
                    }
                }
            }
        }
        Ok(Err(RunError::Provider(e)))
            if e.code == crate::error::ErrorCode::BudgetExceeded
                && agent.on_budget == crate::agents::settings::OnBudget::Wait
                && e.retry_after.is_some() =>
        {
            // Waiting for the budget's next period; the attempt is not spent.
            count(&tasks, &agent_name, "waiting_for_budget");
            let wait = e.retry_after.unwrap_or_default();
            let run_at = tasks.queue().clock().now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1))
                + chrono::Duration::seconds(1);
            let why = TaskFailure {
                code: e.code.as_str().into(),
                message: e.message.clone(),
            };
            if let Err(error) = tasks.queue().park_until(&lease, run_at, why).await {
                tracing::warn!(%error, task = %lease.task.id, "could not schedule a task after its budget");
            }
        }
        Ok(Err(e)) if e.provider_unreachable() => {
            count(&tasks, &agent_name, "waiting_for_provider");
            let why = e.to_string();
            if let Err(error) = tasks
                .queue()
                .park(&lease, TaskState::WaitingForProvider, &why)
                .await
            {
                tracing::warn!(%error, task = %lease.task.id, "could not park a task");
            }
        }
        Ok(Err(e)) => {
            let kind = if e.is_permanent() {
                Failure::Permanent
            } else {
                Failure::Retryable
            };
            let failure = TaskFailure {
                code: e.code(),
                message: e.to_string(),
            };
            settle_error(&tasks, &lease, kind, failure).await;
        }
        Err(limit) => {
            count(&tasks, &agent_name, "timeout");
            let failure = TaskFailure {
                code: "task_timeout".into(),
                message: format!("the attempt ran longer than {} s", limit.as_secs_f64()),
            };
            settle_error(&tasks, &lease, Failure::Retryable, failure).await;
        }
    }
}

/// The definition the lease's task runs on: the one its round started with (pinned by its
/// first attempt, kept in `agent_definitions`), else the config's now, which this attempt
/// pins. `Ok(None)`: the agent is no longer configured and nothing was pinned; `Err(why)`
/// inside: the pinned definition is gone or unreadable.
async fn definition(
    tasks: &Tasks,
    lease: &Lease,
    agent: &str,
    config: &crate::config::Config,
) -> Result<Result<Option<crate::agents::AgentConfig>, String>, QueueError> {
    use crate::agents::definitions::{self, Kept};
    let store = tasks.queue().store();
    if let Some(version) = &lease.task.agent_version {
        if let Some(current) = config.agents.get(agent)
            && crate::agents::version_of(current) == *version
        {
            return Ok(Ok(Some(current.clone())));
        }
        return Ok(match definitions::get(store, agent, version).await? {
            Kept::Found(kept) => Ok(Some(*kept)),
            Kept::Missing => Err(format!(
                "the definition of agent {agent:?} this task started with (version {version}) is not kept"
            )),
            Kept::Unreadable(e) => Err(format!(
                "the definition of agent {agent:?} this task started with (version {version}) cannot be read: {e}"
            )),
        });
    }
    let Some(current) = config.agents.get(agent) else {
        return Ok(Ok(None));
    };
    let version = definitions::record(store, agent, current).await?;
    tasks.queue().pin_version(lease, &version).await?;
    Ok(Ok(Some(current.clone())))
}

/// One more attempt of `agent` that ended as `outcome`.
fn count(tasks: &Tasks, agent: &str, outcome: &str) {
    tasks
        .metrics()
        .attempts
        .with_label_values(&[agent, outcome])
        .inc();
}

async fn settle_error(tasks: &Tasks, lease: &Lease, kind: Failure, failure: TaskFailure) {
    let agent = lease.task.agent.clone().unwrap_or_default();
    match tasks.queue().fail(lease, kind, failure).await {
        Ok(task) => {
            let outcome = match task.state {
                TaskState::Dead => {
                    tracing::warn!(task = %task.id, "task dead-lettered after its last attempt");
                    "dead"
                }
                TaskState::Failed => "failed",
                TaskState::Cancelled => "cancelled",
                _ => "retried",
            };
            count(tasks, &agent, outcome);
        }
        Err(QueueError::LeaseLost(_)) => count(tasks, &agent, "lease_lost"),
        Err(error) => {
            tracing::warn!(%error, task = %lease.task.id, "could not record a failed attempt")
        }
    }
}
