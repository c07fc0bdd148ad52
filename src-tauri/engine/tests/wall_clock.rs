//! The engine reads wall-clock time only from the clock it was opened with: its start time,
//! event times, health checks, config loads and the rows it stores all follow a
//! [`ManualClock`], which moves only when the test moves it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flightdeck_engine::Engine;
use flightdeck_engine::clock::ManualClock;
use flightdeck_engine::events::{ConfigOutcome, Event, FeedEvent, Published};
use flightdeck_engine::health::HealthStatus;
use tokio::sync::broadcast::Receiver;

use crate::options_with_file;

fn date(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// An engine on `<dir>/data` whose config comes from `<dir>/flightdeck.toml` (reloaded by
/// hand), with `clock`.
async fn engine_on(dir: &Path, clock: &Arc<ManualClock>) -> (Engine, std::path::PathBuf) {
    let path = dir.join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 60000\n").unwrap();
    let mut opts = options_with_file(&dir.join("data"), &path, true, false);
    opts.clock = clock.clone();
    (Engine::open(opts).await.unwrap(), path)
}

/// The next event on `sub` that `pick` accepts.
async fn next_event(
    sub: &mut Receiver<Arc<Published>>,
    pick: impl Fn(&FeedEvent) -> bool,
) -> FeedEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = sub.recv().await.unwrap();
            if pick(&event) {
                return event.feed.clone();
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_engine_timestamp_follows_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let start = date("2030-01-02T03:04:05Z");
    let clock = Arc::new(ManualClock::new(start));
    let (engine, path) = engine_on(dir.path(), &clock).await;
    assert_eq!(engine.clock().now(), start);

    // At start: the start time, the config load, the node id row, an event, the health report.
    let info = engine.info();
    assert_eq!(info.started_at, start);
    assert_eq!(info.config.loaded_at, start);
    let updated_at: i64 = crate::scalar(
        engine.store(),
        "SELECT updated_at FROM meta WHERE key = 'node_id'",
    )
    .await;
    assert_eq!(updated_at, start.timestamp_millis());

    let (mut live, _) = engine.events().subscribe();
    engine.publish_ephemeral(Event::Metrics(engine.metrics_sample()));
    assert_eq!(live.recv().await.unwrap().time, start);

    let report = engine.health().await;
    assert_eq!(report.timestamp, start);
    for d in &report.dependencies {
        assert_eq!(d.last_check, start, "{}", d.name);
    }

    // An hour later (no one waits for it): a rejected change, and the health it degrades.
    let later = clock.advance(Duration::from_secs(3600));
    assert_eq!(later, date("2030-01-02T04:04:05Z"));
    let (mut sub, _) = engine.events().subscribe();
    std::fs::write(&path, "[server]\nlisten = \"not an address\"\n").unwrap();
    assert_eq!(
        engine.reload_config().unwrap().outcome,
        ConfigOutcome::Rejected
    );
    let config_event = next_event(&mut sub, |e| matches!(e.event, Event::Config(_))).await;
    assert_eq!(config_event.time, later);
    let info = engine.info();
    assert_eq!(info.started_at, start, "the start time stays");
    assert_eq!(
        info.config.loaded_at, start,
        "a rejected change loads nothing"
    );

    let report = engine.health().await;
    assert_eq!(report.timestamp, later);
    for d in &report.dependencies {
        // The costly checks may be reused for a moment: a reused result keeps its check time.
        let expected: &[DateTime<Utc>] = if d.name == "config" {
            &[later]
        } else {
            &[start, later]
        };
        assert!(
            expected.contains(&d.last_check),
            "{}: {}",
            d.name,
            d.last_check
        );
    }
    let health_event = next_event(
        &mut sub,
        |e| matches!(&e.event, Event::Health { dependency, .. } if dependency == "config"),
    )
    .await;
    assert_eq!(health_event.time, later);

    // Published after it was stored: the transition's row carries the time of its check.
    let rows = crate::transitions(&engine).await;
    let degraded = rows
        .iter()
        .rfind(|r| r.dependency == "config" && r.to == HealthStatus::Degraded)
        .unwrap();
    assert_eq!(degraded.at, later);
    for first in rows.iter().filter(|r| r.from.is_none()) {
        assert_eq!(first.at, start, "{}", first.dependency);
    }

    // Another minute: a valid change is loaded now.
    let fixed = clock.advance(Duration::from_secs(60));
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 30000\n").unwrap();
    assert_eq!(
        engine.reload_config().unwrap().outcome,
        ConfigOutcome::Applied
    );
    let config_event = next_event(&mut sub, |e| matches!(e.event, Event::Config(_))).await;
    assert_eq!(config_event.time, fixed);
    assert_eq!(engine.info().config.loaded_at, fixed);
    assert_eq!(engine.info().started_at, start);

    engine.shutdown().await;
}

/// The invariant above, kept by reading the sources: only `clock.rs` asks the system for the
/// wall-clock time.
#[test]
fn only_the_clock_module_reads_the_system_clock() {
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.iter().any(|f| f.ends_with("clock.rs")), "{files:?}");
    for file in files.iter().filter(|f| **f != src.join("clock.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for call in ["Utc::now", "Local::now", "SystemTime::now"] {
            assert!(
                !text.contains(call),
                "{} calls {call}: take the time from the engine's clock",
                file.display()
            );
        }
    }
}

