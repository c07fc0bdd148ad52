//! The task queue, measured (docs/benchmarks.md): no-op tasks enqueued and completed
//! durably per second on SQLite, and the enqueue-to-start latency at low load.
//!
//! Run: `cargo bench -p flightdeck-engine --bench queue`. "No-op": the consumer does no work
//! between lease and completion (no agent, no model call), so this is the queue's own cost:
//! every enqueue, lease and completion is a transaction acknowledged after its commit
//! (WAL, `synchronous = FULL`; concurrent ones share a group commit), each with its
//! `tasks` event, exactly as the node's workers use them.
//!
//! 1. Throughput: P producers enqueue (one task per call, or `enqueue_many` batches) while C
//!    consumers lease up to 64 due tasks at a time and complete each; tasks completed per
//!    second over the run, after a warm-up.
//! 2. Enqueue-to-start latency at low load: one task enqueued every 5 ms; a consumer woken
//!    by a notification (as the workers are) leases it; the time from the enqueue's
//!    acknowledgement to the lease's, p50 and p99.
//! 3. Memory per queued task: the database bytes per task after queueing 100,000.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::orchestrator::{NewTask, Queue, TaskFilter};
use flightdeck_engine::store::Store;
use tokio::sync::Notify;

const RUN_FOR: Duration = Duration::from_secs(5);
const TTL: Duration = Duration::from_secs(60);

fn noop(n: u64) -> NewTask {
    NewTask {
        agent: Some("noop".into()),
        input: serde_json::json!({ "n": n }),
        ..NewTask::default()
    }
}

async fn throughput(producers: usize, consumers: usize, batch: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let queue = Queue::new(store.clone(), SystemClock::shared());
    let stop = Arc::new(AtomicBool::new(false));
    let enqueued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for p in 0..producers {
        let (queue, stop, enqueued) = (queue.clone(), stop.clone(), enqueued.clone());
        handles.push(tokio::spawn(async move {
            let mut n = (p as u64) << 40;
            while !stop.load(Ordering::Relaxed) {
                if batch == 1 {
                    queue.enqueue(noop(n), "bench").await.unwrap();
                    n += 1;
                    enqueued.fetch_add(1, Ordering::Relaxed);
                } else {
                    let tasks: Vec<NewTask> = (0..batch as u64).map(|i| noop(n + i)).collect();
                    n += batch as u64;
                    queue.enqueue_many(tasks, "bench").await.unwrap();
                    enqueued.fetch_add(batch as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    for c in 0..consumers {
        let (queue, stop, done) = (queue.clone(), stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let worker = format!("bench-{c}");
            while !stop.load(Ordering::Relaxed) {
                let leases = queue.lease(&worker, 64, TTL, Some("noop")).await.unwrap();
                if leases.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let n = leases.len() as u64;
                let done_now: Vec<_> = leases
                    .into_iter()
                    .map(|l| (l, serde_json::Value::Null))
                    .collect();
                for r in queue.complete_many(&done_now).await.unwrap() {
                    r.unwrap();
                }
                done.fetch_add(n, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let (d0, e0, t0) = (
        done.load(Ordering::Relaxed),
        enqueued.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(RUN_FOR).await;
    let secs = t0.elapsed().as_secs_f64();
    let (d1, e1) = (
        done.load(Ordering::Relaxed),
        enqueued.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.unwrap();
    }
    store.close().await;
    ((d1 - d0) as f64 / secs, (e1 - e0) as f64 / secs)
}

async fn latency() -> (Duration, Duration, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let queue = Queue::new(store.clone(), SystemClock::shared());
    let wake = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let started: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
    let consumer = {
        let (queue, wake, stop, started) =
            (queue.clone(), wake.clone(), stop.clone(), started.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let leases = queue.lease("bench", 64, TTL, Some("noop")).await.unwrap();
                let at = Instant::now();
                if leases.is_empty() {
                    let _ = tokio::time::timeout(Duration::from_millis(500), wake.notified()).await;
                    continue;
                }
                started
                    .lock()
                    .unwrap()
                    .extend(leases.iter().map(|l| (l.task.id.clone(), at)));
                let done_now: Vec<_> = leases
                    .into_iter()
                    .map(|l| (l, serde_json::Value::Null))
                    .collect();
                queue.complete_many(&done_now).await.unwrap();
            }
        })
    };
    let mut enqueued: Vec<(String, Instant)> = Vec::new();
    let deadline = Instant::now() + RUN_FOR;
    let mut n = 0;
    while Instant::now() < deadline {
        let task = queue.enqueue(noop(n), "bench").await.unwrap().task;
        enqueued.push((task.id, Instant::now()));
        wake.notify_one();
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    wake.notify_one();
    consumer.await.unwrap();
    let starts: std::collections::HashMap<String, Instant> =
        started.lock().unwrap().iter().cloned().collect();
    let mut waits: Vec<Duration> = enqueued
        .iter()
        .filter_map(|(id, at)| starts.get(id).map(|s| s.saturating_duration_since(*at)))
        .collect();
    waits.sort();
    store.close().await;
    let pick = |q: f64| waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)];
    (pick(0.5), pick(0.99), waits.len())
}

async fn memory_per_task() -> (f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let queue = Queue::new(store.clone(), SystemClock::shared());
    for chunk in 0..100u64 {
        let tasks: Vec<NewTask> = (0..1000).map(|i| noop(chunk * 1000 + i)).collect();
        queue.enqueue_many(tasks, "bench").await.unwrap();
    }
    // The list the API serves: its first page over 100,000 tasks, and a filtered one.
    let mut times = Vec::new();
    for i in 0..200 {
        let filter = if i % 2 == 0 {
            TaskFilter::default()
        } else {
            TaskFilter {
                agent: Some("noop".into()),
                ..TaskFilter::default()
            }
        };
        let t = Instant::now();
        let page = queue.list(filter, None, 100).await.unwrap();
        times.push(t.elapsed());
        assert_eq!(page.len(), 100);
    }
    times.sort();
    store.close().await;
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("flightdeck.db"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    (bytes as f64 / 100_000.0, times[100], times[198])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "task queue (no-op tasks, durable: WAL + synchronous=FULL; {} s runs)",
        RUN_FOR.as_secs()
    );
    for (p, c, batch) in [(1, 1, 1), (8, 4, 1), (64, 4, 1), (4, 4, 100), (8, 8, 500)] {
        let (done, enq) = throughput(p, c, batch).await;
        println!(
            "  {p:>2} producers (batch {batch:>3}), {c} consumers (lease 64, complete_many): {done:>9.0} completed/s ({enq:>9.0} enqueued/s)"
        );
    }
    let (p50, p99, n) = latency().await;
    println!(
        "  enqueue-to-start at low load (a task every 5 ms, {n} tasks): p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    let (bytes, p50, p99) = memory_per_task().await;
    println!(
        "  100,000 queued tasks: {bytes:.0} bytes of database each; first page of the list (100) p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
