use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::events::NoSink;

const TTL: Duration = Duration::from_secs(30);

async fn setup(dir: &std::path::Path) -> (Store, Arc<ManualClock>, Queue) {
    let clock = Arc::new(ManualClock::new("2030-01-01T00:00:00Z".parse().unwrap()));
    let store = Store::open_with(dir, clock.clone(), Arc::new(NoSink))
        .await
        .unwrap();
    let queue = Queue::new(store.clone(), clock.clone()).with_backoff(Backoff {
        base: Duration::from_secs(10),
        cap: Duration::from_secs(60),
    });
    (store, clock, queue)
}

fn task(agent: &str, input: serde_json::Value) -> NewTask {
    NewTask {
        agent: Some(agent.into()),
        input,
        ..NewTask::default()
    }
}

fn failure(code: &str) -> TaskFailure {
    TaskFailure {
        code: code.into(),
        message: format!("{code} happened"),
    }
}

async fn events_of(store: &Store, id: &str) -> Vec<String> {
    let id = id.to_string();
    store
        .read(move |db| {
            db.query_all(
                "SELECT json_extract(body, '$.payload.state') FROM events \
                 WHERE topic = 'tasks' AND json_extract(body, '$.payload.id') = ?1 ORDER BY seq",
                [&id],
                |r| r.get::<_, String>(0),
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idempotency_key_names_one_task_and_refuses_another_payload() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _clock, q) = setup(dir.path()).await;
    let mut new = task("summarize", json!({"text": "a"}));
    new.idempotency_key = Some("order-17".into());
    let first = q.enqueue(new.clone(), "token:ci").await.unwrap();
    assert!(first.created);
    assert_eq!(first.task.state, TaskState::Queued);
    assert_eq!(first.task.created_by, "token:ci");
    // What enqueue answers (built, not read back) is what the store holds.
    assert_eq!(q.get(&first.task.id).await.unwrap(), first.task);
    let again = q.enqueue(new.clone(), "token:ci").await.unwrap();
    assert!(!again.created);
    assert_eq!(again.task.id, first.task.id);
    new.input = json!({"text": "b"});
    let err = q.enqueue(new, "token:ci").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::IdempotencyKeyReused);
    assert_eq!(
        q.list(TaskFilter::default(), None, 10).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn bad_tasks_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _clock, q) = setup(dir.path()).await;
    let both = NewTask {
        agent: Some("a".into()),
        capability: Some("b".into()),
        ..NewTask::default()
    };
    let big = task("a", json!({"text": "x".repeat(MAX_INPUT_BYTES)}));
    let cases: Vec<(NewTask, &str)> = vec![
        (NewTask::default(), "names an `agent` or a `capability`"),
        (both, "not both"),
        (task("no spaces", json!({})), "not a valid agent"),
        (
            NewTask {
                max_attempts: Some(0),
                ..task("a", json!({}))
            },
            "max_attempts must be 1 to 100",
        ),
        (
            NewTask {
                idempotency_key: Some(String::new()),
                ..task("a", json!({}))
            },
            "idempotency_key",
        ),
        (
            NewTask {
                tags: vec!["bad tag".into()],
                ..task("a", json!({}))
            },
            "tags",
        ),
        (big, "the limit is"),
    ];
    for (new, why) in cases {
        let err = q.enqueue(new, "t").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadRequest);
        assert!(err.to_string().contains(why), "{err} should say {why}");
    }
    assert!(
        q.list(TaskFilter::default(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn leases_go_by_priority_then_age_and_wait_for_run_at() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, clock, q) = setup(dir.path()).await;
    let low = q.enqueue(task("a", json!(1)), "t").await.unwrap().task;
    let high = q
        .enqueue(
            NewTask {
                priority: 5,
                ..task("a", json!(2))
            },
            "t",
        )
        .await
        .unwrap()
        .task;
    let later = q
        .enqueue(
            NewTask {
                priority: 9,
                run_at: Some(clock.now() + chrono::Duration::seconds(60)),
                ..task("a", json!(3))
            },
            "t",
        )
        .await
        .unwrap()
        .task;
    assert_eq!(later.state, TaskState::Scheduled);
    let other = q.enqueue(task("b", json!(4)), "t").await.unwrap().task;

    let got = q.lease("w1", 10, TTL, Some("a")).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|l| l.task.id.as_str()).collect();
    assert_eq!(ids, [high.id.as_str(), low.id.as_str()]);
    assert!(got.iter().all(|l| l.task.state == TaskState::Running));
    assert_eq!(got[0].attempt, 1);
    assert!(q.lease("w1", 10, TTL, Some("a")).await.unwrap().is_empty());
    clock.advance(Duration::from_secs(61));
    let got = q.lease("w1", 10, TTL, None).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|l| l.task.id.as_str()).collect();
    assert_eq!(ids, [later.id.as_str(), other.id.as_str()]);
}

