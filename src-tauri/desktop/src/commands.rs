//! The desktop's three Tauri commands. Everything else goes through `api_request` into the
//! shared Router, so the desktop and a node can never expose different features.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use flightdeck_api::feed::{FeedSession, ServerMessage};
use flightdeck_api::shell::{ShellRequest as ApiRequest, ShellResponse as ApiResponse};
use tauri::ipc::Channel;
use tower::ServiceExt;

use crate::startup::Startup;

/// Largest response body handed to the webview.
const MAX_RESPONSE: usize = 32 * 1024 * 1024;

/// State shared by the commands.
#[derive(Default)]
pub struct Desktop {
    pub startup: Startup,
    feeds: Mutex<Feeds>,
    next_id: AtomicU32,
}

/// The running feeds, and which page load they belong to.
#[derive(Default)]
struct Feeds {
    /// Counts page loads: a subscription asked for by an earlier page (still waiting for the
    /// engine when the page reloaded) must not start a feed nobody reads.
    page: u64,
    tasks: HashMap<u32, tauri::async_runtime::JoinHandle<()>>,
}

impl Desktop {
    /// Stops every feed (the page that read them is gone).
    pub fn stop_all_feeds(&self) {
        if let Ok(mut feeds) = self.feeds.lock() {
            feeds.page = feeds.page.wrapping_add(1);
            for (_, task) in feeds.tasks.drain() {
                task.abort();
            }
        }
    }

    fn page(&self) -> Result<u64, String> {
        self.feeds
            .lock()
            .map(|f| f.page)
            .map_err(|_| "feed registry poisoned".to_string())
    }
}

/// Hands one request to the shared Router in-process.
#[tauri::command]
pub async fn api_request(
    state: tauri::State<'_, Desktop>,
    request: ApiRequest,
) -> Result<ApiResponse, String> {
    handle(&state.startup, request).await
}

/// What `api_request` does, apart from Tauri: validate the request, wait for the engine, add
/// the in-process token, run the Router. An `Err` is a request the UI should never make; every
/// answer of the Router, errors included, is an `Ok`.
pub async fn handle(startup: &Startup, request: ApiRequest) -> Result<ApiResponse, String> {
    if !request.path.starts_with('/') || request.path.starts_with("//") {
        return Err(format!(
            "path must start with a single '/': {}",
            request.path
        ));
    }
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("not an HTTP method: {}", request.method))?;
    let ready = match startup.wait().await {
        Ok(ready) => ready,
        Err(failure) => {
            return Ok(ApiResponse {
                status: http::StatusCode::SERVICE_UNAVAILABLE.as_u16(),
                headers: [("content-type".to_string(), "application/json".to_string())].into(),
                body: failure.body(),
            });
        }
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(&request.path)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", ready.token.expose()),
        );
    for (name, value) in &request.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("not a header name: {name}"))?;
        // The shell's own: the token, and what describes the body it builds.
        if [
            http::header::AUTHORIZATION,
            http::header::HOST,
            http::header::CONTENT_LENGTH,
            http::header::CONTENT_TYPE,
        ]
        .contains(&name)
        {
            continue;
        }
        let value = http::HeaderValue::from_str(value)
            .map_err(|_| format!("not a valid value for header {name}"))?;
        builder = builder.header(name, value);
    }
    if request.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let req = builder
        .body(axum::body::Body::from(request.body.unwrap_or_default()))
        .map_err(|e| format!("bad request: {e}"))?;
    let response = match ready.router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), MAX_RESPONSE)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    Ok(ApiResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Streams the live feed into `channel`; returns an id for `feed_unsubscribe`.
#[tauri::command]
pub async fn feed_subscribe(
    state: tauri::State<'_, Desktop>,
    channel: Channel<ServerMessage>,
    resume_from: Option<u64>,
    topics: Option<Vec<String>>,
) -> Result<u32, String> {
    let page = state.page()?;
    let ready = state.startup.wait().await.map_err(|f| f.message)?;
    let id = state
        .next_id
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1);
    let engine = ready.engine.clone();
    let cancel = engine.shutdown_token();
    // Refused subscriptions answer with the feed's error code, as the WebSocket does.
    let mut session = FeedSession::open(&engine, topics.as_deref(), resume_from)
        .await
        .map_err(|e| format!("{}: {e}", e.code()))?;
    let mut feeds = state
        .feeds
        .lock()
        .map_err(|_| "feed registry poisoned".to_string())?;
    if feeds.page != page {
        return Err("the page that asked for this feed has been reloaded".into());
    }
    let task = tauri::async_runtime::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                msg = session.next() => {
                    let Some(msg) = msg else { break };
                    // The webview went away (reload, close): stop.
                    if channel.send(msg.into_message()).is_err() { break; }
                }
            }
        }
    });
    feeds.tasks.retain(|_, t| !t.inner().is_finished());
    feeds.tasks.insert(id, task);
    Ok(id)
}

