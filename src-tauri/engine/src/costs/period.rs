//! Calendar periods in a time zone: named periods (`this_month`, `last_7d`...), the start
//! of the period containing an instant, and the buckets (hours, days, weeks, months) of a
//! span. Local midnights that do not exist (a DST jump at 00:00) resolve to the first
//! instant after the gap; ambiguous ones to the earlier instant.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::settings::WeekStart;

/// The size of a bucket of a breakdown (`total`: one bucket for the whole span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum BucketSize {
    Hour,
    Day,
    Week,
    Month,
    #[default]
    Total,
}

impl BucketSize {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "total" => Self::Total,
            _ => return None,
        })
    }
}

/// A period by name, relative to now in the configured zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamedPeriod {
    Today,
    Yesterday,
    ThisWeek,
    LastWeek,
    ThisMonth,
    LastMonth,
    ThisYear,
    /// The last 24 hours (rolling).
    #[serde(rename = "last_24h")]
    Last24h,
    #[serde(rename = "last_7d")]
    Last7d,
    #[serde(rename = "last_30d")]
    Last30d,
    #[serde(rename = "last_90d")]
    Last90d,
}

impl NamedPeriod {
    pub const ALL: [NamedPeriod; 11] = [
        Self::Today,
        Self::Yesterday,
        Self::ThisWeek,
        Self::LastWeek,
        Self::ThisMonth,
        Self::LastMonth,
        Self::ThisYear,
        Self::Last24h,
        Self::Last7d,
        Self::Last30d,
        Self::Last90d,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Today => "today",
            Self::Yesterday => "yesterday",
            Self::ThisWeek => "this_week",
            Self::LastWeek => "last_week",
            Self::ThisMonth => "this_month",
            Self::LastMonth => "last_month",
            Self::ThisYear => "this_year",
            Self::Last24h => "last_24h",
            Self::Last7d => "last_7d",
            Self::Last30d => "last_30d",
            Self::Last90d => "last_90d",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// `[from, until)`; `until` is the end of the calendar period, or `now` for rolling
    /// ones.
    pub fn span(self, now: DateTime<Utc>, tz: Tz, ws: WeekStart) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |size| floor(now, size, tz, ws);
        match self {
            Self::Today => {
                let s = start(BucketSize::Day);
                (s, next(s, BucketSize::Day, tz))
            }
            Self::Yesterday => {
                let s = start(BucketSize::Day);
                (floor(s - Duration::hours(1), BucketSize::Day, tz, ws), s)
            }
            Self::ThisWeek => {
                let s = start(BucketSize::Week);
                (s, next(s, BucketSize::Week, tz))
            }
            Self::LastWeek => {
                let s = start(BucketSize::Week);
                (floor(s - Duration::hours(1), BucketSize::Week, tz, ws), s)
            }
            Self::ThisMonth => {
                let s = start(BucketSize::Month);
                (s, next(s, BucketSize::Month, tz))
            }
            Self::LastMonth => {
                let s = start(BucketSize::Month);
                (floor(s - Duration::hours(1), BucketSize::Month, tz, ws), s)
            }
            Self::ThisYear => {
                let local = now.with_timezone(&tz).date_naive();
                let s = local_midnight(tz, NaiveDate::from_ymd_opt(local.year(), 1, 1));
                let e = local_midnight(tz, NaiveDate::from_ymd_opt(local.year() + 1, 1, 1));
                (s, e)
            }
            Self::Last24h => (now - Duration::hours(24), now),
            Self::Last7d => (now - Duration::days(7), now),
            Self::Last30d => (now - Duration::days(30), now),
            Self::Last90d => (now - Duration::days(90), now),
        }
    }
}

