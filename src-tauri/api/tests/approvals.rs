//! Approvals end to end over the router: an agent (driven by the scripted provider) proposes
//! a high-risk action, its task parks in `waiting_approval`, the decision comes through the
//! API, and a local HTTP server receives exactly one signed webhook carrying the step's
//! idempotency key; the reject and edit paths; requests from an agent elsewhere with a long
//! poll; the 409 of a second decision; explain; and the audit trail it all leaves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use flightdeck_engine::agents::AgentConfig;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::gateway::{Gw, gateway, post, step};
use crate::support::{assert_error, get_authed, send};
use crate::tasks::until;

const HOOK_KEY: &str = "whsec-test-0123456789";

#[derive(Default, Debug)]
struct Received {
    /// (headers, raw body) of every delivery.
    deliveries: Vec<(axum::http::HeaderMap, Vec<u8>)>,
}

/// A receiver that records every delivery and answers `status` with `body`.
async fn receiver(status: StatusCode, body: &'static str) -> (String, Arc<Mutex<Received>>) {
    let got = Arc::new(Mutex::new(Received::default()));
    let shared = got.clone();
    let app = axum::Router::new().route(
        "/refunds",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, sent: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    shared
                        .lock()
                        .unwrap()
                        .deliveries
                        .push((headers, sent.to_vec()));
                    (status, body)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/refunds"), got)
}

async fn hook_server() -> (String, Arc<Mutex<Received>>) {
    receiver(StatusCode::OK, r#"{"refund_id": "rf_1"}"#).await
}

/// A receiver that is down for business: every delivery answers 503.
async fn failing_server() -> (String, Arc<Mutex<Received>>) {
    receiver(StatusCode::SERVICE_UNAVAILABLE, "maintenance").await
}

async fn world(hook: &str) -> Gw {
    let hook = hook.to_string();
    let g = gateway(move |c| {
        let extra: flightdeck_engine::config::Config = toml::from_str(&format!(
            r#"
[actions.refund]
description = "Refund a customer's payment"
risk = "high"
executor = "webhook"
url = "{hook}"
secret = "webhook:refunds"
schema = {{ type = "object", properties = {{ amount = {{ type = "number", minimum = 0 }}, customer = {{ type = "string" }} }}, required = ["amount", "customer"], additionalProperties = false }}

[actions.ask_human]
description = "Ask a human elsewhere"
risk = "medium"
executor = "external"
schema = {{ type = "object", properties = {{ path = {{ type = "string" }} }} }}

[[policies]]
name = "refunds need a human"
action = "refund"
decision = "require_approval"
sla = "1h"

[[policies]]
name = "no refunds above 10k"
action = "refund"
when = "amount > 10000"
decision = "deny"

[[policies]]
name = "no /etc"
action = "ask_human"
when = 'path starts_with "/etc"'
decision = "deny"
"#
        ))
        .unwrap();
        c.actions = extra.actions;
        c.policies = extra.policies;
        c.approvals.allow_loopback_callbacks = true;
        c.approvals.callback_secret = Some("approvals:callbacks".into());
        let agent: AgentConfig =
            toml::from_str("route = \"solo\"\nprompt = \"Handle {{ input }}\"\ntools = [\"refund\"]\n")
                .unwrap();
        c.agents.insert("billing".into(), agent);
        c.orchestrator.sweep_secs = 1;
    })
    .await;
    g.engine
        .named_secrets()
        .set("webhook:refunds", HOOK_KEY.to_string().into())
        .await
        .unwrap();
    g.engine
        .named_secrets()
        .set("approvals:callbacks", "cb-key-0123".to_string().into())
        .await
        .unwrap();
    g
}

fn post_as(token: &str, path: &str, body: Value) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(path)
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

/// Enqueues a `billing` task whose model first proposes `refund(args)`, then answers.
async fn propose(g: &Gw, args: Value) -> (String, Value) {
    g.up.script(step(json!({"kind": "reply", "text": "The customer was charged twice; refunding.", "tool_calls": [
        {"id": "call_1", "name": "refund", "arguments": args.to_string()}
    ]})));
    g.up.script(step(json!({"kind": "reply", "text": "handled"})));
    let r = send(
        &g.app,
        post(
            "/api/v1/tasks",
            json!({"agent": "billing", "input": "ticket 7"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let id = r.json["id"].as_str().unwrap().to_string();
    until(g, &id, "waiting_approval").await;
    let list = get_authed(&g.app, &format!("/api/v1/approvals?task_id={id}")).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json);
    let items = list.json["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    (id, items[0].clone())
}

fn tool_result(t: &Value) -> String {
    t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tool")
        .map(|s| {
            s["message"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_approved_proposal_sends_exactly_one_signed_webhook_with_the_step_key() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    let (task_id, r) = propose(&g, json!({"amount": 900, "customer": "c1"})).await;
    assert_eq!(r["status"], "pending");
    assert_eq!(r["risk"], "high");
    assert_eq!(r["tool"], "refund");
    assert_eq!(r["description"], "Refund a customer's payment");
    assert_eq!(r["rationale"], "The customer was charged twice; refunding.");
    assert_eq!(r["rule"], "refunds need a human");
    assert_eq!(r["proposer"], "agent:billing");
    assert!(r["sla_due"].is_string());
    // Parked: it holds no worker, nothing was sent.
    assert!(got.lock().unwrap().deliveries.is_empty());
    let id = r["id"].as_str().unwrap();
    let decided = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve"}),
        ),
    )
    .await;
    assert_eq!(decided.status, StatusCode::OK, "{:?}", decided.json);
    assert_eq!(decided.json["status"], "approved");
    let t = until(&g, &task_id, "succeeded").await;
    assert!(tool_result(&t).contains("rf_1"), "{t:#}");
    let deliveries = got.lock().unwrap().deliveries.clone();
    assert_eq!(deliveries.len(), 1, "exactly one webhook");
    let (headers, body) = &deliveries[0];
    let ts = headers["x-flightdeck-timestamp"].to_str().unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(HOOK_KEY.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-flightdeck-signature"].to_str().unwrap(), want);
    let key = headers["idempotency-key"].to_str().unwrap();
    assert!(key.starts_with(&format!("{task_id}:0:")), "{key}");
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["arguments"], json!({"amount": 900, "customer": "c1"}));
    assert_eq!(sent["idempotency_key"], key);
    assert_eq!(sent["request_id"], id);
    // A second decision is a conflict naming the first.
    let again = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "reject", "reason": "late"}),
        ),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["error"]["code"], "already_decided");
    assert_eq!(again.json["request"]["status"], "approved");
    // The history: proposal, decision, execution; the chain verifies.
    let detail = get_authed(&g.app, &format!("/api/v1/approvals/{id}")).await;
    let kinds: Vec<&str> = detail.json["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["approval_requested", "approval_decided", "action_executed"]
    );
    let v = get_authed(&g.app, "/api/v1/audit/verify").await;
    assert_eq!(v.json["ok"], true, "{:?}", v.json);
}

#[tokio::test]
async fn a_rejection_reason_reaches_the_agent_and_nothing_is_sent() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    let (task_id, r) = propose(&g, json!({"amount": 900, "customer": "c1"})).await;
    let id = r["id"].as_str().unwrap();
    let no_reason = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "reject"}),
        ),
    )
    .await;
    assert_error(&no_reason, StatusCode::BAD_REQUEST, "reason_required");
    let r = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "reject", "reason": "refund only the duplicate charge of 450"}),
        ),
    )
    .await;
    assert_eq!(r.json["status"], "rejected", "{:?}", r.json);
    let t = until(&g, &task_id, "succeeded").await;
    let result = tool_result(&t);
    assert!(
        result.contains("refund only the duplicate charge of 450"),
        "{result}"
    );
    assert!(got.lock().unwrap().deliveries.is_empty());
}

