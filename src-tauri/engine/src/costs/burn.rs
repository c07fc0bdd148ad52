//! Cost burn: the spend of each budget to the end of its period, with 80 % and 95 %
//! intervals, and when it runs out.
//!
//! The model is refitted once an hour per budget (`Cache`) on the budget's hourly spend
//! over the last four weeks (the `cost_hourly` rollups, so a few milliseconds); the
//! projection is recomputed from the live `spent` on every read, which is a sum over the
//! cached hourly forecast (cheap enough for every call).
//!
//! Candidates, chosen by a rolling-origin backtest of the *cumulative* spend (origins a
//! day apart at the current hour of the day, horizons of 6 hours to 2 weeks): the mean of
//! the same hour of the last four weeks (`hour_of_week`, a weekly pattern), of the last
//! seven days (`hour_of_day`), and the last week's flat rate (`flat`, what other tools draw).
//! The intervals are the winner's backtest ratios actual / forecast of cumulative spend at
//! the nearest measured horizon (split-conformal quantiles; beyond two weeks the two-week
//! ratios, a constant relative error), and their coverage is measured with each origin left
//! out in turn. The exhaustion date's interval is where the interval's edges reach the
//! limit.
//!
//! Must never: state an interval that was not measured (too little history: no forecast,
//! and why), or count the spent part of the period as uncertain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::BudgetStatus;
use super::query::{self, CostFilter};
use crate::store::{Store, StoreError};

/// Hours of history read.
pub const HISTORY_HOURS: usize = 28 * 24;
/// Hours of history needed for any forecast.
pub const MIN_HISTORY_HOURS: usize = 48;
/// How far ahead a budget without an end is projected.
const OPEN_HORIZON_HOURS: usize = 31 * 24;
/// Backtest horizons (hours of cumulative spend).
const HORIZONS: [usize; 5] = [6, 24, 72, 168, 336];
/// Backtest origins at most (a day apart).
const MAX_ORIGINS: usize = 26;
/// Points of the projected path at most.
const PATH_POINTS: usize = 120;
/// The ratio of a normal distribution's 95 % and 80 % two-sided quantiles.
const TAIL: f64 = 1.959_964 / 1.281_552;

/// Spend at an instant, with intervals (USD): a forecast row.
pub type BurnPoint = crate::forecast::ForecastRow;

/// Whether and when the limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExhaustionStatus {
    /// Spent is at the limit already.
    Exhausted,
    /// The mean forecast reaches the limit before the period ends.
    Projected,
    /// It does not, within the period (or the next 31 days for a budget without an end).
    NotWithinPeriod,
}

/// When the limit is reached: the mean forecast's instant and the intervals' (the earliest
/// is where the upper edge reaches the limit; no latest: the lower edge does not within
/// the period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Exhaustion {
    pub status: ExhaustionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest80: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest80: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest95: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest95: Option<DateTime<Utc>>,
}

/// A budget's projected spend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BurnForecast {
    /// `hour_of_week`, `hour_of_day` or `flat`; `none` with `reason` saying why.
    pub model: String,
    pub reason: String,
    pub computed_at: DateTime<Utc>,
    /// Hours of spend it was fitted on.
    pub history_hours: usize,
    /// Backtest origins and the share of held-out cumulative spends inside the 80 % / 95 %
    /// intervals (each origin's with ratios from the others).
    pub backtest_origins: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage80: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage95: Option<f64>,
    /// Spend at the end of the period (or of the projection), spent included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<BurnPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhaustion: Option<Exhaustion>,
    /// Cumulative spend from now to the end, at most 120 points.
    pub path: Vec<BurnPoint>,
}

/// Ratio quantiles actual / forecast of cumulative spend: lo95, lo80, hi80, hi95.
type Ratios = [f64; 4];
/// A backtest pair: origin index, horizon, actual and forecast cumulative spend.
type Pair = (usize, usize, f64, f64);
/// A budget's model: the definition it was fitted for, the hour, the fit.
type Fitted = (String, DateTime<Utc>, Arc<Result<Model, String>>);

/// A fitted model of a budget's hourly spend.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    name: &'static str,
    reason: String,
    history: usize,
    /// Forecast spend of each hour from the one after the history on.
    hourly: Vec<f64>,
    ratios: Vec<(usize, Ratios)>,
    origins: usize,
    coverage: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Week,
    Day,
    Flat,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Week => "hour_of_week",
            Self::Day => "hour_of_day",
            Self::Flat => "flat",
        }
    }

    /// The forecast of hour `t` from what precedes `o` in `h`.
    fn predict(self, h: &[f64], o: usize, t: usize) -> f64 {
        let seasonal = |lag: usize, keep: usize| {
            let mut k = (t - o) / lag + 1;
            let mut sum = 0.0;
            let mut n = 0;
            while n < keep && k * lag <= t {
                sum += h[t - k * lag];
                n += 1;
                k += 1;
            }
            if n == 0 { 0.0 } else { sum / n as f64 }
        };
        match self {
            Self::Week => seasonal(168, 4),
            Self::Day => seasonal(24, 7),
            Self::Flat => {
                let from = o.saturating_sub(168);
                if o == from {
                    0.0
                } else {
                    h[from..o].iter().sum::<f64>() / (o - from) as f64
                }
            }
        }
    }
}