/// The instant of local midnight starting `date` (the first instant after a gap).
fn local_midnight(tz: Tz, date: Option<NaiveDate>) -> DateTime<Utc> {
    let Some(date) = date else {
        return DateTime::<Utc>::MAX_UTC;
    };
    local_instant(tz, date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn local_instant(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = naive;
    // A gap is at most a few hours: step forward a minute at a time.
    for _ in 0..(6 * 60) {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&naive)
}

/// The start of the `size` bucket containing `t`.
pub fn floor(t: DateTime<Utc>, size: BucketSize, tz: Tz, ws: WeekStart) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    let date = local.date_naive();
    match size {
        BucketSize::Hour => {
            // Whole hours of local time (a :30 zone's hours start at :30 UTC).
            let naive = date.and_hms_opt(chrono::Timelike::hour(&local), 0, 0);
            let start = naive.map_or(t, |n| local_instant(tz, n));
            if start > t { t } else { start }
        }
        BucketSize::Day => local_midnight(tz, Some(date)),
        BucketSize::Week => {
            let from_start = match ws {
                WeekStart::Monday => date.weekday().num_days_from_monday(),
                WeekStart::Sunday => date.weekday().num_days_from_sunday(),
            };
            local_midnight(
                tz,
                date.checked_sub_days(chrono::Days::new(u64::from(from_start))),
            )
        }
        BucketSize::Month => local_midnight(tz, date.with_day(1)),
        BucketSize::Total => t,
    }
}

/// The start of the bucket after the one starting at `start`.
pub fn next(start: DateTime<Utc>, size: BucketSize, tz: Tz) -> DateTime<Utc> {
    let date = start.with_timezone(&tz).date_naive();
    match size {
        BucketSize::Hour => start + Duration::hours(1),
        BucketSize::Day => local_midnight(tz, date.succ_opt()),
        BucketSize::Week => local_midnight(tz, date.checked_add_days(chrono::Days::new(7))),
        BucketSize::Month => local_midnight(tz, date.checked_add_months(chrono::Months::new(1))),
        BucketSize::Total => DateTime::<Utc>::MAX_UTC,
    }
}

/// The buckets of `[from, until)`: boundaries `b0 = from < b1 < ... < bn = until`, each
/// inner one a bucket start in `tz`. At most `max` buckets (`None` when there would be
/// more).
pub fn boundaries(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    size: BucketSize,
    tz: Tz,
    ws: WeekStart,
    max: usize,
) -> Option<Vec<DateTime<Utc>>> {
    let mut out = vec![from];
    if size == BucketSize::Total || until <= from {
        out.push(until.max(from));
        return Some(out);
    }
    let mut b = next(floor(from, size, tz, ws), size, tz);
    while b < until {
        if out.len() > max {
            return None;
        }
        out.push(b);
        b = next(b, size, tz);
    }
    out.push(until);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn calendar_periods_follow_the_zone_across_dst_and_half_hour_offsets() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: Berlin springs forward at 02:00; the day is 23 hours long.
        let now = utc("2026-03-29T12:00:00Z");
        let (f, u) = NamedPeriod::Today.span(now, berlin, WeekStart::Monday);
        assert_eq!(f, utc("2026-03-28T23:00:00Z"));
        assert_eq!(u, utc("2026-03-29T22:00:00Z"));
        let (f, u) = NamedPeriod::ThisMonth.span(now, berlin, WeekStart::Monday);
        assert_eq!(f, utc("2026-02-28T23:00:00Z"));
        assert_eq!(u, utc("2026-03-31T22:00:00Z"));
        let (f, u) = NamedPeriod::LastMonth.span(now, berlin, WeekStart::Monday);
        assert_eq!(
            (f, u),
            (utc("2026-01-31T23:00:00Z"), utc("2026-02-28T23:00:00Z"))
        );
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let (f, _) =
            NamedPeriod::Today.span(utc("2026-12-06T20:00:00Z"), kolkata, WeekStart::Monday);
        assert_eq!(f, utc("2026-12-06T18:30:00Z"));
        // Sunday 2026-12-06 is in the week starting Monday 2026-11-30, or on Sunday itself.
        let (f, _) = NamedPeriod::ThisWeek.span(
            utc("2026-12-06T12:00:00Z"),
            chrono_tz::UTC,
            WeekStart::Monday,
        );
        assert_eq!(f, utc("2026-11-30T00:00:00Z"));
        let (f, _) = NamedPeriod::ThisWeek.span(
            utc("2026-12-06T12:00:00Z"),
            chrono_tz::UTC,
            WeekStart::Sunday,
        );
        assert_eq!(f, utc("2026-12-06T00:00:00Z"));
        // Daily buckets of that Berlin week: one is 23 hours long.
        let b = boundaries(
            utc("2026-03-23T00:00:00Z"),
            utc("2026-03-30T00:00:00Z"),
            BucketSize::Day,
            berlin,
            WeekStart::Monday,
            100,
        )
        .unwrap();
        assert_eq!(b.len(), 9);
        assert!(b.windows(2).any(|w| w[1] - w[0] == Duration::hours(23)));
        assert_eq!(
            boundaries(
                utc("2026-01-01T00:00:00Z"),
                utc("2027-01-01T00:00:00Z"),
                BucketSize::Hour,
                berlin,
                WeekStart::Monday,
                100
            ),
            None
        );
    }
}
