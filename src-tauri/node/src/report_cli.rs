//! `flightdeck report --period day|week [--to-date] [--out FILE.html|.pdf] [--deliver]`:
//! a report made into the reports folder (and copied to `--out`), delivered when asked.
//! Through the node's API while a node holds the data dir; otherwise on the database.

use std::process::ExitCode;

use anyhow::{Context, bail};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigHandle;
use flightdeck_engine::reports::{
    Period, ReportFormat, ReportRecord, ReportRequest, Reports, ReportsError,
};
use flightdeck_engine::secrets::{SecretStore, Secrets};
use flightdeck_engine::store::{Store, StoreError};

use crate::cli::{Global, ReportArgs, ReportFormatArg, ReportPeriodArg};
use crate::commands::{data_dir, env_token, load_config};
use crate::node_api::NodeApi;

/// Exit status when the report was made but a delivery failed.
const DELIVERY_EXIT: u8 = 4;

async fn open_local(global: &Global) -> anyhow::Result<Option<(Store, Reports)>> {
    let dir = data_dir(global)?;
    match Store::open(&dir).await {
        Ok(store) => {
            let (config, source) = load_config(global)?;
            let clock = SystemClock::shared();
            // The secret store only when delivery needs a secret (an SMTP password, the
            // webhook's key): reading the keychain is not free.
            let needs_secrets = config
                .reports
                .smtp
                .as_ref()
                .is_some_and(|s| s.password_secret.is_some())
                || config.reports.webhook_secret.is_some();
            let secrets = if needs_secrets {
                let s = Secrets::open_async(config.secrets.backend, dir.clone(), env_token()).await;
                Some(SecretStore::new(s, store.clone(), clock.clone()))
            } else {
                None
            };
            let handle = ConfigHandle::new(config, source, clock.clone());
            let node_id = store
                .meta_get("node_id")
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| "-".into());
            let reports = Reports::on_store(store.clone(), clock, handle, secrets, node_id);
            Ok(Some((store, reports)))
        }
        Err(StoreError::DataDirLocked { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn format_of(a: ReportFormatArg) -> ReportFormat {
    match a {
        ReportFormatArg::Html => ReportFormat::Html,
        ReportFormatArg::Pdf => ReportFormat::Pdf,
    }
}

pub async fn run(global: &Global, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    // The --out file's format, which must be one of those made.
    let out_format = match &args.out {
        Some(p) => match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "html" || e == "htm" => Some(ReportFormat::Html),
            Some(e) if e == "pdf" => Some(ReportFormat::Pdf),
            _ => bail!("--out {}: the file name ends in .html or .pdf", p.display()),
        },
        None => None,
    };
    let mut formats: Vec<ReportFormat> = args.formats.iter().copied().map(format_of).collect();
    if let Some(f) = out_format
        && !formats.contains(&f)
    {
        formats.push(f);
    }
    let req = ReportRequest {
        period: match args.period {
            ReportPeriodArg::Day => Period::Day,
            ReportPeriodArg::Week => Period::Week,
        },
        to_date: args.to_date,
        formats: (!formats.is_empty()).then_some(formats),
        deliver: args.deliver,
    };
    let (record, bytes, failure) = match open_local(global).await? {
        Some((store, reports)) => {
            let made = reports.generate(&req).await;
            // A failed delivery still made (and kept) the report: the newest one.
            let (record, failure) = match made {
                Ok(r) => (r, None),
                Err(e @ ReportsError::DeliveryFailed(_)) => {
                    let r = reports
                        .list(1)
                        .await?
                        .into_iter()
                        .next()
                        .context("the report")?;
                    (r, Some(e.to_string()))
                }
                Err(e) => {
                    store.close().await;
                    return Err(e.into());
                }
            };
            let bytes = match out_format {
                Some(f) => Some(reports.file(&record.id, f).await?),
                None => None,
            };
            store.close().await;
            (record, bytes, failure)
        }
        None => {
            let api = NodeApi::connect(global).await?;
            let made = api
                .send(
                    api.request(reqwest::Method::POST, "/api/v1/reports")
                        .json(&req),
                )
                .await;
            let (record, failure): (ReportRecord, Option<String>) = match made {
                Ok(v) => (serde_json::from_value(v)?, None),
                Err(e) if args.deliver && e.to_string().contains("delivery failed") => {
                    let v = api
                        .send(api.request(reqwest::Method::GET, "/api/v1/reports?limit=1"))
                        .await?;
                    let r = serde_json::from_value(v["items"][0].clone())?;
                    (r, Some(e.to_string()))
                }
                Err(e) => return Err(e),
            };
            let bytes = match out_format {
                Some(f) => Some(
                    api.request(
                        reqwest::Method::GET,
                        &format!("/api/v1/reports/{}/{}", record.id, f.ext()),
                    )
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?
                    .to_vec(),
                ),
                None => None,
            };
            (record, bytes, failure)
        }
    };
    if let (Some(out), Some(b)) = (&args.out, bytes) {
        std::fs::write(out, b).with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        println!("report {}: {}", record.id, record.title);
        for f in &record.files {
            println!(
                "  {} {} ({} bytes{})",
                f.format.ext(),
                f.name,
                f.bytes,
                f.pages.map_or_else(String::new, |p| if p == 1 {
                    ", 1 page".to_string()
                } else {
                    format!(", {p} pages")
                })
            );
        }
        if let Some(out) = &args.out {
            println!("  written to {}", out.display());
        }
        for (channel, d) in [("email", &record.email), ("webhook", &record.webhook)] {
            if let Some(d) = d {
                println!(
                    "  {channel}: {:?} after {} attempt(s){}",
                    d.state,
                    d.attempts,
                    d.error
                        .as_ref()
                        .map_or_else(String::new, |e| format!(": {e}"))
                );
            }
        }
        println!("  made in {} ms", record.duration_ms);
    }
    if let Some(why) = failure {
        eprintln!("error [delivery_failed]: {why}");
        return Ok(ExitCode::from(DELIVERY_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}
