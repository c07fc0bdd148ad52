//! Tasks end to end over the router: enqueued through the API, run by the node's workers
//! against the scripted provider, seen through `GET /api/v1/tasks/{id}` (state, result,
//! attempts, steps, ledger calls): validation with re-asks, template errors before any call,
//! capability routing, idempotency keys, cancel and requeue, and `waiting_for_provider`
//! with its recovery.

use std::time::Duration;

use axum::http::StatusCode;
use flightdeck_engine::agents::AgentConfig;
use serde_json::{Value, json};

use crate::gateway::{Gw, gateway, post, step};
use crate::support::{get_authed, send};

fn agent(toml_text: &str) -> AgentConfig {
    toml::from_str(toml_text).unwrap()
}

const SUMMARIZE: &str = r#"
route = "solo"
prompt = "Summarize: {{ text }}"
capabilities = ["summaries"]
max_reasks = 1
output_schema = { type = "object", properties = { summary = { type = "string" }, words = { type = "integer" } }, required = ["summary"] }
"#;

async fn with_agents() -> Gw {
    gateway(|c| {
        c.agents.insert("summarize".into(), agent(SUMMARIZE));
        c.agents.insert(
            "echo".into(),
            agent("route = \"solo\"\nprompt = \"Say {{ input }}\"\ncapabilities = [\"summaries\"]\nmax_attempts = 2\n"),
        );
        c.orchestrator.sweep_secs = 1;
    })
    .await
}

async fn enqueue(g: &Gw, body: Value) -> crate::support::Reply {
    send(&g.app, post("/api/v1/tasks", body)).await
}

