//! `/api/v1/reports` over HTTP: made now (201), listed with the schedule, its HTML and PDF
//! served as attachments; bad requests refused with their codes.

use axum::http::StatusCode;
use serde_json::json;

use crate::gateway::post;
use crate::support::*;

#[tokio::test]
async fn reports_are_made_listed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), |c| {
        c.reports.schedule = flightdeck_engine::reports::settings::Schedule::Weekly;
    })
    .await;
    let app = flightdeck_api::router(engine.clone(), options());
    let r = send(&app, post("/api/v1/reports", json!({"period": "week"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(r.json["trigger"], "manual");
    assert_eq!(r.json["files"].as_array().unwrap().len(), 2);
    assert!(
        r.json["title"]
            .as_str()
            .unwrap()
            .starts_with("Flightdeck weekly report")
    );
    // The scheduler (weekly, due since this Monday's 07:00 or next) may have made its own.
    let r = get_authed(&app, "/api/v1/reports").await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str())
    );
    assert_eq!(r.json["schedule"]["schedule"], "weekly");
    assert!(r.json["schedule"]["next_due"].as_str().is_some());
    let r = get_authed(&app, &format!("/api/v1/reports/{id}/html")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".html")
    );
    assert!(
        String::from_utf8(r.body)
            .unwrap()
            .contains("default-src 'none'")
    );
    let r = get_authed(&app, &format!("/api/v1/reports/{id}/pdf")).await;
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert!(r.body.starts_with(b"%PDF-"));
    for (path, status, code) in [
        (
            format!("/api/v1/reports/{id}/docx"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "/api/v1/reports/rep_none".to_string(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/reports?limit=0".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ] {
        assert_error(&get_authed(&app, &path).await, status, code);
    }
    let r = send(&app, post("/api/v1/reports", json!({"period": "month"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
    let r = send(
        &app,
        post("/api/v1/reports", json!({"period": "day", "formats": []})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    // Nothing to deliver to: said so before anything is made.
    let r = send(
        &app,
        post("/api/v1/reports", json!({"period": "day", "deliver": true})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email_to")
    );
    let made = get_authed(&app, "/api/v1/reports").await.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "manual")
        .count();
    assert_eq!(
        made, 1,
        "only the first (the scheduler may have made its own)"
    );
    let r = send(
        &app,
        post(&format!("/api/v1/reports/{id}/deliver"), json!({})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    engine.shutdown().await;
}

/// A delivery that fails is a 502 `delivery_failed` whose message says the report is kept and
/// what the server answered; the report lists its failed delivery.
#[tokio::test]
async fn a_failed_delivery_is_a_502_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = engine(dir.path(), |c| {
        c.reports = toml::from_str(&format!(
            "email_to = [\"ops@example.com\"]\nmax_attempts = 1\nformats = [\"html\"]\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"fd@example.com\"\n"
        ))
        .unwrap();
    })
    .await;
    let app = flightdeck_api::router(engine.clone(), options());
    let r = send(
        &app,
        post("/api/v1/reports", json!({"period": "day", "deliver": true})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_GATEWAY, "delivery_failed");
    let m = r.json["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("is kept") && m.contains(&port.to_string()),
        "{m}"
    );
    let r = get_authed(&app, "/api/v1/reports").await;
    let made = &r.json["items"][0];
    assert_eq!(made["email"]["state"], "failed");
    assert_eq!(made["email"]["attempts"], 1);
    engine.shutdown().await;
}
