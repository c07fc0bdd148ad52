//! The health report is served without a token: it must name no paths (the data dir, the
//! config file, the secrets file), while the detail stays in the authenticated info. Health
//! transitions are stored, then published on the `health` topic.

use std::path::Path;
use std::time::Duration;

use flightdeck_engine::Engine;
use flightdeck_engine::config::{ConfigState, SecretsBackend};
use flightdeck_engine::events::{ConfigOutcome, Event};
use flightdeck_engine::health::{HealthReport, HealthStatus};
use flightdeck_engine::secrets::FILE_NAME;

use crate::{options, options_with_file};

/// An engine whose config comes from `<dir>/flightdeck.toml`, reloaded by hand.
async fn engine_with_config_file(dir: &Path) -> (Engine, std::path::PathBuf) {
    let path = dir.join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 60000\n").unwrap();
    let opts = options_with_file(&dir.join("data"), &path, true, false);
    (Engine::open(opts).await.unwrap(), path)
}

fn assert_names_no_path(report: &HealthReport, paths: &[&Path]) {
    let json = serde_json::to_string(report).unwrap();
    for p in paths {
        let p = p.display().to_string();
        assert!(!json.contains(&p), "{p} in {json}");
    }
    // Not even a piece of one: every message is a short reason.
    for d in &report.dependencies {
        let m = d.message.as_deref().unwrap_or("");
        assert!(!m.contains('/') || m.contains("/api/v1/info"), "{m}");
    }
}

fn dependency<'a>(
    report: &'a HealthReport,
    name: &str,
) -> &'a flightdeck_engine::health::DependencyHealth {
    report.dependencies.iter().find(|d| d.name == name).unwrap()
}

#[tokio::test]
async fn a_rejected_config_is_reported_without_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, path) = engine_with_config_file(dir.path()).await;
    std::fs::write(&path, "[server]\nlisten = \"not an address\"\n").unwrap();
    let rejected = engine.reload_config().unwrap();
    assert_eq!(rejected.outcome, ConfigOutcome::Rejected);

    let report = engine.health().await;
    let config = dependency(&report, "config");
    assert_eq!(config.status, HealthStatus::Degraded);
    let message = config.message.as_deref().unwrap();
    assert!(
        message.contains("rejected") && message.contains("flightdeck.toml"),
        "{message}"
    );
    assert_names_no_path(&report, &[dir.path(), engine.data_dir(), &path]);

    // The detail, with the file, is in the authenticated info.
    let info = engine.info().config;
    assert_eq!(info.state, ConfigState::Error);
    assert!(info.error.unwrap().contains("server.listen"));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_broken_secrets_file_is_reported_without_paths() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join(FILE_NAME);
    let mut opts = options(dir.path());
    opts.config.secrets.backend = SecretsBackend::File;
    opts.env_token = None;

    for (contents, mode) in [("{not json", 0o600), ("{\"api_token\":\"x\"}", 0o644)] {
        std::fs::write(&secrets, contents).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        let engine = Engine::open(opts.clone()).await.unwrap();
        let report = engine.health().await;
        let dep = dependency(&report, "secrets");
        assert_eq!(dep.status, HealthStatus::Unhealthy, "{dep:?}");
        assert!(
            dep.message.as_deref().unwrap().contains(FILE_NAME),
            "{dep:?}"
        );
        assert_names_no_path(&report, &[dir.path(), engine.data_dir(), &secrets]);
        engine.shutdown().await;
    }
}

#[tokio::test]
async fn a_health_transition_is_stored_then_published() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, path) = engine_with_config_file(dir.path()).await;
    // The first observation: stored, not published.
    let first = engine.health().await;
    assert_eq!(dependency(&first, "config").status, HealthStatus::Healthy);
    let mut rx = engine.events().subscribe().0;

    std::fs::write(&path, "[feed]\nmetrics_interval_ms = \"fast\"\n").unwrap();
    engine.reload_config().unwrap();
    engine.health().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (from, to, message) = loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no health event")
            .unwrap();
        match &ev.event {
            Event::Health {
                dependency,
                from,
                to,
                message,
            } if dependency == "config" => break (*from, *to, message.clone()),
            _ => {}
        }
    };
    assert_eq!((from, to), (HealthStatus::Healthy, HealthStatus::Degraded));
    assert!(!message.unwrap().contains(&dir.path().display().to_string()));

    let stored = crate::transitions(&engine).await;
    assert!(stored.iter().any(|t| t.dependency == "config"
        && t.from == Some(HealthStatus::Healthy)
        && t.to == HealthStatus::Degraded));
    engine.shutdown().await;
}

/// Reports running at once while the config flaps between valid and rejected: the stored
/// history and the published events of each dependency still form one chain (every
/// transition starts where the previous one ended), in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reports_store_and_publish_transitions_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, path) = engine_with_config_file(dir.path()).await;
    let mut rx = engine.events().subscribe().0;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut keep = |ev: &Event| {
            if let Event::Health {
                dependency,
                from,
                to,
                ..
            } = ev
                && dependency == "config"
            {
                seen.push((*from, *to));
            }
        };
        loop {
            tokio::select! {
                ev = rx.recv() => keep(&ev.unwrap().event),
                _ = &mut stopped => break,
            }
        }
        while let Ok(ev) = rx.try_recv() {
            keep(&ev.event);
        }
        seen
    });

    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reporters: Vec<_> = (0..4)
        .map(|_| {
            let (engine, running) = (engine.clone(), running.clone());
            tokio::spawn(async move {
                while running.load(std::sync::atomic::Ordering::SeqCst) {
                    engine.health().await;
                }
            })
        })
        .collect();
    // Fewer events than the bus holds, even if the collector fell behind.
    for i in 0..100 {
        let text = if i % 2 == 0 {
            "[feed]\nmetrics_interval_ms = \"fast\"\n".to_string()
        } else {
            format!("[feed]\nmetrics_interval_ms = {}\n", 50_000 + i)
        };
        std::fs::write(&path, text).unwrap();
        engine.reload_config().unwrap();
        // Observed at least once, whatever the other reporters see.
        engine.health().await;
    }
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    for r in reporters {
        r.await.unwrap();
    }
    stop.send(()).unwrap();
    let published = collector.await.unwrap();

    let stored: Vec<(Option<HealthStatus>, HealthStatus)> = crate::transitions(&engine)
        .await
        .into_iter()
        .filter(|t| t.dependency == "config")
        .map(|t| (t.from, t.to))
        .collect();
    assert!(stored.len() > 2, "the config never flapped: {stored:?}");
    assert_eq!(stored[0].0, None, "{stored:?}");
    for pair in stored.windows(2) {
        assert_eq!(
            pair[1].0,
            Some(pair[0].1),
            "stored out of order: {stored:?}"
        );
    }
    let published: Vec<(Option<HealthStatus>, HealthStatus)> = published
        .into_iter()
        .map(|(from, to)| (Some(from), to))
        .collect();
    assert_eq!(published, stored[1..], "published out of order");
    engine.shutdown().await;
}
