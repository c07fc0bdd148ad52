//! The gateway end to end over the router: OpenAI and Anthropic endpoints against the
//! scripted provider, the fault matrix (retries, fallbacks, breaker, timeouts) checked by the
//! provider's call counts and the hops recorded in the ledger, and ledger exactness.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::router;
use flightdeck_engine::Engine;
use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::providers::ledger::{CallFilter, CallOutcome, CallRecord, HopOutcome};
use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

use crate::support::{Reply, TOKEN, get, options, send, send_bare};

const KEY: &str = "sk-fake-FLIGHTDECKCANARY-7c1e";

pub(crate) struct Gw {
    pub app: axum::Router,
    pub engine: Engine,
    pub up: ScriptedProvider,
    /// The Anthropic-protocol provider `back`.
    pub back: ScriptedProvider,
    pub dir: tempfile::TempDir,
}

pub(crate) fn step(v: Value) -> Step {
    serde_json::from_value(v).unwrap()
}

/// Two providers on two scripted servers: `up` (OpenAI protocol, keyed) and `back`
/// (Anthropic protocol); route `default` = up/m1 then back/m2.
pub(crate) async fn gateway(tweak: impl FnOnce(&mut Config)) -> Gw {
    gateway_on(flightdeck_engine::clock::SystemClock::shared(), tweak).await
}

/// [`gateway`] on `clock` (a `ManualClock` for price dates and TTLs).
pub(crate) async fn gateway_on(
    clock: flightdeck_engine::clock::SharedClock,
    tweak: impl FnOnce(&mut Config),
) -> Gw {
    let up = ScriptedProvider::builder()
        .require_key(KEY)
        .start()
        .await
        .unwrap();
    let back = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[secrets]
backend = "file"
[providers.up]
kind = "openai"
base_url = "{}"
key = "provider:up"
retry = {{ max_attempts = 3, base_delay_ms = 1, max_delay_ms = 5 }}
breaker = {{ consecutive_failures = 4, open_secs = 600 }}
timeouts = {{ first_byte_ms = 2000, idle_ms = 500, total_ms = 5000 }}
[providers.back]
kind = "anthropic"
base_url = "{}"
retry = {{ max_attempts = 1 }}
[routes.default]
chain = ["up/m1", "back/m2"]
[routes.solo]
chain = ["up/m1"]
[prices."up/m1"]
input = 0.15
output = 0.6
cached_input = 0.075
reasoning = 1.2
[prices."back/m2"]
input = 3
output = 15
cached_input = 0.3
cache_write = 3.75
"#,
        up.openai_base_url(),
        back.anthropic_base_url()
    );
    let parsed: Config = toml::from_str(&config).unwrap();
    parsed.validate(None).unwrap();
    let engine = crate::support::engine_on_clock(
        dir.path(),
        |c| {
            *c = parsed;
            tweak(c);
        },
        clock,
    )
    .await;
    engine
        .named_secrets()
        .set("provider:up", KEY.to_string().into())
        .await
        .unwrap();
    let app = router(engine.clone(), options());
    Gw {
        app,
        engine,
        up,
        back,
        dir,
    }
}

pub(crate) fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub(crate) fn chat(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})
}

pub(crate) async fn last_call(engine: &Engine) -> CallRecord {
    engine.providers().ledger().flush().await;
    let rows = engine
        .providers()
        .ledger()
        .list(CallFilter::default(), None, 1)
        .await
        .unwrap();
    rows.into_iter().next().unwrap().1
}

