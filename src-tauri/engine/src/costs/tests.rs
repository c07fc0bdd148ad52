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

use crate::test_rng::Lcg;

fn call(i: u64, at: DateTime<Utc>, g: &mut Lcg) -> CallRecord {
    let agents = ["", "summarize", "triage"];
    let agent = agents[g.below(3) as usize];
    let client = if agent.is_empty() {
        ["token:ci", "token:web", "desktop:ana"][g.below(3) as usize].to_string()
    } else {
        format!("agent:{agent}")
    };
    let mut r = CallRecord::start(
        format!("c{i}"),
        at,
        client,
        "default".into(),
        ["node-a", "node-b"][g.below(2) as usize].into(),
        Protocol::Openai,
        g.below(2) == 0,
    );
    r.agent = (!agent.is_empty()).then(|| agent.to_string());
    r.route = (g.below(4) != 0).then(|| ["default", "cheap"][g.below(2) as usize].to_string());
    let (provider, model) = [
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("local", "llama3"),
    ][g.below(4) as usize];
    r.provider = Some(provider.into());
    r.model = Some(model.into());
    r.tags = match g.below(4) {
        0 => vec![],
        1 => vec!["team-a".into()],
        2 => vec!["team-a".into(), "urgent".into()],
        _ => vec!["team-b".into()],
    };
    r.usage = Usage {
        input: g.below(5000),
        output: g.below(2000),
        cached_input: g.below(800),
        cache_write: g.below(300),
        reasoning: g.below(500),
        estimated: g.below(7) == 0,
    };
    r.outcome = match g.below(10) {
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
        ("anthropic", _) if g.below(3) == 0 => None,
        ("local", _) => Some(Decimal::ZERO),
        _ => Some(Decimal::new(i64::try_from(g.below(1_000_000)).unwrap(), 9)),
    };
    r.cache_hit = g.below(10) == 0;
    if r.cache_hit {
        r.saved_cost = Some(Decimal::new(i64::try_from(g.below(5000)).unwrap(), 7));
    }
    r.hops = vec![Hop {
        provider: provider.into(),
        model: model.into(),
        outcome: if g.below(2) == 0 {
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

/// The store and ledger of `dir`.
async fn open_ledger(dir: &std::path::Path, clock: crate::clock::SharedClock) -> (Store, Ledger) {
    let store = Store::open(dir).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let ledger = Ledger::open(
        store.clone(),
        clock,
        dir,
        &tracker,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    (store, ledger)
}

/// A ledger of `n` calls over ten days from 2026-03-25 (Berlin's DST change inside).
async fn ledger(dir: &std::path::Path, n: u64) -> (Store, Ledger, Costs) {
    let start = utc("2026-03-25T00:00:00Z");
    let clock: crate::clock::SharedClock = Arc::new(ManualClock::new(start + Duration::days(11)));
    let (store, ledger) = open_ledger(dir, clock.clone()).await;
    let mut g = Lcg(42);
    for i in 0..n {
        let at = start + Duration::milliseconds(i64::try_from(g.below(10 * 86_400_000)).unwrap());
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
                    // A call counts once per tag it carries: each tag's rows add up to a
                    // raw scan of the calls with that tag.
                    let mut per_tag: std::collections::BTreeMap<String, CostFigures> =
                        std::collections::BTreeMap::new();
                    for row in &b.rows {
                        per_tag
                            .entry(row.key.clone().unwrap_or_default())
                            .or_default()
                            .add(&row.figures);
                    }
                    for tag in ["team-a", "team-b", "urgent"] {
                        if filter.tag.as_deref().is_some_and(|t| t != tag) {
                            // Filtered by another tag: only that tag's rows are there.
                            assert!(!per_tag.contains_key(tag), "{zone} {filter:?}");
                            continue;
                        }
                        let with_tag = CostFilter {
                            tag: Some(tag.into()),
                            ..filter.clone()
                        };
                        let want = costs.scan(&span, with_tag).await.unwrap();
                        let got = per_tag.get(tag).cloned().unwrap_or_default().normalized();
                        assert_eq!(got, want, "{zone} by tag {tag} {filter:?}");
                    }
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
                for t in rollup::TABLES {
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
        .write(|tx| tx.execute("DELETE FROM meta WHERE key = 'costs.rollups.v2'", []))
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

mod budgets {
    use std::sync::Arc;

    use chrono::Duration;
    use rust_decimal::Decimal;

    use crate::clock::{ManualClock, SharedClock};
    use crate::config::{Config, ConfigHandle, ConfigSource};
    use crate::costs::budget::{AlertKind, Gate, Refusal, Scope, max_cost, prompt_upper_bound};
    use crate::providers::neutral::{ChatRequest, Message, Role};
    use crate::providers::prices::{Price, PriceSource};
    use crate::store::Store;

    fn price(input: &str, output: &str) -> Price {
        Price {
            input: input.parse().unwrap(),
            output: output.parse().unwrap(),
            cached_input: Decimal::ZERO,
            cache_write: input.parse().unwrap(),
            reasoning: output.parse().unwrap(),
            source: PriceSource::Config,
        }
    }

    fn request(text: &str, max_tokens: u32) -> ChatRequest {
        ChatRequest {
            model: "default".into(),
            messages: vec![Message::text(Role::User, text)],
            max_tokens: Some(max_tokens),
            ..ChatRequest::default()
        }
    }

    fn scope<'a>(model: &'a str, tags: &'a [String]) -> Scope<'a> {
        Scope {
            client: "token:ci",
            agent: None,
            route: Some("default"),
            provider: "up",
            model,
            tags,
        }
    }

    async fn gate(
        dir: &std::path::Path,
        clock: SharedClock,
        toml: &str,
    ) -> (
        Store,
        Gate,
        tokio_util::task::TaskTracker,
        tokio_util::sync::CancellationToken,
    ) {
        let config: Config = toml::from_str(toml).unwrap();
        config.validate(None).unwrap();
        let store = Store::open(dir).await.unwrap();
        let tracker = tokio_util::task::TaskTracker::new();
        let cancel = tokio_util::sync::CancellationToken::new();
        let gate = Gate::open(
            store.clone(),
            clock.clone(),
            ConfigHandle::new(config, ConfigSource::default(), clock),
            &tracker,
            cancel.clone(),
            None,
        )
        .await
        .unwrap();
        (store, gate, tracker, cancel)
    }

    async fn alerts(store: &Store) -> Vec<(String, String, i64)> {
        // The alerts task writes asynchronously: wait for it to catch up.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        store
            .read(|db| {
                db.query_all(
                    "SELECT budget, kind, threshold FROM budget_alerts ORDER BY budget, kind, threshold",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .await
            .unwrap()
    }

    const BUDGETS: &str = r#"
[budgets.small]
limit_usd = "0.01"
period = "daily"
action = "block"
thresholds = [50, 80]
[budgets.watch]
limit_usd = 0.015
period = "monthly"
model = "up/m1"
[budgets.team]
limit_usd = 1
period = "daily"
action = "block"
tag = "team-a"
"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_holds_never_overshoot_and_settle_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock =
            Arc::new(ManualClock::new("2026-12-07T10:00:00Z".parse().unwrap()));
        let (_store, gate, _t, _c) = gate(dir.path(), clock, BUDGETS).await;
        let p = price("0.1", "0.2"); // $0.10 / $0.20 per million
        let req = request(&"x".repeat(1000), 500);
        let max = max_cost(&p, prompt_upper_bound(&req), 500);
        // 64 threads, each holding then settling at 60% to 100% of its hold.
        let ok = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut threads = Vec::new();
        for i in 0..64u64 {
            let (gate, p, req, ok) = (gate.clone(), p.clone(), req.clone(), ok.clone());
            threads.push(std::thread::spawn(move || {
                for j in 0..10u64 {
                    match gate.reserve(&scope("m1", &[]), Some(&p), &req) {
                        Ok(Some(hold)) => {
                            let spent = hold.amount() * Decimal::from(60 + (i * 7 + j) % 41)
                                / Decimal::from(100);
                            ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            std::thread::yield_now();
                            hold.settle(Some(spent));
                        }
                        Ok(None) => panic!("the budget covers it"),
                        Err(Refusal::Exceeded { budget, .. }) => assert_eq!(budget, "small"),
                        Err(other) => panic!("{other:?}"),
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        let status = gate.status();
        let small = status.iter().find(|b| b.name == "small").unwrap();
        assert!(small.spent <= small.limit_usd, "{small:?}");
        assert_eq!(small.reserved, Decimal::ZERO);
        // It was used up: less than one more hold fits.
        assert!(small.limit_usd - small.spent < max, "{small:?} {max}");
        let n = ok.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n > 5 && n < 640, "{n}");
        // The alert-only budget tracked the same calls (it never refuses).
        let watch = status.iter().find(|b| b.name == "watch").unwrap();
        assert_eq!(watch.spent, small.spent);
        assert!(watch.fired.iter().any(|f| f.threshold == 50));
    }

    #[tokio::test]
    async fn scopes_free_models_unpriced_models_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock =
            Arc::new(ManualClock::new("2026-12-07T10:00:00Z".parse().unwrap()));
        let (_store, gate, _t, _c) = gate(dir.path(), clock, BUDGETS).await;
        let req = request("hello", 100);
        // Spend `small` up.
        let h = gate
            .reserve(&scope("m1", &[]), Some(&price("1", "1")), &req)
            .unwrap()
            .unwrap();
        h.settle(Some("0.00999".parse().unwrap()));
        let e = gate
            .reserve(&scope("m1", &[]), Some(&price("1", "1")), &req)
            .unwrap_err();
        let msg = e.message("up", "m1");
        assert!(
            msg.contains("budget `small`") && msg.contains("resets at 2026-12-08T00:00:00"),
            "{msg}"
        );
        // A free (local) model is outside a budget without include_free.
        assert!(
            gate.reserve(&scope("llama", &[]), Some(&price("0", "0")), &req)
                .unwrap()
                .is_none()
        );
        // An unpriced model under a blocking budget is refused with price_unknown.
        assert!(matches!(
            gate.reserve(&scope("mystery", &[]), None, &req),
            Err(Refusal::PriceUnknown { .. })
        ));
        // The next day, it fits again.
        let (_s2, gate2, _t2, _c2) = {
            let dir2 = tempfile::tempdir().unwrap();
            let c: SharedClock =
                Arc::new(ManualClock::new("2026-12-07T10:00:00Z".parse().unwrap()));
            let g = super::budgets::gate(dir2.path(), c.clone(), BUDGETS).await;
            std::mem::forget(dir2);
            g
        };
        let _ = gate2;
        let tags = vec!["team-a".to_string()];
        let h = gate.reserve(&scope("other", &tags), Some(&price("1", "1")), &req);
        // `team` covers it, `small` too (global): `small` is spent, so refused.
        assert!(matches!(h, Err(Refusal::Exceeded { ref budget, .. }) if budget == "small"));
    }

    #[tokio::test]
    async fn alerts_fire_once_per_threshold_also_across_a_restart_and_again_next_period() {
        let dir = tempfile::tempdir().unwrap();
        let manual = Arc::new(ManualClock::new("2026-12-07T10:00:00Z".parse().unwrap()));
        let clock: SharedClock = manual.clone();
        let req = request("hello", 10);
        let p = price("1", "1");
        {
            let (store, gate, tracker, cancel) = gate(dir.path(), clock.clone(), BUDGETS).await;
            for _ in 0..3 {
                let h = gate
                    .reserve(&scope("m1", &[]), Some(&p), &req)
                    .unwrap()
                    .unwrap();
                h.settle(Some("0.003".parse().unwrap()));
            }
            // 0.009 of 0.01: 50 and 80 fired once each.
            assert_eq!(
                alerts(&store).await,
                vec![
                    ("small".into(), "threshold".into(), 50),
                    ("small".into(), "threshold".into(), 80),
                    ("watch".into(), "threshold".into(), 50),
                ]
            );
            // A write of the ledger the restart will read: the calls of that day.
            store
                .write(|tx| {
                    tx.execute(
                        "INSERT INTO cost_hourly VALUES (1796637600000, 'token:ci', '', 'default', 'up', 'm1', 'n', 3, 3, 0, 0, 0, 1, 1, 0, 0, 0, '0.009', 0, 0, '0', 0, '0')",
                        [],
                    )?;
                    tx.execute(
                        "INSERT INTO cost_daily VALUES (1796601600000, 'token:ci', '', 'default', 'up', 'm1', 'n', 3, 3, 0, 0, 0, 1, 1, 0, 0, 0, '0.009', 0, 0, '0', 0, '0')",
                        [],
                    )
                })
                .await
                .unwrap();
            cancel.cancel();
            tracker.close();
            tracker.wait().await;
            store.close().await;
        }
        // Restart: spent is read back from the rollups; nothing fires twice.
        let (store, gate, _t, _c) = gate(dir.path(), clock.clone(), BUDGETS).await;
        let small = gate
            .status()
            .into_iter()
            .find(|b| b.name == "small")
            .unwrap();
        assert_eq!(small.spent, "0.009".parse::<Decimal>().unwrap());
        assert_eq!(small.reserved, Decimal::ZERO);
        assert_eq!(small.fired.len(), 2);
        assert_eq!(alerts(&store).await.len(), 3);
        // Refused: `blocked` fires once.
        let big = request(&"y".repeat(20_000), 5000);
        assert!(gate.reserve(&scope("m1", &[]), Some(&p), &big).is_err());
        assert!(gate.reserve(&scope("m1", &[]), Some(&p), &big).is_err());
        let a = alerts(&store).await;
        assert_eq!(a.iter().filter(|x| x.1 == "blocked").count(), 1, "{a:?}");
        // The next day: spent starts over and the thresholds can fire again.
        manual.advance(Duration::days(1).to_std().unwrap());
        let small = gate
            .status()
            .into_iter()
            .find(|b| b.name == "small")
            .unwrap();
        assert_eq!(small.spent, Decimal::ZERO);
        assert!(small.fired.is_empty());
        let h = gate
            .reserve(&scope("m1", &[]), Some(&p), &req)
            .unwrap()
            .unwrap();
        h.settle(Some("0.006".parse().unwrap()));
        let a = alerts(&store).await;
        assert_eq!(
            a.iter().filter(|x| x.0 == "small" && x.2 == 50).count(),
            2,
            "{a:?}"
        );
        assert_eq!(a.iter().filter(|x| x.1 == "blocked").count(), 1);
        let _ = AlertKind::Blocked;
    }

    #[test]
    fn bad_budgets_are_refused_with_their_keys() {
        for (toml, key) in [
            (
                "[budgets.a]\nlimit_usd = -5\nperiod = \"daily\"",
                "budgets.a.limit_usd",
            ),
            (
                "[budgets.a]\nlimit_usd = \"ten\"\nperiod = \"daily\"",
                "budgets.a.limit_usd",
            ),
            (
                "[budgets.a]\nlimit_usd = 0\nperiod = \"daily\"",
                "budgets.a.limit_usd",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"fixed\"",
                "budgets.a.period",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"fixed\"\nfrom = 2026-12-02T00:00:00Z\nuntil = \"2026-12-01T00:00:00Z\"",
                "budgets.a.until",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\nfrom = 2026-12-02T00:00:00Z",
                "budgets.a.from",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\nthresholds = [0]",
                "budgets.a.thresholds",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\ntime_zone = \"Moon/Base\"",
                "budgets.a.time_zone",
            ),
            (
                "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\nagent = \"\"",
                "budgets.a.agent",
            ),
            (
                "[budgets.\"bad name!\"]\nlimit_usd = 5\nperiod = \"daily\"",
                "budgets.bad name!",
            ),
            ("[costs]\ntime_zone = \"Nowhere\"", "costs.time_zone"),
        ] {
            let config: Config = toml::from_str(toml).unwrap();
            let e = config.validate(None).unwrap_err();
            assert!(e.to_string().contains(&format!("`{key}`")), "{toml}: {e}");
        }
        for toml in [
            "[budgets.a]\nlimit_usd = 5\nperiod = \"hourly\"",
            "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\naction = \"stop\"",
            "[budgets.a]\nlimit_usd = 5\nperiod = \"daily\"\ncolour = \"red\"",
        ] {
            assert!(toml::from_str::<Config>(toml).is_err(), "{toml}");
        }
    }
}

/// Reconciliation with the sample exports, price gaps and re-pricing as corrections.
mod reconciliation {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    use crate::clock::{ManualClock, SharedClock};
    use crate::config::{Config, ConfigHandle, ConfigSource};
    use crate::costs::reconcile::{BillFormat, ImportOptions};
    use crate::costs::reprice::RepriceRequest;
    use crate::costs::{CostFilter, Costs, CostsError, Span};
    use crate::providers::ledger::{CallOutcome, CallRecord, Protocol};
    use crate::providers::neutral::Usage;
    use crate::store::Store;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/costs/");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
    }

    const CONFIG: &str = r#"
[providers.oa]
kind = "openai"
base_url = "https://llm.example.com/v1"
[providers.an]
kind = "anthropic"
base_url = "https://api.anthropic.com"
[providers.other]
kind = "openai"
base_url = "https://other.example.com/v1"
"#;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn call(
        id: &str,
        at: &str,
        provider: &str,
        model: &str,
        input: u64,
        cost: Option<&str>,
    ) -> CallRecord {
        let at: DateTime<Utc> = at.parse().unwrap();
        let mut r = CallRecord::start(
            id.into(),
            at,
            "token:ci".into(),
            "m".into(),
            "node-a".into(),
            Protocol::Openai,
            false,
        );
        r.provider = Some(provider.into());
        r.model = Some(model.into());
        r.usage = Usage {
            input,
            output: 0,
            ..Usage::default()
        };
        r.cost = cost.map(d);
        r.outcome = CallOutcome::Ok;
        r.finished_at = Some(at);
        r
    }

    async fn setup(dir: &std::path::Path) -> (Store, Costs, ConfigHandle) {
        let clock: SharedClock =
            Arc::new(ManualClock::new("2026-12-05T00:00:00Z".parse().unwrap()));
        let (store, ledger) = super::open_ledger(dir, clock.clone()).await;
        let calls = [
            call(
                "a1",
                "2026-12-01T09:00:00Z",
                "oa",
                "gpt-4o",
                1000,
                Some("0.5"),
            ),
            call(
                "a2",
                "2026-12-01T10:00:00Z",
                "oa",
                "gpt-4o",
                1000,
                Some("0.5"),
            ),
            call(
                "a3",
                "2026-12-01T23:59:59Z",
                "oa",
                "gpt-4o",
                1000,
                Some("0.5"),
            ),
            call(
                "b1",
                "2026-12-02T00:00:00Z",
                "oa",
                "gpt-4o",
                1000,
                Some("1"),
            ),
            call(
                "b2",
                "2026-12-02T12:00:00Z",
                "oa",
                "gpt-4o",
                1000,
                Some("1"),
            ),
            call(
                "b3",
                "2026-12-02T12:00:00Z",
                "oa",
                "gpt-4o-mini",
                1000,
                Some("0.1"),
            ),
            // A model without a price: its cost is unknown, never 0.
            call("b4", "2026-12-02T13:00:00Z", "oa", "m-new", 2_000_000, None),
            call(
                "c1",
                "2026-12-03T08:00:00Z",
                "oa",
                "gpt-4o",
                1000,
                Some("2.5"),
            ),
            // Another provider: not part of the bill.
            call(
                "c2",
                "2026-12-03T08:00:00Z",
                "other",
                "gpt-4o",
                1000,
                Some("7"),
            ),
            call(
                "h1",
                "2026-12-01T12:00:00Z",
                "an",
                "claude-haiku-4-5",
                1000,
                Some("0.75"),
            ),
        ];
        for r in calls {
            ledger.begin(r.clone()).unwrap().finish(r);
        }
        ledger.flush().await;
        let config: Config = toml::from_str(CONFIG).unwrap();
        config.validate(None).unwrap();
        let handle = ConfigHandle::new(config, ConfigSource::default(), clock.clone());
        let costs = Costs::new(store.clone(), handle.clone(), clock);
        (store, costs, handle)
    }

    fn oa() -> ImportOptions {
        ImportOptions {
            providers: vec!["oa".into()],
            file_name: Some("openai-costs.csv".into()),
            ..ImportOptions::default()
        }
    }

    #[tokio::test]
    async fn exports_are_set_beside_the_ledger_per_day_and_model_with_the_drifted_day_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, costs, _) = setup(dir.path()).await;

        let rec = costs
            .import_bill(&fixture("openai-costs.csv"), oa(), "test")
            .await
            .unwrap();
        let s = &rec.summary;
        assert_eq!(s.format, BillFormat::Openai);
        assert_eq!(s.providers, vec!["oa".to_string()]);
        assert_eq!(s.rows, 8);
        assert_eq!((s.billed, s.ledger), (d("6.6"), d("6.1")));
        assert_eq!(s.drifted_days, 1);
        let days: Vec<_> = rec
            .days
            .iter()
            .map(|x| {
                (
                    x.day.to_string(),
                    x.billed,
                    x.ledger,
                    x.drift,
                    x.unknown_cost_calls,
                )
            })
            .collect();
        assert_eq!(
            days,
            vec![
                ("2026-12-01".into(), d("1.5"), d("1.5"), false, 0),
                ("2026-12-02".into(), d("2.1"), d("2.1"), false, 1),
                ("2026-12-03".into(), d("3"), d("2.5"), true, 0),
            ]
        );
        // Per model: the snapshot names meet the ledger's; the unpriced model is a line of
        // its own with its unknown call.
        let line = |day: &str, model: &str| {
            rec.lines
                .iter()
                .find(|l| l.day.to_string() == day && l.model == model)
                .unwrap()
                .clone()
        };
        let l = line("2026-12-03", "gpt-4o");
        assert_eq!(
            (l.billed, l.ledger, l.diff, l.drift),
            (d("3"), d("2.5"), d("0.5"), true)
        );
        assert_eq!(l.diff_pct, Some(16.67));
        let l = line("2026-12-02", "gpt-4o-mini");
        assert_eq!((l.billed, l.ledger, l.drift), (d("0.1"), d("0.1"), false));
        let l = line("2026-12-02", "m-new");
        assert_eq!(
            (l.billed, l.ledger, l.unknown_cost_calls),
            (d("0"), d("0"), 1)
        );

        // The same file again is refused; the list holds it once.
        let err = costs
            .import_bill(&fixture("openai-costs.csv"), oa(), "test")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CostsError::Duplicate(id) if *id == s.id),
            "{err}"
        );
        assert_eq!(err.code().as_str(), "conflict");

        // Bad rows and unknown formats import nothing, and say where and why.
        let err = costs
            .import_bill(&fixture("bad-rows.csv"), oa(), "test")
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_rows");
        let msg = err.to_string();
        for want in [
            "line 3: `2026-12-32`",
            "line 4: no model",
            "line 5: `twelve`",
        ] {
            assert!(msg.contains(want), "{msg}");
        }
        let err = costs
            .import_bill(&fixture("unknown-format.csv"), oa(), "test")
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), "unknown_format");
        let err = costs
            .import_bill(
                &fixture("generic.csv"),
                ImportOptions {
                    providers: vec!["nope".into()],
                    ..ImportOptions::default()
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`nope` is not a configured provider"),
            "{err}"
        );
        assert_eq!(costs.reconciliations(100).await.unwrap().len(), 1);

        // Anthropic's report: the provider on its API host is found; cents are dollars / 100;
        // a charge without a model is billed only.
        let rec = costs
            .import_bill(
                &fixture("anthropic-cost-report.csv"),
                ImportOptions::default(),
                "test",
            )
            .await
            .unwrap();
        assert_eq!(rec.summary.providers, vec!["an".to_string()]);
        assert_eq!(
            (rec.summary.billed, rec.summary.ledger),
            (d("1.75"), d("0.75"))
        );
        let l = rec
            .lines
            .iter()
            .find(|l| l.model == "claude-haiku-4-5")
            .unwrap();
        assert_eq!((l.billed, l.ledger, l.drift), (d("0.75"), d("0.75"), false));
        let l = rec.lines.iter().find(|l| l.model.is_empty()).unwrap();
        assert_eq!((l.billed, l.ledger, l.drift), (d("1"), d("0"), true));

        // The generic format names its provider per row; it matches the ledger but for the
        // unknown-cost call (billed nothing here).
        let rec = costs
            .import_bill(&fixture("generic.csv"), ImportOptions::default(), "test")
            .await
            .unwrap();
        assert_eq!(rec.summary.providers, vec!["oa".to_string()]);
        assert_eq!(rec.summary.drifted_days, 0);
        assert_eq!(rec.summary.diff, d("0"));

        // Listed newest first; removed, the file can be imported again.
        let list = costs.reconciliations(100).await.unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].id, s.id);
        assert_eq!(list[2].drifted_days, 1);
        costs.remove_reconciliation(&s.id).await.unwrap();
        assert_eq!(
            costs
                .reconciliation(&s.id)
                .await
                .unwrap_err()
                .code()
                .as_str(),
            "not_found"
        );
        costs
            .import_bill(&fixture("openai-costs.csv"), oa(), "test")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn repricing_fills_gaps_as_corrections_that_move_the_rollups_with_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let (store, costs, handle) = setup(dir.path()).await;
        let rec = costs
            .import_bill(&fixture("openai-costs.csv"), oa(), "test")
            .await
            .unwrap();

        let gaps = costs.price_gaps().await.unwrap();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(
            (gaps[0].provider.as_str(), gaps[0].model.as_str()),
            ("oa", "m-new")
        );
        assert_eq!(gaps[0].calls, 1);
        assert!(!gaps[0].priced_now);
        assert_eq!(gaps[0].sample_call_ids, vec!["b4".to_string()]);

        // Nothing to do while it has no price.
        let req = RepriceRequest {
            provider: Some("oa".into()),
            ..RepriceRequest::default()
        };
        let r = costs.reprice(&req, "ana").await.unwrap();
        assert_eq!((r.corrected, r.still_unpriced), (0, 1), "{r:?}");

        // The price table gets m-new (and a price for gpt-4o that differs from what the
        // ledger holds, but only m-new is asked for).
        let config: Config = toml::from_str(&format!(
            "{CONFIG}\n[prices.\"oa/m-new\"]\ninput = 0.25\noutput = 1\n[prices.\"oa/gpt-4o\"]\ninput = 1\noutput = 1\n"
        ))
        .unwrap();
        config.validate(None).unwrap();
        handle.apply(config.clone());
        assert!(costs.price_gaps().await.unwrap()[0].priced_now);

        let only_new = RepriceRequest {
            provider: Some("oa".into()),
            model: Some("m-new".into()),
            dry_run: true,
            ..RepriceRequest::default()
        };
        let dry = costs.reprice(&only_new, "ana").await.unwrap();
        assert_eq!((dry.corrected, dry.filled, dry.delta), (1, 1, d("0.5")));
        assert!(dry.batch.is_none());
        let before = costs
            .summary(
                &Span {
                    period: None,
                    from: Some("2026-12-01T00:00:00Z".parse().unwrap()),
                    until: Some("2026-12-04T00:00:00Z".parse().unwrap()),
                    time_zone: None,
                },
                CostFilter::default(),
            )
            .await
            .unwrap();
        assert_eq!(before.totals.unknown_cost_calls, 1);

        let done = costs
            .reprice(
                &RepriceRequest {
                    dry_run: false,
                    ..only_new.clone()
                },
                "ana",
            )
            .await
            .unwrap();
        assert_eq!((done.corrected, done.filled, done.delta), (1, 1, d("0.5")));
        assert!(done.batch.is_some());
        // The ledger row holds the new cost; the correction keeps the old one.
        let (cost, source, old, new, actor): (String, String, Option<String>, String, String) =
            store
                .read(|db| {
                    db.query_one(
                    "SELECT c.cost, c.price_source, k.old_cost, k.new_cost, k.actor FROM calls c \
                     JOIN cost_corrections k ON k.call_id = c.id WHERE c.id = 'b4'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                })
                .await
                .unwrap();
        assert_eq!(
            (
                cost.as_str(),
                source.as_str(),
                old,
                new.as_str(),
                actor.as_str()
            ),
            ("0.5", "config", None, "0.5", "ana")
        );
        assert_eq!(costs.corrections("b4").await.unwrap().len(), 1);
        // The rollups moved with it: the summary (rollups) equals a raw scan of the ledger.
        let span = Span {
            period: None,
            from: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            until: Some("2026-12-04T00:00:00Z".parse().unwrap()),
            time_zone: None,
        };
        let after = costs.summary(&span, CostFilter::default()).await.unwrap();
        assert_eq!(after.totals.unknown_cost_calls, 0);
        assert_eq!(after.totals.cost, before.totals.cost + d("0.5"));
        assert_eq!(after.totals.calls, before.totals.calls);
        let (w, _) = costs.window(&span).unwrap();
        let raw = store
            .read(move |db| crate::costs::query::scan(db, w.from, w.until, &CostFilter::default()))
            .await
            .unwrap();
        assert_eq!(raw, after.totals);
        // The gap is gone, and the reconciliation reads the corrected ledger.
        assert!(costs.price_gaps().await.unwrap().is_empty());
        let again = costs.reconciliation(&rec.summary.id).await.unwrap();
        assert_eq!(again.summary.ledger, rec.summary.ledger + d("0.5"));

        // Done again, nothing changes.
        let twice = costs
            .reprice(
                &RepriceRequest {
                    dry_run: false,
                    ..only_new.clone()
                },
                "ana",
            )
            .await
            .unwrap();
        assert_eq!(twice.corrected, 0);

        // The whole provider: the gpt-4o rows get the configured price, each a correction
        // from its recorded cost; the mini model (no price now) keeps its own.
        let all = costs.reprice(&req, "ana").await.unwrap();
        assert_eq!(all.corrected, 6, "{all:?}");
        assert_eq!(all.still_unpriced, 0);
        assert!(
            all.corrections
                .iter()
                .all(|c| c.old_cost.is_some() && c.model == "gpt-4o")
        );
        let after = costs.summary(&span, CostFilter::default()).await.unwrap();
        let (w, _) = costs.window(&span).unwrap();
        let raw = store
            .read(move |db| crate::costs::query::scan(db, w.from, w.until, &CostFilter::default()))
            .await
            .unwrap();
        assert_eq!(raw, after.totals);
        let n: i64 = store
            .read(|db| db.query_one("SELECT COUNT(*) FROM cost_corrections", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 7);
        // Bad requests.
        let err = costs
            .reprice(
                &RepriceRequest {
                    provider: Some("nope".into()),
                    ..RepriceRequest::default()
                },
                "ana",
            )
            .await
            .unwrap_err();
        assert_eq!(err.code().as_str(), "not_found");
    }
}
