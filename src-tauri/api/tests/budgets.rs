//! Budgets end to end over the router: 64 concurrent calls (agents' tasks and both gateway
//! dialects, streaming and not) against a small blocking budget never overshoot it and are refused in each
//! protocol's error format; a free local model is not blocked by it; alerts fire once per
//! threshold; an agent's task waits for the budget's reset; budgets are edited in the
//! config file through the API.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigSource;
use flightdeck_engine::{Engine, EngineOptions};
use flightdeck_scripted_provider::ScriptedProvider;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::gateway::{chat, gateway, post, step};
use crate::support::{TOKEN, get_authed, options, send};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

const BUDGET: &str = r#"
limit_usd = "0.004"
period = "daily"
action = "block"
thresholds = [50, 80]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_calls_never_overshoot_a_blocking_budget() {
    let g = gateway(|c| {
        c.budgets
            .insert("small".into(), toml::from_str(BUDGET).unwrap());
        // The same scripted server as a local model without a price: free.
        let free = c.providers["up"].clone();
        c.providers.insert("free".into(), free);
        c.agents.insert(
            "echo".into(),
            toml::from_str(
                "route = \"solo\"\nprompt = \"Say {{ input }}\"\nmax_tokens = 300\nconcurrency = 8\n",
            )
            .unwrap(),
        );
    })
    .await;
    // Each call may cost up to (2016 prompt tokens × $0.15 + 300 × $1.2) / 1M ≈ $0.00066
    // and costs (1500 × 0.15 + 250 × 0.6) / 1M = $0.000375.
    for _ in 0..64 {
        g.up.script(step(json!({"kind": "reply", "text": "ok",
            "usage": {"input": 1500, "output": 250}})));
    }
    let text = "a".repeat(2000);
    // 16 of the 64 are agents' tasks, run by the node's workers at the same time.
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let r = send(
            &g.app,
            post("/api/v1/tasks", json!({"agent": "echo", "input": text})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        tasks.push(r.json["id"].as_str().unwrap().to_string());
    }
    let mut requests = Vec::new();
    for i in 0..48 {
        let req = match i % 3 {
            0 => {
                let mut b = chat("solo", &text, false);
                b["max_tokens"] = json!(300);
                post("/v1/chat/completions", b)
            }
            1 => {
                let mut b = chat("solo", &text, true);
                b["max_tokens"] = json!(300);
                b["stream_options"] = json!({"include_usage": true});
                post("/v1/chat/completions", b)
            }
            _ => {
                let mut r = post(
                    "/v1/messages",
                    json!({"model": "solo", "max_tokens": 300, "stream": i % 2 == 0,
                        "messages": [{"role": "user", "content": text}]}),
                );
                r.headers_mut().insert("x-api-key", TOKEN.parse().unwrap());
                r
            }
        };
        let app = g.app.clone();
        requests.push(tokio::spawn(async move { (i, send(&app, req).await) }));
    }
    let mut ok = 0u64;
    let mut refused = 0u64;
    for r in requests {
        let (i, r) = r.await.unwrap();
        if r.status == StatusCode::OK {
            ok += 1;
            continue;
        }
        refused += 1;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{i}: {:?}", r.json);
        assert_eq!(r.headers["x-should-retry"], "false");
        assert!(r.headers.contains_key(header::RETRY_AFTER));
        if i % 3 == 2 {
            assert_eq!(r.json["type"], "error");
            let m = r.json["error"]["message"].as_str().unwrap();
            assert!(
                m.starts_with("[budget_exceeded]") && m.contains("budget `small`"),
                "{m}"
            );
        } else {
            assert_eq!(r.json["error"]["code"], "budget_exceeded");
            assert_eq!(r.json["error"]["type"], "insufficient_quota");
            assert!(
                r.json["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("budget `small`")
            );
        }
    }
    assert_eq!(ok + refused, 48);
    // Each task either ran, or was refused and waits for tomorrow (the budget is daily).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut agents_ok = 0u64;
    for id in &tasks {
        loop {
            let t = crate::tasks::task(&g, id).await;
            if t["state"] == "succeeded" {
                agents_ok += 1;
                break;
            }
            if t["state"] == "scheduled" && t["error"]["code"] == "budget_exceeded" {
                assert_eq!(t["attempts"], 0, "{t:#}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{t:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let ok = ok + agents_ok;
    assert!(ok >= 6, "the first reservations fit: {ok}");
    assert!(refused > 0, "the budget was reached");
    // Refused calls never reached the provider.
    assert_eq!(g.up.calls().total, ok);
    g.engine.providers().ledger().flush().await;
    let s = get_authed(&g.app, "/api/v1/costs/summary?period=today").await;
    let ledger_cost = dec(&s.json["totals"]["cost"]);
    assert_eq!(ledger_cost, Decimal::new(375, 6) * Decimal::from(ok));
    let b = get_authed(&g.app, "/api/v1/budgets/small").await;
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.json);
    assert_eq!(dec(&b.json["spent"]), ledger_cost, "{:?}", b.json);
    assert!(dec(&b.json["spent"]) <= dec(&b.json["limit_usd"]));
    assert_eq!(dec(&b.json["reserved"]), Decimal::ZERO);
    // One call at a time now: the budget fills up to what the last reservation allows (if
    // the concurrent calls left room for any), and never past its limit.
    let mut more = 0;
    for _ in 0..10 {
        let mut b = chat("solo", &text, false);
        b["max_tokens"] = json!(300);
        let r = send(&g.app, post("/v1/chat/completions", b)).await;
        if r.status == StatusCode::OK {
            more += 1;
        } else {
            assert_eq!(r.json["error"]["code"], "budget_exceeded");
        }
    }
    g.engine.providers().ledger().flush().await;
    let b = get_authed(&g.app, "/api/v1/budgets/small").await;
    let spent = dec(&b.json["spent"]);
    assert_eq!(spent, Decimal::new(375, 6) * Decimal::from(ok + more));
    assert!(spent <= dec(&b.json["limit_usd"]), "{:?}", b.json);
    // Less than one more call's reservation is left.
    assert!(
        dec(&b.json["remaining"]) < Decimal::new(6624, 7),
        "{:?}",
        b.json
    );
    // A free local model is outside the budget: still answered.
    g.up.script(step(
        json!({"kind": "reply", "text": "free", "usage": {"input": 5, "output": 5}}),
    ));
    let r = send(
        &g.app,
        post("/v1/chat/completions", chat("free/llama", "hi", false)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    // Alerts: 50 % and 80 % once each, and one `blocked`.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a = get_authed(&g.app, "/api/v1/costs/alerts").await;
    let items = a.json["items"].as_array().unwrap();
    let count = |kind: &str, t: u64| {
        items
            .iter()
            .filter(|x| x["budget"] == "small" && x["kind"] == kind && x["threshold"] == t)
            .count()
    };
    assert_eq!(
        (
            count("threshold", 50),
            count("threshold", 80),
            count("blocked", 100)
        ),
        (1, 1, 1),
        "{items:?}"
    );
}

#[tokio::test]
async fn an_agents_task_waits_for_the_budget_to_reset() {
    let g = gateway(|c| {
        c.agents.insert(
            "echo".into(),
            toml::from_str("route = \"solo\"\nprompt = \"Say {{ input }}\"\n").unwrap(),
        );
        c.budgets.insert(
            "agents".into(),
            toml::from_str("limit_usd = \"0.0000001\"\nperiod = \"monthly\"\naction = \"block\"\nagent = \"echo\"").unwrap(),
        );
    })
    .await;
    let r = send(
        &g.app,
        post("/api/v1/tasks", json!({"agent": "echo", "input": "hi"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let id = r.json["id"].as_str().unwrap().to_string();
    let t = crate::tasks::until(&g, &id, "scheduled").await;
    assert_eq!(t["error"]["code"], "budget_exceeded", "{t:#}");
    assert!(
        t["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget `agents`")
    );
    // Scheduled for the first instant of next month (UTC), its attempt refunded.
    let run_at: chrono::DateTime<chrono::Utc> = t["run_at"].as_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now();
    assert!(
        run_at > now && chrono::Datelike::day(&run_at) == 1,
        "{run_at}"
    );
    assert_eq!(t["attempts"], 0, "{t:#}");
    assert_eq!(g.up.calls().total, 0);
}

#[tokio::test]
async fn budgets_are_edited_in_the_config_file_through_the_api() {
    let _up = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "# my budgets\n[secrets]\nbackend = \"env\"\n").unwrap();
    let source = ConfigSource::new(Some(path.clone()), true);
    let engine = Engine::open(EngineOptions {
        data_dir: dir.path().join("data"),
        config: source.load().unwrap(),
        config_source: source,
        watch_config: false,
        env_token: Some(TOKEN.into()),
        require_token: false,
        clock: SystemClock::shared(),
    })
    .await
    .unwrap();
    let app = flightdeck_api::router(engine.clone(), options());
    let put = |body: Value| {
        Request::put("/api/v1/budgets/team-a")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = send(
        &app,
        put(json!({"limit_usd": "25", "period": "weekly", "action": "block", "tag": "team-a"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["limit_usd"], "25");
    assert_eq!(r.json["spent"], "0");
    assert_eq!(r.json["config"]["thresholds"], json!([50, 80, 100]));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# my budgets") && text.contains("[budgets.team-a]"),
        "{text}"
    );
    // Bad input: a clear error naming the key; the file is unchanged.
    for (body, key) in [
        (
            json!({"limit_usd": "-3", "period": "weekly"}),
            "budgets.team-a.limit_usd",
        ),
        (
            json!({"limit_usd": "3", "period": "fixed"}),
            "budgets.team-a.period",
        ),
        (
            json!({"limit_usd": "3", "period": "daily", "time_zone": "Atlantis/Capital"}),
            "budgets.team-a.time_zone",
        ),
    ] {
        let r = send(&app, put(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
        assert_eq!(r.json["error"]["code"], "config_invalid");
        assert!(
            r.json["error"]["message"].as_str().unwrap().contains(key),
            "{:?}",
            r.json
        );
    }
    for body in [
        json!({"limit_usd": "3", "period": "hourly"}),
        json!({"limit_usd": "3"}),
        json!({"limit_usd": "3", "period": "daily", "colour": 1}),
    ] {
        let r = send(&app, put(body)).await;
        assert_eq!(r.status.as_u16() / 100, 4, "{:?}", r.json);
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let r = get_authed(&app, "/api/v1/budgets").await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = send(
        &app,
        Request::delete("/api/v1/budgets/team-a")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.json);
    assert!(!std::fs::read_to_string(&path).unwrap().contains("team-a"));
    let r = get_authed(&app, "/api/v1/budgets/team-a").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
