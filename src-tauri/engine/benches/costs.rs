//! Costs over a large ledger, measured (docs/benchmarks.md): summary and breakdown queries
//! over 1,000,000 ledger rows (issue 10's target: p50 ≤ 50 ms, p99 ≤ 200 ms), and what the
//! rollups cost the ledger's writer.
//!
//! Run: `cargo bench -p flightdeck-engine --bench costs` (ROWS=… to change the size). The
//! ledger is built through the real path ([`Ledger::begin`] / `finish`: journal, recorder,
//! rollups in the same transaction) with 30 days of calls from 3 agents and 4 tokens over
//! 6 models on 2 providers, 2 nodes, 0–2 of 4 tags each; then each query runs 40 times
//! (after 3 warm-ups) through [`Costs`] as the API calls it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightdeck_engine::clock::{ManualClock, SharedClock};
use flightdeck_engine::config::{Config, ConfigHandle, ConfigSource};
use flightdeck_engine::costs::{BucketSize, CostFilter, Costs, Dimension, NamedPeriod, Span};
use flightdeck_engine::providers::ledger::{
    CallOutcome, CallRecord, Hop, HopOutcome, Ledger, Protocol,
};
use flightdeck_engine::providers::neutral::Usage;
use flightdeck_engine::store::Store;
use rust_decimal::Decimal;

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
    let who = g.next(7);
    let (client, agent) = if who < 3 {
        let a = ["summarize", "triage", "research"][who as usize];
        (format!("agent:{a}"), Some(a.to_string()))
    } else {
        (format!("token:app{}", who - 3), None)
    };
    let mut r = CallRecord::start(
        format!("c{i}"),
        at,
        client,
        "default".into(),
        ["node-a", "node-b"][g.next(2) as usize].into(),
        Protocol::Openai,
        g.next(3) == 0,
    );
    r.agent = agent;
    r.route = Some(["default", "cheap", "smart"][g.next(3) as usize].into());
    let (p, m) = [
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "o4-mini"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-opus-4-1"),
    ][g.next(6) as usize];
    r.provider = Some(p.into());
    r.model = Some(m.into());
    r.tags = match g.next(5) {
        0 | 1 => vec![],
        2 => vec!["team-a".into()],
        3 => vec!["team-b".into(), "urgent".into()],
        _ => vec!["batch".into()],
    };
    r.usage = Usage {
        input: g.next(4000),
        output: g.next(1000),
        cached_input: g.next(2000),
        cache_write: g.next(100),
        reasoning: g.next(300),
        estimated: g.next(50) == 0,
    };
    r.outcome = if g.next(40) == 0 {
        CallOutcome::Error
    } else {
        CallOutcome::Ok
    };
    r.cost = Some(Decimal::new(i64::try_from(g.next(50_000_000)).unwrap(), 10));
    r.finished_at = Some(at);
    r.hops = vec![Hop {
        provider: p.into(),
        model: m.into(),
        outcome: HopOutcome::Ok,
        error_code: None,
        reason: None,
        attempts: 1,
        latency_us: 900,
    }];
    r
}

