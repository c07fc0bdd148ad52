//! Named API tokens over the router: created once (the value only in the answer), listed
//! without values, scopes enforced on every route, expiry on the engine's clock, revocation,
//! lockout after repeated failures, and the actor a request is made by.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::router;
use flightdeck_engine::clock::ManualClock;
use serde_json::{Value, json};

use crate::support::{TOKEN, assert_error, options, send};

fn req(method: &str, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "127.0.0.1:7878")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// From a client address, as the node's server marks every request.
fn from(mut r: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(addr));
    r
}

#[tokio::test]
async fn tokens_are_created_once_listed_without_values_scoped_expired_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let clock = Arc::new(ManualClock::new(start));
    let engine = crate::support::engine_on_clock(dir.path(), |_| {}, clock.clone()).await;
    let app = router(engine.clone(), options());

    // Created by the bootstrap (admin) token; the value comes back once.
    let r = send(
        &app,
        req(
            "POST",
            "/api/v1/tokens",
            TOKEN,
            Some(json!({"name": "ci", "scope": "read"})),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let ci = r.json["token"].as_str().unwrap().to_string();
    assert!(ci.starts_with("fdt_") && ci.len() == 68, "{ci}");
    assert_eq!(r.json["scope"], "read");
    let r = send(
        &app,
        req(
            "POST",
            "/api/v1/tokens",
            TOKEN,
            Some(json!({"name": "ops", "scope": "operate", "expires_at": "2030-01-02T00:00:00Z"})),
        ),
    )
    .await;
    let ops = r.json["token"].as_str().unwrap().to_string();

    // Bad input: a clear error, nothing created.
    for (body, status, code) in [
        (json!({"name": "ci"}), StatusCode::CONFLICT, "conflict"),
        (
            json!({"name": "Not Valid"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"name": "x", "scope": "root"}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"name": "old", "expires_at": "2029-01-01T00:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"name": "y", "extra": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
    ] {
        let r = send(
            &app,
            req("POST", "/api/v1/tokens", TOKEN, Some(body.clone())),
        )
        .await;
        assert_error(&r, status, code);
    }

    // The list has names, scopes and times, never a value (nor a hash).
    let r = send(&app, req("GET", "/api/v1/tokens", TOKEN, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<_> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("ci"), json!("ops")]);
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(!text.contains(&ci[4..]) && !text.contains(&ops[4..]) && !text.contains("hash"));
    // Paging: one per page, then the cursor; a malformed cursor is a clear error.
    let r = send(&app, req("GET", "/api/v1/tokens?limit=1", TOKEN, None)).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let cursor = r.json["next_cursor"].as_str().unwrap().to_string();
    let r = send(
        &app,
        req(
            "GET",
            &format!("/api/v1/tokens?limit=1&cursor={cursor}"),
            TOKEN,
            None,
        ),
    )
    .await;
    assert_eq!(r.json["items"][0]["name"], "ops");
    assert_eq!(r.json["next_cursor"], Value::Null);
    for bad in [
        "/api/v1/tokens?cursor=%%%",
        "/api/v1/tokens?limit=0",
        "/api/v1/tokens?limit=many",
        "/api/v1/tokens?sort=-name",
        "/api/v1/secrets?scope=admin",
    ] {
        let r = send(&app, req("GET", bad, TOKEN, None)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    // An unknown parameter is named, not ignored.
    let r = send(&app, req("GET", "/api/v1/tokens?sort=-name", TOKEN, None)).await;
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sort"),
        "{:?}",
        r.json
    );

    // Scopes: read may read, not administer; operate neither administers.
    let r = send(&app, req("GET", "/api/v1/info", &ci, None)).await;
    assert_eq!(r.status, StatusCode::OK);
    for (token, method, path) in [
        (&ci, "GET", "/api/v1/tokens"),
        (&ci, "POST", "/api/v1/config/reload"),
        (&ops, "POST", "/api/v1/tokens"),
        (&ops, "DELETE", "/api/v1/tokens/ci"),
    ] {
        let r = send(&app, req(method, path, token, Some(json!({"name": "z"})))).await;
        assert_error(&r, StatusCode::FORBIDDEN, "insufficient_scope");
    }
    // Its last use is recorded.
    let listed = engine.identity().list();
    assert_eq!(listed[0].last_used_at, Some(start));

    // Expiry follows the engine's clock.
    clock.advance(Duration::from_secs(24 * 3600));
    let r = send(&app, req("GET", "/api/v1/info", &ops, None)).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_expired");

    // Revoked: authenticates no one; revoking again is a clear 404.
    let r = send(&app, req("DELETE", "/api/v1/tokens/ci", TOKEN, None)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = send(&app, req("GET", "/api/v1/info", &ci, None)).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = send(&app, req("DELETE", "/api/v1/tokens/ci", TOKEN, None)).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // Only hashes are in the database.
    engine.shutdown().await;
    let db = std::fs::read(dir.path().join("flightdeck.db")).unwrap();
    let wal = std::fs::read(dir.path().join("flightdeck.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&ops[4..]), "a token is stored in clear");
    }
}

#[tokio::test]
async fn repeated_failures_lock_a_client_out_and_are_counted() {
    let n = crate::support::node().await;
    for _ in 0..flightdeck_api::auth::FAILURES_ALLOWED {
        let r = send(
            &n.app,
            from(
                req("GET", "/api/v1/info", "fdt_guess-guess-guess", None),
                "192.0.2.1",
            ),
        )
        .await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Even the right token waits now, from that address only.
    let r = send(
        &n.app,
        from(req("GET", "/api/v1/info", TOKEN, None), "192.0.2.1"),
    )
    .await;
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "too_many_auth_failures");
    assert!(
        r.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let r = send(
        &n.app,
        from(req("GET", "/api/v1/info", TOKEN, None), "192.0.2.2"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let metrics = n.engine.metrics().render().unwrap();
    assert!(
        metrics.contains(r#"flightdeck_auth_failures_total{reason="wrong"} 10"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"flightdeck_auth_failures_total{reason="locked_out"} 1"#));
    n.engine.shutdown().await;
}

fn with_key(mut r: Request<Body>, key: &str) -> Request<Body> {
    r.headers_mut()
        .insert("idempotency-key", key.parse().unwrap());
    r
}

/// A POST retried with the same Idempotency-Key creates once and answers the first answer
/// again (token included); the key with another body is refused; keys are per actor.
#[tokio::test]
async fn an_idempotency_key_makes_a_retried_create_safe() {
    let dir = tempfile::tempdir().unwrap();
    let engine = crate::support::engine(dir.path(), |_| {}).await;
    let app = router(engine.clone(), options());
    let create = |name: &str| {
        req(
            "POST",
            "/api/v1/tokens",
            TOKEN,
            Some(json!({"name": name, "scope": "admin"})),
        )
    };

    let first = send(&app, with_key(create("deploy"), "4b1f6a52-key")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
    assert!(!first.headers.contains_key("idempotent-replayed"));
    let again = send(&app, with_key(create("deploy"), "4b1f6a52-key")).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body, "the same answer, the same token");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(engine.identity().list().len(), 1);

    // The key with another request: refused, nothing created.
    let other = send(&app, with_key(create("other"), "4b1f6a52-key")).await;
    assert_error(&other, StatusCode::CONFLICT, "idempotency_key_reused");
    // Without a key, the usual answer to a second create of the name.
    let plain = send(&app, create("deploy")).await;
    assert_error(&plain, StatusCode::CONFLICT, "conflict");
    // An answer that was an error is kept too: the same retry, the same 409.
    let dup = send(&app, with_key(create("deploy"), "second-key")).await;
    assert_error(&dup, StatusCode::CONFLICT, "conflict");
    let dup_again = send(&app, with_key(create("deploy"), "second-key")).await;
    assert_eq!(dup_again.body, dup.body);

    // Keys belong to the actor: another token's same key is its own.
    let deploy = first.json["token"].as_str().unwrap();
    let theirs = send(
        &app,
        with_key(
            req(
                "POST",
                "/api/v1/tokens",
                deploy,
                Some(json!({"name": "theirs", "scope": "read"})),
            ),
            "4b1f6a52-key",
        ),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.json);

    // Bad keys: a clear error, nothing done.
    for key in ["has space", &"k".repeat(256)] {
        let r = send(&app, with_key(create("bad-key"), key)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(engine.identity().list().len(), 2);
    engine.shutdown().await;
}