#[tokio::test]
async fn an_edit_is_revalidated_its_diff_stored_and_the_edited_arguments_sent() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    let (task_id, r) = propose(&g, json!({"amount": 900, "customer": "c1"})).await;
    let id = r["id"].as_str().unwrap();
    let bad = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve", "arguments": {"amount": -5, "customer": "c1"}}),
        ),
    )
    .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "arguments_invalid");
    let ok = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve", "arguments": {"amount": 450, "customer": "c1"}}),
        ),
    )
    .await;
    assert_eq!(ok.json["status"], "approved", "{:?}", ok.json);
    assert_eq!(
        ok.json["edits"][0]["changes"][0],
        json!({"path": "/amount", "from": 900, "to": 450})
    );
    until(&g, &task_id, "succeeded").await;
    let deliveries = &got.lock().unwrap().deliveries;
    assert_eq!(deliveries.len(), 1);
    let sent: Value = serde_json::from_slice(&deliveries[0].1).unwrap();
    assert_eq!(sent["arguments"], json!({"amount": 450, "customer": "c1"}));
}

#[tokio::test]
async fn a_denied_proposal_is_refused_to_the_agent_and_recorded() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    g.up.script(step(json!({"kind": "reply", "tool_calls": [
        {"id": "c", "name": "refund", "arguments": "{\"amount\": 20000, \"customer\": \"c1\"}"}
    ]})));
    g.up.script(step(json!({"kind": "reply", "text": "ok, escalating"})));
    let r = send(
        &g.app,
        post("/api/v1/tasks", json!({"agent": "billing", "input": "x"})),
    )
    .await;
    let id = r.json["id"].as_str().unwrap().to_string();
    let t = until(&g, &id, "succeeded").await;
    assert!(tool_result(&t).contains("no refunds above 10k"), "{t:#}");
    assert!(got.lock().unwrap().deliveries.is_empty());
    let denied = get_authed(&g.app, "/api/v1/approvals?status=denied").await;
    assert_eq!(denied.json["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_agent_elsewhere_asks_and_long_polls_for_the_decision() {
    let (hook, _got) = hook_server().await;
    let g = world(&hook).await;
    let denied = send(&g.app, post("/api/v1/approvals", json!({"action": "ask_human", "arguments": {"path": "/etc/passwd"}, "rationale": "need it"}))).await;
    assert_eq!(denied.status, StatusCode::CREATED, "{:?}", denied.json);
    assert_eq!(denied.json["status"], "denied");
    let unknown = send(
        &g.app,
        post(
            "/api/v1/approvals",
            json!({"action": "nope", "arguments": {}}),
        ),
    )
    .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "unknown_action");
    let invalid = send(
        &g.app,
        post(
            "/api/v1/approvals",
            json!({"action": "ask_human", "arguments": {"path": 7}}),
        ),
    )
    .await;
    assert_error(
        &invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "arguments_invalid",
    );
    let created = send(
        &g.app,
        post(
            "/api/v1/approvals",
            json!({"action": "ask_human", "arguments": {"path": "/tmp/x"}, "rationale": "cleanup"}),
        ),
    )
    .await;
    assert_eq!(created.json["status"], "pending", "{:?}", created.json);
    let id = created.json["id"].as_str().unwrap().to_string();
    // The asker is the bootstrap token here: it may not decide its own request.
    let own = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve"}),
        ),
    )
    .await;
    assert_error(&own, StatusCode::FORBIDDEN, "not_an_approver");
    let app = g.app.clone();
    let poll = tokio::spawn({
        let id = id.clone();
        async move { get_authed(&app, &format!("/api/v1/approvals/{id}?wait=20")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished(), "the long poll waits while pending");
    g.engine
        .approvals()
        .decide(
            &id,
            "desktop:alice",
            flightdeck_engine::approvals::DecisionInput {
                decision: flightdeck_engine::approvals::VoteDecision::Approve,
                reason: None,
                arguments: Some(json!({"path": "/tmp/y"})),
                always: None,
            },
        )
        .await
        .unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answered.json["request"]["status"], "approved",
        "{:?}",
        answered.json
    );
    assert_eq!(
        answered.json["request"]["final_arguments"],
        json!({"path": "/tmp/y"})
    );
    let bad_wait = get_authed(&g.app, &format!("/api/v1/approvals/{id}?wait=600")).await;
    assert_error(&bad_wait, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn explain_and_the_policies_in_force_create_nothing() {
    let (hook, _got) = hook_server().await;
    let g = world(&hook).await;
    let e = send(&g.app, post("/api/v1/policies/explain", json!({"action": "refund", "arguments": {"amount": 20000, "customer": "c"}, "agent": "billing"}))).await;
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.json);
    assert_eq!(e.json["outcome"], "denied");
    assert_eq!(e.json["verdict"]["rule"], "no refunds above 10k");
    assert_eq!(e.json["verdict"]["trace"].as_array().unwrap().len(), 3);
    let p = get_authed(&g.app, "/api/v1/policies").await;
    assert_eq!(p.json["rules"].as_array().unwrap().len(), 3);
    assert_eq!(p.json["actions"][0]["name"], "ask_human");
    let list = get_authed(&g.app, "/api/v1/approvals").await;
    assert!(list.json["items"].as_array().unwrap().is_empty());
    let stats = get_authed(&g.app, "/api/v1/approvals/stats").await;
    assert_eq!(stats.json["pending"]["high"], 0, "{:?}", stats.json);
    let export = get_authed(&g.app, "/api/v1/audit/export?format=csv").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&export.body).starts_with("seq,at,actor,kind"));
}

