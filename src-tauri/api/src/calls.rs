//! `/api/v1/calls`: the usage ledger, filtered and paged (newest first), and one call.
//!
//! Filters follow docs/api.md: `?client=token:ci&outcome=error&since=2026-12-01T00:00:00Z`;
//! unknown parameters are refused.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use flightdeck_engine::providers::ledger::{CallFilter, CallOutcome, CallRecord};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiQuery};
use crate::page::{Page, seq_cursor, seq_page};

/// Filters and paging of `GET /api/v1/calls`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallsQuery {
    /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
    pub client: Option<String>,
    /// Calls made by this agent.
    pub agent: Option<String>,
    /// Calls carrying this tag.
    pub tag: Option<String>,
    /// Calls made on this node.
    pub node: Option<String>,
    pub route: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub outcome: Option<CallOutcome>,
    pub task_id: Option<String>,
    pub cache_hit: Option<bool>,
    /// Started at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Started before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// LLM calls, newest first (cursor pagination; filters narrow).
#[utoipa::path(get, path = "/calls", tag = "calls",
    params(CallsQuery),
    responses(
        (status = 200, description = "One page of calls, newest first", body = Page<CallRecord>),
        (status = 400, description = "A malformed cursor, or `since` not before `until`: `bad_request`", body = crate::error::ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_calls(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CallsQuery>,
) -> Result<Json<Page<CallRecord>>, ApiError> {
    // An empty parameter (`?client=&cursor=`) is the same as an absent one.
    let given = |v: Option<String>| v.filter(|s| !s.is_empty());
    let page = crate::page::PageQuery {
        limit: q.limit,
        cursor: given(q.cursor.clone()),
    };
    let limit = page.limit()?;
    let after = seq_cursor(&page)?;
    if let (Some(a), Some(b)) = (q.since, q.until)
        && a >= b
    {
        return Err(ApiError::bad_request("`since` must be before `until`"));
    }
    let filter = CallFilter {
        client: given(q.client),
        agent: given(q.agent),
        tag: given(q.tag),
        node_id: given(q.node),
        route: given(q.route),
        provider: given(q.provider),
        model: given(q.model),
        outcome: q.outcome,
        task_id: given(q.task_id),
        cache_hit: q.cache_hit,
        since: q.since,
        until: q.until,
    };
    let ledger = state.engine.providers().ledger();
    let rows = ledger.list(filter, after, limit + 1).await?;
    Ok(Json(seq_page(rows, limit)))
}

/// One call, with its hops.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The call", body = CallRecord),
        (status = 404, description = "No such call", body = crate::error::ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_call(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CallRecord>, ApiError> {
    state
        .engine
        .providers()
        .ledger()
        .get(&id)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls))
        .routes(routes!(get_call))
}
