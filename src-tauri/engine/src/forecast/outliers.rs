//! Outliers in a series' history: points far from the series' own decomposition, anywhere in
//! it (the backtest and the check of pushed points see only its end).
//!
//! The series, on its grid, is split into a fit (trend and seasons) and a remainder by MSTL
//! (stlrs through augurs, the calendar's seasonal periods). A series without two full
//! calendar seasons (yearly data, short series) is not checked: with no season to tell the
//! shape by, a cycle's peaks look like outliers (a local line flags 19 of the 309 yearly
//! sunspot numbers); its backtest and pushes are still checked.
//! Positive series are decomposed on their logs (a season that grows with the level is one
//! shape there, and a remainder is a relative deviation; the band is then asymmetric).
//! A point whose remainder is more than 3.5 robust standard deviations from the remainders'
//! median is an outlier: the modified z-score rule of Iglewicz and Hoaglin (1993), with
//! σ̂ = MAD / 0.6745 (or the mean absolute deviation × 1.2533 when more than half the
//! remainders are equal). About one point in 2,000 of Gaussian noise passes it.
//!
//! An outlier bends a least-squares fit towards itself, making its neighbours look odd and
//! hiding a smaller outlier beside it. So outliers are taken one at a time, as in Rosner's
//! generalized ESD: the most extreme point beyond the rule is set aside, replaced by the
//! median of its own season's neighbours (the points one and two seasons away), and the
//! series decomposed again, until no point is beyond the
//! rule or [`MAX_OUTLIERS`] are found. (STL's own robustness weights are not used: they leave
//! remainders heavier-tailed than their MAD says, 99 of 4,000 Gaussian points flagged, and on
//! a flat series they can fold a spike into the season.)
//!
//! Must never: flag a point of a series too short to tell its shape from noise (fewer than
//! [`MIN_POINTS`]), or a point whose band is not finite.

use augurs::mstl::stlrs::MstlParams;

use super::series::Series;

/// The modified z-score beyond which a point is an outlier.
pub const Z: f64 = 3.5;
/// Points a series needs before its history is checked.
pub const MIN_POINTS: usize = 12;
/// Outliers found at most (each costs a decomposition); also at most a tenth of the points.
pub const MAX_OUTLIERS: usize = 50;

/// A point of the series far from its decomposition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlier {
    /// Its index in the series' values.
    pub index: usize,
    /// What the decomposition gives for it once the outliers are set aside (trend, seasons
    /// and the remainders' median).
    pub expected: f64,
    /// `expected` ± 3.5 robust standard deviations: the band it fell outside.
    pub lo: f64,
    pub hi: f64,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The fit of `y` (trend and seasons) by MSTL on `periods`; `None` when it fails.
fn fitted(y: &[f64], periods: &[usize]) -> Option<Vec<f64>> {
    let fit = MstlParams::new().fit(y, periods).ok()?;
    let r = fit.remainder();
    (r.len() == y.len() && r.iter().all(|v| v.is_finite()))
        .then(|| y.iter().zip(r).map(|(v, r)| v - r).collect())
}

/// The remainders' median and robust standard deviation, without the points set aside; not
/// below `floor` (rounding: a remainder a billionth of the values is none).
fn scale(r: &[f64], aside: &[bool], floor: f64) -> Option<(f64, f64)> {
    let mut kept: Vec<f64> = r
        .iter()
        .zip(aside)
        .filter(|(_, a)| !**a)
        .map(|(v, _)| *v)
        .collect();
    let n = kept.len();
    let med = median(&mut kept)?;
    let mut dev: Vec<f64> = kept.iter().map(|v| (v - med).abs()).collect();
    let mad = median(&mut dev)?;
    let sigma = if mad > 0.0 {
        mad / 0.6745
    } else {
        dev.iter().sum::<f64>() / n as f64 * 1.2533
    };
    let sigma = sigma.max(floor);
    (sigma.is_finite() && sigma > 0.0).then_some((med, sigma))
}

/// What stands in for point `i` once set aside: the median of the points one and two
/// seasons (`m`) away, leaving out those set aside.
fn stand_in(y: &[f64], aside: &[bool], i: usize, m: usize) -> Option<f64> {
    let mut near: Vec<f64> = [1, 2]
        .iter()
        .flat_map(|k| [i.checked_sub(k * m), Some(i + k * m)])
        .flatten()
        .filter(|j| *j < y.len() && !aside[*j])
        .map(|j| y[j])
        .collect();
    median(&mut near)
}

