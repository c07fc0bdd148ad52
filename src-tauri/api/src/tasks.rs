//! `/api/v1/tasks` (enqueue, list, one task with its attempts, steps and calls, cancel,
//! requeue) and `/api/v1/agents` (the configured agents with their versions and health).
//!
//! Filters follow docs/api.md (`?state=dead&agent=summarize&tag=nightly`); unknown parameters
//! are refused. `POST /api/v1/tasks` answers 201 with a new task, 200 with the task an
//! `idempotency_key` already named.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use flightdeck_engine::agents::templates::{self, TemplateVersion};
use flightdeck_engine::agents::{self, AgentInfo};
use flightdeck_engine::identity::Actor;
use flightdeck_engine::orchestrator::{Attempt, NewTask, Step, Task, TaskFilter, TaskState};
use flightdeck_engine::providers::ledger::{CallFilter, CallRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::{Page, seq_cursor, seq_page};

/// Filters and paging of `GET /api/v1/tasks`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    pub state: Option<TaskState>,
    pub agent: Option<String>,
    /// Tasks carrying this tag.
    pub tag: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A task with its history: attempts, the steps of its current round, its LLM calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    /// Every attempt, across requeues (`attempts` is the count of this round's).
    pub history: Vec<Attempt>,
    pub steps: Vec<Step>,
    /// Its calls in the usage ledger, oldest first (at most 500).
    pub calls: Vec<CallRecord>,
}

/// Enqueues a task for an agent (or for a capability: an agent that has it is chosen).
#[utoipa::path(post, path = "/tasks", tag = "tasks",
    request_body = NewTask,
    responses(
        (status = 201, description = "Enqueued", body = Task),
        (status = 200, description = "The task this `idempotency_key` names already (same payload)", body = Task),
        (status = 400, description = "An invalid field: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "`unknown_agent` or `unknown_capability`", body = ApiErrorBody),
        (status = 409, description = "The `idempotency_key` names a task with another payload: `idempotency_key_reused`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn enqueue_task(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(new): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let done = state.engine.tasks().enqueue(new, &actor.label()).await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done.task)))
}

/// Tasks, newest first (cursor pagination; filters narrow).
#[utoipa::path(get, path = "/tasks", tag = "tasks",
    params(TasksQuery),
    responses(
        (status = 200, description = "One page of tasks, newest first", body = Page<Task>),
        (status = 400, description = "A malformed cursor or filter: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TasksQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let given = |v: Option<String>| v.filter(|s| !s.is_empty());
    let page = crate::page::PageQuery {
        limit: q.limit,
        cursor: given(q.cursor.clone()),
    };
    let limit = page.limit()?;
    let before = seq_cursor(&page)?;
    let filter = TaskFilter {
        state: q.state,
        agent: given(q.agent),
        tag: given(q.tag),
    };
    let rows = state
        .engine
        .tasks()
        .queue()
        .list(filter, before, limit as usize + 1)
        .await?;
    Ok(Json(seq_page(rows, limit)))
}

/// One task with its attempts, steps and calls.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = TaskDetail),
        (status = 404, description = "No such task", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    let queue = state.engine.tasks().queue();
    let task = queue.get(&id).await?;
    let history = queue.attempts(&id).await?;
    let steps = queue.steps(&id, None).await?;
    let filter = CallFilter {
        task_id: Some(id.clone()),
        ..CallFilter::default()
    };
    let mut calls: Vec<CallRecord> = state
        .engine
        .providers()
        .ledger()
        .list(filter, None, 500)
        .await?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    calls.reverse();
    Ok(Json(TaskDetail {
        task,
        history,
        steps,
        calls,
    }))
}

/// Cancels a task: at once if it is not running; a running one stops at its next step
/// (`cancel_requested`).
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Cancelled, or asked to stop", body = Task),
        (status = 404, description = "No such task", body = ApiErrorBody),
        (status = 409, description = "The task is finished: `task_finished`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.engine.tasks().cancel(&id).await?))
}

/// Puts a dead, failed or cancelled task back on the queue with a fresh round of attempts.
#[utoipa::path(post, path = "/tasks/{id}/requeue", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses(
        (status = 200, description = "Queued again", body = Task),
        (status = 404, description = "No such task", body = ApiErrorBody),
        (status = 409, description = "Not dead, failed or cancelled: `task_finished`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn requeue_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.engine.tasks().requeue(&id).await?))
}

/// Most tasks one bulk requeue takes.
pub const MAX_BULK_REQUEUE: usize = 10_000;

/// The states a task can be requeued from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequeueState {
    Dead,
    Failed,
    Cancelled,
}

impl From<RequeueState> for TaskState {
    fn from(s: RequeueState) -> Self {
        match s {
            RequeueState::Dead => TaskState::Dead,
            RequeueState::Failed => TaskState::Failed,
            RequeueState::Cancelled => TaskState::Cancelled,
        }
    }
}

/// Which tasks to requeue: `ids`, or (without ids) every task in `state` (default `dead`) of
/// `agent`, newest first, at most `limit` (default and most: 10,000).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequeue {
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub state: Option<RequeueState>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// A task a bulk requeue refused, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequeueRefusal {
    pub id: String,
    pub code: flightdeck_engine::ErrorCode,
    pub message: String,
}

/// What a bulk requeue did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BulkRequeueResult {
    /// The tasks queued again, each with a fresh round of attempts.
    pub requeued: Vec<Task>,
    pub refused: Vec<RequeueRefusal>,
}