/// The text of an OpenAI-format SSE answer: its `delta.content`s joined.
pub(crate) fn stream_text(r: &Reply) -> String {
    sse_data(r)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The `data:` payloads of an SSE body.
pub(crate) fn sse_data(r: &Reply) -> Vec<String> {
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_plain_call_is_answered_and_recorded_exactly() {
    let g = gateway(|_| {}).await;
    g.up.script(step(json!({"kind": "reply", "text": "hello there",
        "usage": {"input": 1000, "output": 200, "cached_input": 300, "reasoning": 50}})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "hi", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["choices"][0]["message"]["content"], "hello there");
    assert_eq!(r.json["usage"]["prompt_tokens"], 1300);
    assert_eq!(r.json["usage"]["completion_tokens"], 250);
    assert_eq!(r.headers["x-flightdeck-provider"], "up");
    // The key arrived upstream, as a bearer token.
    let seen = g.up.calls();
    assert_eq!(
        seen.last().unwrap().header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let c = last_call(&g.engine).await;
    assert_eq!(c.id, r.headers["x-flightdeck-call-id"].to_str().unwrap());
    assert_eq!(
        (
            c.client.as_str(),
            c.route.as_deref(),
            c.provider.as_deref(),
            c.model.as_deref()
        ),
        ("bootstrap", Some("default"), Some("up"), Some("m1"))
    );
    assert_eq!(
        (
            c.usage.input,
            c.usage.cached_input,
            c.usage.output,
            c.usage.reasoning,
            c.usage.estimated
        ),
        (1000, 300, 200, 50, false)
    );
    // 1000*0.15 + 300*0.075 + 200*0.6 + 50*1.2 = 150 + 22.5 + 120 + 60 = 352.5 per million
    assert_eq!(c.cost.unwrap().to_string(), "0.0003525");
    assert_eq!(c.outcome, CallOutcome::Ok);
    assert_eq!(c.hops.len(), 1);

    // The key is nowhere but the secret store (here the 0600 secrets file): not in the
    // database (calls, events, secrets index), the journal, the config API or an answer.
    let config = send(
        &g.app,
        crate::support::authed(crate::support::get("/api/v1/config"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(config.status, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&config.body).contains(KEY));
    assert!(!String::from_utf8_lossy(&r.body).contains(KEY));
    g.engine.store().close().await;
    let mut files = vec![g.dir.path().to_path_buf()];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.ends_with("secrets") {
            continue; // the file backend's own store: where the key belongs
        }
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if !p.ends_with("secrets.json") {
            let bytes = std::fs::read(&p).unwrap();
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(KEY), "the key is in {}", p.display());
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "the database, its WAL and the journal were read"
    );
}

#[tokio::test]
async fn a_stream_is_passed_through_and_its_usage_recorded() {
    let g = gateway(|_| {}).await;
    g.up.script(step(
        json!({"kind": "reply", "text": "one two three four", "chunks": 4,
        "usage": {"input": 10, "output": 4}}),
    ));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "count", true)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/event-stream");
    let data = sse_data(&r);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let text = stream_text(&r);
    assert_eq!(text, "one two three four");
    let c = last_call(&g.engine).await;
    assert!(c.stream && c.ttft_us.is_some());
    assert_eq!(
        (c.usage.input, c.usage.output, c.usage.estimated),
        (10, 4, false)
    );
}

#[tokio::test]
async fn anthropic_clients_fall_back_across_protocols() {
    let g = gateway(|_| {}).await;
    // up answers 500 three times (all its attempts): the chain moves on to back (Anthropic).
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "status", "status": 500})));
    }
    let body = json!({"model": "default", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    let r = send(&g.app, post("/v1/messages", body)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["type"], "message");
    assert_eq!(r.json["content"][0]["text"], "echo: hi");
    assert_eq!(g.up.calls().total, 3);
    let c = last_call(&g.engine).await;
    assert_eq!(c.hops.len(), 2);
    assert_eq!(
        (
            c.hops[0].outcome,
            c.hops[0].attempts,
            c.hops[0].error_code.as_deref()
        ),
        (HopOutcome::Failed, 3, Some("provider_unavailable"))
    );
    assert_eq!(
        (c.hops[1].outcome, c.provider.as_deref()),
        (HopOutcome::Ok, Some("back"))
    );
}

#[tokio::test]
async fn the_fault_matrix() {
    let g = gateway(|_| {}).await;
    // 429 with Retry-After 0 then success: one retry on the same hop.
    g.up.reset();
    g.up.script(step(
        json!({"kind": "status", "status": 429, "retry_after": 0}),
    ));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "a", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(g.up.calls().total, 2);
    assert_eq!(last_call(&g.engine).await.hops[0].attempts, 2);

    // Malformed JSON and a 529 are retried too.
    g.up.reset();
    g.up.script(step(json!({"kind": "malformed"})));
    g.up.script(step(json!({"kind": "status", "status": 529})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "b", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(g.up.calls().total, 3);

    // 400 is never retried nor failed over: the request itself is refused.
    g.up.reset();
    g.up.script(step(
        json!({"kind": "status", "status": 400, "message": "bad thing"}),
    ));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "c", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["error"]["code"], "provider_rejected");
    assert_eq!(r.headers["x-should-retry"], "false");
    assert_eq!(g.up.calls().total, 1);

    // 401 from the provider: not retried; the chain moves on, nothing else answers → auth error.
    g.up.reset();
    g.up.script(step(json!({"kind": "status", "status": 401})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "d", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json["error"]["code"], "provider_auth_failed");
    assert_eq!(g.up.calls().total, 1);

    // A truncated stream after output reached the client: an error event, no retry.
    g.up.reset();
    g.up.script(step(json!({"kind": "truncate", "after_chunks": 1})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "e f g", true)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let data = sse_data(&r);
    assert!(data.iter().any(|d| d.contains("provider_")), "{data:?}");
    assert_eq!(g.up.calls().total, 1);
    let c = last_call(&g.engine).await;
    assert_eq!(c.outcome, CallOutcome::Error);
    assert!(c.usage.estimated);

    // A stalled stream is cut by the idle timeout (500 ms here), not held forever.
    g.up.reset();
    g.up.script(step(json!({"kind": "stall", "after_chunks": 1})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "h", true)),
    )
    .await;
    assert!(sse_data(&r).iter().any(|d| d.contains("provider_timeout")));

    // A hang before the head: the first-byte timeout, retried, then failed.
    g.up.reset();
    for _ in 0..3 {
        g.up.script(step(json!({"kind": "hang"})));
    }
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "i", false)),
    )
    .await;
    assert_eq!(r.json["error"]["code"], "provider_timeout", "{:?}", r.json);
    assert_eq!(g.up.calls().total, 3);
}

