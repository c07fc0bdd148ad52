//! Tests of costs: the rollups read through any zone and span equal a raw scan of the
//! ledger; the backfill builds the same rollups; cells add up to their totals.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::clock::ManualClock;
use crate::config::{Config, ConfigSource};
use crate::providers::ledger::{CallOutcome, CallRecord, Hop, HopOutcome, Ledger, Protocol};
use crate::providers::neutral::Usage;

/// A small deterministic generator (no dependency, same ledger every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn call(i: u64, at: DateTime<Utc>, g: &mut Lcg) -> CallRecord {
    let agents = ["", "summarize", "triage"];
    let agent = agents[g.next(3) as usize];
    let client = if agent.is_empty() {
        ["token:ci", "token:web", "desktop:ana"][g.next(3) as usize].to_string()
    } else {
        format!("agent:{agent}")
    };
    let mut r = CallRecord::start(
        format!("c{i}"),
        at,
        client,
        "default".into(),
        ["node-a", "node-b"][g.next(2) as usize].into(),
        Protocol::Openai,
        g.next(2) == 0,
    );
    r.agent = (!agent.is_empty()).then(|| agent.to_string());
    r.route = (g.next(4) != 0).then(|| ["default", "cheap"][g.next(2) as usize].to_string());
    let (provider, model) = [
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("local", "llama3"),
    ][g.next(4) as usize];
    r.provider = Some(provider.into());
    r.model = Some(model.into());
    r.tags = match g.next(4) {
        0 => vec![],
        1 => vec!["team-a".into()],
        2 => vec!["team-a".into(), "urgent".into()],
        _ => vec!["team-b".into()],
    };
    r.usage = Usage {
        input: g.next(5000),
        output: g.next(2000),
        cached_input: g.next(800),
        cache_write: g.next(300),
        reasoning: g.next(500),
        estimated: g.next(7) == 0,
    };
    r.outcome = match g.next(10) {
        0 => CallOutcome::Error,
        1 => CallOutcome::Cancelled,
        2 => CallOutcome::Unrecorded,
        _ => CallOutcome::Ok,
    };
    if r.outcome == CallOutcome::Error || r.outcome == CallOutcome::Unrecorded {
        r.usage = Usage::default();
    }
    r.cost = match (provider, r.outcome) {
        (_, CallOutcome::Unrecorded) => None,
        ("anthropic", _) if g.next(3) == 0 => None,
        ("local", _) => Some(Decimal::ZERO),
        _ => Some(Decimal::new(i64::try_from(g.next(1_000_000)).unwrap(), 9)),
    };
    r.cache_hit = g.next(10) == 0;
    if r.cache_hit {
        r.saved_cost = Some(Decimal::new(i64::try_from(g.next(5000)).unwrap(), 7));
    }
    r.hops = vec![Hop {
        provider: provider.into(),
        model: model.into(),
        outcome: if g.next(2) == 0 {
            HopOutcome::Ok
        } else {
            HopOutcome::Failed
        },
        error_code: None,
        reason: None,
        attempts: 1,
        latency_us: 10,
    }];
    r.finished_at = Some(at);
    r
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A ledger of `n` calls over ten days from 2026-03-25 (Berlin's DST change inside).
async fn ledger(dir: &std::path::Path, n: u64) -> (Store, Ledger, Costs) {
    let start = utc("2026-03-25T00:00:00Z");
    let clock: crate::clock::SharedClock = Arc::new(ManualClock::new(start + Duration::days(11)));
    let store = Store::open(dir).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let ledger = Ledger::open(
        store.clone(),
        clock.clone(),
        dir,
        &tracker,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut g = Lcg(42);
    for i in 0..n {
        let at = start + Duration::milliseconds(i64::try_from(g.next(10 * 86_400_000)).unwrap());
        let r = call(i, at, &mut g);
        let t = ledger.begin(r.clone()).unwrap();
        t.finish(r);
    }
    ledger.flush().await;
    let costs = Costs::new(
        store.clone(),
        ConfigHandle::new(Config::default(), ConfigSource::default(), clock.clone()),
        clock,
    );
    (store, ledger, costs)
}

fn filters() -> Vec<CostFilter> {
    vec![
        CostFilter::default(),
        CostFilter {
            agent: Some("summarize".into()),
            ..Default::default()
        },
        CostFilter {
            model: Some("openai/gpt-4.1".into()),
            ..Default::default()
        },
        CostFilter {
            model: Some("claude-haiku-4-5".into()),
            route: Some("default".into()),
            ..Default::default()
        },
        CostFilter {
            tag: Some("team-a".into()),
            ..Default::default()
        },
        CostFilter {
            tag: Some("urgent".into()),
            node: Some("node-b".into()),
            ..Default::default()
        },
        CostFilter {
            client: Some("token:web".into()),
            provider: Some("openai".into()),
            ..Default::default()
        },
    ]
}

#[tokio::test]
async fn rollups_read_through_any_zone_and_span_equal_a_raw_scan_of_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _ledger, costs) = ledger(dir.path(), 3000).await;
    let spans = [
        (
            "UTC",
            utc("2026-03-25T00:00:00Z"),
            utc("2026-04-04T00:00:00Z"),
        ),
        (
            "Europe/Berlin",
            utc("2026-03-26T07:13:05.123Z"),
            utc("2026-04-02T19:59:59.999Z"),
        ),
        (
            "Asia/Kolkata",
            utc("2026-03-27T18:30:00Z"),
            utc("2026-03-31T18:30:00Z"),
        ),
        (
            "America/St_Johns",
            utc("2026-03-25T03:30:00Z"),
            utc("2026-03-25T05:00:00Z"),
        ),
    ];
    for (zone, from, until) in spans {
        let span = Span {
            from: Some(from),
            until: Some(until),
            time_zone: Some(zone.into()),
            period: None,
        };
        for filter in filters() {
            let scan = costs.scan(&span, filter.clone()).await.unwrap();
            for bucket in [
                BucketSize::Total,
                BucketSize::Hour,
                BucketSize::Day,
                BucketSize::Week,
            ] {
                let b = costs
                    .breakdown(&span, filter.clone(), None, bucket)
                    .await
                    .unwrap();
                assert_eq!(b.totals, scan, "{zone} {bucket:?} {filter:?}");
                // Each bucket equals a raw scan of its own span.
                if bucket == BucketSize::Day {
                    let tz: chrono_tz::Tz = zone.parse().unwrap();
                    let bounds = period::boundaries(
                        from,
                        until,
                        bucket,
                        tz,
                        settings::WeekStart::Monday,
                        100,
                    )
                    .unwrap();
                    for row in &b.rows {
                        let start = row.bucket_start.unwrap();
                        let i = bounds.iter().position(|x| *x == start).unwrap();
                        let f = filter.clone();
                        let (a, z) = (bounds[i], bounds[i + 1]);
                        let one = store
                            .read(move |db| query::scan(db, a, z, &f))
                            .await
                            .unwrap();
                        assert_eq!(row.figures, one, "{zone} day {start}");
                    }
                }
            }
            for by in Dimension::ALL {
                let b = costs
                    .breakdown(&span, filter.clone(), Some(by), BucketSize::Day)
                    .await
                    .unwrap();
                if by != Dimension::Tag {
                    assert_eq!(b.totals, scan, "{zone} by {by:?} {filter:?}");
                } else {
                    // A call counts once per tag it carries.
                    assert!(b.totals.calls >= scan.calls.min(1) || scan.calls == 0);
                }
            }
        }
    }
    // The figures are not trivially zero: every kind of token, unknown and estimated.
    let all = costs
        .scan(
            &Span {
                from: Some(utc("2026-03-01T00:00:00Z")),
                until: Some(utc("2026-05-01T00:00:00Z")),
                ..Default::default()
            },
            CostFilter::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.calls, 3000);
    assert!(all.unknown_cost_calls > 100 && all.estimated_calls > 100 && all.cache_hits > 100);
    assert!(all.tokens.reasoning > 0 && all.tokens.cache_write > 0 && all.cost > Decimal::ZERO);
    assert!(all.unrecorded > 0 && all.cancelled > 0 && all.errors > 0);
}