/// Requeues many tasks at once (the dead-letter view's "requeue all"), in one transaction;
/// each task is requeued or refused on its own.
#[utoipa::path(post, path = "/tasks/requeue", tag = "tasks",
    request_body = BulkRequeue,
    responses(
        (status = 200, description = "What was requeued and what was refused", body = BulkRequeueResult),
        (status = 400, description = "A state that cannot be requeued, ids and a filter together, or too many ids: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn requeue_tasks(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BulkRequeue>,
) -> Result<Json<BulkRequeueResult>, ApiError> {
    if !req.ids.is_empty() && (req.state.is_some() || req.agent.is_some() || req.limit.is_some()) {
        return Err(ApiError::bad_request(
            "give `ids`, or a filter (`state`, `agent`, `limit`), not both",
        ));
    }
    if req.ids.len() > MAX_BULK_REQUEUE {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_BULK_REQUEUE} ids per request"
        )));
    }
    let limit = req.limit.map_or(MAX_BULK_REQUEUE, |l| {
        (l as usize).clamp(1, MAX_BULK_REQUEUE)
    });
    let done = state
        .engine
        .tasks()
        .requeue_many(
            req.ids,
            req.state.map_or(TaskState::Dead, TaskState::from),
            req.agent,
            limit,
        )
        .await?;
    let mut out = BulkRequeueResult {
        requeued: Vec::new(),
        refused: Vec::new(),
    };
    for (id, r) in done {
        match r {
            Ok(t) => out.requeued.push(t),
            Err(e) => out.refused.push(RequeueRefusal {
                id,
                code: e.code(),
                message: e.to_string(),
            }),
        }
    }
    Ok(Json(out))
}

/// The configured agents, by name.
#[utoipa::path(get, path = "/agents", tag = "agents",
    responses((status = 200, description = "Every agent", body = Vec<AgentInfo>)),
    security(("bearer" = [])))]
pub async fn list_agents(State(state): State<AppState>) -> Json<Vec<AgentInfo>> {
    Json(agents_of(&state))
}

/// One agent.
#[utoipa::path(get, path = "/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "The agent's name")),
    responses(
        (status = 200, description = "The agent", body = AgentInfo),
        (status = 404, description = "No such agent: `unknown_agent`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_agent(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AgentInfo>, ApiError> {
    agents_of(&state)
        .into_iter()
        .find(|a| a.name == name)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                flightdeck_engine::ErrorCode::UnknownAgent,
                format!("no agent named {name:?}"),
            )
        })
}

