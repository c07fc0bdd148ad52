//! Engine integration tests on real SQLite files in temp dirs: migrations, refusal of a newer
//! schema, config hot reload (valid and invalid), metrics and health, and the dependency
//! boundary; the rest in the modules below.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The data dir and the database file: lock, canonical path, modes, files left untouched.
mod data_files;
/// What the unauthenticated health report shows, and the health topic.
mod health_report;
/// Shutdown: in-flight work drained, commits kept, stuck work abandoned, once.
mod shutdown;
/// Processes generating the API token at once hand out one token (file and keychain).
mod token_race;
/// Every wall-clock time the engine stamps or stores comes from its injected clock.
mod wall_clock;
/// The one write path: group commit, failures alone, events after commit, kills.
mod write_path;

use std::path::Path;
use std::time::Duration;

use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{
    Config, ConfigOverrides, ConfigSource, ConfigState, EnvSnapshot, SecretsBackend,
};
use flightdeck_engine::events::{ConfigOutcome, Event};
use flightdeck_engine::health::HealthStatus;
use flightdeck_engine::store::{DB_FILE, Store, StoreError, latest_version};
use flightdeck_engine::{Engine, EngineOptions, ErrorCode};

/// Runs `sql` (one or more statements) on the writer, as one transaction.
async fn exec(store: &Store, sql: &'static str) {
    store
        .write(move |tx| tx.conn().execute_batch(sql).map_err(|e| tx.err(e)))
        .await
        .unwrap()
}

/// The first column of the first row of `sql`, on the writer's connection (pragmas are
/// per connection).
async fn scalar<T: rusqlite::types::FromSql + Send + 'static>(
    store: &Store,
    sql: &'static str,
) -> T {
    store
        .write(move |tx| tx.query_one(sql, [], |r| r.get(0)))
        .await
        .unwrap()
}

/// Every stored health transition, oldest first.
async fn transitions(engine: &Engine) -> Vec<flightdeck_engine::health::history::HealthTransition> {
    let mut all = flightdeck_engine::health::history::list(engine.store(), None, 10_000)
        .await
        .unwrap();
    all.reverse();
    all
}

fn options(dir: &Path) -> EngineOptions {
    let mut config = Config::default();
    config.secrets.backend = SecretsBackend::Env;
    EngineOptions {
        data_dir: dir.to_path_buf(),
        config,
        config_source: Default::default(),
        watch_config: false,
        env_token: Some("engine-test-token-123456".into()),
        require_token: false,
        clock: SystemClock::shared(),
    }
}

/// Like [`options`], with the config read from `path` (env secrets), watched when `watch`.
fn options_with_file(dir: &Path, path: &Path, required: bool, watch: bool) -> EngineOptions {
    let mut opts = options(dir);
    opts.config_source = ConfigSource {
        path: Some(path.to_path_buf()),
        required,
        env: EnvSnapshot::default(),
        overrides: ConfigOverrides {
            secrets_backend: Some(SecretsBackend::Env),
            ..Default::default()
        },
    };
    opts.config = opts.config_source.load().unwrap();
    opts.watch_config = watch;
    opts
}

#[tokio::test]
async fn migrations_apply_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let before = Store::inspect(&dir.path().join(DB_FILE)).await.unwrap();
    assert!(!before.exists);
    assert_eq!(
        before.pending.len(),
        flightdeck_engine::store::MIGRATOR.iter().count()
    );
    assert!(
        !dir.path().join(DB_FILE).exists(),
        "inspect must not create the file"
    );

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), latest_version());
    let mode: String = crate::scalar(&store, "PRAGMA journal_mode").await;
    assert_eq!(mode, "wal");
    let sync: i64 = crate::scalar(&store, "PRAGMA synchronous").await;
    assert_eq!(sync, 2, "synchronous = FULL");
    let fk: i64 = crate::scalar(&store, "PRAGMA foreign_keys").await;
    assert_eq!(fk, 1);
    store.close().await;

    // Reopening is a no-op and keeps the node id.
    let e1 = Engine::open(options(dir.path())).await.unwrap();
    let id = e1.node_id().to_string();
    e1.shutdown().await;
    let e2 = Engine::open(options(dir.path())).await.unwrap();
    assert_eq!(e2.node_id(), id);
    let after = Store::inspect(&dir.path().join(DB_FILE)).await;
    assert!(after.unwrap().pending.is_empty());
    e2.shutdown().await;
}

