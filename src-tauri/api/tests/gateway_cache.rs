//! The response cache and the client-side rate limits through the gateway: hits replay
//! (as a stream too), misses and savings counted, errors and partial streams never kept,
//! non-deterministic requests only when forced; rate limits fail over or fail fast.

use axum::http::StatusCode;
use flightdeck_engine::Engine;
use flightdeck_engine::config::Config;
use flightdeck_engine::providers::ledger::HopOutcome;
use flightdeck_engine::providers::settings::{OnLimit, RateLimitSettings};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::gateway::{chat, gateway, last_call, post, sse_data, step, stream_text};
use crate::support::send;

fn cached_route(c: &mut Config) {
    c.routes.get_mut("solo").unwrap().cache = true;
}

fn deterministic(text: &str, stream: bool) -> Value {
    let mut body = chat("solo", text, stream);
    body["temperature"] = json!(0);
    body
}

fn metric(engine: &Engine, name: &str) -> f64 {
    let text = engine.metrics().render().unwrap();
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_cached_answer_is_replayed_whole_and_as_a_stream_and_its_saving_recorded() {
    let g = gateway(cached_route).await;
    g.up.script(step(json!({"kind": "reply", "text": "forty-two",
        "usage": {"input": 100, "output": 10}})));
    let first = send(
        &g.app,
        post("/v1/chat/completions", deterministic("q", false)),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-flightdeck-cache"], "miss");
    let original = last_call(&g.engine).await;
    // 100 × 0.15 + 10 × 0.6 per million.
    assert_eq!(original.cost, Some("0.000021".parse::<Decimal>().unwrap()));

    let hit = send(
        &g.app,
        post("/v1/chat/completions", deterministic("q", false)),
    )
    .await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.headers["x-flightdeck-cache"], "hit");
    assert_eq!(hit.json["choices"][0]["message"]["content"], "forty-two");
    assert_eq!(g.up.calls().total, 1, "a hit does not reach the provider");
    let row = last_call(&g.engine).await;
    assert!(row.cache_hit);
    assert_eq!(row.cost, Some(Decimal::ZERO));
    assert_eq!(row.saved_cost, original.cost);
    assert_eq!(
        (row.provider.as_deref(), row.model.as_deref()),
        (Some("up"), Some("m1"))
    );

    // The same request streamed: replayed as a stream from the cache.
    let streamed = send(
        &g.app,
        post("/v1/chat/completions", deterministic("q", true)),
    )
    .await;
    assert_eq!(streamed.headers["x-flightdeck-cache"], "hit");
    let data = sse_data(&streamed);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let text = stream_text(&streamed);
    assert_eq!(text, "forty-two");
    assert_eq!(g.up.calls().total, 1);

    assert_eq!(metric(&g.engine, "flightdeck_llm_cache_hits_total"), 2.0);
    assert_eq!(metric(&g.engine, "flightdeck_llm_cache_misses_total"), 1.0);
    assert!((metric(&g.engine, "flightdeck_llm_cache_saved_usd_total") - 0.000042).abs() < 1e-12);
    assert_eq!(metric(&g.engine, "flightdeck_llm_cache_entries"), 1.0);

    // Other content, or `x-flightdeck-cache: off`, goes to the provider.
    send(
        &g.app,
        post("/v1/chat/completions", deterministic("other", false)),
    )
    .await;
    assert_eq!(g.up.calls().total, 2);
    let mut off = post("/v1/chat/completions", deterministic("q", false));
    off.headers_mut()
        .insert("x-flightdeck-cache", "off".parse().unwrap());
    let r = send(&g.app, off).await;
    assert_eq!(r.headers["x-flightdeck-cache"], "miss");
    assert_eq!(g.up.calls().total, 3);
}

#[tokio::test]
async fn errors_partial_streams_and_non_deterministic_requests_are_not_kept() {
    let g = gateway(cached_route).await;
    // An error is not cached: the next identical request goes upstream and succeeds.
    g.up.script(step(json!({"kind": "status", "status": 400})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", deterministic("e", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(
        &g.app,
        post("/v1/chat/completions", deterministic("e", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-flightdeck-cache"], "miss");
    assert_eq!(g.up.calls().total, 2);

    // A stream cut half way is not cached.
    g.up.reset();
    g.up.script(step(json!({"kind": "truncate", "after_chunks": 1})));
    send(
        &g.app,
        post("/v1/chat/completions", deterministic("p q r", true)),
    )
    .await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", deterministic("p q r", true)),
    )
    .await;
    assert_eq!(r.headers["x-flightdeck-cache"], "miss");
    assert_eq!(g.up.calls().total, 2);
    // ...but a whole stream is, and replays whole.
    let r = send(
        &g.app,
        post("/v1/chat/completions", deterministic("p q r", false)),
    )
    .await;
    assert_eq!(r.headers["x-flightdeck-cache"], "hit");
    assert_eq!(r.json["choices"][0]["message"]["content"], "echo: p q r");

    // No temperature 0 or seed: not cached unless forced.
    g.up.reset();
    send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "n", false)),
    )
    .await;
    send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "n", false)),
    )
    .await;
    assert_eq!(g.up.calls().total, 2);
    let forced = || {
        let mut r = post("/v1/chat/completions", chat("solo", "n", false));
        r.headers_mut()
            .insert("x-flightdeck-cache", "force".parse().unwrap());
        r
    };
    send(&g.app, forced()).await;
    let r = send(&g.app, forced()).await;
    assert_eq!(r.headers["x-flightdeck-cache"], "hit");
    assert_eq!(g.up.calls().total, 3);

    // A route that did not opt in never caches, unless the request asks.
    send(
        &g.app,
        post("/v1/chat/completions", chat("default", "d", false)),
    )
    .await;
    send(
        &g.app,
        post("/v1/chat/completions", chat("default", "d", false)),
    )
    .await;
    assert_eq!(g.up.calls().total, 5);
    let mut bad = post("/v1/chat/completions", chat("default", "d", false));
    bad.headers_mut()
        .insert("x-flightdeck-cache", "sometimes".parse().unwrap());
    let r = send(&g.app, bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sometimes")
    );
}