#[tokio::test]
async fn the_breaker_opens_and_skips_the_hop() {
    let g = gateway(|_| {}).await;
    let (mut feed, _) = g.engine.events().subscribe();
    let health = send_bare(&g.app, get("/health").body(Body::empty()).unwrap()).await;
    let up = provider_health(&health.json, "up");
    assert_eq!(
        (up["status"].as_str(), up["message"].as_str()),
        (Some("healthy"), Some("no calls yet"))
    );
    for _ in 0..4 {
        g.up.script(step(json!({"kind": "status", "status": 503})));
    }
    // 3 attempts on up, then back; then 1 more failure opens up's breaker.
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "y", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        g.up.calls().total,
        4,
        "the fourth failure opened the breaker: no more attempts"
    );
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "z", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(g.up.calls().total, 4, "an open breaker is skipped");
    let c = last_call(&g.engine).await;
    assert_eq!(
        (c.hops[0].outcome, c.hops[0].error_code.as_deref()),
        (HopOutcome::Skipped, Some("circuit_open"))
    );
    let metrics = g.engine.metrics().render().unwrap();
    assert!(
        metrics.contains("flightdeck_provider_breaker_state{model=\"m1\",provider=\"up\"} 2"),
        "{metrics}"
    );
    // /health shows the provider degraded (not unhealthy: its routes fall back), the other
    // one healthy; the feed carried the transition.
    let health = send_bare(&g.app, get("/health").body(Body::empty()).unwrap()).await;
    let up = provider_health(&health.json, "up");
    assert_eq!(up["status"], "degraded", "{up}");
    assert_eq!(up["message"], "breaker open for m1", "{up}");
    assert_eq!(health.json["status"], "degraded");
    let back = provider_health(&health.json, "back");
    assert_eq!(back["status"], "healthy", "{back}");
    assert_eq!(
        back["message"], "1 model(s) called, breakers closed",
        "{back}"
    );
    let mut transitions = Vec::new();
    while let Ok(p) = feed.try_recv() {
        let frame: Value = serde_json::from_str(&p.json).unwrap();
        if frame["topic"] == "providers" {
            transitions.push(frame["payload"].clone());
        }
    }
    assert_eq!(
        transitions,
        vec![
            json!({"kind": "breaker", "provider": "up", "model": "m1", "from": "closed", "to": "open"})
        ]
    );
}

