//! `/api/v1/charts/{chart}`: plotters charts as SVG (for the UI, in its theme) or PNG (for
//! reports): `costs` (cumulative spend stacked by a dimension, with the budgets' limits),
//! `budget` (a budget's burn forecast), `forecast` (a series' forecast with its bands and
//! anomalies). The file name picks the format: `costs.svg`, `forecast.png`...

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::charts::{self, Format, Theme};
use flightdeck_engine::costs::{BucketSize, CostFilter, Dimension, NamedPeriod, Span};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiErrorBody, ApiQuery};

impl From<charts::ChartError> for ApiError {
    fn from(e: charts::ChartError) -> Self {
        Self::from_engine(e.code(), &e)
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChartQuery {
    /// `light` (default) or `dark`.
    pub theme: Option<Theme>,
    /// Pixels, 200 to 4000 (default 900).
    #[param(minimum = 200, maximum = 4000)]
    pub width: Option<u32>,
    /// Pixels, 120 to 4000 (default 360).
    #[param(minimum = 120, maximum = 4000)]
    pub height: Option<u32>,
    /// `forecast`: the series.
    pub series: Option<String>,
    /// `forecast`: steps ahead (default by frequency).
    #[param(minimum = 1, maximum = 10000)]
    pub horizon: Option<usize>,
    /// `budget`: the budget.
    pub budget: Option<String>,
    /// `costs`: the dimension stacked (default `agent`).
    pub by: Option<Dimension>,
    /// `costs`: the period (default `this_month`).
    pub period: Option<NamedPeriod>,
}

/// A chart as SVG or PNG.
#[utoipa::path(get, path = "/charts/{chart}", tag = "forecasts",
    params(
        ("chart" = String, Path, description = "`costs`, `budget` or `forecast`, with `.svg` or `.png`",
            pattern = "^(costs|budget|forecast)\\.(svg|png)$"),
        ChartQuery),
    responses(
        (status = 200, description = "The chart", content((String = "image/svg+xml"), (Vec<u8> = "image/png"))),
        (status = 400, description = "An unknown chart, a missing or bad parameter, a series too short to forecast (`series_too_short`): `bad_request`", body = ApiErrorBody),
        (status = 404, description = "No such series or budget: `not_found`", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn chart(
    State(state): State<AppState>,
    Path(file): Path<String>,
    ApiQuery(q): ApiQuery<ChartQuery>,
) -> Result<Response, ApiError> {
    let (name, format) = match file.rsplit_once('.') {
        Some((n, "svg")) => (n, Format::Svg),
        Some((n, "png")) => (n, Format::Png),
        _ => {
            return Err(ApiError::bad_request(format!(
                "`{file}`: a chart is `costs`, `budget` or `forecast` with `.svg` or `.png`"
            )));
        }
    };
    if q.horizon.is_some_and(|h| !(1..=10_000).contains(&h)) {
        return Err(ApiError::bad_request("horizon is 1 to 10000"));
    }
    let chart = match name {
        "forecast" => {
            let series = q
                .series
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("`forecast` needs `series`"))?;
            let f = state
                .engine
                .kpis()
                .forecast(series, q.horizon, None)
                .await?;
            charts::build::forecast(&f)
        }
        "budget" => {
            let budget = q
                .budget
                .as_deref()
                .ok_or_else(|| ApiError::bad_request("`budget` needs `budget`"))?;
            let b = state
                .engine
                .costs()
                .budgets()
                .await?
                .into_iter()
                .find(|b| b.name == budget)
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::NOT_FOUND,
                        flightdeck_engine::ErrorCode::NotFound,
                        format!("no budget `{budget}`"),
                    )
                })?;
            charts::build::burn(&b)
        }
        "costs" => {
            let span = Span {
                period: Some(q.period.unwrap_or(NamedPeriod::ThisMonth)),
                ..Span::default()
            };
            let by = q.by.unwrap_or(Dimension::Agent);
            let b = state
                .engine
                .costs()
                .breakdown(&span, CostFilter::default(), Some(by), BucketSize::Day)
                .await?;
            let budgets = state.engine.costs().budgets().await?;
            charts::build::costs(&b, &budgets, 6)
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "no chart `{other}`: `costs`, `budget` or `forecast`"
            )));
        }
    };
    let (w, h) = (q.width.unwrap_or(900), q.height.unwrap_or(360));
    let theme = q.theme.unwrap_or_default();
    let bytes = tokio::task::spawn_blocking(move || charts::render(&chart, theme, format, w, h))
        .await
        .map_err(|e| ApiError::internal(format!("the chart task failed: {e}")))??;
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chart))
}