#[tokio::test]
async fn a_rate_limit_fails_over_or_fails_fast_with_retry_after() {
    let g = gateway(|c| {
        c.providers.get_mut("up").unwrap().rate_limit = RateLimitSettings {
            requests_per_minute: Some(2),
            on_limit: OnLimit::Fail,
            ..RateLimitSettings::default()
        };
    })
    .await;
    for _ in 0..2 {
        let r = send(
            &g.app,
            post("/v1/chat/completions", chat("solo", "a", false)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // The third within the minute: `solo` has nowhere else to go.
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "a", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.json);
    assert_eq!(r.json["error"]["code"], "rate_limited");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "retry-after {wait}");
    assert_eq!(
        g.up.calls().total,
        2,
        "the limit is client side: nothing was sent"
    );
    // `default` falls back to the next hop, and says why.
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("default", "b", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-flightdeck-provider"], "back");
    let row = last_call(&g.engine).await;
    assert_eq!(row.hops[0].outcome, HopOutcome::Skipped);
    assert_eq!(row.hops[0].error_code.as_deref(), Some("rate_limited"));
    assert_eq!(g.up.calls().total, 2);
}

#[tokio::test]
async fn a_token_limit_counts_the_request_and_max_tokens() {
    let g = gateway(|c| {
        c.providers.get_mut("up").unwrap().rate_limit = RateLimitSettings {
            tokens_per_minute: Some(1000),
            on_limit: OnLimit::Fail,
            ..RateLimitSettings::default()
        };
    })
    .await;
    let mut big = chat("solo", "hello", false);
    big["max_tokens"] = json!(800);
    let r = send(&g.app, post("/v1/chat/completions", big.clone())).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&g.app, post("/v1/chat/completions", big)).await;
    assert_eq!(r.json["error"]["code"], "rate_limited", "{:?}", r.json);
    // A request larger than the whole budget can never pass: a clear error, not a wait.
    let mut huge = chat("solo", "hello", false);
    huge["max_tokens"] = json!(5000);
    let r = send(&g.app, post("/v1/chat/completions", huge)).await;
    assert_eq!(r.json["error"]["code"], "rate_limited", "{:?}", r.json);
    assert_eq!(g.up.calls().total, 1);
}
