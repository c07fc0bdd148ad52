//! `flightdeck series import NAME FILE` (a CSV checked whole, previewed with `--dry-run`),
//! `series ls` and `series rm NAME`. Through the node's API while a node holds the data
//! dir; otherwise on the database.

use std::process::ExitCode;

use anyhow::Context;
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::forecast::kpi::{ImportOutcome, ImportRequest, Kpis, SeriesInfo};
use flightdeck_engine::store::Store;

use crate::cli::{Global, SeriesCommand};
use crate::node_api::NodeApi;

/// The engine's series on the data dir, or `None` when a node holds it.
async fn open_local(global: &Global) -> anyhow::Result<Option<(Store, Kpis)>> {
    Ok(crate::commands::open_local_costs(global)
        .await?
        .map(|(store, costs)| {
            let kpis = Kpis::new(store.clone(), SystemClock::shared(), costs);
            (store, kpis)
        }))
}

/// `name`, checked here (a series name is a plain path segment once checked).
fn checked(name: &str) -> anyhow::Result<&str> {
    flightdeck_engine::forecast::kpi::check_name(name)?;
    Ok(name)
}

pub async fn run(global: &Global, action: &SeriesCommand) -> anyhow::Result<ExitCode> {
    match action {
        SeriesCommand::Import {
            name,
            file,
            dry_run,
            replace,
            unit,
            description,
            json,
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let req = ImportRequest {
                csv: text,
                dry_run: *dry_run,
                replace: *replace,
                description: description.clone(),
                unit: unit.clone(),
            };
            let out: ImportOutcome = match open_local(global).await? {
                Some((store, kpis)) => {
                    let r = kpis.import(name, req).await;
                    store.close().await;
                    r?
                }
                None => {
                    let api = NodeApi::connect(global).await?;
                    let v = api
                        .send(
                            api.request(
                                reqwest::Method::POST,
                                &format!("/api/v1/series/{}/import", checked(name)?),
                            )
                            .json(&req),
                        )
                        .await?;
                    serde_json::from_value(v)?
                }
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_import(&out);
            }
        }
        SeriesCommand::Ls { json } => {
            let items: Vec<SeriesInfo> = match open_local(global).await? {
                Some((store, kpis)) => {
                    let r = kpis.list().await;
                    store.close().await;
                    r?
                }
                None => {
                    let api = NodeApi::connect(global).await?;
                    let v = api
                        .send(api.request(reqwest::Method::GET, "/api/v1/series"))
                        .await?;
                    serde_json::from_value(v["items"].clone())?
                }
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                println!(
                    "{:<24} {:>8} {:<12} {:>14} {:>9}  UNIT",
                    "SERIES", "POINTS", "LAST", "LAST VALUE", "ANOMALIES"
                );
                for s in items {
                    println!(
                        "{:<24} {:>8} {:<12} {:>14} {:>9}  {}{}",
                        s.name,
                        s.points,
                        s.last
                            .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string()),
                        s.last_value.map_or_else(|| "-".into(), |v| format!("{v}")),
                        s.anomalies,
                        s.unit,
                        if s.builtin { "  (built in)" } else { "" }
                    );
                }
            }
        }
        SeriesCommand::Rm { name } => {
            match open_local(global).await? {
                Some((store, kpis)) => {
                    let r = kpis.remove(name).await;
                    store.close().await;
                    r?;
                }
                None => {
                    let api = NodeApi::connect(global).await?;
                    api.send(api.request(
                        reqwest::Method::DELETE,
                        &format!("/api/v1/series/{}", checked(name)?),
                    ))
                    .await?;
                }
            }
            println!("removed series {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_import(o: &ImportOutcome) {
    let verb = if o.imported {
        "imported"
    } else {
        "would import (dry run)"
    };
    println!(
        "{verb} {} point(s) into {}: {} new, {} changed, {} removed; {:?} from {} to {}",
        o.points,
        o.series,
        o.new_points,
        o.changed_points,
        o.removed_points,
        o.frequency,
        o.first.format("%Y-%m-%d %H:%M"),
        o.last.format("%Y-%m-%d %H:%M"),
    );
    let r = &o.report;
    if r.duplicates + r.moved + r.gaps_filled + r.zeros + r.negatives > 0 {
        println!(
            "on its grid: {} duplicate(s) averaged, {} point(s) moved, {} gap(s) to fill, {} zero(s), {} negative(s)",
            r.duplicates, r.moved, r.gaps_filled, r.zeros, r.negatives
        );
    }
    for p in o.head.iter().chain(&o.tail) {
        println!("  {}  {}", p.ds.format("%Y-%m-%d %H:%M"), p.value);
    }
}
