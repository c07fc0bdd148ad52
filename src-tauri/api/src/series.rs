//! `/api/v1/series`, `/api/v1/forecasts`, `/api/v1/goals`, `/api/v1/health-score`: KPI
//! series imported from CSV (previewed with a dry run, checked whole) or pushed point by
//! point, their forecasts with the backtest and anomalies, goals with the probability of
//! reaching them, and the business health score. The built-in `cost.daily` is the ledger's
//! spend per day (read-only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use flightdeck_engine::forecast::goals::{Goal, GoalRequest};
use flightdeck_engine::forecast::kpi::{
    Anomaly, ImportOutcome, ImportRequest, Point, PushOutcome, PushRequest, SeriesForecast,
    SeriesInfo,
};
use flightdeck_engine::forecast::score::HealthScore;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// The series a route names.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SeriesPath {
    /// The series' name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit
    /// (`cost.daily`: the ledger's spend per day, read-only).
    #[param(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
}
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};

/// The series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesList {
    pub items: Vec<SeriesInfo>,
}

/// Every series, `cost.daily` first.
#[utoipa::path(get, path = "/series", tag = "forecasts",
    responses((status = 200, description = "The series", body = SeriesList)),
    security(("bearer" = [])))]
pub async fn list_series(State(state): State<AppState>) -> Result<Json<SeriesList>, ApiError> {
    Ok(Json(SeriesList {
        items: state.engine.kpis().list().await?,
    }))
}

