//! A series as it is read: `ds,y` rows (a header, then a date or time and a number each),
//! checked whole (every bad row named by its line; nothing is used when one is bad), sorted,
//! put on the regular grid of its frequency (hourly, daily, weekly, monthly, quarterly,
//! yearly, read from the timestamps), with what that took reported: duplicates averaged,
//! points off the grid moved to the nearest slot, gaps filled by linear interpolation.
//! Zeros and negative values are kept (and reported, since they rule out log models).

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ForecastError;

/// Points a series may have at most.
pub const MAX_POINTS: usize = 200_000;

/// How far apart a series' points are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl Frequency {
    /// The instant `k` steps after `t`.
    pub fn step(self, t: DateTime<Utc>, k: i64) -> Option<DateTime<Utc>> {
        let months = |m: i64| -> Option<DateTime<Utc>> {
            let m = u32::try_from(m.unsigned_abs()).ok()?;
            if k >= 0 {
                t.checked_add_months(Months::new(m))
            } else {
                t.checked_sub_months(Months::new(m))
            }
        };
        match self {
            Self::Hourly => t.checked_add_signed(Duration::hours(k)),
            Self::Daily => t.checked_add_signed(Duration::days(k)),
            Self::Weekly => t.checked_add_signed(Duration::weeks(k)),
            Self::Monthly => months(k),
            Self::Quarterly => months(k * 3),
            Self::Yearly => months(k * 12),
        }
    }

    /// The seasonal periods the calendar gives, longest data permitting (at least two full
    /// cycles): hourly 24 and 168; daily 7 (and 365 with two years); weekly 52; monthly 12;
    /// quarterly 4; yearly none.
    pub fn periods(self, n: usize) -> Vec<usize> {
        let all: &[usize] = match self {
            Self::Hourly => &[24, 168],
            Self::Daily => &[7, 365],
            Self::Weekly => &[52],
            Self::Monthly => &[12],
            Self::Quarterly => &[4],
            Self::Yearly => &[],
        };
        all.iter().copied().filter(|p| n >= 2 * p).collect()
    }

    /// Its step in seconds (a month as 30.44 days).
    pub fn nominal_seconds(self) -> i64 {
        match self {
            Self::Hourly => 3_600,
            Self::Daily => 86_400,
            Self::Weekly => 7 * 86_400,
            Self::Monthly => 30 * 86_400 + 37_800,
            Self::Quarterly => 91 * 86_400 + 27_000,
            Self::Yearly => 365 * 86_400 + 20_736,
        }
    }

    /// Whether dates alone (no time of day) print it.
    pub fn date_only(self) -> bool {
        !matches!(self, Self::Hourly)
    }
}

/// What was done to put the series on its grid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SeriesReport {
    /// Data rows read.
    pub rows: usize,
    /// Rows whose `ds` another row had already (their values were averaged).
    pub duplicates: usize,
    /// Points moved to the nearest slot of the grid.
    pub moved: usize,
    /// Missing slots filled by linear interpolation.
    pub gaps_filled: usize,
    pub zeros: usize,
    pub negatives: usize,
}

/// A regular series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub frequency: Frequency,
    pub start: DateTime<Utc>,
    pub values: Vec<f64>,
    pub report: SeriesReport,
}

impl Series {
    /// The instant of point `i` (or of the `i`-th step after the start).
    pub fn ds(&self, i: usize) -> Option<DateTime<Utc>> {
        self.frequency.step(self.start, i64::try_from(i).ok()?)
    }

    /// Whether every value is above zero (log models need it).
    pub fn positive(&self) -> bool {
        self.values.iter().all(|v| *v > 0.0)
    }
}

fn parse_ds(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|x| x.and_utc())
            .ok_or_else(|| format!("`{t}` is out of range"));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Ok(d.and_utc());
        }
    }
    // Months as `2026-12`.
    if let Ok(d) = NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|x| x.and_utc())
            .ok_or_else(|| format!("`{t}` is out of range"));
    }
    Err(format!(
        "`{t}` is not a date (2026-12-01), a month (2026-12) or a time (2026-12-01T10:00:00Z)"
    ))
}

