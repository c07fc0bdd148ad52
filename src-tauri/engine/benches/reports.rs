//! Charts, burn forecasts and reports, measured (docs/benchmarks.md; issue 11 asks for chart
//! render time and report generation time).
//!
//! - Charts: a 90-day forecast chart (history, bands, backtest, anomalies) and 31 days of
//!   spend stacked by 6 agents with 2 budget lines, as SVG and as PNG (1000 × 380).
//! - Burn: fitting a budget's model on 4 weeks of hourly spend (three candidates, the
//!   cumulative backtest) and the projection recomputed on a read (`Costs::budgets`, the model
//!   cached).
//! - Reports: a weekly report over a ledger of `ROWS` calls (default 100,000, 30 days), three
//!   KPI series of a year each, two budgets and a goal: gathered, charts drawn, HTML and PDF
//!   written, through [`Reports::generate`] as the API calls it.
//!
//! Run: `cargo bench -p flightdeck-engine --bench reports`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flightdeck_engine::charts::{self, Format, Theme};
use flightdeck_engine::clock::{ManualClock, SharedClock};
use flightdeck_engine::config::{Config, ConfigHandle, ConfigSource};
use flightdeck_engine::costs::{BucketSize, CostFilter, Costs, Dimension, Gate, Span};
use flightdeck_engine::forecast::goals::{Direction, GoalRequest};
use flightdeck_engine::forecast::kpi::{ImportRequest, Kpis};
use flightdeck_engine::providers::ledger::{CallOutcome, CallRecord, Ledger, Protocol};
use flightdeck_engine::reports::{Period, ReportRequest, Reports};
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

fn report(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{label:<58} p50 {:>8.2} ms  max {:>8.2} ms  (n = {})",
        v[v.len() / 2].as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3,
        v.len()
    );
}

