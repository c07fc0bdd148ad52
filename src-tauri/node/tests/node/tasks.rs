//! The task queue's crash promise (docs/tasks.md) under SIGKILL: 1,000 tasks enqueued, the
//! node killed at random moments ten times while its workers run them, then restarted; at
//! the end every task succeeded, each completion was recorded once (one `succeeded` event
//! per task in the durable log), no completed step ran twice (one model step per task, and
//! the provider was called at most once more than that per task cut by a kill), the killed
//! attempts show as `expired`, and the database passes `PRAGMA integrity_check`. Also the
//! CLI (`task add|ls|show|cancel|retry`, `agent ls`) on the data dir and through the node.

use std::collections::HashMap;
use std::time::Duration;

use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

use super::support::{Node, TOKEN, all_items, client, flightdeck, integrity, run};

const TASKS: usize = 1000;

fn config(dir: &std::path::Path, provider: &ScriptedProvider) -> std::path::PathBuf {
    config_with(dir, provider, true)
}

/// The config; `run`: whether this node's workers run tasks.
fn config_with(
    dir: &std::path::Path,
    provider: &ScriptedProvider,
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
concurrency = 16
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_task_and_runs_no_finished_step_twice() {
    let provider = ScriptedProvider::start().await.unwrap();
    // Every answer takes 20 ms, so attempts are in flight at every kill.
    let steps: Vec<Step> = (0..TASKS * 3)
        .map(|_| {
            serde_json::from_value(json!({"kind": "reply", "text": "done", "latency_ms": 20}))
                .unwrap()
        })
        .collect();
    provider.script_all(steps);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider);

    // Enqueue everything with a node that runs nothing (each answer comes after the commit),
    // then stop it: the kills start with the whole queue waiting.
    let node = Node::start_with_config(dir.path(), &config_with(dir.path(), &provider, false));
    let http = client();
    for n in 0..TASKS {
        let res = http
            .post(node.url("/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(&json!({"agent": "worker", "input": {"n": n}, "idempotency_key": format!("job-{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
    let mut node = Node::start_with_config(dir.path(), &cfg);
    for kill in 0..10 {
        tokio::time::sleep(Duration::from_millis(somewhere(150, 900))).await;
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        node = Node::start_with_config(dir.path(), &cfg);
        // The same keys again after a kill: nothing is enqueued twice.
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let tasks = loop {
        let tasks = all_items(&node, "/api/v1/tasks").await;
        let done = tasks.iter().filter(|t| t["state"] == "succeeded").count();
        if done == TASKS {
            break tasks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done} of {TASKS} succeeded; states: {:?}",
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
    assert_eq!(tasks.len(), TASKS, "one task per key");
    let (code, _) = node.terminate();
    assert_eq!(code, 0);

    // Each task: one model step (its conversation was never redone once recorded), attempts
    // cut by a kill recorded as expired or parked, the last one succeeded.
    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("flightdeck.db"))
        .connect()
        .await
        .unwrap();
    let steps: Vec<(String, i64)> =
        sqlx::query_as("SELECT task_id, COUNT(*) FROM task_steps GROUP BY task_id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(steps.len(), TASKS);
    assert!(
        steps.iter().all(|(_, n)| *n == 1),
        "a step was recorded twice"
    );
    let completions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT json_extract(body, '$.payload.id'), COUNT(*) FROM events \
         WHERE topic = 'tasks' AND json_extract(body, '$.payload.state') = 'succeeded' GROUP BY 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(completions.len(), TASKS);
    assert!(
        completions.iter().all(|(_, n)| *n == 1),
        "a completion was recorded twice"
    );
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
    // The provider saw one call per task, plus at most one per attempt a kill cut.
    let calls = provider.calls().total as i64;
    assert!(calls >= TASKS as i64, "{calls}");
    assert!(
        calls <= TASKS as i64 + cut,
        "{calls} provider calls for {TASKS} tasks and {cut} cut attempts: a finished step ran again"
    );
    assert!(cut > 0, "no attempt was in flight at any of the kills");
    drop(db);
    assert_eq!(integrity(dir.path()).await, "ok");
    eprintln!("{TASKS} tasks, 10 kills: {cut} attempts cut, {calls} provider calls");
}

// Multi-threaded: the scripted provider must answer while the test waits on a CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_shows_cancels_and_retries_on_the_data_dir_and_through_the_node() {
    let provider = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider);
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

    // Node running: the same through its API; --wait follows a task to its result.
    let node = Node::start_with_config(dir.path(), &cfg);
    let (code, out, err) = cli(&["task", "retry", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued"), "{out}");
    let (code, out, err) = cli(&["task", "add", "worker", "--input", r#"{"n": 2}"#, "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("succeeded"), "{err}");
    assert!(out.contains("echo: Job 2"), "{out}");
    let (code, out, _) = cli(&["task", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("agent:     worker"), "{out}");
    let (_, out, _) = cli(&["task", "ls", "--state", "succeeded", "--json"]);
    assert!(!out.trim().is_empty(), "{out}");
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}