#[tokio::test]
async fn a_webhook_that_is_down_is_retried_then_the_failure_reaches_the_agent_and_the_log() {
    let (hook, got) = failing_server().await;
    let g = world(&hook).await;
    let (task_id, r) = propose(&g, json!({"amount": 900, "customer": "c1"})).await;
    let id = r["id"].as_str().unwrap();
    send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve"}),
        ),
    )
    .await;
    let t = until(&g, &task_id, "succeeded").await;
    let result = tool_result(&t);
    assert!(result.contains("503"), "{result}");
    let step = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tool")
        .unwrap()
        .clone();
    assert_eq!(step["message"]["is_error"], true, "{step:#}");
    // Three tries (max_attempts), each with the same key.
    let keys: Vec<String> = got
        .lock()
        .unwrap()
        .deliveries
        .iter()
        .map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]));
    let audit = get_authed(
        &g.app,
        &format!("/api/v1/audit?subject={id}&kind=action_executed"),
    )
    .await;
    let entry = &audit.json["items"][0];
    assert_eq!(entry["detail"]["ok"], false, "{:?}", audit.json);
    assert_eq!(entry["detail"]["detail"]["status"], 503);
}

#[tokio::test]
async fn client_tokens_cannot_answer_requests_and_a_signed_callback_brings_the_decision() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    use flightdeck_engine::identity::Scope;
    let asker = g
        .engine
        .identity()
        .create("agent-b", Scope::Operate, None, "test")
        .await
        .unwrap()
        .token;
    let other = g
        .engine
        .identity()
        .create("agent-c", Scope::Operate, None, "test")
        .await
        .unwrap()
        .token;
    let created = send(
        &g.app,
        post_as(
            &asker,
            "/api/v1/approvals",
            json!({"action": "ask_human", "arguments": {"path": "/tmp/z"}, "callback_url": hook}),
        ),
    )
    .await;
    assert_eq!(created.json["status"], "pending", "{:?}", created.json);
    assert_eq!(created.json["proposer"], "token:agent-b");
    let id = created.json["id"].as_str().unwrap();
    // Another agent's operate token cannot answer it; neither can a webhook action be asked for.
    let r = send(
        &g.app,
        post_as(
            &other,
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve"}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "not_an_approver");
    let r = send(
        &g.app,
        post_as(
            &asker,
            "/api/v1/approvals",
            json!({"action": "refund", "arguments": {"amount": 1, "customer": "c"}}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    // The node's own token decides; the decision is POSTed to the callback, signed.
    let r = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "reject", "reason": "not that path"}),
        ),
    )
    .await;
    assert_eq!(r.json["status"], "rejected");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (headers, body) = loop {
        if let Some(d) = got.lock().unwrap().deliveries.first().cloned() {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "no callback");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["id"], id);
    assert_eq!(sent["status"], "rejected");
    assert_eq!(sent["reason"], "not that path");
    let ts = headers["x-flightdeck-timestamp"].to_str().unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"cb-key-0123").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    assert_eq!(
        headers["x-flightdeck-signature"].to_str().unwrap(),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    assert_eq!(headers["idempotency-key"].to_str().unwrap(), id);
}