fn pct(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

async fn time<F, Fut>(name: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..3 {
        f().await;
    }
    let mut v = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        f().await;
        v.push(t.elapsed());
    }
    println!(
        "{name:<58} p50 {:>7.1} ms   p99 {:>7.1} ms",
        pct(&mut v, 0.5),
        pct(&mut v, 0.99)
    );
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // COSTS_BENCH_DIR keeps the ledger between runs (built once, then reused).
    let keep = std::env::var_os("COSTS_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir_path = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let end: DateTime<Utc> = "2026-12-31T00:00:00Z".parse().unwrap();
    let start = end - chrono::Duration::days(30);
    let clock: SharedClock = Arc::new(ManualClock::new(end));
    let store = Store::open(&dir_path).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let opened = Instant::now();
    let ledger = Ledger::open(
        store.clone(),
        clock.clone(),
        &dir_path,
        &tracker,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    println!(
        "ledger opened in {:.1} s (with a rollup backfill when the rollups are older than the ledger)",
        opened.elapsed().as_secs_f64()
    );
    let mut g = Lcg(7);
    let t = Instant::now();
    let span_ms = (end - start).num_milliseconds() as u64;
    let have: i64 = store
        .read(|db| db.query_one("SELECT COUNT(*) FROM calls", [], |r| r.get(0)))
        .await
        .unwrap();
    let rows = if keep.is_some() && have > 0 {
        println!(
            "reusing the ledger of {have} calls in {}",
            dir_path.display()
        );
        0
    } else {
        rows
    };
    for i in 0..rows {
        // Time order, as a real ledger grows.
        let at = start + chrono::Duration::milliseconds((i * span_ms / rows) as i64);
        let r = call(i, at, &mut g);
        ledger.begin(r.clone()).unwrap().finish(r);
        if i % 50_000 == 49_999 {
            ledger.flush().await;
        }
    }
    ledger.flush().await;
    let took = t.elapsed();
    println!(
        "ledger of {rows} calls written through the recorder with rollups: {:.1} s ({:.0} calls/s), database {} MiB",
        took.as_secs_f64(),
        rows as f64 / took.as_secs_f64(),
        store.size_bytes() / (1 << 20)
    );
    let costs = Costs::new(
        store.clone(),
        ConfigHandle::new(Config::default(), ConfigSource::default(), clock.clone()),
        clock.clone(),
    );
    let month = Span {
        period: Some(NamedPeriod::Last30d),
        ..Span::default()
    };
    let berlin = Span {
        time_zone: Some("Europe/Berlin".into()),
        ..month.clone()
    };
    let odd = Span {
        from: Some(start + chrono::Duration::minutes(17)),
        until: Some(end - chrono::Duration::minutes(41)),
        time_zone: Some("Asia/Kolkata".into()),
        period: None,
    };
    time("summary, 30 days (totals, top 4×5, per task)", || async {
        costs.summary(&month, CostFilter::default()).await.unwrap();
    })
    .await;
    time("summary, 30 days, one agent", || async {
        costs
            .summary(
                &month,
                CostFilter {
                    agent: Some("triage".into()),
                    ..CostFilter::default()
                },
            )
            .await
            .unwrap();
    })
    .await;
    time("breakdown by model, 30 days total", || async {
        costs
            .breakdown(
                &month,
                CostFilter::default(),
                Some(Dimension::Model),
                BucketSize::Total,
            )
            .await
            .unwrap();
    })
    .await;
    time("breakdown by day, 30 days (UTC)", || async {
        costs
            .breakdown(&month, CostFilter::default(), None, BucketSize::Day)
            .await
            .unwrap();
    })
    .await;
    time(
        "breakdown by day × agent, 30 days (Europe/Berlin)",
        || async {
            costs
                .breakdown(
                    &berlin,
                    CostFilter::default(),
                    Some(Dimension::Agent),
                    BucketSize::Day,
                )
                .await
                .unwrap();
        },
    )
    .await;
    time(
        "breakdown by tag, 30 days, :17 → :41 edges (Asia/Kolkata)",
        || async {
            costs
                .breakdown(
                    &odd,
                    CostFilter::default(),
                    Some(Dimension::Tag),
                    BucketSize::Day,
                )
                .await
                .unwrap();
        },
    )
    .await;
    time("breakdown by hour × model, last 7 days", || async {
        costs
            .breakdown(
                &Span {
                    period: Some(NamedPeriod::Last7d),
                    ..Span::default()
                },
                CostFilter::default(),
                Some(Dimension::Model),
                BucketSize::Hour,
            )
            .await
            .unwrap();
    })
    .await;
    time(
        "raw scan of the same 30 days (no rollups), for reference",
        || async {
            costs.scan(&month, CostFilter::default()).await.unwrap();
        },
    )
    .await;
    store.close().await;
}
