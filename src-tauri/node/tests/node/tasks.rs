//! The task queue's crash promise (docs/tasks.md) under SIGKILL: 2,000 tasks enqueued (500 of
//! them with a tool step that posts to a webhook, a test HTTP server counting side effects
//! by idempotency key) and 20 two-step runs, the node killed at random moments ten times
//! while its workers run them, then restarted; at the end every task and run succeeded,
//! each completion was recorded once (one `succeeded` event per task in the durable log), no
//! completed step ran twice (one model step per plain task, model + tool + model per webhook
//! task, and the provider was called at most once more than that per attempt cut by a
//! kill), every webhook effect happened exactly once by its step's key, each run's steps
//! started once each, and the database passes `PRAGMA integrity_check`. Also the CLI
//! (`task add|ls|show|cancel|retry`, `agent ls`) on the data dir and through the node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

use super::support::{Node, TOKEN, all_items, client, flightdeck, integrity, run};

/// Plain tasks, webhook tasks and two-step runs.
const PLAIN: usize = 1500;
const HOOKED: usize = 500;
const RUNS: usize = 20;
const TASKS: usize = PLAIN + HOOKED;

fn config(dir: &std::path::Path, provider: &ScriptedProvider, hook: &str) -> std::path::PathBuf {
    config_with(dir, provider, hook, true)
}

/// The config; `run`: whether this node's workers run tasks.
fn config_with(
    dir: &std::path::Path,
    provider: &ScriptedProvider,
    hook: &str,
    run: bool,
) -> std::path::PathBuf {
    let path = dir.join(if run {
        "flightdeck.toml"
    } else {
        "enqueue-only.toml"
    });
    std::fs::write(
        &path,
        format!(
            r#"
[providers.scripted]
kind = "openai"
base_url = "{}"
local = false
[routes.default]
chain = ["scripted/m1"]
[orchestrator]
enabled = {run}
workers = 16
lease_secs = 3
sweep_secs = 1
[agents.worker]
route = "default"
prompt = "Job {{{{ n }}}}"
concurrency = 12
max_attempts = 100
[agents.hooker]
route = "scripted/m2"
prompt = "Notify {{{{ n }}}}"
tools = ["builtin:webhook"]
webhook = {{ url = "{hook}" }}
concurrency = 8
max_attempts = 100
[agents.second]
route = "default"
prompt = "Then {{{{ first }}}}"
max_attempts = 100
"#,
            provider.openai_base_url(),
            run = run
        ),
    )
    .unwrap();
    path
}

/// A pseudo-random number in [lo, hi) from the clock (no seed to keep: any moment will do).
fn somewhere(lo: u64, hi: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    lo + nanos % (hi - lo)
}

/// A webhook receiver that honours `Idempotency-Key`: it counts every delivery, and applies
/// (records) each key's effect once.
#[derive(Default)]
struct Effects {
    deliveries: HashMap<String, u64>,
    applied: HashMap<String, Value>,
}

async fn webhook_server() -> (String, Arc<Mutex<Effects>>) {
    let effects = Arc::new(Mutex::new(Effects::default()));
    let shared = effects.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let shared = shared.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let mut e = shared.lock().unwrap();
                    *e.deliveries.entry(key.clone()).or_default() += 1;
                    e.applied.entry(key).or_insert(body);
                    "applied"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), effects)
}

fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_task_and_runs_no_finished_step_twice() {
    let provider = ScriptedProvider::start().await.unwrap();
    // Every answer takes 20 ms, so attempts are in flight at every kill. The webhook agent's
    // model asks for the tool, then answers once it has the result (one scripted step per
    // request, whichever request comes).
    provider.script_all(
        (0..(PLAIN + 2 * RUNS) * 3)
            .map(|_| step(json!({"kind": "reply", "text": "done", "latency_ms": 20}))),
    );
    for _ in 0..HOOKED * 2 * 3 {
        provider.script_for(
            "m2",
            step(
                json!({"kind": "reply", "latency_ms": 20, "after_tool_result": "notified",
                "tool_calls": [{"name": "builtin_webhook", "arguments": "{\"ping\": true}"}]}),
            ),
        );
    }
    let (hook, effects) = webhook_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider, &hook);

    // Enqueue everything with a node that runs nothing (each answer comes after the commit),
    // then stop it: the kills start with the whole queue waiting.
    let node = Node::start_with_config(
        dir.path(),
        &config_with(dir.path(), &provider, &hook, false),
    );
    let http = client();
    for n in 0..TASKS {
        let agent = if n < PLAIN { "worker" } else { "hooker" };
        let res = http
            .post(node.url("/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(
                &json!({"agent": agent, "input": {"n": n}, "idempotency_key": format!("job-{n}")}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let mut runs = Vec::new();
    for n in 0..RUNS {
        let res = http
            .post(node.url("/api/v1/runs"))
            .bearer_auth(TOKEN)
            .json(&json!({"definition": {"steps": [
                    {"id": "first", "agent": "worker"},
                    {"id": "then", "agent": "second", "needs": ["first"]}]},
                "input": {"n": n}, "idempotency_key": format!("run-{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        runs.push(body["id"].as_str().unwrap().to_string());
    }
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
    let mut node = Node::start_with_config(dir.path(), &cfg);
    for kill in 0..10 {
        tokio::time::sleep(Duration::from_millis(somewhere(150, 900))).await;
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        node = Node::start_with_config(dir.path(), &cfg);
        // The same keys again after a kill: nothing is enqueued or started twice.
        let again = http
            .post(node.url("/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(&json!({"agent": "worker", "input": {"n": kill}, "idempotency_key": format!("job-{kill}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 200);
    }
    // Let the last node finish everything (expired leases come back after lease_secs).
    let total = TASKS + 2 * RUNS;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let tasks = loop {
        let tasks = all_items(&node, "/api/v1/tasks").await;
        let done = tasks.iter().filter(|t| t["state"] == "succeeded").count();
        if done == total {
            break tasks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done} of {total} succeeded; states: {:?}",
            tasks
                .iter()
                .fold(HashMap::<String, usize>::new(), |mut m, t| {
                    *m.entry(t["state"].as_str().unwrap().to_string())
                        .or_default() += 1;
                    m
                })
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(tasks.len(), total, "one task per key and per run step");
    for id in &runs {
        let r: Value = http
            .get(node.url(&format!("/api/v1/runs/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["state"], "succeeded", "{r:#}");
        assert!(
            r["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["state"] == "succeeded")
        );
    }
    let (code, _) = node.terminate();
    assert_eq!(code, 0);

    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("flightdeck.db"))
        .connect()
        .await
        .unwrap();
    // Steps: one model step per plain task; model, tool, model per webhook task; never a
    // step recorded twice (the primary key would refuse it; a redone step would show as an
    // extra one).
    let steps: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT s.task_id, t.agent, COUNT(*) FROM task_steps s JOIN tasks t ON t.id = s.task_id \
         GROUP BY s.task_id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(steps.len(), total);
    for (id, agent, n) in &steps {
        let want = if agent == "hooker" { 3 } else { 1 };
        assert_eq!(*n, want, "task {id} ({agent}) has {n} steps");
    }
    let completions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT json_extract(body, '$.payload.id'), COUNT(*) FROM events \
         WHERE topic = 'tasks' AND json_extract(body, '$.payload.state') = 'succeeded' GROUP BY 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(completions.len(), total);
    assert!(
        completions.iter().all(|(_, n)| *n == 1),
        "a completion was recorded twice"
    );
    // Each run: its two steps, each with one task, started once.
    let run_steps: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT run_id, COUNT(*), COUNT(DISTINCT task_id) FROM run_steps GROUP BY run_id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(run_steps.len(), RUNS);
    assert!(run_steps.iter().all(|(_, n, t)| *n == 2 && *t == 2));
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_attempts WHERE outcome IN ('expired', 'parked')",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_attempts WHERE outcome IS NULL")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(unfinished, 0, "every attempt was settled");
    // The provider saw one call per model step, plus at most one per attempt a kill cut.
    let model_steps = (PLAIN + 2 * RUNS + 2 * HOOKED) as i64;
    let calls = provider.calls().total as i64;
    assert!(calls >= model_steps, "{calls}");
    assert!(
        calls <= model_steps + cut,
        "{calls} provider calls for {model_steps} model steps and {cut} cut attempts: a finished step ran again"
    );
    assert!(cut > 0, "no attempt was in flight at any of the kills");
    // Webhook effects: every webhook task's tool step delivered with its step's key, each
    // effect applied exactly once; a step a kill cut between the POST and its record was
    // delivered again with the same key (at-least-once), and the receiver applied it once.
    let tool_keys: Vec<(String,)> = sqlx::query_as(
        "SELECT s.task_id || ':' || s.round || ':' || s.step FROM task_steps s \
         WHERE s.kind = 'tool'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(tool_keys.len(), HOOKED);
    let deliveries: u64 = {
        let e = effects.lock().unwrap();
        assert_eq!(e.applied.len(), HOOKED, "one effect per webhook task");
        for (key,) in &tool_keys {
            assert!(e.applied.contains_key(key), "no effect for step {key}");
        }
        e.deliveries.values().sum()
    };
    let redelivered = deliveries - HOOKED as u64;
    drop(db);
    assert_eq!(integrity(dir.path()).await, "ok");
    eprintln!(
        "{TASKS} tasks and {RUNS} runs, 10 kills: {cut} attempts cut, {calls} provider calls, \
         {deliveries} webhook deliveries for {HOOKED} effects ({redelivered} repeated with the same key)"
    );
}

// Multi-threaded: the scripted provider must answer while the test waits on a CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_shows_cancels_and_retries_on_the_data_dir_and_through_the_node() {
    let provider = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider, "http://127.0.0.1:9/hook");
    let cli = |args: &[&str]| {
        let mut c = flightdeck(dir.path());
        c.arg("--config")
            .arg(&cfg)
            .args(["--secrets", "env"])
            .args(args);
        c.env("FLIGHTDECK_API_TOKEN", TOKEN);
        run(c)
    };
    // Node stopped: on the data dir. A delayed task, so it stays put.
    let (code, out, err) = cli(&[
        "task",
        "add",
        "worker",
        "--input",
        r#"{"n": 1}"#,
        "--run-at",
        "2099-01-01",
        "--tag",
        "nightly",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_string();
    assert!(out.contains("scheduled"), "{out}");
    let (code, _, err) = cli(&["task", "add", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("no agent named \"nobody\""), "{err}");
    let (code, _, err) = cli(&["task", "add", "worker", "--input", "{not json"]);
    assert_eq!(code, 2, "a usage error: {err}");
    let (_, out, _) = cli(&["task", "ls", "--tag", "nightly", "--json"]);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.as_str());
    let (code, out, _) = cli(&["task", "cancel", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("cancelled"), "{out}");
    let (code, _, err) = cli(&["task", "cancel", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("cancelled already"), "{err}");
    let (_, out, _) = cli(&["agent", "ls"]);
    assert!(out.contains("worker") && out.contains("default"), "{out}");
    // Runs on the data dir: a dry run prints the plan; a bad definition is refused whole.
    let chain = r#"{"steps": [{"id": "first", "agent": "worker"}, {"id": "then", "agent": "second", "needs": ["first"]}]}"#;
    let (code, out, err) = cli(&[
        "run",
        "start",
        "--dry-run",
        "--definition",
        chain,
        "--input",
        r#"{"n": 3}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("model calls: 2 to"), "{out}");
    assert!(out.contains("worst-case cost: unknown"), "{out}");
    let (code, _, err) = cli(&["run", "start", "--definition", r#"{"agents": ["nobody"]}"#]);
    assert_eq!(code, 1);
    assert!(
        err.contains("agent `nobody`, which is not configured"),
        "{err}"
    );
    let (code, out, err) = cli(&[
        "run",
        "start",
        "--definition",
        chain,
        "--input",
        r#"{"n": 3}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let run_id = out.split_whitespace().next().unwrap().to_string();
    assert!(out.contains("running"), "{out}");

    // Node running: the same through its API; --wait follows a task to its result.
    let node = Node::start_with_config(dir.path(), &cfg);
    let (code, out, err) = cli(&["task", "retry", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued"), "{out}");
    // Each id answers on its own: the requeued one again is refused, an unknown one too.
    let (code, _, err) = cli(&["task", "retry", &id, "no-such-task"]);
    assert_eq!(code, 1);
    assert!(err.contains("no task no-such-task"), "{err}");
    assert!(err.contains("only dead, failed or cancelled"), "{err}");
    let (code, _, err) = cli(&["task", "retry", "--dead", "--agent", "worker"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 requeued"), "{err}");
    let (code, out, err) = cli(&["task", "add", "worker", "--input", r#"{"n": 2}"#, "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("succeeded"), "{err}");
    assert!(out.contains("echo: Job 2"), "{out}");
    let (code, out, _) = cli(&["task", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("agent:     worker"), "{out}");
    let (_, out, _) = cli(&["task", "ls", "--state", "succeeded", "--json"]);
    assert!(!out.trim().is_empty(), "{out}");
    // The run started on the data dir ran when the node came up; another, followed live.
    let (code, out, err) = cli(&[
        "run",
        "start",
        "--definition",
        chain,
        "--input",
        r#"{"n": 4}"#,
        "--wait",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("succeeded"), "{err}");
    assert!(out.contains("echo: Then"), "{out}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, out, _) = cli(&["run", "show", &run_id]);
        assert_eq!(code, 0);
        if out.contains("state:     succeeded") {
            assert!(out.contains("then"), "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, out, _) = cli(&["run", "ls"]);
    assert!(out.contains(&run_id), "{out}");
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}

/// A node stopped gracefully while a task runs parks the task (its attempt refunded, nothing
/// lost), within the shutdown budget; the next start runs it to the end. The desktop app
/// stops its engine the same way when its window closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_parks_running_tasks_and_the_next_start_resumes_them() {
    let provider = ScriptedProvider::start().await.unwrap();
    // The first answer is slow: the task is running when the node is asked to stop.
    provider.script(step(
        json!({"kind": "reply", "text": "late", "latency_ms": 30_000}),
    ));
    provider.script(step(json!({"kind": "reply", "text": "done"})));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider, "http://127.0.0.1:9/hook");
    let node = Node::start_with_config(dir.path(), &cfg);
    let http = client();
    let res: Value = http
        .post(node.url("/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(&json!({"agent": "worker", "input": {"n": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = res["id"].as_str().unwrap().to_string();
    let get = |node: &Node| {
        let url = node.url(&format!("/api/v1/tasks/{id}"));
        let http = http.clone();
        async move {
            http.get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Running, and its call is at the provider (which holds the answer back).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(&node).await["state"] != "running" || provider.calls().total == 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = std::time::Instant::now();
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
    let node = Node::start_with_config(dir.path(), &cfg);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let t = loop {
        let t = get(&node).await;
        if t["state"] == "succeeded" {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "{t:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(t["result"], "done");
    let history = t["history"].as_array().unwrap();
    assert_eq!(history[0]["outcome"], "parked", "{t:#}");
    assert_eq!(history[1]["outcome"], "succeeded");
    // The parked attempt was refunded: this round counts one attempt.
    assert_eq!(t["attempts"], 1);
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}