#[tokio::test]
async fn the_inbox_pages_by_keyset_and_a_decision_between_pages_skips_nothing() {
    let (hook, _got) = hook_server().await;
    let g = world(&hook).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let r = send(
            &g.app,
            post(
                "/api/v1/approvals",
                json!({"action": "ask_human", "arguments": {"path": format!("/tmp/{n}")}}),
            ),
        )
        .await;
        ids.push(r.json["id"].as_str().unwrap().to_string());
    }
    let decide_one = |id: String| {
        let engine = g.engine.clone();
        async move {
            engine
                .approvals()
                .decide(
                    &id,
                    "desktop:alice",
                    flightdeck_engine::approvals::DecisionInput {
                        decision: flightdeck_engine::approvals::VoteDecision::Reject,
                        reason: Some("no".into()),
                        arguments: None,
                        always: None,
                    },
                )
                .await
                .unwrap();
        }
    };
    decide_one(ids[4].clone()).await;
    let first = get_authed(&g.app, "/api/v1/approvals?limit=2").await;
    let mut seen: Vec<String> = first.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    // Oldest SLA first among the pending (same risk): the first two asked.
    assert_eq!(seen, [ids[0].clone(), ids[1].clone()]);
    // One of the first page is decided before the next page is asked for.
    decide_one(ids[0].clone()).await;
    let mut cursor = first.json["next_cursor"].as_str().unwrap().to_string();
    loop {
        let page = get_authed(
            &g.app,
            &format!("/api/v1/approvals?limit=2&cursor={cursor}"),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.json);
        seen.extend(
            page.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    for id in &ids {
        assert!(seen.contains(id), "{id} skipped: {seen:?}");
    }
    let bad = get_authed(&g.app, "/api/v1/approvals?cursor=bm90LWEta2V5").await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn cancelling_a_parked_task_takes_its_request_out_of_the_inbox() {
    let (hook, got) = hook_server().await;
    let g = world(&hook).await;
    let (task_id, r) = propose(&g, json!({"amount": 900, "customer": "c1"})).await;
    let id = r["id"].as_str().unwrap();
    let cancelled = send(
        &g.app,
        post(&format!("/api/v1/tasks/{task_id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.json);
    assert_eq!(cancelled.json["state"], "cancelled");
    let detail = get_authed(&g.app, &format!("/api/v1/approvals/{id}")).await;
    assert_eq!(
        detail.json["request"]["status"], "expired",
        "{:?}",
        detail.json
    );
    assert_eq!(detail.json["request"]["reason"], "the task was cancelled");
    let late = send(
        &g.app,
        post(
            &format!("/api/v1/approvals/{id}/decision"),
            json!({"decision": "approve"}),
        ),
    )
    .await;
    assert_error(&late, StatusCode::CONFLICT, "already_decided");
    assert!(got.lock().unwrap().deliveries.is_empty());
    let pending = get_authed(&g.app, "/api/v1/approvals?status=pending").await;
    assert!(pending.json["items"].as_array().unwrap().is_empty());
}
