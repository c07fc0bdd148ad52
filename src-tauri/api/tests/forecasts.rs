//! `/api/v1/series`, `/api/v1/forecasts`, `/api/v1/goals`, `/api/v1/health-score` over HTTP:
//! a CSV previewed then imported, bad files refused with their codes and nothing written,
//! a forecast with its backtest, a pushed spike flagged, goals and the health score.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_engine::forecast::score::ScoreKpi;
use serde_json::json;

use crate::gateway::post;
use crate::support::*;

fn delete(path: &str) -> Request<Body> {
    Request::delete(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

/// 140 days of a weekly pattern on a rising level, from 2026-06-01.
fn csv() -> String {
    let mut s = String::from("date,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    for i in 0..140u32 {
        let d = start + chrono::Days::new(u64::from(i));
        let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][(i % 7) as usize];
        let noise = f64::from((i * 7919) % 13) / 13.0 - 0.5;
        s.push_str(&format!(
            "{d},{:.2}\n",
            (200.0 + f64::from(i)) * w + noise * 6.0
        ));
    }
    s
}

#[tokio::test]
async fn series_forecasts_goals_and_the_health_score_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), |c| {
        c.health_score.insert(
            "revenue".into(),
            ScoreKpi {
                target: 400.0,
                weight: 3.0,
                direction: Default::default(),
            },
        );
        c.health_score.insert(
            "churn".into(),
            ScoreKpi {
                target: 5.0,
                weight: 1.0,
                direction: flightdeck_engine::forecast::goals::Direction::AtMost,
            },
        );
    })
    .await;
    let app = flightdeck_api::router(engine.clone(), options());
    // A dry run previews (200) and writes nothing; the import answers 201.
    let body = json!({"csv": csv(), "dry_run": true, "unit": "USD"});
    let r = send(&app, post("/api/v1/series/revenue/import", body)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["imported"], false);
    assert_eq!(r.json["points"], 140);
    assert_eq!(r.json["frequency"], "daily");
    assert_eq!(r.json["head"].as_array().unwrap().len(), 10);
    assert_error(
        &get_authed(&app, "/api/v1/series/revenue").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = send(
        &app,
        post(
            "/api/v1/series/revenue/import",
            json!({"csv": csv(), "unit": "USD"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    // Bad files: each refused with its code, nothing written.
    let bad = "date,value\n2026-01-01,1\n2026-01-02,NaN\n2026-01-03,x\n2026-02-30,4\n";
    let r = send(
        &app,
        post("/api/v1/series/orders/import", json!({"csv": bad})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_rows");
    let m = r.json["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("line 3") && m.contains("line 4") && m.contains("line 5"),
        "{m}"
    );
    let r = send(
        &app,
        post(
            "/api/v1/series/orders/import",
            json!({"csv": "date,value\n2026-01-01,1\n2026-01-02,2\n"}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "series_too_short");
    let r = send(
        &app,
        post(
            "/api/v1/series/orders/import",
            json!({"csv": "when,amount\n2026-01-01,1\n"}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = send(
        &app,
        post("/api/v1/series/cost.daily/import", json!({"csv": csv()})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = get_authed(&app, "/api/v1/series").await;
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["cost.daily", "revenue"]);
    // The forecast, with its backtest and history.
    let r = get_authed(&app, "/api/v1/forecasts/revenue?horizon=14").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let f = &r.json["forecast"];
    assert_eq!(f["rows"].as_array().unwrap().len(), 14);
    assert!(!f["backtest"].as_array().unwrap().is_empty());
    assert!(f["coverage80"].as_f64().is_some());
    assert!(f["model"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(r.json["history"].as_array().unwrap().len() >= 42);
    let first = f["rows"][0].clone();
    for (path, status, code) in [
        (
            "/api/v1/forecasts/revenue?horizon=0",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/forecasts/revenue?horizon=100000",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/forecasts/revenue?season=200",
            StatusCode::BAD_REQUEST,
            "series_too_short",
        ),
        ("/api/v1/forecasts/nope", StatusCode::NOT_FOUND, "not_found"),
        (
            "/api/v1/forecasts/cost.daily",
            StatusCode::BAD_REQUEST,
            "series_too_short",
        ),
    ] {
        assert_error(&get_authed(&app, path).await, status, code);
    }
    // A spike pushed after the last point is flagged; the feed's topic is `forecasts`.
    let spike = first["hi95"].as_f64().unwrap() * 4.0;
    let r = send(
        &app,
        post(
            "/api/v1/series/revenue/points",
            json!({"points": [{"ds": first["ds"], "value": spike}]}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(
        r.json["anomalies"].as_array().unwrap().len(),
        1,
        "{:?}",
        r.json
    );
    let r = get_authed(&app, "/api/v1/series/revenue/anomalies?limit=5").await;
    assert_eq!(r.json["items"][0]["source"], "forecast");
    let r = send(
        &app,
        post("/api/v1/series/revenue/points", json!({"points": []})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = get_authed(
        &app,
        "/api/v1/series/revenue/points?from=2026-10-01T00:00:00Z",
    )
    .await;
    assert_eq!(
        r.json["items"].as_array().unwrap().len(),
        19,
        "{:?}",
        r.json
    );
    // Goals.
    let r = send(
        &app,
        post(
            "/api/v1/goals",
            json!({"name": "q4", "series": "revenue", "target": 1.0e6, "due": "2030-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert!(
        r.json["probability"].as_f64().unwrap() < 0.05,
        "{:?}",
        r.json
    );
    assert_eq!(r.json["at_risk"], true);
    let r = get_authed(&app, "/api/v1/goals").await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = send(
        &app,
        post(
            "/api/v1/goals",
            json!({"name": "x", "series": "nope", "target": 1, "due": "2030-01-01T00:00:00Z"}),
        ),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        send(&app, delete("/api/v1/goals/q4")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &send(&app, delete("/api/v1/goals/q4")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // The health score: revenue's last value over 400 (weight 3), churn missing (counts 0).
    let r = get_authed(&app, "/api/v1/health-score").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let score = r.json["score"].as_f64().unwrap();
    assert!((0.0..=75.0).contains(&score), "{score}");
    let parts = r.json["contributions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert!(
        parts
            .iter()
            .any(|p| p["note"].as_str().is_some_and(|n| n.contains("no data")))
    );
    assert_eq!(r.json["trend"].as_array().unwrap().len(), 12);
    // Charts: SVG in the asked theme, PNG, and bad requests.
    let r = get_authed(
        &app,
        "/api/v1/charts/forecast.svg?series=revenue&theme=dark&width=640&height=300",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("</svg>") && svg.contains("revenue (USD): forecast")
    );
    assert!(svg.to_uppercase().contains("#111827"), "dark background");
    let r = get_authed(&app, "/api/v1/charts/costs.png?by=provider").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(&r.body[..8], b"\x89PNG\r\n\x1a\n");
    for (path, status, code) in [
        (
            "/api/v1/charts/pie.svg",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/charts/costs.gif",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/charts/forecast.svg",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/charts/budget.svg",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/charts/budget.svg?budget=none",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/charts/costs.svg?width=5",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/charts/forecast.png?series=nope",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        assert_error(&get_authed(&app, path).await, status, code);
    }
    // Removing the series.
    assert_eq!(
        send(&app, delete("/api/v1/series/revenue")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &get_authed(&app, "/api/v1/forecasts/revenue").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    engine.shutdown().await;
}
