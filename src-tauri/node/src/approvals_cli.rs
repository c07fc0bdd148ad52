//! `flightdeck approvals ls|show|approve|reject` and `flightdeck audit verify|export|head`.
//! While a node holds the data dir they go through its API; with the node stopped they work
//! on the data dir itself (a decision then puts the task back on the queue for the next
//! start), deciding as `cli:<OS user>`.

use std::process::ExitCode;

use anyhow::Context;
use flightdeck_engine::approvals::{
    ApprovalFilter, ApprovalRequest, ApprovalState, Approvals, DecisionInput, RequestDetail,
    StandingGrant, StandingScope, VoteDecision,
};
use flightdeck_engine::audit::{Audit, ChainHead, ExportFormat, Verification};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::ConfigHandle;
use flightdeck_engine::store::Store;

use crate::cli::{ApprovalStateArg, ApprovalsAction, AuditAction, AuditFormatArg, Global};
use crate::commands::load_config;
use crate::task_cli::{Target, json_arg, target};
use crate::tokens::cli_actor;

fn state_of(s: ApprovalStateArg) -> ApprovalState {
    match s {
        ApprovalStateArg::Pending => ApprovalState::Pending,
        ApprovalStateArg::Approved => ApprovalState::Approved,
        ApprovalStateArg::Rejected => ApprovalState::Rejected,
        ApprovalStateArg::Expired => ApprovalState::Expired,
        ApprovalStateArg::Allowed => ApprovalState::Allowed,
        ApprovalStateArg::Denied => ApprovalState::Denied,
    }
}

fn local(global: &Global, store: &Store) -> anyhow::Result<Approvals> {
    let (config, source) = load_config(global)?;
    let clock = SystemClock::shared();
    let handle = ConfigHandle::new(config, source, clock.clone());
    Ok(Approvals::new(
        store.clone(),
        handle,
        clock,
        None,
        None,
        None,
    ))
}

pub async fn run(global: &Global, action: &ApprovalsAction) -> anyhow::Result<ExitCode> {
    let target = target(global).await?;
    let out = act(global, &target, action).await;
    target.close().await;
    out
}

async fn get(global: &Global, target: &Target, id: &str) -> anyhow::Result<RequestDetail> {
    Ok(match target {
        Target::Node(api) => serde_json::from_value(
            api.send(api.request(reqwest::Method::GET, &format!("/api/v1/approvals/{id}")))
                .await?,
        )?,
        Target::Local(store) => local(global, store)?.get(id).await?,
    })
}

