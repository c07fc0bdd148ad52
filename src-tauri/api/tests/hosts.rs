//! Host and Origin checks per transport: over TCP a request must name an allowed host and the
//! webview's origins are strangers; in-process (the desktop) requests carry no Host and come
//! from the webview.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::Transport;

use crate::support::{assert_error, node_with, send, send_bare};

/// `GET /livez` with one header set.
fn livez_with(name: header::HeaderName, value: &str) -> Request<Body> {
    Request::get("/livez")
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn tcp_requires_a_host_and_refuses_the_webview_origin() {
    let n = node_with(|o| o.transport = Transport::Tcp).await;
    let r = send_bare(&n.app, Request::get("/livez").body(Body::empty()).unwrap()).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Host")
    );
    // An absolute-form target names the host too, and is checked like one.
    let r = send_bare(
        &n.app,
        Request::get("http://127.0.0.1:7878/livez")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(
        &n.app,
        Request::get("http://evil.example/livez")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_host");
    for origin in ["tauri://localhost", "http://tauri.localhost"] {
        let r = send(&n.app, livez_with(header::ORIGIN, origin)).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden_host");
    }
    n.engine.shutdown().await;
}

#[tokio::test]
async fn in_process_needs_no_host_and_allows_the_webview() {
    let n = node_with(|o| o.transport = Transport::InProcess).await;
    let r = send_bare(&n.app, Request::get("/livez").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    for origin in ["tauri://localhost", "http://tauri.localhost"] {
        let r = send_bare(&n.app, livez_with(header::ORIGIN, origin)).await;
        assert_eq!(r.status, StatusCode::OK, "{origin}");
    }
    // A Host, when there is one, is still checked.
    let r = send_bare(&n.app, livez_with(header::HOST, "evil.example")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden_host");
    n.engine.shutdown().await;
}

#[tokio::test]
async fn allowed_host_entries_are_normalized() {
    let n = node_with(|o| {
        o.allowed_hosts = vec![
            "Node.LAN:7878".into(),
            "fe80::1".into(),
            "not a host/".into(),
        ]
    })
    .await;
    for (host, status) in [
        ("node.lan", StatusCode::OK),
        ("NODE.lan:1", StatusCode::OK),
        ("[fe80::1]:7878", StatusCode::OK),
        ("[FE80:0::1]", StatusCode::OK),
        ("not a host", StatusCode::FORBIDDEN),
        ("lan", StatusCode::FORBIDDEN),
    ] {
        let r = send(&n.app, livez_with(header::HOST, host)).await;
        assert_eq!(r.status, status, "{host}");
    }
    n.engine.shutdown().await;
}
