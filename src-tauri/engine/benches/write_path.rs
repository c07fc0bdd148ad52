//! The durable write path, measured: small independent write transactions acknowledged
//! durably per second at 1, 8 and 64 concurrent writers, side by side in the same run with
//! the baseline the issue names (a plain SQLite loop, WAL and `synchronous = FULL`, one
//! transaction per row, on one connection).
//!
//! Run: `cargo bench -p flightdeck-engine --bench write_path` (figures in
//! docs/benchmarks.md). Each writer submits one transaction (one INSERT) at a time and waits
//! for its acknowledgement, i.e. for the commit that carried it to be on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use flightdeck_engine::store::{Store, StoreError};

const RUN_FOR: Duration = Duration::from_secs(5);

fn baseline(dir: &std::path::Path) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("plain.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, writer INTEGER, n INTEGER)")
        .unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < RUN_FOR {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        conn.prepare_cached("INSERT INTO t (writer, n) VALUES (0, ?1)")
            .unwrap()
            .execute([n as i64])
            .unwrap();
        conn.execute_batch("COMMIT").unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn group_commit(dir: &std::path::Path, writers: usize) -> (f64, Duration, Duration) {
    let store = Store::open(dir).await.unwrap();
    store
        .write(|tx| {
            tx.conn()
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, writer INTEGER, \
                     n INTEGER)",
                )
                .map_err(|e| tx.err(e))
        })
        .await
        .unwrap();
    let deadline = Instant::now() + RUN_FOR;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0i64;
            while Instant::now() < deadline {
                let t = Instant::now();
                store
                    .write(move |tx| {
                        tx.execute(
                            "INSERT INTO bench (writer, n) VALUES (?1, ?2)",
                            [w as i64, n],
                        )
                        .map(|_| ())
                    })
                    .await
                    .map_err(|e: StoreError| e)
                    .unwrap();
                latencies.push(t.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let count: i64 = store
        .read(|db| db.query_one("SELECT COUNT(*) FROM bench", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(
        count as usize,
        all.len(),
        "every acknowledged write is stored"
    );
    store.close().await;
    all.sort();
    let p = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize];
    (all.len() as f64 / elapsed.as_secs_f64(), p(0.5), p(0.99))
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a filter) is ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "durable write path, {} s per run, {} cores",
        RUN_FOR.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // `WRITERS=64` runs only that case (for profiling).
    let only: Option<usize> = std::env::var("WRITERS").ok().and_then(|w| w.parse().ok());
    if only.is_none() {
        let plain = baseline(tmp.path());
        println!("baseline: plain SQLite loop, 1 row per transaction: {plain:>10.0} tx/s");
    }
    for writers in only.map_or_else(|| vec![1usize, 8, 64], |w| vec![w]) {
        let dir = tmp.path().join(format!("w{writers}"));
        let (rate, p50, p99) = runtime.block_on(group_commit(&dir, writers));
        println!(
            "group commit, {writers:>2} writers: {rate:>10.0} tx/s acknowledged durably \
             (latency p50 {:.2} ms, p99 {:.2} ms)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
