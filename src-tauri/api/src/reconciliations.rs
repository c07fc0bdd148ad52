//! `/api/v1/reconciliations`: import a provider's billing export (CSV, in the JSON body)
//! and see it beside the ledger per UTC day and model, drift flagged; list, show (compared
//! with the ledger as it is now), remove. `/api/v1/costs/price-gaps` lists the models whose
//! calls have no cost; `POST /api/v1/costs/reprice` (admin) recomputes ledger costs after a
//! price-table fix, each change recorded as a correction.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use flightdeck_engine::costs::reconcile::{
    BillFormat, ImportOptions, Reconciliation, ReconciliationSummary,
};
use flightdeck_engine::costs::reprice::{PriceGap, RepriceReport, RepriceRequest};
use flightdeck_engine::identity::Actor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::LimitQuery;

/// A billing export to import.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// The file's text (CSV with a header row).
    #[schema(min_length = 1)]
    pub csv: String,
    /// Detected from the header when absent.
    #[serde(default)]
    pub format: Option<BillFormat>,
    /// The configured providers to compare with (see docs/costs.md for the default).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Drift threshold in % (default `[costs] drift_pct`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub drift_pct: Option<f64>,
    #[serde(default)]
    #[schema(max_length = 255)]
    pub file_name: Option<String>,
}

/// Imports an export: parsed whole first (nothing is imported when a row is bad), then
/// compared with the ledger.
#[utoipa::path(post, path = "/reconciliations", tag = "costs",
    request_body = ImportBody,
    responses(
        (status = 201, description = "Imported, and set beside the ledger", body = Reconciliation),
        (status = 400, description = "An unknown format (`unknown_format`, naming the headers each format needs), bad rows (`invalid_rows`, with their line numbers), or a bad option (`bad_request`)", body = ApiErrorBody),
        (status = 409, description = "This file was imported already: `conflict`, naming it", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<ImportBody>,
) -> Result<(StatusCode, Json<Reconciliation>), ApiError> {
    let options = ImportOptions {
        format: body.format,
        providers: body.providers,
        drift_pct: body.drift_pct,
        file_name: body.file_name,
    };
    let rec = state
        .engine
        .costs()
        .import_bill(&body.csv, options, &actor.label())
        .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

/// Reconciliations, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationList {
    pub items: Vec<ReconciliationSummary>,
}

/// The imported exports with their totals against the ledger now.
#[utoipa::path(get, path = "/reconciliations", tag = "costs",
    params(LimitQuery),
    responses(
        (status = 200, description = "Newest first", body = ReconciliationList),
        (status = 400, description = "A bad limit: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<ReconciliationList>, ApiError> {
    let limit = q.limit()?;
    Ok(Json(ReconciliationList {
        items: state.engine.costs().reconciliations(limit).await?,
    }))
}

/// One reconciliation: per day and per day × model, billed against the ledger as it is now.
#[utoipa::path(get, path = "/reconciliations/{id}", tag = "costs",
    params(("id" = String, Path, description = "The reconciliation's id")),
    responses(
        (status = 200, description = "The reconciliation", body = Reconciliation),
        (status = 404, description = "No such reconciliation: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Reconciliation>, ApiError> {
    Ok(Json(state.engine.costs().reconciliation(&id).await?))
}

/// Removes an imported export (so a corrected file can be imported again); the ledger is
/// not touched.
#[utoipa::path(delete, path = "/reconciliations/{id}", tag = "costs",
    params(("id" = String, Path, description = "The reconciliation's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such reconciliation: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.engine.costs().remove_reconciliation(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Models with calls of unknown cost.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceGapList {
    pub items: Vec<PriceGap>,
}

/// Provider/models whose calls have no cost (no price in force when they ran), most calls
/// first, with whether the price table has a price for them now.
#[utoipa::path(get, path = "/costs/price-gaps", tag = "costs",
    responses((status = 200, description = "The gaps", body = PriceGapList)),
    security(("bearer" = [])))]
pub async fn price_gaps(State(state): State<AppState>) -> Result<Json<PriceGapList>, ApiError> {
    Ok(Json(PriceGapList {
        items: state.engine.costs().price_gaps().await?,
    }))
}

/// Recomputes the cost of the ledger rows in scope with the prices in force now (at each
/// call's time); every change is recorded as a correction keeping the previous cost.
/// `dry_run` shows what would change. Admin scope.
#[utoipa::path(post, path = "/costs/reprice", tag = "costs",
    request_body = RepriceRequest,
    responses(
        (status = 200, description = "What changed (or would)", body = RepriceReport),
        (status = 400, description = "`until` not after `from`, or a bad reason: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "Not a configured provider: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn reprice(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<RepriceRequest>,
) -> Result<Json<RepriceReport>, ApiError> {
    Ok(Json(
        state.engine.costs().reprice(&body, &actor.label()).await?,
    ))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import, list))
        .routes(routes!(get_one, remove))
        .routes(routes!(price_gaps))
        .routes(routes!(reprice))
}
