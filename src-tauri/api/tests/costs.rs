//! `/api/v1/costs` end to end: calls through both gateway dialects against the scripted
//! provider, across a price change and a day boundary in a zone with a :30 offset; the
//! summary, breakdowns and export add up to the exact figures worked out by hand.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_engine::clock::{ManualClock, SharedClock};
use serde_json::{Value, json};

use crate::gateway::{chat, gateway_on, post, step};
use crate::support::{TOKEN, assert_error, get_authed, send};

fn tagged(mut r: Request<Body>, tags: &str) -> Request<Body> {
    r.headers_mut()
        .insert("x-flightdeck-tags", tags.parse().unwrap());
    r
}

#[tokio::test]
async fn costs_are_exact_across_a_price_change_and_a_half_hour_zone_boundary() {
    let clock = Arc::new(ManualClock::new("2026-03-31T18:00:00Z".parse().unwrap()));
    let shared: SharedClock = clock.clone();
    let g = gateway_on(shared, |c| {
        c.prices.insert(
            "up/m1".into(),
            toml::from_str::<toml::Value>(
                r#"v = [
                  { input = 0.15, output = 0.6, cached_input = 0.075, reasoning = 1.2, from = "2026-03-01" },
                  { input = 0.3, output = 1.2, cached_input = 0.15, reasoning = 2.4, from = "2026-04-01" },
                ]"#,
            )
            .unwrap()["v"]
                .clone()
                .try_into()
                .unwrap(),
        );
    })
    .await;
    let usage = json!({"input": 1000, "output": 200, "cached_input": 300, "reasoning": 50});
    // a: 18:00Z (23:30 on Mar 31 in Kolkata), old price, team-a.
    g.up.script(step(json!({"kind": "reply", "text": "a", "usage": usage})));
    let r = send(
        &g.app,
        tagged(
            post("/v1/chat/completions", chat("solo", "a", false)),
            "team-a",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    // b: 19:00Z (00:30 on Apr 1 in Kolkata, still Mar 31 in UTC), old price, streamed.
    clock.set("2026-03-31T19:00:00Z".parse().unwrap());
    g.up.script(step(json!({"kind": "reply", "text": "b", "usage": usage})));
    let mut body = chat("solo", "b", true);
    body["stream_options"] = json!({"include_usage": true});
    let r = send(&g.app, post("/v1/chat/completions", body)).await;
    assert_eq!(r.status, StatusCode::OK);
    // c: Apr 1 01:00Z, new price, two tags (one twice).
    clock.set("2026-04-01T01:00:00Z".parse().unwrap());
    g.up.script(step(json!({"kind": "reply", "text": "c", "usage": usage})));
    let r = send(
        &g.app,
        tagged(
            post("/v1/chat/completions", chat("solo", "c", false)),
            "team-b, team-a,team-b",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // d: Apr 1 02:00Z through the Anthropic dialect to back/m2 (cache writes), team-b.
    clock.set("2026-04-01T02:00:00Z".parse().unwrap());
    let mut req = post(
        "/v1/messages",
        json!({"model": "back/m2", "max_tokens": 100, "messages": [{"role": "user", "content": "d"}]}),
    );
    req.headers_mut()
        .insert("x-api-key", TOKEN.parse().unwrap());
    g.back.script(step(json!({"kind": "reply", "text": "d",
        "usage": {"input": 100, "output": 20, "cached_input": 1000, "cache_write": 400}})));
    let r = send(&g.app, tagged(req, "team-b")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    clock.set("2026-04-02T12:00:00Z".parse().unwrap());
    g.engine.providers().ledger().flush().await;

    let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    // a, b: 1000×0.15 + 300×0.075 + 200×0.6 + 50×1.2 = 352.5 per million; c at twice the
    // price; d: 100×3 + 1000×0.3 + 400×3.75 + 20×15 = 2400 per million.
    let (old, new, d_cost) = (dec("0.0003525"), dec("0.000705"), dec("0.0024"));

    // By day in Kolkata: Mar 31 has a; Apr 1 has b, c, d.
    let q = "from=2026-03-30T18:30:00Z&until=2026-04-02T18:30:00Z";
    let r = get_authed(
        &g.app,
        &format!("/api/v1/costs/breakdown?{q}&bucket=day&time_zone=Asia/Kolkata"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let rows = r.json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["bucket_start"], "2026-03-30T18:30:00Z");
    assert_eq!(dec(rows[0]["cost"].as_str().unwrap()), old);
    assert_eq!(rows[1]["bucket_start"], "2026-03-31T18:30:00Z");
    assert_eq!(dec(rows[1]["cost"].as_str().unwrap()), old + new + d_cost);
    assert_eq!(rows[1]["calls"], 3);
    // The same calls by UTC day: Mar 31 has a and b.
    let r = get_authed(
        &g.app,
        &format!("/api/v1/costs/breakdown?{q}&bucket=day&time_zone=UTC"),
    )
    .await;
    let rows = r.json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "empty buckets have no row: {rows:?}");
    let by_day: Vec<(String, rust_decimal::Decimal)> = rows
        .iter()
        .map(|r| {
            (
                r["bucket_start"].as_str().unwrap().to_string(),
                dec(r["cost"].as_str().unwrap()),
            )
        })
        .collect();
    assert!(
        by_day.contains(&("2026-03-31T00:00:00Z".into(), old + old)),
        "{by_day:?}"
    );
    assert!(
        by_day.contains(&("2026-04-01T00:00:00Z".into(), new + d_cost)),
        "{by_day:?}"
    );

    // Every token kind, exactly as the provider reported it.
    let r = get_authed(&g.app, &format!("/api/v1/costs/summary?{q}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let t = &r.json["totals"];
    assert_eq!(t["calls"], 4);
    assert_eq!(t["tokens"]["reasoning"], 150);
    assert_eq!(t["tokens"]["input"], 3100);
    assert_eq!(t["tokens"]["output"], 620);
    assert_eq!(t["tokens"]["cached_input"], 1900);
    assert_eq!(t["tokens"]["cache_write"], 400);
    assert_eq!(dec(t["cost"].as_str().unwrap()), old + old + new + d_cost);
    assert_eq!(t["unknown_cost_calls"], 0);
    assert_eq!(r.json["top"]["models"][0]["key"], "back/m2");
    assert_eq!(r.json["top"]["models"][1]["key"], "up/m1");

    // By tag: a call counts once per tag (the duplicate in c's header once).
    let r = get_authed(&g.app, &format!("/api/v1/costs/breakdown?{q}&by=tag")).await;
    let rows = r.json["rows"].as_array().unwrap();
    let team = |name: &str| rows.iter().find(|r| r["key"] == name).unwrap().clone();
    assert_eq!(team("team-a")["calls"], 2);
    assert_eq!(dec(team("team-a")["cost"].as_str().unwrap()), old + new);
    assert_eq!(team("team-b")["calls"], 2);
    assert_eq!(dec(team("team-b")["cost"].as_str().unwrap()), new + d_cost);
    let r = get_authed(&g.app, &format!("/api/v1/costs/summary?{q}&tag=team-a")).await;
    assert_eq!(dec(r.json["totals"]["cost"].as_str().unwrap()), old + new);

    // The export: a header and four rows, oldest first, amounts as stored.
    let r = get_authed(&g.app, &format!("/api/v1/costs/export?{q}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(r.body.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("id,started_at,"));
    assert!(lines[1].contains(",0.0003525,") && lines[1].contains("team-a"));
    assert!(lines[3].contains(",0.000705,") && lines[3].contains("team-a team-b"));
    let r = get_authed(
        &g.app,
        &format!("/api/v1/costs/export?{q}&format=jsonl&tag=team-b"),
    )
    .await;
    let lines: Vec<Value> = String::from_utf8(r.body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);

    // Bad input: a clear 400 naming the problem.
    for (path, needle) in [
        ("/api/v1/costs/breakdown?by=colour", "by"),
        ("/api/v1/costs/breakdown?bucket=fortnight", "bucket"),
        ("/api/v1/costs/summary?time_zone=Mars/Olympus", "time_zone"),
        (
            "/api/v1/costs/summary?period=today&from=2026-03-01T00:00:00Z",
            "period",
        ),
        (
            "/api/v1/costs/summary?from=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z",
            "until",
        ),
        ("/api/v1/costs/summary?period=someday", "period"),
        ("/api/v1/costs/export?format=xlsx", "format"),
        ("/api/v1/costs/summary?colour=red", "colour"),
        (
            "/api/v1/costs/breakdown?bucket=hour&from=2025-01-01T00:00:00Z",
            "buckets",
        ),
    ] {
        let r = get_authed(&g.app, path).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{path}: {:?}",
            r.json
        );
    }
    // A bad tag header is refused before any call.
    let r = send(
        &g.app,
        tagged(
            post("/v1/chat/completions", chat("solo", "x", false)),
            "bad tag!",
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
}

/// `/api/v1/reconciliations` and re-pricing over HTTP: a generic export against calls made
/// through the gateway, the drifted day flagged; bad files refused with their codes and
/// nothing imported; a model without a price listed as a gap, then re-priced (admin only)
/// as a correction.
#[tokio::test]
async fn reconciliations_and_repricing_over_http() {
    let clock = Arc::new(ManualClock::new("2026-12-01T10:00:00Z".parse().unwrap()));
    let shared: SharedClock = clock.clone();
    let g = gateway_on(shared, |c| {
        // A paid provider that happens to listen on loopback: a model without a price is
        // unknown cost, not free.
        if let Some(p) = c.providers.get_mut("up") {
            p.local = Some(false);
        }
        c.prices.insert(
            "up/m1".into(),
            toml::from_str::<toml::Value>(r#"v = { input = 1, output = 2 }"#).unwrap()["v"]
                .clone()
                .try_into()
                .unwrap(),
        );
    })
    .await;
    let usage = json!({"input": 1000, "output": 500});
    for (at, text) in [("2026-12-01T10:00:00Z", "a"), ("2026-12-02T10:00:00Z", "b")] {
        clock.set(at.parse().unwrap());
        g.up.script(step(json!({"kind": "reply", "text": text, "usage": usage})));
        let r = send(
            &g.app,
            post("/v1/chat/completions", chat("solo", text, false)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    }
    g.engine.providers().ledger().flush().await;

    // Each call cost (1000 × $1 + 500 × $2) / 1M = $0.002; the bill says $0.5 on the 2nd.
    let csv = "date,provider,model,cost_usd\n2026-12-01,up,m1,0.002\n2026-12-02,up,m1,0.5\n";
    let body = json!({"csv": csv, "file_name": "bill.csv"});
    let r = send(&g.app, post("/api/v1/reconciliations", body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["format"], "generic");
    assert_eq!(r.json["providers"], json!(["up"]));
    assert_eq!(r.json["billed"], "0.502");
    assert_eq!(r.json["ledger"], "0.004");
    assert_eq!(r.json["drifted_days"], 1);
    let days: Vec<(String, bool)> = r.json["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_string(),
                d["drift"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-12-01".to_string(), false),
            ("2026-12-02".to_string(), true)
        ]
    );
    assert_eq!(r.json["lines"][1]["diff"], "0.498");

    // The same file again: 409 naming the first; bad rows and unknown formats: 400 with
    // their codes; nothing is imported by any of them.
    let r = send(&g.app, post("/api/v1/reconciliations", body)).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    assert!(r.json["error"]["message"].as_str().unwrap().contains(&id));
    let bad = "date,model,cost_usd\n2026-12-01,m1,1\n2026-12-01,m1,x\n";
    let r = send(
        &g.app,
        post(
            "/api/v1/reconciliations",
            json!({"csv": bad, "providers": ["up"]}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_rows");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 3")
    );
    let r = send(
        &g.app,
        post("/api/v1/reconciliations", json!({"csv": "a,b\n1,2\n"})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "unknown_format");
    let r = send(
        &g.app,
        post(
            "/api/v1/reconciliations",
            json!({"csv": csv, "drift_pct": 101}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = get_authed(&g.app, "/api/v1/reconciliations").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = get_authed(&g.app, &format!("/api/v1/reconciliations/{id}")).await;
    assert_eq!(r.json["drifted_lines"], 1);

    // A call to a model without a price: a gap with the call in it.
    g.up.script(step(json!({"kind": "reply", "text": "c", "usage": usage})));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("up/m9", "c", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    g.engine.providers().ledger().flush().await;
    let r = get_authed(&g.app, "/api/v1/costs/price-gaps").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["items"][0]["model"], "m9");
    assert_eq!(r.json["items"][0]["calls"], 1);
    assert_eq!(r.json["items"][0]["priced_now"], false);

    // Re-pricing is admin: an operate token is refused.
    let r = send(
        &g.app,
        post(
            "/api/v1/tokens",
            json!({"name": "ops", "scope": "operate", "expires_at": "2030-01-02T00:00:00Z"}),
        ),
    )
    .await;
    let ops = r.json["token"].as_str().unwrap().to_string();
    let mut req = post("/api/v1/costs/reprice", json!({"dry_run": true}));
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {ops}").parse().unwrap(),
    );
    let r = send(&g.app, req).await;
    assert_error(&r, StatusCode::FORBIDDEN, "insufficient_scope");
    let r = send(
        &g.app,
        post("/api/v1/costs/reprice", json!({"provider": "nope"})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = send(
        &g.app,
        post("/api/v1/costs/reprice", json!({"provider": "up"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["corrected"], 0);
    assert_eq!(r.json["still_unpriced"], 1);

    let r = send(
        &g.app,
        Request::delete(format!("/api/v1/reconciliations/{id}"))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", crate::support::TOKEN),
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = get_authed(&g.app, &format!("/api/v1/reconciliations/{id}")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}
