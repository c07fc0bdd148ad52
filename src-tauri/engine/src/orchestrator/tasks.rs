//! [`Tasks`]: the queue as the rest of the node sees it (`engine.tasks()`): enqueue with
//! agent checks and capability routing, reads, cancel and requeue, and a wake-up for the
//! workers when there is new work.

use std::sync::Arc;

use tokio::sync::Notify;

use super::runs::{self, NewRun};
use super::{Enqueued, NewTask, Queue, QueueError, Routed, Task};
use crate::agents;
use crate::agents::metrics::AgentMetrics;
use crate::config::{Config, ConfigHandle};
use crate::providers::Providers;

#[derive(Clone)]
pub struct Tasks {
    queue: Queue,
    config: ConfigHandle,
    providers: Providers,
    metrics: AgentMetrics,
    approvals: crate::approvals::Approvals,
    /// Workers wait on it between polls.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// `wake` is what the workers wait on between polls (the approvals domain notifies it
    /// when a decision puts a task back on the queue).
    pub fn new(
        queue: Queue,
        config: ConfigHandle,
        providers: Providers,
        metrics: AgentMetrics,
        approvals: crate::approvals::Approvals,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            queue,
            config,
            providers,
            metrics,
            approvals,
            wake,
        }
    }

    pub fn approvals(&self) -> &crate::approvals::Approvals {
        &self.approvals
    }

    pub(crate) fn metrics(&self) -> &AgentMetrics {
        &self.metrics
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    pub(crate) fn config(&self) -> &ConfigHandle {
        &self.config
    }

    pub(crate) fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Enqueues `new` for `actor` (see [`enqueue_with`]), health from the breakers, and
    /// wakes the workers.
    pub async fn enqueue(&self, new: NewTask, actor: &str) -> Result<Enqueued, QueueError> {
        let config = self.config.current();
        let enqueued = enqueue_with(&self.queue, &config, new, actor, |route| {
            self.providers.readiness(&config, route) != crate::providers::Admission::Rejected
        })
        .await?;
        if enqueued.created {
            self.wake.notify_waiters();
        }
        Ok(enqueued)
    }

    pub async fn cancel(&self, id: &str) -> Result<Task, QueueError> {
        self.queue.cancel(id).await
    }

    fn healthy<'a>(&'a self, config: &'a Arc<Config>) -> impl Fn(&str) -> bool + 'a {
        move |route| {
            self.providers.readiness(config, route) != crate::providers::Admission::Rejected
        }
    }

    /// Starts run `new` for `actor` (see [`start_run_with`]) and wakes the workers.
    pub async fn start_run(
        &self,
        new: NewRun,
        actor: &str,
    ) -> Result<(runs::Run, bool), runs::RunError> {
        let config = self.config.current();
        let done = start_run_with(&self.queue, &config, new, actor, self.healthy(&config)).await?;
        if done.1 {
            self.wake.notify_waiters();
        }
        Ok(done)
    }

    /// The plan of run `new` without running it (a dry run).
    pub async fn plan_run(&self, new: &NewRun) -> Result<runs::RunPlan, runs::RunError> {
        let config = self.config.current();
        plan_run_with(&self.queue, &config, new, self.healthy(&config)).await
    }

    pub async fn cancel_run(&self, id: &str) -> Result<runs::Run, runs::RunError> {
        self.queue.cancel_run(id).await
    }

    /// See [`Queue::requeue_many`]; wakes the workers when any was requeued.
    pub async fn requeue_many(
        &self,
        ids: Vec<String>,
        state: super::TaskState,
        agent: Option<String>,
        limit: usize,
    ) -> Result<Vec<(String, Result<Task, QueueError>)>, QueueError> {
        let out = self.queue.requeue_many(ids, state, agent, limit).await?;
        if out.iter().any(|(_, r)| r.is_ok()) {
            self.wake.notify_waiters();
        }
        Ok(out)
    }

    pub async fn requeue(&self, id: &str) -> Result<Task, QueueError> {
        let task = self.queue.requeue(id).await?;
        self.wake.notify_waiters();
        Ok(task)
    }
}

