//! Shared set-up: a real engine on a fresh SQLite file, secrets from the environment, the
//! router over it, and requests through `oneshot`.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::{ApiOptions, Transport, router};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::secrets::ApiToken;
use flightdeck_engine::{Engine, EngineOptions};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "router-test-token-0123456789";

/// Opens an engine in `dir` with `tweak` applied to the default config.
pub async fn engine(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Engine {
    engine_on_clock(dir, tweak, SystemClock::shared()).await
}

/// [`engine`] on `clock` (a `ManualClock` for expiry tests).
pub async fn engine_on_clock(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut Config),
    clock: flightdeck_engine::clock::SharedClock,
) -> Engine {
    let mut config = Config::default();
    config.secrets.backend = SecretsBackend::Env;
    tweak(&mut config);
    Engine::open(EngineOptions {
        data_dir: dir.to_path_buf(),
        config,
        config_source: Default::default(),
        watch_config: false,
        env_token: Some(TOKEN.into()),
        require_token: false,
        clock,
    })
    .await
    .unwrap()
}

pub struct Node {
    pub app: Router,
    pub engine: Engine,
    pub _dir: tempfile::TempDir,
}

/// The options of a TCP node allowing `node.lan`, a 1 MiB body limit, no dashboard.
pub fn options() -> ApiOptions {
    ApiOptions {
        token: ApiToken::parse(TOKEN).unwrap(),
        allowed_hosts: vec!["node.lan".into()],
        ui_dir: None,
        body_limit_bytes: 1024 * 1024,
        transport: Transport::Tcp,
        desktop_user: String::new(),
        served_port: Some(7878),
        desktop_gateway: None,
    }
}

/// A router over a fresh engine, set up by `tweak` from [`options`].
pub async fn node_with(tweak: impl FnOnce(&mut ApiOptions)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), |_| {}).await;
    let mut options = options();
    tweak(&mut options);
    let app = router(engine.clone(), options);
    Node {
        app,
        engine,
        _dir: dir,
    }
}

pub async fn node() -> Node {
    node_with(|_| {}).await
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
}

/// Sends `req` as is (no Host header added).
pub async fn send_bare(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        json,
    }
}

/// Sends `req`, naming `127.0.0.1:7878` as the Host unless it names one, as every TCP client
/// does.
pub async fn send(app: &Router, mut req: Request<Body>) -> Reply {
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
    }
    send_bare(app, req).await
}

pub fn get(path: &str) -> axum::http::request::Builder {
    Request::get(path).header(header::HOST, "127.0.0.1:7878")
}

pub fn authed(b: axum::http::request::Builder) -> axum::http::request::Builder {
    b.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
}

/// `GET path` with the node's token.
pub async fn get_authed(app: &Router, path: &str) -> Reply {
    send(app, authed(get(path)).body(Body::empty()).unwrap()).await
}

/// `r` is the JSON error `code` with `status`, under the response's request id.
pub fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{:?}", r.json);
    assert_eq!(r.json["error"]["code"], code, "{:?}", r.json);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let rid = r.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(r.json["error"]["request_id"], rid);
}
