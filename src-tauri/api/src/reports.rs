//! `/api/v1/reports`: the reports made (newest first) with the schedule; make one now (and
//! deliver it); one report; its HTML or PDF file; deliver one again.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flightdeck_engine::reports::settings::Schedule;
use flightdeck_engine::reports::{ReportFormat, ReportRecord, ReportRequest, ReportsError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiJson, ApiQuery};
use crate::page::LimitQuery;

impl From<ReportsError> for ApiError {
    fn from(e: ReportsError) -> Self {
        match &e {
            // The one 5xx whose message is for the caller: the report was made and kept, and
            // what the SMTP server or webhook answered (no secret: their reply, our URL-free
            // summary).
            ReportsError::DeliveryFailed(m) => Self::new(
                StatusCode::BAD_GATEWAY,
                flightdeck_engine::ErrorCode::DeliveryFailed,
                m.clone(),
            ),
            _ => Self::from_engine(e.code(), &e),
        }
    }
}

/// When reports are made on their own and where they go.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleInfo {
    pub schedule: Schedule,
    pub at_hour: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due: Option<DateTime<Utc>>,
    pub time_zone: String,
    pub folder: String,
    pub formats: Vec<ReportFormat>,
    /// Recipients (addresses).
    pub email_to: Vec<String>,
    pub webhook: bool,
}

/// Reports and the schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportList {
    pub items: Vec<ReportRecord>,
    pub schedule: ScheduleInfo,
}

/// The reports made, newest first, and the schedule.
#[utoipa::path(get, path = "/reports", tag = "reports",
    params(LimitQuery),
    responses(
        (status = 200, description = "Newest first", body = ReportList),
        (status = 400, description = "A bad limit: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list_reports(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<ReportList>, ApiError> {
    let limit = q.limit()?;
    let reports = state.engine.reports();
    let config = state.engine.config().current();
    Ok(Json(ReportList {
        items: reports.list(limit).await?,
        schedule: ScheduleInfo {
            schedule: config.reports.schedule,
            at_hour: config.reports.at_hour,
            next_due: reports.next_due(),
            time_zone: config.costs.time_zone.clone(),
            folder: reports.folder().display().to_string(),
            formats: config.reports.formats.clone(),
            email_to: config.reports.email_to.clone(),
            webhook: config.reports.webhook.is_some(),
        },
    }))
}

/// Makes a report now (the last complete day or week, or the one running with `to_date`),
/// and delivers it when asked.
#[utoipa::path(post, path = "/reports", tag = "reports",
    request_body = ReportRequest,
    responses(
        (status = 201, description = "Made (and delivered)", body = ReportRecord),
        (status = 400, description = "A bad request, or `deliver` with no delivery configured: `bad_request`", body = ApiErrorBody),
        (status = 502, description = "Made and kept, but a delivery failed after every attempt (the SMTP server or webhook refused it): `delivery_failed`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn make_report(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<ReportRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.engine.reports().generate(&body).await?),
    ))
}

/// One report.
#[utoipa::path(get, path = "/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "The report's id")),
    responses(
        (status = 200, description = "The report", body = ReportRecord),
        (status = 404, description = "No such report: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ReportRecord>, ApiError> {
    Ok(Json(state.engine.reports().get(&id).await?))
}

/// A report's file: `html` (self-contained) or `pdf`.
#[utoipa::path(get, path = "/reports/{id}/{format}", tag = "reports",
    params(
        ("id" = String, Path, description = "The report's id"),
        ("format" = ReportFormat, Path, description = "`html` or `pdf`")),
    responses(
        (status = 200, description = "The file", content((String = "text/html"), (Vec<u8> = "application/pdf"))),
        (status = 400, description = "Not html or pdf: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such report, or no file of that format: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn report_file(
    State(state): State<AppState>,
    Path((id, format)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let format = match format.as_str() {
        "html" => ReportFormat::Html,
        "pdf" => ReportFormat::Pdf,
        other => {
            return Err(ApiError::bad_request(format!(
                "`{other}`: a report file is html or pdf"
            )));
        }
    };
    let reports = state.engine.reports();
    let record = reports.get(&id).await?;
    let bytes = reports.file(&id, format).await?;
    let name = record
        .files
        .iter()
        .find(|f| f.format == format)
        .map_or_else(|| format!("{id}.{}", format.ext()), |f| f.name.clone());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// Delivers a report again (email and webhook, as configured).
#[utoipa::path(post, path = "/reports/{id}/deliver", tag = "reports",
    params(("id" = String, Path, description = "The report's id")),
    responses(
        (status = 200, description = "Delivered", body = ReportRecord),
        (status = 400, description = "No delivery configured: `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such report: `not_found`", body = ApiErrorBody),
        (status = 502, description = "A delivery failed after every attempt: `delivery_failed`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn deliver_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ReportRecord>, ApiError> {
    Ok(Json(state.engine.reports().deliver(&id).await?))
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reports, make_report))
        .routes(routes!(get_report))
        .routes(routes!(report_file))
        .routes(routes!(deliver_report))
}