#[tokio::test]
async fn failures_back_off_then_dead_letter_with_every_attempt_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, q) = setup(dir.path()).await;
    let t = q
        .enqueue(
            NewTask {
                max_attempts: Some(2),
                ..task("a", json!({}))
            },
            "t",
        )
        .await
        .unwrap()
        .task;
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    let after = q
        .fail(&lease, Failure::Retryable, failure("provider_timeout"))
        .await
        .unwrap();
    // Backing off: scheduled no later than the first backoff ceiling (10 s).
    assert!(matches!(
        after.state,
        TaskState::Scheduled | TaskState::Queued
    ));
    assert!(after.run_at <= clock.now() + chrono::Duration::seconds(10));
    assert_eq!(after.attempts, 1);
    clock.advance(Duration::from_secs(11));
    let lease = q.lease("w2", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(lease.attempt, 2);
    let dead = q
        .fail(&lease, Failure::Retryable, failure("provider_timeout"))
        .await
        .unwrap();
    assert_eq!(dead.state, TaskState::Dead);
    assert!(dead.finished_at.is_some());
    assert_eq!(dead.error.unwrap().code, "provider_timeout");
    let history = q.attempts(&t.id).await.unwrap();
    let seen: Vec<(u32, &str, Option<AttemptOutcome>)> = history
        .iter()
        .map(|a| (a.attempt, a.worker.as_str(), a.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "w1", Some(AttemptOutcome::Failed)),
            (2, "w2", Some(AttemptOutcome::Failed))
        ]
    );

    // A permanent failure does not retry.
    let p = q.enqueue(task("a", json!(1)), "t").await.unwrap().task;
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(lease.task.id, p.id);
    let failed = q
        .fail(&lease, Failure::Permanent, failure("output_invalid"))
        .await
        .unwrap();
    assert_eq!(failed.state, TaskState::Failed);
    let states = events_of(&store, &p.id).await;
    assert_eq!(states, ["queued", "running", "failed"]);
}

#[tokio::test]
async fn an_expired_lease_cannot_overwrite_what_the_next_worker_did() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, clock, q) = setup(dir.path()).await;
    let t = q.enqueue(task("a", json!({})), "t").await.unwrap().task;
    let stale = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    // The lease is renewed while the worker lives...
    clock.advance(Duration::from_secs(20));
    assert!(!q.heartbeat(&stale, TTL).await.unwrap());
    clock.advance(Duration::from_secs(20));
    assert_eq!(q.expire_leases().await.unwrap(), 0);
    // ...and taken back once it stops.
    clock.advance(Duration::from_secs(31));
    assert_eq!(q.expire_leases().await.unwrap(), 1);
    clock.advance(Duration::from_secs(11));
    let fresh = q.lease("w2", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(fresh.task.id, t.id);
    assert_eq!(fresh.attempt, 2);
    for refused in [
        q.complete(&stale, json!("old")).await.map(|_| ()),
        q.fail(&stale, Failure::Permanent, failure("x"))
            .await
            .map(|_| ()),
        q.heartbeat(&stale, TTL).await.map(|_| ()),
    ] {
        assert_eq!(refused.unwrap_err().code(), ErrorCode::LeaseLost);
    }
    let done = q.complete(&fresh, json!({"answer": 42})).await.unwrap();
    assert_eq!(q.get(&t.id).await.unwrap(), done);
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.result, Some(json!({"answer": 42})));
    // Finished: the stale holder still cannot touch it.
    assert_eq!(
        q.complete(&stale, json!("old")).await.unwrap_err().code(),
        ErrorCode::LeaseLost
    );
    let outcomes: Vec<Option<AttemptOutcome>> = q
        .attempts(&t.id)
        .await
        .unwrap()
        .iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            Some(AttemptOutcome::Expired),
            Some(AttemptOutcome::Succeeded)
        ]
    );
    assert_eq!(
        q.get(&t.id).await.unwrap().result,
        Some(json!({"answer": 42}))
    );
}

