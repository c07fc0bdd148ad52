//! Multi-agent runs end to end over the router, run by the node's workers against the
//! scripted provider (one model per agent, so each agent's answers are scripted apart): a
//! DAG whose second step reads the first's output, a fan-out with a majority vote and its
//! disagreement, a judge, a dry run that calls nothing, invalid definitions refused whole
//! before anything runs, a `[runs.<name>]` of the config, idempotency keys and cancel.

use std::time::Duration;

use axum::http::StatusCode;
use flightdeck_engine::agents::AgentConfig;
use serde_json::{Value, json};

use crate::gateway::{Gw, gateway, post, step};
use crate::support::{Reply, get_authed, send};

fn agent(model: &str, prompt: &str, extra: &str) -> AgentConfig {
    toml::from_str(&format!(
        "route = \"up/{model}\"\nprompt = {prompt:?}\nmax_attempts = 1\n{extra}"
    ))
    .unwrap()
}

const LABEL: &str = "output_schema = { type = \"object\", properties = { label = { type = \"string\" } }, required = [\"label\"] }\nmax_tokens = 50";

async fn with_agents() -> Gw {
    gateway(|c| {
        c.agents.insert(
            "facts".into(),
            agent(
                "facts",
                "List facts about {{ topic }}",
                "output_schema = { type = \"object\", properties = { facts = { type = \"array\" } }, required = [\"facts\"] }",
            ),
        );
        c.agents.insert(
            "writer".into(),
            agent("writer", "Write about {{ topic }} from {{ facts.facts }}", ""),
        );
        for v in ["v1", "v2", "v3"] {
            c.agents
                .insert(v.into(), agent(v, "Label {{ text }}", LABEL));
        }
        c.agents.insert(
            "judge".into(),
            agent("judge", "Pick from {{ results }} ({{ disagreements }})", ""),
        );
        c.runs.insert(
            "review".into(),
            serde_json::from_value(json!({"agents": ["v1", "v2", "v3"],
                "aggregate": {"mode": "vote", "field": "label"}}))
            .unwrap(),
        );
    })
    .await
}

async fn start(g: &Gw, body: Value) -> Reply {
    send(&g.app, post("/api/v1/runs", body)).await
}

