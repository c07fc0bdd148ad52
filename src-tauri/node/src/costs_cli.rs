//! `flightdeck costs`: the summary of a period (totals, top spenders, cost per successful
//! task), a breakdown (`--by`, `--bucket`), or the period's calls as CSV / JSON Lines
//! (`--export`). With the node stopped it reads the data dir directly; while a node holds
//! it, through the node's API (`/api/v1/costs/*`): both print the same figures.

use std::io::Write;
use std::process::ExitCode;

use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigHandle;
use flightdeck_engine::costs::export::{self, LedgerFormat};
use flightdeck_engine::costs::{
    BucketSize, CostBreakdown, CostFigures, CostFilter, CostSummary, Costs, Dimension, NamedPeriod,
    Span,
};
use flightdeck_engine::providers::ledger::list_oldest_first_in;
use flightdeck_engine::store::{Store, StoreError};

use crate::cli::{BucketArg, CostsArgs, DimensionArg, ExportArg, Global, PeriodArg};
use crate::commands::{data_dir, load_config};
use crate::node_api::NodeApi;

fn dimension(d: DimensionArg) -> Dimension {
    match d {
        DimensionArg::Agent => Dimension::Agent,
        DimensionArg::Client => Dimension::Client,
        DimensionArg::Route => Dimension::Route,
        DimensionArg::Provider => Dimension::Provider,
        DimensionArg::Model => Dimension::Model,
        DimensionArg::Node => Dimension::Node,
        DimensionArg::Tag => Dimension::Tag,
    }
}

fn bucket(b: BucketArg) -> BucketSize {
    match b {
        BucketArg::Hour => BucketSize::Hour,
        BucketArg::Day => BucketSize::Day,
        BucketArg::Week => BucketSize::Week,
        BucketArg::Month => BucketSize::Month,
        BucketArg::Total => BucketSize::Total,
    }
}

fn period(p: PeriodArg) -> anyhow::Result<NamedPeriod> {
    let name = clap::ValueEnum::to_possible_value(&p)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    Ok(serde_json::from_value(serde_json::Value::String(name))?)
}

fn span(args: &CostsArgs) -> anyhow::Result<Span> {
    Ok(Span {
        period: args.period.map(period).transpose()?,
        from: args.from,
        until: args.until,
        time_zone: args.time_zone.clone(),
    })
}

fn filter(args: &CostsArgs) -> CostFilter {
    CostFilter {
        agent: args.agent.clone(),
        client: args.client.clone(),
        route: args.route.clone(),
        provider: args.provider.clone(),
        model: args.model.clone(),
        node: args.node.clone(),
        tag: args.tag.clone(),
    }
}