#[tokio::test]
async fn cancel_stops_a_waiting_task_at_once_and_a_running_one_at_its_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _clock, q) = setup(dir.path()).await;
    let waiting = q.enqueue(task("a", json!(1)), "t").await.unwrap().task;
    let c = q.cancel(&waiting.id).await.unwrap();
    assert_eq!(c.state, TaskState::Cancelled);
    let err = q.cancel(&waiting.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TaskFinished);
    assert_eq!(
        q.cancel("no-such-task").await.unwrap_err().code(),
        ErrorCode::NotFound
    );

    let running = q.enqueue(task("a", json!(2)), "t").await.unwrap().task;
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(lease.task.id, running.id);
    let asked = q.cancel(&running.id).await.unwrap();
    assert_eq!(
        (asked.state, asked.cancel_requested),
        (TaskState::Running, true)
    );
    assert!(
        q.heartbeat(&lease, TTL).await.unwrap(),
        "the worker is told"
    );
    let stopped = q
        .fail(&lease, Failure::Retryable, failure("cancelled"))
        .await
        .unwrap();
    assert_eq!(stopped.state, TaskState::Cancelled);
}

#[tokio::test]
async fn requeue_starts_a_new_round_and_keeps_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _clock, q) = setup(dir.path()).await;
    let t = q
        .enqueue(
            NewTask {
                max_attempts: Some(1),
                ..task("a", json!({}))
            },
            "t",
        )
        .await
        .unwrap()
        .task;
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(
        q.requeue(&t.id).await.unwrap_err().code(),
        ErrorCode::TaskFinished,
        "a running task is not requeued"
    );
    let dead = q
        .fail(&lease, Failure::Retryable, failure("boom"))
        .await
        .unwrap();
    assert_eq!(dead.state, TaskState::Dead);
    let back = q.requeue(&t.id).await.unwrap();
    assert_eq!(
        (back.state, back.attempts, back.error),
        (TaskState::Queued, 0, None)
    );
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    assert_eq!(lease.attempt, 2, "attempts are numbered across rounds");
    q.complete(&lease, json!(true)).await.unwrap();
    assert_eq!(q.attempts(&t.id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn parked_tasks_keep_their_attempt_and_wake_when_a_provider_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock, q) = setup(dir.path()).await;
    let t = q
        .enqueue(
            NewTask {
                max_attempts: Some(1),
                ..task("a", json!({}))
            },
            "t",
        )
        .await
        .unwrap()
        .task;
    for _ in 0..3 {
        let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
        let parked = q
            .park(
                &lease,
                TaskState::WaitingForProvider,
                "every provider is down",
            )
            .await
            .unwrap();
        assert_eq!(
            (parked.state, parked.attempts),
            (TaskState::WaitingForProvider, 0)
        );
        assert!(q.lease("w1", 1, TTL, None).await.unwrap().is_empty());
        assert_eq!(q.wake_waiting(Some(vec!["a".into()])).await.unwrap(), 1);
    }
    let lease = q.lease("w1", 1, TTL, None).await.unwrap().remove(0);
    q.complete(&lease, json!("ok")).await.unwrap();
    assert_eq!(q.get(&t.id).await.unwrap().state, TaskState::Succeeded);
    let counts = q.counts().await.unwrap();
    assert_eq!(counts, [(TaskState::Succeeded, 1)]);
    assert_eq!(
        events_of(&store, &t.id).await.last().map(String::as_str),
        Some("succeeded")
    );
}

#[tokio::test]
async fn lists_filter_and_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _clock, q) = setup(dir.path()).await;
    for i in 0..5 {
        q.enqueue(
            NewTask {
                tags: vec![if i % 2 == 0 { "even" } else { "odd" }.into()],
                ..task(if i < 3 { "a" } else { "b" }, json!(i))
            },
            "t",
        )
        .await
        .unwrap();
    }
    let page = q.list(TaskFilter::default(), None, 2).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|(_, t)| t.input.clone())
            .collect::<Vec<_>>(),
        [json!(4), json!(3)]
    );
    let next = q
        .list(TaskFilter::default(), Some(page[1].0), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 3);
    let by = |agent: Option<&str>, tag: Option<&str>| TaskFilter {
        agent: agent.map(str::to_string),
        tag: tag.map(str::to_string),
        state: None,
    };
    assert_eq!(
        q.list(by(Some("a"), None), None, 10).await.unwrap().len(),
        3
    );
    assert_eq!(
        q.list(by(None, Some("even")), None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        q.list(by(Some("b"), Some("even")), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let queued = TaskFilter {
        state: Some(TaskState::Queued),
        ..TaskFilter::default()
    };
    assert_eq!(q.list(queued, None, 10).await.unwrap().len(), 5);
}
