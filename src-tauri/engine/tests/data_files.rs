//! The data dir and the database file on disk: one engine per data dir, one canonical path
//! (and so one token) per data dir, private files, and files this build must not change
//! (newer schema with a leftover WAL, a file that is not a database) left byte-for-byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flightdeck_engine::config::SecretsBackend;
use flightdeck_engine::data_dir::LOCK_FILE;
use flightdeck_engine::store::{DB_FILE, Store, StoreError, latest_version};
use flightdeck_engine::{Engine, ErrorCode};

use crate::options;

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[tokio::test]
async fn a_data_dir_is_held_by_one_engine_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Engine::open(options(dir.path())).await.unwrap();

    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DataDirLocked);
    let msg = err.to_string();
    assert!(
        msg.contains(&first.data_dir().display().to_string())
            && msg.contains(&format!("in use by pid {}", std::process::id())),
        "{msg}"
    );
    // `flightdeck db migrate` opens the store the same way: refused too.
    let err = Store::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StoreError::DataDirLocked { .. }), "{err}");
    // Read-only inspection (`flightdeck db status`) needs no lock.
    let status = Store::inspect(&dir.path().join(DB_FILE)).await.unwrap();
    assert_eq!(status.current_version, latest_version());

    first.shutdown().await;
    let second = Engine::open(options(dir.path())).await.unwrap();
    assert_eq!(second.node_id(), first.node_id());
    drop(first);

    // Dropped without a shutdown: the lock goes with the last handle (the background loops
    // hold weak handles and stop; a check in progress may hold one for a moment).
    drop(second);
    let mut third = Engine::open(options(dir.path())).await;
    for _ in 0..100 {
        match &third {
            Err(e) if e.code() == ErrorCode::DataDirLocked => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                third = Engine::open(options(dir.path())).await;
            }
            _ => break,
        }
    }
    let third = third.unwrap();
    assert!(dir.path().join(LOCK_FILE).exists());
    third.shutdown().await;
}

#[tokio::test]
async fn every_spelling_of_the_data_dir_is_one_node_with_one_token() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
    let plain = tmp.path().join("node");
    let odd = tmp
        .path()
        .join("elsewhere")
        .join("..")
        .join("node")
        .join(".");
    let open = |dir: &Path| {
        let mut o = options(dir);
        o.config.secrets.backend = SecretsBackend::File;
        o.env_token = None;
        Engine::open(o)
    };

    let a = open(&odd).await.unwrap();
    let canonical = std::fs::canonicalize(&plain).unwrap();
    assert_eq!(a.data_dir(), canonical);
    assert_eq!(a.info().data_dir, canonical.display().to_string());
    assert_eq!(
        a.info().database_path,
        canonical.join(DB_FILE).display().to_string()
    );
    let account_a = a.secrets().unwrap().account().to_string();
    let (token_a, _) = a.secrets().unwrap().api_token().await.unwrap();
    a.shutdown().await;

    let b = open(&plain).await.unwrap();
    assert_eq!(b.data_dir(), canonical);
    assert_eq!(b.secrets().unwrap().account(), account_a);
    assert_eq!(account_a, format!("api-token:{}", canonical.display()));
    let (token_b, _) = b.secrets().unwrap().api_token().await.unwrap();
    assert!(token_a.matches(token_b.expose()), "one token per data dir");
    b.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn database_wal_and_shm_are_private_from_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    // A write makes sure the WAL exists while the engine runs.
    engine
        .store()
        .meta_get_or_insert("k", "v", engine.clock().now())
        .await
        .unwrap();
    let db = dir.path().join(DB_FILE);
    for file in [db.clone(), sidecar(&db, "-wal"), sidecar(&db, "-shm")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let lock = std::fs::metadata(dir.path().join(LOCK_FILE)).unwrap();
    assert_eq!(lock.permissions().mode() & 0o777, 0o600);
    engine.shutdown().await;
}

