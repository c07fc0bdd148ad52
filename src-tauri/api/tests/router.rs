//! The router through `oneshot`: auth on every /api/v1 route, error codes, request ids, host
//! checks, body limits. Each test opens a real engine on a fresh SQLite file.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{Node, assert_error, authed, get, node, node_with, send};

async fn node_with_limit(body_limit_bytes: usize) -> Node {
    node_with(|o| o.body_limit_bytes = body_limit_bytes).await
}

#[tokio::test]
async fn probes_answer_without_auth() {
    let n = node().await;
    let live = send(&n.app, get("/livez").body(Body::empty()).unwrap()).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.json["status"], "alive");
    let ready = send(&n.app, get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(ready.json["status"], "ready");
    let health = send(&n.app, get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["status"], "healthy");
    let names: Vec<&str> = health.json["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", "secrets", "config"]);
    for d in health.json["dependencies"].as_array().unwrap() {
        assert!(d["response_time_ms"].as_f64().unwrap() >= 0.0);
        assert!(d["last_check"].as_str().unwrap().contains('T'));
    }
    n.engine.shutdown().await;
}

/// Every /api/v1 path in the OpenAPI document refuses requests without the right token.
#[tokio::test]
async fn auth_enforced_on_every_v1_route() {
    let n = node().await;
    let doc = send(
        &n.app,
        authed(get("/api/v1/openapi.json"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    let paths = doc.json["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, ops) in paths {
        if !path.starts_with("/api/v1") || path == "/api/v1/feed" {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            for auth in [
                None,
                Some("Bearer wrong-token-000000000000"),
                Some("Basic abc"),
            ] {
                let mut b = Request::builder()
                    .method(m.as_str())
                    .uri(path)
                    .header(header::HOST, "127.0.0.1")
                    .header(header::CONTENT_TYPE, "application/json");
                if let Some(a) = auth {
                    b = b.header(header::AUTHORIZATION, a);
                }
                let r = send(&n.app, b.body(Body::from("{}")).unwrap()).await;
                assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
                assert_eq!(r.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
            }
            let r = send(
                &n.app,
                authed(Request::builder().method(m.as_str()).uri(path))
                    .header(header::HOST, "127.0.0.1")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(r#"{"toml":""}"#))
                    .unwrap(),
            )
            .await;
            assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{m} {path}");
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "only {checked} operations found in the document"
    );
    // The document itself is behind auth too.
    let r = send(
        &n.app,
        get("/api/v1/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    n.engine.shutdown().await;
}

#[tokio::test]
async fn info_reports_the_node() {
    let n = node().await;
    let r = send(
        &n.app,
        authed(get("/api/v1/info")).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["node_id"], n.engine.node_id());
    assert_eq!(r.json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        r.json["schema_version"].as_i64().unwrap(),
        flightdeck_engine::store::latest_version()
    );
    assert_eq!(r.json["config"]["state"], "ok");
    n.engine.shutdown().await;
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let n = node().await;
    let r = send(
        &n.app,
        get("/api/v1/info")
            .header("x-request-id", "client-id-42")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.headers["x-request-id"], "client-id-42");
    assert_eq!(r.json["error"]["request_id"], "client-id-42");
    let r = send(
        &n.app,
        get("/livez")
            .header("x-request-id", "bad id with spaces")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let generated = r.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    n.engine.shutdown().await;
}

#[tokio::test]
async fn error_codes_table() {
    let n = node_with_limit(2048).await;
    let big = format!(r#"{{"toml":"{}"}}"#, "x".repeat(4096));
    // (request, status, code)
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            get("/nope").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            authed(get("/api/v1/nope")).body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            authed(Request::delete("/api/v1/info"))
                .header(header::HOST, "localhost")
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            authed(Request::post("/api/v1/config/validate"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            authed(Request::post("/api/v1/config/validate"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"wrong":1}"#))
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            authed(Request::post("/api/v1/config/validate"))
                .body(Body::from(r#"{"toml":""}"#))
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            authed(Request::post("/api/v1/config/validate"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, big.len())
                .body(Body::from(big.clone()))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            authed(Request::post("/api/v1/config/validate"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(big))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            authed(Request::post("/api/v1/config/reload"))
                .body(Body::empty())
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Request::get("/health")
                .header(header::HOST, "evil.example:7878")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden_host",
        ),
        (
            authed(get("/api/v1/info"))
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::empty())
                .unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden_host",
        ),
    ];
    for (req, status, code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let r = send(&n.app, req).await;
        assert_eq!(r.status, status, "{what}: {:?}", r.json);
        assert_error(&r, status, code);
    }
    // A page on another port of the same machine is another site (scheme, host and port
    // are compared): refused.
    for origin in [
        "http://localhost:1420",
        "http://127.0.0.1:7879",
        "https://127.0.0.1:7878",
    ] {
        let r = send(
            &n.app,
            authed(get("/api/v1/info"))
                .header(header::ORIGIN, origin)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden_host");
    }
    // The node's own origins pass, under any of its names.
    for (host, origin) in [
        ("node.lan:7878", "http://node.lan:7878"),
        ("127.0.0.1:7878", "http://localhost:7878"),
        ("127.0.0.1:7878", "http://[::1]:7878"),
    ] {
        let r = send(
            &n.app,
            authed(Request::get("/api/v1/info"))
                .header(header::HOST, host)
                .header(header::ORIGIN, origin)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{host} {origin}");
    }
    n.engine.shutdown().await;
}

#[tokio::test]
async fn validate_config_reports_problems() {
    let n = node().await;
    let post = |body: &str| {
        authed(Request::post("/api/v1/config/validate"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let ok = send(
        &n.app,
        post(r#"{"toml":"[server]\nlisten = \"127.0.0.1:9\"\n"}"#),
    )
    .await;
    assert_eq!(ok.json["valid"], true);
    let bad = send(&n.app, post(r#"{"toml":"[shutdown]\ntimeout_secs = 0\n"}"#)).await;
    assert_eq!(bad.json["valid"], false);
    assert_eq!(bad.json["problems"][0]["key"], "shutdown.timeout_secs");
    assert_eq!(bad.json["problems"][0]["source"], "submitted text");
    n.engine.shutdown().await;
}

#[tokio::test]
async fn metrics_label_matched_routes() {
    let n = node().await;
    send(&n.app, get("/livez").body(Body::empty()).unwrap()).await;
    send(
        &n.app,
        authed(get("/api/v1/info")).body(Body::empty()).unwrap(),
    )
    .await;
    send(
        &n.app,
        get("/no/such/path/123").body(Body::empty()).unwrap(),
    )
    .await;
    let res = n
        .app
        .clone()
        .oneshot(get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        text.contains(
            r#"flightdeck_http_requests_total{method="GET",route="/livez",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/api/v1/info",status="200""#));
    assert!(text.contains(r#"route="unmatched",status="404""#));
    assert!(
        !text.contains("/no/such/path"),
        "raw paths must not become labels"
    );
    n.engine.shutdown().await;
}

/// Clients choose method names freely; the metric labels must not follow them.
#[tokio::test]
async fn unknown_methods_share_one_metric_label() {
    let n = node().await;
    for i in 0..5 {
        let r = send(
            &n.app,
            Request::builder()
                .method(format!("FOO{i}").as_str())
                .uri("/livez")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    let text = String::from_utf8(
        send(&n.app, get("/metrics").body(Body::empty()).unwrap())
            .await
            .body,
    )
    .unwrap();
    assert!(
        text.contains(
            r#"flightdeck_http_requests_total{method="OTHER",route="/livez",status="405"} 5"#
        ),
        "{text}"
    );
    assert!(!text.contains("FOO"), "{text}");
    n.engine.shutdown().await;
}

/// The JSON error body replaces axum's, but its headers stay.
#[tokio::test]
async fn method_not_allowed_keeps_its_allow_header() {
    let n = node().await;
    let r = send(
        &n.app,
        authed(Request::delete("/api/v1/info"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = r.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET"), "{allow}");
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    let r = send(&n.app, Request::post("/livez").body(Body::empty()).unwrap()).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(r.headers.contains_key(header::ALLOW));
    n.engine.shutdown().await;
}

#[tokio::test]
async fn a_failed_websocket_upgrade_says_why() {
    let n = node().await;
    // A plain GET: 426, naming the protocol (what the OpenAPI document says).
    let r = send(&n.app, get("/api/v1/feed").body(Body::empty()).unwrap()).await;
    assert_error(&r, StatusCode::UPGRADE_REQUIRED, "upgrade_required");
    assert_eq!(r.headers["upgrade"], "websocket");
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("WebSocket") && message.contains("upgrade"),
        "{message}"
    );
    // An upgrade that is asked for but broken: 400, saying why.
    let r = send(
        &n.app,
        get("/api/v1/feed")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
    n.engine.shutdown().await;
}
