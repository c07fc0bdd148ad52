//! `/api/v1/approvals`: the approval inbox (list, filter, get with votes, verdict and
//! history, long poll), decisions (`POST /approvals/{id}/decision`), requests from agents
//! that run elsewhere (`POST /approvals`) and SLA figures (`/approvals/stats`);
//! `/api/v1/policies`: the action types and rules in force, standing approvals (list,
//! revoke) and `POST /policies/explain` (which rule matches and why, creating nothing).

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::approvals::settings::{ActionConfig, ApprovalsConfig, PolicyRule};
use flightdeck_engine::approvals::{
    ApprovalError, ApprovalFilter, ApprovalRequest, ApprovalState, ApprovalStats, DecisionInput,
    ExplainInput, Explanation, NewApproval, RequestDetail, Risk, StandingApproval,
};
use flightdeck_engine::identity::{Actor, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery, ErrorDetail, current_request_id};
use crate::page::{Page, PageQuery, encode_cursor};

/// The longest long poll.
pub const MAX_WAIT_SECS: u64 = 60;

/// An approvals error, with the existing decision when the request is decided already.
pub struct ApprovalApiError(ApprovalError);

impl From<ApprovalError> for ApprovalApiError {
    fn from(e: ApprovalError) -> Self {
        Self(e)
    }
}

/// The 409 of a decision on a decided request: the error and the request as decided.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecidedConflict {
    pub error: ErrorDetail,
    /// With `already_decided`: the request with its existing decision (absent for the other
    /// 409s: a second vote, an Idempotency-Key reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ApprovalRequest>,
}

impl IntoResponse for ApprovalApiError {
    fn into_response(self) -> Response {
        match self.0 {
            ApprovalError::AlreadyDecided(existing) => {
                let message = format!(
                    "request {} is {} already",
                    existing.id,
                    existing.state.as_str()
                );
                let mut response = (
                    StatusCode::CONFLICT,
                    Json(DecidedConflict {
                        error: ErrorDetail {
                            code: flightdeck_engine::ErrorCode::AlreadyDecided,
                            message,
                            request_id: current_request_id(),
                        },
                        request: Some(*existing),
                    }),
                )
                    .into_response();
                response.extensions_mut().insert(crate::error::Rendered);
                response
            }
            other => ApiError::from_engine(other.code(), &other).into_response(),
        }
    }
}

/// Filters and paging of `GET /api/v1/approvals`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    pub status: Option<ApprovalState>,
    pub risk: Option<Risk>,
    pub action: Option<String>,
    pub agent: Option<String>,
    pub task_id: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The inbox: pending requests first (highest risk, then the soonest SLA: overdue first),
/// then decided ones, newest first.
#[utoipa::path(get, path = "/approvals", tag = "approvals",
    params(ApprovalsQuery),
    responses(
        (status = 200, description = "One page of requests", body = Page<ApprovalRequest>),
        (status = 400, description = "A malformed cursor or filter: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_approvals(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ApprovalsQuery>,
) -> Result<Json<Page<ApprovalRequest>>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
    let limit = page.limit()? as usize;
    // The cursor is the last request's place in the inbox order (four integers).
    let bad = || ApiError::bad_request("malformed cursor: pass next_cursor of a previous page");
    let after = match page.after()? {
        Some(text) => {
            let parts: Vec<i64> = text
                .split('.')
                .map(|p| p.parse::<i64>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            Some(<[i64; 4]>::try_from(parts).map_err(|_| bad())?)
        }
        None => None,
    };
    let filter = ApprovalFilter {
        state: q.status,
        risk: q.risk,
        action: q.action.filter(|s| !s.is_empty()),
        agent: q.agent.filter(|s| !s.is_empty()),
        task_id: q.task_id.filter(|s| !s.is_empty()),
    };
    let mut rows = state
        .engine
        .approvals()
        .list(filter, after, limit + 1)
        .await
        .map_err(|e| ApiError::from_engine(e.code(), &e))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(k, _)| {
            encode_cursor(&k.iter().map(i64::to_string).collect::<Vec<_>>().join("."))
        })
    } else {
        None
    };
    let items = rows.into_iter().map(|(_, r)| r).collect();
    Ok(Json(Page { items, next_cursor }))
}