/// Sample quantile with the split-conformal correction, toward the outside.
fn quantile(sorted: &[f64], p: f64, upper: bool) -> f64 {
    let n = sorted.len();
    let k = if upper {
        ((n as f64 + 1.0) * p).ceil() as usize
    } else {
        ((n as f64 + 1.0) * p).floor() as usize
    };
    sorted[k.clamp(1, n) - 1]
}

/// Ratio quantiles of `r` (not empty): the 95 % interval at least the 80 % one widened as
/// for a normal distribution.
fn ratios_of(r: &mut [f64]) -> Ratios {
    r.sort_by(f64::total_cmp);
    let lo80 = quantile(r, 0.10, false).min(1.0);
    let hi80 = quantile(r, 0.90, true).max(1.0);
    let lo95 = quantile(r, 0.025, false)
        .min(1.0 - (1.0 - lo80) * TAIL)
        .max(0.0);
    let hi95 = quantile(r, 0.975, true).max(1.0 + (hi80 - 1.0) * TAIL);
    [lo95, lo80, hi80, hi95]
}

/// Fits the burn model on `h` (the hourly spend up to the current hour) for `ahead` hours.
pub(crate) fn fit(h: &[f64], ahead: usize) -> Result<Model, String> {
    let first = h.iter().position(|v| *v > 0.0).unwrap_or(h.len());
    let h = &h[first..];
    let n = h.len();
    if n < MIN_HISTORY_HOURS {
        return Err(format!(
            "{n} hours of spend: a projection needs at least {MIN_HISTORY_HOURS}"
        ));
    }
    let mut kinds = vec![Kind::Flat, Kind::Day];
    let min_origin = if n >= 2 * 168 + 24 {
        kinds.push(Kind::Week);
        168
    } else {
        24
    };
    let origins: Vec<usize> = (1..=MAX_ORIGINS)
        .map(|j| n.saturating_sub(24 * j))
        .filter(|o| *o >= min_origin)
        .collect();
    // Cumulative forecasts and actuals at each origin and horizon, per model.
    let score = |k: Kind| -> (f64, Vec<Pair>) {
        let mut err = 0.0;
        let mut pairs = Vec::new();
        for (oi, &o) in origins.iter().enumerate() {
            let mut p = 0.0;
            let mut a = 0.0;
            let mut g = 0;
            for &hz in &HORIZONS {
                if o + hz > n {
                    break;
                }
                while g < hz {
                    p += k.predict(h, o, o + g);
                    a += h[o + g];
                    g += 1;
                }
                err += (a - p).abs() / hz as f64;
                pairs.push((oi, hz, a, p));
            }
        }
        (err, pairs)
    };
    let mut best: Option<(Kind, f64, Vec<Pair>)> = None;
    let mut scores = Vec::new();
    for k in kinds {
        let (e, pairs) = score(k);
        scores.push(format!("{} {:.4}", k.name(), e / pairs.len().max(1) as f64));
        if best.as_ref().is_none_or(|b| e < b.1) {
            best = Some((k, e, pairs));
        }
    }
    let Some((kind, _, pairs)) = best else {
        return Err("no model".into());
    };
    if origins.len() < 4 {
        return Err(format!(
            "{n} hours of spend give {} backtest origins: at least 4 are needed",
            origins.len()
        ));
    }
    // Ratios actual / forecast per horizon, from the origins in `keep`.
    let ratios = |keep: &dyn Fn(usize) -> bool| -> Vec<(usize, Ratios)> {
        HORIZONS
            .iter()
            .filter_map(|&hz| {
                let mut r: Vec<f64> = pairs
                    .iter()
                    .filter(|(oi, g, _, p)| *g == hz && *p > 0.0 && keep(*oi))
                    .map(|(_, _, a, p)| a / p)
                    .collect();
                (r.len() >= 3).then(|| (hz, ratios_of(&mut r)))
            })
            .collect()
    };
    let all = ratios(&|_| true);
    if all.is_empty() {
        return Err("the backtest forecast no spend: nothing to scale an interval by".into());
    }
    // Coverage, each origin left out of the ratios it is judged by.
    let (mut in80, mut in95, mut total) = (0usize, 0usize, 0usize);
    for oi in 0..origins.len() {
        let others = ratios(&|x| x != oi);
        for (_, hz, a, p) in pairs.iter().filter(|x| x.0 == oi && x.3 > 0.0) {
            let Some(q) = others.iter().find(|x| x.0 == *hz).map(|x| x.1) else {
                continue;
            };
            let r = a / p;
            total += 1;
            in80 += usize::from(r >= q[1] && r <= q[2]);
            in95 += usize::from(r >= q[0] && r <= q[3]);
        }
    }
    let coverage = (total > 0).then(|| (in80 as f64 / total as f64, in95 as f64 / total as f64));
    let hourly = (0..=ahead).map(|i| kind.predict(h, n, n + i)).collect();
    Ok(Model {
        name: kind.name(),
        reason: format!(
            "lowest mean hourly error of cumulative spend over {} origins (horizons {:?} h): {}",
            origins.len(),
            all.iter().map(|x| x.0).collect::<Vec<_>>(),
            scores.join(", ")
        ),
        history: n,
        hourly,
        ratios: all,
        origins: origins.len(),
        coverage,
    })
}

