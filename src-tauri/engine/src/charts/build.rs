//! Charts made from the domains' figures: a series' forecast, a budget's burn, spend
//! stacked by a dimension.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

use super::{Chart, Ink, Layer};
use crate::costs::{BudgetStatus, CostBreakdown};
use crate::forecast::kpi::SeriesForecast;

/// History, the forecast's mean with its 80 % and 95 % bands, the backtest's held-out
/// forecasts, and the anomalies.
pub fn forecast(f: &SeriesForecast) -> Chart {
    let rows = &f.forecast.rows;
    let mut layers = vec![
        Layer::Band {
            label: "95 % interval".into(),
            points: rows.iter().map(|r| (r.ds, r.lo95, r.hi95)).collect(),
            opacity: 0.18,
        },
        Layer::Band {
            label: "80 % interval".into(),
            points: rows.iter().map(|r| (r.ds, r.lo80, r.hi80)).collect(),
            opacity: 0.32,
        },
        Layer::Line {
            label: f.series.name.clone(),
            ink: Ink::Series(0),
            points: f.history.iter().map(|p| (p.ds, p.value)).collect(),
            dashed: false,
        },
    ];
    let backtest: Vec<(DateTime<Utc>, f64)> = f
        .forecast
        .backtest
        .iter()
        .filter(|p| f.history.first().is_some_and(|h| p.ds >= h.ds))
        .map(|p| (p.ds, p.mean))
        .collect();
    if !backtest.is_empty() {
        layers.push(Layer::Line {
            label: "backtest forecasts".into(),
            ink: Ink::Muted,
            points: backtest,
            dashed: true,
        });
    }
    // The forecast joined to the last point.
    let mut mean: Vec<(DateTime<Utc>, f64)> = f
        .history
        .last()
        .map(|p| (p.ds, p.value))
        .into_iter()
        .collect();
    mean.extend(rows.iter().map(|r| (r.ds, r.mean)));
    layers.push(Layer::Line {
        label: format!("forecast ({})", f.forecast.model),
        ink: Ink::Band,
        points: mean,
        dashed: false,
    });
    let first = f.history.first().map(|p| p.ds);
    let anomalies: Vec<(DateTime<Utc>, f64)> = f
        .anomalies
        .iter()
        .filter(|a| first.is_some_and(|t| a.ds >= t))
        .map(|a| (a.ds, a.value))
        .collect();
    if !anomalies.is_empty() {
        layers.push(Layer::Markers {
            label: "anomalies".into(),
            ink: Ink::Alert,
            points: anomalies,
        });
    }
    let unit = if f.series.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", f.series.unit)
    };
    Chart {
        title: format!("{}{unit}: forecast", f.series.name),
        y_label: f.series.unit.clone(),
        layers,
        empty_message: None,
    }
}

/// A budget's spend to the end of its period: the projection's mean and bands, and the
/// limit.
pub fn burn(b: &BudgetStatus) -> Chart {
    let mut layers = Vec::new();
    let mut empty = None;
    match &b.forecast {
        Some(f) if !f.path.is_empty() => {
            layers.push(Layer::Band {
                label: "95 % interval".into(),
                points: f.path.iter().map(|p| (p.ds, p.lo95, p.hi95)).collect(),
                opacity: 0.18,
            });
            layers.push(Layer::Band {
                label: "80 % interval".into(),
                points: f.path.iter().map(|p| (p.ds, p.lo80, p.hi80)).collect(),
                opacity: 0.32,
            });
            layers.push(Layer::Line {
                label: format!("projected spend ({})", f.model),
                ink: Ink::Series(0),
                points: f.path.iter().map(|p| (p.ds, p.mean)).collect(),
                dashed: false,
            });
        }
        Some(f) => empty = Some(format!("No projection: {}", f.reason)),
        None => empty = Some("No projection".into()),
    }
    if !layers.is_empty() {
        layers.push(Layer::Level {
            label: format!("limit ${}", b.limit_usd.normalize()),
            y: b.limit_usd.to_f64().unwrap_or(0.0),
        });
    }
    Chart {
        title: format!(
            "Budget {}: ${} of ${} spent",
            b.name,
            b.spent.round_dp(2),
            b.limit_usd.normalize()
        ),
        y_label: "USD".into(),
        layers,
        empty_message: empty,
    }
}

/// Spend over the breakdown's buckets, cumulative, stacked by its dimension (the `top`
/// largest keys, the rest as "other"), with each budget's limit as a line.
pub fn costs(b: &CostBreakdown, budgets: &[BudgetStatus], top: usize) -> Chart {
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    let mut cells: BTreeMap<(DateTime<Utc>, String), f64> = BTreeMap::new();
    let mut xs: Vec<DateTime<Utc>> = Vec::new();
    for r in &b.rows {
        let Some(t) = r.bucket_start else { continue };
        let key = r.key.clone().unwrap_or_else(|| "all".into());
        let key = if key.is_empty() {
            "(none)".to_string()
        } else {
            key
        };
        let v = r.figures.cost.to_f64().unwrap_or(0.0);
        *totals.entry(key.clone()).or_default() += v;
        *cells.entry((t, key)).or_default() += v;
        xs.push(t);
    }
    xs.sort_unstable();
    xs.dedup();
    let mut ranked: Vec<(String, f64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let kept: Vec<String> = ranked.iter().take(top).map(|k| k.0.clone()).collect();
    let mut labels = kept.clone();
    if ranked.len() > top {
        labels.push("other".into());
    }
    let mut values: Vec<Vec<f64>> = vec![vec![0.0; xs.len()]; labels.len()];
    for ((t, key), v) in &cells {
        let Ok(i) = xs.binary_search(t) else { continue };
        let k = kept
            .iter()
            .position(|x| x == key)
            .unwrap_or(labels.len() - 1);
        values[k][i] += v;
    }
    for row in &mut values {
        let mut acc = 0.0;
        for v in row.iter_mut() {
            acc += *v;
            *v = acc;
        }
    }
    let mut layers = Vec::new();
    if !xs.is_empty() {
        layers.push(Layer::Stack {
            labels,
            x: xs,
            values,
        });
        for bs in budgets {
            layers.push(Layer::Level {
                label: format!("budget {} ${}", bs.name, bs.limit_usd.normalize()),
                y: bs.limit_usd.to_f64().unwrap_or(0.0),
            });
        }
    }
    let by = b.by.map_or("total".to_string(), |d| d.as_str().to_string());
    Chart {
        title: format!("Cumulative spend by {by}"),
        y_label: "USD".into(),
        layers,
        empty_message: Some("No spend in this period".into()),
    }
}
