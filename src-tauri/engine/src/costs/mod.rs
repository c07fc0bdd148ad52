//! Costs: what the ledger's calls add up to, by period and by agent, client, route,
//! provider, model, node or tag; cost per successful task, cache savings, the share of
//! estimated tokens, and calls of unknown cost counted apart (never as zero).
//!
//! The ledger itself is `providers::ledger` (one row per call); this module owns the
//! rollups kept beside it (`rollup`), calendar periods in the configured zone (`period`),
//! how a span is read from them (`segments`), the queries (`query`), budgets (`budget`,
//! `alerts`), billing exports set beside the ledger (`reconcile`) and re-pricing after a
//! price-table fix (`reprice`).
//! Invariants: money is exact Decimal end to end; a breakdown's cells add up to its total.

pub mod alerts;
pub mod budget;
pub mod burn;
pub mod export;
pub mod period;
pub mod query;
pub mod reconcile;
pub mod reprice;
pub mod rollup;
pub mod segments;
pub mod settings;

#[cfg(test)]
mod burn_tests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::config::ConfigHandle;
use crate::error::ErrorCode;
use crate::store::{Store, StoreError};

pub use budget::{AlertKind, BudgetAlert, BudgetStatus, Gate};
pub use period::{BucketSize, NamedPeriod};
pub use query::{CostFigures, CostFilter, Dimension, TaskCost, TokenCounts};

/// An event of the `costs` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CostEvent {
    /// A budget crossed a threshold or refused a call, the first time in its period.
    BudgetAlert(BudgetAlert),
    /// A billing export was imported (or removed: `removed`).
    Reconciliation {
        id: String,
        drifted_days: u32,
        #[serde(default)]
        removed: bool,
    },
    /// Ledger rows were re-priced (each a correction keeping its previous cost).
    Repriced {
        batch: String,
        corrected: u64,
        #[schema(value_type = String)]
        delta: rust_decimal::Decimal,
    },
}

/// Buckets a breakdown may have at most (an hourly breakdown of 90 days is 2160).
pub const MAX_BUCKETS: usize = 2_500;

/// Failures of cost queries.
#[derive(Debug, thiserror::Error)]
pub enum CostsError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnknownFormat(String),
    #[error("{0}")]
    InvalidRows(String),
    #[error("this file was imported already, as reconciliation {0}")]
    Duplicate(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CostsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::UnknownFormat(_) => ErrorCode::UnknownFormat,
            Self::InvalidRows(_) => ErrorCode::InvalidRows,
            Self::Duplicate(_) => ErrorCode::Conflict,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Store(e) => e.code(),
        }
    }
}

/// The span of a query: a named period, or `from`/`until` (`until` defaults to now), in a
/// time zone (the configured one by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Span {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<NamedPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// IANA zone of calendar periods and buckets (default `[costs] time_zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A span as resolved: instants and the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub time_zone: String,
    /// The named period, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<NamedPeriod>,
}

/// A key's share of the span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Spender {
    /// The agent, client, model (`provider/model`) or route; `""` for none.
    pub key: String,
    #[schema(value_type = String)]
    pub cost: rust_decimal::Decimal,
    pub calls: u64,
    pub unknown_cost_calls: u64,
}

/// The top spenders of a span by dimension (five each, by cost).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopSpenders {
    pub agents: Vec<Spender>,
    pub clients: Vec<Spender>,
    pub models: Vec<Spender>,
    pub routes: Vec<Spender>,
}

/// `GET /api/v1/costs/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostSummary {
    pub window: Window,
    pub filter: CostFilter,
    pub totals: CostFigures,
    /// Share of calls whose tokens were estimated, in % (absent with no call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_calls_pct: Option<f64>,
    /// Share of the known cost that comes from estimated tokens, in %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost_pct: Option<f64>,
    pub per_successful_task: TaskCost,
    pub top: TopSpenders,
}

/// One cell of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BreakdownRow {
    /// Start of the bucket (absent for `bucket=total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_start: Option<DateTime<Utc>>,
    /// The key of the dimension (absent without `by`; `""` for calls without one, e.g.
    /// no route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(flatten)]
    pub figures: CostFigures,
}

/// `GET /api/v1/costs/breakdown`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostBreakdown {
    pub window: Window,
    pub filter: CostFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Dimension>,
    pub bucket: BucketSize,
    /// By bucket, then by cost (highest first).
    pub rows: Vec<BreakdownRow>,
    pub totals: CostFigures,
}

/// A fired alert as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRecord {
    pub budget: String,
    pub kind: AlertKind,
    pub threshold: u32,
    pub period_start: DateTime<Utc>,
    #[schema(value_type = String)]
    pub spent: rust_decimal::Decimal,
    #[schema(value_type = String)]
    pub limit_usd: rust_decimal::Decimal,
    pub fired_at: DateTime<Utc>,
    /// When `[costs] alert_webhook` accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// Webhook deliveries tried.
    pub attempts: u32,
}

