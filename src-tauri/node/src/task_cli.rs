//! `flightdeck task add|ls|show|cancel|retry` and `flightdeck agent ls|show`. While a node
//! holds the data dir they go through its API (`/api/v1/tasks`, `/api/v1/agents`); with the
//! node stopped they work on the data dir's database (a task added then waits for the next
//! start), so both give the same answers.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use flightdeck_engine::agents::{self, AgentInfo};
use flightdeck_engine::orchestrator::{NewTask, Queue, Task, TaskFilter, TaskState};
use flightdeck_engine::store::{Store, StoreError};
use serde_json::Value;

use crate::UsageError;
use crate::cli::{AgentAction, Global, TaskAction, TaskAddArgs, TaskRetryArgs, TaskStateArg};
use crate::commands::{data_dir, load_config};
use crate::node_api::NodeApi;

fn state(s: TaskStateArg) -> TaskState {
    match s {
        TaskStateArg::Queued => TaskState::Queued,
        TaskStateArg::Scheduled => TaskState::Scheduled,
        TaskStateArg::Running => TaskState::Running,
        TaskStateArg::WaitingForProvider => TaskState::WaitingForProvider,
        TaskStateArg::WaitingApproval => TaskState::WaitingApproval,
        TaskStateArg::Succeeded => TaskState::Succeeded,
        TaskStateArg::Failed => TaskState::Failed,
        TaskStateArg::Dead => TaskState::Dead,
        TaskStateArg::Cancelled => TaskState::Cancelled,
    }
}

/// Where the commands go: the running node, or the data dir.
pub(crate) enum Target {
    Node(NodeApi),
    Local(Store),
}

pub(crate) async fn target(global: &Global) -> anyhow::Result<Target> {
    match Store::open(&data_dir(global)?).await {
        Ok(store) => Ok(Target::Local(store)),
        Err(StoreError::DataDirLocked { .. }) => Ok(Target::Node(NodeApi::connect(global).await?)),
        Err(e) => Err(e.into()),
    }
}

impl Target {
    /// The queue of the data dir (`Local`), on the system clock.
    pub(crate) fn local_queue(store: &Store) -> Queue {
        Queue::new(
            store.clone(),
            flightdeck_engine::clock::SystemClock::shared(),
        )
    }

    pub(crate) async fn close(self) {
        if let Target::Local(store) = self {
            store.close().await;
        }
    }
}

pub(crate) fn input_of(raw: &str) -> anyhow::Result<Value> {
    json_arg("--input", raw)
}

/// The JSON value of the flag `flag`: given inline, or `@file`.
pub(crate) fn json_arg(flag: &str, raw: &str) -> anyhow::Result<Value> {
    let text = match raw.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} {path}"))?
        }
        None => raw.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| UsageError(format!("{flag} is not JSON: {e}")).into())
}

pub async fn run(global: &Global, action: &TaskAction) -> anyhow::Result<ExitCode> {
    let target = target(global).await?;
    let out = act(global, &target, action).await;
    target.close().await;
    out
}

