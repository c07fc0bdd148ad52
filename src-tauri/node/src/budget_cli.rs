//! `flightdeck budget ls|set|rm`: budgets with their live figures, and `[budgets.<name>]`
//! written into (or removed from) the config file, checked with the whole config first.
//! Through the node's API (`/api/v1/budgets`) while a node holds the data dir, so its gate
//! takes the change at once; otherwise on the config file and the database directly.

use std::process::ExitCode;

use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigHandle;
use flightdeck_engine::costs::settings::{BudgetAction, BudgetConfig, BudgetPeriod, Usd};
use flightdeck_engine::costs::{BudgetStatus, Costs};
use flightdeck_engine::store::{Store, StoreError};

use crate::cli::{BudgetActionArg, BudgetCommand, BudgetPeriodArg, BudgetSetArgs, Global};
use crate::commands::{data_dir, load_config};
use crate::node_api::NodeApi;

fn definition(a: &BudgetSetArgs) -> BudgetConfig {
    BudgetConfig {
        limit_usd: Usd(a.limit_usd.clone()),
        period: match a.period {
            BudgetPeriodArg::Daily => BudgetPeriod::Daily,
            BudgetPeriodArg::Weekly => BudgetPeriod::Weekly,
            BudgetPeriodArg::Monthly => BudgetPeriod::Monthly,
            BudgetPeriodArg::Fixed => BudgetPeriod::Fixed,
        },
        action: match a.action {
            BudgetActionArg::Alert => BudgetAction::Alert,
            BudgetActionArg::Block => BudgetAction::Block,
        },
        thresholds: a.thresholds.clone(),
        agent: a.agent.clone(),
        client: a.client.clone(),
        route: a.route.clone(),
        provider: a.provider.clone(),
        model: a.model.clone(),
        tag: a.tag.clone(),
        include_free: a.include_free,
        from: a.from,
        until: a.until,
        time_zone: a.time_zone.clone(),
        description: a.description.clone(),
    }
}

pub async fn run(global: &Global, action: &BudgetCommand) -> anyhow::Result<ExitCode> {
    let dir = data_dir(global)?;
    match Store::open(&dir).await {
        Ok(store) => {
            let out = local(global, &store, action).await;
            store.close().await;
            out?;
        }
        Err(StoreError::DataDirLocked { .. }) => remote(global, action).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn local(global: &Global, store: &Store, action: &BudgetCommand) -> anyhow::Result<()> {
    let (config, source) = load_config(global)?;
    let clock = SystemClock::shared();
    let handle = ConfigHandle::new(config, source, clock.clone());
    match action {
        BudgetCommand::Ls { json } => {
            let costs = Costs::new(store.clone(), handle, clock);
            print(&costs.budgets().await?, *json)
        }
        BudgetCommand::Set(a) => {
            let path = flightdeck_engine::config::edit::set_budget(
                &handle,
                &a.name,
                Some(&definition(a)),
            )?;
            println!("budget `{}` written to {}", a.name, path.display());
            Ok(())
        }
        BudgetCommand::Rm { name } => {
            let path = flightdeck_engine::config::edit::set_budget(&handle, name, None)?;
            println!("budget `{name}` removed from {}", path.display());
            Ok(())
        }
    }
}

async fn remote(global: &Global, action: &BudgetCommand) -> anyhow::Result<()> {
    let api = NodeApi::connect(global).await?;
    match action {
        BudgetCommand::Ls { json } => {
            let body = api
                .send(api.request(reqwest::Method::GET, "/api/v1/budgets"))
                .await?;
            let items: Vec<BudgetStatus> = serde_json::from_value(body["items"].clone())?;
            print(&items, *json)
        }
        BudgetCommand::Set(a) => {
            let body = api
                .send(
                    api.request(reqwest::Method::PUT, &format!("/api/v1/budgets/{}", a.name))
                        .json(&definition(a)),
                )
                .await?;
            let status: BudgetStatus = serde_json::from_value(body)?;
            println!("budget `{}` in force on the node", a.name);
            print(&[status], false)
        }
        BudgetCommand::Rm { name } => {
            api.send(api.request(reqwest::Method::DELETE, &format!("/api/v1/budgets/{name}")))
                .await?;
            println!("budget `{name}` removed");
            Ok(())
        }
    }
}

fn usd(d: &rust_decimal::Decimal) -> String {
    format!("${}", d.round_dp(6).normalize())
}

fn print(items: &[BudgetStatus], json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "items": items }))?
        );
        return Ok(());
    }
    if items.is_empty() {
        println!(
            "no budgets (add one with `flightdeck budget set NAME --limit USD --period monthly`)"
        );
        return Ok(());
    }
    println!(
        "{:<20} {:<7} {:<8} {:>12} {:>12} {:>12} {:>12} {:>7}  {:<34} SCOPE",
        "NAME",
        "ACTION",
        "PERIOD",
        "LIMIT",
        "SPENT",
        "RESERVED",
        "REMAINING",
        "USED",
        "PERIOD (UTC)"
    );
    for b in items {
        let c = &b.config;
        let mut scope: Vec<String> = [
            ("agent", &c.agent),
            ("client", &c.client),
            ("route", &c.route),
            ("provider", &c.provider),
            ("model", &c.model),
            ("tag", &c.tag),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
        if scope.is_empty() {
            scope.push("everything".into());
        }
        if c.include_free {
            scope.push("incl. free models".into());
        }
        let unknown = if b.unknown_cost_calls > 0 {
            format!(" (+{} unknown)", b.unknown_cost_calls)
        } else {
            String::new()
        };
        let period = format!(
            "{} → {}",
            b.period_start.format("%Y-%m-%d %H:%M"),
            b.period_end
                .map(|e| e.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "-".into())
        );
        println!(
            "{:<20} {:<7} {:<8} {:>12} {:>12} {:>12} {:>12} {:>6}%  {:<34} {}{unknown}",
            b.name,
            serde_json::to_value(c.action)?.as_str().unwrap_or_default(),
            serde_json::to_value(c.period)?.as_str().unwrap_or_default(),
            usd(&b.limit_usd),
            usd(&b.spent),
            usd(&b.reserved),
            usd(&b.remaining),
            b.percent,
            period,
            scope.join(", "),
        );
    }
    Ok(())
}