#[tokio::test]
async fn the_backfill_builds_the_same_rollups_as_the_live_path_and_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _ledger, _costs) = ledger(dir.path(), 500).await;
    let dump = |store: Store| async move {
        store
            .read(|db| {
                let mut out = Vec::new();
                for t in [
                    "cost_hourly",
                    "cost_daily",
                    "cost_tag_hourly",
                    "cost_tag_daily",
                ] {
                    out.extend(db.query_all(
                        &format!("SELECT '{t}', * FROM {t} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"),
                        [],
                        |r| {
                            let mut v = Vec::new();
                            for i in 0..25 {
                                match r.get::<_, rusqlite::types::Value>(i) {
                                    Ok(x) => v.push(format!("{x:?}")),
                                    Err(_) => break,
                                }
                            }
                            Ok(v.join("|"))
                        },
                    )?);
                }
                Ok::<_, StoreError>(out)
            })
            .await
            .unwrap()
    };
    let live = dump(store.clone()).await;
    assert!(live.len() > 500);
    assert_eq!(rollup::backfill(&store).await.unwrap(), 0, "runs once");
    store
        .write(|tx| tx.execute("DELETE FROM meta WHERE key = 'costs.rollups.v1'", []))
        .await
        .unwrap();
    assert_eq!(rollup::backfill(&store).await.unwrap(), 500);
    assert_eq!(dump(store.clone()).await, live);
}

#[tokio::test]
async fn summary_and_bad_spans() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _ledger, costs) = ledger(dir.path(), 400).await;
    let span = Span {
        from: Some(utc("2026-03-25T00:00:00Z")),
        until: Some(utc("2026-04-05T00:00:00Z")),
        ..Default::default()
    };
    let s = costs.summary(&span, CostFilter::default()).await.unwrap();
    assert_eq!(s.totals.calls, 400);
    assert!(s.top.models.len() == 4 && s.top.models[0].cost >= s.top.models[1].cost);
    assert!(s.top.agents.iter().all(|a| !a.key.is_empty()));
    assert!(s.estimated_calls_pct.unwrap() > 0.0);
    for bad in [
        Span {
            period: Some(NamedPeriod::Today),
            from: Some(utc("2026-03-25T00:00:00Z")),
            ..Default::default()
        },
        Span {
            from: Some(utc("2026-03-25T00:00:00Z")),
            until: Some(utc("2026-03-24T00:00:00Z")),
            ..Default::default()
        },
        Span {
            until: Some(utc("2026-03-24T00:00:00Z")),
            ..Default::default()
        },
        Span {
            time_zone: Some("Mars/Olympus".into()),
            ..Default::default()
        },
    ] {
        let e = costs
            .summary(&bad, CostFilter::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest, "{bad:?}");
    }
    let e = costs
        .breakdown(
            &Span {
                from: Some(utc("2026-01-01T00:00:00Z")),
                until: Some(utc("2026-12-01T00:00:00Z")),
                ..Default::default()
            },
            CostFilter::default(),
            None,
            BucketSize::Hour,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("buckets"), "{e}");
}