/// Stops a feed started by `feed_subscribe`. Unknown ids are ignored.
#[tauri::command]
pub fn feed_unsubscribe(state: tauri::State<'_, Desktop>, id: u32) -> Result<(), String> {
    if let Some(task) = state
        .feeds
        .lock()
        .map_err(|_| "feed registry poisoned".to_string())?
        .tasks
        .remove(&id)
    {
        task.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use flightdeck_engine::clock::SystemClock;
    use flightdeck_engine::config::{Config, SecretsBackend};
    use flightdeck_engine::{Engine, EngineOptions, ErrorCode};

    use super::*;
    use crate::startup::{Failure, Ready};

    fn request(method: &str, path: &str, body: Option<&str>) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            body: body.map(String::from),
            headers: Default::default(),
        }
    }

    /// A started desktop: an engine in `dir` behind the in-process Router.
    async fn ready(dir: &std::path::Path) -> (Startup, Engine) {
        let mut config = Config::default();
        config.secrets.backend = SecretsBackend::Env;
        let engine = Engine::open(EngineOptions {
            data_dir: dir.to_path_buf(),
            config,
            config_source: Default::default(),
            watch_config: false,
            env_token: None,
            require_token: false,
            clock: SystemClock::shared(),
        })
        .await
        .unwrap();
        let startup = Startup::default();
        startup.ready(Ready::new(engine.clone(), 1024 * 1024).unwrap());
        (startup, engine)
    }

    #[tokio::test]
    async fn requests_reach_the_router_with_the_in_process_token() {
        let dir = tempfile::tempdir().unwrap();
        let (startup, engine) = ready(dir.path()).await;
        // The UI sends no token: the shell adds it, so /api/v1 answers.
        let info = handle(&startup, request("GET", "/api/v1/info", None))
            .await
            .unwrap();
        assert_eq!(info.status, 200, "{}", info.body);
        let info: serde_json::Value = serde_json::from_str(&info.body).unwrap();
        assert_eq!(info["node_id"], engine.node_id());

        // A JSON body is sent as JSON; the Router's own errors come back as answers.
        let check = handle(
            &startup,
            request("POST", "/api/v1/config/validate", Some("{\"toml\": 5}")),
        )
        .await
        .unwrap();
        assert_eq!(check.status, 400, "{}", check.body);
        let err: serde_json::Value = serde_json::from_str(&check.body).unwrap();
        assert_eq!(err["error"]["code"], "invalid_json");
        let missing = handle(&startup, request("GET", "/api/v1/nope", None))
            .await
            .unwrap();
        assert_eq!(missing.status, 404);

        // The UI's headers reach the Router, except the shell's own (a token the page sets
        // is not the one used); the answer carries the Router's headers.
        let mut with_headers = request("GET", "/api/v1/info", None);
        with_headers
            .headers
            .insert("authorization".into(), "Bearer not-the-token".into());
        with_headers
            .headers
            .insert("x-request-id".into(), "ui-chosen-id".into());
        let answer = handle(&startup, with_headers).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.headers["x-request-id"], "ui-chosen-id");
        assert_eq!(answer.headers["content-type"], "application/json");
        let mut bad = request("GET", "/api/v1/info", None);
        bad.headers.insert("bad header".into(), "x".into());
        assert!(handle(&startup, bad).await.is_err());
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_before_the_router() {
        let dir = tempfile::tempdir().unwrap();
        let (startup, engine) = ready(dir.path()).await;
        for (method, path) in [
            ("GET", "api/v1/info"),
            ("GET", "//evil.example/api/v1/info"),
            ("GET", ""),
            ("NOT A METHOD", "/api/v1/info"),
        ] {
            let refused = handle(&startup, request(method, path, None)).await;
            assert!(refused.is_err(), "{method} {path:?} was accepted");
        }
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn a_failed_start_answers_every_request_with_its_reason() {
        let startup = Startup::default();
        startup.failed(Failure {
            code: ErrorCode::DataDirLocked,
            message: "Flightdeck could not start: in use by pid 42".into(),
        });
        let answer = handle(&startup, request("GET", "/api/v1/info", None))
            .await
            .unwrap();
        assert_eq!(answer.status, 503);
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error"]["code"], "data_dir_locked");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("pid 42")),
            "{body}"
        );
    }
}