impl Model {
    /// The ratios for a cumulative spend `hz` hours ahead.
    fn ratios_at(&self, hz: f64) -> Ratios {
        let mut q = self.ratios[0].1;
        for (g, r) in &self.ratios {
            if (*g as f64) <= hz {
                q = *r;
            }
        }
        q
    }

    /// The projection from `now` (inside the hour after the history) to `end`, with
    /// `spent` so far and `limit`.
    fn project(
        &self,
        hour: DateTime<Utc>,
        now: DateTime<Utc>,
        end: DateTime<Utc>,
        spent: f64,
        limit: f64,
    ) -> BurnForecast {
        let frac = ((now - hour).num_milliseconds() as f64 / 3_600_000.0).clamp(0.0, 1.0);
        let hours = ((end - hour).num_milliseconds() as f64 / 3_600_000.0).max(0.0);
        let steps = (hours.ceil() as usize).min(self.hourly.len());
        // Cumulative mean forecast at the end of each hour from now.
        let mut cum = Vec::with_capacity(steps);
        let mut c = 0.0;
        for i in 0..steps {
            let share = if i == 0 { 1.0 - frac } else { 1.0 };
            // The last hour may be cut by the end.
            let cut = (hours - i as f64).clamp(0.0, 1.0);
            c += self.hourly[i] * share.min(cut);
            cum.push(c);
        }
        let at = |i: usize| -> DateTime<Utc> {
            let t = hour + Duration::hours(i64::try_from(i + 1).unwrap_or(i64::MAX / 7200));
            t.min(end)
        };
        let point = |i: usize| -> BurnPoint {
            let q = self.ratios_at(i as f64 + 1.0 - frac);
            let m = cum[i];
            BurnPoint {
                ds: at(i),
                mean: spent + m,
                lo95: spent + m * q[0],
                lo80: spent + m * q[1],
                hi80: spent + m * q[2],
                hi95: spent + m * q[3],
            }
        };
        let every = steps.div_ceil(PATH_POINTS).max(1);
        let mut path: Vec<BurnPoint> = (0..steps)
            .filter(|i| (i + 1) % every == 0 || i + 1 == steps)
            .map(point)
            .collect();
        path.dedup_by(|a, b| a.ds == b.ds);
        let remaining = limit - spent;
        let exhaustion = if remaining <= 0.0 {
            Exhaustion {
                status: ExhaustionStatus::Exhausted,
                at: Some(now),
                earliest80: Some(now),
                latest80: Some(now),
                earliest95: Some(now),
                latest95: Some(now),
            }
        } else {
            let first = |e: usize| -> Option<DateTime<Utc>> {
                (0..steps)
                    .find(|&i| {
                        let q = self.ratios_at(i as f64 + 1.0 - frac);
                        let f = if e == 4 { 1.0 } else { q[e] };
                        cum[i] * f >= remaining
                    })
                    .map(at)
            };
            let mean = first(4);
            Exhaustion {
                status: if mean.is_some() {
                    ExhaustionStatus::Projected
                } else {
                    ExhaustionStatus::NotWithinPeriod
                },
                at: mean,
                earliest95: first(3),
                earliest80: first(2),
                latest80: first(1),
                latest95: first(0),
            }
        };
        BurnForecast {
            model: self.name.into(),
            reason: self.reason.clone(),
            computed_at: now,
            history_hours: self.history,
            backtest_origins: self.origins,
            coverage80: self.coverage.map(|c| c.0),
            coverage95: self.coverage.map(|c| c.1),
            end: Some(path.last().cloned().unwrap_or(BurnPoint {
                ds: now,
                mean: spent,
                lo80: spent,
                hi80: spent,
                lo95: spent,
                hi95: spent,
            })),
            exhaustion: Some(exhaustion),
            path,
        }
    }
}

