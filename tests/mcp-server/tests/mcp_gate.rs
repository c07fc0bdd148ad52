//! MCP tools behind the approvals gate, end to end on a real engine: an agent (driven by the
//! scripted provider) is offered the tools of this crate's MCP server (names, descriptions
//! and schemas from the server), proposes `delete_file`, the task parks for approval, the
//! decision lets it run once (the server's side-effect file has one line); the same over
//! streamable HTTP; and a server that dies in the middle of a call is an error result for the
//! agent, recorded, and reconnected on the next use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flightdeck_engine::approvals::{ApprovalFilter, ApprovalState, DecisionInput, VoteDecision};
use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::orchestrator::{NewTask, TaskState};
use flightdeck_engine::{Engine, EngineOptions};
use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

const SERVER: &str = env!("CARGO_BIN_EXE_mcp-test-server");

fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

async fn engine(dir: &std::path::Path, provider: &ScriptedProvider, mcp: &str) -> Engine {
    let text = format!(
        r#"
[providers.scripted]
kind = "openai"
base_url = "{}"
local = false
[routes.default]
chain = ["scripted/m1"]
[orchestrator]
sweep_secs = 1
{mcp}
[[policies]]
name = "deletes need a human"
action = "mcp:files:delete_file"
decision = "require_approval"
[[policies]]
name = "echo is harmless"
action = ["mcp:files:echo", "mcp:files:crash"]
decision = "allow"
[agents.janitor]
route = "default"
prompt = "Clean up {{{{ what }}}}"
tools = ["mcp:files"]
"#,
        provider.openai_base_url()
    );
    let mut config: Config = toml::from_str(&text).unwrap();
    config.secrets.backend = SecretsBackend::Env;
    config.validate(None).unwrap();
    Engine::open(EngineOptions {
        data_dir: dir.to_path_buf(),
        config,
        config_source: Default::default(),
        watch_config: false,
        env_token: Some("mcp-test-token-0123456789".into()),
        require_token: false,
        clock: flightdeck_engine::clock::SystemClock::shared(),
    })
    .await
    .unwrap()
}

