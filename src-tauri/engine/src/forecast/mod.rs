//! Forecasts of one series, with intervals whose stated level is measured.
//!
//! How a forecast is made: the series is put on its calendar grid (`series`); candidate
//! models are fitted on the points before each of several rolling origins and scored on the
//! points after (MASE, sMAPE); the candidate with the lowest mean MASE wins, or the average
//! of the best two when that scores lower. The candidates: naive, seasonal naive, AutoETS
//! (augurs, non-seasonal), an autoregression with its order by AIC (cycles without a
//! calendar season), and MSTL (augurs, the calendar's seasonal periods) with an AutoETS
//! trend on the values and, for a positive series, on their logarithms. Values are rescaled
//! before fitting (MSTL works in f32).
//!
//! Intervals are not a model's: they come from the winner's own backtest errors (each
//! scaled by the square root of its step ahead), as split-conformal quantiles at 80 % and
//! 95 % (the 95 % one at least the 80 % one scaled as for a normal distribution, since a
//! few dozen errors say little about their own tail), and their coverage is reported as
//! measured with each origin left out in turn.
//!
//! Must never: drop a point silently (what `series` did is reported), or state an interval
//! level that was not measured.

pub mod goals;
pub mod kpi;
#[cfg(test)]
mod kpi_tests;
pub mod outliers;
pub mod score;
pub mod series;

use augurs::ets::AutoETS;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorCode;
pub use series::{Frequency, Series, SeriesReport};

/// An event of the `forecasts` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ForecastEvent {
    /// Points were imported or pushed.
    SeriesUpdated {
        series: String,
        points: usize,
        imported: bool,
    },
    SeriesRemoved {
        series: String,
    },
    /// A point outside its 95 % interval, flagged the first time it was seen.
    Anomaly(kpi::Anomaly),
    /// A goal's probability fell below its `alert_below` (`at_risk`), or recovered.
    Goal {
        goal: String,
        series: String,
        at_risk: bool,
        probability: f64,
        alert_below: f64,
        target: f64,
        due: DateTime<Utc>,
    },
}

/// Failures of a forecast.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    InvalidRows(String),
    #[error("{0}")]
    TooShort(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl ForecastError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadInput(_) => ErrorCode::BadRequest,
            Self::TooShort(_) => ErrorCode::SeriesTooShort,
            Self::InvalidRows(_) => ErrorCode::InvalidRows,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Store(e) => e.code(),
        }
    }
}

/// The longest horizon asked for.
pub const MAX_HORIZON: usize = 10_000;
/// The ratio of a normal distribution's 95 % and 80 % two-sided quantiles.
const TAIL: f64 = 1.959_964 / 1.281_552;
/// Rolling origins of the backtest at most.
const ORIGINS: usize = 6;

/// One forecast step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastRow {
    pub ds: DateTime<Utc>,
    pub mean: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

/// A held-out point of the backtest: what the chosen model forecast for it from the points
/// before its origin, with that origin's intervals (quantiles from the other origins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BacktestPoint {
    pub ds: DateTime<Utc>,
    pub actual: f64,
    pub mean: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

impl BacktestPoint {
    /// Outside its 95 % interval: an anomaly.
    pub fn outside95(&self) -> bool {
        self.actual < self.lo95 || self.actual > self.hi95
    }
}

/// A candidate's backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateScore {
    pub model: String,
    /// Mean absolute scaled error (below 1: better than the seasonal naive in-sample).
    pub mase: f64,
    /// Symmetric MAPE, in %.
    pub smape: f64,
    /// Whether it could be fitted at every origin.
    pub fitted: bool,
}

/// A forecast with how far it can be trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Forecast {
    pub frequency: Frequency,
    /// Seasonal periods used (from the calendar, or as given).
    pub periods: Vec<usize>,
    /// The model used: a candidate's name, or `mean(a, b)`.
    pub model: String,
    /// Why it was chosen.
    pub reason: String,
    pub rows: Vec<ForecastRow>,
    pub candidates: Vec<CandidateScore>,
    /// Rolling origins and their horizon.
    pub origins: usize,
    pub backtest_horizon: usize,
    /// Share of held-out points inside the 80 % / 95 % intervals (each origin's with
    /// quantiles from the others).
    pub coverage80: Option<f64>,
    pub coverage95: Option<f64>,
    pub series: SeriesReport,
    /// The held-out points, oldest first.
    pub backtest: Vec<BacktestPoint>,
}