/// One series.
#[utoipa::path(get, path = "/series/{name}", tag = "forecasts",
    params(SeriesPath),
    responses(
        (status = 200, description = "The series", body = SeriesInfo),
        (status = 400, description = "Not a series name: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_series(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SeriesInfo>, ApiError> {
    Ok(Json(state.engine.kpis().info(&name).await?))
}

/// Removes a series with its points and anomalies.
#[utoipa::path(delete, path = "/series/{name}", tag = "forecasts",
    params(SeriesPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a series name, or a built-in series: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_series(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.kpis().remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PointsQuery {
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this instant (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Points of a series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointList {
    pub items: Vec<Point>,
}

/// The points of a series, oldest first.
#[utoipa::path(get, path = "/series/{name}/points", tag = "forecasts",
    params(SeriesPath, PointsQuery),
    responses(
        (status = 200, description = "The points", body = PointList),
        (status = 400, description = "A bad name or query: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn series_points(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<PointsQuery>,
) -> Result<Json<PointList>, ApiError> {
    Ok(Json(PointList {
        items: state.engine.kpis().points(&name, q.from, q.until).await?,
    }))
}

/// Adds points to a series (made on its first push); a point on an instant the series has
/// replaces its value. Points after the series' last are checked against the forecast made
/// before them: those outside its 95 % interval are flagged (feed topic `forecasts`).
#[utoipa::path(post, path = "/series/{name}/points", tag = "forecasts",
    params(SeriesPath),
    request_body = PushRequest,
    responses(
        (status = 200, description = "Stored, with the anomalies found", body = PushOutcome),
        (status = 400, description = "A bad name, a built-in series, no points or too many, a value that is not finite: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn push_points(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PushRequest>,
) -> Result<Json<PushOutcome>, ApiError> {
    Ok(Json(state.engine.kpis().push(&name, body).await?))
}

/// Imports a CSV file (`date,value` or `ds,y`, with a header) into a series (made if new):
/// every row is checked first and nothing is written when one is bad. `dry_run` previews.
#[utoipa::path(post, path = "/series/{name}/import", tag = "forecasts",
    params(SeriesPath),
    request_body = ImportRequest,
    responses(
        (status = 200, description = "A dry run: what the import would do", body = ImportOutcome),
        (status = 201, description = "Imported", body = ImportOutcome),
        (status = 400, description = "Bad rows (`invalid_rows`, each line named), too few points (`series_too_short`), or a bad name, header or option (`bad_request`)", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn import_series(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<ImportOutcome>), ApiError> {
    let out = state.engine.kpis().import(&name, body).await?;
    let status = if out.imported {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(out)))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnomalyQuery {
    /// How many, newest first: 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Anomalies.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnomalyList {
    pub items: Vec<Anomaly>,
}

/// The points of a series flagged outside their 95 % interval, newest first.
#[utoipa::path(get, path = "/series/{name}/anomalies", tag = "forecasts",
    params(SeriesPath, AnomalyQuery),
    responses(
        (status = 200, description = "The anomalies", body = AnomalyList),
        (status = 400, description = "A bad name or limit: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn series_anomalies(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<AnomalyQuery>,
) -> Result<Json<AnomalyList>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit is 1 to 500"));
    }
    Ok(Json(AnomalyList {
        items: state.engine.kpis().anomalies(&name, limit).await?,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ForecastQuery {
    /// Steps ahead, 1 to 10000 (default by frequency: 48 hours, 30 days, 13 weeks, 12
    /// months, 8 quarters, 5 years).
    #[param(minimum = 1, maximum = 10000)]
    pub horizon: Option<usize>,
    /// A seasonal period in steps instead of the calendar's (0 or 1: none).
    #[param(minimum = 0, maximum = 10000)]
    pub season: Option<usize>,
}

/// Forecasts a series with the model its backtest chose: intervals at 80 % and 95 % (their
/// coverage measured), the candidates' scores, the held-out points, recent history and the
/// anomalies flagged.
#[utoipa::path(get, path = "/forecasts/{name}", tag = "forecasts",
    params(SeriesPath, ForecastQuery),
    responses(
        (status = 200, description = "The forecast", body = SeriesForecast),
        (status = 400, description = "Too few points (`series_too_short`, saying how many are needed), a bad horizon or season (`bad_request`)", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn forecast_series(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> Result<Json<SeriesForecast>, ApiError> {
    if q.season.is_some_and(|s| s > 10_000) {
        return Err(ApiError::bad_request("season is 0 to 10000"));
    }
    Ok(Json(
        state
            .engine
            .kpis()
            .forecast(&name, q.horizon, q.season)
            .await?,
    ))
}

/// Goals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GoalList {
    pub items: Vec<Goal>,
}

/// Every goal with its progress and probability now, soonest due first.
#[utoipa::path(get, path = "/goals", tag = "forecasts",
    responses((status = 200, description = "The goals", body = GoalList)),
    security(("bearer" = [])))]
pub async fn list_goals(State(state): State<AppState>) -> Result<Json<GoalList>, ApiError> {
    Ok(Json(GoalList {
        items: state.engine.kpis().goals().await?,
    }))
}

/// Sets a goal (replacing one of the same name) and evaluates it.
#[utoipa::path(post, path = "/goals", tag = "forecasts",
    request_body = GoalRequest,
    responses(
        (status = 201, description = "Set, evaluated", body = Goal),
        (status = 400, description = "A bad name, target, due date (not in the future) or alert_below: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn set_goal(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GoalRequest>,
) -> Result<(StatusCode, Json<Goal>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.engine.kpis().set_goal(body).await?),
    ))
}

/// One goal, evaluated now.
#[utoipa::path(get, path = "/goals/{name}", tag = "forecasts",
    params(("name" = String, Path, description = "The goal's name")),
    responses(
        (status = 200, description = "The goal", body = Goal),
        (status = 404, description = "No such goal: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_goal(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Goal>, ApiError> {
    Ok(Json(state.engine.kpis().goal(&name).await?))
}

/// Removes a goal.
#[utoipa::path(delete, path = "/goals/{name}", tag = "forecasts",
    params(("name" = String, Path, description = "The goal's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such goal: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_goal(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.kpis().remove_goal(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The business health score of `[health_score.<series>]`: 0-100, each KPI's contribution,
/// and the trend.
#[utoipa::path(get, path = "/health-score", tag = "forecasts",
    responses((status = 200, description = "The score (no `score` when no KPI is configured)", body = HealthScore)),
    security(("bearer" = [])))]
pub async fn health_score(State(state): State<AppState>) -> Result<Json<HealthScore>, ApiError> {
    Ok(Json(state.engine.health_score().await?))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_series))
        .routes(routes!(get_series, remove_series))
        .routes(routes!(series_points, push_points))
        .routes(routes!(import_series))
        .routes(routes!(series_anomalies))
        .routes(routes!(forecast_series))
        .routes(routes!(list_goals, set_goal))
        .routes(routes!(get_goal, remove_goal))
        .routes(routes!(health_score))
}
