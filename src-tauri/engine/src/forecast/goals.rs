//! Goals on KPI series: a target value by a date, the progress so far, and the forecast's
//! probability of reaching it; a `goal_at_risk` event (feed, desktop notification) when the
//! probability falls below the goal's `alert_below`, once until it recovers.
//!
//! The probability reads the forecast at the due date as a normal distribution whose
//! spread is the 80 % interval's (the 95 % interval's beyond it, so heavier measured tails
//! count): the intervals are calibrated on the backtest, so this is as honest as they are.
//! A due date already past is decided by the value the series had then.
//!
//! Table `kpi_goals` (migration `kpi_series`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::kpi::{Kpis, check_name};
use super::{Forecast, ForecastError, ForecastEvent};
use crate::events::Event;
use crate::store::StoreError;
use crate::store::values::{time_from_db, time_to_db};

/// Which side of the target is success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Reach at least the target (revenue, orders).
    #[default]
    AtLeast,
    /// Stay at most at the target (tickets, churn).
    AtMost,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::AtLeast => "at_least",
            Self::AtMost => "at_most",
        }
    }
}

/// A goal to set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalRequest {
    /// 1-64 of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub series: String,
    pub target: f64,
    /// In the future (a past date is `400 bad_request`).
    pub due: DateTime<Utc>,
    #[serde(default)]
    pub direction: Direction,
    /// Notify when the probability of reaching it falls below this (0 to 1, default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub alert_below: Option<f64>,
}

/// A goal with where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Goal {
    pub name: String,
    pub series: String,
    pub target: f64,
    pub due: DateTime<Utc>,
    pub direction: Direction,
    pub alert_below: f64,
    /// The series' last value when the goal was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    pub created_at: DateTime<Utc>,
    /// The series' last value now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<f64>,
    /// How much of the way from the baseline to the target is done (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// The forecast's mean at the due date, and its 80 % interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_lo80: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_hi80: Option<f64>,
    /// The probability of reaching the goal (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Below `alert_below` (notified once until it recovers).
    pub at_risk: bool,
    /// How the probability was found, or why there is none.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// The standard normal distribution function.
fn phi(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
}

/// The probability that the value at the forecast row is on the goal's side of `target`.
pub(crate) fn probability(row: &super::ForecastRow, target: f64, direction: Direction) -> f64 {
    let half80 = (row.hi80 - row.lo80) / 2.0;
    let half95 = (row.hi95 - row.lo95) / 2.0;
    let d = target - row.mean;
    let sigma = if d.abs() <= half80 {
        half80 / 1.281_552
    } else {
        half95 / 1.959_964
    };
    let below = if sigma > 0.0 {
        phi(d / sigma)
    } else if row.mean < target {
        1.0
    } else {
        0.0
    };
    match direction {
        Direction::AtLeast => 1.0 - below,
        Direction::AtMost => below,
    }
}

type GoalRow = (
    String,
    String,
    f64,
    DateTime<Utc>,
    String,
    f64,
    Option<f64>,
    DateTime<Utc>,
    bool,
);

