//! The desktop's loopback gateway listener, switched on and off from the API (what the
//! Settings switch does): `PATCH /api/v1/config` edits the file, the listener follows, only
//! the gateway is served there and only to a named token.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use flightdeck_api::desktop_gateway::{self, ListenerCell, ListenerState};
use flightdeck_api::router;
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigSource;
use flightdeck_engine::identity::Scope;
use flightdeck_engine::{Engine, EngineOptions};
use flightdeck_scripted_provider::ScriptedProvider;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{TOKEN, assert_error, options, send};

async fn until(cell: &ListenerCell, what: impl Fn(&ListenerState) -> bool) -> ListenerState {
    for _ in 0..200 {
        if let Some(s) = cell.get().filter(|s| what(s)) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the listener never got there: {:?}", cell.get());
}

fn patch(body: Value) -> Request<Body> {
    Request::patch("/api/v1/config")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn the_settings_switch_starts_and_stops_a_gateway_only_listener() {
    let up = ScriptedProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    let original = format!(
        "# my desktop\n[secrets]\nbackend = \"env\"\n\n[providers.up]\nkind = \"openai\"\nbase_url = \"{}\"\n\n[routes.default]\nchain = [\"up/m1\"]\n",
        up.openai_base_url()
    );
    std::fs::write(&path, &original).unwrap();
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
    let cell = ListenerCell::default();
    let cancel = CancellationToken::new();
    let task = desktop_gateway::spawn(engine.clone(), cell.clone(), cancel.clone());
    let mut opts = options();
    opts.desktop_gateway = Some(cell.clone());
    let app = router(engine.clone(), opts);
    let off = until(&cell, |_| true).await;
    assert!(!off.enabled && !off.listening, "{off:?}");

    // Switched on (on a free port for the test): the file keeps its comment, the listener binds.
    let r = send(
        &app,
        patch(json!({"gateway": {"desktop_listen": true, "desktop_address": "127.0.0.1:0"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["outcome"], "applied", "{:?}", r.json);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&original), "{text}");
    assert!(text.contains("desktop_listen = true"), "{text}");
    let on = until(&cell, |s| s.listening).await;
    let bound = on.bound.clone().unwrap();
    let info = send(
        &app,
        Request::get("/api/v1/gateway")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(info.json["desktop"]["listening"], true, "{:?}", info.json);
    assert_eq!(info.json["models"][0]["id"], "default");

    // A named operate token works there; the API and the bootstrap token do not.
    let agent = engine
        .identity()
        .create("agent", Scope::Operate, None, "test")
        .await
        .unwrap()
        .token;
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{bound}/v1/chat/completions"))
        .bearer_auth(&agent)
        .json(&json!({"model": "default", "messages": [{"role": "user", "content": "hi desktop"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi desktop");
    let res = http
        .get(format!("http://{bound}/api/v1/info"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = http
        .get(format!("http://{bound}/v1/models"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        401,
        "the in-process token is not valid on the port"
    );

    // Switched off: the port closes.
    let r = send(&app, patch(json!({"gateway": {"desktop_listen": false}}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    until(&cell, |s| !s.enabled && !s.listening).await;
    assert!(
        http.get(format!("http://{bound}/v1/models"))
            .send()
            .await
            .is_err(),
        "still listening"
    );

    // Bad input: a key that is not editable, a non-loopback address; the file is unchanged.
    let before = std::fs::read_to_string(&path).unwrap();
    let r = send(&app, patch(json!({"server": {"listen": "0.0.0.0:1"}}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(
        &app,
        patch(json!({"gateway": {"desktop_address": "0.0.0.0:7879"}})),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "config_invalid");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway.desktop_address")
    );
    let r = send(&app, patch(json!({}))).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // A port in use: shown, not fatal.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = send(
        &app,
        patch(json!({"gateway": {"desktop_listen": true, "desktop_address": addr}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let failed = until(&cell, |s| s.enabled && s.error.is_some()).await;
    assert!(!failed.listening);
    assert!(failed.error.unwrap().contains("cannot listen on"), "in use");

    cancel.cancel();
    task.await.unwrap();
    engine.shutdown().await;
}
