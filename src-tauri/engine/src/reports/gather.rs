//! The figures of a report, read from the domains: spend (with the period before), top
//! agents and models, budgets with their projected exhaustion, approvals, health incidents,
//! KPIs with their forecasts, goals and the health score; and its charts as PNG.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Period, Reports, ReportsError};
use crate::approvals::store::PeriodStats;
use crate::charts::{self, Format, Theme};
use crate::costs::{BucketSize, BudgetStatus, CostFilter, Dimension, Span, Spender};
use crate::forecast::goals::Goal;
use crate::forecast::kpi::Anomaly;
use crate::forecast::score::HealthScore;
use crate::health::history::HealthTransition;

/// A chart of a report.
#[derive(Debug, Clone)]
pub struct Figure {
    pub caption: String,
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// One KPI in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KpiLine {
    pub name: String,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<DateTime<Utc>>,
    /// The model and the next step's forecast with its 80 % interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<(DateTime<Utc>, f64, f64, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage80: Option<f64>,
    /// Why there is no forecast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Anomalies flagged on points of the period.
    pub anomalies: Vec<Anomaly>,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub title: String,
    pub period: Period,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub time_zone: String,
    pub generated_at: DateTime<Utc>,
    pub node_id: String,
    pub spend: Decimal,
    pub previous_spend: Decimal,
    pub calls: u64,
    pub unknown_cost_calls: u64,
    pub top_agents: Vec<Spender>,
    pub top_models: Vec<Spender>,
    pub budgets: Vec<BudgetStatus>,
    pub approvals: PeriodStats,
    pub incidents: Vec<HealthTransition>,
    pub kpis: Vec<KpiLine>,
    pub goals: Vec<Goal>,
    pub score: Option<HealthScore>,
    pub figures: Vec<Figure>,
}

impl ReportData {
    /// The change of spend against the period before, in %.
    pub fn spend_change_pct(&self) -> Option<f64> {
        let prev = self.previous_spend.to_f64()?;
        let now = self.spend.to_f64()?;
        (prev > 0.0).then(|| (now - prev) / prev * 100.0)
    }
}

const CHART_W: u32 = 1000;
const CHART_H: u32 = 380;

fn png(chart: &charts::Chart, caption: String) -> Result<Figure, ReportsError> {
    Ok(Figure {
        caption,
        png: charts::render(chart, Theme::Light, Format::Png, CHART_W, CHART_H)?,
        width: CHART_W,
        height: CHART_H,
    })
}

impl Reports {
    /// Reads the figures of `[from, until)`.
    pub(crate) async fn gather(
        &self,
        period: Period,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<ReportData, ReportsError> {
        let p = &self.inner;
        let config = p.config.current();
        let span = Span {
            period: None,
            from: Some(from),
            until: Some(until),
            time_zone: None,
        };
        let summary = p.costs.summary(&span, CostFilter::default()).await?;
        let length = until - from;
        let before = Span {
            period: None,
            from: Some(from - length),
            until: Some(from),
            time_zone: None,
        };
        let previous = p.costs.summary(&before, CostFilter::default()).await?;
        let by_agent = p
            .costs
            .breakdown(
                &span,
                CostFilter::default(),
                Some(Dimension::Agent),
                BucketSize::Day,
            )
            .await?;
        let budgets = p.costs.budgets().await?;
        let approvals = p.approvals.period_stats(from, until).await?;
        let incidents = crate::health::history::between(&p.store, from, until, 200).await?;
        // No spend, no chart: the tile already says $0.
        let mut figures = Vec::new();
        if !by_agent.rows.is_empty() {
            figures.push(png(
                &charts::build::costs(&by_agent, &[], 6),
                "Spend by agent over the period, cumulative".into(),
            )?);
        }
        for b in &budgets {
            if b.forecast.as_ref().is_some_and(|f| !f.path.is_empty()) {
                figures.push(png(
                    &charts::build::burn(b),
                    format!(
                        "Budget {}: projected spend to the end of its period",
                        b.name
                    ),
                )?);
            }
        }
        let mut kpis = Vec::new();
        for s in p.kpis.list().await? {
            let mut line = KpiLine {
                name: s.name.clone(),
                unit: s.unit.clone(),
                last: s.last_value,
                last_at: s.last,
                model: None,
                next: None,
                coverage80: None,
                note: None,
                anomalies: Vec::new(),
            };
            match p.kpis.forecast(&s.name, None, None).await {
                Ok(f) => {
                    line.model = Some(f.forecast.model.clone());
                    line.coverage80 = f.forecast.coverage80;
                    line.next = f
                        .forecast
                        .rows
                        .first()
                        .map(|r| (r.ds, r.mean, r.lo80, r.hi80));
                    line.anomalies = f
                        .anomalies
                        .iter()
                        .filter(|a| a.ds >= from && a.ds < until)
                        .cloned()
                        .collect();
                    figures.push(png(
                        &charts::build::forecast(&f),
                        format!("{}: history, forecast and 80/95 % intervals", s.name),
                    )?);
                }
                Err(e) => line.note = Some(e.to_string()),
            }
            kpis.push(line);
        }
        let goals = p.kpis.goals().await?;
        let score = if config.health_score.is_empty() {
            None
        } else {
            Some(p.kpis.health_score(&config.health_score).await?)
        };
        let top = |mut v: Vec<Spender>| {
            v.truncate(5);
            v
        };
        Ok(ReportData {
            title: format!(
                "Flightdeck {} report, {}",
                period.as_str(),
                period.label(from, until, p.tz(&config))
            ),
            period,
            from,
            until,
            time_zone: config.costs.time_zone.clone(),
            generated_at: p.clock.now(),
            node_id: p.node_id.clone(),
            spend: summary.totals.cost,
            previous_spend: previous.totals.cost,
            calls: summary.totals.calls,
            unknown_cost_calls: summary.totals.unknown_cost_calls,
            top_agents: top(summary.top.agents),
            top_models: top(summary.top.models),
            budgets,
            approvals,
            incidents,
            kpis,
            goals,
            score,
            figures,
        })
    }
}
