//! `flightdeck run start|ls|show|cancel`: multi-agent runs. While a node holds the data dir
//! they go through its API (`/api/v1/runs`); with the node stopped they work on the data
//! dir (a run started then waits for the next start; `--dry-run` needs no node at all).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use flightdeck_engine::orchestrator::runs::{NewRun, Run, RunFilter, RunPlan, RunSpec};
use flightdeck_engine::orchestrator::tasks::{plan_run_with, start_run_with};

use crate::UsageError;
use crate::cli::{Global, RunAction, RunStartArgs};
use crate::commands::load_config;
use crate::node_api::NodeApi;
use crate::task_cli::{Target, input_of, target, wait_needs_node};

pub async fn run(global: &Global, action: &RunAction) -> anyhow::Result<ExitCode> {
    let target = target(global).await?;
    let out = act(global, &target, action).await;
    target.close().await;
    out
}

async fn act(global: &Global, target: &Target, action: &RunAction) -> anyhow::Result<ExitCode> {
    match action {
        RunAction::Start(args) => start(global, target, args).await,
        RunAction::Ls { limit, json } => {
            let runs: Vec<Run> = match target {
                Target::Node(api) => serde_json::from_value(
                    api.send(
                        api.request(reqwest::Method::GET, "/api/v1/runs")
                            .query(&[("limit", limit.to_string())]),
                    )
                    .await?["items"]
                        .clone(),
                )?,
                Target::Local(store) => Target::local_queue(store)
                    .runs(RunFilter::default(), None, *limit as usize)
                    .await?
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect(),
            };
            if *json {
                for r in &runs {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                println!(
                    "{:<19} {:<20} {:<10} {:>7} {:<16} ID",
                    "CREATED", "NAME", "STATE", "STEPS", "ERROR"
                );
                for r in &runs {
                    let done = r.steps.iter().filter(|s| s.state.is_terminal()).count();
                    println!(
                        "{:<19} {:<20} {:<10} {:>7} {:<16} {}",
                        r.created_at.format("%Y-%m-%d %H:%M:%S"),
                        r.name.as_deref().unwrap_or("-"),
                        r.state.as_str(),
                        format!("{done}/{}", r.steps.len()),
                        r.error.as_ref().map_or("-", |e| e.code.as_str()),
                        r.id
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RunAction::Show { id, json } => {
            let run = get(target, id).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&run)?);
            } else {
                print_run(&run);
            }
            Ok(ExitCode::SUCCESS)
        }
        RunAction::Cancel { id } => {
            let run: Run = match target {
                Target::Node(api) => serde_json::from_value(
                    api.send(
                        api.request(reqwest::Method::POST, &format!("/api/v1/runs/{id}/cancel")),
                    )
                    .await?,
                )?,
                Target::Local(store) => Target::local_queue(store).cancel_run(id).await?,
            };
            println!("{} {}", run.id, run.state.as_str());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn get(target: &Target, id: &str) -> anyhow::Result<Run> {
    Ok(match target {
        Target::Node(api) => serde_json::from_value(
            api.send(api.request(reqwest::Method::GET, &format!("/api/v1/runs/{id}")))
                .await?,
        )?,
        Target::Local(store) => Target::local_queue(store).run(id).await?,
    })
}

fn definition_of(raw: &str) -> anyhow::Result<RunSpec> {
    let text = match raw.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --definition {path}"))?,
        None => raw.to_string(),
    };
    serde_json::from_str(&text)
        .map_err(|e| UsageError(format!("--definition is not a run definition: {e}")).into())
}

async fn start(global: &Global, target: &Target, args: &RunStartArgs) -> anyhow::Result<ExitCode> {
    let new = NewRun {
        run: args.name.clone(),
        definition: args.definition.as_deref().map(definition_of).transpose()?,
        input: input_of(&args.input)?,
        idempotency_key: args.idempotency_key.clone(),
    };
    if args.dry_run {
        let plan: RunPlan = match target {
            Target::Node(api) => serde_json::from_value(
                api.send(
                    api.request(reqwest::Method::POST, "/api/v1/runs/plan")
                        .json(&new),
                )
                .await?,
            )?,
            Target::Local(store) => {
                let (config, _) = load_config(global)?;
                plan_run_with(
                    &Target::local_queue(store),
                    &std::sync::Arc::new(config),
                    &new,
                    |_| true,
                )
                .await?
            }
        };
        print_plan(&plan);
        return Ok(ExitCode::SUCCESS);
    }
    let run: Run = match target {
        Target::Node(api) => serde_json::from_value(
            api.send(
                api.request(reqwest::Method::POST, "/api/v1/runs")
                    .json(&new),
            )
            .await?,
        )?,
        Target::Local(store) => {
            if args.wait {
                return Err(wait_needs_node("run"));
            }
            let (config, _) = load_config(global)?;
            // No node: no breaker has seen a call, every agent counts as healthy.
            start_run_with(&Target::local_queue(store), &config, new, "cli", |_| true)
                .await?
                .0
        }
    };
    println!("{} {}", run.id, run.state.as_str());
    if args.wait
        && let Target::Node(api) = target
    {
        return follow(api, &run.id).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each change of the run's steps until it ends; exit 0 when it succeeded.
async fn follow(api: &NodeApi, id: &str) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    loop {
        let r: Run = serde_json::from_value(
            api.send(api.request(reqwest::Method::GET, &format!("/api/v1/runs/{id}")))
                .await?,
        )?;
        let now = r
            .steps
            .iter()
            .map(|s| format!("{} {}", s.id, s.state.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let line = format!("{} {}: {now}", r.id, r.state.as_str());
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        match r.state.as_str() {
            "running" => tokio::time::sleep(Duration::from_millis(200)).await,
            "succeeded" => {
                println!("{}", serde_json::to_string_pretty(&r.result)?);
                return Ok(ExitCode::SUCCESS);
            }
            _ => {
                if let Some(e) = &r.error {
                    eprintln!("{}: {}", e.code, e.message);
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}

fn print_plan(p: &RunPlan) {
    println!(
        "{:<5} {:<16} {:<16} {:<24} {:>9} {:>12} NEEDS",
        "LEVEL", "STEP", "AGENT", "CHAIN", "MAX CALLS", "WORST USD"
    );
    for s in &p.steps {
        println!(
            "{:<5} {:<16} {:<16} {:<24} {:>9} {:>12} {}",
            s.level,
            s.id,
            s.agent,
            s.chain.join(" > "),
            s.max_calls,
            s.worst_case_cost_usd.as_deref().unwrap_or("unknown"),
            if s.needs.is_empty() {
                "-".to_string()
            } else {
                s.needs.join(",")
            }
        );
    }
    println!(
        "aggregate: {} of {}; concurrency {}",
        p.mode.as_str(),
        p.of.join(", "),
        p.concurrency
    );
    println!("model calls: {} to {}", p.min_calls, p.max_calls);
    match &p.worst_case_cost_usd {
        Some(c) => println!(
            "worst-case cost: ${c} (prices of {})",
            p.prices_at.date_naive()
        ),
        None => {
            println!(
                "worst-case cost: unknown (at least ${} for the steps that can be priced)",
                p.known_worst_case_cost_usd
            );
            for s in &p.steps {
                if let Some(why) = &s.cost_unknown {
                    println!("  {}: {why}", s.id);
                }
            }
        }
    }
}

fn print_run(r: &Run) {
    println!("id:        {}", r.id);
    if let Some(n) = &r.name {
        println!("name:      {n}");
    }
    println!("state:     {}", r.state.as_str());
    println!("created:   {} by {}", r.created_at, r.created_by);
    if let Some(e) = &r.error {
        println!("error:     {} {}", e.code, e.message);
    }
    if let Some(v) = &r.result {
        println!("result:    {v}");
    }
    if !r.decided_by.is_empty() {
        println!("decided by: {}", r.decided_by.join(", "));
    }
    for g in &r.disagreements {
        println!("  answer {} from {}", g.value, g.steps.join(", "));
    }
    for s in &r.steps {
        println!(
            "  [{}] {:<16} {:<16} {:<10} task {} {}",
            s.level,
            s.id,
            s.agent,
            s.state.as_str(),
            s.task_id.as_deref().unwrap_or("-"),
            s.error
                .as_ref()
                .map_or(String::new(), |e| e.message.clone())
        );
    }
}