/// The window of `GET /api/v1/agents/{name}/stats`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Tasks created (and calls started) at or after this time; default: 24 hours ago.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// An agent's figures over a window: its tasks (success rate, retries, durations, steps,
/// validation) and its calls (latency, fallbacks, cost).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentStats {
    pub agent: String,
    pub since: chrono::DateTime<chrono::Utc>,
    pub tasks: flightdeck_engine::orchestrator::AgentTaskStats,
    pub calls: flightdeck_engine::providers::ledger::CallTotals,
    /// The calls' known cost per finished task, USD (absent before any finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_task: Option<String>,
}

/// One agent's figures over a window (default: the last 24 hours).
#[utoipa::path(get, path = "/agents/{name}/stats", tag = "agents",
    params(("name" = String, Path, description = "The agent's name"), StatsQuery),
    responses(
        (status = 200, description = "Its figures", body = AgentStats),
        (status = 404, description = "No such agent: `unknown_agent`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn agent_stats(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<AgentStats>, ApiError> {
    if !state.engine.config().current().agents.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            flightdeck_engine::ErrorCode::UnknownAgent,
            format!("no agent named {name:?}"),
        ));
    }
    let now = state.engine.clock().now();
    let since = q.since.unwrap_or_else(|| now - chrono::Duration::hours(24));
    let tasks = state
        .engine
        .tasks()
        .queue()
        .agent_stats(&name, since)
        .await?;
    let calls = state
        .engine
        .providers()
        .ledger()
        .totals(&format!("agent:{name}"), since)
        .await?;
    let finished = tasks.succeeded + tasks.failed + tasks.cancelled;
    let cost_per_task = calls.cost_per(finished);
    Ok(Json(AgentStats {
        agent: name,
        since,
        tasks,
        calls,
        cost_per_task,
    }))
}

/// Every version of an agent's prompt templates, newest first (a new version is recorded
/// each time the config changes the agent's `prompt` or `system`).
#[utoipa::path(get, path = "/templates/{agent}", tag = "agents",
    params(("agent" = String, Path, description = "The agent's name")),
    responses(
        (status = 200, description = "Its template versions, newest first", body = Vec<TemplateVersion>),
        (status = 404, description = "No such agent and no history: `unknown_agent`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn template_history(
    State(state): State<AppState>,
    Path(agent): Path<String>,
) -> Result<Json<Vec<TemplateVersion>>, ApiError> {
    Ok(Json(versions(&state, &agent).await?))
}

async fn versions(state: &AppState, agent: &str) -> Result<Vec<TemplateVersion>, ApiError> {
    let name = agent.to_string();
    let history = state
        .engine
        .store()
        .read(move |db| templates::history(db, &name))
        .await?;
    if history.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            flightdeck_engine::ErrorCode::UnknownAgent,
            format!("no agent named {agent:?} has template versions"),
        ));
    }
    Ok(history)
}

/// `from` and `to` of a template diff (defaults: the latest version and the one before).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    #[param(minimum = 1)]
    pub from: Option<u32>,
    #[param(minimum = 1)]
    pub to: Option<u32>,
}

/// A unified diff between two versions of an agent's templates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateDiff {
    pub from: u32,
    pub to: u32,
    /// Unified diff, 3 lines of context; empty when the versions are equal.
    pub diff: String,
}

/// The diff between two versions of an agent's templates.
#[utoipa::path(get, path = "/templates/{agent}/diff", tag = "agents",
    params(("agent" = String, Path, description = "The agent's name"), DiffQuery),
    responses(
        (status = 200, description = "The diff", body = TemplateDiff),
        (status = 404, description = "No such agent or version", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn template_diff(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<TemplateDiff>, ApiError> {
    let history = versions(&state, &agent).await?;
    let latest = history.first().map_or(1, |v| v.version);
    let to = q.to.unwrap_or(latest);
    let from = q.from.unwrap_or(to.saturating_sub(1).max(1));
    let find = |n: u32| {
        history.iter().find(|v| v.version == n).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                flightdeck_engine::ErrorCode::NotFound,
                format!("{agent} has no template version {n} (versions 1 to {latest})"),
            )
        })
    };
    let (a, b) = (find(from)?, find(to)?);
    Ok(Json(TemplateDiff {
        from,
        to,
        diff: templates::diff(a, b),
    }))
}