/// The frequency of sorted distinct instants: from the lower quartile of their spacing
/// (missing points only lengthen spacings, so the low end is the grid's step).
fn frequency_of(ts: &[DateTime<Utc>]) -> Option<Frequency> {
    let mut gaps: Vec<i64> = ts.windows(2).map(|w| (w[1] - w[0]).num_seconds()).collect();
    gaps.sort_unstable();
    let median = *gaps.get(gaps.len() / 4)?;
    [
        Frequency::Hourly,
        Frequency::Daily,
        Frequency::Weekly,
        Frequency::Monthly,
        Frequency::Quarterly,
        Frequency::Yearly,
    ]
    .into_iter()
    .min_by_key(|f| {
        let n = f.nominal_seconds();
        // Relative distance, in thousandths.
        ((median - n).abs() * 1000) / n
    })
    .filter(|f| {
        let n = f.nominal_seconds();
        (median - n).abs() * 5 <= n
    })
}

/// The grid index of `t` from `start` (nearest slot) and whether it was off the grid.
fn slot(f: Frequency, start: DateTime<Utc>, t: DateTime<Utc>) -> (i64, bool) {
    match f {
        Frequency::Monthly | Frequency::Quarterly | Frequency::Yearly => {
            let months = i64::from(t.year() - start.year()) * 12 + i64::from(t.month())
                - i64::from(start.month());
            let per = match f {
                Frequency::Monthly => 1,
                Frequency::Quarterly => 3,
                _ => 12,
            };
            let k = (months as f64 / per as f64).round() as i64;
            let exact = f.step(start, k) == Some(t);
            (k, !exact)
        }
        _ => {
            let n = f.nominal_seconds();
            let secs = (t - start).num_seconds();
            let k = (secs as f64 / n as f64).round() as i64;
            (k, k * n != secs)
        }
    }
}

/// Reads `ds,y` CSV text into a regular series.
pub fn parse_csv(text: &str) -> Result<Series, ForecastError> {
    from_points(parse_points(text)?)
}

/// Reads `ds,y` (or `date,value`) CSV text into its points, in file order, every row
/// checked: any bad row is an error naming its line (the first 20 listed), nothing used.
pub fn parse_points(text: &str) -> Result<Vec<(DateTime<Utc>, f64)>, ForecastError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ForecastError::BadInput(format!("the header does not parse: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| headers.iter().position(|h| h == n))
    };
    let (Some(ds_col), Some(y_col)) = (
        find(&["ds", "date", "time", "timestamp"]),
        find(&["y", "value"]),
    ) else {
        return Err(ForecastError::BadInput(format!(
            "the header ({}) needs a `ds` (or `date`) column and a `y` (or `value`) column",
            headers.join(",")
        )));
    };
    let mut points: Vec<(DateTime<Utc>, f64)> = Vec::new();
    let mut bad = crate::csv_rows::BadRows::default();
    for record in reader.records() {
        let result = record
            .map_err(|e| crate::csv_rows::BadRows::reader_error(&e))
            .and_then(|r| {
                let line = r.position().map_or(0, |p| p.line());
                let ds = parse_ds(r.get(ds_col).unwrap_or("")).map_err(|w| (line, w))?;
                let raw = r.get(y_col).unwrap_or("").trim();
                let y: f64 = raw
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| (line, format!("`{raw}` is not a number")))?;
                Ok((ds, y))
            });
        match result {
            Ok(p) => points.push(p),
            Err((line, why)) => bad.push(line, why),
        }
        if points.len() > MAX_POINTS {
            return Err(ForecastError::BadInput(format!(
                "more than {MAX_POINTS} points"
            )));
        }
    }
    if let Some(message) = bad.message("nothing was used") {
        return Err(ForecastError::InvalidRows(message));
    }
    Ok(points)
}

