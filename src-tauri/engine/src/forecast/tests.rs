//! Forecast tests on synthetic series with a known pattern: the seasonal models win where
//! there is a season, the intervals' measured coverage is reported, the output has the
//! contract's columns.

use chrono::{DateTime, Duration, Utc};

use super::*;

use crate::test_rng::Lcg;

fn daily(n: usize, mut f: impl FnMut(usize, &mut Lcg) -> f64) -> Series {
    let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
    let mut g = Lcg(11);
    let points = (0..n)
        .map(|i| (start + Duration::days(i as i64), f(i, &mut g)))
        .collect();
    series::from_points(points).unwrap()
}

#[test]
fn a_weekly_pattern_is_found_and_beats_the_naive_forecast() {
    // Level 100, trend +0.1/day, a weekly shape, noise sd 2.
    let shape = [0.0, 5.0, 8.0, 6.0, 3.0, -10.0, -12.0];
    let s = daily(400, |i, g| {
        100.0 + 0.1 * i as f64 + shape[i % 7] + 2.0 * g.normal()
    });
    let f = forecast(&s, 28, None).unwrap();
    assert_eq!(f.periods, vec![7]);
    assert_eq!(f.rows.len(), 28);
    assert!(
        f.model.contains("mstl") || f.model.contains("seasonal"),
        "{f:#?}"
    );
    let naive = f.candidates.iter().find(|c| c.model == "naive").unwrap();
    let chosen_mase = f
        .candidates
        .iter()
        .filter(|c| c.fitted)
        .map(|c| c.mase)
        .fold(f64::INFINITY, f64::min);
    assert!(chosen_mase < naive.mase, "{f:#?}");
    // The forecast follows the pattern: a Saturday below the Wednesday before it.
    let row = |d: &str| {
        f.rows
            .iter()
            .find(|r| r.ds.to_string().starts_with(d))
            .unwrap()
    };
    let (wed, sat) = (row("2025-02-05"), row("2025-02-08"));
    assert!(sat.mean < wed.mean - 10.0, "{wed:?} {sat:?}");
    // Intervals are ordered and widen with the horizon.
    for r in &f.rows {
        assert!(r.lo95 <= r.lo80 && r.lo80 <= r.mean && r.mean <= r.hi80 && r.hi80 <= r.hi95);
    }
    assert!(f.rows[27].hi95 - f.rows[27].lo95 > f.rows[0].hi95 - f.rows[0].lo95);
    // Their coverage was measured, and is near what they state.
    let (c80, c95) = (f.coverage80.unwrap(), f.coverage95.unwrap());
    assert!((0.6..=0.97).contains(&c80), "{c80}");
    assert!((0.8..=1.0).contains(&c95), "{c95}");
    let csv = to_csv(&f);
    assert!(
        csv.starts_with("ds,mean,lo80,hi80,lo95,hi95\n2025-02-04,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 29);
}

#[test]
fn a_series_without_a_season_and_bad_requests() {
    // A random walk: nothing beats the naive forecast by much, and no season is used.
    let mut level = 50.0;
    let s = daily(10, |_, g| {
        level += g.normal();
        level
    });
    let f = forecast(&s, 3, None).unwrap();
    assert!(f.periods.is_empty());
    assert_eq!(f.rows.len(), 3);
    assert!(forecast(&s, 0, None).is_err());
    assert!(matches!(
        forecast(&s, 3, Some(7)).unwrap_err(),
        ForecastError::TooShort(_)
    ));
    let short = daily(5, |i, _| i as f64);
    assert!(matches!(
        forecast(&short, 3, None).unwrap_err(),
        ForecastError::TooShort(_)
    ));
}

#[test]
fn a_multiplicative_season_on_a_positive_series_may_use_logs() {
    // Monthly, growing with a seasonal swing proportional to the level (like air passengers).
    let start: DateTime<Utc> = "2010-01-01T00:00:00Z".parse().unwrap();
    let mut g = Lcg(3);
    let points = (0..120)
        .map(|i| {
            let t = start.checked_add_months(chrono::Months::new(i)).unwrap();
            let level = 100.0 * (1.0 + 0.01 * f64::from(i));
            let season = 1.0 + 0.25 * (f64::from(i % 12) / 12.0 * std::f64::consts::TAU).sin();
            (t, level * season * (1.0 + 0.02 * g.normal()))
        })
        .collect();
    let s = series::from_points(points).unwrap();
    assert_eq!(s.frequency, Frequency::Monthly);
    let f = forecast(&s, 12, None).unwrap();
    assert_eq!(f.periods, vec![12]);
    assert!(f.candidates.iter().any(|c| c.model.starts_with("log mstl")));
    let snaive = f
        .candidates
        .iter()
        .find(|c| c.model.starts_with("seasonal_naive"))
        .unwrap();
    let best = f
        .candidates
        .iter()
        .filter(|c| c.fitted)
        .map(|c| c.mase)
        .fold(f64::INFINITY, f64::min);
    assert!(best <= snaive.mase, "{f:#?}");
    assert!(to_csv(&f).contains("\n2020-01-01,"));
}

/// A spike at the end can leave a candidate unable to fit the whole series though it fitted
/// every origin: the next one is used and the reason says so, at every horizon.
#[test]
fn a_spike_at_the_end_still_gives_a_forecast() {
    let start: DateTime<Utc> = "2026-09-01T00:00:00Z".parse().unwrap();
    // The browser test's orders: a weekly sine on a slow trend, a little noise.
    let points: Vec<(DateTime<Utc>, f64)> = (0..90)
        .map(|k| {
            let v = 200.0
                + k as f64 * 0.8
                + 25.0 * (2.0 * std::f64::consts::PI * k as f64 / 7.0).sin()
                + (((k * 37) % 11) as f64 - 5.0) * 1.5;
            (
                start + Duration::days(k as i64),
                (v * 100.0).round() / 100.0,
            )
        })
        .collect();
    for spike in [1000.0, 5000.0] {
        let mut points = points.clone();
        points.push((start + Duration::days(90), spike));
        let s = series::from_points(points.clone()).unwrap();
        for h in [7, 14, 30, 60] {
            let f = forecast(&s, h, None).unwrap_or_else(|e| panic!("spike {spike}, h {h}: {e}"));
            assert_eq!(f.rows.len(), h);
            assert!(
                f.rows
                    .iter()
                    .all(|r| r.mean.is_finite() && r.lo95 <= r.hi95)
            );
        }
    }
}

/// The autoregression's least squares against a published fit: the AR(2) of log10 of the
/// Canadian lynx trappings 1821–1934 (Moran 1953, as quoted by Tong 1990, "Non-linear Time
/// Series", §7.2): x(t) = 1.0549 + 1.4101 x(t-1) − 0.7734 x(t-2). Least squares over the
/// same years gives coefficients within 0.03 of it (the published fit's estimator differs
/// slightly); the test holds them to 0.04, and to the exact solution of the normal
/// equations to 1e-9.
#[test]
fn the_autoregression_matches_the_published_lynx_fit() {
    let text = include_str!("../../../../tests/data/forecast/lynx.csv");
    let y: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap().log10())
        .collect();
    assert_eq!(y.len(), 114);
    let (coef, rss) = ar_ols(&y, 2, 2).unwrap();
    for (got, published) in coef.iter().zip([1.0549, 1.4101, -0.7734]) {
        assert!((got - published).abs() < 0.04, "{coef:?}");
    }
    // The least-squares solution itself (computed independently, 3x3 by Cramer's rule).
    let rows: Vec<[f64; 3]> = (2..y.len()).map(|t| [1.0, y[t - 1], y[t - 2]]).collect();
    let mut a = [[0.0; 3]; 3];
    let mut b = [0.0; 3];
    for (r, t) in rows.iter().zip(2..y.len()) {
        for i in 0..3 {
            b[i] += r[i] * y[t];
            for j in 0..3 {
                a[i][j] += r[i] * r[j];
            }
        }
    }
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    for k in 0..3 {
        let mut m = a;
        for i in 0..3 {
            m[i][k] = b[i];
        }
        assert!(
            (det(m) / d - coef[k]).abs() < 1e-9,
            "{k}: {} vs {}",
            det(m) / d,
            coef[k]
        );
    }
    assert!(rss > 0.0 && rss < 10.0);
}