#[tokio::test]
async fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    crate::exec(&store, "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (9999, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)").await;
    store.close().await;
    let db = dir.path().join(DB_FILE);
    let bytes_before = std::fs::read(&db).unwrap();
    let listing_before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SchemaTooNew);
    let msg = err.to_string();
    assert!(
        msg.contains("newer Flightdeck") && msg.contains("9999") && msg.contains("untouched"),
        "{msg}"
    );
    assert!(matches!(
        Store::open(dir.path()).await,
        Err(StoreError::SchemaTooNew { found: 9999, .. })
    ));

    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes_before,
        "the database file changed"
    );
    let mut listing_after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut lb = listing_before.clone();
    lb.sort();
    listing_after.sort();
    assert_eq!(listing_after, lb, "no WAL or other file was created");
}

#[tokio::test]
async fn unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Engine::open(options(&file.join("sub"))).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DataDirUnwritable);
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

async fn next_config_event(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<flightdeck_engine::events::Published>>,
) -> flightdeck_engine::events::ConfigEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("no config event within 10 s")
            .unwrap();
        if let Event::Config(c) = &ev.event {
            return c.clone();
        }
    }
}

#[tokio::test]
async fn config_hot_reload_applies_valid_and_rejects_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flightdeck.toml");
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 1000\n").unwrap();
    let engine = Engine::open(options_with_file(dir.path(), &path, true, true))
        .await
        .unwrap();
    let mut rx = engine.events().subscribe().0;
    let mut watch = engine.config().subscribe();

    // A valid change applies, and a restart-only key is reported as such.
    std::fs::write(
        &path,
        "[feed]\nmetrics_interval_ms = 500\n[server]\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert!(ev.changed.contains(&"feed.metrics_interval_ms".to_string()));
    assert_eq!(ev.restart_required, vec!["server.listen".to_string()]);
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 500);
    assert!(watch.has_changed().unwrap());
    watch.borrow_and_update();

    // An invalid change is rejected; the previous config stays; health shows it.
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = \"fast\"\n").unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected);
    assert!(
        ev.message.contains("feed.metrics_interval_ms"),
        "{}",
        ev.message
    );
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 500);
    assert!(
        !watch.has_changed().unwrap(),
        "a rejected change must not be published as config"
    );
    assert_eq!(engine.config().status().state, ConfigState::Error);
    let report = engine.health().await;
    let cfg = report
        .dependencies
        .iter()
        .find(|d| d.name == "config")
        .unwrap();
    assert_eq!(cfg.status, HealthStatus::Degraded);
    assert!(
        cfg.message
            .as_deref()
            .unwrap()
            .contains("previous configuration in force")
    );
    assert_eq!(engine.info().config.state, ConfigState::Error);

    // Fixing the file clears the error.
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 700\n").unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied);
    assert_eq!(engine.config().status().state, ConfigState::Ok);
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 700);

    // Deleting the file is rejected too (the config in force stays)...
    std::fs::remove_file(&path).unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Rejected);
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 700);
    // ...and putting it back applies it.
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 800\n").unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 800);
    assert!(engine.config().status().watching);
    engine.shutdown().await;
}

