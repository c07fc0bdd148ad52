//! The dashboard from `--ui-dir`: files and UI routes for GET/HEAD, and the JSON 404 for
//! everything that is not the UI (API paths, probe near-misses, missing assets, other methods).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::support::{assert_error, authed, node_with, send};

#[tokio::test]
async fn the_dashboard_answers_only_for_the_ui() {
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(
        ui.path().join("index.html"),
        "<!doctype html><title>fd</title>",
    )
    .unwrap();
    std::fs::create_dir(ui.path().join("assets")).unwrap();
    std::fs::write(ui.path().join("assets/app.js"), "console.log(1)").unwrap();
    let dir = ui.path().to_path_buf();
    let n = node_with(move |o| o.ui_dir = Some(dir)).await;

    let page = |method: Method, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    };
    for path in ["/", "/overview", "/settings/advanced"] {
        let r = send(&n.app, page(Method::GET, path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("<title>fd</title>"),
            "{path}"
        );
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let r = send(&n.app, page(Method::HEAD, "/overview")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(&n.app, page(Method::GET, "/assets/app.js")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"console.log(1)");

    for path in [
        "/assets/missing.js",
        "/favicon.ico",
        "/api",
        "/api/",
        "/api/v1/",
        "/api/v2/x",
        "/metricsx",
        "/livez/",
        "/healthz",
    ] {
        let r = send(&n.app, page(Method::GET, path)).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        for path in ["/", "/overview", "/assets/app.js", "/nope"] {
            let r = send(&n.app, page(method.clone(), path)).await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        }
    }
    // The API keeps answering as without a dashboard.
    let r = send(
        &n.app,
        authed(Request::get("/api/v1/info"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    n.engine.shutdown().await;
}

/// A report opened from the UI is a `blob:` page under the UI's CSP as well as its own: both
/// the dashboard's and the desktop's allow its stylesheet by hash, and no other inline style.
#[test]
fn the_ui_csps_allow_the_report_stylesheet_and_no_other_inline_style() {
    let source = flightdeck_engine::reports::html::style_source();
    assert!(
        source.starts_with("'sha256-") && source.len() > 50,
        "{source}"
    );
    let dashboard = flightdeck_api::DASHBOARD_CSP;
    let conf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tauri.conf.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let desktop = conf["app"]["security"]["csp"].as_str().unwrap();
    for csp in [dashboard, desktop] {
        let style = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("style-src"))
            .unwrap();
        assert_eq!(style, format!("style-src 'self' {source}"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
