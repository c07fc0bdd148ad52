//! The middleware stack around routes the real router does not have (one that panics, one
//! that hangs), and the shared set-up of the crate's unit tests.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::{Engine, EngineOptions};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

pub(crate) const TOKEN: &str = "unit-test-token-0123456789";

/// A real engine on a fresh SQLite file in `dir`, with the token from the environment and a
/// quiet metrics sampler (one event a minute).
pub(crate) async fn engine(dir: &Path) -> Engine {
    let mut config = Config::default();
    config.secrets.backend = SecretsBackend::Env;
    config.feed.metrics_interval_ms = 60_000;
    Engine::open(EngineOptions {
        data_dir: dir.to_path_buf(),
        config,
        config_source: Default::default(),
        watch_config: false,
        env_token: Some(TOKEN.into()),
        require_token: false,
        clock: SystemClock::shared(),
    })
    .await
    .unwrap()
}

pub(crate) fn state(engine: Engine) -> AppState {
    AppState::from(crate::AppStateInner {
        engine,
        token: Arc::new(ApiToken::parse(TOKEN).unwrap()),
        hosts: Arc::new(AllowedHosts::new(Vec::new(), false)),
        transport: Transport::Tcp,
        desktop_user: String::new(),
        openapi: Bytes::from_static(b"{}"),
        feeds: Default::default(),
        auth_failures: Default::default(),
        desktop_gateway: None,
    })
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

async fn boom() -> &'static str {
    panic!("secret detail of the panic")
}

fn test_routes() -> Router<AppState> {
    Router::new()
        .route("/boom", axum::routing::get(boom))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(REQUEST_TIMEOUT * 2).await;
                "too late"
            }),
        )
}

async fn call(app: &Router, path: &str) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::HOST, "127.0.0.1")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .header("x-request-id", "unit-req-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(res.headers()["x-request-id"], "unit-req-1");
    let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_panicking_handler_answers_json_500_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let app = with_layers(
        with_api_limits(test_routes(), 1024 * 1024),
        state(engine.clone()),
    );
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let (status, body) = call(&app, "/boom").await;
    drop(guard);

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["request_id"], "unit-req-1");
    assert!(!body.to_string().contains("secret detail"), "{body}");

    let lines = logs.lines();
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == "unit-req-1")
        .collect();
    assert!(
        mine.iter().any(|l| l["level"] == "ERROR"
            && l["fields"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("secret detail"))),
        "the panic's message is logged: {lines:#?}"
    );
    let failed = mine
        .iter()
        .find(|l| l["fields"]["message"] == "request failed")
        .unwrap_or_else(|| panic!("no request line: {lines:#?}"));
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["fields"]["status"], 500);
    assert_eq!(failed["span"]["route"], "/boom");
    assert_eq!(failed["span"]["method"], "GET");
    let all = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!all.contains(TOKEN), "the token reached the log");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_request_that_takes_too_long_answers_408() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let app = with_layers(
        with_api_limits(test_routes(), 1024 * 1024),
        state(engine.clone()),
    );
    tokio::time::pause();
    let (status, body) = call(&app, "/slow").await;
    tokio::time::resume();
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(body["error"]["code"], "request_timeout");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("30 s")),
        "{body}"
    );
    engine.shutdown().await;
}
