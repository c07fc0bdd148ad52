//! How a span of time is read from the rollups: whole UTC days from `cost_daily`, whole UTC
//! hours from `cost_hourly`, and what is left at either end (a zone with a :30 offset, a
//! `since` at 10:17) from `calls` itself. Every millisecond of the span is in exactly one
//! segment, so the sums are exact whatever the zone.

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

/// `[from, until)` in ms, read from `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub source: Source,
    pub from: i64,
    pub until: i64,
}

fn ceil_to(t: i64, unit: i64) -> i64 {
    let f = t.div_euclid(unit) * unit;
    if f == t { t } else { f + unit }
}

fn floor_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

/// `[from, until)` cut into the fewest segments: raw edges, hourly edges, daily middle.
pub fn split(from: i64, until: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    if until <= from {
        return out;
    }
    let mut push = |source, a: i64, b: i64| {
        if b > a {
            out.push(Segment {
                source,
                from: a,
                until: b,
            });
        }
    };
    let h0 = ceil_to(from, HOUR);
    let h1 = floor_to(until, HOUR);
    if h0 >= h1 {
        push(Source::Raw, from, until);
        return out;
    }
    push(Source::Raw, from, h0);
    let d0 = ceil_to(h0, DAY);
    let d1 = floor_to(h1, DAY);
    if d0 < d1 {
        push(Source::Hourly, h0, d0);
        push(Source::Daily, d0, d1);
        push(Source::Hourly, d1, h1);
    } else {
        push(Source::Hourly, h0, h1);
    }
    push(Source::Raw, h1, until);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(segs: &[Segment]) -> Vec<(i64, i64)> {
        segs.iter().map(|s| (s.from, s.until)).collect()
    }

    #[test]
    fn segments_cover_the_span_exactly_once_and_use_the_coarsest_table() {
        let cases = [
            (0, DAY),
            (HOUR / 2, 3 * DAY + HOUR + 17),
            (5 * HOUR + 30 * 60_000, 5 * HOUR + 45 * 60_000),
            (DAY - HOUR, DAY + HOUR),
            (-DAY - 5, DAY + 5),
            (1_765_000_000_123, 1_767_654_321_000),
        ];
        for (from, until) in cases {
            let segs = split(from, until);
            let spans = covered(&segs);
            assert_eq!(spans.first().map(|s| s.0), Some(from), "{from}..{until}");
            assert_eq!(spans.last().map(|s| s.1), Some(until), "{from}..{until}");
            for w in spans.windows(2) {
                assert_eq!(w[0].1, w[1].0, "contiguous: {spans:?}");
            }
            for s in &segs {
                match s.source {
                    Source::Daily => assert!(s.from % DAY == 0 && s.until % DAY == 0),
                    Source::Hourly => assert!(s.from % HOUR == 0 && s.until % HOUR == 0),
                    Source::Raw => assert!(s.until - s.from < 2 * HOUR),
                }
            }
        }
        assert_eq!(
            split(0, DAY),
            vec![Segment {
                source: Source::Daily,
                from: 0,
                until: DAY
            }]
        );
        assert!(split(5, 5).is_empty());
    }
}
