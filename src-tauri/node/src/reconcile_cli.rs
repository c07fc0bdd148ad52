//! `flightdeck reconcile FILE` (a billing export set beside the ledger per UTC day and
//! model, drift flagged) and `flightdeck reprice` (ledger costs recomputed with the price
//! table as it is now, each change a correction; the models without a price listed first).
//! Through the node's API while a node holds the data dir; otherwise on the database.

use std::process::ExitCode;

use anyhow::Context;
use flightdeck_engine::costs::Costs;
use flightdeck_engine::costs::reconcile::{BillFormat, ImportOptions, Reconciliation};
use flightdeck_engine::costs::reprice::{PriceGap, RepriceReport, RepriceRequest};
use flightdeck_engine::store::Store;

use crate::cli::{BillFormatArg, Global, ReconcileArgs, RepriceArgs};
use crate::node_api::NodeApi;
use crate::tokens::cli_actor;

/// Exit status of `reconcile --fail-on-drift` when a day drifts.
const DRIFT_EXIT: u8 = 3;

/// The engine's costs on the data dir, or `None` when a node holds it.
async fn open_local(global: &Global) -> anyhow::Result<Option<(Store, Costs)>> {
    crate::commands::open_local_costs(global).await
}

pub async fn reconcile(global: &Global, args: &ReconcileArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let options = ImportOptions {
        format: args.format.map(|f| match f {
            BillFormatArg::Openai => BillFormat::Openai,
            BillFormatArg::Anthropic => BillFormat::Anthropic,
            BillFormatArg::Generic => BillFormat::Generic,
        }),
        providers: args.providers.clone(),
        drift_pct: args.drift_pct,
        file_name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
    };
    let rec: Reconciliation = match open_local(global).await? {
        Some((store, costs)) => {
            let out = costs.import_bill(&text, options, &cli_actor()).await;
            store.close().await;
            out?
        }
        None => {
            let api = NodeApi::connect(global).await?;
            let body = serde_json::json!({
                "csv": text,
                "format": options.format,
                "providers": options.providers,
                "drift_pct": options.drift_pct,
                "file_name": options.file_name,
            });
            let v = api
                .send(
                    api.request(reqwest::Method::POST, "/api/v1/reconciliations")
                        .json(&body),
                )
                .await?;
            serde_json::from_value(v)?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rec)?);
    } else {
        print_reconciliation(&rec);
    }
    if args.fail_on_drift && rec.summary.drifted_days > 0 {
        return Ok(ExitCode::from(DRIFT_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}

fn usd(d: &rust_decimal::Decimal) -> String {
    format!("${}", d.round_dp(6).normalize())
}

fn pct(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "-".into())
}

fn print_reconciliation(rec: &Reconciliation) {
    let s = &rec.summary;
    println!(
        "reconciliation {} ({} format, {} rows, {} to {}) against provider(s) {}",
        s.id,
        s.format.as_str(),
        s.rows,
        s.first_day,
        s.last_day,
        s.providers.join(", ")
    );
    println!(
        "billed {}  ledger {}  difference {}  drift threshold {}%",
        usd(&s.billed),
        usd(&s.ledger),
        usd(&s.diff),
        s.drift_pct
    );
    println!();
    println!(
        "{:<10} {:<32} {:>14} {:>14} {:>14} {:>9} {:>8}  DRIFT",
        "DAY", "MODEL", "BILLED", "LEDGER", "DIFF", "DIFF %", "UNKNOWN"
    );
    for l in &rec.lines {
        println!(
            "{:<10} {:<32} {:>14} {:>14} {:>14} {:>9} {:>8}  {}",
            l.day.to_string(),
            if l.model.is_empty() {
                "(no model)"
            } else {
                &l.model
            },
            usd(&l.billed),
            usd(&l.ledger),
            usd(&l.diff),
            pct(l.diff_pct),
            l.unknown_cost_calls,
            if l.drift { "DRIFT" } else { "" }
        );
    }
    println!();
    println!(
        "{:<10} {:>14} {:>14} {:>14} {:>9}  DRIFT",
        "DAY", "BILLED", "LEDGER", "DIFF", "DIFF %"
    );
    for d in &rec.days {
        println!(
            "{:<10} {:>14} {:>14} {:>14} {:>9}  {}",
            d.day.to_string(),
            usd(&d.billed),
            usd(&d.ledger),
            usd(&d.diff),
            pct(d.diff_pct),
            if d.drift { "DRIFT" } else { "" }
        );
    }
    println!();
    println!("{} of {} day(s) drift", s.drifted_days, rec.days.len());
}

pub async fn reprice(global: &Global, args: &RepriceArgs) -> anyhow::Result<ExitCode> {
    let req = RepriceRequest {
        provider: args.provider.clone(),
        model: args.model.clone(),
        from: args.from,
        until: args.until,
        dry_run: args.dry_run,
        reason: args.reason.clone(),
    };
    let (gaps, report): (Vec<PriceGap>, RepriceReport) = match open_local(global).await? {
        Some((store, costs)) => {
            let out = async {
                let gaps = costs.price_gaps().await?;
                let report = costs.reprice(&req, &cli_actor()).await?;
                anyhow::Ok((gaps, report))
            }
            .await;
            store.close().await;
            out?
        }
        None => {
            let api = NodeApi::connect(global).await?;
            let g = api
                .send(api.request(reqwest::Method::GET, "/api/v1/costs/price-gaps"))
                .await?;
            let r = api
                .send(
                    api.request(reqwest::Method::POST, "/api/v1/costs/reprice")
                        .json(&req),
                )
                .await?;
            (
                serde_json::from_value(g["items"].clone())?,
                serde_json::from_value(r)?,
            )
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"gaps": gaps, "report": report}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if gaps.is_empty() {
        println!("no calls of unknown cost");
    } else {
        println!(
            "{:<20} {:<32} {:>8} {:<10} {:<10} PRICED NOW",
            "PROVIDER", "MODEL", "CALLS", "FIRST", "LAST"
        );
        for g in &gaps {
            println!(
                "{:<20} {:<32} {:>8} {:<10} {:<10} {}",
                if g.provider.is_empty() {
                    "-"
                } else {
                    &g.provider
                },
                if g.model.is_empty() { "-" } else { &g.model },
                g.calls,
                g.first_day.format("%Y-%m-%d"),
                g.last_day.format("%Y-%m-%d"),
                if g.priced_now { "yes" } else { "no" }
            );
        }
    }
    println!();
    let verb = if report.dry_run {
        "would change"
    } else {
        "changed"
    };
    println!(
        "{} call(s) priced; {verb} {} ({} of unknown cost before), delta {}; {} still without a price{}",
        report.examined,
        report.corrected,
        report.filled,
        usd(&report.delta),
        report.still_unpriced,
        report
            .batch
            .as_ref()
            .map(|b| format!("; corrections batch {b}"))
            .unwrap_or_default()
    );
    for c in report.corrections.iter().take(20) {
        println!(
            "  {} {} {}/{}: {} -> {}",
            c.call_id,
            c.started_at.format("%Y-%m-%d %H:%M"),
            c.provider,
            c.model,
            c.old_cost
                .as_ref()
                .map(usd)
                .unwrap_or_else(|| "unknown".into()),
            usd(&c.new_cost)
        );
    }
    Ok(ExitCode::SUCCESS)
}
