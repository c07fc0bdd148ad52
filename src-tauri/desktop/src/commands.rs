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
    feeds: Mutex<HashMap<u32, tauri::async_runtime::JoinHandle<()>>>,
    next_id: AtomicU32,
}

impl Desktop {
    /// Stops every feed (the page that read them is gone).
    pub fn stop_all_feeds(&self) {
        if let Ok(mut feeds) = self.feeds.lock() {
            for (_, task) in feeds.drain() {
                task.abort();
            }
        }
    }
}

/// Hands one request to the shared Router in-process.
#[tauri::command]
pub async fn api_request(
    state: tauri::State<'_, Desktop>,
    request: ApiRequest,
) -> Result<ApiResponse, String> {
    if !request.path.starts_with('/') || request.path.starts_with("//") {
        return Err(format!(
            "path must start with a single '/': {}",
            request.path
        ));
    }
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("not an HTTP method: {}", request.method))?;
    let ready = match state.startup.wait().await {
        Ok(ready) => ready,
        Err(failure) => {
            return Ok(ApiResponse {
                status: http::StatusCode::SERVICE_UNAVAILABLE.as_u16(),
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
    let bytes = axum::body::to_bytes(response.into_body(), MAX_RESPONSE)
        .await
        .map_err(|e| format!("reading the response: {e}"))?;
    Ok(ApiResponse {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Streams the live feed into `channel`; returns an id for `feed_unsubscribe`.
#[tauri::command]
pub async fn feed_subscribe(
    state: tauri::State<'_, Desktop>,
    channel: Channel<ServerMessage>,
    resume_from: Option<u64>,
) -> Result<u32, String> {
    let ready = state.startup.wait().await.map_err(|f| f.message)?;
    let id = state
        .next_id
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(1);
    let engine = ready.engine.clone();
    let cancel = engine.shutdown_token();
    let task = tauri::async_runtime::spawn(async move {
        let mut session = FeedSession::open(&engine, resume_from);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                msg = session.next() => {
                    let Some(msg) = msg else { break };
                    // The webview went away (reload, close): stop.
                    if channel.send(msg).is_err() { break; }
                }
            }
        }
    });
    let mut feeds = state
        .feeds
        .lock()
        .map_err(|_| "feed registry poisoned".to_string())?;
    feeds.retain(|_, t| !t.inner().is_finished());
    feeds.insert(id, task);
    Ok(id)
}

/// Stops a feed started by `feed_subscribe`. Unknown ids are ignored.
#[tauri::command]
pub fn feed_unsubscribe(state: tauri::State<'_, Desktop>, id: u32) -> Result<(), String> {
    if let Some(task) = state
        .feeds
        .lock()
        .map_err(|_| "feed registry poisoned".to_string())?
        .remove(&id)
    {
        task.abort();
    }
    Ok(())
}