/// The query string of the API for the span and filters.
fn query(args: &CostsArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let s = span(args)?;
    let f = filter(args);
    let mut q: Vec<(&'static str, String)> = Vec::new();
    if let Some(p) = s.period {
        q.push(("period", p.as_str().to_string()));
    }
    if let Some(t) = s.from {
        q.push(("from", t.to_rfc3339()));
    }
    if let Some(t) = s.until {
        q.push(("until", t.to_rfc3339()));
    }
    for (k, v) in [
        ("time_zone", s.time_zone),
        ("agent", f.agent),
        ("client", f.client),
        ("route", f.route),
        ("provider", f.provider),
        ("model", f.model),
        ("node", f.node),
        ("tag", f.tag),
    ] {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    Ok(q)
}

enum Answer {
    Summary(Box<CostSummary>),
    Breakdown(Box<CostBreakdown>),
}

pub async fn run(global: &Global, args: &CostsArgs) -> anyhow::Result<ExitCode> {
    let dir = data_dir(global)?;
    match Store::open(&dir).await {
        Ok(store) => {
            let out = local(global, &store, args).await;
            store.close().await;
            out?;
        }
        Err(StoreError::DataDirLocked { .. }) => remote(global, args).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn breakdown_wanted(args: &CostsArgs) -> bool {
    args.by.is_some() || args.bucket.is_some_and(|b| b != BucketArg::Total)
}

async fn local(global: &Global, store: &Store, args: &CostsArgs) -> anyhow::Result<()> {
    let (config, source) = load_config(global)?;
    let clock = SystemClock::shared();
    let costs = Costs::new(
        store.clone(),
        ConfigHandle::new(config, source, clock.clone()),
        clock,
    );
    let span = span(args)?;
    if let Some(format) = args.export {
        let format = match format {
            ExportArg::Csv => LedgerFormat::Csv,
            ExportArg::Jsonl => LedgerFormat::Jsonl,
        };
        let (window, _) = costs.window(&span)?;
        let f = export::call_filter(&window, &filter(args));
        let mut out = std::io::stdout().lock();
        let mut after = None;
        let mut first = true;
        loop {
            let rows = list_oldest_first_in(store, f.clone(), after, 2_000).await?;
            let records: Vec<_> = rows.iter().map(|(_, r)| r.clone()).collect();
            let bytes = match format {
                LedgerFormat::Csv => export::csv_chunk(&records, first)?,
                LedgerFormat::Jsonl => export::jsonl_chunk(&records),
            };
            out.write_all(&bytes)?;
            first = false;
            match rows.last() {
                Some((seq, _)) if rows.len() == 2_000 => after = Some(*seq),
                _ => break,
            }
        }
        return Ok(());
    }
    let answer = if breakdown_wanted(args) {
        Answer::Breakdown(Box::new(
            costs
                .breakdown(
                    &span,
                    filter(args),
                    args.by.map(dimension),
                    args.bucket.map_or(BucketSize::Total, bucket),
                )
                .await?,
        ))
    } else {
        Answer::Summary(Box::new(costs.summary(&span, filter(args)).await?))
    };
    print(&answer, args.json)
}

async fn remote(global: &Global, args: &CostsArgs) -> anyhow::Result<()> {
    let api = NodeApi::connect(global).await?;
    let mut q = query(args)?;
    if let Some(format) = args.export {
        q.push((
            "format",
            match format {
                ExportArg::Csv => "csv",
                ExportArg::Jsonl => "jsonl",
            }
            .to_string(),
        ));
        let response = api
            .request(reqwest::Method::GET, "/api/v1/costs/export")
            .query(&q)
            .send()
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("the node answered {status}: {body}");
        }
        let mut out = std::io::stdout().lock();
        let mut response = response;
        while let Some(chunk) = response.chunk().await? {
            out.write_all(&chunk)?;
        }
        return Ok(());
    }
    let answer = if breakdown_wanted(args) {
        if let Some(by) = args.by {
            q.push(("by", dimension(by).as_str().to_string()));
        }
        if let Some(b) = args.bucket {
            q.push((
                "bucket",
                serde_json::to_value(bucket(b))?
                    .as_str()
                    .unwrap_or("total")
                    .to_string(),
            ));
        }
        let body = api
            .send(
                api.request(reqwest::Method::GET, "/api/v1/costs/breakdown")
                    .query(&q),
            )
            .await?;
        Answer::Breakdown(Box::new(serde_json::from_value(body)?))
    } else {
        let body = api
            .send(
                api.request(reqwest::Method::GET, "/api/v1/costs/summary")
                    .query(&q),
            )
            .await?;
        Answer::Summary(Box::new(serde_json::from_value(body)?))
    };
    print(&answer, args.json)
}

/// `$0.001234` with up to 6 decimals (exact figures are in `--json`).
fn usd(d: &rust_decimal::Decimal) -> String {
    format!("${}", d.round_dp(6).normalize())
}

fn cost_cell(f: &CostFigures) -> String {
    if f.unknown_cost_calls > 0 {
        format!("{} +{} unknown", usd(&f.cost), f.unknown_cost_calls)
    } else {
        usd(&f.cost)
    }
}

fn print(answer: &Answer, json: bool) -> anyhow::Result<()> {
    match answer {
        Answer::Summary(s) if json => println!("{}", serde_json::to_string_pretty(s)?),
        Answer::Breakdown(b) if json => println!("{}", serde_json::to_string_pretty(b)?),
        Answer::Summary(s) => {
            let w = &s.window;
            println!(
                "{} → {} ({})",
                w.from.format("%Y-%m-%d %H:%M"),
                w.until.format("%Y-%m-%d %H:%M"),
                w.time_zone
            );
            let t = &s.totals;
            println!("cost           {}", cost_cell(t));
            println!(
                "calls          {} ({} ok, {} errors, {} cancelled, {} unrecorded)",
                t.calls, t.ok, t.errors, t.cancelled, t.unrecorded
            );
            println!(
                "tokens         {} in, {} out, {} cached in, {} cache write, {} reasoning",
                t.tokens.input,
                t.tokens.output,
                t.tokens.cached_input,
                t.tokens.cache_write,
                t.tokens.reasoning
            );
            println!(
                "cache          {} hits saved {}",
                t.cache_hits,
                usd(&t.saved_cost)
            );
            if let Some(p) = s.estimated_calls_pct {
                println!(
                    "estimated      {p}% of calls, {}% of cost",
                    s.estimated_cost_pct.unwrap_or(0.0)
                );
            }
            let pt = &s.per_successful_task;
            match &pt.per_task {
                Some(per) => println!(
                    "per task       {} over {} succeeded tasks",
                    usd(per),
                    pt.tasks
                ),
                None => println!("per task       - (no task succeeded)"),
            }
            for (title, list) in [
                ("top agents", &s.top.agents),
                ("top clients", &s.top.clients),
                ("top models", &s.top.models),
                ("top routes", &s.top.routes),
            ] {
                if list.is_empty() {
                    continue;
                }
                println!("{title}:");
                for sp in list {
                    let key = if sp.key.is_empty() { "(none)" } else { &sp.key };
                    println!("  {key:<40} {:>14} {:>8} calls", usd(&sp.cost), sp.calls);
                }
            }
        }
        Answer::Breakdown(b) => {
            let bucketed = b.bucket != BucketSize::Total;
            let key_title = b.by.map_or("", |d| d.as_str()).to_uppercase();
            if bucketed {
                print!("{:<17} ", "BUCKET");
            }
            if b.by.is_some() {
                print!("{key_title:<32} ");
            }
            println!(
                "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>24}",
                "CALLS", "IN", "OUT", "CACHED", "WRITE", "REASON", "COST"
            );
            let zone: chrono_tz::Tz = b.window.time_zone.parse().unwrap_or(chrono_tz::UTC);
            for r in &b.rows {
                if bucketed {
                    let start = r
                        .bucket_start
                        .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default();
                    print!("{start:<17} ");
                }
                if let Some(k) = &r.key {
                    let k = if k.is_empty() { "(none)" } else { k.as_str() };
                    print!("{k:<32} ");
                }
                let f = &r.figures;
                println!(
                    "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>24}",
                    f.calls,
                    f.tokens.input,
                    f.tokens.output,
                    f.tokens.cached_input,
                    f.tokens.cache_write,
                    f.tokens.reasoning,
                    cost_cell(f)
                );
            }
            println!(
                "total {} over {} calls",
                cost_cell(&b.totals),
                b.totals.calls
            );
        }
    }
    Ok(())
}