async fn run(g: &Gw, id: &str) -> Value {
    let r = get_authed(&g.app, &format!("/api/v1/runs/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}

/// The run once it is no longer running.
async fn finished(g: &Gw, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = run(g, id).await;
        if r["state"] != "running" {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run never finished: {r:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn reply(text: &str) -> flightdeck_scripted_provider::Step {
    step(json!({"kind": "reply", "text": text}))
}

#[tokio::test]
async fn a_step_reads_the_output_of_the_step_it_needs() {
    let g = with_agents().await;
    g.up.script_for("facts", reply(r#"{"facts": ["owls hoot"]}"#));
    g.up.script_for("writer", reply("An owl poem."));
    let r = start(
        &g,
        json!({"definition": {"steps": [
            {"id": "facts", "agent": "facts"},
            {"id": "poem", "agent": "writer", "needs": ["facts"]}]},
            "input": {"topic": "owls"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["state"], "running");
    assert_eq!(r.json["steps"][1]["state"], "pending");
    let id = r.json["id"].as_str().unwrap().to_string();
    let done = finished(&g, &id).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["result"], json!({"poem": "An owl poem."}));
    assert_eq!(done["steps"][0]["result"], json!({"facts": ["owls hoot"]}));
    assert_eq!(done["steps"][1]["level"], 1);
    // The writer's prompt carried the facts step's output.
    let calls = g.up.calls();
    let writer = calls
        .recent
        .iter()
        .find(|c| c.model.as_deref() == Some("writer"))
        .unwrap();
    assert!(
        writer.body.to_string().contains("owls hoot"),
        "{}",
        writer.body
    );
    // One task per step, tagged with the run.
    let tasks = get_authed(&g.app, &format!("/api/v1/tasks?tag=run:{id}")).await;
    assert_eq!(tasks.json["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_fan_out_votes_and_records_the_disagreement() {
    let g = with_agents().await;
    g.up.script_for("v1", reply(r#"{"label": "spam"}"#));
    g.up.script_for("v2", reply(r#"{"label": "ham"}"#));
    g.up.script_for("v3", reply(r#"{"label": "spam"}"#));
    // The configured `[runs.review]`, by name.
    let r = start(&g, json!({"run": "review", "input": {"text": "WIN NOW"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["name"], "review");
    let done = finished(&g, r.json["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(
        done["result"],
        json!({"field": "label", "value": "spam", "votes": 2, "answers": 3})
    );
    assert_eq!(done["decided_by"], json!(["v1", "v3"]));
    assert_eq!(
        done["disagreements"],
        json!([{"value": "spam", "steps": ["v1", "v3"]}, {"value": "ham", "steps": ["v2"]}])
    );
    let defs = get_authed(&g.app, "/api/v1/runs/definitions").await;
    assert_eq!(defs.json[0]["name"], "review");
    assert_eq!(defs.json[0]["definition"]["aggregate"]["field"], "label");
    let r = start(&g, json!({"run": "nope"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("runs: review")
    );
}

#[tokio::test]
async fn a_judge_gets_every_result_and_answers_for_the_run() {
    let g = with_agents().await;
    g.up.script_for("v1", reply(r#"{"label": "spam"}"#));
    g.up.script_for("v2", reply(r#"{"label": "ham"}"#));
    g.up.script_for("judge", reply("spam, on balance"));
    let r = start(
        &g,
        json!({"definition": {"agents": ["v1", "v2"],
            "aggregate": {"mode": "judge", "judge": "judge"}},
            "input": {"text": "WIN NOW"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let done = finished(&g, r.json["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done:#}");
    assert_eq!(done["result"], "spam, on balance");
    assert_eq!(done["decided_by"], json!(["judge"]));
    assert_eq!(done["disagreements"].as_array().unwrap().len(), 2);
    let calls = g.up.calls();
    let judge = calls
        .recent
        .iter()
        .find(|c| c.model.as_deref() == Some("judge"))
        .unwrap();
    let prompt = judge.body.to_string();
    assert!(
        prompt.contains("spam") && prompt.contains("ham"),
        "{prompt}"
    );
}

#[tokio::test]
async fn invalid_definitions_are_refused_whole_and_nothing_runs() {
    let g = with_agents().await;
    let cases = [
        (
            json!({"definition": {"steps": [{"id": "a", "agent": "facts", "needs": ["b"]},
                {"id": "b", "agent": "facts", "needs": ["a"]}]}, "input": {"topic": "x"}}),
            "cycle",
        ),
        (
            json!({"definition": {"agents": ["ghost"]}, "input": {}}),
            "agent `ghost`, which is not configured",
        ),
        (
            json!({"definition": {"steps": [{"id": "facts", "agent": "v1"},
                {"id": "poem", "agent": "writer", "needs": ["facts"]}]},
                "input": {"topic": "x", "text": "y"}}),
            "has no property `facts`",
        ),
        (
            json!({"definition": {"agents": ["facts"]}, "input": {"subject": "x"}}),
            "reads `topic`",
        ),
    ];
    for (body, want) in cases {
        for path in ["/api/v1/runs", "/api/v1/runs/plan"] {
            let r = send(&g.app, post(path, body.clone())).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{path} {body}: {:?}",
                r.json
            );
            assert_eq!(r.json["error"]["code"], "run_invalid");
            let message = r.json["error"]["message"].as_str().unwrap();
            assert!(message.contains(want), "{message} lacks {want}");
        }
    }
    let r = start(&g, json!({"input": {}})).await;
    assert_eq!(r.json["error"]["code"], "bad_request");
    let list = get_authed(&g.app, "/api/v1/runs").await;
    assert_eq!(list.json["items"], json!([]));
    assert_eq!(g.up.calls().total, 0);
}

#[tokio::test]
async fn a_dry_run_plans_without_calling_or_writing() {
    let g = with_agents().await;
    let r = send(
        &g.app,
        post(
            "/api/v1/runs/plan",
            json!({"definition": {"steps": [
                {"id": "facts", "agent": "facts"},
                {"id": "poem", "agent": "writer", "needs": ["facts"]}]},
                "input": {"topic": "owls"}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["levels"], json!([["facts"], ["poem"]]));
    assert_eq!(r.json["steps"][0]["chain"], json!(["up/facts"]));
    assert_eq!(r.json["min_calls"], 2);
    // Each agent: 1 attempt × 8 steps (the default max_steps).
    assert_eq!(r.json["max_calls"], 16);
    assert!(r.json["worst_case_cost_usd"].is_null());
    assert!(r.json["steps"][0]["cost_unknown"].is_string());
    assert_eq!(g.up.calls().total, 0);
    let list = get_authed(&g.app, "/api/v1/runs").await;
    assert_eq!(list.json["items"], json!([]));
}

#[tokio::test]
async fn keys_name_one_run_and_a_cancelled_run_stays_cancelled() {
    let g = with_agents().await;
    // A slow answer: the run is cancelled while its step's call is in flight.
    g.up.script_for(
        "facts",
        step(json!({"kind": "reply", "text": "{\"facts\": []}", "latency_ms": 1500})),
    );
    let def = json!({"steps": [{"id": "facts", "agent": "facts"},
        {"id": "poem", "agent": "writer", "needs": ["facts"]}]});
    let body = json!({"definition": def, "input": {"topic": "owls"},
        "idempotency_key": "nightly-1"});
    let first = start(&g, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
    let again = start(&g, body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["id"], first.json["id"]);
    let other = start(
        &g,
        json!({"definition": def, "input": {"topic": "bats"},
            "idempotency_key": "nightly-1"}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.json["error"]["code"], "idempotency_key_reused");
    let id = first.json["id"].as_str().unwrap();
    let c = send(
        &g.app,
        post(&format!("/api/v1/runs/{id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.json);
    assert_eq!(c.json["state"], "cancelled");
    let c = send(
        &g.app,
        post(&format!("/api/v1/runs/{id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CONFLICT);
    assert_eq!(c.json["error"]["code"], "run_finished");
    // The step in flight was told to stop; its answer came back anyway (a finished call
    // is recorded), and the run stays cancelled: nothing after it starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = run(&g, id).await;
        let facts = &r["steps"][0];
        if matches!(
            facts["task_state"].as_str(),
            Some("succeeded" | "cancelled")
        ) {
            assert_eq!(r["state"], "cancelled");
            assert_eq!(r["steps"][1]["state"], "cancelled");
            assert!(r["steps"][1]["task_id"].is_null());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
