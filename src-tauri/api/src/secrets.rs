//! `/api/v1/secrets` (admin scope): named secrets, **write-only**. `PUT /secrets/{name}` with
//! `{"value": "…"}` stores or replaces one; `GET /secrets` lists names and times;
//! `DELETE /secrets/{name}` removes one. No route ever answers a value.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use flightdeck_engine::secrets::SecretInfo;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, PageQuery};

/// A secret's value to store. Its `Debug` hides the value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecretRequest {
    /// The value: 1 byte to 64 KiB. Never returned by any route.
    #[schema(value_type = String)]
    pub value: SecretString,
}

impl std::fmt::Debug for SetSecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSecretRequest { value: *** }")
    }
}

/// Stores (or replaces) the secret `name`. Answers its name and times, never the value.
#[utoipa::path(put, path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "e.g. provider:openai")),
    request_body = SetSecretRequest,
    responses(
        (status = 200, description = "Stored", body = SecretInfo),
        (status = 400, description = "Invalid name or value, or a read-only (env) backend: `bad_request`", body = ApiErrorBody),
        (status = 503, description = "The secret backend is unreachable: `secrets_unavailable`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn set_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<SetSecretRequest>,
) -> Result<Json<SecretInfo>, ApiError> {
    let info = state.engine.named_secrets().set(&name, req.value).await?;
    tracing::info!(%name, "secret stored");
    Ok(Json(info))
}

/// Lists the secrets by name: names and times only.
#[utoipa::path(get, path = "/secrets", tag = "secrets",
    params(PageQuery),
    responses(
        (status = 200, description = "One page of secrets", body = Page<SecretInfo>)),
    security(("bearer" = [])))]
pub async fn list_secrets(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<SecretInfo>>, ApiError> {
    let all = state.engine.named_secrets().list().await?;
    Ok(Json(Page::of(all, &query, |s| s.name.clone())?))
}

/// Removes the secret `name`.
#[utoipa::path(delete, path = "/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "e.g. provider:openai")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such secret: `secret_missing`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.named_secrets().remove(&name).await?;
    tracing::info!(%name, "secret removed");
    Ok(StatusCode::NO_CONTENT)
}