/// An agent's new templates.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateEdit {
    /// The prompt template (minijinja).
    #[schema(min_length = 1)]
    pub prompt: String,
    /// The system template; absent or empty: none.
    #[serde(default)]
    pub system: Option<String>,
}

/// Edits an agent's prompt and system templates: written to `[agents.<agent>]` in the config
/// file (comments kept, validated whole first, atomically), then reloaded, which records a
/// new template version. New tasks use it; running ones keep the version they started with.
#[utoipa::path(put, path = "/templates/{agent}", tag = "agents",
    params(("agent" = String, Path, description = "The agent's name")),
    request_body = TemplateEdit,
    responses(
        (status = 200, description = "Saved: its template versions, newest first", body = Vec<TemplateVersion>),
        (status = 400, description = "The template does not parse (`config_invalid`), or the node has no config file (`bad_request`)", body = ApiErrorBody),
        (status = 404, description = "No such agent: `unknown_agent`", body = ApiErrorBody),
        (status = 409, description = "The agent's prompt comes from a `prompt_file`, or is not in the config file, or an environment variable sets it: `conflict`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn template_edit(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(agent): Path<String>,
    ApiJson(edit): ApiJson<TemplateEdit>,
) -> Result<Json<Vec<TemplateVersion>>, ApiError> {
    let engine = state.engine.clone();
    let name = agent.clone();
    let actor = actor.label();
    let event = tokio::task::spawn_blocking(move || {
        engine.set_agent_template(&name, &edit.prompt, edit.system.as_deref(), &actor)
    })
    .await
    .map_err(ApiError::internal)??;
    // Written, but the reload refused the file (something else changed it meanwhile): say so.
    if event.outcome == flightdeck_engine::events::ConfigOutcome::Rejected {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            flightdeck_engine::ErrorCode::Conflict,
            format!(
                "saved, but the config file was not applied: {}",
                event.message
            ),
        ));
    }
    // Recorded now rather than by the config watcher's listener, so the answer has it.
    let config = state.engine.config().current();
    templates::record(state.engine.store(), &config).await?;
    Ok(Json(versions(&state, &agent).await?))
}

/// A template and sample input to render (the whole body within `server.body_limit_bytes`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub prompt: String,
    #[serde(default)]
    pub system: Option<String>,
    /// The task input to render with (its fields are the variables).
    #[serde(default)]
    pub input: serde_json::Value,
}

/// The rendered texts of a preview.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewResponse {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// Renders a template with sample input, as a task would, without calling any model.
#[utoipa::path(post, path = "/templates/preview", tag = "agents",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "Rendered", body = PreviewResponse),
        (status = 400, description = "It does not parse, or the input lacks a variable: `template_error`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn template_preview(
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewResponse>, ApiError> {
    let fail = |what: &str, e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            flightdeck_engine::ErrorCode::TemplateError,
            format!("{what}: {e}"),
        )
    };
    let prompt =
        agents::template::render(&req.prompt, &req.input).map_err(|e| fail("prompt", e))?;
    let system = req
        .system
        .as_deref()
        .map(|s| agents::template::render(s, &req.input).map_err(|e| fail("system", e)))
        .transpose()?;
    Ok(Json(PreviewResponse { prompt, system }))
}

fn agents_of(state: &AppState) -> Vec<AgentInfo> {
    let config = state.engine.config().current();
    let providers = state.engine.providers();
    agents::list(&config, |route| {
        providers.readiness(&config, route) != flightdeck_engine::providers::Admission::Rejected
    })
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enqueue_task, list_tasks))
        .routes(routes!(get_task))
        .routes(routes!(cancel_task))
        .routes(routes!(requeue_task))
        .routes(routes!(requeue_tasks))
        .routes(routes!(list_agents))
        .routes(routes!(get_agent))
        .routes(routes!(agent_stats))
        .routes(routes!(template_history, template_edit))
        .routes(routes!(template_diff))
        .routes(routes!(template_preview))
}
