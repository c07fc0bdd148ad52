//! Accuracy on real public series (tests/data/forecast, sources and licences in its
//! README): a rolling-origin evaluation — the last 3 windows of a horizon each (12 for
//! monthly, 8 quarterly, 10 yearly, 26 weekly), each forecast from the points before it —
//! reporting MASE, sMAPE and interval coverage per series and pooled, beside the seasonal
//! naive forecast at the same origins.

use super::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/forecast/");

/// Series and their evaluation horizon.
pub const SERIES: [(&str, usize); 9] = [
    ("air_passengers", 12),
    ("shampoo_sales", 6),
    ("uk_road_ksi", 12),
    ("elnino_sst", 12),
    ("us_consumption_change", 8),
    ("lynx", 10),
    ("nile", 10),
    ("sunspots", 10),
    ("co2_weekly", 26),
];

/// One series' figures.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub mase: f64,
    pub smape: f64,
    pub naive_mase: f64,
    pub in80: usize,
    pub in95: usize,
    pub points: usize,
}

/// Evaluates one series file.
pub fn evaluate(name: &str, h: usize) -> Scores {
    let text = std::fs::read_to_string(format!("{DATA}{name}.csv")).unwrap_or_default();
    let Ok(s) = series::parse_csv(&text) else {
        return Scores::default();
    };
    let n = s.values.len();
    let m = s.frequency.periods(n).first().copied().unwrap_or(1);
    let mut out = Scores::default();
    let (mut ae, mut nae, mut sm, mut k) = (0.0, 0.0, 0.0, 0usize);
    let windows = 3;
    for w in (1..=windows).rev() {
        let o = n - w * h;
        let train = Series {
            values: s.values[..o].to_vec(),
            ..s.clone()
        };
        let Ok(f) = forecast(&train, h, None) else {
            continue;
        };
        let y = &s.values;
        let scale = {
            let d: Vec<f64> = (m..o).map(|i| (y[i] - y[i - m]).abs()).collect();
            (d.iter().sum::<f64>() / d.len().max(1) as f64).max(1e-9)
        };
        for (j, r) in f.rows.iter().enumerate() {
            let actual = y[o + j];
            let snaive = y[o - m + (j % m)];
            ae += (actual - r.mean).abs() / scale;
            nae += (actual - snaive).abs() / scale;
            let d = actual.abs() + r.mean.abs();
            sm += if d > 0.0 {
                2.0 * (actual - r.mean).abs() / d
            } else {
                0.0
            };
            out.in80 += usize::from(r.lo80 <= actual && actual <= r.hi80);
            out.in95 += usize::from(r.lo95 <= actual && actual <= r.hi95);
            k += 1;
        }
    }
    let kf = k.max(1) as f64;
    out.mase = ae / kf;
    out.naive_mase = nae / kf;
    out.smape = sm / kf * 100.0;
    out.points = k;
    out
}

#[test]
fn real_series_beat_the_seasonal_naive_forecast_with_honest_intervals() {
    let (mut ours, mut naive) = (0.0, 0.0);
    let (mut in80, mut in95, mut points) = (0usize, 0usize, 0usize);
    println!(
        "{:<24} {:>8} {:>8} {:>9} {:>7} {:>7}",
        "series", "MASE", "sn MASE", "sMAPE %", "cov80", "cov95"
    );
    for (name, h) in SERIES {
        let s = evaluate(name, h);
        assert!(s.points > 0, "{name} could not be evaluated");
        println!(
            "{name:<24} {:>8.3} {:>8.3} {:>9.2} {:>7.2} {:>7.2}",
            s.mase,
            s.naive_mase,
            s.smape,
            s.in80 as f64 / s.points as f64,
            s.in95 as f64 / s.points as f64
        );
        ours += s.mase;
        naive += s.naive_mase;
        in80 += s.in80;
        in95 += s.in95;
        points += s.points;
    }
    let k = SERIES.len() as f64;
    let (c80, c95) = (in80 as f64 / points as f64, in95 as f64 / points as f64);
    println!(
        "pooled: MASE {:.3} (seasonal naive {:.3}), coverage 80 % {c80:.3}, 95 % {c95:.3}, {points} points",
        ours / k,
        naive / k
    );
    assert!(
        ours < naive,
        "mean MASE {} not below seasonal naive {}",
        ours / k,
        naive / k
    );
    assert!((0.74..=0.86).contains(&c80), "pooled 80 % coverage {c80}");
    assert!((0.91..=0.98).contains(&c95), "pooled 95 % coverage {c95}");
}
