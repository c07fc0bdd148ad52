//! The Flightdeck API: one axum [`Router`] over the [`Engine`], built by [`router`].
//!
//! The headless node serves it over TCP; the desktop shell hands requests to it in-process
//! (`tower::ServiceExt::oneshot`) and streams the feed through [`feed::FeedSession`], so the
//! two can never expose different command sets. The OpenAPI document is generated from the
//! handlers' annotations (utoipa) and served at `/api/v1/openapi.json`.
//!
//! Invariants: no dependency on tauri; every `/api/v1` route except the WebSocket feed (which
//! authenticates by its first message) sits behind bearer auth; every error is an
//! [`error::ApiErrorBody`].

pub mod error;
pub mod feed;
pub mod middleware;
pub mod system;
pub mod v1;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use flightdeck_engine::Engine;
use flightdeck_engine::secrets::ApiToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::middleware::AllowedHosts;

/// Content-Security-Policy of the node's own dashboard.
pub const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// How the router is set up.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The bearer token clients must present.
    pub token: ApiToken,
    /// Host names accepted besides loopback (config `server.allowed_hosts`, listen address).
    pub allowed_hosts: Vec<String>,
    /// Serve the dashboard (ui/dist) at `/` from here.
    pub ui_dir: Option<PathBuf>,
    /// Largest request body.
    pub body_limit_bytes: usize,
}

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub engine: Engine,
    pub token: Arc<ApiToken>,
    pub hosts: Arc<AllowedHosts>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Flightdeck node API", description = "One API for the desktop, the browser dashboard and fleet clients."),
    modifiers(&BearerAuth),
    components(schemas(feed::ClientMessage, feed::ServerMessage, error::ApiErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(v1::info))
        .routes(routes!(v1::config))
        .routes(routes!(v1::validate_config))
        .routes(routes!(v1::reload_config))
}

fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system::livez))
        .routes(routes!(system::readyz))
        .routes(routes!(system::health))
        .routes(routes!(system::metrics))
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(public_routes())
        .nest("/api/v1", v1_routes().routes(routes!(feed::feed)))
        .split_for_parts();
    api
}

/// Builds the node's router over `engine`.
pub fn router(engine: Engine, options: ApiOptions) -> Router {
    let state = AppState {
        engine,
        token: Arc::new(options.token),
        hosts: Arc::new(AllowedHosts::new(options.allowed_hosts)),
    };
    let doc = Arc::new(openapi());
    let authed = Router::from(v1_routes())
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        // Unknown paths and methods under /api/v1 answer 404/405 only to a holder of the
        // token: `layer` (not `route_layer`) so nothing is discoverable without it.
        .route("/{*rest}", axum::routing::any(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_token,
        ));
    // The feed authenticates by its first message (browsers cannot set WebSocket headers).
    let v1 = authed.route("/feed", axum::routing::get(feed::feed));
    let mut app = Router::from(public_routes()).nest("/api/v1", v1);
    app = match options.ui_dir {
        Some(dir) => {
            let index = dir.join("index.html");
            app.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        }
        None => app.fallback(not_found),
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::check_host,
    ))
    .layer(DefaultBodyLimit::max(options.body_limit_bytes))
    .layer(RequestBodyLimitLayer::new(options.body_limit_bytes))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::observe,
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ))
    .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found()
}
