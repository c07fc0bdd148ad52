//! The SLA scheduler: on the engine clock (so tests use paused time), it warns before a
//! pending request's SLA, escalates an overdue one along `[approvals.escalation] steps`
//! (a desktop notification on the feed, a signed webhook to a chat or incident tool), then
//! applies the rule's timeout action (reject by default) — each step recorded on the request
//! and in the audit log, in the transaction that takes it. It also delivers the callbacks
//! of decided requests from clients elsewhere. Restart-safe: what is due is read from the
//! database (`next_check_at`), so a step missed while the node was down is taken at start.
//!
//! Also the approvals' Prometheus metrics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::settings::{EscalationChannel, OnTimeout, parse_duration};
use super::store::{self, ApprovalRequest, ApprovalState};
use super::{ApprovalError, ApprovalEventKind, Approvals};
use crate::audit::{self, AuditKind, NewEntry};
use crate::config::Config;
use crate::store::WriteTx;
use crate::store::values::time_to_db;
use crate::telemetry::{Metrics, TelemetryError};

/// `flightdeck_approvals_*`.
#[derive(Clone, Debug)]
pub struct ApprovalMetrics {
    /// Pending requests by risk (set after every change and scheduler pass).
    pub pending: IntGaugeVec,
    /// Time from request to decision (human or timeout).
    pub decision_seconds: Histogram,
    /// Requests decided after their SLA, or by the timeout action.
    pub breaches: IntCounter,
    /// Timeout actions taken, by decision (`approve`, `reject`).
    pub auto_decisions: IntCounterVec,
    /// Proposals by outcome (`pending`, `allowed`, `denied`).
    pub proposals: IntCounterVec,
}

impl ApprovalMetrics {
    pub fn new(registry: &Metrics) -> Result<Self, TelemetryError> {
        let m = Self {
            pending: IntGaugeVec::new(
                Opts::new(
                    "flightdeck_approvals_pending",
                    "Approval requests waiting for a decision, by risk.",
                ),
                &["risk"],
            )?,
            decision_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "flightdeck_approval_decision_seconds",
                    "Time from an approval request to its decision.",
                )
                .buckets(vec![
                    1.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
                ]),
            )?,
            breaches: IntCounter::new(
                "flightdeck_approval_sla_breaches_total",
                "Approval requests decided after their SLA, or by the timeout action.",
            )?,
            auto_decisions: IntCounterVec::new(
                Opts::new(
                    "flightdeck_approval_auto_decisions_total",
                    "Approval requests decided by their rule's timeout action, by decision.",
                ),
                &["decision"],
            )?,
            proposals: IntCounterVec::new(
                Opts::new(
                    "flightdeck_approval_proposals_total",
                    "Proposed actions by what the policies said (pending, allowed, denied).",
                ),
                &["outcome"],
            )?,
        };
        registry.register(Box::new(m.pending.clone()))?;
        registry.register(Box::new(m.decision_seconds.clone()))?;
        registry.register(Box::new(m.breaches.clone()))?;
        registry.register(Box::new(m.auto_decisions.clone()))?;
        registry.register(Box::new(m.proposals.clone()))?;
        Ok(m)
    }

    pub(crate) fn created(&self, r: &ApprovalRequest) {
        self.proposals.with_label_values(&[r.state.as_str()]).inc();
    }

    pub(crate) fn decided(&self, r: &ApprovalRequest) {
        if r.state == ApprovalState::Pending {
            return;
        }
        if let Some(at) = r.decided_at {
            let secs = (at - r.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.decision_seconds.observe(secs);
            if r.sla_due.is_some_and(|due| at > due) {
                self.breaches.inc();
            }
        }
    }
}

/// The escalation settings in force, parsed.
struct Chain {
    warn_before: chrono::Duration,
    steps: Vec<(
        chrono::Duration,
        EscalationChannel,
        Option<String>,
        Option<String>,
    )>,
    timeout_after: chrono::Duration,
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

impl Chain {
    fn of(config: &Config) -> Self {
        let esc = &config.approvals.escalation;
        let parse = |s: &str, fallback: u64| {
            chrono_of(parse_duration(s).unwrap_or(Duration::from_secs(fallback)))
        };
        Self {
            warn_before: parse(&esc.warn_before, 900),
            steps: esc
                .steps
                .iter()
                .map(|s| {
                    (
                        parse(&s.after, 0),
                        s.notify,
                        s.url.clone(),
                        s.secret.clone(),
                    )
                })
                .collect(),
            timeout_after: parse(&esc.timeout_after, 3600),
        }
    }

