//! The business health score: the KPIs of `[health_score.<series>]` (a target, a weight and
//! a direction each) combined into one 0-100 figure, with each KPI's contribution and the
//! score's trend over the series' last points.
//!
//! A KPI's attainment is its last value over its target (`at_least`), or the target over
//! the value (`at_most`), capped to 0..1; the score is the weighted mean × 100. A KPI with
//! no data counts as 0 and says so: a score that hides a missing number is not one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ForecastError;
use super::goals::Direction;
use super::kpi::{Kpis, Point};

/// `[health_score.<series>]`: one KPI of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreKpi {
    /// The value that counts as fully healthy (above 0).
    pub target: f64,
    /// Its share of the score, relative to the others' (above 0; default 1).
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default)]
    pub direction: Direction,
}

fn one() -> f64 {
    1.0
}

/// `[health_score]`: KPIs by series name.
pub type ScoreConfig = BTreeMap<String, ScoreKpi>;

/// Config problems as (key, why).
pub fn violations(config: &ScoreConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, k) in config {
        let key = |f: &str| format!("health_score.{name}.{f}");
        if super::kpi::check_name(name).is_err() {
            out.push((
                format!("health_score.{name}"),
                "a series name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`".into(),
            ));
        }
        if !(k.target.is_finite() && k.target > 0.0) {
            out.push((key("target"), "a number above 0".into()));
        }
        if !(k.weight.is_finite() && k.weight > 0.0) {
            out.push((key("weight"), "a number above 0".into()));
        }
    }
    out
}

/// One KPI's part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contribution {
    pub series: String,
    pub target: f64,
    pub weight: f64,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds: Option<DateTime<Utc>>,
    /// 0 to 1.
    pub attainment: f64,
    /// Points of the 100 it adds, and those it loses.
    pub points: f64,
    pub lost: f64,
    /// Why it adds nothing, when it has no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The score at one step back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScorePoint {
    pub ds: DateTime<Utc>,
    pub score: f64,
}

/// The health score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthScore {
    /// 0 to 100; absent when no KPI is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The change since the previous point (`trend`'s last two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    pub contributions: Vec<Contribution>,
    /// The score at each of the series' last 12 points (oldest first; each KPI's k-th last
    /// value).
    pub trend: Vec<ScorePoint>,
    pub computed_at: DateTime<Utc>,
}

fn attainment(k: &ScoreKpi, v: f64) -> f64 {
    let a = match k.direction {
        Direction::AtLeast => v / k.target,
        Direction::AtMost if v <= k.target => 1.0,
        Direction::AtMost => k.target / v,
    };
    if a.is_finite() {
        a.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The score of `values` (one per KPI, `None`: no data) and its parts.
fn combine(config: &ScoreConfig, values: &[Option<Point>]) -> (f64, Vec<Contribution>) {
    let total: f64 = config.values().map(|k| k.weight).sum();
    let mut score = 0.0;
    let mut parts = Vec::new();
    for ((name, k), v) in config.iter().zip(values) {
        let a = v.map_or(0.0, |p| attainment(k, p.value));
        let share = if total > 0.0 {
            k.weight / total * 100.0
        } else {
            0.0
        };
        score += a * share;
        parts.push(Contribution {
            series: name.clone(),
            target: k.target,
            weight: k.weight,
            direction: k.direction,
            value: v.map(|p| p.value),
            ds: v.map(|p| p.ds),
            attainment: a,
            points: a * share,
            lost: (1.0 - a) * share,
            note: v
                .is_none()
                .then(|| format!("`{name}` has no data: it counts as 0")),
        });
    }
    (score, parts)
}

impl Kpis {
    /// The health score of `config` now.
    pub async fn health_score(&self, config: &ScoreConfig) -> Result<HealthScore, ForecastError> {
        let now = self.clock_now();
        if config.is_empty() {
            return Ok(HealthScore {
                score: None,
                change: None,
                contributions: Vec::new(),
                trend: Vec::new(),
                computed_at: now,
            });
        }
        let mut series: Vec<Vec<Point>> = Vec::new();
        for name in config.keys() {
            series.push(match self.points(name, None, None).await {
                Ok(p) => p,
                Err(ForecastError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(e),
            });
        }
        let back = |k: usize| -> Vec<Option<Point>> {
            series
                .iter()
                .map(|s| s.len().checked_sub(k + 1).and_then(|i| s.get(i)).copied())
                .collect()
        };
        let (score, contributions) = combine(config, &back(0));
        let mut trend = Vec::new();
        for k in (0..12).rev() {
            let values = back(k);
            let Some(ds) = values.iter().flatten().map(|p| p.ds).max() else {
                continue;
            };
            let (s, _) = combine(config, &values);
            trend.push(ScorePoint {
                ds,
                score: round2(s),
            });
        }
        let change = match trend.as_slice() {
            [.., a, b] => Some(round2(b.score - a.score)),
            _ => None,
        };
        Ok(HealthScore {
            score: Some(round2(score)),
            change,
            contributions: contributions
                .into_iter()
                .map(|mut c| {
                    c.points = round2(c.points);
                    c.lost = round2(c.lost);
                    c
                })
                .collect(),
            trend,
            computed_at: now,
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_directions_combine_into_a_0_to_100_score() {
        let mut c = ScoreConfig::new();
        c.insert(
            "revenue".into(),
            ScoreKpi {
                target: 1000.0,
                weight: 3.0,
                direction: Direction::AtLeast,
            },
        );
        c.insert(
            "tickets".into(),
            ScoreKpi {
                target: 50.0,
                weight: 1.0,
                direction: Direction::AtMost,
            },
        );
        let t = "2026-12-01T00:00:00Z".parse().unwrap();
        let p = |v| Some(Point { ds: t, value: v });
        // Revenue at 80 % of target (0.8 × 75), tickets at 100 over 50 (0.5 × 25).
        let (s, parts) = combine(&c, &[p(800.0), p(100.0)]);
        assert!((s - 72.5).abs() < 1e-9, "{s}");
        assert!((parts[0].points - 60.0).abs() < 1e-9);
        assert!((parts[1].lost - 12.5).abs() < 1e-9);
        // Over target caps at full; no data counts as 0 and says so.
        let (s, parts) = combine(&c, &[p(5000.0), None]);
        assert!((s - 75.0).abs() < 1e-9);
        assert!(parts[1].note.as_deref().unwrap().contains("no data"));
        assert!(violations(&c).is_empty());
        c.insert(
            "Bad Name".into(),
            ScoreKpi {
                target: 0.0,
                weight: -1.0,
                direction: Direction::AtLeast,
            },
        );
        let v = violations(&c);
        assert_eq!(v.len(), 3, "{v:?}");
    }
}