/// A candidate model.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Candidate {
    Naive,
    SeasonalNaive(usize),
    Ets,
    Mstl {
        log: bool,
    },
    /// An autoregression on the levels, its order by AIC (cycles without a calendar season:
    /// sunspots, lynx).
    Ar,
}

impl Candidate {
    fn name(self, periods: &[usize]) -> String {
        let p = periods
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        match self {
            Self::Naive => "naive".into(),
            Self::SeasonalNaive(m) => format!("seasonal_naive({m})"),
            Self::Ets => "auto_ets".into(),
            Self::Mstl { log: false } => format!("mstl({p})+auto_ets"),
            Self::Mstl { log: true } => format!("log mstl({p})+auto_ets"),
            Self::Ar => "ar(aic)".into(),
        }
    }

    /// Point forecasts `h` steps after `train`, on the values' own scale.
    fn forecast(self, train: &[f64], h: usize, periods: &[usize]) -> Option<Vec<f64>> {
        let n = train.len();
        let last = *train.last()?;
        match self {
            Self::Naive => Some(vec![last; h]),
            Self::SeasonalNaive(m) => {
                if n < m {
                    return None;
                }
                Some((0..h).map(|j| train[n - m + (j % m)]).collect())
            }
            Self::Ar => ar_forecast(train, h),
            Self::Ets | Self::Mstl { .. } => {
                let log = matches!(self, Self::Mstl { log: true });
                let values: Vec<f64> = if log {
                    train.iter().map(|v| v.ln()).collect()
                } else {
                    train.to_vec()
                };
                // Rescale around the mean (MSTL works in f32; ETS's optimiser likes O(1)).
                let mean = values.iter().sum::<f64>() / n as f64;
                let scale =
                    (values.iter().map(|v| (v - mean).abs()).sum::<f64>() / n as f64).max(1e-9);
                let z: Vec<f64> = values.iter().map(|v| (v - mean) / scale).collect();
                let point = if let Self::Ets = self {
                    AutoETS::non_seasonal()
                        .fit(&z)
                        .ok()?
                        .predict(h, None)
                        .ok()?
                        .point
                } else {
                    let trend = AutoETSTrendModel::from(AutoETS::non_seasonal());
                    MSTLModel::new(periods.to_vec(), trend)
                        .fit(&z)
                        .ok()?
                        .predict(h, None)
                        .ok()?
                        .point
                };
                let out: Vec<f64> = point
                    .into_iter()
                    .map(|v| {
                        let x = v * scale + mean;
                        if log { x.exp() } else { x }
                    })
                    .collect();
                (out.len() == h && out.iter().all(|v| v.is_finite())).then_some(out)
            }
        }
    }
}