async fn until(
    engine: &Engine,
    id: &str,
    state: TaskState,
) -> flightdeck_engine::orchestrator::Task {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let t = engine.tasks().queue().get(id).await.unwrap();
        if t.state == state {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} never reached {state:?}: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn enqueue(engine: &Engine) -> String {
    engine
        .tasks()
        .enqueue(
            NewTask {
                agent: Some("janitor".into()),
                input: json!({"what": "the tmp dir"}),
                ..Default::default()
            },
            "test",
        )
        .await
        .unwrap()
        .task
        .id
}

async fn gated_delete_runs_once(mcp: &str, effects: &std::path::Path) {
    let provider = ScriptedProvider::start().await.unwrap();
    provider.script(step(json!({"kind": "reply", "text": "Removing the stale file.",
        "tool_calls": [{"name": "mcp_files_delete_file", "arguments": "{\"path\": \"/tmp/stale\"}"}],
        "after_tool_result": "cleaned"})));
    provider.script(step(json!({"kind": "reply", "text": "cleaned"})));
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), &provider, mcp).await;
    // The server's own names, descriptions and schemas.
    let tools = engine
        .approvals()
        .mcp_tools(&engine.config().current(), "files")
        .await
        .unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["delete_file", "echo", "crash"]);
    assert_eq!(tools[0].description, "Delete a file from the test area.");
    assert_eq!(tools[0].schema["required"], json!(["path"]));
    let id = enqueue(&engine).await;
    until(&engine, &id, TaskState::WaitingApproval).await;
    let pending = engine
        .approvals()
        .list(
            ApprovalFilter {
                state: Some(ApprovalState::Pending),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    let pending: Vec<_> = pending.into_iter().map(|(_, r)| r).collect();
    assert_eq!(pending.len(), 1);
    let r = &pending[0];
    assert_eq!(
        (r.action.as_str(), r.risk.as_str()),
        ("mcp:files:delete_file", "critical")
    );
    assert_eq!(r.description, "Delete a file from the test area.");
    assert!(!effects.exists(), "nothing ran before the decision");
    // An edit that breaks the server's schema is refused.
    let bad = DecisionInput {
        decision: VoteDecision::Approve,
        reason: None,
        arguments: Some(json!({"path": "/tmp/stale", "force": true})),
        always: None,
    };
    let e = engine
        .approvals()
        .decide(&r.id, "desktop:alice", bad)
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "arguments_invalid", "{e}");
    let ok = DecisionInput {
        decision: VoteDecision::Approve,
        reason: None,
        arguments: None,
        always: None,
    };
    engine
        .approvals()
        .decide(&r.id, "desktop:alice", ok)
        .await
        .unwrap();
    let t = until(&engine, &id, TaskState::Succeeded).await;
    assert_eq!(t.result, Some(json!("cleaned")));
    assert_eq!(
        std::fs::read_to_string(effects).unwrap(),
        "/tmp/stale\n",
        "called exactly once"
    );
    let steps = engine.tasks().queue().steps(&id, None).await.unwrap();
    let tool = steps
        .iter()
        .find(|s| s.name.as_deref() == Some("mcp_files_delete_file"))
        .unwrap();
    assert_eq!(tool.message.joined_text(), "deleted /tmp/stale");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_mcp_tool_over_stdio_is_approved_and_called_once() {
    let area = tempfile::tempdir().unwrap();
    let effects = area.path().join("effects.log");
    let mcp = format!(
        "[mcp.files]\ncommand = [\"{SERVER}\"]\nenv = {{ MCP_EFFECTS = \"{}\" }}\n[mcp.files.tools.delete_file]\nrisk = \"critical\"\n",
        effects.display()
    );
    gated_delete_runs_once(&mcp, &effects).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_mcp_tool_over_streamable_http_is_approved_and_called_once() {
    let area = tempfile::tempdir().unwrap();
    let effects = area.path().join("effects.log");
    let mut child = tokio::process::Command::new(SERVER)
        .args(["--http", "127.0.0.1:0"])
        .env("MCP_EFFECTS", &effects)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let url = line.strip_prefix("listening on ").unwrap().to_string();
    let mcp = format!(
        "[mcp.files]\nurl = \"{url}\"\n[mcp.files.tools.delete_file]\nrisk = \"critical\"\n"
    );
    gated_delete_runs_once(&mcp, &effects).await;
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_call_is_an_error_for_the_agent_and_is_reconnected() {
    let provider = ScriptedProvider::start().await.unwrap();
    provider.script(step(json!({"kind": "reply",
        "tool_calls": [{"name": "mcp_files_crash", "arguments": "{}"}]})));
    provider.script(step(json!({"kind": "reply", "text": "the tool broke",
        "tool_calls": [{"name": "mcp_files_echo", "arguments": "{\"text\": \"still here\"}"}]})));
    provider.script(step(json!({"kind": "reply", "text": "done"})));
    let dir = tempfile::tempdir().unwrap();
    let mcp = format!("[mcp.files]\ncommand = [\"{SERVER}\"]\ntimeout_ms = 5000\n");
    let engine = engine(dir.path(), &provider, &mcp).await;
    let id = enqueue(&engine).await;
    let t = until(&engine, &id, TaskState::Succeeded).await;
    assert_eq!(t.result, Some(json!("done")));
    let steps = engine.tasks().queue().steps(&id, None).await.unwrap();
    let tools: Vec<_> = steps.iter().filter(|s| s.name.is_some()).collect();
    assert_eq!(tools.len(), 2, "{steps:?}");
    assert!(tools[0].message.is_error, "{:?}", tools[0]);
    assert!(
        tools[0].message.joined_text().contains("MCP server files"),
        "{:?}",
        tools[0]
    );
    // The next call found a fresh server.
    assert!(!tools[1].message.is_error);
    assert_eq!(tools[1].message.joined_text(), "still here");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_each_mcp_server_and_a_failure_without_its_path() {
    let provider = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mcp = format!(
        "[mcp.files]\ncommand = [\"{SERVER}\"]\n[mcp.ghost]\ncommand = [\"/nonexistent/flightdeck-mcp\"]\n"
    );
    let engine = engine(dir.path(), &provider, &mcp).await;
    let status = |report: &flightdeck_engine::health::HealthReport, name: &str| {
        report
            .dependencies
            .iter()
            .find(|d| d.name == name)
            .map(|d| {
                (
                    format!("{:?}", d.status),
                    d.message.clone().unwrap_or_default(),
                )
            })
            .unwrap()
    };
    let before = engine.health().await;
    assert_eq!(
        status(&before, "mcp:files"),
        ("Healthy".into(), "not used yet".into())
    );
    let config = engine.config().current();
    engine
        .approvals()
        .mcp_tools(&config, "files")
        .await
        .unwrap();
    let e = engine
        .approvals()
        .mcp_tools(&config, "ghost")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("could not start"), "{e}");
    let after = engine.health().await;
    assert_eq!(
        status(&after, "mcp:files"),
        ("Healthy".into(), "connected, 3 tools".into())
    );
    let (ghost, message) = status(&after, "mcp:ghost");
    assert_eq!(ghost, "Degraded");
    assert!(
        !message.contains("/nonexistent"),
        "the public message names no path: {message}"
    );
    engine.shutdown().await;
}
