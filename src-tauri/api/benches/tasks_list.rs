//! `GET /api/v1/tasks` over 100,000 tasks, through the Router in process (the desktop's
//! transport; a node adds its TCP hop): the first page of 100, a filtered page, and a page
//! deep in the list (following cursors), p50 and p99 of 200 requests each. Also the one task
//! with 1,000 steps (`GET /api/v1/tasks/{id}`).
//!
//! Run: `cargo bench -p flightdeck-api --bench tasks_list` (figures in docs/benchmarks.md).
//! With `FLIGHTDECK_BENCH_KEEP=<dir>` the data dir is made there and kept (for
//! `scripts/bench-ui.sh`, which serves it to a browser); the long task's id is printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use flightdeck_api::{ApiOptions, Transport, router};
use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{Config, SecretsBackend};
use flightdeck_engine::orchestrator::{NewTask, Step, StepKind};
use flightdeck_engine::providers::neutral::{Message, Role};
use flightdeck_engine::secrets::ApiToken;
use flightdeck_engine::{Engine, EngineOptions};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "bench-tasks-list-token-0123456789";

async fn get(app: &axum::Router, path: &str) -> (Duration, serde_json::Value) {
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1:7878")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let t = Instant::now();
    let res = app.clone().oneshot(req).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let took = t.elapsed();
    (took, serde_json::from_slice(&body).unwrap())
}

fn percentiles(mut d: Vec<Duration>) -> (f64, f64) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    (
        ms(d[d.len() / 2]),
        ms(d[(d.len() * 99 / 100).min(d.len() - 1)]),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let temp = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("FLIGHTDECK_BENCH_KEEP").map(std::path::PathBuf::from);
    let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let mut config = Config::default();
    config.secrets.backend = SecretsBackend::Env;
    config.orchestrator.enabled = false;
    let engine = Engine::open(EngineOptions {
        data_dir: dir_path.clone(),
        config,
        config_source: Default::default(),
        watch_config: false,
        env_token: Some(TOKEN.into()),
        require_token: true,
        clock: SystemClock::shared(),
    })
    .await
    .unwrap();
    let queue = engine.tasks().queue().clone();
    for chunk in 0..100u64 {
        let tasks: Vec<NewTask> = (0..1000)
            .map(|i| NewTask {
                agent: Some(if i % 10 == 0 { "rare" } else { "common" }.into()),
                input: serde_json::json!({"n": chunk * 1000 + i, "text": "a short input"}),
                tags: vec![format!("batch-{}", chunk % 7)],
                ..NewTask::default()
            })
            .collect();
        queue.enqueue_many(tasks, "bench").await.unwrap();
    }
    // One task with 1,000 steps (500 model answers and 500 tool results), finished.
    let long = queue
        .enqueue(
            NewTask {
                agent: Some("common".into()),
                input: serde_json::json!({"text": "the long one"}),
                ..NewTask::default()
            },
            "bench",
        )
        .await
        .unwrap()
        .task
        .id;
    let lease = loop {
        let leases = queue
            .lease("bench", 64, Duration::from_secs(600), Some("common"))
            .await
            .unwrap();
        if let Some(l) = leases.into_iter().find(|l| l.task.id == long) {
            break l;
        }
    };
    for n in 0..1000u32 {
        let (kind, role) = if n % 2 == 0 {
            (StepKind::Model, Role::Assistant)
        } else {
            (StepKind::Tool, Role::Tool)
        };
        let message = Message::text(role, format!("step {n}: {}", "some words ".repeat(20)));
        let step = Step {
            step: n,
            attempt: lease.attempt,
            kind,
            call_id: None,
            name: (kind == StepKind::Tool).then(|| "builtin_log".to_string()),
            message,
            detail: None,
            at: None,
        };
        queue.record_step(&lease, step).await.unwrap();
    }
    queue
        .complete(&lease, serde_json::json!({"done": true}))
        .await
        .unwrap();
    let options = ApiOptions {
        token: ApiToken::parse(TOKEN).unwrap(),
        allowed_hosts: Vec::new(),
        ui_dir: None,
        body_limit_bytes: 1024 * 1024,
        transport: Transport::Tcp,
        desktop_user: String::new(),
        served_port: Some(7878),
        desktop_gateway: None,
    };
    let app = router(engine.clone(), options);
    println!("GET /api/v1/tasks over 100,000 tasks (in process, 200 requests each)");
    for (name, path) in [
        ("first page of 100", "/api/v1/tasks?limit=100".to_string()),
        (
            "agent=rare (10 %)",
            "/api/v1/tasks?limit=100&agent=rare".to_string(),
        ),
        (
            "state=queued",
            "/api/v1/tasks?limit=100&state=queued".to_string(),
        ),
        (
            "tag=batch-3",
            "/api/v1/tasks?limit=100&tag=batch-3".to_string(),
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..200 {
            let (t, page) = get(&app, &path).await;
            assert_eq!(page["items"].as_array().unwrap().len(), 100, "{page}");
            times.push(t);
        }
        let (p50, p99) = percentiles(times);
        println!("  {name:<20} p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    // Deep pages: follow cursors 500 pages in, then time the next ones.
    let mut cursor = String::new();
    for _ in 0..500 {
        let (_, page) = get(&app, &format!("/api/v1/tasks?limit=100{cursor}")).await;
        cursor = format!("&cursor={}", page["next_cursor"].as_str().unwrap());
    }
    let mut times = Vec::new();
    for _ in 0..200 {
        let (t, page) = get(&app, &format!("/api/v1/tasks?limit=100{cursor}")).await;
        times.push(t);
        cursor = format!(
            "&cursor={}",
            page["next_cursor"].as_str().unwrap_or_default()
        );
    }
    let (p50, p99) = percentiles(times);
    println!("  {:<20} p50 {p50:.2} ms, p99 {p99:.2} ms", "pages 501-700");
    let mut times = Vec::new();
    for _ in 0..200 {
        let (t, task) = get(&app, &format!("/api/v1/tasks/{long}")).await;
        assert_eq!(task["steps"].as_array().unwrap().len(), 1000);
        times.push(t);
    }
    let (p50, p99) = percentiles(times);
    println!(
        "  {:<20} p50 {p50:.2} ms, p99 {p99:.2} ms",
        "a 1,000-step task"
    );
    engine.shutdown().await;
    if kept.is_some() {
        println!(
            "kept {} ; the 1,000-step task is {long}",
            dir_path.display()
        );
    }
}