#[cfg(test)]
impl Model {
    /// The projection from the hour after the history, `now` on its start.
    pub(crate) fn forecast_for_test(
        &self,
        now: DateTime<Utc>,
        end: DateTime<Utc>,
        spent: f64,
        limit: f64,
    ) -> BurnForecast {
        self.project(now, now, end, spent, limit)
    }
}

/// No projection, and why.
fn none(now: DateTime<Utc>, reason: String) -> BurnForecast {
    BurnForecast {
        model: "none".into(),
        reason,
        computed_at: now,
        history_hours: 0,
        backtest_origins: 0,
        coverage80: None,
        coverage95: None,
        end: None,
        exhaustion: None,
        path: Vec::new(),
    }
}

/// The hourly spend of `filter` in the `hours` hours before `hour`.
async fn history(
    store: &Store,
    filter: CostFilter,
    hour: DateTime<Utc>,
    hours: usize,
) -> Result<Vec<f64>, StoreError> {
    let bounds: Vec<DateTime<Utc>> = (0..=hours)
        .rev()
        .map(|k| hour - Duration::hours(i64::try_from(k).unwrap_or(0)))
        .collect();
    store
        .read(move |db| {
            let cells = query::cells(db, &bounds, None, &filter)?;
            let mut h = vec![0.0; hours];
            for c in cells {
                if let Some(v) = h.get_mut(c.bucket) {
                    *v = c.figures.cost.to_f64().unwrap_or(0.0);
                }
            }
            Ok(h)
        })
        .await
}

/// Fitted models by budget, refitted when the hour or the budget changes.
#[derive(Default)]
pub(crate) struct Cache {
    models: Mutex<HashMap<String, Fitted>>,
}

impl Cache {
    /// The projection of `b` at `now`.
    pub(crate) async fn forecast(
        &self,
        store: &Store,
        b: &BudgetStatus,
        now: DateTime<Utc>,
    ) -> Result<BurnForecast, StoreError> {
        if !b.active {
            return Ok(none(now, "the budget's period is not open".into()));
        }
        let Ok(hour) = now.duration_trunc(Duration::hours(1)) else {
            return Ok(none(now, "the time is out of range".into()));
        };
        let end = b
            .period_end
            .unwrap_or(hour + Duration::hours(OPEN_HORIZON_HOURS as i64));
        let key = serde_json::to_string(&b.config).unwrap_or_default();
        let cached = {
            let m = self.models.lock().unwrap_or_else(|p| p.into_inner());
            m.get(&b.name)
                .filter(|(k, h, _)| *k == key && *h == hour)
                .map(|x| x.2.clone())
        };
        let model = match cached {
            Some(m) => m,
            None => {
                let filter = super::budget::filter_of(&b.config);
                let h = history(store, filter, hour, HISTORY_HOURS).await?;
                let ahead = ((end - hour).num_hours().max(0) as usize + 1).min(OPEN_HORIZON_HOURS);
                let m = Arc::new(fit(&h, ahead));
                let mut all = self.models.lock().unwrap_or_else(|p| p.into_inner());
                all.insert(b.name.clone(), (key, hour, m.clone()));
                m
            }
        };
        Ok(match model.as_ref() {
            Ok(m) => m.project(
                hour,
                now,
                end,
                b.spent.to_f64().unwrap_or(0.0),
                b.limit_usd.to_f64().unwrap_or(0.0),
            ),
            Err(why) => none(now, why.clone()),
        })
    }
}

/// Whether `f` projects exhaustion before the period ends (what the `projected` alert
/// says), with its message.
pub(crate) fn projected_alert(b: &BudgetStatus, f: &BurnForecast) -> Option<String> {
    let e = f.exhaustion.as_ref()?;
    if e.status != ExhaustionStatus::Projected {
        return None;
    }
    let at = e.at?;
    let fmt = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "after the period".to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    };
    let end = b.period_end.map_or_else(String::new, |e| {
        format!(", before its period ends on {}", fmt(Some(e)))
    });
    Some(format!(
        "budget `{}` is projected to run out on {} (95 % interval {} to {}){end}: ${} of ${} spent",
        b.name,
        fmt(Some(at)),
        fmt(e.earliest95),
        fmt(e.latest95),
        b.spent.round_dp(4).normalize(),
        b.limit_usd.normalize(),
    ))
}
