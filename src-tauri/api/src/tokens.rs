//! `/api/v1/tokens`: named API tokens (admin scope). `POST` answers the new token once, in
//! `token`; `GET` lists names, scopes and times, never a token; `DELETE /tokens/{name}`
//! revokes.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use flightdeck_engine::identity::{Actor, CreatedToken, Scope, TokenInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, PageQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The token a route names.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The token's name.
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
}

/// A token to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1 to 64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
    /// `read` (default), `operate` or `admin`.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// When it stops working (RFC 3339, in the future: a past time is `400 bad_request`);
    /// never when absent.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a named token. The answer is the only time the token is shown.
#[utoipa::path(post, path = "/tokens", tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedToken),
        (status = 400, description = "Invalid name or expiry: `bad_request`", body = ApiErrorBody),
        (status = 409, description = "A token of that name exists: `conflict`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let created = state
        .engine
        .identity()
        .create(
            &req.name,
            req.scope.unwrap_or(Scope::Read),
            req.expires_at,
            &actor.label(),
        )
        .await?;
    tracing::info!(name = %created.info.name, scope = created.info.scope.as_str(), "API token created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists the named tokens by name (never their values).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of tokens", body = Page<TokenInfo>)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<TokenInfo>>, ApiError> {
    let all = state.engine.identity().list();
    Ok(Json(Page::of(all, &query, |t| t.name.clone())?))
}

/// Revokes a named token: it authenticates no one from now on.
#[utoipa::path(delete, path = "/tokens/{name}", tag = "tokens",
    params(TokenPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No token of that name: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .engine
        .identity()
        .revoke(&name, &actor.label())
        .await?;
    tracing::info!(%name, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// This module's routes (under `/api/v1`).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}
