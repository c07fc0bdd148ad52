//! Reloads of a handle, without a watcher: quiet when nothing changed, the default location
//! versus an explicit file, the environment snapshot, and concurrent reloads.

use std::path::{Path, PathBuf};

use super::reload::{Reloaded, reload};
use super::*;
use crate::events::ConfigOutcome;

/// A handle on `path` loaded now, with `env` as its snapshot.
fn handle_on(path: &Path, required: bool, env: &[(&str, &str)]) -> ConfigHandle {
    let source = ConfigSource {
        path: Some(path.to_path_buf()),
        required,
        env: EnvSnapshot::from_vars(env.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        overrides: ConfigOverrides::default(),
    };
    let config = source.load().unwrap();
    ConfigHandle::new(config, source, crate::clock::SystemClock::shared())
}

fn news(r: Reloaded) -> crate::events::ConfigEvent {
    match r {
        Reloaded::News(e) => e,
        Reloaded::Quiet(e) => panic!("expected news, got quiet: {e:?}"),
    }
}

#[test]
fn unchanged_content_reloads_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 500\n").unwrap();
    let h = handle_on(&path, true, &[]);
    let rx = h.subscribe();
    // Same content, then a change that changes no value: nothing to announce, nobody woken.
    assert!(!reload(&h).is_news());
    assert!(!reload(&h).is_news());
    std::fs::write(&path, "# tuned\n[feed]\nmetrics_interval_ms = 500\n").unwrap();
    let quiet = reload(&h);
    assert!(!quiet.is_news());
    assert_eq!(quiet.event().outcome, ConfigOutcome::Applied);
    assert!(!rx.has_changed().unwrap());

    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 600\n").unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.changed, vec!["feed.metrics_interval_ms".to_string()]);
    assert!(rx.has_changed().unwrap());
    // A rejected file is announced once, not on every look at it.
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 1\n").unwrap();
    assert_eq!(news(reload(&h)).outcome, ConfigOutcome::Rejected);
    let again = reload(&h);
    assert!(!again.is_news());
    assert_eq!(again.event().outcome, ConfigOutcome::Rejected);
    assert!(again.event().message.contains("feed.metrics_interval_ms"));
}

#[test]
fn reloads_reuse_the_environment_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "").unwrap();
    let h = handle_on(
        &path,
        true,
        &[("FLIGHTDECK_FEED__METRICS_INTERVAL_MS", "300")],
    );
    assert_eq!(h.current().feed.metrics_interval_ms, 300);
    std::fs::write(&path, "[log]\nlevel = \"debug\"\n").unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.changed, vec!["log.level".to_string()]);
    assert_eq!(
        h.current().feed.metrics_interval_ms,
        300,
        "the environment at start still applies"
    );
}

#[test]
fn default_location_falls_back_to_defaults_and_picks_up_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 500\n").unwrap();
    let h = handle_on(&path, false, &[]);
    let shown = Some(path.display().to_string());
    assert_eq!(h.status().path, shown);

    std::fs::remove_file(&path).unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(ev.changed, vec!["feed.metrics_interval_ms".to_string()]);
    assert!(ev.message.contains("built-in defaults"), "{}", ev.message);
    assert_eq!(*h.current(), Config::default());
    assert_eq!(h.status().path, None, "running on the defaults");
    assert!(!reload(&h).is_news(), "still absent: nothing new");

    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 700\n").unwrap();
    assert_eq!(news(reload(&h)).outcome, ConfigOutcome::Applied);
    assert_eq!(h.current().feed.metrics_interval_ms, 700);
    assert_eq!(h.status().path, shown);
}

#[test]
fn an_explicit_file_that_disappears_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 500\n").unwrap();
    let h = handle_on(&path, true, &[]);
    std::fs::remove_file(&path).unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.outcome, ConfigOutcome::Rejected);
    assert!(ev.message.contains("does not exist"), "{}", ev.message);
    assert_eq!(h.current().feed.metrics_interval_ms, 500);
    assert_eq!(h.status().state, ConfigState::Error);
    assert!(!reload(&h).is_news());
}

#[test]
fn concurrent_reloads_announce_a_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "").unwrap();
    let h = handle_on(&path, true, &[]);
    assert!(!reload(&h).is_news());
    std::fs::write(&path, "[health]\ninterval_secs = 5\n").unwrap();
    let outcomes: Vec<Reloaded> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8).map(|_| s.spawn(|| reload(&h))).collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let news: Vec<_> = outcomes.iter().filter(|r| r.is_news()).collect();
    assert_eq!(news.len(), 1, "{outcomes:?}");
    assert_eq!(
        news[0].event().changed,
        vec!["health.interval_secs".to_string()]
    );
    let (config, status) = h.snapshot();
    assert_eq!(config.health.interval_secs, 5);
    assert_eq!(status.state, ConfigState::Ok);
}

#[test]
fn policies_reload_and_a_broken_one_keeps_the_old_set_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    let action =
        "[actions.refund]\ndescription = \"r\"\nrisk = \"high\"\nexecutor = \"external\"\n";
    std::fs::write(
        &path,
        format!("{action}[[policies]]\naction = \"refund\"\nwhen = \"amount > 500\"\ndecision = \"require_approval\"\n"),
    )
    .unwrap();
    let h = handle_on(&path, true, &[]);
    assert_eq!(
        h.current().policies[0].when.as_deref(),
        Some("amount > 500")
    );
    std::fs::write(
        &path,
        format!("{action}[[policies]]\naction = \"refund\"\nwhen = \"amount > 100\"\ndecision = \"deny\"\n"),
    )
    .unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.outcome, ConfigOutcome::Applied);
    assert!(
        ev.changed.iter().any(|k| k.starts_with("policies")),
        "{:?}",
        ev.changed
    );
    assert_eq!(
        h.current().policies[0].when.as_deref(),
        Some("amount > 100")
    );
    // A predicate that does not parse: refused with its key and position; the rules in force
    // stay the ones before.
    std::fs::write(
        &path,
        format!(
            "{action}[[policies]]\naction = \"refund\"\nwhen = \"amount >\"\ndecision = \"allow\"\n"
        ),
    )
    .unwrap();
    let ev = news(reload(&h));
    assert_eq!(ev.outcome, ConfigOutcome::Rejected);
    assert!(ev.message.contains("policies[0].when"), "{}", ev.message);
    assert_eq!(
        h.current().policies[0].when.as_deref(),
        Some("amount > 100")
    );
    assert_eq!(
        h.current().policies[0].decision,
        crate::approvals::Decision::Deny
    );
}