fn csv(days: usize, base: f64, seed: u64) -> String {
    let mut g = Lcg(seed);
    let mut s = String::from("date,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    for i in 0..days {
        let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][i % 7];
        let v = (base + i as f64 * 0.3) * w + g.next(100) as f64 / 10.0;
        s.push_str(&format!("{},{v:.2}\n", start + chrono::Days::new(i as u64)));
    }
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let now: DateTime<Utc> = "2026-12-07T09:00:00Z".parse().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let store = Store::open(dir.path()).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let ledger = Ledger::open(
        store.clone(),
        clock.clone(),
        dir.path(),
        &tracker,
        cancel.clone(),
    )
    .await
    .unwrap();
    let start = now - chrono::Duration::days(30);
    let mut g = Lcg(3);
    let agents = [
        "triage",
        "summarize",
        "research",
        "support",
        "billing",
        "ops",
        "qa",
        "docs",
    ];
    for i in 0..rows {
        let at = start + chrono::Duration::milliseconds((i * 30 * 86_400_000 / rows) as i64);
        let agent = agents[g.next(agents.len() as u64) as usize];
        let mut r = CallRecord::start(
            format!("c{i}"),
            at,
            format!("agent:{agent}"),
            "default".into(),
            "n".into(),
            Protocol::Openai,
            false,
        );
        r.agent = Some(agent.into());
        r.provider = Some("openai".into());
        r.model = Some(["gpt-4.1", "gpt-4.1-mini"][g.next(2) as usize].into());
        r.outcome = CallOutcome::Ok;
        r.cost = Some(Decimal::new(g.next(20_000) as i64, 6));
        r.finished_at = Some(at);
        ledger.begin(r.clone()).unwrap().finish(r);
    }
    ledger.flush().await;
    let config: Config = toml::from_str(
        "[budgets.month]\nlimit_usd = 900\nperiod = \"monthly\"\n\
         [budgets.triage]\nlimit_usd = 150\nperiod = \"weekly\"\nagent = \"triage\"\n\
         [health_score.revenue]\ntarget = 600\nweight = 2\n[health_score.orders]\ntarget = 900\n",
    )
    .unwrap();
    let handle = ConfigHandle::new(config, ConfigSource::default(), clock.clone());
    let gate = Gate::open(
        store.clone(),
        clock.clone(),
        handle.clone(),
        &tracker,
        cancel.clone(),
        None,
    )
    .await
    .unwrap();
    let costs = Costs::new(store.clone(), handle.clone(), clock.clone()).with_gate(gate);
    let kpis = Kpis::new(store.clone(), clock.clone(), costs.clone());
    for (name, base, seed) in [
        ("revenue", 500.0, 1),
        ("orders", 800.0, 2),
        ("tickets", 60.0, 3),
    ] {
        kpis.import(
            name,
            ImportRequest {
                csv: csv(365, base, seed),
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    }
    kpis.set_goal(GoalRequest {
        name: "q1".into(),
        series: "revenue".into(),
        target: 700.0,
        due: "2027-03-31T00:00:00Z".parse().unwrap(),
        direction: Direction::AtLeast,
        alert_below: None,
    })
    .await
    .unwrap();

    // Charts.
    let f = kpis.forecast("revenue", Some(30), None).await.unwrap();
    let forecast_chart = charts::build::forecast(&f);
    let span = Span {
        period: None,
        from: Some(now - chrono::Duration::days(31)),
        until: Some(now),
        time_zone: None,
    };
    let by_agent = costs
        .breakdown(
            &span,
            CostFilter::default(),
            Some(Dimension::Agent),
            BucketSize::Day,
        )
        .await
        .unwrap();
    let budgets = costs.budgets().await.unwrap();
    let costs_chart = charts::build::costs(&by_agent, &budgets, 6);
    for (label, chart) in [
        ("forecast chart", &forecast_chart),
        ("spend by agent, 31 days, 2 budget lines", &costs_chart),
    ] {
        for format in [Format::Svg, Format::Png] {
            for _ in 0..2 {
                charts::render(chart, Theme::Light, format, 1000, 380).unwrap();
            }
            let v = (0..20)
                .map(|_| {
                    let t = Instant::now();
                    charts::render(chart, Theme::Light, format, 1000, 380).unwrap();
                    t.elapsed()
                })
                .collect();
            report(&format!("{label}, {format:?} 1000x380"), v);
        }
    }

    // Burn: a fresh fit (a new Costs has an empty cache), then cached reads.
    let mut fits = Vec::new();
    for _ in 0..10 {
        let fresh = Costs::new(store.clone(), handle.clone(), clock.clone());
        let t = Instant::now();
        let b = fresh.budgets().await.unwrap();
        fits.push(t.elapsed());
        assert!(b.iter().all(|b| b.forecast.is_some()));
    }
    report(
        "budgets with burn forecasts, 2 budgets, fitted (4 weeks hourly)",
        fits,
    );
    let mut async_reads = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        costs.budgets().await.unwrap();
        async_reads.push(t.elapsed());
    }
    report(
        "budgets with burn forecasts, 2 budgets, cached model",
        async_reads,
    );

    // Reports.
    let reports = Reports::on_store(
        store.clone(),
        clock.clone(),
        handle.clone(),
        None,
        "bench".into(),
    );
    let req = ReportRequest {
        period: Period::Week,
        to_date: false,
        formats: None,
        deliver: false,
    };
    reports.generate(&req).await.unwrap();
    let mut v = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        last = Some(reports.generate(&req).await.unwrap());
        v.push(t.elapsed());
    }
    report(
        &format!("weekly report, HTML + PDF, {rows} calls, 3 KPIs, 2 budgets"),
        v,
    );
    if let Some(r) = last {
        for f in r.files {
            println!(
                "  {} {} bytes{}",
                f.name,
                f.bytes,
                f.pages.map_or_else(String::new, |p| format!(", {p} pages"))
            );
        }
    }
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}
