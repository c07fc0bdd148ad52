//! The gateway's edges: token scopes and the client name, `provider/model` references,
//! provider answers that are never retried (403, 404) or always are (refused connections,
//! garbage until the attempts run out), a client that goes away mid-stream, and the
//! unknown-price alert that fires once per model.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_engine::identity::Scope;
use flightdeck_engine::providers::ledger::{CallOutcome, HopOutcome};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::gateway::{chat, gateway, last_call, post, step};
use crate::support::send;

fn with_token(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_read_token_is_refused_and_an_operate_tokens_name_is_the_client() {
    let g = gateway(|_| {}).await;
    let reader = g
        .engine
        .identity()
        .create("dash", Scope::Read, None, "test")
        .await
        .unwrap();
    let agent = g
        .engine
        .identity()
        .create("billing-bot", Scope::Operate, None, "test")
        .await
        .unwrap();
    let r = send(
        &g.app,
        with_token(
            "/v1/chat/completions",
            &reader.token,
            chat("solo", "x", false),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json["error"]["code"], "insufficient_scope",
        "{:?}",
        r.json
    );
    // In the Anthropic shape on the Anthropic endpoint.
    let r = send(
        &g.app,
        with_token(
            "/v1/messages",
            &reader.token,
            json!({"model": "solo", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["type"], "error");
    assert_eq!(g.up.calls().total, 0, "a refused token reaches no provider");

    let r = send(
        &g.app,
        with_token(
            "/v1/chat/completions",
            &agent.token,
            chat("solo", "x", false),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(last_call(&g.engine).await.client, "token:billing-bot");
}

#[tokio::test]
async fn a_provider_model_reference_is_one_hop_and_an_unknown_provider_is_named() {
    let g = gateway(|_| {}).await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("back/m9", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let c = last_call(&g.engine).await;
    assert_eq!(
        (c.route, c.provider.as_deref(), c.model.as_deref()),
        (None, Some("back"), Some("m9"))
    );
    assert_eq!(c.hops.len(), 1);

    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("nope/m1", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["error"]["code"], "unknown_model");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`nope`") && message.contains("providers: back, up"),
        "{message}"
    );
}

#[tokio::test]
async fn forbidden_and_not_found_are_not_retried_but_fall_back() {
    let g = gateway(|_| {}).await;
    for (status, code) in [(403, "provider_auth_failed"), (404, "provider_unavailable")] {
        g.up.reset();
        g.up.script(step(json!({"kind": "status", "status": status})));
        let r = send(
            &g.app,
            post("/v1/chat/completions", chat("default", "x", false)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{status}: the next hop answers");
        assert_eq!(g.up.calls().total, 1, "{status} is not retried");
        let c = last_call(&g.engine).await;
        assert_eq!(
            (
                c.hops[0].outcome,
                c.hops[0].attempts,
                c.hops[0].error_code.as_deref()
            ),
            (HopOutcome::Failed, 1, Some(code)),
            "{status}"
        );
        assert_eq!(c.hops[1].outcome, HopOutcome::Ok);
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_the_chain_moves_on() {
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let g = gateway(|c| {
        c.providers.get_mut("up").unwrap().base_url = format!("http://127.0.0.1:{port}/v1");
    })
    .await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let c = last_call(&g.engine).await;
    assert_eq!(
        (
            c.hops[0].outcome,
            c.hops[0].attempts,
            c.hops[0].error_code.as_deref()
        ),
        (HopOutcome::Failed, 3, Some("provider_unavailable"))
    );
    let reason = c.hops[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("connection failed"), "{reason}");

    // Alone on its route, the failure is the client's answer, in the protocol's shape: its
    // first attempt is the fourth connection failure in a row, which opens the breaker
    // (`consecutive_failures = 4`), so the remaining attempts are not made.
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json["error"]["code"], "circuit_open", "{:?}", r.json);
    let c = last_call(&g.engine).await;
    assert_eq!(c.hops[0].attempts, 1);
}

#[tokio::test]
async fn a_provider_that_only_answers_garbage_ends_in_provider_bad_response() {
    let g = gateway(|_| {}).await;
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "malformed"})));
    }
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.json);
    assert_eq!(r.json["error"]["code"], "provider_bad_response");
    assert_eq!(g.up.calls().total, 3, "bounded by max_attempts");
    let c = last_call(&g.engine).await;
    assert_eq!(c.outcome, CallOutcome::Error);
    assert_eq!(c.error_code.as_deref(), Some("provider_bad_response"));
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_cancels_the_upstream_call() {
    let g = gateway(|_| {}).await;
    g.up.script(step(json!({"kind": "endless", "chunk_delay_ms": 5})));
    let mut req = post("/v1/chat/completions", chat("solo", "x", true));
    req.headers_mut()
        .insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
    let res = g.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    // Two chunks arrive as they are produced, then the client hangs up.
    for _ in 0..2 {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(frame.is_data());
    }
    drop(body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while g.up.calls().disconnected == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream call was not dropped: {:?}",
            g.up.calls()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = last_call(&g.engine).await;
    assert_eq!(c.outcome, CallOutcome::Cancelled);
    assert_eq!(
        g.up.calls().total,
        1,
        "nothing retried after the client left"
    );
}

#[tokio::test]
async fn an_unpriced_model_is_announced_once_on_the_feed() {
    let g = gateway(|c| {
        c.prices.remove("up/m1");
        c.providers.get_mut("up").unwrap().local = Some(false);
    })
    .await;
    let (mut feed, _) = g.engine.events().subscribe();
    for text in ["a", "b", "c"] {
        let r = send(
            &g.app,
            post("/v1/chat/completions", chat("solo", text, false)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let _ = last_call(&g.engine).await;
    let mut alerts = Vec::new();
    while let Ok(p) = feed.try_recv() {
        let frame: Value = serde_json::from_str(&p.json).unwrap();
        if frame["topic"] == "providers" {
            alerts.push(frame["payload"].clone());
        }
    }
    assert_eq!(
        alerts,
        vec![json!({"kind": "price_unknown", "provider": "up", "model": "m1"})]
    );
    let metrics = g.engine.metrics().render().unwrap();
    assert!(
        metrics
            .contains("flightdeck_llm_unknown_price_calls_total{model=\"m1\",provider=\"up\"} 3"),
        "{metrics}"
    );
}