/// `?wait=` of a long poll.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Hold the answer up to this many seconds (1 to 60) while the request is pending.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
}

fn wait_of(q: &WaitQuery) -> Result<Option<Duration>, ApiError> {
    match q.wait {
        None | Some(0) => Ok(None),
        Some(s) if s <= MAX_WAIT_SECS => Ok(Some(Duration::from_secs(s))),
        Some(s) => Err(ApiError::bad_request(format!(
            "wait {s} is out of range: 0 to {MAX_WAIT_SECS} seconds"
        ))),
    }
}

/// A request from an agent that runs elsewhere: validated against the action's schema and
/// decided by the same policies. The answer's `state` is `allowed` or `denied` when a rule
/// decides at once, else `pending`: wait with `GET /approvals/{id}?wait=30` (a long poll),
/// or give a `callback_url` to get the decision POSTed.
#[utoipa::path(post, path = "/approvals", tag = "approvals",
    request_body = NewApproval,
    params(WaitQuery),
    responses(
        (status = 201, description = "Created (maybe decided at once)", body = ApprovalRequest),
        (status = 400, description = "A bad field (`bad_request`), e.g. a callback_url that is not https", body = ApiErrorBody),
        (status = 404, description = "No such action: `unknown_action`", body = ApiErrorBody),
        (status = 422, description = "The arguments do not match the action's schema: `arguments_invalid`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create_approval(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(new): ApiJson<NewApproval>,
) -> Result<(StatusCode, Json<ApprovalRequest>), ApprovalApiError> {
    let wait = wait_of(&q).map_err(|e| ApprovalError::Invalid(e.message))?;
    let approvals = state.engine.approvals();
    let mut created = approvals.request(&actor.label(), new).await?;
    if let Some(wait) = wait
        && created.state == ApprovalState::Pending
    {
        created = approvals.wait(&created.id, wait).await?;
    }
    Ok((StatusCode::CREATED, Json(created)))
}

/// One request with its votes, the full verdict (every rule and how it fared) and its
/// audit history. With `?wait=N`, answers when it is decided or after N seconds.
#[utoipa::path(get, path = "/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "The request's id"), WaitQuery),
    responses(
        (status = 200, description = "The request", body = RequestDetail),
        (status = 404, description = "No such request: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_approval(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<RequestDetail>, ApprovalApiError> {
    let wait = wait_of(&q).map_err(|e| ApprovalError::Invalid(e.message))?;
    let approvals = state.engine.approvals();
    if let Some(wait) = wait {
        approvals.wait(&id, wait).await?;
    }
    Ok(Json(approvals.get(&id).await?))
}

/// A decision: `approve` (with `arguments` to approve edited ones, re-validated; with
/// `always` to approve the same from now on) or `reject` (a `reason` is required; the agent
/// gets it). A rule needing N approvers needs N distinct callers; the proposer cannot decide;
/// an `operate` token decides only requests whose rule names it in `approvers` (the desktop,
/// the node's own token and admin tokens decide the others).
#[utoipa::path(post, path = "/approvals/{id}/decision", tag = "approvals",
    params(("id" = String, Path, description = "The request's id")),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "Recorded: the request as it is now (still `pending` while more approvers are needed)", body = ApprovalRequest),
        (status = 400, description = "A rejection without a reason (`reason_required`), a bad field (`bad_request`)", body = ApiErrorBody),
        (status = 403, description = "This caller may not decide it: `not_an_approver`", body = ApiErrorBody),
        (status = 404, description = "No such request: `not_found`", body = ApiErrorBody),
        (status = 409, description = "Decided already: `already_decided`, with the request as decided; or this caller voted already: `conflict`", body = DecidedConflict),
        (status = 422, description = "The edited arguments do not match the schema: `arguments_invalid`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Extension(scope): Extension<Scope>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecisionInput>,
) -> Result<Json<ApprovalRequest>, ApprovalApiError> {
    // A person at this node, or an admin token, decides any request; an operate token only
    // those whose rule names it.
    let elevated =
        matches!(actor, Actor::Desktop { .. } | Actor::Bootstrap) || scope >= Scope::Admin;
    Ok(Json(
        state
            .engine
            .approvals()
            .decide_as(&id, &actor.label(), elevated, input)
            .await?,
    ))
}

/// SLA figures: pending by risk, overdue, time to decision p50/p95, breaches,
/// auto-decisions.
#[utoipa::path(get, path = "/approvals/stats", tag = "approvals",
    responses((status = 200, description = "The figures", body = ApprovalStats)),
    security(("bearer" = [])))]