/// Puts points (any order) on their grid.
pub fn from_points(mut points: Vec<(DateTime<Utc>, f64)>) -> Result<Series, ForecastError> {
    let mut report = SeriesReport {
        rows: points.len(),
        ..SeriesReport::default()
    };
    points.sort_by_key(|p| p.0);
    // Duplicates: averaged.
    let mut merged: Vec<(DateTime<Utc>, f64, u32)> = Vec::with_capacity(points.len());
    for (t, y) in points {
        match merged.last_mut() {
            Some(last) if last.0 == t => {
                last.1 += y;
                last.2 += 1;
                report.duplicates += 1;
            }
            _ => merged.push((t, y, 1)),
        }
    }
    if merged.len() < 3 {
        return Err(ForecastError::TooShort(format!(
            "{} distinct points: a forecast needs at least 3",
            merged.len()
        )));
    }
    let ts: Vec<DateTime<Utc>> = merged.iter().map(|m| m.0).collect();
    let frequency = frequency_of(&ts).ok_or_else(|| {
        ForecastError::BadInput(
            "the timestamps are not hourly, daily, weekly, monthly, quarterly or yearly".into(),
        )
    })?;
    let start = ts[0];
    let mut slots: Vec<(i64, f64)> = Vec::with_capacity(merged.len());
    for (t, sum, n) in merged {
        let (k, moved) = slot(frequency, start, t);
        report.moved += usize::from(moved);
        let y = sum / f64::from(n);
        match slots.last_mut() {
            // Two points moved into one slot: averaged too.
            Some(last) if last.0 == k => {
                last.1 = (last.1 + y) / 2.0;
                report.duplicates += 1;
            }
            _ => slots.push((k, y)),
        }
    }
    let last = slots.last().map_or(0, |s| s.0);
    let len = usize::try_from(last + 1).unwrap_or(0);
    if len > MAX_POINTS {
        return Err(ForecastError::BadInput(format!(
            "the series spans {len} {frequency:?} steps: at most {MAX_POINTS}"
        )));
    }
    let mut values = vec![f64::NAN; len];
    for (k, y) in &slots {
        if let Ok(i) = usize::try_from(*k)
            && let Some(v) = values.get_mut(i)
        {
            *v = *y;
        }
    }
    // Gaps: linear between their neighbours.
    let mut i = 0;
    while i < values.len() {
        if values[i].is_nan() {
            let a = i - 1; // slot 0 is the first point, never a gap
            let mut b = i;
            while values[b].is_nan() {
                b += 1;
            }
            let (va, vb) = (values[a], values[b]);
            for (j, v) in values.iter_mut().enumerate().take(b).skip(i) {
                let w = (j - a) as f64 / (b - a) as f64;
                *v = va + (vb - va) * w;
            }
            report.gaps_filled += b - i;
            i = b;
        }
        i += 1;
    }
    report.zeros = values.iter().filter(|v| **v == 0.0).count();
    report.negatives = values.iter().filter(|v| **v < 0.0).count();
    Ok(Series {
        frequency,
        start,
        values,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked_and_the_grid_is_made() {
        let s = parse_csv(
            "ds,y\n2026-01-01,1\n2026-01-02,2\n2026-01-02,4\n2026-01-05,6\n2026-01-06T05:00:00Z,7\n",
        )
        .unwrap();
        assert_eq!(s.frequency, Frequency::Daily);
        assert_eq!(s.values, vec![1.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(s.report.duplicates, 1);
        assert_eq!(s.report.gaps_filled, 2);
        assert_eq!(s.report.moved, 1);
        assert_eq!(s.report.rows, 5);

        let m = parse_csv("date,value\n2026-01,5\n2026-02,0\n2026-03,-1\n2026-05-01,3\n").unwrap();
        assert_eq!(m.frequency, Frequency::Monthly);
        assert_eq!(m.values, vec![5.0, 0.0, -1.0, 1.0, 3.0]);
        assert_eq!((m.report.zeros, m.report.negatives), (1, 1));
        assert!(!m.positive());
        assert_eq!(
            m.ds(5).unwrap(),
            "2026-06-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );

        let err = parse_csv("ds,y\n2026-01-01,1\n2026-01-02,x\n2026-13-01,2\n2026-01-04,1,2\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3: `x` is not a number"), "{msg}");
        assert!(msg.contains("line 4: `2026-13-01` is not a date"), "{msg}");
        assert!(msg.contains("line 5: 3 fields"), "{msg}");
        assert!(
            parse_csv("when,what\n1,2\n")
                .unwrap_err()
                .to_string()
                .contains("`ds`")
        );
        assert!(matches!(
            parse_csv("ds,y\n2026-01-01,1\n").unwrap_err(),
            ForecastError::TooShort(_)
        ));
    }

    #[test]
    fn periods_come_from_the_calendar() {
        assert_eq!(Frequency::Hourly.periods(24 * 7 * 2), vec![24, 168]);
        assert_eq!(Frequency::Hourly.periods(100), vec![24]);
        assert_eq!(Frequency::Daily.periods(800), vec![7, 365]);
        assert_eq!(Frequency::Monthly.periods(30), vec![12]);
        assert_eq!(Frequency::Monthly.periods(20), Vec::<usize>::new());
    }
}