fn provider_health(report: &Value, name: &str) -> Value {
    report["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == format!("provider:{name}"))
        .unwrap_or_else(|| panic!("no provider:{name} in {report}"))
        .clone()
}

#[tokio::test]
async fn bad_input_gets_the_protocols_error_shape() {
    let g = gateway(|_| {}).await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("nope", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["error"]["code"], "unknown_model");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("routes: default, solo")
    );
    let r = send(
        &g.app,
        post("/v1/messages", json!({"model": "default", "messages": []})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json["type"], "error");
    let r = send(
        &g.app,
        Request::post("/v1/chat/completions")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"]["type"], "authentication_error");
    // The Anthropic SDK's header works as well.
    let r = send(
        &g.app,
        Request::get("/v1/models")
            .header("x-api-key", TOKEN)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["data"][0]["id"], "default");
}

#[tokio::test]
async fn a_missing_secret_is_named_and_the_key_never_leaks() {
    let g = gateway(|c| {
        c.providers.get_mut("up").unwrap().key = Some("provider:absent".into());
    })
    .await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "x", false)),
    )
    .await;
    assert_eq!(r.json["error"]["code"], "provider_auth_failed");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider:absent")
    );
    assert_eq!(g.up.calls().total, 0, "no call without its key");
    let _ = SecretsBackend::File;
    let _ = &g.dir;
}

#[tokio::test]
async fn a_config_change_applies_to_the_next_call_and_not_to_one_in_flight() {
    let g = gateway(|_| {}).await;
    // A slow stream on `up`, under way when the config changes.
    g.up.script(step(json!({"kind": "reply", "text": "one two three four",
        "chunks": 4, "chunk_delay_ms": 150})));
    let app = g.app.clone();
    let in_flight = tokio::spawn(async move {
        send(
            &app,
            post("/v1/chat/completions", chat("default", "slow", true)),
        )
        .await
    });
    for _ in 0..200 {
        if g.up.calls().total == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // `default` now goes to `back` only, and `up` loses its price: new calls see both.
    let mut next = (*g.engine.config().current()).clone();
    next.routes.get_mut("default").unwrap().chain = vec!["back/m2".into()];
    next.prices.remove("up/m1");
    next.validate(None).unwrap();
    let changed = g.engine.config().apply(next);
    assert!(
        changed.iter().any(|k| k.starts_with("routes")),
        "{changed:?}"
    );

    let r = in_flight.await.unwrap();
    assert_eq!(r.headers["x-flightdeck-provider"], "up");
    let text = stream_text(&r);
    assert_eq!(
        text, "one two three four",
        "the stream finished on its settings"
    );
    let row = last_call(&g.engine).await;
    assert_eq!(row.provider.as_deref(), Some("up"));
    assert!(row.cost.is_some(), "priced as when it started");

    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "next", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-flightdeck-provider"], "back");
    assert_eq!(g.up.calls().total, 1);
}
