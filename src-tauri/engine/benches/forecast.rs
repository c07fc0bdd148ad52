//! One forecast, measured (docs/benchmarks.md; issue 11's target: a 1,000-point daily series
//! including model selection in ≤ 100 ms): `forecast::forecast` on deterministic synthetic
//! series (a trend, a weekly shape, a yearly wave, noise), 30 steps ahead, 20 runs after 2
//! warm-ups; also a 120-point monthly series and a 2,000-point hourly one; and the history's
//! outlier check on the daily and hourly ones.
//!
//! Run: `cargo bench -p flightdeck-engine --bench forecast`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightdeck_engine::forecast::{self, series};

struct Lcg(u64);
impl Lcg {
    fn normal(&mut self) -> f64 {
        (0..12)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((self.0 >> 11) as f64) / ((1u64 << 53) as f64)
            })
            .sum::<f64>()
            - 6.0
    }
}

fn make(
    n: usize,
    step: impl Fn(DateTime<Utc>, i64) -> DateTime<Utc>,
    season: usize,
) -> series::Series {
    let start: DateTime<Utc> = "2022-01-01T00:00:00Z".parse().unwrap();
    let mut g = Lcg(5);
    let points = (0..n)
        .map(|i| {
            let x = i as f64;
            let v = 100.0
                + 0.05 * x
                + 8.0 * (x / season as f64 * std::f64::consts::TAU).sin()
                + 5.0 * (x / 365.0 * std::f64::consts::TAU).sin()
                + 2.0 * g.normal();
            (step(start, i as i64), v)
        })
        .collect();
    series::from_points(points).unwrap()
}

fn time(label: &str, s: &series::Series, h: usize) {
    for _ in 0..2 {
        forecast::forecast(s, h, None).unwrap();
    }
    let mut v: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            forecast::forecast(s, h, None).unwrap();
            t.elapsed()
        })
        .collect();
    v.sort();
    let f = forecast::forecast(s, h, None).unwrap();
    println!(
        "{label:<44} p50 {:>7.1} ms  max {:>7.1} ms  model {} (periods {:?})",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
        f.model,
        f.periods
    );
}

/// The history's outlier check (`forecast::outliers`), made once per version of a series.
fn time_outliers(label: &str, s: &series::Series) {
    for _ in 0..2 {
        forecast::outliers::outliers(s);
    }
    let mut v: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            forecast::outliers::outliers(s);
            t.elapsed()
        })
        .collect();
    v.sort();
    println!(
        "{label:<44} p50 {:>7.1} ms  max {:>7.1} ms  {} outliers",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
        forecast::outliers::outliers(s).len()
    );
}

fn main() {
    let daily = make(1000, |t, i| t + chrono::Duration::days(i), 7);
    time("daily, 1,000 points, 30 ahead", &daily, 30);
    let monthly = make(
        120,
        |t, i| t.checked_add_months(chrono::Months::new(i as u32)).unwrap(),
        12,
    );
    time("monthly, 120 points, 12 ahead", &monthly, 12);
    let hourly = make(2000, |t, i| t + chrono::Duration::hours(i), 24);
    time("hourly, 2,000 points, 48 ahead", &hourly, 48);
    time_outliers("outliers, daily, 1,000 points", &daily);
    time_outliers("outliers, hourly, 2,000 points", &hourly);
    let mut spiked = daily.clone();
    for i in (50..1000).step_by(100) {
        spiked.values[i] += 40.0;
    }
    time_outliers("outliers, daily, 1,000 points, 10 spikes", &spiked);
}
