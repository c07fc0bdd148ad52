//! Native notifications for what needs a person now: a new high or critical approval
//! request, an overdue one (an escalation's desktop step), a request close to its SLA, and
//! `builtin:notify` actions, and budget alerts (a threshold crossed, a call refused). The
//! engine's bus is read directly (the webview has no part in
//! it); a system without a notification service logs the failure once and carries on.

use std::sync::Arc;

use flightdeck_engine::Engine;
use flightdeck_engine::approvals::{ApprovalEvent, ApprovalEventKind, Risk};
use flightdeck_engine::events::Event;
use tauri_plugin_notification::NotificationExt;

/// What to show for `e` (title, body), if anything.
pub fn notification_for(e: &ApprovalEvent) -> Option<(String, String)> {
    let who = e
        .agent
        .as_deref()
        .map_or(String::new(), |a| format!(" from {a}"));
    match e.kind {
        ApprovalEventKind::Requested if e.risk >= Risk::High => Some((
            format!("Approval needed: {}", e.action),
            format!(
                "A {} risk action{who} waits for your decision.",
                e.risk.as_str()
            ),
        )),
        ApprovalEventKind::Escalated => Some((
            "Overdue approval".into(),
            e.message
                .clone()
                .unwrap_or_else(|| format!("{} is past its SLA.", e.action)),
        )),
        ApprovalEventKind::Warned if e.risk >= Risk::High => Some((
            "Approval due soon".into(),
            e.message
                .clone()
                .unwrap_or_else(|| format!("{} needs a decision soon.", e.action)),
        )),
        ApprovalEventKind::Notify => Some((
            format!("Flightdeck: {}", e.action),
            e.message.clone().unwrap_or_default(),
        )),
        _ => None,
    }
}

/// What to show for a budget alert, or an imported bill that drifts from the ledger
/// (title, body).
pub fn cost_notification(e: &flightdeck_engine::costs::CostEvent) -> Option<(String, String)> {
    use flightdeck_engine::costs::CostEvent;
    let a = match e {
        CostEvent::BudgetAlert(a) => a,
        CostEvent::Reconciliation {
            drifted_days,
            removed: false,
            ..
        } if *drifted_days > 0 => {
            return Some((
                "Flightdeck: the bill drifts from the ledger".into(),
                format!(
                    "{drifted_days} day(s) of the imported bill differ from the ledger by more \
                     than the drift threshold (Costs → Reconciliation)"
                ),
            ));
        }
        _ => return None,
    };
    let title = match a.kind {
        flightdeck_engine::costs::AlertKind::Threshold => {
            format!("Budget {}: {}% used", a.budget, a.threshold)
        }
        flightdeck_engine::costs::AlertKind::Blocked => {
            format!("Budget {} is blocking calls", a.budget)
        }
        flightdeck_engine::costs::AlertKind::Projected => {
            format!("Budget {} is projected to run out", a.budget)
        }
    };
    Some((title, a.message.clone()))
}

/// The notification of a forecasts event: an anomaly, or a goal at risk.
fn forecast_notification(
    e: &flightdeck_engine::forecast::ForecastEvent,
) -> Option<(String, String)> {
    use flightdeck_engine::forecast::ForecastEvent;
    match e {
        // Recent points only: the first forecast of an imported history flags old ones.
        ForecastEvent::Anomaly(a) if (a.detected_at - a.ds).num_days() <= 3 => Some((
            format!("Flightdeck: {} is unusual", a.series),
            format!(
                "{} on {} (expected {:.2}, 95 % interval {:.2} to {:.2})",
                a.value,
                a.ds.format("%Y-%m-%d %H:%M"),
                a.expected,
                a.lo95,
                a.hi95
            ),
        )),
        ForecastEvent::Goal {
            goal,
            at_risk: true,
            probability,
            target,
            due,
            ..
        } => Some((
            format!("Flightdeck: goal {goal} is at risk"),
            format!(
                "{:.0} % likely to reach {target} by {}",
                probability * 100.0,
                due.format("%Y-%m-%d")
            ),
        )),
        _ => None,
    }
}

/// Shows a notification for every event that calls for one, until the bus closes.
pub fn spawn(app: tauri::AppHandle, engine: Engine) {
    let (mut rx, _) = engine.events().subscribe();
    tauri::async_runtime::spawn(async move {
        let mut warned = false;
        loop {
            let published: Arc<flightdeck_engine::events::Published> = match rx.recv().await {
                Ok(p) => p,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let (shown, about) = match &published.feed.event {
                Event::Approvals(e) => (notification_for(e), e.id.clone()),
                Event::Costs(e) => (cost_notification(e), "budget".to_string()),
                Event::Forecasts(e) => (forecast_notification(e), "forecast".to_string()),
                _ => continue,
            };
            let Some((title, body)) = shown else {
                continue;
            };
            match app
                .notification()
                .builder()
                .title(&title)
                .body(&body)
                .show()
            {
                Ok(()) => tracing::info!(about = %about, %title, "desktop notification shown"),
                Err(error) if !warned => {
                    warned = true;
                    tracing::warn!(%error, "desktop notifications are unavailable here; the inbox still shows every request");
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightdeck_engine::approvals::ApprovalState;

    fn event(kind: ApprovalEventKind, risk: Risk) -> ApprovalEvent {
        ApprovalEvent {
            id: "apr_1".into(),
            kind,
            state: ApprovalState::Pending,
            action: "refund".into(),
            risk,
            agent: Some("billing".into()),
            message: None,
        }
    }

    #[test]
    fn high_and_critical_requests_notify_and_the_others_wait_in_the_inbox() {
        let (title, body) =
            notification_for(&event(ApprovalEventKind::Requested, Risk::Critical)).unwrap();
        assert_eq!(title, "Approval needed: refund");
        assert!(
            body.contains("critical") && body.contains("billing"),
            "{body}"
        );
        assert!(notification_for(&event(ApprovalEventKind::Requested, Risk::High)).is_some());
        assert!(notification_for(&event(ApprovalEventKind::Requested, Risk::Medium)).is_none());
        assert!(notification_for(&event(ApprovalEventKind::Decided, Risk::Critical)).is_none());
        assert!(notification_for(&event(ApprovalEventKind::Escalated, Risk::Low)).is_some());
        assert!(notification_for(&event(ApprovalEventKind::Warned, Risk::Low)).is_none());
        assert!(notification_for(&event(ApprovalEventKind::Notify, Risk::Low)).is_some());
    }

    #[test]
    fn budget_alerts_notify_with_their_budget_and_message() {
        use flightdeck_engine::costs::{AlertKind, BudgetAlert, CostEvent};
        let alert = |kind, threshold| {
            CostEvent::BudgetAlert(BudgetAlert {
                budget: "team-a".into(),
                kind,
                threshold,
                period_start: chrono::Utc::now(),
                period_end: None,
                spent: "80".parse().unwrap(),
                limit_usd: "100".parse().unwrap(),
                action: flightdeck_engine::costs::settings::BudgetAction::Block,
                fired_at: chrono::Utc::now(),
                message: "budget `team-a` reached 80% of $100: $80 spent".into(),
            })
        };
        let (title, body) = cost_notification(&alert(AlertKind::Threshold, 80)).unwrap();
        assert_eq!(title, "Budget team-a: 80% used");
        assert!(body.contains("$80 spent"), "{body}");
        let (title, _) = cost_notification(&alert(AlertKind::Blocked, 100)).unwrap();
        assert_eq!(title, "Budget team-a is blocking calls");
    }
}
