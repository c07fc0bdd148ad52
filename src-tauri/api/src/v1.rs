//! `/api/v1` JSON routes (bearer auth is applied by the router): node info and configuration.
//! The error responses every route shares (401, 403...) are documented by `openapi.rs`; the
//! annotations here list only what is particular to a route.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use flightdeck_engine::config::{Config, ConfigError, ConfigProblem, ConfigStatus};
use flightdeck_engine::events::ConfigEvent;
use flightdeck_engine::{ErrorCode, NodeInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The node's identity and state.
#[utoipa::path(get, path = "/info", tag = "node",
    responses(
        (status = 200, description = "Node info", body = NodeInfo)),
    security(("bearer" = [])))]
pub async fn info(State(state): State<AppState>) -> Json<NodeInfo> {
    Json(state.engine.info())
}

/// The configuration in force and its status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfigView {
    pub config: Config,
    pub status: ConfigStatus,
}

/// The configuration in force (it holds no secrets; webhook URLs are shown as their scheme and
/// host) and whether the last change was rejected.
#[utoipa::path(get, path = "/config", tag = "config",
    responses(
        (status = 200, description = "Config in force", body = ConfigView)),
    security(("bearer" = [])))]
pub async fn config(State(state): State<AppState>) -> Json<ConfigView> {
    let (config, status) = state.engine.config().snapshot();
    Json(ConfigView {
        config: shown(&config),
        status,
    })
}

/// The config as the API shows it: webhook and MCP URLs (which often carry a secret in their
/// path) cut to their scheme and host, MCP servers' environment values hidden.
fn shown(config: &Config) -> Config {
    use flightdeck_engine::approvals::settings::redact_url;
    let mut c = config.clone();
    for action in c.actions.values_mut() {
        action.url = action.url.as_deref().map(redact_url);
    }
    for step in &mut c.approvals.escalation.steps {
        step.url = step.url.as_deref().map(redact_url);
    }
    for agent in c.agents.values_mut() {
        if let Some(hook) = &mut agent.webhook {
            hook.url = redact_url(&hook.url);
        }
    }
    // An MCP server's environment is where its tokens go: names only.
    for server in c.mcp.values_mut() {
        server.url = server.url.as_deref().map(redact_url);
        for value in server.env.values_mut() {
            *value = "…".into();
        }
    }
    c
}

/// Settings to change in the config file, as a merge patch: only what is given changes.
/// Everything not listed here is edited in the file itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayPatch>,
}

/// `[gateway]` settings that may be changed from the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayPatch {
    /// The desktop app also serves the gateway on `desktop_address` (loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop_listen: Option<bool>,
    /// A loopback `IP:PORT` (`127.0.0.1:7879`, `[::1]:7879`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^(127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\]):[0-9]{1,5}$")]
    pub desktop_address: Option<String>,
}

/// Changes settings in the config file (keeping its comments and layout), validated first
/// and applied at once like a reload; the answer is that reload's outcome.
#[utoipa::path(patch, path = "/config", tag = "config",
    request_body = ConfigPatch,
    responses(
        (status = 200, description = "Written and applied", body = ConfigEvent),
        (status = 400, description = "A key that cannot be edited here, a bad value (`bad_request`), or a config the change would make invalid (`config_invalid`)", body = ApiErrorBody),
        (status = 409, description = "An environment variable overrides the key, or the file cannot be parsed: `conflict`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn patch_config(
    State(state): State<AppState>,
    Extension(actor): Extension<flightdeck_engine::identity::Actor>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> Result<Json<ConfigEvent>, ApiError> {
    let mut values: Vec<(String, serde_json::Value)> = Vec::new();
    if let Some(g) = patch.gateway {
        if let Some(v) = g.desktop_listen {
            values.push(("gateway.desktop_listen".into(), v.into()));
        }
        if let Some(v) = g.desktop_address {
            values.push(("gateway.desktop_address".into(), v.into()));
        }
    }
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: send e.g. {\"gateway\": {\"desktop_listen\": true}}",
        ));
    }
    let engine = state.engine.clone();
    let actor = actor.label();
    let event = tokio::task::spawn_blocking(move || engine.set_config(&values, &actor))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(event))
}

/// A config text to check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidateConfigRequest {
    /// The TOML text.
    pub toml: String,
}

/// The outcome of a check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidateConfigResponse {
    pub valid: bool,
    pub problems: Vec<ConfigProblem>,
}

/// Checks a TOML config text against this node's schema without applying it.
#[utoipa::path(post, path = "/config/validate", tag = "config",
    request_body = ValidateConfigRequest,
    responses(
        (status = 200, description = "Check result", body = ValidateConfigResponse),
        (status = 400, description = "Malformed JSON", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn validate_config(
    ApiJson(req): ApiJson<ValidateConfigRequest>,
) -> Result<Json<ValidateConfigResponse>, ApiError> {
    let result = Config::from_toml_str(&req.toml, "submitted text");
    let problems = match result {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid { problems }) => problems,
        Err(e @ ConfigError::Missing { .. }) => return Err(ApiError::internal(e)),
    };
    Ok(Json(ValidateConfigResponse {
        valid: problems.is_empty(),
        problems,
    }))
}

/// Re-reads the config file now (the watcher does this on its own when the file changes).
#[utoipa::path(post, path = "/config/reload", tag = "config",
    responses(
        (status = 200, description = "Applied or rejected; the previous config stays in force when rejected", body = ConfigEvent),
        (status = 400, description = "The node was started without a config file", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn reload_config(State(state): State<AppState>) -> Result<Json<ConfigEvent>, ApiError> {
    state.engine.reload_config().map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            "this node runs on built-in defaults: there is no config file to reload",
        )
    })
}

/// The history of health transitions, newest first (cursor pagination: `limit`, `cursor`).
#[utoipa::path(get, path = "/health/transitions", tag = "health",
    params(crate::page::PageQuery),
    responses(
        (status = 200, description = "One page of transitions, newest first", body = crate::page::Page<flightdeck_engine::health::history::HealthTransition>)),
    security(("bearer" = [])))]
pub async fn health_transitions(
    State(state): State<AppState>,
    crate::error::ApiQuery(query): crate::error::ApiQuery<crate::page::PageQuery>,
) -> Result<Json<crate::page::Page<flightdeck_engine::health::history::HealthTransition>>, ApiError>
{
    let limit = query.limit()?;
    let before = match query.after()? {
        None => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            ApiError::bad_request("malformed cursor: pass next_cursor of a previous page")
        })?),
    };
    let mut items = flightdeck_engine::health::history::list(
        state.engine.store(),
        before,
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items
            .last()
            .map(|t| crate::page::encode_cursor(&t.id.to_string()))
    } else {
        None
    };
    Ok(Json(crate::page::Page { items, next_cursor }))
}

/// This module's routes (under `/api/v1`): node info, config, health history.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(config, patch_config))
        .routes(routes!(validate_config))
        .routes(routes!(reload_config))
        .routes(routes!(health_transitions))
}