pub(crate) async fn task(g: &Gw, id: &str) -> Value {
    let r = get_authed(&g.app, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}

/// The task once it reaches `state` (the workers run on their own).
pub(crate) async fn until(g: &Gw, id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = task(g, id).await;
        if t["state"] == state {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never reached {state}: {t:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_task_runs_to_a_valid_result_with_its_call_in_the_ledger() {
    let g = with_agents().await;
    g.up.script(step(
        json!({"kind": "reply", "text": "Sure! ```json\n{\"summary\": \"short\", \"words\": \"2\"}\n```"}),
    ));
    let r = enqueue(
        &g,
        json!({"agent": "summarize", "input": {"text": "a long text"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert!(matches!(
        r.json["state"].as_str(),
        Some("queued" | "running")
    ));
    let id = r.json["id"].as_str().unwrap().to_string();
    let t = until(&g, &id, "succeeded").await;
    // Coerced: the JSON out of the fence, "2" as the integer the schema asks for.
    assert_eq!(t["result"], json!({"summary": "short", "words": 2}));
    assert_eq!(t["history"].as_array().unwrap().len(), 1);
    assert_eq!(t["history"][0]["outcome"], "succeeded");
    assert_eq!(t["steps"].as_array().unwrap().len(), 1);
    assert_eq!(t["steps"][0]["kind"], "model");
    let calls = t["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["client"], "agent:summarize");
    assert_eq!(calls[0]["task_id"], id.as_str());
    assert_eq!(calls[0]["id"], t["steps"][0]["call_id"]);
    let sent = g.up.calls();
    let body = &sent.last().unwrap().body;
    assert!(
        body.to_string().contains("Summarize: a long text"),
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_answer_is_asked_again_then_fails_with_the_last_error() {
    let g = with_agents().await;
    // Re-asked once with the errors, then right.
    g.up.script(step(json!({"kind": "reply", "text": "{\"words\": 3}"})));
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"ok\"}"}),
    ));
    let id = enqueue(&g, json!({"agent": "summarize", "input": {"text": "x"}}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "succeeded").await;
    let kinds: Vec<&str> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model", "reask", "model"]);
    assert!(
        t["steps"][1]["detail"][0]
            .as_str()
            .unwrap()
            .contains("\"summary\" is a required property")
    );
    assert_eq!(t["calls"].as_array().unwrap().len(), 2);

    // Wrong twice (max_reasks = 1): failed for good with the last validation error.
    g.up.reset();
    g.up.script(step(json!({"kind": "reply", "text": "no json at all"})));
    g.up.script(step(json!({"kind": "reply", "text": "{\"summary\": 7}"})));
    let id = enqueue(&g, json!({"agent": "summarize", "input": {"text": "y"}}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "failed").await;
    assert_eq!(t["error"]["code"], "output_invalid");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/summary: 7 is not of type \"string\""),
        "{t:#}"
    );
    assert_eq!(g.up.calls().total, 2, "bounded: no third call");

    // The agent's metrics: both tasks, every check and step, each attempt's outcome.
    let metrics = g.engine.metrics().render().unwrap();
    for line in [
        "flightdeck_agent_attempts_total{agent=\"summarize\",outcome=\"succeeded\"} 1",
        "flightdeck_agent_attempts_total{agent=\"summarize\",outcome=\"failed\"} 1",
        "flightdeck_agent_validations_total{agent=\"summarize\",result=\"pass\"} 1",
        "flightdeck_agent_validations_total{agent=\"summarize\",result=\"fail\"} 3",
        "flightdeck_agent_steps_total{agent=\"summarize\",kind=\"model\"} 4",
        "flightdeck_agent_steps_total{agent=\"summarize\",kind=\"reask\"} 2",
        "flightdeck_agent_attempt_duration_seconds_count{agent=\"summarize\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
}

#[tokio::test]
async fn a_missing_template_variable_fails_before_any_call() {
    let g = with_agents().await;
    let id = enqueue(&g, json!({"agent": "summarize", "input": {"txt": "typo"}}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "failed").await;
    assert_eq!(t["error"]["code"], "template_error");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the input gives no `text` (it has: input, txt)"),
        "{t:#}"
    );
    assert_eq!(g.up.calls().total, 0);
}

#[tokio::test]
async fn bad_enqueues_get_stable_codes_and_keys_name_one_task() {
    let g = with_agents().await;
    let r = enqueue(&g, json!({"agent": "nobody", "input": {}})).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_agent"))
    );
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("agents: echo, summarize")
    );
    let r = enqueue(&g, json!({"capability": "painting", "input": {}})).await;
    assert_eq!(r.json["error"]["code"], "unknown_capability");
    let r = enqueue(&g, json!({"agent": "echo", "input": {}, "surprise": 1})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = enqueue(&g, json!({"agent": "echo", "max_attempts": 0})).await;
    assert_eq!(r.json["error"]["code"], "bad_request");

    // Capability routing: both agents have it and are healthy and idle: the first by name.
    // A delayed task stays scheduled, so the load does not change under the test.
    let later = "2099-01-01T00:00:00Z";
    let r = enqueue(
        &g,
        json!({"capability": "summaries", "input": {"text": "x"}, "run_at": later, "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        (r.json["agent"].as_str(), r.json["state"].as_str()),
        (Some("echo"), Some("scheduled"))
    );
    assert_eq!(r.json["max_attempts"], 2, "the agent's max_attempts");
    let id = r.json["id"].as_str().unwrap().to_string();
    // Now echo has one waiting: the next goes to summarize (least loaded).
    let r2 = enqueue(
        &g,
        json!({"capability": "summaries", "input": {"text": "x"}, "run_at": later}),
    )
    .await;
    assert_eq!(r2.json["agent"], "summarize");
    // The same key and payload: the same task (200); another payload: 409.
    let again = enqueue(
        &g,
        json!({"capability": "summaries", "input": {"text": "x"}, "run_at": later, "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!(
        (again.status, again.json["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let other = enqueue(
        &g,
        json!({"capability": "summaries", "input": {"text": "z"}, "run_at": later, "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!(
        (other.status, other.json["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );

    // Cancel a scheduled task; cancelling it again is a conflict; requeue brings it back.
    let c = send(
        &g.app,
        post(&format!("/api/v1/tasks/{id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(c.json["state"], "cancelled");
    let c = send(
        &g.app,
        post(&format!("/api/v1/tasks/{id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(
        (c.status, c.json["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("task_finished"))
    );
    let q = send(
        &g.app,
        post(&format!("/api/v1/tasks/{id}/requeue"), json!({})),
    )
    .await;
    assert_eq!(q.json["state"], "queued");
    let missing = send(&g.app, post("/api/v1/tasks/nope/cancel", json!({}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Lists filter by agent and state.
    let r = get_authed(&g.app, "/api/v1/tasks?agent=summarize&state=scheduled").await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1, "{:?}", r.json);
    let r = get_authed(&g.app, "/api/v1/tasks?color=red").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get_authed(&g.app, "/api/v1/agents").await;
    let names: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "summarize"]);
    assert_eq!(r.json[1]["healthy"], true);
    assert_eq!(r.json[1]["version"].as_str().unwrap().len(), 12);

    // A retry with the same key after the agent left the config still gets its task.
    let mut next = (*g.engine.config().current()).clone();
    next.agents.clear();
    g.engine.config().apply(next);
    let retry = enqueue(
        &g,
        json!({"capability": "summaries", "input": {"text": "x"}, "run_at": later, "idempotency_key": "k-1"}),
    )
    .await;
    assert_eq!(
        (retry.status, retry.json["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let fresh = enqueue(&g, json!({"capability": "summaries", "input": {}})).await;
    assert_eq!(fresh.json["error"]["code"], "unknown_capability");
}

#[tokio::test]
async fn tasks_wait_for_a_provider_without_spending_attempts_and_resume() {
    let g = with_agents().await;
    // The provider fails every attempt of the hop (3 with retries): the task parks instead
    // of failing, and spends nothing of its 2 attempts.
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "status", "status": 503})));
    }
    let id = enqueue(&g, json!({"agent": "echo", "input": "hi"}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "waiting_for_provider").await;
    assert_eq!(t["error"], Value::Null);
    // The provider recovers (the script runs out: it echoes); the sweep wakes the task.
    let t = until(&g, &id, "succeeded").await;
    assert_eq!(t["max_attempts"], 2);
    let outcomes: Vec<&str> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.len() >= 2, "{outcomes:?}");
    assert!(
        outcomes[..outcomes.len() - 1]
            .iter()
            .all(|o| *o == "parked")
    );
    assert_eq!(outcomes.last(), Some(&"succeeded"));
    assert_eq!(t["result"], "echo: Say hi");

    // A provider that answers, but refuses (404: no such model), is not "unreachable": the
    // task spends its attempts and dead-letters instead of waiting forever.
    g.up.reset();
    for _ in 0..2 {
        g.up.script(step(json!({"kind": "status", "status": 404})));
    }
    let id = enqueue(&g, json!({"agent": "echo", "input": "again"}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "dead").await;
    assert_eq!(t["attempts"], 2);
    assert!(
        t["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"] == "failed"),
        "{t:#}"
    );
}

#[tokio::test]
async fn schedules_enqueue_one_task_per_slot() {
    let g = gateway(|c| {
        let mut a = agent("route = \"solo\"\nprompt = \"Tick\"\n");
        a.schedules.push(
            toml::from_str(
                "cron = \"* * * * * *\"\ninput = { every = \"second\" }\ncatch_up_secs = 5",
            )
            .unwrap(),
        );
        c.agents.insert("ticker".into(), a);
        c.orchestrator.sweep_secs = 1;
    })
    .await;
    // A few sweeps, a slot each.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let r = get_authed(&g.app, "/api/v1/tasks?tag=schedule&state=succeeded").await;
        let rows = r.json["items"].as_array().unwrap().clone();
        if rows.len() >= 2 {
            break rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", r.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let keys: Vec<&str> = rows
        .iter()
        .map(|t| t["idempotency_key"].as_str().unwrap())
        .collect();
    let config = g.engine.config().current();
    let schedule = &config.agents["ticker"].schedules[0];
    let prefix = format!(
        "schedule:ticker:{}:",
        flightdeck_engine::agents::schedule::id(schedule)
    );
    assert!(keys.iter().all(|k| k.starts_with(&prefix)), "{keys:?}");
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len(), "one task per slot: {keys:?}");
    assert_eq!(rows[0]["input"], json!({"every": "second"}));
    assert_eq!(rows[0]["created_by"], "schedule");
    // The same slot offered again (another sweep, a restart, another node): the same task.
    let slot: chrono::DateTime<chrono::Utc> = keys[0]
        .strip_prefix(prefix.as_str())
        .unwrap()
        .parse()
        .unwrap();
    let again = g
        .engine
        .tasks()
        .enqueue(
            flightdeck_engine::agents::schedule::task("ticker", schedule, slot),
            "schedule",
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.task.id, rows[0]["id"].as_str().unwrap());
}

#[tokio::test]
async fn template_versions_are_kept_diffed_and_previewed() {
    let g = with_agents().await;
    let history = |g: &Gw| {
        let app = g.app.clone();
        async move { get_authed(&app, "/api/v1/templates/summarize").await }
    };
    // Version 1 is recorded when the engine opens (in the background).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while history(&g).await.status != StatusCode::OK {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A config change of the prompt is version 2; a change of something else is no version.
    let mut next = (*g.engine.config().current()).clone();
    next.agents.get_mut("summarize").unwrap().prompt =
        "Summarize in {{ words }} words: {{ text }}".into();
    g.engine.config().apply(next.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let versions = loop {
        let r = history(&g).await;
        if r.json.as_array().unwrap().len() == 2 {
            break r.json;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", r.json);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(
        versions[0]["prompt"],
        "Summarize in {{ words }} words: {{ text }}"
    );
    assert_eq!(versions[1]["prompt"], "Summarize: {{ text }}");
    next.agents.get_mut("summarize").unwrap().max_attempts = 7;
    g.engine.config().apply(next);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(history(&g).await.json.as_array().unwrap().len(), 2);

    let r = get_authed(&g.app, "/api/v1/templates/summarize/diff").await;
    assert_eq!(
        (r.json["from"].as_u64(), r.json["to"].as_u64()),
        (Some(1), Some(2))
    );
    let diff = r.json["diff"].as_str().unwrap();
    assert!(
        diff.contains("-Summarize: {{ text }}")
            && diff.contains("+Summarize in {{ words }} words: {{ text }}"),
        "{diff}"
    );
    let r = get_authed(&g.app, "/api/v1/templates/summarize/diff?from=1&to=9").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get_authed(&g.app, "/api/v1/templates/nobody").await;
    assert_eq!(r.json["error"]["code"], "unknown_agent");

    // Preview: rendered as a task would be, or the template's error.
    let r = send(
        &g.app,
        post(
            "/api/v1/templates/preview",
            json!({"prompt": "Hi {{ name }}", "system": "Be {{ tone }}", "input": {"name": "Ada", "tone": "brief"}}),
        ),
    )
    .await;
    assert_eq!(r.json, json!({"prompt": "Hi Ada", "system": "Be brief"}));
    let r = send(
        &g.app,
        post(
            "/api/v1/templates/preview",
            json!({"prompt": "Hi {{ nmae }}", "input": {"name": "Ada"}}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("template_error"))
    );
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`nmae`")
    );
    assert_eq!(g.up.calls().total, 0, "a preview calls no model");
}

#[tokio::test]
async fn a_long_conversation_is_cut_to_the_context_oldest_turns_first() {
    let g = gateway(|c| {
        c.models
            .insert("up/m1".into(), toml::from_str("context_tokens = 300").unwrap());
        c.agents.insert(
            "long".into(),
            agent(
                "route = \"solo\"\nprompt = \"Summarize: {{ text }}\"\nmax_reasks = 3\nmax_tokens = 50\n\
                 output_schema = { type = \"object\", properties = { summary = { type = \"string\" } }, required = [\"summary\"] }\n",
            ),
        );
    })
    .await;
    // Three wordy wrong answers, then a right one: the fourth call would need ~300 tokens.
    let wordy = vec!["blah"; 60].join(" ");
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "reply", "text": wordy})));
    }
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"ok\"}"}),
    ));
    let id = enqueue(
        &g,
        json!({"agent": "long", "input": {"text": vec!["word"; 20].join(" ")}}),
    )
    .await
    .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "succeeded").await;
    let model_steps: Vec<&Value> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "model")
        .collect();
    assert_eq!(model_steps.len(), 4);
    // Every call shows its budget; the first fits whole, the last one dropped turns.
    assert_eq!(model_steps[0]["detail"]["context"]["budget"], 250);
    assert_eq!(model_steps[0]["detail"]["context"]["dropped"], 0);
    let last = &model_steps[3]["detail"]["context"];
    assert!(last["dropped"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["used"].as_u64().unwrap() <= 250, "{last}");
    // The provider got the cut conversation: the prompt first, the latest re-ask last.
    let sent = g.up.calls();
    let messages = sent.last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .clone();
    let dropped = usize::try_from(last["dropped"].as_u64().unwrap()).unwrap();
    assert_eq!(messages.len(), 7 - dropped, "{messages:?}");
    assert!(
        messages[0]["content"]
            .to_string()
            .contains("Summarize: word"),
        "{messages:?}"
    );
    // The stored steps keep every turn.
    assert_eq!(t["steps"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn a_retry_runs_on_the_definition_its_task_started_with() {
    let g = with_agents().await;
    // The first attempt ends without an answer (every provider retry answers 500: the task
    // waits for the provider), then the agent's prompt changes; the next attempt still
    // renders the old prompt, a new task the new one.
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "status", "status": 500})));
    }
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"old\"}"}),
    ));
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"new\"}"}),
    ));
    let id = enqueue(&g, json!({"agent": "summarize", "input": {"text": "x"}}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let pinned = loop {
        let t = task(&g, &id).await;
        if t["history"]
            .as_array()
            .unwrap()
            .first()
            .is_some_and(|a| a["outcome"] == "failed" || a["outcome"] == "parked")
        {
            break t["agent_version"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "{t:#}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut changed = (*g.engine.config().current()).clone();
    changed.agents.get_mut("summarize").unwrap().prompt = "Shorten: {{ text }}".into();
    g.engine.config().apply(changed);
    let t = until(&g, &id, "succeeded").await;
    assert_eq!(t["agent_version"], pinned.as_str());
    let calls = g.up.calls();
    assert!(
        calls
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("Summarize: x"),
        "the retry ran the old prompt"
    );
    let other = enqueue(&g, json!({"agent": "summarize", "input": {"text": "y"}}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t2 = until(&g, &other, "succeeded").await;
    assert_ne!(t2["agent_version"], pinned.as_str());
    assert!(
        g.up.calls()
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("Shorten: y")
    );
}

#[tokio::test]
async fn the_fault_matrix_seen_from_tasks_by_call_counts() {
    // Route `default`: up/m1 (3 attempts) then back/m2 (1 attempt, answers the echo).
    let g = gateway(|c| {
        c.agents.insert(
            "plain".into(),
            agent("route = \"default\"\nprompt = \"Say {{ text }}\"\nmax_attempts = 2\n"),
        );
    })
    .await;
    struct Case {
        name: &'static str,
        script: Vec<Value>,
        /// Calls the `up` server sees, and the hops of the task's one ledger row.
        up_calls: u64,
        hops: Vec<(&'static str, &'static str, u32)>,
        result: &'static str,
    }
    // In this order: the breaker of up/m1 opens after 4 failures in a row (the last case
    // leaves 3).
    let cases = [
        Case {
            name: "a malformed answer is retried",
            script: vec![
                json!({"kind": "malformed"}),
                json!({"kind": "reply", "text": "whole"}),
            ],
            up_calls: 2,
            hops: vec![("up", "ok", 2)],
            result: "whole",
        },
        Case {
            name: "a 429 is retried on the same hop",
            script: vec![
                json!({"kind": "status", "status": 429}),
                json!({"kind": "reply", "text": "fine"}),
            ],
            up_calls: 2,
            hops: vec![("up", "ok", 2)],
            result: "fine",
        },
        Case {
            name: "a hop that keeps failing falls back to the next",
            script: vec![json!({"kind": "status", "status": 500}); 3],
            up_calls: 3,
            hops: vec![("up", "failed", 3), ("back", "ok", 1)],
            result: "echo: Say hi",
        },
    ];
    for case in cases {
        g.up.reset();
        for s in &case.script {
            g.up.script(step(s.clone()));
        }
        let id = enqueue(&g, json!({"agent": "plain", "input": {"text": "hi"}}))
            .await
            .json["id"]
            .as_str()
            .unwrap()
            .to_string();
        let t = until(&g, &id, "succeeded").await;
        assert_eq!(t["result"], case.result, "{}", case.name);
        assert_eq!(
            t["history"].as_array().unwrap().len(),
            1,
            "{}: one attempt",
            case.name
        );
        assert_eq!(g.up.calls().total, case.up_calls, "{}", case.name);
        let calls = t["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{}", case.name);
        let hops: Vec<(String, String, u64)> = calls[0]["hops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["provider"].as_str().unwrap().to_string(),
                    h["outcome"].as_str().unwrap().to_string(),
                    h["attempts"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, u64)> = case
            .hops
            .iter()
            .map(|(p, o, a)| (p.to_string(), o.to_string(), u64::from(*a)))
            .collect();
        assert_eq!(hops, want, "{}", case.name);
    }
}

#[tokio::test]
async fn many_tasks_are_requeued_at_once_each_on_its_own() {
    let g = with_agents().await;
    // Four delayed tasks (two per agent), cancelled.
    let mut ids = Vec::new();
    for agent in ["summarize", "summarize", "echo", "echo"] {
        let r = enqueue(
            &g,
            json!({"agent": agent, "input": {"text": "x"}, "run_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        let id = r.json["id"].as_str().unwrap().to_string();
        let c = send(
            &g.app,
            post(&format!("/api/v1/tasks/{id}/cancel"), json!({})),
        )
        .await;
        assert_eq!(c.json["state"], "cancelled");
        ids.push(id);
    }
    // By filter: the cancelled tasks of one agent.
    let r = send(
        &g.app,
        post(
            "/api/v1/tasks/requeue",
            json!({"state": "cancelled", "agent": "echo"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let requeued: Vec<&str> = r.json["requeued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(requeued, vec![ids[3].as_str(), ids[2].as_str()]);
    assert!(
        r.json["requeued"][0]["state"] == "queued" || r.json["requeued"][0]["state"] == "running"
    );
    // By ids: one requeued, one not requeueable (queued now), one unknown: each answers alone.
    let r = send(
        &g.app,
        post(
            "/api/v1/tasks/requeue",
            json!({"ids": [ids[0], ids[3], "no-such-task"]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["requeued"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["requeued"][0]["id"], ids[0].as_str());
    let refused = r.json["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["code"], "task_finished");
    assert_eq!(refused[1]["code"], "not_found");
    // Bad requests change nothing.
    for body in [
        json!({"state": "queued"}),
        json!({"ids": [ids[1]], "agent": "echo"}),
    ] {
        let r = send(&g.app, post("/api/v1/tasks/requeue", body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(task(&g, &ids[1]).await["state"], "cancelled");
}

#[tokio::test]
async fn an_agents_figures_add_up_its_tasks_and_calls() {
    let g = with_agents().await;
    // One task right at once, one after a re-ask.
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"a\"}"}),
    ));
    let first = enqueue(&g, json!({"agent": "summarize", "input": {"text": "x"}})).await;
    until(&g, first.json["id"].as_str().unwrap(), "succeeded").await;
    g.up.script(step(json!({"kind": "reply", "text": "{\"words\": 1}"})));
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"b\"}"}),
    ));
    let second = enqueue(&g, json!({"agent": "summarize", "input": {"text": "y"}})).await;
    until(&g, second.json["id"].as_str().unwrap(), "succeeded").await;
    g.engine.providers().ledger().flush().await;
    let r = get_authed(&g.app, "/api/v1/agents/summarize/stats").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let t = &r.json["tasks"];
    assert_eq!(t["tasks"], 2);
    assert_eq!(t["succeeded"], 2);
    assert_eq!(t["success_rate"], 1.0);
    assert_eq!(t["attempts"], 2);
    assert_eq!(t["retries"], 0);
    assert_eq!(t["model_steps"], 3);
    assert_eq!(t["reasks"], 1);
    assert_eq!(t["validation_failures"], 1);
    // 2 passed of 3 checked.
    assert!((t["validation_pass_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(t["steps_per_task"], 2.0);
    let c = &r.json["calls"];
    assert_eq!(c["calls"], 3);
    assert_eq!(c["ok"], 3);
    assert_eq!(c["unpriced"], 0);
    let cost: f64 = c["cost"].as_str().unwrap().parse().unwrap();
    assert!(cost > 0.0, "{c}");
    let per: f64 = r.json["cost_per_task"].as_str().unwrap().parse().unwrap();
    assert!((per * 2.0 - cost).abs() < 1e-7, "{}", r.json);
    // A window after the tasks has none; an unknown agent is named.
    let later = get_authed(
        &g.app,
        "/api/v1/agents/summarize/stats?since=2999-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(later.json["tasks"]["tasks"], 0);
    assert!(later.json["cost_per_task"].is_null());
    let none = get_authed(&g.app, "/api/v1/agents/ghost/stats").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.json["error"]["code"], "unknown_agent");
}

#[tokio::test]
async fn a_long_conversation_is_summarised_instead_of_cut_when_the_agent_asks() {
    let g = gateway(|c| {
        c.models
            .insert("up/m1".into(), toml::from_str("context_tokens = 300").unwrap());
        c.agents.insert(
            "long".into(),
            agent(
                "route = \"solo\"\nprompt = \"Summarize: {{ text }}\"\nmax_reasks = 3\nmax_tokens = 50\n\
                 memory = { strategy = \"summarize\", max_tokens = 40 }\n\
                 output_schema = { type = \"object\", properties = { summary = { type = \"string\" } }, required = [\"summary\"] }\n",
            ),
        );
    })
    .await;
    // Three wordy wrong answers; the fourth call would not fit: the older turns are
    // summarised first (the summary call takes the next scripted answer), then it goes on.
    let wordy = vec!["blah"; 60].join(" ");
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "reply", "text": wordy})));
    }
    g.up.script(step(
        json!({"kind": "reply", "text": "Two wordy answers that were not JSON."}),
    ));
    g.up.script(step(
        json!({"kind": "reply", "text": "{\"summary\": \"ok\"}"}),
    ));
    let id = enqueue(
        &g,
        json!({"agent": "long", "input": {"text": vec!["word"; 20].join(" ")}}),
    )
    .await
    .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "succeeded").await;
    let kinds: Vec<&str> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "model", "reask", "model", "reask", "model", "reask", "summary", "model"
        ]
    );
    // The summary names the steps it stands for (kept: all 8 are stored), and its call is
    // in the ledger with the task's.
    let summary = &t["steps"][6];
    assert_eq!(summary["detail"], json!({"from": 0, "to": 3, "turns": 4}));
    assert_eq!(t["calls"].as_array().unwrap().len(), 5);
    assert!(
        t["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == summary["call_id"])
    );
    // The last call: nothing dropped, four turns summarised, within the budget.
    let last = &t["steps"][7]["detail"]["context"];
    assert_eq!(last["dropped"], 0, "{last}");
    assert_eq!(last["summarized"], 4, "{last}");
    assert!(last["used"].as_u64().unwrap() <= 250, "{last}");
    // What the provider got: the summary in the system text, the prompt, the latest turns.
    let sent = g.up.calls();
    let calls: Vec<&Value> = sent.recent.iter().map(|c| &c.body).collect();
    let summary_call = calls[calls.len() - 2];
    assert!(summary_call.to_string().contains("blah"), "{summary_call}");
    assert_eq!(summary_call["max_tokens"], 40);
    let final_call = calls[calls.len() - 1];
    let messages = final_call["messages"].as_array().unwrap();
    let system = messages[0]["content"].to_string();
    assert!(system.contains("Two wordy answers"), "{final_call}");
    assert!(
        messages[1]["content"]
            .to_string()
            .contains("Summarize: word"),
        "{final_call}"
    );
    assert_eq!(
        messages.len(),
        4,
        "system, prompt, the last answer and re-ask: {final_call}"
    );
}

#[tokio::test]
async fn a_provider_limit_holds_tasks_of_every_agent_that_starts_on_it() {
    let g = gateway(|c| {
        c.agents.insert(
            "echo".into(),
            agent("route = \"solo\"\nprompt = \"Say {{ input }}\"\nconcurrency = 8\n"),
        );
        c.agents.insert(
            "other".into(),
            agent("route = \"default\"\nprompt = \"Say {{ input }}\"\nconcurrency = 8\n"),
        );
        c.orchestrator.provider_concurrency.insert("up".into(), 1);
    })
    .await;
    for _ in 0..4 {
        g.up.script(step(
            json!({"kind": "reply", "text": "done", "latency_ms": 300}),
        ));
    }
    let mut ids = Vec::new();
    for (agent_name, n) in [("echo", 1), ("other", 2), ("echo", 3), ("other", 4)] {
        let r = enqueue(&g, json!({"agent": agent_name, "input": n})).await;
        ids.push(r.json["id"].as_str().unwrap().to_string());
    }
    // Both agents' routes start on `up`: one of their tasks runs at a time, all finish.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut most = 0;
    loop {
        let r = get_authed(&g.app, "/api/v1/tasks").await;
        let items = r.json["items"].as_array().unwrap();
        let running = items.iter().filter(|t| t["state"] == "running").count();
        most = most.max(running);
        if items.iter().all(|t| t["state"] == "succeeded") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", r.json);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most, 1, "at most one task on `up` at a time");
    assert_eq!(g.up.calls().total, 4);
}

#[tokio::test]
async fn tool_calls_run_once_each_even_when_the_server_reuses_their_ids() {
    let g = gateway(|c| {
        c.agents.insert(
            "logger".into(),
            agent("route = \"solo\"\nprompt = \"Log {{ input }}\"\ntools = [\"builtin:log\"]\n"),
        );
    })
    .await;
    // Two calls with the same id (some servers send none, or number them per answer), then
    // another with that id again, then a final answer: each call runs once, in order.
    g.up.script(step(json!({"kind": "reply", "tool_calls": [
        {"id": "call_0", "name": "builtin_log", "arguments": "{\"message\": \"one\"}"},
        {"id": "call_0", "name": "builtin_log", "arguments": "{\"message\": \"two\"}"}
    ]})));
    g.up.script(step(json!({"kind": "reply", "tool_calls": [
        {"id": "call_0", "name": "builtin_log", "arguments": "{\"message\": \"three\"}"}
    ]})));
    g.up.script(step(json!({"kind": "reply", "text": "all logged"})));
    let id = enqueue(&g, json!({"agent": "logger", "input": "x"}))
        .await
        .json["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = until(&g, &id, "succeeded").await;
    let steps: Vec<(String, String)> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["detail"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let expect = |k: &str, m: &str| (k.to_string(), m.to_string());
    assert_eq!(
        steps,
        [
            expect("model", ""),
            expect("tool", "one"),
            expect("tool", "two"),
            expect("model", ""),
            expect("tool", "three"),
            expect("model", "")
        ]
    );
    assert_eq!(t["result"], "all logged");
    assert_eq!(g.up.calls().total, 3);
}
