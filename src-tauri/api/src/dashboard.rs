//! The web dashboard (a built `ui/dist`) served from `--ui-dir` as the router's fallback.
//!
//! Invariants: only GET and HEAD ever reach the files; `/api` and everything under it, and
//! near-misses of the probes (`/metricsx`, `/livez/`), are never answered with the page: a
//! client that got a path wrong gets the JSON 404, not a 200 of HTML. A missing file whose
//! name has an extension (`/assets/x.js`) is a 404 too; only extension-less paths (the UI's
//! own routes) fall back to `index.html`.

use std::convert::Infallible;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// First path segments that belong to the API or the probes.
const RESERVED: [&str; 5] = ["api", "livez", "readyz", "health", "metrics"];

/// Whether `path` may be answered from the dashboard directory at all.
fn may_serve(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    !RESERVED.iter().any(|r| first.starts_with(r))
}

/// Whether a missing `path` is a UI route (answered with `index.html`) rather than a file.
fn is_ui_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or("");
    !last.contains('.')
}

/// Answers `req` from `dir`: a file, `index.html` for UI routes, else the JSON 404.
pub async fn serve(dir: PathBuf, req: Request) -> Response {
    let path = req.uri().path();
    if !matches!(*req.method(), Method::GET | Method::HEAD) || !may_serve(path) {
        return ApiError::not_found().into_response();
    }
    let index = dir.join("index.html");
    let missing = tower::service_fn(move |req: Request| {
        let index = index.clone();
        async move {
            if is_ui_route(req.uri().path()) {
                match ServeFile::new(index).oneshot(req).await {
                    Ok(res) => Ok::<_, Infallible>(res.map(Body::new)),
                    Err(never) => match never {},
                }
            } else {
                Ok(ApiError::not_found().into_response())
            }
        }
    });
    match ServeDir::new(dir).fallback(missing).oneshot(req).await {
        Ok(res) => res.map(Body::new),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_paths_the_dashboard_answers() {
        for (path, served) in [
            ("/", true),
            ("/index.html", true),
            ("/assets/app.js", true),
            ("/overview", true),
            ("/settings/advanced", true),
            ("/api", false),
            ("/api/", false),
            ("/api/v1/", false),
            ("/api/v2/x", false),
            ("/apidocs", false),
            ("/metricsx", false),
            ("/livez/", false),
            ("/healthz", false),
        ] {
            assert_eq!(may_serve(path), served, "{path}");
        }
        for (path, route) in [
            ("/", true),
            ("/overview", true),
            ("/a/b", true),
            ("/assets/x.js", false),
            ("/favicon.ico", false),
        ] {
            assert_eq!(is_ui_route(path), route, "{path}");
        }
    }
}