/// Solves `a x = b` (Gaussian elimination, partial pivoting); `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|i, j| a[*i][col].abs().total_cmp(&a[*j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            let (top, bottom) = a.split_at_mut(row);
            for (x, p) in bottom[0][col..].iter_mut().zip(&top[col][col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// AR(p) with an intercept by least squares on `z(start..)`: the normal equations of
/// `[1, z(t-1) .. z(t-p)] → z(t)`; the coefficients `[c, φ1 .. φp]` and the residual sum of
/// squares. `None` when singular.
fn ar_ols(z: &[f64], p: usize, start: usize) -> Option<(Vec<f64>, f64)> {
    let k = p + 1;
    let mut a = vec![vec![0.0; k]; k];
    let mut b = vec![0.0; k];
    for t in start.max(p)..z.len() {
        let x: Vec<f64> = std::iter::once(1.0)
            .chain((1..=p).map(|i| z[t - i]))
            .collect();
        for i in 0..k {
            b[i] += x[i] * z[t];
            for j in 0..k {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    let coef = solve(a, b)?;
    let rss: f64 = (start.max(p)..z.len())
        .map(|t| {
            let fit = coef[0] + (1..=p).map(|i| coef[i] * z[t - i]).sum::<f64>();
            (z[t] - fit).powi(2)
        })
        .sum();
    Some((coef, rss))
}

/// AR(p) with an intercept by least squares, p from 1 to 12 by AIC on a common sample;
/// forecasts by recursion. `None` when no order fits or the forecast runs away.
fn ar_forecast(y: &[f64], h: usize) -> Option<Vec<f64>> {
    let n = y.len();
    let pmax = (n / 5).min(12);
    if pmax == 0 {
        return None;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64)
        .sqrt()
        .max(1e-9);
    let z: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
    let rows = n - pmax;
    let mut best: Option<(f64, Vec<f64>)> = None;
    for p in 1..=pmax {
        let k = p + 1;
        let Some((coef, rss)) = ar_ols(&z, p, pmax) else {
            continue;
        };
        let aic = rows as f64 * (rss / rows as f64).max(1e-12).ln() + 2.0 * k as f64;
        if best.as_ref().is_none_or(|(b, _)| aic < *b) {
            best = Some((aic, coef));
        }
    }
    let (_, coef) = best?;
    let p = coef.len() - 1;
    let mut hist = z;
    let mut out = Vec::with_capacity(h);
    for _ in 0..h {
        let t = hist.len();
        let next = coef[0] + (1..=p).map(|i| coef[i] * hist[t - i]).sum::<f64>();
        if !next.is_finite() || next.abs() > 1e3 {
            return None;
        }
        hist.push(next);
        out.push(next * sd + mean);
    }
    Some(out)
}

/// A candidate's forecasts at each backtest origin (and a slot for the whole series').
type Fits = (Vec<Vec<f64>>, Option<Vec<f64>>);

/// The `p` quantile of `v` with the split-conformal finite-sample correction.
fn conformal_quantile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let k = ((n as f64 + 1.0) * p).ceil() as usize;
    Some(v[k.clamp(1, n) - 1])
}

/// Forecasts `series` `horizon` steps ahead. `season` overrides the calendar's periods.
pub fn forecast(
    series: &Series,
    horizon: usize,
    season: Option<usize>,
) -> Result<Forecast, ForecastError> {
    if horizon == 0 || horizon > MAX_HORIZON {
        return Err(ForecastError::BadInput(format!(
            "the horizon is 1 to {MAX_HORIZON} steps"
        )));
    }
    let y = &series.values;
    let n = y.len();
    let periods: Vec<usize> = match season {
        Some(0 | 1) => Vec::new(),
        Some(m) if n >= 2 * m => vec![m],
        Some(m) => {
            return Err(ForecastError::TooShort(format!(
                "a season of {m} needs at least {} points; the series has {n}",
                2 * m
            )));
        }
        None => series.frequency.periods(n),
    };
    let main = periods.first().copied();
    let mut candidates = vec![Candidate::Naive, Candidate::Ets, Candidate::Ar];
    if let Some(m) = main {
        candidates.push(Candidate::SeasonalNaive(m));
        candidates.push(Candidate::Mstl { log: false });
        if series.positive() {
            candidates.push(Candidate::Mstl { log: true });
        }
    }
    // The backtest: origins `bh` steps apart from the end, each training on what precedes.
    let min_train = (2 * periods.iter().max().copied().unwrap_or(1) + 2).max(8);
    if n < min_train + 1 {
        return Err(ForecastError::TooShort(format!(
            "{n} points: at least {} are needed with seasonal periods {periods:?}",
            min_train + 1
        )));
    }
    let bh = horizon.min((n - min_train) / 2).max(1);
    let origins: Vec<usize> = (1..=ORIGINS)
        .map(|i| n.saturating_sub(i * bh))
        .filter(|o| *o >= min_train)
        .collect();
    // MASE's scale: the in-sample mean absolute seasonal difference.
    let m = main.unwrap_or(1);
    let denom = {
        let d: Vec<f64> = (m..n).map(|i| (y[i] - y[i - m]).abs()).collect();
        (d.iter().sum::<f64>() / d.len().max(1) as f64).max(1e-9)
    };
    // Each candidate's forecasts at each origin: the candidates run side by side (one
    // thread each; fitting is CPU-bound and independent). The fit on the whole series is
    // made after ranking, for the candidates used only.
    let fit_all = |c: Candidate| -> Fits {
        let mut per_origin = Vec::with_capacity(origins.len());
        for o in &origins {
            let h = bh.min(n - o);
            match c.forecast(&y[..*o], h, &periods) {
                Some(f) => per_origin.push(f),
                None => return (per_origin, None),
            }
        }
        (per_origin, None)
    };
    let results: Vec<Fits> = std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .iter()
            .map(|c| {
                let c = *c;
                scope.spawn(move || fit_all(c))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut runs: Vec<(Candidate, Vec<Vec<f64>>)> = Vec::new();
    for (c, (per_origin, _)) in candidates.iter().zip(results) {
        runs.push((*c, per_origin));
    }
    let mut finals: Vec<Option<Vec<f64>>> = vec![None; runs.len()];
    let score = |fc: &[Vec<f64>]| -> (f64, f64) {
        let (mut ae, mut sm, mut k) = (0.0, 0.0, 0usize);
        for (o, f) in origins.iter().zip(fc) {
            for (j, v) in f.iter().enumerate() {
                let actual = y[o + j];
                ae += (actual - v).abs();
                let d = actual.abs() + v.abs();
                sm += if d > 0.0 {
                    2.0 * (actual - v).abs() / d
                } else {
                    0.0
                };
                k += 1;
            }
        }
        let k = k.max(1) as f64;
        (ae / k / denom, sm / k * 100.0)
    };
    let mut scores: Vec<CandidateScore> = Vec::new();
    let mut ranked: Vec<(f64, usize)> = Vec::new();
    for (i, (c, fc)) in runs.iter().enumerate() {
        let fitted = fc.len() == origins.len();
        let (mase, smape) = if fitted {
            score(fc)
        } else {
            (f64::NAN, f64::NAN)
        };
        if fitted && mase.is_finite() {
            ranked.push((mase, i));
        }
        scores.push(CandidateScore {
            model: c.name(&periods),
            mase,
            smape,
            fitted,
        });
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The two best that fit the whole series: a candidate that fitted every origin may
    // still fail on the whole series (a spike at its end can leave ETS without a model),
    // and cannot be used.
    let mut unusable: Vec<String> = Vec::new();
    let mut usable: Vec<(f64, usize)> = Vec::new();
    let mut next = 0;
    while usable.len() < 2 && next < ranked.len() {
        // As many as still needed, fitted side by side.
        let take = &ranked[next..(next + 2 - usable.len()).min(ranked.len())];
        next += take.len();
        let fits: Vec<Option<Vec<f64>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = take
                .iter()
                .map(|&(_, i)| {
                    let c = runs[i].0;
                    let periods = &periods;
                    scope.spawn(move || c.forecast(y, horizon, periods))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (&(mase, i), f) in take.iter().zip(fits) {
            match f {
                Some(f) => {
                    finals[i] = Some(f);
                    usable.push((mase, i));
                }
                None => unusable.push(runs[i].0.name(&periods)),
            }
        }
    }
    usable.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ranked = usable;
    let Some(&(best_mase, best)) = ranked.first() else {
        return Err(ForecastError::BadInput(
            "no model could be fitted to this series".into(),
        ));
    };
    // The best two averaged, when that scores lower.
    let mut chosen: Vec<usize> = vec![best];
    let mut chosen_fc: Vec<Vec<f64>> = runs[best].1.clone();
    let mut reason = format!(
        "lowest mean MASE ({best_mase:.3}) over {} rolling origin(s) of {bh} step(s)",
        origins.len()
    );
    if let Some(&(_, second)) = ranked.get(1) {
        let avg: Vec<Vec<f64>> = runs[best]
            .1
            .iter()
            .zip(&runs[second].1)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect())
            .collect();
        let (mase, smape) = score(&avg);
        let name = format!(
            "mean({}, {})",
            runs[best].0.name(&periods),
            runs[second].0.name(&periods)
        );
        scores.push(CandidateScore {
            model: name,
            mase,
            smape,
            fitted: true,
        });
        if mase < best_mase {
            reason = format!(
                "the average of the two best candidates scored a lower mean MASE ({mase:.3} \
                 against {best_mase:.3}) over {} rolling origin(s) of {bh} step(s)",
                origins.len()
            );
            chosen = vec![best, second];
            chosen_fc = avg;
        }
    }
    // Interval widths from the chosen model's backtest errors, scaled by sqrt(step) and,
    // for a positive series, relative to the forecast's level (errors that grow with the
    // level, as sales and passengers do).
    let relative = series.positive();
    let unit = |level: f64| if relative { level.abs().max(1e-9) } else { 1.0 };
    let errors: Vec<Vec<f64>> = origins
        .iter()
        .zip(&chosen_fc)
        .map(|(o, f)| {
            f.iter()
                .enumerate()
                .map(|(j, v)| (y[o + j] - v).abs() / (((j + 1) as f64).sqrt() * unit(*v)))
                .collect()
        })
        .collect();
    let all: Vec<f64> = errors.iter().flatten().copied().collect();
    let q80 = conformal_quantile(&mut all.clone(), 0.8).unwrap_or(0.0);
    // A few dozen backtest errors say little about their own 5 % tail: the 95 % width is
    // at least the 80 % one scaled as a normal distribution's would be (1.960 / 1.2816).
    let q95 = conformal_quantile(&mut all.clone(), 0.95)
        .unwrap_or(0.0)
        .max(q80 * TAIL);
    // Coverage, each origin scored with quantiles from the others.
    let mut backtest: Vec<BacktestPoint> = Vec::new();
    let (coverage80, coverage95) = if errors.len() >= 2 {
        let (mut in80, mut in95, mut k) = (0usize, 0usize, 0usize);
        for (i, e) in errors.iter().enumerate() {
            let mut rest: Vec<f64> = errors
                .iter()
                .enumerate()
                .filter(|(x, _)| *x != i)
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            let a = conformal_quantile(&mut rest.clone(), 0.8).unwrap_or(0.0);
            let b = conformal_quantile(&mut rest, 0.95)
                .unwrap_or(0.0)
                .max(a * TAIL);
            for r in e {
                in80 += usize::from(*r <= a);
                in95 += usize::from(*r <= b);
                k += 1;
            }
            let o = origins[i];
            for (j, v) in chosen_fc[i].iter().enumerate() {
                let s = ((j + 1) as f64).sqrt() * unit(*v);
                if let Some(ds) = series.ds(o + j) {
                    backtest.push(BacktestPoint {
                        ds,
                        actual: y[o + j],
                        mean: *v,
                        lo80: v - a * s,
                        hi80: v + a * s,
                        lo95: v - b * s,
                        hi95: v + b * s,
                    });
                }
            }
        }
        let k = k.max(1) as f64;
        (Some(in80 as f64 / k), Some(in95 as f64 / k))
    } else {
        (None, None)
    };
    if !unusable.is_empty() {
        reason.push_str(&format!(
            "; not used: {} (could not be fitted to the whole series)",
            unusable.join(", ")
        ));
    }
    // The forecast itself, on the whole series.
    let mut mean = vec![0.0; horizon];
    for i in &chosen {
        let f = finals[*i].clone().ok_or_else(|| {
            ForecastError::BadInput(
                "the chosen model could not be fitted to the whole series".into(),
            )
        })?;
        for (m, v) in mean.iter_mut().zip(f) {
            *m += v / chosen.len() as f64;
        }
    }
    let mut rows = Vec::with_capacity(horizon);
    for (j, m) in mean.into_iter().enumerate() {
        let ds = series.ds(n + j).ok_or_else(|| {
            ForecastError::BadInput("the horizon runs past the calendar's range".into())
        })?;
        let s = ((j + 1) as f64).sqrt() * unit(m);
        rows.push(ForecastRow {
            ds,
            mean: m,
            lo80: m - q80 * s,
            hi80: m + q80 * s,
            lo95: m - q95 * s,
            hi95: m + q95 * s,
        });
    }
    let model = if chosen.len() == 1 {
        runs[best].0.name(&periods)
    } else {
        format!(
            "mean({}, {})",
            runs[chosen[0]].0.name(&periods),
            runs[chosen[1]].0.name(&periods)
        )
    };
    Ok(Forecast {
        frequency: series.frequency,
        periods,
        model,
        reason,
        rows,
        candidates: scores,
        origins: origins.len(),
        backtest_horizon: bh,
        coverage80,
        coverage95,
        series: series.report.clone(),
        backtest: {
            backtest.sort_by_key(|p| p.ds);
            backtest
        },
    })
}

/// The forecast as CSV: `ds,mean,lo80,hi80,lo95,hi95`.
pub fn to_csv(f: &Forecast) -> String {
    let mut out = String::from("ds,mean,lo80,hi80,lo95,hi95\n");
    for r in &f.rows {
        let ds = if f.frequency.date_only() {
            r.ds.format("%Y-%m-%d").to_string()
        } else {
            r.ds.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        out.push_str(&format!(
            "{ds},{},{},{},{},{}\n",
            r.mean, r.lo80, r.hi80, r.lo95, r.hi95
        ));
    }
    out
}

#[cfg(test)]
mod accuracy;
#[cfg(test)]
mod tests;