/// Enqueues `new` for `actor` on `queue` under `config`: a retry with the same key gets its
/// task back first (even if its agent has left the config since); a named agent must exist;
/// a capability picks an agent (healthy by `healthy(route)` first, then least loaded, then
/// by name). The node and the CLI on a stopped node's data dir both enqueue through here.
pub async fn enqueue_with(
    queue: &Queue,
    config: &Config,
    new: NewTask,
    actor: &str,
    healthy: impl Fn(&str) -> bool,
) -> Result<Enqueued, QueueError> {
    if let Some(task) = queue.find_by_key(&new).await? {
        return Ok(Enqueued {
            task,
            created: false,
        });
    }
    let load = if new.capability.is_some() {
        queue.load().await?
    } else {
        Vec::new()
    };
    queue
        .enqueue_routed(new, actor, |t| {
            let agent = match (&t.agent, &t.capability) {
                (Some(a), _) => {
                    if !config.agents.contains_key(a) {
                        return Err(QueueError::UnknownAgent(a.clone(), names(config)));
                    }
                    a.clone()
                }
                (None, Some(cap)) => pick(config, cap, &load, &healthy)
                    .ok_or_else(|| QueueError::UnknownCapability(cap.clone()))?,
                (None, None) => return Ok(Routed::default()),
            };
            let default_attempts = config.agents.get(&agent).map(|a| a.max_attempts);
            Ok(Routed {
                agent: Some(agent),
                default_attempts,
            })
        })
        .await
}

/// The definition `new` asks for, checked against `config` and its input (a capability
/// picks an agent like a task's does).
async fn resolve_run(
    queue: &Queue,
    config: &Config,
    new: &NewRun,
    healthy: impl Fn(&str) -> bool,
) -> Result<runs::Resolved, runs::RunError> {
    let spec = runs::definition_of(new, config)?;
    let load = queue.load().await?;
    Ok(runs::spec::resolve(
        &spec,
        config,
        Some(&new.input),
        |cap| pick(config, cap, &load, &healthy),
    )?)
}

/// Starts run `new` for `actor` on `queue` under `config`: checked whole, then created with
/// its first steps enqueued in one transaction. `false`: the idempotency key named a run
/// with the same request already. The node and the CLI on a stopped node's data dir both
/// start runs through here.
pub async fn start_run_with(
    queue: &Queue,
    config: &Config,
    new: NewRun,
    actor: &str,
    healthy: impl Fn(&str) -> bool,
) -> Result<(runs::Run, bool), runs::RunError> {
    let fingerprint = runs::fingerprint(&new)?;
    let resolved = resolve_run(queue, config, &new, healthy).await?;
    let row = runs::store::NewRunRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: new.run.clone(),
        spec: resolved,
        input: new.input,
        idempotency_key: new.idempotency_key,
        fingerprint,
        created_by: actor.to_string(),
    };
    queue.create_run(row).await
}

/// The plan of run `new` under `config` (a dry run: nothing is called or written).
pub async fn plan_run_with(
    queue: &Queue,
    config: &Arc<Config>,
    new: &NewRun,
    healthy: impl Fn(&str) -> bool,
) -> Result<runs::RunPlan, runs::RunError> {
    let resolved = resolve_run(queue, config, new, healthy).await?;
    Ok(runs::plan::plan(&resolved, config, queue.clock().now()))
}

/// The agent for `capability` (see [`agents::pick`]).
fn pick(
    config: &Config,
    capability: &str,
    load: &[(String, u64)],
    healthy: impl Fn(&str) -> bool,
) -> Option<String> {
    let candidates = agents::with_capability(config, capability)
        .into_iter()
        .map(|name| agents::Candidate {
            name: name.to_string(),
            healthy: config.agents.get(name).is_some_and(|a| healthy(&a.route)),
            load: load.iter().find(|(n, _)| n == name).map_or(0, |(_, l)| *l),
        })
        .collect();
    agents::pick(candidates)
}

fn names(config: &Config) -> String {
    if config.agents.is_empty() {
        "none".into()
    } else {
        config.agents.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}