/// Timers too: outside `clock.rs`, engine code waits through its clock (so a test moves
/// time instead of sleeping), never on tokio's or the OS's timers directly. Test code and
/// time-outs that guard an operation are exempt.
#[test]
fn only_the_clock_module_starts_timers() {
    // (file, why it may) — polling the file system is waiting for the world, not for time.
    let allowed = [(
        "config/watch.rs",
        "polls for a config directory that does not exist yet",
    )];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let is_test = rel.ends_with("tests.rs");
            if !rel.ends_with(".rs") || rel == "clock.rs" || is_test {
                continue;
            }
            if allowed.iter().any(|(f, _)| *f == rel) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Only the code before the file's test module.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for timer in [
                "tokio::time::sleep",
                "tokio::time::interval",
                "std::thread::sleep",
                "time::sleep(",
            ] {
                assert!(
                    !code.contains(timer),
                    "{rel} uses {timer}: wait through the engine's clock (Clock::sleep)"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "checked only {checked} files");
}

/// With a [`flightdeck_engine::clock::PausedClock`] on a paused runtime, the engine's
/// timers run on paused time: minutes of metrics samples pass in no real time, each stamped
/// with the wall time it fired at. (The runtime is paused after the open: opening waits on
/// the database's threads, and a paused runtime would jump its time-outs meanwhile.)
#[tokio::test]
async fn engine_timers_run_on_paused_time() {
    let dir = tempfile::tempdir().unwrap();
    let start = date("2030-01-02T03:04:05Z");
    let mut opts = crate::options(dir.path());
    opts.config.feed.metrics_interval_ms = 60_000;
    opts.clock = Arc::new(flightdeck_engine::clock::PausedClock::new(start));
    let engine = Engine::open(opts).await.unwrap();
    tokio::time::pause();
    let (mut rx, _) = engine.events().subscribe();
    let real = std::time::Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 {
        let e = rx.recv().await.unwrap();
        if matches!(e.event, Event::Metrics(_)) {
            times.push(e.time);
        }
    }
    assert!(
        times[0] >= start + chrono::TimeDelta::minutes(1),
        "{times:?}"
    );
    // One interval apart (tokio's timers have millisecond granularity).
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= chrono::TimeDelta::minutes(1)
                && gap < chrono::TimeDelta::minutes(1) + chrono::TimeDelta::milliseconds(10),
            "{times:?}"
        );
    }
    assert!(real.elapsed() < Duration::from_secs(30));
    engine.shutdown().await;
}
