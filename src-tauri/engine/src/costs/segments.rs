//! How a span of time is read from the rollups: whole UTC days from `cost_daily`, whole UTC
//! hours from `cost_hourly`, and what is left at either end (a zone with a :30 offset, a
//! `since` at 10:17) from `calls` itself. A part-day of more than 12 hours is read as the
//! whole day minus the hours outside it (a Berlin day is 1 day row and 2 hour rows, not 24
//! hour rows). Every millisecond of the span is counted exactly once (segments with
//! `negative` are subtracted), so the sums are exact whatever the zone.

/// One hour, in ms.
pub const HOUR: i64 = 3_600_000;
/// One UTC day, in ms.
pub const DAY: i64 = 86_400_000;

/// Where a segment is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Daily,
    Hourly,
    Raw,
}

/// `[from, until)` in ms, read from `source`, added (or subtracted when `negative`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub source: Source,
    pub from: i64,
    pub until: i64,
    pub negative: bool,
}

fn ceil_to(t: i64, unit: i64) -> i64 {
    let f = t.div_euclid(unit) * unit;
    if f == t { t } else { f + unit }
}

fn floor_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

struct Out(Vec<Segment>);

impl Out {
    fn push(&mut self, source: Source, from: i64, until: i64, negative: bool) {
        if until > from {
            self.0.push(Segment {
                source,
                from,
                until,
                negative,
            });
        }
    }

    /// The whole hours `[a, b)` inside the UTC day starting at `day`: as hours, or as the
    /// day minus the hours outside, whichever reads fewer rows.
    fn part_day(&mut self, day: i64, a: i64, b: i64) {
        let inside = (b - a) / HOUR;
        let outside = 24 - inside;
        if outside + 1 < inside {
            self.push(Source::Daily, day, day + DAY, false);
            self.push(Source::Hourly, day, a, true);
            self.push(Source::Hourly, b, day + DAY, true);
        } else {
            self.push(Source::Hourly, a, b, false);
        }
    }
}

/// `[from, until)` cut into segments: raw edges, hours (or days minus hours), whole days.
pub fn split(from: i64, until: i64) -> Vec<Segment> {
    let mut out = Out(Vec::new());
    if until <= from {
        return out.0;
    }
    let h0 = ceil_to(from, HOUR);
    let h1 = floor_to(until, HOUR);
    if h0 >= h1 {
        out.push(Source::Raw, from, until, false);
        return out.0;
    }
    out.push(Source::Raw, from, h0, false);
    let d0 = ceil_to(h0, DAY);
    let d1 = floor_to(h1, DAY);
    if d0 <= d1 {
        if h0 < d0 {
            out.part_day(d0 - DAY, h0, d0);
        }
        out.push(Source::Daily, d0, d1, false);
        if d1 < h1 {
            out.part_day(d1, d1, h1);
        }
    } else {
        out.part_day(floor_to(h0, DAY), h0, h1);
    }
    out.push(Source::Raw, h1, until, false);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many times the segments count instant `t` (added minus subtracted).
    fn net(segs: &[Segment], t: i64) -> i64 {
        segs.iter()
            .filter(|s| s.from <= t && t < s.until)
            .map(|s| if s.negative { -1 } else { 1 })
            .sum()
    }

    #[test]
    fn segments_count_every_instant_of_the_span_once_and_nothing_else() {
        let cases = [
            (0, DAY),
            (HOUR / 2, 3 * DAY + HOUR + 17),
            (5 * HOUR + 30 * 60_000, 5 * HOUR + 45 * 60_000),
            (DAY - HOUR, DAY + HOUR),
            (-DAY - 5, DAY + 5),
            (23 * HOUR, 47 * HOUR),                             // a Berlin day
            (18 * HOUR + 30 * 60_000, 42 * HOUR + 30 * 60_000), // a Kolkata day
            (2 * HOUR, 22 * HOUR),                              // most of one day
            (1_765_000_000_123, 1_767_654_321_000),
        ];
        for (from, until) in cases {
            let segs = split(from, until);
            let mut probes = vec![from, until - 1, from - 1, until];
            for s in &segs {
                probes.extend([s.from, s.until - 1, s.from - 1, s.until]);
            }
            for t in probes {
                let want = i64::from(from <= t && t < until);
                assert_eq!(net(&segs, t), want, "{from}..{until} at {t}: {segs:?}");
            }
            for s in &segs {
                match s.source {
                    Source::Daily => assert!(s.from % DAY == 0 && s.until % DAY == 0),
                    Source::Hourly => assert!(s.from % HOUR == 0 && s.until % HOUR == 0),
                    Source::Raw => assert!(s.until - s.from < HOUR && !s.negative),
                }
            }
        }
        // A Berlin day: one day row and two hour rows rather than 23 hours.
        let berlin = split(23 * HOUR, 47 * HOUR);
        assert_eq!(
            berlin.iter().filter(|s| s.source == Source::Daily).count(),
            1
        );
        assert_eq!(berlin.len(), 3, "{berlin:?}");
        assert_eq!(
            split(0, DAY),
            vec![Segment {
                source: Source::Daily,
                from: 0,
                until: DAY,
                negative: false
            }]
        );
        assert!(split(5, 5).is_empty());
    }
}