/// The costs of one node's ledger. Cheap to clone.
#[derive(Clone)]
pub struct Costs {
    store: Store,
    config: ConfigHandle,
    clock: SharedClock,
    gate: Option<Gate>,
    burn: std::sync::Arc<burn::Cache>,
}

impl std::fmt::Debug for Costs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Costs")
    }
}

fn pct(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| (part / whole * 10_000.0).round() / 100.0)
}

impl Costs {
    pub fn new(store: Store, config: ConfigHandle, clock: SharedClock) -> Self {
        Self {
            store,
            config,
            clock,
            gate: None,
            burn: std::sync::Arc::default(),
        }
    }

    /// With the node's budget gate (its live reservations in the budgets' status).
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Every budget with its figures: live from the gate on a running node; read from the
    /// ledger otherwise (nothing reserved then).
    pub async fn budgets(&self) -> Result<Vec<BudgetStatus>, CostsError> {
        let mut all = if let Some(g) = &self.gate {
            g.status()
        } else {
            let gate = Gate::detached(self.store.clone(), self.clock.clone(), self.config.clone());
            gate.refresh().await?;
            gate.status()
        };
        let now = self.clock.now();
        for b in &mut all {
            b.forecast = Some(self.burn.forecast(&self.store, b, now).await?);
        }
        Ok(all)
    }

    /// Fires the `projected` alert of each budget whose burn forecast reaches its limit
    /// before the period ends (once per period): the budgets it fired for.
    pub async fn check_projections(&self) -> Result<Vec<String>, CostsError> {
        let Some(gate) = &self.gate else {
            return Ok(Vec::new());
        };
        let mut fired = Vec::new();
        for b in self.budgets().await? {
            let message = b
                .forecast
                .as_ref()
                .and_then(|f| burn::projected_alert(&b, f));
            if let Some(m) = message
                && gate.fire_projected(&b.name, m)
            {
                fired.push(b.name);
            }
        }
        Ok(fired)
    }