async fn act(global: &Global, target: &Target, action: &TaskAction) -> anyhow::Result<ExitCode> {
    match action {
        TaskAction::Add(args) => add(global, target, args).await,
        TaskAction::Ls(args) => {
            let filter = TaskFilter {
                state: args.state.map(state),
                agent: args.agent.clone(),
                tag: args.tag.clone(),
            };
            let tasks = list(target, &filter, args.limit).await?;
            if args.json {
                for t in &tasks {
                    println!("{}", serde_json::to_string(t)?);
                }
            } else {
                print_table(&tasks);
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskAction::Show { id, json } => {
            let detail = match target {
                Target::Node(api) => {
                    api.send(api.request(reqwest::Method::GET, &format!("/api/v1/tasks/{id}")))
                        .await?
                }
                Target::Local(store) => {
                    let q = Target::local_queue(store);
                    let mut v = serde_json::to_value(q.get(id).await?)?;
                    v["history"] = serde_json::to_value(q.attempts(id).await?)?;
                    v["steps"] = serde_json::to_value(q.steps(id, None).await?)?;
                    v
                }
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print_detail(&detail);
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskAction::Retry(args) => retry(target, args).await,
        TaskAction::Cancel { id } => {
            let task: Task = match target {
                Target::Node(api) => serde_json::from_value(
                    api.send(
                        api.request(reqwest::Method::POST, &format!("/api/v1/tasks/{id}/cancel")),
                    )
                    .await?,
                )?,
                Target::Local(store) => {
                    let q = Target::local_queue(store);
                    q.cancel(id).await?
                }
            };
            let note = if task.cancel_requested && task.state == TaskState::Running {
                " (cancel asked: it stops at its next step)"
            } else {
                ""
            };
            println!("{} {}{note}", task.id, task.state.as_str());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--wait` with the node stopped: what `what` (a task, a run) does instead.
pub(crate) fn wait_needs_node(what: &str) -> anyhow::Error {
    UsageError(format!(
        "--wait needs a running node (`flightdeck serve`): with the node stopped, the {what} waits for its next start"
    ))
    .into()
}

/// Requeues by id or every dead task; prints each requeued task, and each refused one with
/// its reason (exit 1 when any was refused).
async fn retry(target: &Target, args: &TaskRetryArgs) -> anyhow::Result<ExitCode> {
    let (requeued, refused): (Vec<Task>, Vec<(String, String)>) = match target {
        Target::Node(api) => {
            let body = if args.dead {
                serde_json::json!({"state": "dead", "agent": args.agent})
            } else {
                serde_json::json!({"ids": args.ids})
            };
            let out = api
                .send(
                    api.request(reqwest::Method::POST, "/api/v1/tasks/requeue")
                        .json(&body),
                )
                .await?;
            let requeued = serde_json::from_value(out["requeued"].clone())?;
            let refused = out["refused"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["id"].as_str().unwrap_or_default().to_string(),
                        r["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            (requeued, refused)
        }
        Target::Local(store) => {
            let q = Target::local_queue(store);
            let done = q
                .requeue_many(
                    args.ids.clone(),
                    TaskState::Dead,
                    args.agent.clone(),
                    10_000,
                )
                .await?;
            let mut requeued = Vec::new();
            let mut refused = Vec::new();
            for (id, r) in done {
                match r {
                    Ok(t) => requeued.push(t),
                    Err(e) => refused.push((id, e.to_string())),
                }
            }
            (requeued, refused)
        }
    };
    for t in &requeued {
        println!("{} {}", t.id, t.state.as_str());
    }
    for (id, why) in &refused {
        eprintln!("{id}: {why}");
    }
    if args.dead {
        eprintln!("{} requeued", requeued.len());
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn add(global: &Global, target: &Target, args: &TaskAddArgs) -> anyhow::Result<ExitCode> {
    let new = NewTask {
        agent: args.agent.clone(),
        capability: args.capability.clone(),
        input: input_of(&args.input)?,
        idempotency_key: args.idempotency_key.clone(),
        priority: args.priority,
        run_at: args.run_at,
        max_attempts: args.max_attempts,
        timeout_ms: None,
        tags: args.tags.clone(),
    };
    let task: Task = match target {
        Target::Node(api) => serde_json::from_value(
            api.send(
                api.request(reqwest::Method::POST, "/api/v1/tasks")
                    .json(&new),
            )
            .await?,
        )?,
        Target::Local(store) => {
            if args.wait {
                return Err(wait_needs_node("task"));
            }
            let (config, _) = load_config(global)?;
            let q = Target::local_queue(store);
            // No node: no breaker has seen a call, every agent counts as healthy.
            flightdeck_engine::orchestrator::tasks::enqueue_with(&q, &config, new, "cli", |_| true)
                .await?
                .task
        }
    };
    println!("{} {}", task.id, task.state.as_str());
    if args.wait
        && let Target::Node(api) = target
    {
        return follow(api, &task.id).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each state the task passes through until it ends; exit 0 when it succeeded.
async fn follow(api: &NodeApi, id: &str) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    loop {
        let t = api
            .send(api.request(reqwest::Method::GET, &format!("/api/v1/tasks/{id}")))
            .await?;
        let state = t["state"].as_str().unwrap_or_default().to_string();
        if state != last {
            let why = t["error"]["message"]
                .as_str()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            eprintln!("{id} {state}{why}");
            last = state.clone();
        }
        match state.as_str() {
            "succeeded" => {
                println!("{}", serde_json::to_string_pretty(&t["result"])?);
                return Ok(ExitCode::SUCCESS);
            }
            "failed" | "dead" | "cancelled" => return Ok(ExitCode::FAILURE),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn list(target: &Target, f: &TaskFilter, limit: u32) -> anyhow::Result<Vec<Task>> {
    match target {
        Target::Local(store) => {
            let q = Target::local_queue(store);
            Ok(q.list(f.clone(), None, limit as usize)
                .await?
                .into_iter()
                .map(|(_, t)| t)
                .collect())
        }
        Target::Node(api) => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(s) = f.state {
                query.push(("state", s.as_str().to_string()));
            }
            if let Some(a) = &f.agent {
                query.push(("agent", a.clone()));
            }
            if let Some(t) = &f.tag {
                query.push(("tag", t.clone()));
            }
            let mut out = Vec::new();
            let mut cursor: Option<String> = None;
            while out.len() < limit as usize {
                let mut q = query.clone();
                q.push(("limit", (limit as usize - out.len()).min(500).to_string()));
                if let Some(c) = &cursor {
                    q.push(("cursor", c.clone()));
                }
                let body = api
                    .send(api.request(reqwest::Method::GET, "/api/v1/tasks").query(&q))
                    .await?;
                out.extend(serde_json::from_value::<Vec<Task>>(body["items"].clone())?);
                match body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            Ok(out)
        }
    }
}

fn print_table(tasks: &[Task]) {
    println!(
        "{:<19} {:<20} {:<20} {:>8} {:>4} {:<24} ID",
        "CREATED", "AGENT", "STATE", "ATTEMPTS", "PRIO", "ERROR"
    );
    for t in tasks {
        println!(
            "{:<19} {:<20} {:<20} {:>8} {:>4} {:<24} {}",
            t.created_at.format("%Y-%m-%d %H:%M:%S"),
            t.agent.as_deref().unwrap_or("-"),
            t.state.as_str(),
            format!("{}/{}", t.attempts, t.max_attempts),
            t.priority,
            t.error.as_ref().map_or("-", |e| e.code.as_str()),
            t.id,
        );
    }
}

fn print_detail(t: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    println!("id:        {}", s(&t["id"]));
    println!("agent:     {}", s(&t["agent"]));
    println!("state:     {}", s(&t["state"]));
    println!("attempts:  {}/{}", t["attempts"], t["max_attempts"]);
    println!(
        "created:   {} by {}",
        s(&t["created_at"]),
        s(&t["created_by"])
    );
    if let Some(e) = t["error"].as_object() {
        println!("error:     {} {}", s(&e["code"]), s(&e["message"]));
    }
    if !t["result"].is_null() {
        println!("result:    {}", t["result"]);
    }
    for a in t["history"].as_array().into_iter().flatten() {
        println!(
            "  attempt {} on {}: {} {}",
            a["attempt"],
            s(&a["worker"]),
            s(&a["outcome"]),
            a["error"]["message"].as_str().unwrap_or("")
        );
    }
    for st in t["steps"].as_array().into_iter().flatten() {
        println!(
            "  step {} ({}): {}",
            st["step"],
            s(&st["kind"]),
            st["call_id"].as_str().or(st["name"].as_str()).unwrap_or("")
        );
    }
    for c in t["calls"].as_array().into_iter().flatten() {
        println!(
            "  call {} {}/{} {} cost {}",
            s(&c["id"]),
            s(&c["provider"]),
            s(&c["model"]),
            s(&c["outcome"]),
            c["cost"].as_str().unwrap_or("unknown")
        );
    }
}

pub async fn agents(global: &Global, action: &AgentAction) -> anyhow::Result<ExitCode> {
    let list: Vec<AgentInfo> = match target(global).await? {
        Target::Node(api) => serde_json::from_value(
            api.send(api.request(reqwest::Method::GET, "/api/v1/agents"))
                .await?,
        )?,
        local => {
            local.close().await;
            let (config, _) = load_config(global)?;
            // No node: no breaker has seen a call.
            agents::list(&config, |_| true)
        }
    };
    match action {
        AgentAction::Ls { json } => {
            if *json {
                for a in &list {
                    println!("{}", serde_json::to_string(a)?);
                }
            } else {
                println!(
                    "{:<20} {:<24} {:<8} {:<12} CAPABILITIES",
                    "NAME", "ROUTE", "HEALTHY", "VERSION"
                );
                for a in &list {
                    println!(
                        "{:<20} {:<24} {:<8} {:<12} {}",
                        a.name,
                        a.config.route,
                        if a.healthy { "yes" } else { "no" },
                        a.version,
                        a.config.capabilities.join(",")
                    );
                }
            }
        }
        AgentAction::Show { name } => {
            let Some(a) = list.iter().find(|a| &a.name == name) else {
                bail!(
                    "no agent named {name:?} (agents: {})",
                    list.iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            println!("{}", serde_json::to_string_pretty(a)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
