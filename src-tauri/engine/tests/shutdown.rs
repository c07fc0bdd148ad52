//! Shutdown: work in flight when it starts is waited for and its commits kept, intake stops,
//! stuck work is abandoned after the timeout, and a second call gets the first outcome.

use std::time::Duration;

use flightdeck_engine::store::Store;
use flightdeck_engine::{Engine, ShutdownOutcome};

use crate::options;

#[tokio::test]
async fn shutdown_drains_in_flight_work_and_keeps_commits() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    let store = engine.store().clone();
    let started = engine.shutdown_token();
    // In-flight work that can only commit once shutdown has begun.
    engine
        .spawn_work(async move {
            started.cancelled().await;
            crate::exec(
                &store,
                "INSERT INTO meta (key, value, updated_at) VALUES ('drained', 'yes', 0)",
            )
            .await;
        })
        .unwrap();
    let outcome = engine.shutdown_within(Duration::from_secs(5)).await;
    assert_eq!(outcome, ShutdownOutcome::Drained);
    assert!(
        engine.spawn_work(async {}).is_none(),
        "intake stops at shutdown"
    );

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        store.meta_get("drained").await.unwrap().as_deref(),
        Some("yes")
    );
    let check: String = crate::scalar(&store, "PRAGMA integrity_check").await;
    assert_eq!(check, "ok");
    store.close().await;
}

#[tokio::test]
async fn shutdown_times_out_on_stuck_work() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    engine.spawn_work(std::future::pending::<()>()).unwrap();
    let outcome = engine.shutdown_within(Duration::from_millis(200)).await;
    // The stuck task, and maybe a background loop that had not yet seen the token.
    assert!(
        matches!(outcome, ShutdownOutcome::TimedOut { still_running } if still_running >= 1),
        "{outcome:?}"
    );
    // A second call does not run the shutdown again: same outcome, no checkpoint on a
    // closed pool.
    assert_eq!(engine.shutdown_within(Duration::MAX).await, outcome);
}

#[tokio::test]
async fn shutdown_without_a_deadline_and_twice() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    let first = engine.shutdown_within(Duration::MAX).await;
    assert_eq!(first, ShutdownOutcome::Drained);
    assert_eq!(engine.shutdown().await, first);
    assert!(engine.store().is_closed());
}
