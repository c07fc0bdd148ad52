//! `flightdeck calls ls`: the usage ledger as a table (or JSON lines). With the node stopped
//! it reads the data dir's database directly; while a node holds it, through the node's API
//! (`/api/v1/calls`), so both give the same rows.

use std::process::ExitCode;

use flightdeck_engine::providers::ledger::{CallFilter, CallOutcome, CallRecord};
use flightdeck_engine::store::{Store, StoreError};

use crate::cli::{CallsAction, CallsLsArgs, Global, OutcomeArg};
use crate::commands::data_dir;
use crate::node_api::NodeApi;

fn outcome(o: OutcomeArg) -> CallOutcome {
    match o {
        OutcomeArg::Ok => CallOutcome::Ok,
        OutcomeArg::Error => CallOutcome::Error,
        OutcomeArg::Cancelled => CallOutcome::Cancelled,
        OutcomeArg::Unrecorded => CallOutcome::Unrecorded,
    }
}

fn filter(args: &CallsLsArgs) -> anyhow::Result<CallFilter> {
    Ok(CallFilter {
        client: args.client.clone(),
        route: args.route.clone(),
        provider: args.provider.clone(),
        model: args.model.clone(),
        outcome: args.outcome.map(outcome),
        since: args.since,
        ..CallFilter::default()
    })
}

pub async fn run(global: &Global, action: &CallsAction) -> anyhow::Result<ExitCode> {
    let CallsAction::Ls(args) = action;
    let f = filter(args)?;
    let dir = data_dir(global)?;
    let rows = match Store::open(&dir).await {
        Ok(store) => {
            let rows = flightdeck_engine::providers::ledger::list_in(&store, f, args.limit).await;
            store.close().await;
            rows?
        }
        Err(StoreError::DataDirLocked { .. }) => through_node(global, &f, args.limit).await?,
        Err(e) => return Err(e.into()),
    };
    print(&rows, args.json)?;
    Ok(ExitCode::SUCCESS)
}

async fn through_node(
    global: &Global,
    f: &CallFilter,
    limit: u32,
) -> anyhow::Result<Vec<CallRecord>> {
    let api = NodeApi::connect(global).await?;
    let mut query: Vec<(&str, String)> = Vec::new();
    let text = [
        ("client", &f.client),
        ("route", &f.route),
        ("provider", &f.provider),
        ("model", &f.model),
    ];
    for (k, v) in text {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    if let Some(o) = f.outcome {
        query.push((
            "outcome",
            serde_json::to_value(o)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
    }
    if let Some(s) = f.since {
        query.push(("since", s.to_rfc3339()));
    }
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    while out.len() < limit as usize {
        let page = (limit as usize - out.len()).min(500);
        let mut q = query.clone();
        q.push(("limit", page.to_string()));
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let body = api
            .send(api.request(reqwest::Method::GET, "/api/v1/calls").query(&q))
            .await?;
        out.extend(serde_json::from_value::<Vec<CallRecord>>(
            body["items"].clone(),
        )?);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    Ok(out)
}

fn print(rows: &[CallRecord], json: bool) -> anyhow::Result<()> {
    if json {
        for r in rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    println!(
        "{:<19} {:<18} {:<12} {:<32} {:<10} {:>8} {:>8} {:>8} {:>12} {:>9} {:<5} ID",
        "STARTED",
        "CLIENT",
        "ROUTE",
        "PROVIDER/MODEL",
        "OUTCOME",
        "IN",
        "OUT",
        "CACHED",
        "COST",
        "LATENCY",
        "HOPS",
    );
    for r in rows {
        let pm = match (&r.provider, &r.model) {
            (Some(p), Some(m)) => format!("{p}/{m}"),
            _ => "-".into(),
        };
        let cost = match r.cost {
            Some(c) if r.cache_hit => format!("{c} (hit)"),
            Some(c) => c.to_string(),
            None => "unknown".into(),
        };
        let est = if r.usage.estimated { "~" } else { "" };
        println!(
            "{:<19} {:<18} {:<12} {:<32} {:<10} {:>8} {:>8} {:>8} {:>12} {:>7}ms {:<5} {}",
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.client,
            r.route.as_deref().unwrap_or("-"),
            pm,
            serde_json::to_value(r.outcome)?
                .as_str()
                .unwrap_or_default(),
            format!("{est}{}", r.usage.input + r.usage.cache_write),
            format!("{est}{}", r.usage.total_output()),
            r.usage.cached_input,
            cost,
            r.latency_us / 1000,
            r.hops.len(),
            r.id,
        );
    }
    Ok(())
}
