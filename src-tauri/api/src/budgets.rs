//! `/api/v1/budgets`: every budget with its live figures (spent, reserved by calls in
//! flight, remaining, alerts fired this period); one budget; `PUT` writes a budget into the
//! config file (validated whole first, comments kept) and answers once the gate holds it;
//! `DELETE` removes it. Editing is admin scope (it writes the config file). The alerts
//! fired are `GET /api/v1/costs/alerts`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use flightdeck_engine::costs::settings::BudgetConfig;
use flightdeck_engine::costs::{AlertRecord, BudgetStatus};
use flightdeck_engine::events::ConfigOutcome;
use flightdeck_engine::identity::Actor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};

/// The budgets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetList {
    pub items: Vec<BudgetStatus>,
}

/// Every budget with its figures now.
#[utoipa::path(get, path = "/budgets", tag = "costs",
    responses((status = 200, description = "The budgets, by name", body = BudgetList)),
    security(("bearer" = [])))]
pub async fn list_budgets(State(state): State<AppState>) -> Result<Json<BudgetList>, ApiError> {
    Ok(Json(BudgetList {
        items: state.engine.costs().budgets().await?,
    }))
}

async fn one(state: &AppState, name: &str) -> Result<BudgetStatus, ApiError> {
    state
        .engine
        .costs()
        .budgets()
        .await?
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                flightdeck_engine::ErrorCode::NotFound,
                format!("no budget `{name}`"),
            )
        })
}

/// One budget.
#[utoipa::path(get, path = "/budgets/{name}", tag = "costs",
    params(("name" = String, Path, description = "The budget's name")),
    responses(
        (status = 200, description = "The budget", body = BudgetStatus),
        (status = 404, description = "No such budget: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_budget(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<BudgetStatus>, ApiError> {
    Ok(Json(one(&state, &name).await?))
}

fn applied(event: &flightdeck_engine::events::ConfigEvent) -> Result<(), ApiError> {
    if event.outcome == ConfigOutcome::Rejected {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            flightdeck_engine::ErrorCode::Conflict,
            format!(
                "saved, but the config file was not applied: {}",
                event.message
            ),
        ));
    }
    Ok(())
}

/// Creates or replaces a budget in the config file (`[budgets.<name>]`): checked with the
/// whole config first (a bad limit, period or scope is `config_invalid` naming the key), then
/// written and applied; its spending this period is read from the ledger.
#[utoipa::path(put, path = "/budgets/{name}", tag = "costs",
    params(("name" = String, Path, description = "The budget's name")),
    request_body = BudgetConfig,
    responses(
        (status = 200, description = "Saved and in force", body = BudgetStatus),
        (status = 400, description = "An invalid budget (`config_invalid`, with the key) or no config file (`bad_request`)", body = ApiErrorBody),
        (status = 409, description = "An environment variable sets it, or the file was not applied: `conflict`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn put_budget(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    ApiJson(budget): ApiJson<BudgetConfig>,
) -> Result<Json<BudgetStatus>, ApiError> {
    let event = state
        .engine
        .set_budget(&name, Some(&budget), &actor.label())
        .await?;
    applied(&event)?;
    Ok(Json(one(&state, &name).await?))
}

/// Removes a budget from the config file.
#[utoipa::path(delete, path = "/budgets/{name}", tag = "costs",
    params(("name" = String, Path, description = "The budget's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "No config file to edit: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such budget in the config file: `not_found`", body = ApiErrorBody),
        (status = 409, description = "Set by the environment, or the file was not applied: `conflict`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_budget(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let event = state.engine.set_budget(&name, None, &actor.label()).await?;
    applied(&event)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// How many, newest first: 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The alerts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertRecord>,
}

/// Budget alerts fired (each threshold once per budget and period), newest first.
#[utoipa::path(get, path = "/costs/alerts", tag = "costs",
    params(AlertsQuery),
    responses(
        (status = 200, description = "The alerts", body = AlertList),
        (status = 400, description = "A bad limit: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit is 1 to 500"));
    }
    Ok(Json(AlertList {
        items: state.engine.costs().alerts(limit).await?,
    }))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_budgets))
        .routes(routes!(get_budget, put_budget, delete_budget))
        .routes(routes!(list_alerts))
}