pub async fn approval_stats(
    State(state): State<AppState>,
) -> Result<Json<ApprovalStats>, ApprovalApiError> {
    Ok(Json(state.engine.approvals().stats().await?))
}

/// An action type as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionInfo {
    pub name: String,
    #[serde(flatten)]
    pub action: ActionConfig,
}

/// What decides proposed actions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Policies {
    pub actions: Vec<ActionInfo>,
    /// In file order (see `priority` for precedence).
    pub rules: Vec<PolicyRule>,
    pub approvals: ApprovalsConfig,
}

/// The action types, rules, default and escalation in force (webhook URLs shown as their
/// scheme and host only).
#[utoipa::path(get, path = "/policies", tag = "policies",
    responses((status = 200, description = "The policies in force", body = Policies)),
    security(("bearer" = [])))]
pub async fn get_policies(State(state): State<AppState>) -> Json<Policies> {
    use flightdeck_engine::approvals::settings::redact_url;
    let config = state.engine.config().current();
    // Webhook URLs often carry a secret: only where they go is shown.
    let mut approvals = config.approvals.clone();
    for step in &mut approvals.escalation.steps {
        step.url = step.url.as_deref().map(redact_url);
    }
    Json(Policies {
        actions: config
            .actions
            .iter()
            .map(|(name, action)| {
                let mut action = action.clone();
                action.url = action.url.as_deref().map(redact_url);
                ActionInfo {
                    name: name.clone(),
                    action,
                }
            })
            .collect(),
        rules: config.policies.clone(),
        approvals,
    })
}

/// Which rule matches a proposed action and why (every rule's outcome, the standing approval
/// that would apply, what would happen); creates nothing. Without `agent` or `client`, as
/// the caller.
#[utoipa::path(post, path = "/policies/explain", tag = "policies",
    request_body = ExplainInput,
    responses(
        (status = 200, description = "The explanation", body = Explanation),
        (status = 400, description = "A bad field: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such action: `unknown_action`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn explain(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(input): ApiJson<ExplainInput>,
) -> Result<Json<Explanation>, ApprovalApiError> {
    Ok(Json(
        state
            .engine
            .approvals()
            .explain(&input, &actor.label())
            .await?,
    ))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StandingQuery {
    /// Include expired and revoked ones.
    pub all: Option<bool>,
}

/// Standing approvals in force (with `all=true`, also expired and revoked ones), newest
/// first.
#[utoipa::path(get, path = "/policies/standing", tag = "policies",
    params(StandingQuery),
    responses((status = 200, description = "Standing approvals", body = Vec<StandingApproval>)),
    security(("bearer" = [])))]
pub async fn list_standing(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<StandingQuery>,
) -> Result<Json<Vec<StandingApproval>>, ApprovalApiError> {
    Ok(Json(
        state
            .engine
            .approvals()
            .standing(q.all.unwrap_or(false))
            .await?,
    ))
}

/// Revokes a standing approval: what it allowed needs a decision again.
#[utoipa::path(delete, path = "/policies/standing/{id}", tag = "policies",
    params(("id" = String, Path, description = "The standing approval's id")),
    responses(
        (status = 200, description = "Revoked (a revoked one answers as it is)", body = StandingApproval),
        (status = 404, description = "No such standing approval: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_standing(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<StandingApproval>, ApprovalApiError> {
    Ok(Json(
        state
            .engine
            .approvals()
            .revoke_standing(&id, &actor.label())
            .await?,
    ))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_approvals, create_approval))
        .routes(routes!(approval_stats))
        .routes(routes!(get_approval))
        .routes(routes!(decide))
        .routes(routes!(get_policies))
        .routes(routes!(explain))
        .routes(routes!(list_standing))
        .routes(routes!(revoke_standing))
}