/// The outliers of `series`, oldest first.
pub fn outliers(series: &Series) -> Vec<Outlier> {
    let y = &series.values;
    let n = y.len();
    if n < MIN_POINTS || !y.iter().all(|v| v.is_finite()) {
        return Vec::new();
    }
    let periods = series.frequency.periods(n);
    let Some(m) = periods.first().copied() else {
        return Vec::new();
    };
    // Positive series on logs: a season that grows with the level is one shape there, and a
    // remainder is a relative deviation.
    let log = series.positive();
    let t: Vec<f64> = if log {
        y.iter().map(|v| v.ln()).collect()
    } else {
        y.clone()
    };
    let back = |v: f64| if log { v.exp() } else { v };
    let mut clean = t.clone();
    let mut aside = vec![false; n];
    let mut found: Vec<usize> = Vec::new();
    let floor = if log {
        1e-9
    } else {
        y.iter().map(|v| v.abs()).fold(0.0, f64::max) * 1e-9
    };
    let (fit, med, sigma) = loop {
        let Some(fit) = fitted(&clean, &periods) else {
            return Vec::new();
        };
        let r: Vec<f64> = clean.iter().zip(&fit).map(|(v, f)| v - f).collect();
        let Some((med, sigma)) = scale(&r, &aside, floor) else {
            break (fit, 0.0, 0.0);
        };
        let worst = (0..n)
            .filter(|i| !aside[*i])
            .max_by(|a, b| (r[*a] - med).abs().total_cmp(&(r[*b] - med).abs()));
        match worst {
            Some(i)
                if ((r[i] - med) / sigma).abs() > Z && found.len() < MAX_OUTLIERS.min(n / 10) =>
            {
                aside[i] = true;
                found.push(i);
                clean[i] = stand_in(&t, &aside, i, m).unwrap_or(fit[i] + med);
            }
            _ => break (fit, med, sigma),
        }
    };
    if sigma <= 0.0 {
        return Vec::new();
    }
    found.sort_unstable();
    found
        .into_iter()
        .filter_map(|i| {
            let c = fit[i] + med;
            let (expected, lo, hi) = (back(c), back(c - Z * sigma), back(c + Z * sigma));
            let o = Outlier {
                index: i,
                expected,
                lo,
                hi,
            };
            ((y[i] < lo || y[i] > hi) && expected.is_finite() && lo.is_finite() && hi.is_finite())
                .then_some(o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::forecast::series;
    use crate::test_rng::Lcg;

    fn daily(values: &[f64]) -> Series {
        let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        series::from_points(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (start + Duration::days(i as i64), *v))
                .collect(),
        )
        .unwrap()
    }

    /// A weekly shape on a trend with small deterministic noise.
    fn weekly(n: usize) -> Vec<f64> {
        let mut g = Lcg(7);
        (0..n)
            .map(|i| {
                let noise = (g.unit() - 0.5) * 4.0;
                let week = [0.0, 10.0, 12.0, 11.0, 9.0, -15.0, -20.0][i % 7];
                200.0 + 0.3 * i as f64 + week + noise
            })
            .collect()
    }

    #[test]
    fn spikes_and_dips_in_the_middle_of_a_seasonal_series_are_found_and_nothing_else() {
        let mut y = weekly(300);
        y[40] += 60.0;
        y[150] -= 45.0;
        // A Saturday dip is the season, not an outlier; a Saturday as high as a Tuesday is one.
        y[215] += 32.0;
        // Two side by side: the larger must not hide the smaller.
        y[250] += 50.0;
        y[251] += 30.0;
        let shifts = [60.0, -45.0, 32.0, 50.0, 30.0];
        let found = outliers(&daily(&y));
        let at: Vec<usize> = found.iter().map(|o| o.index).collect();
        assert_eq!(at, vec![40, 150, 215, 250, 251], "{found:?}");
        for (o, shift) in found.iter().zip(shifts) {
            let clean = y[o.index] - shift;
            assert!(
                (o.expected - clean).abs() < 4.0,
                "{o:?} expected near {clean}"
            );
            assert!(y[o.index] < o.lo || y[o.index] > o.hi);
        }
    }

    #[test]
    fn gaussian_noise_alone_is_almost_never_flagged() {
        let mut g = Lcg(11);
        let y: Vec<f64> = (0..4000).map(|_| 50.0 + 3.0 * g.normal()).collect();
        let found = outliers(&daily(&y)).len();
        eprintln!("{found} of 4,000 Gaussian points flagged");
        assert!(found <= 6, "{found} of 4,000 flagged");
    }

    fn real(name: &str) -> Series {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/forecast/");
        let text = std::fs::read_to_string(format!("{dir}{name}.csv")).unwrap();
        series::from_points(series::parse_points(&text).unwrap()).unwrap()
    }

    fn flagged(s: &Series) -> Vec<String> {
        outliers(s)
            .iter()
            .map(|o| s.ds(o.index).unwrap().format("%Y-%m").to_string())
            .collect()
    }

    #[test]
    fn real_series_the_1982_83_el_nino_stands_out_and_a_growing_season_does_not() {
        // Monthly Niño 3.4 sea temperatures: the 1982–83 El Niño, one of the century's
        // strongest, is the run of outliers; little else is.
        let nino = flagged(&real("elnino_sst"));
        assert!(
            ["1983-05", "1983-06", "1983-07"]
                .iter()
                .all(|m| nino.contains(&m.to_string())),
            "{nino:?}"
        );
        assert!(nino.len() <= 8, "{nino:?}");
        // Airline passengers: a season that grows with the level (on logs, one shape).
        assert!(flagged(&real("air_passengers")).len() <= 1);
        // UK road casualties: the 1983 seat-belt law is a level shift, not outliers.
        assert!(flagged(&real("uk_road_ksi")).len() <= 1);
        // Weekly CO2 at Mauna Loa: a handful of odd weeks in 2,284.
        assert!(flagged(&real("co2_weekly")).len() <= 10);
        // Yearly data has no calendar season: not checked (its cycle's peaks are no outliers).
        assert!(flagged(&real("sunspots")).is_empty());
        assert!(flagged(&real("lynx")).is_empty());
        // Too short to tell.
        assert!(
            outliers(&daily(&[
                1.0, 2.0, 3.0, 100.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0
            ]))
            .is_empty()
        );
    }

    #[test]
    fn a_flat_series_with_one_odd_point_uses_the_mean_deviation() {
        let mut y = vec![5.0; 40];
        y[20] = 9.0;
        let found = outliers(&daily(&y));
        assert_eq!(found.iter().map(|o| o.index).collect::<Vec<_>>(), vec![20]);
        assert!(outliers(&daily(&[5.0; 40])).is_empty());
    }
}