async fn act(
    global: &Global,
    target: &Target,
    action: &ApprovalsAction,
) -> anyhow::Result<ExitCode> {
    match action {
        ApprovalsAction::Ls {
            status: state,
            all,
            limit,
            json,
        } => {
            let state = match (state, all) {
                (Some(s), _) => Some(state_of(*s)),
                (None, true) => None,
                (None, false) => Some(ApprovalState::Pending),
            };
            let items: Vec<ApprovalRequest> = match target {
                Target::Node(api) => {
                    let mut req = api
                        .request(reqwest::Method::GET, "/api/v1/approvals")
                        .query(&[("limit", limit.to_string())]);
                    if let Some(s) = state {
                        req = req.query(&[("status", s.as_str())]);
                    }
                    serde_json::from_value(api.send(req).await?["items"].clone())?
                }
                Target::Local(store) => local(global, store)?
                    .list(
                        ApprovalFilter {
                            state,
                            ..Default::default()
                        },
                        None,
                        *limit as usize,
                    )
                    .await?
                    .into_iter()
                    .map(|(_, r)| r)
                    .collect(),
            };
            if *json {
                for r in &items {
                    println!("{}", serde_json::to_string(r)?);
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<10} {:<8} {:<18} {:<20} {:<8} {:<20} ID",
                "STATUS", "RISK", "ACTION", "PROPOSER", "VOTES", "SLA DUE"
            );
            for r in &items {
                println!(
                    "{:<10} {:<8} {:<18} {:<20} {:<8} {:<20} {}",
                    r.state.as_str(),
                    r.risk.as_str(),
                    r.action,
                    r.proposer,
                    format!("{}/{}", r.approvals, r.quorum),
                    r.sla_due
                        .map_or("-".into(), |d| d.format("%Y-%m-%d %H:%M").to_string()),
                    r.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsAction::Show { id, json } => {
            let d = get(global, target, id).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(ExitCode::SUCCESS);
            }
            let r = &d.request;
            println!("{}  {}  ({} risk)", r.id, r.state.as_str(), r.risk.as_str());
            println!("action:    {} — {}", r.action, r.description);
            println!(
                "proposer:  {}{}",
                r.proposer,
                r.task_id
                    .as_ref()
                    .map_or(String::new(), |t| format!(" (task {t})"))
            );
            println!(
                "rule:      {}: {}",
                r.rule,
                r.why
                    .trim_start_matches(&format!("rule {} matches: ", r.rule))
            );
            if let Some(why) = &r.rationale {
                println!("rationale: {why}");
            }
            println!("arguments: {}", serde_json::to_string_pretty(&r.arguments)?);
            if let Some(f) = &r.final_arguments {
                println!("approved arguments: {}", serde_json::to_string_pretty(f)?);
            }
            println!("approvals: {}/{}", r.approvals, r.quorum);
            if let Some(due) = r.sla_due {
                println!("sla due:   {}", due.to_rfc3339());
            }
            if let Some(reason) = &r.reason {
                println!("reason:    {reason}");
            }
            for e in &d.history {
                println!(
                    "  {}  {:<22} {}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.kind,
                    e.actor
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsAction::Approve {
            id,
            arguments,
            reason,
            always_exact,
            always_hours,
        } => {
            let always = match (always_exact, always_hours) {
                (true, _) => Some(StandingGrant {
                    scope: StandingScope::ExactArguments,
                    hours: None,
                }),
                (false, Some(h)) => Some(StandingGrant {
                    scope: StandingScope::AgentAction,
                    hours: Some(*h),
                }),
                (false, None) => None,
            };
            let input = DecisionInput {
                decision: VoteDecision::Approve,
                reason: reason.clone(),
                arguments: arguments
                    .as_deref()
                    .map(|a| json_arg("--arguments", a))
                    .transpose()?,
                always,
            };
            decide(global, target, id, input).await
        }
        ApprovalsAction::Reject { id, reason } => {
            let input = DecisionInput {
                decision: VoteDecision::Reject,
                reason: Some(reason.clone()),
                arguments: None,
                always: None,
            };
            decide(global, target, id, input).await
        }
    }
}

async fn decide(
    global: &Global,
    target: &Target,
    id: &str,
    input: DecisionInput,
) -> anyhow::Result<ExitCode> {
    let r: ApprovalRequest = match target {
        Target::Node(api) => serde_json::from_value(
            api.send(
                api.request(
                    reqwest::Method::POST,
                    &format!("/api/v1/approvals/{id}/decision"),
                )
                .json(&input),
            )
            .await?,
        )?,
        Target::Local(store) => {
            local(global, store)?
                .decide(id, &cli_actor(), input)
                .await?
        }
    };
    match r.state {
        ApprovalState::Pending => println!(
            "{}: recorded; {}/{} approvals, waiting for more",
            r.id, r.approvals, r.quorum
        ),
        other => println!("{}: {}", r.id, other.as_str()),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_verification(v: &Verification) -> ExitCode {
    match &v.problem {
        None => {
            let head = v.head.as_ref().map_or("empty".to_string(), |h| {
                format!("head {} {}", h.seq, h.hash)
            });
            println!("ok: {} entries, {head}", v.entries);
            ExitCode::SUCCESS
        }
        Some(p) => {
            println!("TAMPERED: {} (entry {}, {:?})", p.message, p.seq, p.kind);
            ExitCode::FAILURE
        }
    }
}

pub async fn audit(global: &Global, action: &AuditAction) -> anyhow::Result<ExitCode> {
    let target = target(global).await?;
    let out = audit_act(&target, action).await;
    target.close().await;
    out
}

async fn audit_act(target: &Target, action: &AuditAction) -> anyhow::Result<ExitCode> {
    let local = |store: &Store| Audit::new(store.clone());
    match action {
        AuditAction::Verify { head } => {
            let kept: Option<ChainHead> = head
                .as_ref()
                .map(|p| {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read the head file {}", p.display()))?;
                    serde_json::from_str(&text).with_context(|| {
                        format!("{} is not a head (JSON with seq and hash)", p.display())
                    })
                })
                .transpose()?;
            let v: Verification = match target {
                Target::Node(api) => {
                    let req = match &kept {
                        Some(h) => api
                            .request(reqwest::Method::POST, "/api/v1/audit/verify")
                            .json(h),
                        None => api.request(reqwest::Method::GET, "/api/v1/audit/verify"),
                    };
                    serde_json::from_value(api.send(req).await?)?
                }
                Target::Local(store) => local(store).verify(kept).await?,
            };
            Ok(print_verification(&v))
        }
        AuditAction::Head => {
            let head: Option<ChainHead> = match target {
                Target::Node(api) => serde_json::from_value(
                    api.send(api.request(reqwest::Method::GET, "/api/v1/audit/head"))
                        .await?,
                )?,
                Target::Local(store) => local(store).head().await?,
            };
            println!("{}", serde_json::to_string(&head)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditAction::Export {
            format,
            out,
            head_out,
        } => {
            let format = match format {
                AuditFormatArg::Jsonl => ExportFormat::Jsonl,
                AuditFormatArg::Csv => ExportFormat::Csv,
            };
            let (bytes, head) = match target {
                Target::Node(api) => {
                    let fmt = if format == ExportFormat::Csv {
                        "csv"
                    } else {
                        "jsonl"
                    };
                    let res = api
                        .request(reqwest::Method::GET, "/api/v1/audit/export")
                        .query(&[("format", fmt)])
                        .send()
                        .await
                        .context("the node's API does not answer")?;
                    if !res.status().is_success() {
                        anyhow::bail!("the node answered {}", res.status());
                    }
                    let head = res
                        .headers()
                        .get("x-flightdeck-audit-head")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split_once(':'))
                        .and_then(|(seq, hash)| {
                            Some(ChainHead {
                                seq: seq.parse().ok()?,
                                hash: hash.to_string(),
                            })
                        });
                    (res.bytes().await?.to_vec(), head)
                }
                Target::Local(store) => local(store).export(format).await?,
            };
            match out {
                Some(path) => std::fs::write(path, &bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            if let Some(path) = head_out {
                std::fs::write(path, serde_json::to_vec(&head)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
