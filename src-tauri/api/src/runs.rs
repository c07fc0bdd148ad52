//! `/api/v1/runs`: start a multi-agent run (a `[runs.<name>]` of the config, or a definition
//! posted whole), plan one without running it (`/runs/plan`, a dry run), list, get with its
//! steps, cancel; `/runs/definitions`: the configured ones. A definition is checked whole first: an invalid one is `run_invalid` with
//! every problem in the message, and nothing runs.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use flightdeck_engine::identity::Actor;
use flightdeck_engine::orchestrator::runs::{NewRun, Run, RunFilter, RunPlan, RunState};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, seq_cursor, seq_page};

/// Filters and paging of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    pub state: Option<RunState>,
    /// Runs of this `[runs.<name>]`.
    pub name: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Starts a run: its first steps are enqueued at once, each later one when what it needs
/// succeeded.
#[utoipa::path(post, path = "/runs", tag = "runs",
    request_body = NewRun,
    responses(
        (status = 201, description = "Started", body = Run),
        (status = 200, description = "The run this `idempotency_key` names already (same request)", body = Run),
        (status = 400, description = "An invalid definition (`run_invalid`: unknown agents, a cycle, a type mismatch...) or field (`bad_request`)", body = ApiErrorBody),
        (status = 404, description = "No `[runs.<name>]` of that name: `not_found`", body = ApiErrorBody),
        (status = 409, description = "The `idempotency_key` names a run with another request: `idempotency_key_reused`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn start_run(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(new): ApiJson<NewRun>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let (run, created) = state.engine.tasks().start_run(new, &actor.label()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(run)))
}

/// A dry run: the plan of a run (steps by level, agents, model chains, calls at least and at
/// most, worst-case cost at today's prices) without calling any model or writing anything.
#[utoipa::path(post, path = "/runs/plan", tag = "runs",
    request_body = NewRun,
    responses(
        (status = 200, description = "The plan", body = RunPlan),
        (status = 400, description = "An invalid definition: `run_invalid`", body = ApiErrorBody),
        (status = 404, description = "No `[runs.<name>]` of that name: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn plan_run(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewRun>,
) -> Result<Json<RunPlan>, ApiError> {
    Ok(Json(state.engine.tasks().plan_run(&new).await?))
}

/// Runs, newest first (cursor pagination).
#[utoipa::path(get, path = "/runs", tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, description = "One page of runs, newest first", body = Page<Run>),
        (status = 400, description = "A malformed cursor or filter: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Page<Run>>, ApiError> {
    let page = crate::page::PageQuery {
        limit: q.limit,
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
    let limit = page.limit()?;
    let before = seq_cursor(&page)?;
    let filter = RunFilter {
        state: q.state,
        name: q.name.filter(|s| !s.is_empty()),
    };
    let rows = state
        .engine
        .tasks()
        .queue()
        .runs(filter, before, limit as usize + 1)
        .await?;
    Ok(Json(seq_page(rows, limit)))
}

/// A run declared in the config.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunDefinition {
    pub name: String,
    pub definition: flightdeck_engine::orchestrator::runs::RunSpec,
}

/// The runs declared in the config (`[runs.<name>]`), by name: what `{"run": "<name>"}` starts.
#[utoipa::path(get, path = "/runs/definitions", tag = "runs",
    responses((status = 200, description = "Every configured run", body = Vec<RunDefinition>)),
    security(("bearer" = [])))]
pub async fn run_definitions(State(state): State<AppState>) -> Json<Vec<RunDefinition>> {
    let config = state.engine.config().current();
    Json(
        config
            .runs
            .iter()
            .map(|(name, definition)| RunDefinition {
                name: name.clone(),
                definition: definition.clone(),
            })
            .collect(),
    )
}

/// One run with its steps (each with its task's state, attempts, result or error).
#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 404, description = "No such run", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.engine.tasks().queue().run(&id).await?))
}

/// Cancels a run: steps not started are cancelled, running ones stop at their next step.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "Cancelled", body = Run),
        (status = 404, description = "No such run", body = ApiErrorBody),
        (status = 409, description = "The run is finished: `run_finished`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(state.engine.tasks().cancel_run(&id).await?))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_run, list_runs))
        .routes(routes!(plan_run))
        .routes(routes!(run_definitions))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
}
