//! Unauthenticated probes: `/livez`, `/readyz`, `/health`, `/metrics`.
//!
//! They reveal nothing secret and no paths: status, version, dependency names, latencies and
//! short messages. Costly checks are reused for a moment, so polling them cannot load the node.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::health::HealthReport;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Body of `/livez` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProbeStatus {
    pub status: String,
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/livez", tag = "probes",
    responses((status = 200, description = "The process is alive", body = ProbeStatus)))]
pub async fn livez() -> Json<ProbeStatus> {
    Json(ProbeStatus {
        status: "alive".into(),
    })
}

/// 200 when the database is open and migrated and the node is not stopping.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready to serve", body = ProbeStatus),
        (status = 503, description = "Starting, stopping or the database is down", body = ApiErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.engine.is_shutting_down() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the node is shutting down",
        )
        .into_response();
    }
    match state.engine.store().ping().await {
        Ok(_) => Json(ProbeStatus {
            status: "ready".into(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the database is not ready; see the node's log",
            )
            .into_response()
        }
    }
}

/// Every dependency's status, latency and last check. Always 200: the body's `status` says
/// healthy, degraded or unhealthy (load balancers should use `/readyz`).
#[utoipa::path(get, path = "/health", tag = "probes",
    responses((status = 200, description = "Health report", body = HealthReport)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthReport> {
    Json(state.engine.health().await)
}

/// Prometheus text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.engine.metrics().render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// The unauthenticated probes, at the root.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(health))
        .routes(routes!(metrics))
}
