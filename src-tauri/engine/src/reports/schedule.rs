//! The report scheduler: on the engine's clock, makes the last complete period's report
//! once `[reports] at_hour` has passed (daily or weekly), delivers it, and sleeps until the
//! next one. Restart-safe: at start it makes the report of the last complete period if it
//! is missing (a scheduled report is unique per period) and resumes deliveries left
//! pending; a config reload is picked up at the next wake (at most a minute later).

use chrono::Duration;

use super::settings::Schedule;
use super::{Period, Reports, Trigger};

impl Reports {
    /// Makes the scheduled report now due, if it is missing: its id.
    pub async fn run_schedule_once(&self) -> Option<String> {
        let config = self.inner.config.current();
        let period = match config.reports.schedule {
            Schedule::Off => return None,
            Schedule::Daily => Period::Day,
            Schedule::Weekly => Period::Week,
        };
        let now = self.inner.clock.now();
        let (from, until) = period.span(now, false, &config);
        // Due once the hour has passed on the first day after the period.
        let tz = self.inner.tz(&config);
        let local_until = until.with_timezone(&tz);
        let due = local_until + Duration::hours(i64::from(config.reports.at_hour));
        if now < due.with_timezone(&chrono::Utc) {
            return None;
        }
        let (f, k) = (crate::store::values::time_to_db(from), period.db());
        let exists = self
            .inner
            .store
            .read(move |db| {
                db.query_opt(
                    "SELECT id FROM reports WHERE trigger = 'schedule' AND period = ?1 AND period_start = ?2",
                    rusqlite::params![k, f],
                    |r| r.get::<_, String>(0),
                )
            })
            .await;
        if !matches!(exists, Ok(None)) {
            return None;
        }
        match self
            .make(
                period,
                from,
                until,
                false,
                Trigger::Schedule,
                &config.reports.formats,
            )
            .await
        {
            Ok(Some(r)) => {
                tracing::info!(report = %r.id, title = %r.title, "made the scheduled report");
                if (r.email.is_some() || r.webhook.is_some())
                    && let Err(e) = self.deliver(&r.id).await
                {
                    tracing::warn!(error = %e, "a scheduled report was not delivered");
                }
                Some(r.id)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "could not make the scheduled report");
                None
            }
        }
    }

    /// The scheduler's loop until `cancel`.
    pub fn spawn_schedule(
        &self,
        tracker: &tokio_util::task::TaskTracker,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let reports = self.clone();
        tracker.spawn(async move {
            reports.resume_pending().await;
            loop {
                reports.run_schedule_once().await;
                let now = reports.inner.clock.now();
                let config = reports.inner.config.current();
                // Wake at the next due time, and at least every minute (config reloads).
                let next = super::next_due(&config, now).map_or(now + Duration::minutes(1), |d| {
                    d.min(now + Duration::minutes(1))
                });
                tokio::select! {
                    () = reports.inner.clock.sleep_until(next) => {}
                    () = cancel.cancelled() => break,
                }
            }
        });
    }
}
