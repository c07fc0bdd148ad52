//! `/api/v1/audit` (admin): the hash-chained audit log: list (newest first, filters),
//! verify (the whole chain, optionally against a head kept earlier), the head, and export
//! (JSON Lines or CSV, with the head it ends at in `X-Flightdeck-Audit-Head`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flightdeck_engine::audit::{AuditEntry, AuditFilter, ChainHead, ExportFormat, Verification};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, PageQuery, seq_cursor, seq_page};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// e.g. `approval_decided`, `token_created`.
    pub kind: Option<String>,
    pub actor: Option<String>,
    /// What it is about (a request id, a token name).
    pub subject: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of entries", body = Page<AuditEntry>),
        (status = 400, description = "A malformed cursor or filter: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
    let limit = page.limit()?;
    let before = seq_cursor(&page)?.map(|s| u64::try_from(s).unwrap_or(0));
    let filter = AuditFilter {
        kind: q.kind.filter(|s| !s.is_empty()),
        actor: q.actor.filter(|s| !s.is_empty()),
        subject: q.subject.filter(|s| !s.is_empty()),
        before,
    };
    let rows = state
        .engine
        .audit()
        .list(filter, limit as usize + 1)
        .await?
        .into_iter()
        .map(|e| (i64::try_from(e.seq).unwrap_or(i64::MAX), e))
        .collect();
    Ok(Json(seq_page(rows, limit)))
}

/// Walks the whole chain and reports the first altered, removed or reordered entry.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, description = "The outcome (`ok` false names the first problem)", body = Verification)),
    security(("bearer" = [])))]
pub async fn verify(State(state): State<AppState>) -> Result<Json<Verification>, ApiError> {
    Ok(Json(state.engine.audit().verify(None).await?))
}

/// Verifies the chain and that it still reaches the head kept earlier unchanged (a cut or
/// rewritten tail is named).
#[utoipa::path(post, path = "/audit/verify", tag = "audit",
    request_body = ChainHead,
    responses((status = 200, description = "The outcome", body = Verification)),
    security(("bearer" = [])))]
pub async fn verify_against(
    State(state): State<AppState>,
    ApiJson(head): ApiJson<ChainHead>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(state.engine.audit().verify(Some(head)).await?))
}

/// The chain's head: keep it elsewhere, compare later.
#[utoipa::path(get, path = "/audit/head", tag = "audit",
    responses((status = 200, description = "The head (`null`: the log is empty)", body = Option<ChainHead>)),
    security(("bearer" = [])))]
pub async fn head(State(state): State<AppState>) -> Result<Json<Option<ChainHead>>, ApiError> {
    Ok(Json(state.engine.audit().head().await?))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// The whole log, oldest first, as JSON Lines or CSV; `X-Flightdeck-Audit-Head` names the
/// head it ends at (`<seq>:<hash>`).
#[utoipa::path(get, path = "/audit/export", tag = "audit",
    params(ExportQuery),
    responses(
        (status = 200, description = "The log: `application/jsonl`, or `text/csv` with `format=csv`",
            content((String = "application/jsonl"), (String = "text/csv"))),
        (status = 400, description = "An unknown format: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or(ExportFormat::Jsonl);
    let (body, head) = state.engine.audit().export(format).await?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Some(h) = head
        && let Ok(v) = HeaderValue::from_str(&format!("{}:{}", h.seq, h.hash))
    {
        headers.insert("x-flightdeck-audit-head", v);
    }
    Ok(response)
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(verify, verify_against))
        .routes(routes!(head))
        .routes(routes!(export))
}
