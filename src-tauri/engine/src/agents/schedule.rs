//! Schedules (`[[agents.<name>.schedules]]`): cron patterns (croner) whose slots become
//! tasks. Restart-safe by construction: a slot's task carries the idempotency key
//! `schedule:<agent>:<schedule>:<slot>`, where `<schedule>` is a hash of the pattern and the
//! input (not the schedule's place in the list, which an edit of the config may shift), so
//! however often the slot is seen (each sweep, every node of a fleet, a restart after a
//! crash) the queue holds one task for it.
//!
//! Which slot: the latest one at or before now, when it is no older than the schedule's
//! `catch_up_secs` (so a node that was stopped over a slot runs it once when it is back, and
//! a schedule added at 15:00 does not run the 08:00 slot). Times are UTC.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use super::settings::ScheduleConfig;
use crate::orchestrator::NewTask;

/// The pattern, parsed (five or six fields, nicknames).
pub fn parse(pattern: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(pattern)
        .map_err(|e| format!("`{pattern}` is not a cron pattern: {e}"))
}

/// The slot of `schedule` to run at `now`, if any.
pub fn due(schedule: &ScheduleConfig, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = parse(&schedule.cron).ok()?;
    let slot = cron.find_previous_occurrence(&now, true).ok()?;
    let age = (now - slot).to_std().ok()?;
    (age.as_secs() <= schedule.catch_up_secs).then_some(slot)
}

/// What names a schedule in its tasks' keys: 12 hex digits of the SHA-256 of its pattern,
/// input and priority.
pub fn id(schedule: &ScheduleConfig) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(schedule.cron.as_bytes());
    h.update([0]);
    h.update(schedule.input.to_string().as_bytes());
    h.update(schedule.priority.to_le_bytes());
    hex::encode(&h.finalize()[..6])
}

/// The task of `agent`'s `schedule` for `slot`.
pub fn task(agent: &str, schedule: &ScheduleConfig, slot: DateTime<Utc>) -> NewTask {
    NewTask {
        agent: Some(agent.to_string()),
        input: schedule.input.clone(),
        idempotency_key: Some(format!(
            "schedule:{agent}:{}:{}",
            id(schedule),
            slot.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        priority: schedule.priority,
        run_at: Some(slot),
        tags: vec!["schedule".into()],
        ..NewTask::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn every(cron: &str, catch_up_secs: u64) -> ScheduleConfig {
        ScheduleConfig {
            cron: cron.into(),
            input: serde_json::json!({}),
            priority: 0,
            catch_up_secs,
        }
    }

    #[test]
    fn the_latest_slot_runs_once_and_old_ones_are_skipped() {
        let cases: &[(&str, u64, &str, Option<&str>)] = &[
            // Daily at 08:00: at 08:00:30 the slot is due; at 15:00 it is 7 h old.
            (
                "0 8 * * *",
                3600,
                "2026-12-07T08:00:30Z",
                Some("2026-12-07T08:00:00Z"),
            ),
            ("0 8 * * *", 3600, "2026-12-07T15:00:00Z", None),
            (
                "0 8 * * *",
                86_400,
                "2026-12-07T15:00:00Z",
                Some("2026-12-07T08:00:00Z"),
            ),
            // Exactly on the slot.
            (
                "*/5 * * * *",
                0,
                "2026-12-07T10:05:00Z",
                Some("2026-12-07T10:05:00Z"),
            ),
            ("*/5 * * * *", 0, "2026-12-07T10:05:01Z", None),
            // Six fields: every 10 seconds.
            (
                "*/10 * * * * *",
                60,
                "2026-12-07T10:05:17Z",
                Some("2026-12-07T10:05:10Z"),
            ),
            (
                "@hourly",
                60,
                "2026-12-07T10:00:59Z",
                Some("2026-12-07T10:00:00Z"),
            ),
        ];
        for (cron, catch_up, now, want) in cases {
            assert_eq!(
                due(&every(cron, *catch_up), at(now)),
                want.map(at),
                "{cron} at {now}"
            );
        }
        let daily = every("0 8 * * *", 60);
        let t = task("digest", &daily, at("2026-12-07T08:00:00Z"));
        assert_eq!(
            t.idempotency_key,
            Some(format!(
                "schedule:digest:{}:2026-12-07T08:00:00Z",
                id(&daily)
            ))
        );
        // The id follows the content, not the place in the list.
        assert_eq!(
            id(&daily),
            id(&every("0 8 * * *", 3600)),
            "catch-up is not part of it"
        );
        assert_ne!(id(&daily), id(&every("0 9 * * *", 60)));
        assert!(crate::idempotency::valid_key(
            t.idempotency_key.as_deref().unwrap()
        ));
        assert!(
            parse("61 * * * *")
                .unwrap_err()
                .contains("not a cron pattern")
        );
        assert!(parse("not cron").is_err());
    }
}
