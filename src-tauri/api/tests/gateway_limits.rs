//! Exact costs across a price change, and the bounds: oversized requests and answers, an
//! endless stream, each a clear error with a stable code and a ledger row.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use flightdeck_engine::clock::{ManualClock, SharedClock};
use flightdeck_engine::providers::ledger::{CallFilter, CallOutcome};
use rust_decimal::Decimal;
use serde_json::json;

use crate::gateway::{chat, gateway, gateway_on, last_call, post, sse_data, step};
use crate::support::send;

#[tokio::test]
async fn a_price_change_applies_from_its_date_exactly() {
    let clock = Arc::new(ManualClock::new("2026-12-01T23:59:58Z".parse().unwrap()));
    let shared: SharedClock = clock.clone();
    let g = gateway_on(shared, |c| {
        let prices: flightdeck_engine::providers::settings::PriceEntry =
            serde_json::from_value(json!([
                {"input": "0.15", "output": "0.6", "cached_input": "0.075", "reasoning": "1.2"},
                {"input": "0.2", "output": "0.8", "cached_input": "0.1", "reasoning": "1.6",
                 "from": "2026-12-02"}
            ]))
            .unwrap();
        c.prices.insert("up/m1".into(), prices);
    })
    .await;
    let usage = json!({"input": 1234, "output": 567, "cached_input": 89, "reasoning": 10});
    let mut rows = Vec::new();
    for _ in 0..2 {
        g.up.script(step(json!({"kind": "reply", "usage": usage})));
        let r = send(
            &g.app,
            post("/v1/chat/completions", chat("solo", "x", false)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        rows.push(last_call(&g.engine).await);
        clock.advance(Duration::from_secs(3)); // past midnight: the new price
    }
    let m = Decimal::from(1_000_000);
    let cost = |p_in: &str, p_out: &str, p_cached: &str, p_reason: &str| {
        (Decimal::from(1234) * p_in.parse::<Decimal>().unwrap()
            + Decimal::from(567) * p_out.parse::<Decimal>().unwrap()
            + Decimal::from(89) * p_cached.parse::<Decimal>().unwrap()
            + Decimal::from(10) * p_reason.parse::<Decimal>().unwrap())
            / m
    };
    assert_eq!(rows[0].cost, Some(cost("0.15", "0.6", "0.075", "1.2")));
    assert_eq!(rows[1].cost, Some(cost("0.2", "0.8", "0.1", "1.6")));
    for r in &rows {
        assert_eq!(
            (
                r.usage.input,
                r.usage.output,
                r.usage.cached_input,
                r.usage.reasoning
            ),
            (1234, 567, 89, 10)
        );
        assert!(!r.usage.estimated);
    }
    // The same figures from the list (what /api/v1/calls and `calls ls` show).
    let listed = g
        .engine
        .providers()
        .ledger()
        .list(CallFilter::default(), None, 10)
        .await
        .unwrap();
    let total: Decimal = listed.iter().filter_map(|(_, r)| r.cost).sum();
    assert_eq!(
        total,
        cost("0.15", "0.6", "0.075", "1.2") + cost("0.2", "0.8", "0.1", "1.6")
    );
}

#[tokio::test]
async fn a_model_without_a_price_costs_unknown_not_zero() {
    let g = gateway(|c| {
        c.prices.remove("up/m1");
        // On loopback a provider counts as local (free) unless told otherwise.
        c.providers.get_mut("up").unwrap().local = Some(false);
    })
    .await;
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let row = last_call(&g.engine).await;
    assert_eq!(row.cost, None);
    assert!(row.usage.input > 0);
    let metrics = g.engine.metrics().render().unwrap();
    assert!(
        metrics
            .contains("flightdeck_llm_unknown_price_calls_total{model=\"m1\",provider=\"up\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_oversized_request_is_refused_before_any_provider_sees_it() {
    let g = gateway(|c| c.gateway.max_request_bytes = 4096).await;
    let r = send(
        &g.app,
        post(
            "/v1/chat/completions",
            chat("solo", &"word ".repeat(2000), false),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", r.json);
    assert_eq!(r.json["error"]["code"], "payload_too_large");
    assert_eq!(r.headers["x-should-retry"], "false");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4096 bytes")
    );
    let r = send(
        &g.app,
        post(
            "/v1/messages",
            json!({"model": "solo", "max_tokens": 5,
                   "messages": [{"role": "user", "content": "word ".repeat(2000)}]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json["type"], "error");
    assert_eq!(g.up.calls().total, 0);
    // Under the limit it goes through.
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "small", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_and_endless_answers_are_cut_with_a_clear_error() {
    let g = gateway(|c| {
        let up = c.providers.get_mut("up").unwrap();
        up.max_response_bytes = 64 * 1024;
        up.retry.max_attempts = 1;
    })
    .await;
    // A whole answer past the bound: response_too_large, not retried, nothing buffered past it.
    g.up.script(step(json!({"kind": "reply", "pad_bytes": 1_048_576})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("solo", "x", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.json);
    assert_eq!(r.json["error"]["code"], "response_too_large");
    let row = last_call(&g.engine).await;
    assert_eq!(row.outcome, CallOutcome::Error);
    assert_eq!(row.error_code.as_deref(), Some("response_too_large"));

    // A stream that never ends: cut at the same bound, with an error event, and recorded.
    g.up.script(step(
        json!({"kind": "endless", "chunk_delay_ms": 0, "chunk_bytes": 256}),
    ));
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        send(
            &g.app,
            post("/v1/chat/completions", chat("solo", "y", true)),
        ),
    )
    .await
    .expect("an endless stream was not cut");
    assert_eq!(r.status, StatusCode::OK);
    let data = sse_data(&r);
    assert!(
        data.iter().any(|d| d.contains("response_too_large")),
        "{:?}",
        data.last()
    );
    assert!(r.body.len() < 1024 * 1024, "{} bytes passed", r.body.len());
    let row = last_call(&g.engine).await;
    assert_eq!(row.error_code.as_deref(), Some("response_too_large"));
    assert!(row.usage.estimated);
    assert!(row.usage.output > 0, "the output that came is counted");
}

#[tokio::test]
async fn usage_a_server_does_not_report_is_counted_with_the_tokenizer_and_marked() {
    use flightdeck_engine::providers::tokens;
    let g = gateway(|_| {}).await;
    let text = "The quick brown fox jumps over the lazy dog, twice.";
    for stream in [false, true] {
        g.up.script(step(
            json!({"kind": "reply", "text": text, "omit_usage": true, "chunks": 3}),
        ));
        let r = send(
            &g.app,
            post(
                "/v1/chat/completions",
                chat("solo", "count these words for me", stream),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let row = last_call(&g.engine).await;
        assert!(row.usage.estimated, "stream {stream}: {:?}", row.usage);
        assert_eq!(row.usage.output, tokens::count(text), "stream {stream}");
        assert!(row.usage.input >= tokens::count("count these words for me"));
        // Priced on the estimate (up/m1: $0.15 in, $0.6 out per million).
        let expected = (Decimal::from(row.usage.input) * "0.15".parse::<Decimal>().unwrap()
            + Decimal::from(row.usage.output) * "0.6".parse::<Decimal>().unwrap())
            / Decimal::from(1_000_000);
        assert_eq!(row.cost, Some(expected));
    }
}