impl Kpis {
    /// Sets (or replaces) a goal and evaluates it.
    pub async fn set_goal(&self, req: GoalRequest) -> Result<Goal, ForecastError> {
        check_name(&req.name)?;
        if !req.target.is_finite() {
            return Err(ForecastError::BadInput(
                "target is not a finite number".into(),
            ));
        }
        let alert_below = req.alert_below.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&alert_below) {
            return Err(ForecastError::BadInput("alert_below is 0 to 1".into()));
        }
        let info = self.info(&req.series).await?;
        let now = self.clock_now();
        if req.due <= now {
            return Err(ForecastError::BadInput(format!(
                "due ({}) is not in the future",
                req.due
            )));
        }
        let baseline = info.last_value;
        let r = req.clone();
        self.store_handle()
            .write(move |tx| {
                let now = time_to_db(tx.now());
                tx.execute(
                    "INSERT INTO kpi_goals (name, series, target, due, direction, alert_below, \
                     baseline, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (name) DO UPDATE SET series = excluded.series, \
                     target = excluded.target, due = excluded.due, direction = excluded.direction, \
                     alert_below = excluded.alert_below, baseline = excluded.baseline, \
                     at_risk = 0, probability = NULL, evaluated_at = NULL",
                    rusqlite::params![
                        r.name,
                        r.series,
                        r.target,
                        time_to_db(r.due),
                        r.direction.as_str(),
                        alert_below,
                        baseline,
                        now
                    ],
                )?;
                Ok::<_, StoreError>(())
            })
            .await?;
        self.goal(&req.name).await
    }

    async fn goal_rows(&self, only: Option<String>) -> Result<Vec<GoalRow>, ForecastError> {
        Ok(self
            .store_handle()
            .read(move |db| {
                db.query_all(
                    "SELECT name, series, target, due, direction, alert_below, baseline, \
                     created_at, at_risk FROM kpi_goals WHERE ?1 IS NULL OR name = ?1 ORDER BY due, name",
                    [only],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            time_from_db(r.get(3)?)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            time_from_db(r.get(7)?)?,
                            r.get::<_, i64>(8)? != 0,
                        ))
                    },
                )
            })
            .await?)
    }

    /// Every goal, evaluated now (soonest due first).
    pub async fn goals(&self) -> Result<Vec<Goal>, ForecastError> {
        let mut out = Vec::new();
        for row in self.goal_rows(None).await? {
            out.push(self.evaluate(row).await?);
        }
        Ok(out)
    }

    /// One goal, evaluated now.
    pub async fn goal(&self, name: &str) -> Result<Goal, ForecastError> {
        let row = self
            .goal_rows(Some(name.to_string()))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ForecastError::NotFound(format!("no goal `{name}`")))?;
        self.evaluate(row).await
    }

    /// Removes a goal.
    pub async fn remove_goal(&self, name: &str) -> Result<(), ForecastError> {
        let n = name.to_string();
        let k = self
            .store_handle()
            .write(move |tx| tx.execute("DELETE FROM kpi_goals WHERE name = ?1", [&n]))
            .await?;
        if k == 1 {
            Ok(())
        } else {
            Err(ForecastError::NotFound(format!("no goal `{name}`")))
        }
    }

    /// Evaluates the goals on `series` (after its points changed).
    pub(crate) async fn evaluate_series(&self, series: &str) {
        let rows = match self.goal_rows(None).await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "could not read the goals");
                return;
            }
        };
        for row in rows.into_iter().filter(|r| r.1 == series) {
            if let Err(error) = self.evaluate(row).await {
                tracing::warn!(%error, series, "could not evaluate a goal");
            }
        }
    }

    async fn evaluate(&self, row: GoalRow) -> Result<Goal, ForecastError> {
        let (name, series, target, due, direction, alert_below, baseline, created_at, was_risk) =
            row;
        let direction = if direction == "at_most" {
            Direction::AtMost
        } else {
            Direction::AtLeast
        };
        let now = self.clock_now();
        let mut goal = Goal {
            name: name.clone(),
            series: series.clone(),
            target,
            due,
            direction,
            alert_below,
            baseline,
            created_at,
            current: None,
            progress: None,
            expected: None,
            expected_lo80: None,
            expected_hi80: None,
            probability: None,
            at_risk: was_risk,
            reason: String::new(),
            evaluated_at: Some(now),
        };
        let info = match self.info(&series).await {
            Ok(i) => i,
            Err(ForecastError::NotFound(m)) => {
                goal.reason = m;
                return Ok(goal);
            }
            Err(e) => return Err(e),
        };
        goal.current = info.last_value;
        if let (Some(b), Some(c)) = (baseline, info.last_value)
            && (target - b).abs() > f64::EPSILON
        {
            goal.progress = Some(((c - b) / (target - b)).clamp(0.0, 1.0));
        }
        let reached = |v: f64| match direction {
            Direction::AtLeast => v >= target,
            Direction::AtMost => v <= target,
        };
        if info.last.is_some_and(|l| l >= due) {
            // Decided: the value the series had at the due date.
            let points = self
                .points(&series, None, Some(due + chrono::Duration::seconds(1)))
                .await?;
            if let Some(p) = points.last() {
                goal.probability = Some(if reached(p.value) { 1.0 } else { 0.0 });
                goal.expected = Some(p.value);
                goal.reason = format!("decided: the series was {} on {}", p.value, p.ds);
            }
        } else {
            match self.forecast_until(&series, &info, due).await {
                Ok(f) => {
                    if let Some(r) = row_at(&f, due) {
                        goal.expected = Some(r.mean);
                        goal.expected_lo80 = Some(r.lo80);
                        goal.expected_hi80 = Some(r.hi80);
                        goal.probability = Some(probability(r, target, direction));
                        goal.reason = format!(
                            "the {} forecast for {} ({} model; 80 % interval {:.4}..{:.4}) read as \
                             a normal distribution with its measured spread",
                            info.name,
                            r.ds.format("%Y-%m-%d %H:%M"),
                            f.model,
                            r.lo80,
                            r.hi80
                        );
                    }
                }
                Err(e) => goal.reason = format!("no forecast: {e}"),
            }
        }
        // At risk: notified once, until it recovers.
        let risk = goal.probability.map(|p| p < alert_below);
        let changed = risk.is_some_and(|r| r != was_risk);
        let (p, at) = (goal.probability, time_to_db(now));
        let event = risk.filter(|_| changed).map(|r| ForecastEvent::Goal {
            goal: name.clone(),
            series: series.clone(),
            at_risk: r,
            probability: p.unwrap_or(0.0),
            alert_below,
            target,
            due,
        });
        let new_risk = risk.unwrap_or(was_risk);
        goal.at_risk = new_risk;
        let n = name.clone();
        self.store_handle()
            .write(move |tx| {
                tx.execute(
                    "UPDATE kpi_goals SET probability = ?2, evaluated_at = ?3, at_risk = ?4 \
                     WHERE name = ?1",
                    rusqlite::params![n, p, at, new_risk],
                )?;
                if let Some(e) = event.clone() {
                    tx.append_event(Event::Forecasts(e))?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(goal)
    }
}

/// The forecast row for `due`: the last at or before it (the first when none is).
fn row_at(f: &Forecast, due: DateTime<Utc>) -> Option<&super::ForecastRow> {
    f.rows
        .iter()
        .rev()
        .find(|r| r.ds <= due)
        .or_else(|| f.rows.first())
}