    /// Checks the projections every `every` until `cancel` (the node's loop).
    pub fn spawn_projections(
        &self,
        every: std::time::Duration,
        tracker: &tokio_util::task::TaskTracker,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let costs = self.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = costs.clock.sleep(every) => {}
                    () = cancel.cancelled() => break,
                }
                if let Err(error) = costs.check_projections().await {
                    tracing::warn!(%error, "could not check the budgets' burn forecasts");
                }
            }
        });
    }

    /// Resolves `span` (default: this month in the configured zone).
    pub fn window(&self, span: &Span) -> Result<(Window, chrono_tz::Tz), CostsError> {
        let config = self.config.current();
        let zone_name = span
            .time_zone
            .clone()
            .unwrap_or_else(|| config.costs.time_zone.clone());
        let tz = settings::parse_zone(&zone_name).ok_or_else(|| {
            CostsError::BadRequest(format!(
                "time_zone `{zone_name}` is not an IANA time zone (e.g. UTC, Europe/Berlin)"
            ))
        })?;
        let now = self.clock.now();
        let (from, until, period) = match (span.period, span.from) {
            (Some(_), Some(_)) => {
                return Err(CostsError::BadRequest(
                    "give either period or from/until, not both".into(),
                ));
            }
            (Some(p), None) => {
                if span.until.is_some() {
                    return Err(CostsError::BadRequest(
                        "give either period or from/until, not both".into(),
                    ));
                }
                let (f, u) = p.span(now, tz, config.costs.week_start);
                (f, u, Some(p))
            }
            (None, Some(f)) => (f, span.until.unwrap_or(now), None),
            (None, None) if span.until.is_some() => {
                return Err(CostsError::BadRequest("until needs from".into()));
            }
            (None, None) => {
                let p = NamedPeriod::ThisMonth;
                let (f, u) = p.span(now, tz, config.costs.week_start);
                (f, u, Some(p))
            }
        };
        if until <= from {
            return Err(CostsError::BadRequest(format!(
                "until ({until}) must be after from ({from})"
            )));
        }
        Ok((
            Window {
                from,
                until,
                time_zone: tz.name().to_string(),
                period,
            },
            tz,
        ))
    }

    /// Totals, top spenders, cost per successful task over `span`.
    pub async fn summary(
        &self,
        span: &Span,
        filter: CostFilter,
    ) -> Result<CostSummary, CostsError> {
        let (window, _) = self.window(span)?;
        let w = window.clone();
        let f = filter.clone();
        let (totals, top, per_task) = self
            .store
            .read(move |db| {
                let bounds = [w.from, w.until];
                // One read by agent × client × model × route gives the totals and the four
                // top lists.
                let dims = [
                    Dimension::Agent,
                    Dimension::Client,
                    Dimension::Model,
                    Dimension::Route,
                ];
                let cells = query::cells_by(db, &bounds, &dims, &f)?;
                let mut totals = CostFigures::default();
                let mut by: [std::collections::HashMap<String, CostFigures>; 4] =
                    Default::default();
                for c in &cells {
                    totals.add(&c.figures);
                    for (k, map) in c.key.split('\u{1f}').zip(by.iter_mut()) {
                        map.entry(k.to_string()).or_default().add(&c.figures);
                    }
                }
                let top = |map: &std::collections::HashMap<String, CostFigures>,
                           skip_none: bool| {
                    let mut v: Vec<Spender> = map
                        .iter()
                        .filter(|(k, _)| !(skip_none && k.is_empty()))
                        .map(|(k, f)| Spender {
                            key: k.clone(),
                            cost: f.cost.normalize(),
                            calls: f.calls,
                            unknown_cost_calls: f.unknown_cost_calls,
                        })
                        .collect();
                    v.sort_by(|a, b| {
                        b.cost
                            .cmp(&a.cost)
                            .then(b.calls.cmp(&a.calls))
                            .then(a.key.cmp(&b.key))
                    });
                    v.truncate(5);
                    v
                };
                let top = TopSpenders {
                    agents: top(&by[0], true),
                    clients: top(&by[1], false),
                    models: top(&by[2], false),
                    routes: top(&by[3], true),
                };
                let totals = totals.normalized();
                let per_task = query::task_cost(db, w.from, w.until, &f)?;
                Ok::<_, StoreError>((totals, top, per_task))
            })
            .await?;
        use rust_decimal::prelude::ToPrimitive;
        Ok(CostSummary {
            estimated_calls_pct: pct(totals.estimated_calls as f64, totals.calls as f64),
            estimated_cost_pct: pct(
                totals.estimated_cost.to_f64().unwrap_or(0.0),
                totals.cost.to_f64().unwrap_or(0.0),
            ),
            window,
            filter,
            totals,
            per_successful_task: per_task,
            top,
        })
    }

    /// The span cut into `bucket`s and by `by`.
    pub async fn breakdown(
        &self,
        span: &Span,
        filter: CostFilter,
        by: Option<Dimension>,
        bucket: BucketSize,
    ) -> Result<CostBreakdown, CostsError> {
        let (window, tz) = self.window(span)?;
        let ws = self.config.current().costs.week_start;
        let bounds = period::boundaries(window.from, window.until, bucket, tz, ws, MAX_BUCKETS)
            .ok_or_else(|| {
                CostsError::BadRequest(format!(
                    "more than {MAX_BUCKETS} buckets: pick a larger bucket or a shorter span"
                ))
            })?;
        let f = filter.clone();
        let b = bounds.clone();
        let cells = self
            .store
            .read(move |db| query::cells(db, &b, by, &f))
            .await?;
        let mut totals = CostFigures::default();
        let mut rows: Vec<(usize, BreakdownRow)> = cells
            .into_iter()
            .map(|c| {
                totals.add(&c.figures);
                (
                    c.bucket,
                    BreakdownRow {
                        bucket_start: (bucket != BucketSize::Total)
                            .then(|| bounds.get(c.bucket).copied())
                            .flatten(),
                        key: by.map(|_| c.key),
                        figures: c.figures,
                    },
                )
            })
            .collect();
        let totals = totals.normalized();
        rows.sort_by(|(ia, a), (ib, b)| {
            ia.cmp(ib)
                .then(b.figures.cost.cmp(&a.figures.cost))
                .then(b.figures.calls.cmp(&a.figures.calls))
                .then(a.key.cmp(&b.key))
        });
        Ok(CostBreakdown {
            window,
            filter,
            by,
            bucket,
            rows: rows.into_iter().map(|(_, r)| r).collect(),
            totals,
        })
    }

    /// The alerts fired, newest first.
    pub async fn alerts(&self, limit: u32) -> Result<Vec<AlertRecord>, CostsError> {
        Ok(self
            .store
            .read(move |db| {
                db.query_all(
                    "SELECT budget, kind, threshold, period_start, spent, limit_usd, fired_at, \
                     delivered_at, attempts FROM budget_alerts ORDER BY fired_at DESC, budget \
                     LIMIT ?1",
                    [limit],
                    |r| {
                        use crate::store::values::{money_from_db, time_from_db};
                        let kind: String = r.get(1)?;
                        Ok(AlertRecord {
                            budget: r.get(0)?,
                            kind: AlertKind::parse(&kind),
                            threshold: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                            period_start: time_from_db(r.get(3)?)?,
                            spent: money_from_db(&r.get::<_, String>(4)?)?,
                            limit_usd: money_from_db(&r.get::<_, String>(5)?)?,
                            fired_at: time_from_db(r.get(6)?)?,
                            delivered_at: r
                                .get::<_, Option<i64>>(7)?
                                .map(time_from_db)
                                .transpose()?,
                            attempts: u32::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
                        })
                    },
                )
            })
            .await?)
    }

    /// The same totals straight from the ledger, without the rollups (a check).
    pub async fn scan(&self, span: &Span, filter: CostFilter) -> Result<CostFigures, CostsError> {
        let (w, _) = self.window(span)?;
        Ok(self
            .store
            .read(move |db| query::scan(db, w.from, w.until, &filter))
            .await?)
    }
}