    /// When `r` needs looking at next (`None`: never again).
    fn next_check(&self, r: &ApprovalRequest, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let due = r.sla_due?;
        let mut candidates = Vec::new();
        if r.warned_at.is_none() && due - self.warn_before > now {
            candidates.push(due - self.warn_before);
        }
        if let Some((after, ..)) = self.steps.get(r.escalation_step as usize) {
            candidates.push(due + *after);
        }
        candidates.push(due + self.timeout_after);
        candidates
            .into_iter()
            .filter(|t| *t > now)
            .min()
            .or(Some(now))
    }
}

/// A webhook to send after the step committed.
pub(crate) struct Outgoing {
    pub request_id: String,
    pub url: String,
    pub secret: Option<String>,
    pub body: serde_json::Value,
    pub step: u32,
}

/// What one scheduler step did to one request.
#[derive(Default)]
pub(crate) struct Stepped {
    pub webhooks: Vec<Outgoing>,
    pub decided: Option<ApprovalRequest>,
    pub resumed: bool,
}

/// Takes every step of request `id` due at `now`, in one transaction.
pub(crate) fn step(
    tx: &mut WriteTx<'_>,
    config: &Config,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Stepped, ApprovalError> {
    let mut out = Stepped::default();
    let Some(r) = store::get_opt(tx, id)? else {
        return Ok(out);
    };
    let Some(due) = r.sla_due else { return Ok(out) };
    if r.state != ApprovalState::Pending {
        return Ok(out);
    }
    let chain = Chain::of(config);
    let at = time_to_db(now);
    let event = |tx: &mut WriteTx<'_>, kind: ApprovalEventKind, message: String| {
        store::event(tx, &r, kind, Some(message))
    };
    if r.warned_at.is_none() && now >= due - chain.warn_before && now < due {
        tx.execute(
            "UPDATE approval_requests SET warned_at = ?2, updated_at = ?2 WHERE id = ?1",
            rusqlite::params![r.id, at],
        )?;
        let left = (due - now).num_seconds();
        audit::append(
            tx,
            &NewEntry::new(
                "system:sla",
                AuditKind::ApprovalWarned,
                r.id.clone(),
                json!({"sla_due": due, "seconds_left": left}),
            ),
        )?;
        event(
            tx,
            ApprovalEventKind::Warned,
            format!(
                "{} ({} risk) needs a decision within {} min",
                r.action,
                r.risk.as_str(),
                (left + 59) / 60
            ),
        )?;
    }
    let mut done_steps = r.escalation_step as usize;
    if now >= due {
        while let Some((after, channel, url, secret)) = chain.steps.get(done_steps) {
            if now < due + *after {
                break;
            }
            let overdue_min = (now - due).num_minutes();
            let message = format!(
                "Overdue approval: {} ({} risk) from {}, {} min past its SLA",
                r.action,
                r.risk.as_str(),
                r.proposer,
                overdue_min
            );
            match channel {
                EscalationChannel::Desktop => {
                    event(tx, ApprovalEventKind::Escalated, message.clone())?;
                }
                EscalationChannel::Webhook => {
                    let mut shown = r.clone();
                    shown.callback_url = None;
                    if let Some(url) = url {
                        out.webhooks.push(Outgoing {
                            request_id: r.id.clone(),
                            url: url.clone(),
                            secret: secret.clone(),
                            body: json!({
                                "event": "approval_overdue",
                                "text": message,
                                "request": shown,
                            }),
                            step: u32::try_from(done_steps).unwrap_or(0),
                        });
                    }
                    event(tx, ApprovalEventKind::Escalated, message.clone())?;
                }
            }
            audit::append(
                tx,
                &NewEntry::new(
                    "system:sla",
                    AuditKind::ApprovalEscalated,
                    r.id.clone(),
                    json!({"step": done_steps, "channel": channel, "url": url.as_deref().map(super::settings::redact_url), "overdue_minutes": overdue_min}),
                ),
            )?;
            done_steps += 1;
        }
        tx.execute(
            "UPDATE approval_requests SET escalation_step = ?2, updated_at = ?3 WHERE id = ?1",
            rusqlite::params![r.id, i64::try_from(done_steps).unwrap_or(0), at],
        )?;
        if now >= due + chain.timeout_after {
            let (state, reason) = match r.on_timeout {
                OnTimeout::Reject => (
                    ApprovalState::Expired,
                    "no decision within the SLA and its escalation: the rule's timeout action rejects it",
                ),
                OnTimeout::Approve => (
                    ApprovalState::Approved,
                    "no decision within the SLA and its escalation: the rule's timeout action approves it",
                ),
            };
            let (decided, resumed) = store::finish(
                tx,
                &r,
                state,
                Some(reason),
                &["system:sla".to_string()],
                AuditKind::ApprovalExpired,
                "system:sla",
            )?;
            out.decided = Some(decided);
            out.resumed = resumed;
            return Ok(out);
        }
    }
    let Some(fresh) = store::get_opt(tx, id)? else {
        return Ok(out);
    };
    let next = chain.next_check(&fresh, now).map(time_to_db);
    tx.execute(
        "UPDATE approval_requests SET next_check_at = ?2 WHERE id = ?1",
        rusqlite::params![r.id, next],
    )?;
    Ok(out)
}

/// One pass: every step due now; answers when the next one is due.
pub async fn pass(a: &Approvals) -> Result<Option<DateTime<Utc>>, ApprovalError> {
    let config = a.config();
    let now = a.clock().now();
    let at = time_to_db(now);
    let due: Vec<String> = a
        .store()
        .read(move |db| {
            db.query_all(
                "SELECT id FROM approval_requests WHERE state = 'pending' AND next_check_at <= ?1 \
                 ORDER BY next_check_at LIMIT 500",
                [at],
                |r| r.get(0),
            )
        })
        .await?;
    let mut resumed = false;
    for id in due {
        let cfg = config.clone();
        let key = id.clone();
        let stepped = match a.store().write(move |tx| step(tx, &cfg, &key, now)).await {
            Ok(stepped) => stepped,
            Err(error) => {
                // One request that cannot be stepped must not hold up the others: it is
                // looked at again in a minute.
                tracing::warn!(%error, request = %id, "an approval's SLA step failed; retried in a minute");
                let later = time_to_db(now + chrono::Duration::minutes(1));
                a.store()
                    .write(move |tx| {
                        tx.execute(
                            "UPDATE approval_requests SET next_check_at = ?2 WHERE id = ?1",
                            rusqlite::params![id, later],
                        )
                    })
                    .await?;
                continue;
            }
        };
        if let (Some(d), Some(m)) = (&stepped.decided, a.metrics()) {
            m.decided(d);
            m.auto_decisions
                .with_label_values(&[if d.state == ApprovalState::Approved {
                    "approve"
                } else {
                    "reject"
                }])
                .inc();
        }
        resumed |= stepped.resumed;
        // Sent off the scheduler's path: a slow chat server delays no other step.
        for w in stepped.webhooks {
            let a = a.clone();
            tokio::spawn(async move { deliver_escalation(&a, w).await });
        }
    }
    if resumed {
        a.notify_workers();
    }
    a.changed_notify().notify_waiters();
    spawn_callbacks(a);
    if let Some(m) = a.metrics() {
        let counts = a
            .store()
            .read(|db| {
                db.query_all(
                    "SELECT risk, COUNT(*) FROM approval_requests WHERE state = 'pending' GROUP BY risk",
                    [],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
            })
            .await?;
        for risk in super::Risk::ALL {
            let n = counts
                .iter()
                .find(|(r, _)| r == risk.as_str())
                .map_or(0, |(_, n)| *n);
            m.pending.with_label_values(&[risk.as_str()]).set(n);
        }
    }
    let next: Option<i64> = a
        .store()
        .read(|db| {
            db.query_one(
                "SELECT MIN(next_check_at) FROM approval_requests WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
        })
        .await?;
    Ok(next.and_then(chrono::DateTime::from_timestamp_millis))
}

/// Starts delivering the callbacks of decided requests, unless a delivery runs already: one
/// task, off the scheduler's path, until none is waiting (failed ones are tried again after
/// a pause, five times in all).
fn spawn_callbacks(a: &Approvals) {
    use std::sync::atomic::Ordering;
    if a.callbacks_running().swap(true, Ordering::AcqRel) {
        return;
    }
    /// Clears the flag however the task ends (a panic included).
    struct Running(Approvals);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.callbacks_running().store(false, Ordering::Release);
        }
    }
    let a = a.clone();
    tokio::spawn(async move {
        let running = Running(a.clone());
        loop {
            match deliver_callbacks(&a).await {
                Ok(false) => {}
                Ok(true) => {
                    a.clock().sleep(Duration::from_secs(5)).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not deliver approval callbacks; retrying");
                    a.clock().sleep(Duration::from_secs(5)).await;
                    continue;
                }
            }
            // Nothing waits: stop, then look once more, in case a decision came in between
            // the last read and the flag coming down (its pass saw the flag still up).
            drop(running);
            match deliver_callbacks(&a).await {
                Ok(false) => return,
                _ => {
                    spawn_callbacks(&a);
                    return;
                }
            }
        }
    });
}

async fn deliver_escalation(a: &Approvals, w: Outgoing) {
    let outcome = super::execute::post_signed(
        a,
        &w.url,
        w.secret.as_deref(),
        &w.body,
        None,
        3,
        Duration::from_secs(10),
    )
    .await;
    let entry = NewEntry::new(
        "system:sla",
        AuditKind::ApprovalEscalated,
        w.request_id.clone(),
        json!({"step": w.step, "delivery": if outcome.ok { "delivered" } else { "failed" }, "detail": outcome.detail}),
    );
    if let Err(error) = a.store().write(move |tx| audit::append(tx, &entry)).await {
        tracing::warn!(%error, "could not record an escalation delivery");
    }
    if !outcome.ok {
        tracing::warn!(request = %w.request_id, url = %super::settings::redact_url(&w.url), detail = %outcome.text, "an escalation webhook failed");
    }
}

/// Delivers the callbacks of decided requests; answers whether some are still waiting.
async fn deliver_callbacks(a: &Approvals) -> Result<bool, ApprovalError> {
    let config = a.config();
    let waiting: Vec<(String, i64)> = a
        .store()
        .read(|db| {
            db.query_all(
                "SELECT id, callback_tries FROM approval_requests WHERE callback_state = 'pending' ORDER BY seq LIMIT 50",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await?;
    let mut still = false;
    for (id, tries) in waiting {
        let Some(r) = a
            .store()
            .read({
                let id = id.clone();
                move |db| store::get_opt(db, &id)
            })
            .await?
        else {
            continue;
        };
        let Some(url) = r.callback_url.clone() else {
            continue;
        };
        let body = json!({
            "id": r.id, "status": r.state, "action": r.action,
            "arguments": r.effective_arguments(), "edited": r.final_arguments.is_some(),
            "reason": r.reason, "decided_by": r.decided_by, "decided_at": r.decided_at,
        });
        let outcome = super::execute::post_signed(
            a,
            &url,
            config.approvals.callback_secret.as_deref(),
            &body,
            Some(&r.id),
            1,
            Duration::from_secs(10),
        )
        .await;
        let state = if outcome.ok {
            "delivered"
        } else if tries + 1 >= 5 {
            "failed"
        } else {
            still = true;
            "pending"
        };
        let detail = outcome.detail.clone();
        a.store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE approval_requests SET callback_state = ?2, callback_tries = callback_tries + 1 WHERE id = ?1",
                    rusqlite::params![id, state],
                )?;
                if state != "pending" {
                    audit::append(
                        tx,
                        &NewEntry::new("system:callback", AuditKind::ActionExecuted, id.clone(), json!({"callback": state, "detail": detail})),
                    )?;
                }
                Ok::<_, ApprovalError>(())
            })
            .await?;
    }
    Ok(still)
}

/// Runs the scheduler until `cancel`.
pub fn spawn(a: Approvals, cancel: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(async move {
        loop {
            let notified = a.scheduler_notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = match pass(&a).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(%error, "the approvals scheduler could not run a pass");
                    Some(a.clock().now() + chrono::Duration::seconds(5))
                }
            };
            let clock = a.clock().clone();
            let sleep = async move {
                match next {
                    Some(at) => clock.sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = &mut notified => {}
                () = sleep => {}
            }
        }
    });
}
