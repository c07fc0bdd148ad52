//! Budget alerts, delivered: the gate sends each alert it fires down a channel; this task
//! writes it once (`budget_alerts`, `INSERT OR IGNORE` on budget, period, kind and
//! threshold) with its `costs` feed event in the same transaction, so an alert fires once
//! per period even across restarts; then, when `[costs] alert_webhook` is set, POSTs it
//! (signed like action webhooks when `alert_webhook_secret` names a secret: HMAC-SHA256 of
//! `<timestamp>.<body>` in `X-Flightdeck-Signature`), up to 3 tries, recording the delivery.
//! The desktop shows the feed event as a notification.

use std::time::Duration;

use tokio::sync::mpsc;

use super::CostEvent;
use super::budget::BudgetAlert;
use crate::clock::SharedClock;
use crate::config::ConfigHandle;
use crate::events::Event;
use crate::store::values::{money_to_db, time_to_db};
use crate::store::{Store, StoreError};

/// What the alerts task needs.
pub(super) struct Sender {
    pub store: Store,
    pub clock: SharedClock,
    pub config: ConfigHandle,
    pub secrets: Option<crate::secrets::SecretStore>,
}

pub(super) fn spawn(
    s: Sender,
    mut rx: mpsc::UnboundedReceiver<BudgetAlert>,
    tracker: &tokio_util::task::TaskTracker,
    cancel: tokio_util::sync::CancellationToken,
) {
    tracker.spawn(async move {
        loop {
            let alert = tokio::select! {
                a = rx.recv() => match a { Some(a) => a, None => break },
                () = cancel.cancelled() => break,
            };
            match record(&s.store, &alert).await {
                Ok(true) => {
                    tracing::warn!(budget = %alert.budget, kind = alert.kind.as_str(), threshold = alert.threshold, spent = %alert.spent, "{}", alert.message);
                    deliver(&s, &alert).await;
                }
                Ok(false) => {}
                Err(error) => tracing::error!(%error, budget = %alert.budget, "could not record a budget alert"),
            }
        }
    });
}

/// Writes `alert` and its feed event unless it fired already: whether it was new.
async fn record(store: &Store, alert: &BudgetAlert) -> Result<bool, StoreError> {
    let a = alert.clone();
    store
        .write(move |tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO budget_alerts (budget, period_start, kind, threshold, \
                 spent, limit_usd, fired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    a.budget,
                    time_to_db(a.period_start),
                    a.kind.as_str(),
                    a.threshold,
                    money_to_db(a.spent),
                    money_to_db(a.limit_usd),
                    time_to_db(a.fired_at),
                ],
            )?;
            if n == 1 {
                tx.append_event(Event::Costs(CostEvent::BudgetAlert(a.clone())))?;
            }
            Ok(n == 1)
        })
        .await
}

async fn deliver(s: &Sender, alert: &BudgetAlert) {
    let config = s.config.current();
    let Some(url) = config.costs.alert_webhook.clone() else {
        return;
    };
    let key = match (&config.costs.alert_webhook_secret, &s.secrets) {
        (Some(name), Some(secrets)) => match secrets.get_cached(name).await {
            Ok(v) => {
                use secrecy::ExposeSecret;
                Some(v.expose_secret().as_bytes().to_vec())
            }
            Err(error) => {
                tracing::error!(%error, secret = %name, "the budget alert webhook's secret cannot be read; not sending unsigned");
                return;
            }
        },
        _ => None,
    };
    let Ok(body) = serde_json::to_vec(alert) else {
        return;
    };
    let mut pause = Duration::from_millis(500);
    for attempt in 1..=3u32 {
        let ts = s.clock.now().timestamp();
        let mut req = crate::agents::actions::client()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-flightdeck-timestamp", ts.to_string())
            .timeout(Duration::from_secs(10))
            .body(body.clone());
        if let Some(k) = &key {
            req = req.header(
                "x-flightdeck-signature",
                crate::approvals::execute::signature(k, ts, &body),
            );
        }
        let result = req.send().await;
        let ok = matches!(&result, Ok(r) if r.status().is_success());
        let (budget, start, kind, threshold) = (
            alert.budget.clone(),
            time_to_db(alert.period_start),
            alert.kind.as_str(),
            alert.threshold,
        );
        let at = time_to_db(s.clock.now());
        let _ = s
            .store
            .write(move |tx| {
                tx.execute(
                    "UPDATE budget_alerts SET attempts = attempts + 1, delivered_at = \
                     CASE WHEN ?5 THEN ?6 ELSE delivered_at END \
                     WHERE budget = ?1 AND period_start = ?2 AND kind = ?3 AND threshold = ?4",
                    rusqlite::params![budget, start, kind, threshold, ok, at],
                )
            })
            .await;
        if ok {
            return;
        }
        match result {
            Ok(r) => {
                tracing::warn!(status = %r.status(), attempt, "the budget alert webhook refused the alert")
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), attempt, "the budget alert webhook cannot be reached")
            }
        }
        if attempt < 3 {
            s.clock.sleep(pause).await;
            pause *= 2;
        }
    }
}
