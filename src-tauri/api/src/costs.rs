//! `/api/v1/costs` (read): what the ledger adds up to. `summary` (totals, top spenders,
//! cost per successful task, cache savings, estimated share), `breakdown` (by calendar
//! bucket in the configured zone and by one dimension) and `export` (the ledger rows of
//! the span as CSV or JSON Lines, oldest first, streamed).
//!
//! A span is `period` (`this_month` by default) or `from`/`until`; filters narrow.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use flightdeck_engine::costs::export::{self, LedgerFormat};
use flightdeck_engine::costs::{
    BucketSize, CostBreakdown, CostFilter, CostSummary, CostsError, Dimension, NamedPeriod, Span,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiQuery};

impl From<CostsError> for ApiError {
    fn from(e: CostsError) -> Self {
        Self::from_engine(e.code(), &e)
    }
}

/// Declares a query struct with the span and filter parameters every costs route takes,
/// plus its own.
macro_rules! costs_query {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// A named period in the zone (default `this_month`); not with `from`.
            #[param(inline)]
            pub period: Option<NamedPeriod>,
            /// Start (RFC 3339), instead of `period`.
            pub from: Option<DateTime<Utc>>,
            /// End, exclusive (RFC 3339; default now).
            pub until: Option<DateTime<Utc>>,
            /// IANA zone of calendar periods and buckets (default `[costs] time_zone`).
            pub time_zone: Option<String>,
            /// Calls of this agent.
            pub agent: Option<String>,
            /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
            pub client: Option<String>,
            pub route: Option<String>,
            pub provider: Option<String>,
            /// `provider/model`, or a model name on any provider.
            pub model: Option<String>,
            /// A node id.
            pub node: Option<String>,
            pub tag: Option<String>,
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            fn span(&self) -> Span {
                Span {
                    period: self.period,
                    from: self.from,
                    until: self.until,
                    time_zone: given(&self.time_zone),
                }
            }

            fn filter(&self) -> CostFilter {
                CostFilter {
                    agent: given(&self.agent),
                    client: given(&self.client),
                    route: given(&self.route),
                    provider: given(&self.provider),
                    model: given(&self.model),
                    node: given(&self.node),
                    tag: given(&self.tag),
                }
            }
        }
    };
}

/// An empty parameter is the same as an absent one.
fn given(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

costs_query!(
    /// The span and filters of `GET /api/v1/costs/summary`.
    SummaryQuery {}
);

costs_query!(
    /// The span, filters and grouping of `GET /api/v1/costs/breakdown`.
    BreakdownQuery {
        /// Group by this dimension (absent: one row per bucket).
        #[param(inline)]
        by: Option<Dimension>,
        /// `hour`, `day`, `week`, `month` or `total` (default).
        #[param(inline)]
        bucket: Option<BucketSize>,
    }
);

costs_query!(
    /// The span, filters and format of `GET /api/v1/costs/export`.
    ExportQuery {
        /// `csv` (default) or `jsonl`.
        #[param(inline)]
        format: Option<LedgerFormat>,
    }
);

/// Totals of the span: every token kind, known cost, calls of unknown cost apart, cache
/// savings, the estimated share, cost per successful task and the top spenders.
#[utoipa::path(get, path = "/costs/summary", tag = "costs", operation_id = "costs_summary",
    params(SummaryQuery),
    responses(
        (status = 200, description = "The summary", body = CostSummary),
        (status = 400, description = "A bad span, zone or parameter: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<CostSummary>, ApiError> {
    Ok(Json(
        state.engine.costs().summary(&q.span(), q.filter()).await?,
    ))
}

/// The span by calendar bucket (in the zone) and by one dimension; rows by bucket, then
/// by cost.
#[utoipa::path(get, path = "/costs/breakdown", tag = "costs", operation_id = "costs_breakdown",
    params(BreakdownQuery),
    responses(
        (status = 200, description = "The breakdown", body = CostBreakdown),
        (status = 400, description = "A bad span, zone, dimension or bucket, or too many buckets: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn breakdown(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<BreakdownQuery>,
) -> Result<Json<CostBreakdown>, ApiError> {
    Ok(Json(
        state
            .engine
            .costs()
            .breakdown(&q.span(), q.filter(), q.by, q.bucket.unwrap_or_default())
            .await?,
    ))
}

/// Rows per page read from the ledger while streaming an export.
const EXPORT_PAGE: u32 = 2_000;

/// The calls of the span, oldest first: CSV (header row, exact amounts, an unknown cost
/// is an empty cell) or JSON Lines. Streamed, so any size of ledger exports.
#[utoipa::path(get, path = "/costs/export", tag = "costs", operation_id = "costs_export",
    params(ExportQuery),
    responses(
        (status = 200, description = "The calls: `text/csv`, or `application/jsonl` with `format=jsonl`",
            content((String = "text/csv"), (String = "application/jsonl"))),
        (status = 400, description = "A bad span, zone or format: `bad_request`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or_default();
    let (window, _) = state.engine.costs().window(&q.span())?;
    let filter = export::call_filter(&window, &q.filter());
    let ledger = state.engine.providers().ledger().clone();
    // The first page is read before answering, so a failure is an error status, not a cut
    // body.
    let first = ledger
        .list_oldest_first(filter.clone(), None, EXPORT_PAGE)
        .await?;
    let chunk = move |rows: &[(i64, flightdeck_engine::providers::CallRecord)], header: bool| {
        let records: Vec<_> = rows.iter().map(|(_, r)| r.clone()).collect();
        match format {
            LedgerFormat::Csv => export::csv_chunk(&records, header)
                .map_err(|e| std::io::Error::other(e.to_string())),
            LedgerFormat::Jsonl => Ok(export::jsonl_chunk(&records)),
        }
    };
    let head = chunk(&first, true)
        .map_err(|e| ApiError::from_engine(flightdeck_engine::error::ErrorCode::Internal, &e))?;
    let full = first.len() == EXPORT_PAGE as usize;
    let cursor = first.last().map(|(seq, _)| *seq);
    let rest = futures_util::stream::unfold((full, cursor), move |(more, cursor)| {
        let ledger = ledger.clone();
        let filter = filter.clone();
        async move {
            if !more {
                return None;
            }
            match ledger.list_oldest_first(filter, cursor, EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = (
                        rows.len() == EXPORT_PAGE as usize,
                        rows.last().map(|(s, _)| *s),
                    );
                    Some((chunk(&rows, false).map(Bytes::from), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), (false, None))),
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) }),
        rest,
    );
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let ext = match format {
        LedgerFormat::Csv => "csv",
        LedgerFormat::Jsonl => "jsonl",
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"flightdeck-ledger-{}-{}.{ext}\"",
        window.from.format("%Y%m%dT%H%M%SZ"),
        window.until.format("%Y%m%dT%H%M%SZ")
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(breakdown))
        .routes(routes!(export))
}