#[tokio::test]
async fn engine_starts_when_the_config_dir_cannot_be_watched_yet() {
    // The default location, in a directory that does not exist (a first launch): defaults,
    // and no OS watch possible yet. That is no problem to report: the directory is polled for.
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config-not-yet");
    let path = config_dir.join("flightdeck.toml");
    let engine = Engine::open(options_with_file(dir.path(), &path, false, true))
        .await
        .unwrap();
    let status = engine.config().status();
    assert_eq!(status.state, ConfigState::Ok);
    assert_eq!(status.path, None, "running on the built-in defaults");
    assert!(
        status.watching && status.watch_error.is_none(),
        "{status:?}"
    );

    // Once the directory and the file exist, the watch is armed and the file applied.
    let mut rx = engine.events().subscribe().0;
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(&path, "[feed]\nmetrics_interval_ms = 400\n").unwrap();
    let ev = next_config_event(&mut rx).await;
    assert_eq!(ev.outcome, ConfigOutcome::Applied, "{ev:?}");
    assert_eq!(ev.changed, vec!["feed.metrics_interval_ms".to_string()]);
    assert_eq!(engine.config().current().feed.metrics_interval_ms, 400);
    let status = engine.config().status();
    assert!(
        status.watching && status.watch_error.is_none(),
        "{status:?}"
    );
    assert_eq!(status.path, Some(path.display().to_string()));
    engine.shutdown().await;
}

#[tokio::test]
async fn metrics_topic_publishes_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.config.feed.metrics_interval_ms = 100;
    let engine = Engine::open(opts).await.unwrap();
    let mut rx = engine.events().subscribe().0;
    let mut seqs = Vec::new();
    while seqs.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::Metrics(m) = &ev.event {
            assert!(m.rss_bytes > 0);
            assert!(m.db_size_bytes > 0);
            seqs.push(ev.seq);
        }
    }
    // Samples are ephemeral: they carry the last domain event's seq and take none.
    assert!(seqs.windows(2).all(|w| w[1] >= w[0]));
    engine.shutdown().await;
}

#[tokio::test]
async fn health_transitions_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    engine.health().await;
    // The background loop may be the one recording the first statuses: wait for its writes.
    let mut rows = 0;
    for _ in 0..100 {
        let all = crate::transitions(&engine).await;
        rows = all.iter().filter(|t| t.from.is_none()).count();
        if rows >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows, 3, "one initial row per dependency, no duplicates");
    engine.shutdown().await;
}

/// The engine must not depend on tauri, axum, wry, tao or any UI crate. It calls providers
/// through reqwest, so hyper and tower-http are there, but only as a client.
#[test]
fn engine_has_no_ui_or_http_server_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    for package in ["flightdeck-engine", "flightdeck-api"] {
        let out = std::process::Command::new(&cargo)
            .args([
                "tree",
                "--offline",
                "--manifest-path",
                manifest,
                "-p",
                package,
                "-e",
                "normal",
                "--prefix",
                "none",
                "--format",
                "{lib}",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8(out.stdout).unwrap();
        // An empty or unrelated listing would pass the checks below vacuously.
        let lib = package.replace('-', "_");
        assert!(
            tree.lines()
                .any(|l| l.split_whitespace().next() == Some(lib.as_str())),
            "cargo tree did not list {package}: {tree:?}"
        );
        let mut forbidden = vec!["tauri", "wry", "tao", "webkit2gtk", "gtk"];
        if package == "flightdeck-engine" {
            // (reqwest brings hyper and tower-http, client side: the server check is below.)
            forbidden.extend(["axum", "hyper_util_server"]);
            let hyper = std::process::Command::new(&cargo)
                .args([
                    "tree",
                    "--offline",
                    "--manifest-path",
                    manifest,
                    "-p",
                    package,
                    "-e",
                    "normal,features",
                    "--prefix",
                    "none",
                    "-i",
                    "hyper",
                ])
                .output()
                .unwrap();
            let hyper = String::from_utf8(hyper.stdout).unwrap();
            assert!(hyper.contains("hyper feature \"client\""), "{hyper}");
            assert!(
                !hyper.contains("hyper feature \"server\""),
                "the engine runs an HTTP server: {hyper}"
            );
        }
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            assert!(
                !forbidden
                    .iter()
                    .any(|f| name == *f || name.starts_with(&format!("{f}_"))),
                "{package} depends on {name}"
            );
        }
    }
}
