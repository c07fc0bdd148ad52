//! Named secrets over the router: conditional edits with ETag / If-Match / If-None-Match,
//! so two admins editing the same secret cannot silently overwrite each other.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::router;
use flightdeck_engine::config::SecretsBackend;
use serde_json::json;

use crate::support::{TOKEN, assert_error, options, send};

fn req(method: &str, name: &str, cond: Option<(&str, &str)>, value: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("/api/v1/secrets/{name}"))
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some((h, v)) = cond {
        b = b.header(h, v);
    }
    match value {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "value": v }).to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

#[tokio::test]
async fn edits_of_a_secret_can_be_conditional_on_its_etag() {
    let dir = tempfile::tempdir().unwrap();
    let engine =
        crate::support::engine(dir.path(), |c| c.secrets.backend = SecretsBackend::File).await;
    let app = router(engine.clone(), options());
    let name = "webhook:slack";

    // Create only if absent: once.
    let created = send(
        &app,
        req("PUT", name, Some(("if-none-match", "*")), Some("v1")),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.json);
    assert_eq!(created.headers[header::ETAG], "\"1\"");
    assert_eq!(created.json["version"], 1);
    let again = send(
        &app,
        req("PUT", name, Some(("if-none-match", "*")), Some("v1b")),
    )
    .await;
    assert_error(
        &again,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    );

    // Two editors read version 1; the first write wins, the second is refused.
    let got = send(&app, req("GET", name, None, None)).await;
    assert_eq!(got.status, StatusCode::OK);
    let tag = got.headers[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(tag, "\"1\"");
    assert!(got.json.get("value").is_none(), "{:?}", got.json);
    let first = send(&app, req("PUT", name, Some(("if-match", &tag)), Some("v2"))).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers[header::ETAG], "\"2\"");
    let second = send(
        &app,
        req("PUT", name, Some(("if-match", &tag)), Some("v2-other")),
    )
    .await;
    assert_error(
        &second,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    );
    let value = engine.named_secrets().get(name).await.unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&value), "v2");

    // A removal under a stale tag is refused; under the current one it goes.
    let stale = send(&app, req("DELETE", name, Some(("if-match", &tag)), None)).await;
    assert_error(
        &stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    );
    let removed = send(&app, req("DELETE", name, Some(("if-match", "\"2\"")), None)).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);

    // Conditions that name no version of it hold for nothing: 412, nothing changed.
    for (h, v) in [("if-match", "2"), ("if-match", "*"), ("if-match", "\"x\"")] {
        let r = send(&app, req("PUT", name, Some((h, v)), Some("x"))).await;
        assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    }
    // If-None-Match with a tag: only if it is not at that version.
    let r = send(
        &app,
        req("PUT", name, Some(("if-none-match", "\"7\"")), Some("v3")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &app,
        req("PUT", name, Some(("if-none-match", "\"1\"")), Some("v4")),
    )
    .await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let r = send(&app, req("DELETE", name, Some(("if-match", "*")), None)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let gone = send(&app, req("GET", name, None, None)).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "secret_missing");
    engine.shutdown().await;
}