/// A newer build's database whose last transactions are still in its WAL (it crashed, or
/// is running): reading the schema must not checkpoint them into the file.
#[tokio::test]
async fn newer_schema_with_a_leftover_wal_is_left_untouched() {
    let origin = tempfile::tempdir().unwrap();
    let store = Store::open(origin.path()).await.unwrap();
    // Keep everything in the WAL while we copy.
    crate::exec(&store, "PRAGMA wal_autocheckpoint = 0").await;
    crate::exec(
        &store,
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, \
         execution_time) VALUES (9999, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .await;
    let db = origin.path().join(DB_FILE);
    let wal = sidecar(&db, "-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);

    // What a crash leaves: the database and its WAL, no shared-memory index.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(DB_FILE);
    std::fs::copy(&db, &copy).unwrap();
    std::fs::copy(&wal, sidecar(&copy, "-wal")).unwrap();
    store.close().await;
    let db_before = std::fs::read(&copy).unwrap();
    let wal_before = std::fs::read(sidecar(&copy, "-wal")).unwrap();

    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SchemaTooNew, "{err}");
    assert!(err.to_string().contains("9999"), "{err}");
    let status = Store::inspect(&copy).await.unwrap();
    assert_eq!(status.unknown_version, Some(9999));

    assert_eq!(
        std::fs::read(&copy).unwrap(),
        db_before,
        "the database file changed"
    );
    assert_eq!(
        std::fs::read(sidecar(&copy, "-wal")).unwrap(),
        wal_before,
        "the WAL changed"
    );
}

#[tokio::test]
async fn newer_schema_is_reported_before_a_failed_migration() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    crate::exec(
        &store,
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, \
         execution_time) VALUES (9999, 'from the future', CURRENT_TIMESTAMP, 0, x'00', 0)",
    )
    .await;
    store.close().await;
    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SchemaTooNew, "{err}");

    // A failed migration this build knows: the advice is a backup, never deleting the file.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let latest = latest_version();
    store
        .write(move |tx| {
            tx.execute(
                "UPDATE _sqlx_migrations SET success = 0 WHERE version = ?1",
                [latest],
            )
        })
        .await
        .unwrap();
    store.close().await;
    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SchemaDirty, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("backup") && !msg.contains("remove"), "{msg}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    let junk = b"these are not the pages you are looking for\n".repeat(200);
    std::fs::write(&db, &junk).unwrap();

    let err = Engine::open(options(dir.path())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Database);
    let msg = err.to_string();
    assert!(
        msg.contains("not a SQLite database") && msg.contains(&db.display().to_string()),
        "{msg}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk);
    assert!(!sidecar(&db, "-wal").exists() && !sidecar(&db, "-journal").exists());
}

/// An older database (here: schema 2, before the event log, with times as RFC 3339 text)
/// is upgraded in place and keeps its data, its times converted exactly.
#[tokio::test]
async fn an_older_schema_is_upgraded_with_its_data() {
    assert!(latest_version() > 2, "needs a migration after 2");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    // Back to what version 2 left: its tables, as it wrote them, and its migration rows.
    // Every table a later migration added goes, whatever those migrations are.
    store
        .write(|tx| {
            let later: Vec<String> = tx.query_all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN \
                 ('_sqlx_migrations', 'sqlite_sequence')",
                [],
                |r| r.get(0),
            )?;
            for table in later {
                tx.conn()
                    .execute_batch(&format!("DROP TABLE \"{table}\""))
                    .map_err(|e| tx.err(e))?;
            }
            Ok::<_, flightdeck_engine::store::StoreError>(())
        })
        .await
        .unwrap();
    crate::exec(
        &store,
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, \
             updated_at TEXT NOT NULL) STRICT; \
         CREATE TABLE health_transitions (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             dependency TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, \
             message TEXT, at TEXT NOT NULL) STRICT; \
         INSERT INTO meta VALUES ('node_id', 'node-from-version-2', \
             '2026-11-23T10:00:00.123456789+00:00'); \
         INSERT INTO health_transitions (dependency, from_status, to_status, message, at) \
             VALUES ('config', NULL, 'healthy', 'loaded', '2026-11-23T10:00:01.5+00:00'); \
         DELETE FROM _sqlx_migrations WHERE version > 2;",
    )
    .await;
    store.close().await;
    let status = Store::inspect(&dir.path().join(DB_FILE)).await.unwrap();
    assert_eq!(status.current_version, 2);
    assert!(!status.pending.is_empty());

    let engine = Engine::open(options(dir.path())).await.unwrap();
    assert_eq!(engine.info().schema_version, latest_version());
    assert_eq!(engine.node_id(), "node-from-version-2");
    let updated_at: i64 = crate::scalar(
        engine.store(),
        "SELECT updated_at FROM meta WHERE key = 'node_id'",
    )
    .await;
    assert_eq!(updated_at, 1_795_428_000_123);
    let old = &crate::transitions(&engine).await[0];
    assert_eq!(old.at.to_rfc3339(), "2026-11-23T10:00:01.500+00:00");
    assert_eq!(old.to, flightdeck_engine::health::HealthStatus::Healthy);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_required_token_that_cannot_be_had_stops_the_open_before_the_database() {
    let dir = tempfile::tempdir().unwrap();
    // The env backend with no FLIGHTDECK_API_TOKEN: there is no token to be had.
    let mut opts = crate::options(dir.path());
    opts.env_token = None;
    opts.require_token = true;
    let err = Engine::open(opts).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SecretMissing, "{err}");
    assert!(!dir.path().join("flightdeck.db").exists());

    // The same without the requirement opens, and says why in its health.
    let mut opts = crate::options(dir.path());
    opts.env_token = None;
    let engine = Engine::open(opts).await.unwrap();
    assert!(engine.api_token().await.is_err());
    let report = engine.health().await;
    let secrets = report
        .dependencies
        .iter()
        .find(|d| d.name == "secrets")
        .unwrap();
    assert_ne!(
        secrets.status,
        flightdeck_engine::health::HealthStatus::Healthy
    );
    engine.shutdown().await;
}
