//! Approvals through the real binary: five agent tasks propose an action that needs a human;
//! the node is SIGKILLed with the five requests pending; after the restart the requests are
//! still pending and their tasks still parked (no worker holds them); three are approved
//! (the CLI through the node, and the API) and two rejected; every task then finishes, the
//! approved actions ran exactly once each (a command executor appending to a file), the
//! rejected ones never, and the reason reached the agent. Then the audit chain verifies with
//! `flightdeck audit verify`, an export and its head are written, and a row deleted in the
//! SQLite file (the node stopped) is named by `audit verify`, exit 1.

use std::time::Duration;

use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

use super::support::{Node, TOKEN, all_items, client, flightdeck, get_json, run};

const TASKS: usize = 5;

fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

fn config(dir: &std::path::Path, provider: &ScriptedProvider, program: &str) -> std::path::PathBuf {
    let path = dir.join("flightdeck.toml");
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
workers = 4
lease_secs = 3
sweep_secs = 1
[approvals]
enable_command_executor = true
[actions.deploy]
description = "Deploy a service"
risk = "high"
executor = "command"
command = ["{program}"]
schema = {{ type = "object", properties = {{ service = {{ type = "string" }} }}, required = ["service"] }}
[[policies]]
name = "deploys need a human"
action = "deploy"
decision = "require_approval"
sla = "2h"
[agents.deployer]
route = "default"
prompt = "Deploy {{{{ service }}}}"
tools = ["deploy"]
"#,
            provider.openai_base_url()
        ),
    )
    .unwrap();
    path
}

/// `flightdeck <args>` while the node holds the data dir (so through its API).
fn through_node(
    dir: &std::path::Path,
    cfg: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = flightdeck(dir);
    cmd.arg("--config")
        .arg(cfg)
        .args(["--secrets", "env"])
        .args(args)
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    run(cmd)
}

async fn pending(node: &Node) -> Vec<Value> {
    let page = get_json(
        &client(),
        &node.url("/api/v1/approvals?status=pending&limit=500"),
        Some(TOKEN),
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_requests_survive_sigkill_and_their_tasks_resume_after_the_decision() {
    let provider = ScriptedProvider::start().await.unwrap();
    provider.script_all((0..TASKS * 2).map(|_| {
        step(json!({"kind": "reply", "text": "Deploying as asked.",
            "tool_calls": [{"name": "deploy", "arguments": "{\"service\": \"api\"}"}],
            "after_tool_result": "finished"}))
    }));
    let dir = tempfile::tempdir().unwrap();
    let effects = dir.path().join("deployed.log");
    let program = dir.path().join("deploy.sh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\ncat >> {}\necho >> {}\necho deployed\n",
            effects.display(),
            effects.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cfg = config(dir.path(), &provider, &program.display().to_string());
    let mut node = Node::start_with_config(dir.path(), &cfg);
    let http = client();
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let res = http
            .post(node.url("/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(&json!({"agent": "deployer", "input": {"service": format!("svc-{n}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        tasks.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pending(&node).await.len() < TASKS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests never all pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    node = Node::start_with_config(dir.path(), &cfg);
    let requests = pending(&node).await;
    assert_eq!(requests.len(), TASKS, "every request survived the kill");
    for t in &tasks {
        let task: Value =
            get_json(&http, &node.url(&format!("/api/v1/tasks/{t}")), Some(TOKEN)).await;
        assert_eq!(task["state"], "waiting_approval", "{task:#}");
    }
    // Parked tasks hold no worker: nothing ran meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!effects.exists(), "nothing ran before a decision");
    let ids: Vec<String> = requests
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    // Approve two through the CLI (the node holds the data dir, so it goes through its API).
    for id in &ids[..2] {
        let (code, out, err) = through_node(dir.path(), &cfg, &["approvals", "approve", id]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("approved"), "{out}");
    }
    let res = http
        .post(node.url(&format!("/api/v1/approvals/{}/decision", ids[2])))
        .bearer_auth(TOKEN)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for id in &ids[3..] {
        let (code, out, err) = through_node(
            dir.path(),
            &cfg,
            &[
                "approvals",
                "reject",
                id,
                "--reason",
                "not during the freeze",
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = all_items(&node, "/api/v1/tasks").await;
        if all.iter().filter(|t| t["state"] == "succeeded").count() == TASKS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tasks never finished: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines = std::fs::read_to_string(&effects).unwrap();
    assert_eq!(
        lines.lines().filter(|l| !l.is_empty()).count(),
        3,
        "three approved, each ran once: {lines}"
    );
    let rejected: Value = get_json(
        &http,
        &node.url(&format!("/api/v1/approvals/{}", ids[3])),
        Some(TOKEN),
    )
    .await;
    let task_id = rejected["request"]["task_id"].as_str().unwrap();
    let task: Value = get_json(
        &http,
        &node.url(&format!("/api/v1/tasks/{task_id}")),
        Some(TOKEN),
    )
    .await;
    let tool = task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tool")
        .unwrap();
    assert!(
        tool["message"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not during the freeze"),
        "{tool:#}"
    );
    // The CLI lists and shows them.
    let (code, out, _) = through_node(dir.path(), &cfg, &["approvals", "ls", "--all"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.contains("deploy")).count(),
        TASKS,
        "{out}"
    );
    let (code, _) = node.terminate();
    assert_eq!(code, 0);

    // The node stopped: the CLI works on the data dir.
    let mut cmd = flightdeck(dir.path());
    cmd.args(["audit", "verify"]);
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
    let head = dir.path().join("head.json");
    let export = dir.path().join("audit.jsonl");
    let mut cmd = flightdeck(dir.path());
    cmd.args(["audit", "export", "--out"])
        .arg(&export)
        .arg("--head-out")
        .arg(&head);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let entries = std::fs::read_to_string(&export).unwrap().lines().count();
    // Five requests, five decisions, three executions.
    assert_eq!(entries, 2 * TASKS + 3, "{entries} entries");
    // Tamper: drop the guard and delete entry 2 directly in the file.
    {
        use sqlx::{ConnectOptions, Executor};
        let mut db = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("flightdeck.db"))
            .connect()
            .await
            .unwrap();
        db.execute("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;")
            .await
            .unwrap();
    }
    let mut cmd = flightdeck(dir.path());
    cmd.args(["audit", "verify", "--head"]).arg(&head);
    let (code, out, _) = run(cmd);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("TAMPERED") && out.contains("entry 2 was removed"),
        "{out}"
    );
}
