//! Schedules (`[[agents.<name>.schedules]]`): cron patterns (croner) whose slots become
//! tasks. Restart-safe by construction: a slot's task carries the idempotency key
//! `schedule:<agent>:<index>:<slot>`, so however often the slot is seen (each sweep, every
//! node of a fleet, a restart after a crash) the queue holds one task for it.
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

/// The task of `agent`'s schedule number `index` for `slot`.
pub fn task(agent: &str, index: usize, schedule: &ScheduleConfig, slot: DateTime<Utc>) -> NewTask {
    NewTask {
        agent: Some(agent.to_string()),
        input: schedule.input.clone(),
        idempotency_key: Some(format!(
            "schedule:{agent}:{index}:{}",
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
        let t = task(
            "digest",
            1,
            &every("0 8 * * *", 60),
            at("2026-12-07T08:00:00Z"),
        );
        assert_eq!(
            t.idempotency_key.as_deref(),
            Some("schedule:digest:1:2026-12-07T08:00:00Z")
        );
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
