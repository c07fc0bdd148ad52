//! `/api/v1/secrets` (admin scope): named secrets, **write-only**. `PUT /secrets/{name}` with
//! `{"value": "…"}` stores or replaces one; `GET /secrets` lists names and times;
//! `GET /secrets/{name}` one of them with its `ETag`; `DELETE /secrets/{name}` removes one.
//! No route ever answers a value. Edits can be made conditional (docs/api.md): `If-Match:
//! "<version>"` (only if nobody changed it since) or `If-None-Match: *` (only if new); a
//! condition that does not hold (or names no version) is `412 precondition_failed`, nothing
//! changed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flightdeck_engine::secrets::{Precondition, SecretInfo};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, PageQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A secret's value to store. Its `Debug` hides the value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecretRequest {
    /// The value: 1 to 65,536 characters. Never returned by any route.
    #[schema(value_type = String, min_length = 1, max_length = 65536)]
    pub value: SecretString,
}

impl std::fmt::Debug for SetSecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSecretRequest { value: *** }")
    }
}

/// The secret a route names.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SecretPath {
    /// e.g. `provider:openai`: 1 to 127 characters of a-z, 0-9, `.`, `_`, `:` and `-`,
    /// starting with a letter or digit.
    #[param(pattern = "^[a-z0-9][a-z0-9._:-]{0,126}$")]
    pub name: String,
}

/// The conditions an edit can be made under (docs/api.md).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct EditConditions {
    /// Only if the secret is at this ETag (as a GET or PUT answered it), e.g. `"3"`.
    #[param(rename = "If-Match", nullable = false)]
    pub if_match: Option<String>,
    /// `*`: only if there is no such secret yet (PUT only).
    #[param(rename = "If-None-Match", nullable = false)]
    pub if_none_match: Option<String>,
}

/// The condition a removal can be made under.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// Only if the secret is at this ETag, e.g. `"3"`.
    #[param(rename = "If-Match", nullable = false)]
    pub if_match: Option<String>,
}

/// The entity tag of a secret's version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an entity tag names: `"3"` (a weak `W/"3"` too: versions are exact).
fn tag_version(tag: &str) -> Option<i64> {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

/// The precondition in `If-Match` / `If-None-Match` (RFC 9110 §13: `If-Match` first; a
/// value naming no version of ours can match nothing, so its condition fails with 412).
fn precondition(headers: &HeaderMap) -> Precondition {
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    if let Some(tag) = text(header::IF_MATCH) {
        if tag.trim() == "*" {
            return Precondition::NotAbsent;
        }
        return tag_version(tag).map_or(Precondition::Never, Precondition::Version);
    }
    match text(header::IF_NONE_MATCH) {
        None => Precondition::Any,
        Some(t) if t.trim() == "*" => Precondition::Absent,
        Some(t) => tag_version(t).map_or(Precondition::Any, Precondition::NotVersion),
    }
}

fn with_etag(info: SecretInfo) -> Response {
    let tag = HeaderValue::from_str(&etag(info.version)).ok();
    let mut response = Json(info).into_response();
    if let Some(tag) = tag {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// Stores (or replaces) the secret `name`. Answers its name, times and version (also as
/// `ETag`), never the value.
#[utoipa::path(put, path = "/secrets/{name}", tag = "secrets",
    params(SecretPath, EditConditions),
    request_body = SetSecretRequest,
    responses(
        (status = 200, description = "Stored", body = SecretInfo,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Invalid name or value, a malformed condition, or a read-only (env) backend: `bad_request`", body = ApiErrorBody),
        (status = 412, description = "The condition does not hold (someone changed it, or it exists): `precondition_failed`", body = ApiErrorBody),
        (status = 503, description = "The secret backend is unreachable: `secrets_unavailable`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn set_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SetSecretRequest>,
) -> Result<Response, ApiError> {
    let when = precondition(&headers);
    let info = state
        .engine
        .named_secrets()
        .set_if(&name, req.value, when)
        .await?;
    tracing::info!(%name, version = info.version, "secret stored");
    Ok(with_etag(info))
}

/// One secret's name, times and version (also as `ETag`), never its value.
#[utoipa::path(get, path = "/secrets/{name}", tag = "secrets",
    params(SecretPath),
    responses(
        (status = 200, description = "The secret", body = SecretInfo,
            headers(("ETag" = String, description = "Its version, for If-Match"))),
        (status = 404, description = "No such secret: `secret_missing`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(with_etag(state.engine.named_secrets().info(&name).await?))
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
    params(SecretPath, IfMatch),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Invalid name or a malformed condition: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such secret: `secret_missing`", body = ApiErrorBody),
        (status = 412, description = "The secret changed since that ETag: `precondition_failed`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    // If-None-Match is not a removal's condition (RFC 9110 leaves it to GET/HEAD/PUT).
    let when = match precondition(&headers) {
        Precondition::Absent | Precondition::NotVersion(_) => Precondition::Any,
        other => other,
    };
    state.engine.named_secrets().remove_if(&name, when).await?;
    tracing::info!(%name, "secret removed");
    Ok(StatusCode::NO_CONTENT)
}

/// This module's routes (under `/api/v1`).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_secrets))
        .routes(routes!(get_secret, set_secret, remove_secret))
}
