//! The one write path: group-committed jobs fail alone, events commit with their state and
//! are published after, a closed store refuses writes, and a kill at random moments loses
//! nothing that was acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use flightdeck_engine::Engine;
use flightdeck_engine::clock::{Clock, ManualClock};
use flightdeck_engine::events::{ConfigEvent, ConfigOutcome, Event, Topic};
use flightdeck_engine::store::{Store, StoreError};

use crate::{exec, options};

fn config_event(n: usize) -> Event {
    Event::Config(ConfigEvent {
        outcome: ConfigOutcome::Applied,
        path: None,
        message: format!("event {n}"),
        changed: Vec::new(),
        restart_required: Vec::new(),
    })
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("refused on purpose")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn rows(store: &Store) -> Vec<i64> {
    store
        .read(|db| db.query_all("SELECT n FROM t ORDER BY n", [], |r| r.get(0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failing_job_is_undone_alone_and_takes_no_one_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    exec(&store, "CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
    // Submitted all at once, so they share commits.
    let writes: Vec<_> = (0..200i64)
        .map(|n| {
            store.write(move |tx| {
                tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                tx.append_event(config_event(n as usize))?;
                match n % 10 {
                    3 => Err(JobError::Refused),
                    7 => panic!("job {n} panics after writing"),
                    _ => Ok(n),
                }
            })
        })
        .collect();
    let mut ok = Vec::new();
    for (n, w) in writes.into_iter().enumerate() {
        match (n % 10, w.await) {
            (3, Err(JobError::Refused)) => {}
            (7, Err(JobError::Store(StoreError::JobPanicked { message }))) => {
                assert!(message.contains("panics after writing"), "{message}")
            }
            (_, Ok(v)) => ok.push(v),
            (_, other) => panic!("job {n}: {other:?}"),
        }
    }
    assert_eq!(ok.len(), 160);
    assert_eq!(
        rows(&store).await,
        ok,
        "exactly the jobs that succeeded are stored"
    );
    let logged: i64 = crate::scalar(&store, "SELECT COUNT(*) FROM events").await;
    assert_eq!(logged, 160, "failed jobs' events were undone with them");
    // The seqs of what committed have no holes.
    let (min, max): (i64, i64) = store
        .read(|db| {
            db.query_one("SELECT MIN(seq), MAX(seq) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap();
    assert_eq!(max - min + 1, 160);
    store.close().await;
}

/// A job whose failure ends the whole transaction (as SQLite does by itself on some errors,
/// e.g. a full disk; imitated with a ROLLBACK) still takes no one with it.
#[tokio::test]
async fn a_failure_that_ends_the_transaction_is_undone_alone_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    exec(&store, "CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
    let writes: Vec<_> = (0..100i64)
        .map(|n| {
            store.write(move |tx| {
                tx.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                if n % 25 == 5 {
                    tx.execute("ROLLBACK", [])?;
                    return Err(JobError::Refused);
                }
                Ok(n)
            })
        })
        .collect();
    let mut ok = Vec::new();
    for (n, w) in writes.into_iter().enumerate() {
        match (n % 25, w.await) {
            (5, Err(JobError::Refused)) => {}
            (_, Ok(v)) => ok.push(v),
            (_, other) => panic!("job {n}: {other:?}"),
        }
    }
    assert_eq!(ok.len(), 96);
    assert_eq!(rows(&store).await, ok);
    store.close().await;
}

#[tokio::test]
async fn events_are_published_after_their_state_commits_never_before() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).await.unwrap();
    let store = engine.store().clone();
    exec(&store, "CREATE TABLE t (n INTEGER PRIMARY KEY)").await;
    let (mut rx, _) = engine.events().subscribe();
    // A job that appends an event and then fails publishes nothing.
    let failed = store
        .write(|tx| {
            tx.append_event(config_event(0))?;
            Err::<(), _>(JobError::Refused)
        })
        .await;
    assert!(matches!(failed, Err(JobError::Refused)));
    let seq = store
        .write(|tx| {
            tx.execute("INSERT INTO t (n) VALUES (1)", [])?;
            tx.append_event(config_event(1))
        })
        .await
        .unwrap();
    let got = loop {
        let e = rx.recv().await.unwrap();
        if e.event.topic() == Topic::Config {
            break e;
        }
    };
    assert_eq!(got.seq, seq);
    // Its state was already committed when the event arrived.
    assert_eq!(rows(&store).await, [1]);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_closed_store_refuses_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.close().await;
    let w = store.write(|tx| tx.execute("SELECT 1", [])).await;
    assert!(matches!(w, Err(StoreError::Closed)), "{w:?}");
    let r = store
        .read(|db| db.query_one("SELECT 1", [], |r| r.get::<_, i64>(0)))
        .await;
    assert!(matches!(r, Err(StoreError::Closed)), "{r:?}");
    assert_eq!(
        StoreError::Closed.code(),
        flightdeck_engine::ErrorCode::Unavailable
    );
}

/// Resuming from before what the log keeps is a resync, never a silent gap; from inside it,
/// a resume; from the future, an error.
#[tokio::test]
async fn resume_points_before_the_retention_window_get_a_resync() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    let mut opts = options(dir.path());
    opts.clock = clock.clone();
    let engine = Engine::open(opts).await.unwrap();
    let old = engine.record(config_event(1)).await.unwrap();
    engine.record(config_event(2)).await.unwrap();
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    let kept = engine.record(config_event(3)).await.unwrap();
    engine.record(config_event(4)).await.unwrap();
    flightdeck_engine::retention::run(engine.store(), clock.now()).await;

    let sub = engine.subscribe(None, Some(old)).await.unwrap();
    assert!(sub.resync && !sub.resumed, "{sub:?}");
    let mut sub = engine
        .subscribe(Some(vec![Topic::Config]), Some(kept))
        .await
        .unwrap();
    assert!(sub.resumed && !sub.resync);
    match sub.next().await.unwrap() {
        flightdeck_engine::events::subscribe::Next::Event(e) => assert_eq!(e.seq, kept + 1),
        other => panic!("{other:?}"),
    }
    let future = engine.subscribe(None, Some(kept + 100)).await.unwrap_err();
    assert_eq!(
        future.code(),
        flightdeck_engine::ErrorCode::ResumeFromFuture
    );
    engine.shutdown().await;
}

const CHILD_DIR: &str = "FLIGHTDECK_TEST_WRITER_DIR";

/// The child half of the kill test: 64 writers insert rows as fast as they can and print
/// each row's number once its write is acknowledged. Runs until killed.
#[tokio::test]
async fn writer_child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return; // Only meaningful as the kill test's child.
    };
    let store = Store::open(std::path::Path::new(&dir)).await.unwrap();
    exec(
        &store,
        "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)",
    )
    .await;
    let start: i64 = crate::scalar(&store, "SELECT COALESCE(MAX(n), 0) FROM t").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    for w in 0..64i64 {
        let (store, tx) = (store.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let n = start + 1 + i * 64 + w;
                store
                    .write(move |t| t.execute("INSERT INTO t (n) VALUES (?1)", [n]))
                    .await
                    .unwrap();
                let _ = tx.send(n);
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(n) = rx.recv().await {
        use std::io::Write;
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_kill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acked = Vec::new();
    for round in 0..6u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "write_path::writer_child_process", "--nocapture"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // A moment that differs each round: after this many acknowledgements.
        let kill_after = 200 + (round * 7919 + std::process::id() as u64) % 3000;
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while let Some(Ok(line)) = lines.next() {
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse::<i64>().unwrap());
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        assert!(seen > 0, "the child acknowledged nothing");
        // SIGKILL: no shutdown, no checkpoint.
        child.kill().unwrap();
        // Acks already printed before the kill landed are promises too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse::<i64>().unwrap());
            }
        }
        child.wait().unwrap();
        let stored: std::collections::HashSet<i64> = runtime.block_on(async {
            let store = Store::open(dir.path()).await.unwrap();
            let all = rows(&store).await.into_iter().collect();
            let check: String = crate::scalar(&store, "PRAGMA integrity_check").await;
            assert_eq!(check, "ok");
            store.close().await;
            all
        });
        let lost: Vec<_> = acked.iter().filter(|n| !stored.contains(n)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}"
        );
    }
    assert!(
        acked.len() > 1000,
        "only {} writes acknowledged",
        acked.len()
    );
}
