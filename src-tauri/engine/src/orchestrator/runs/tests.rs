use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::decide::{StepNow, decide};
use super::spec::resolve;
use super::*;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::events::NoSink;
use crate::orchestrator::{Queue, TaskFilter};
use crate::store::Store;

fn config() -> Config {
    toml::from_str(
        r#"
[providers.p]
kind = "openai"
base_url = "http://127.0.0.1:9"
key = "none"

[models."p/m"]
context_tokens = 1000

[prices."p/m"]
input = "2"
output = "10"

[agents.facts]
route = "p/m"
prompt = "Facts about {{ topic }}"
output_schema = { type = "object", properties = { label = { type = "string" }, facts = { type = "array" } } }
capabilities = ["research"]
max_tokens = 100
max_steps = 2
max_attempts = 3

[agents.writer]
route = "p/m"
prompt = "Write about {{ topic }} using {{ facts.facts }}"

[agents.free]
route = "p/m"
prompt = "Say something about {{ topic }}"

[agents.free2]
route = "p/m"
prompt = "Another view on {{ topic }}"

[agents.judge]
route = "p/m"
prompt = "Merge {{ results }} given {{ disagreements }}"
"#,
    )
    .unwrap()
}

fn spec(v: Value) -> RunSpec {
    serde_json::from_value(v).unwrap()
}

fn check(v: Value, input: Value) -> Result<Resolved, Vec<String>> {
    let c = config();
    resolve(&spec(v), &c, Some(&input), |cap| {
        crate::agents::with_capability(&c, cap)
            .first()
            .map(|s| s.to_string())
    })
    .map_err(|e| e.0)
}

#[test]
fn definitions_are_checked_before_anything_runs() {
    let topic = json!({"topic": "owls"});
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            json!({"agents": ["nobody"]}),
            topic.clone(),
            "agent `nobody`, which is not configured",
        ),
        (json!({"steps": []}), topic.clone(), "at least one step"),
        (
            json!({"steps": [{"id": "a", "capability": "flying"}]}),
            topic.clone(),
            "capability `flying`, which no agent has",
        ),
        (
            json!({"steps": [{"id": "a", "agent": "facts", "needs": ["b"]},
                             {"id": "b", "agent": "facts", "needs": ["a"]}]}),
            topic.clone(),
            "cycle: `a` → `b` → `a`",
        ),
        (
            json!({"steps": [{"id": "a", "agent": "facts", "needs": ["a"]}]}),
            topic.clone(),
            "needs itself",
        ),
        (
            json!({"steps": [{"id": "a", "agent": "facts", "needs": ["zz"]}]}),
            topic.clone(),
            "needs `zz`, which is not a step",
        ),
        (
            json!({"steps": [{"id": "a", "agent": "facts"}, {"id": "a", "agent": "free"}]}),
            topic.clone(),
            "two steps are named `a`",
        ),
        (
            json!({"agents": ["facts"]}),
            json!({}),
            "reads `topic`, which neither the run's input",
        ),
        (
            json!({"agents": ["facts"]}),
            json!([1]),
            "input is a JSON object",
        ),
        // `writer` reads `facts.facts` but does not need the step.
        (
            json!({"steps": [{"id": "facts", "agent": "facts"}, {"id": "w", "agent": "writer"}]}),
            topic.clone(),
            "does not list it in needs",
        ),
        // Type mismatch: `free` answers text, which has no field.
        (
            json!({"steps": [{"id": "facts", "agent": "free"},
                             {"id": "w", "agent": "writer", "needs": ["facts"]}]}),
            topic.clone(),
            "type mismatch: `facts` (free) answers free text, which has no field `facts`",
        ),
        (
            json!({"agents": ["facts"], "aggregate": {"mode": "vote"}}),
            topic.clone(),
            "needs aggregate.field",
        ),
        (
            json!({"agents": ["facts", "free"], "aggregate": {"mode": "vote", "field": "label"}}),
            topic.clone(),
            "for step `free`: the agent answers free text",
        ),
        (
            json!({"agents": ["facts"], "aggregate": {"mode": "vote", "field": "colour"}}),
            topic.clone(),
            "has no property `colour` (it has: facts, label)",
        ),
        (
            json!({"agents": ["facts"], "aggregate": {"mode": "judge", "judge": "nope"}}),
            topic.clone(),
            "aggregate.judge names agent `nope`",
        ),
        (
            json!({"agents": ["facts"], "concurrency": 0}),
            topic.clone(),
            "concurrency",
        ),
        (
            json!({"agents": ["facts", "free"], "aggregate": {"of": ["facts", "facts"]}}),
            topic.clone(),
            "names `facts` twice",
        ),
        (
            json!({"agents": ["facts"], "steps": [{"id": "x", "agent": "free"}]}),
            topic.clone(),
            "not both",
        ),
    ];
    for (def, input, want) in cases {
        let got = check(def.clone(), input);
        match got {
            Err(problems) => assert!(
                problems.iter().any(|p| p.contains(want)),
                "{def}: want {want:?}, got {problems:?}"
            ),
            Ok(_) => panic!("{def}: accepted, want {want:?}"),
        }
    }
}

#[test]
fn valid_definitions_resolve_agents_levels_and_the_judge() {
    let r = check(
        json!({"steps": [{"id": "facts", "capability": "research"},
                         {"id": "w", "agent": "writer", "needs": ["facts"], "max_attempts": 1}],
               "step_timeout_ms": 5000}),
        json!({"topic": "owls"}),
    )
    .unwrap();
    assert_eq!(r.steps[0].agent, "facts");
    assert_eq!(r.steps[0].max_attempts, 3);
    assert_eq!(r.steps[1].max_attempts, 1);
    assert_eq!(r.steps[1].timeout_ms, Some(5000));
    assert_eq!(r.of, vec!["w".to_string()]);
    assert_eq!(r.levels().get("w"), Some(&1));
    let j = check(
        json!({"agents": ["facts", "free"], "aggregate": {"mode": "judge", "judge": "judge"}}),
        json!({"topic": "owls"}),
    )
    .unwrap();
    let judge = j.step(spec::JUDGE_STEP).unwrap();
    assert!(judge.judge);
    assert_eq!(judge.needs, vec!["facts".to_string(), "free".to_string()]);
}

#[test]
fn a_dry_run_prices_the_worst_case_or_says_why_it_cannot() {
    let c = Arc::new(config());
    let r = check(
        json!({"steps": [{"id": "facts", "agent": "facts"},
                         {"id": "w", "agent": "writer", "needs": ["facts"]}]}),
        json!({"topic": "owls"}),
    )
    .unwrap();
    let p = plan::plan(&r, &c, "2030-01-01T00:00:00Z".parse().unwrap());
    assert_eq!(
        p.levels,
        vec![vec!["facts".to_string()], vec!["w".to_string()]]
    );
    assert_eq!(p.steps[0].chain, vec!["p/m".to_string()]);
    // facts: 3 attempts × 2 steps = 6 calls of (1000 × $2 + 100 × $10) / 1M = $0.003 each.
    assert_eq!(p.steps[0].max_calls, 6);
    assert_eq!(p.steps[0].worst_case_cost_usd.as_deref(), Some("0.018"));
    // writer sets no max_tokens: unknown, with the reason, and no total.
    assert!(
        p.steps[1]
            .cost_unknown
            .as_deref()
            .unwrap()
            .contains("max_tokens")
    );
    assert_eq!(p.worst_case_cost_usd, None);
    assert_eq!(p.known_worst_case_cost_usd, "0.018");
    assert_eq!((p.min_calls, p.max_calls), (2, 6 + 24));
}

fn resolved(v: Value) -> Resolved {
    check(v, json!({"topic": "t"})).unwrap()
}

fn now(state: StepState, task: Option<(TaskState, Option<Value>, i64)>) -> StepNow {
    StepNow {
        state,
        task: task.map(|(s, r, at)| {
            (
                s,
                r,
                Some(chrono::DateTime::from_timestamp(at, 0).unwrap_or_default()),
            )
        }),
    }
}

#[test]
fn decisions_follow_the_dag_and_the_aggregation() {
    use RunState as R;
    use StepState as S;
    use TaskState as T;
    let ok = |v: Value, at| Some((T::Succeeded, Some(v), at));
    let dead = Some((T::Dead, None, 1));
    let running = Some((T::Running, None, 0));
    let pending = now(S::Pending, None);

    // A chain starts at its root, then the next step once the root succeeded.
    let chain = resolved(json!({"steps": [{"id": "facts", "agent": "facts"},
        {"id": "w", "agent": "writer", "needs": ["facts"]}]}));
    let d = decide(&chain, &[pending.clone(), pending.clone()], R::Running);
    assert_eq!(d.start, vec![0]);
    let d = decide(
        &chain,
        &[
            now(S::Running, ok(json!({"facts": []}), 1)),
            pending.clone(),
        ],
        R::Running,
    );
    assert_eq!(d.start, vec![1]);
    // A failed root skips what needs it, and the run fails.
    let d = decide(
        &chain,
        &[now(S::Running, dead.clone()), pending.clone()],
        R::Running,
    );
    assert_eq!(d.states, vec![S::Failed, S::Skipped]);
    let out = d.finish.unwrap();
    assert_eq!(out.state, R::Failed);
    assert_eq!(out.error.unwrap().0, "run_steps_failed");

    // Fan-out within the concurrency.
    let fan = resolved(json!({"agents": ["facts", "free", "free2"], "concurrency": 2}));
    let d = decide(
        &fan,
        &[pending.clone(), pending.clone(), pending.clone()],
        R::Running,
    );
    assert_eq!(d.start, vec![0, 1]);

    // All: results by step; disagreements when they differ.
    let d = decide(
        &fan,
        &[
            now(S::Running, ok(json!(1), 1)),
            now(S::Running, ok(json!(2), 2)),
            now(S::Running, ok(json!(1), 3)),
        ],
        R::Running,
    );
    let out = d.finish.unwrap();
    assert_eq!(out.state, R::Succeeded);
    assert_eq!(
        out.result.unwrap(),
        json!({"facts": 1, "free": 2, "free2": 1})
    );
    assert_eq!(out.disagreements.len(), 2);
    assert_eq!(
        out.disagreements[0].steps,
        vec!["facts".to_string(), "free2".to_string()]
    );

    // First valid: the earliest success decides; the rest is cancelled.
    let first = Resolved {
        mode: AggregateMode::FirstValid,
        ..fan.clone()
    };
    let d = decide(
        &first,
        &[
            now(S::Running, running.clone()),
            now(S::Running, ok(json!("b"), 5)),
            pending.clone(),
        ],
        R::Running,
    );
    assert_eq!(d.cancel, vec![0]);
    assert_eq!(d.states[2], S::Cancelled);
    let out = d.finish.unwrap();
    assert_eq!((out.state, out.result), (R::Succeeded, Some(json!("b"))));
    assert_eq!(out.decided_by, vec!["free".to_string()]);

    // Vote: a strict majority of the answers wins; a tie fails with the disagreement.
    let vote = Resolved {
        mode: AggregateMode::Vote,
        field: Some("label".into()),
        ..fan.clone()
    };
    let votes = |a: &str, b: &str, c: Option<&str>| {
        vec![
            now(S::Running, ok(json!({"label": a}), 1)),
            now(S::Running, ok(json!({"label": b}), 2)),
            match c {
                Some(c) => now(S::Running, ok(json!({"label": c}), 3)),
                None => now(S::Running, dead.clone()),
            },
        ]
    };
    let out = decide(&vote, &votes("spam", "ham", Some("spam")), R::Running)
        .finish
        .unwrap();
    assert_eq!(out.state, R::Succeeded);
    assert_eq!(
        out.result.unwrap(),
        json!({"field": "label", "value": "spam", "votes": 2, "answers": 3})
    );
    assert_eq!(
        out.decided_by,
        vec!["facts".to_string(), "free2".to_string()]
    );
    assert_eq!(out.disagreements[1].steps, vec!["free".to_string()]);
    let out = decide(&vote, &votes("spam", "ham", None), R::Running)
        .finish
        .unwrap();
    assert_eq!(out.state, R::Failed);
    assert_eq!(out.error.unwrap().0, "no_majority");
    assert_eq!(out.disagreements.len(), 2);

    // Judge: runs once every judged step finished, if one succeeded.
    let judged = resolved(json!({"agents": ["facts", "free"],
        "aggregate": {"mode": "judge", "judge": "judge"}}));
    let d = decide(
        &judged,
        &[
            now(S::Running, ok(json!(1), 1)),
            now(S::Running, dead.clone()),
            pending.clone(),
        ],
        R::Running,
    );
    assert_eq!(d.start, vec![2]);
    let d = decide(
        &judged,
        &[
            now(S::Running, dead.clone()),
            now(S::Running, dead.clone()),
            pending.clone(),
        ],
        R::Running,
    );
    assert_eq!(d.states[2], S::Skipped);
    assert_eq!(d.finish.unwrap().error.unwrap().0, "judge_failed");

    // A judge that failed, then a judged step requeued: the run reopens and the judge will
    // start again on the new answer (its old task left behind).
    let d = decide(
        &judged,
        &[
            now(S::Running, running.clone()),
            now(S::Succeeded, ok(json!(2), 2)),
            now(S::Failed, dead.clone()),
        ],
        R::Failed,
    );
    assert!(d.reopen);
    assert_eq!(d.unlink, vec![2]);
    assert_eq!(d.states[2], S::Pending);
    assert!(d.start.is_empty());
    // A failed run whose dead step is requeued runs again.
    let d = decide(
        &chain,
        &[now(S::Failed, running.clone()), now(S::Skipped, None)],
        R::Failed,
    );
    assert!(d.reopen);
    assert_eq!(d.states, vec![S::Running, S::Pending]);
    // A decided run only records its steps.
    let d = decide(&chain, &[now(S::Running, running), pending], R::Cancelled);
    assert!(d.start.is_empty() && d.finish.is_none());
}

async fn setup(dir: &std::path::Path) -> (Store, Queue) {
    let clock = Arc::new(ManualClock::new("2030-01-01T00:00:00Z".parse().unwrap()));
    let store = Store::open_with(dir, clock.clone(), Arc::new(NoSink))
        .await
        .unwrap();
    let queue = Queue::new(store.clone(), clock);
    (store, queue)
}

fn row(spec: Resolved, input: Value, key: Option<&str>) -> store::NewRunRow {
    store::NewRunRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: None,
        spec,
        input,
        idempotency_key: key.map(str::to_string),
        fingerprint: "f".into(),
        created_by: "token:ci".into(),
    }
}

/// Leases the one due task of `agent` and completes it with `result`.
async fn finish(q: &Queue, agent: &str, result: Value) -> String {
    let leases = q
        .lease("w", 1, Duration::from_secs(30), Some(agent))
        .await
        .unwrap();
    assert_eq!(leases.len(), 1, "one task of {agent} due");
    q.complete(&leases[0], result).await.unwrap();
    leases[0].task.id.clone()
}

#[tokio::test]
async fn a_step_starts_in_the_transaction_that_finished_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, q) = setup(dir.path()).await;
    let spec = resolved(json!({"steps": [{"id": "facts", "agent": "facts"},
        {"id": "w", "agent": "writer", "needs": ["facts"], "input": {"tone": "dry"}}]}));
    let (run, created) = q
        .create_run(row(spec.clone(), json!({"topic": "owls"}), Some("k1")))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.steps[0].state, StepState::Running);
    assert_eq!(run.steps[1].state, StepState::Pending);
    // The same key answers the same run.
    let (again, created) = q
        .create_run(row(spec.clone(), json!({"topic": "owls"}), Some("k1")))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, run.id);

    finish(&q, "facts", json!({"facts": ["hoot"]})).await;
    let run = q.run(&run.id).await.unwrap();
    assert_eq!(run.steps[1].state, StepState::Running);
    let w = q
        .get(run.steps[1].task_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        w.input,
        json!({"topic": "owls", "tone": "dry", "facts": {"facts": ["hoot"]}})
    );
    assert_eq!(w.tags, vec![format!("run:{}", run.id)]);
    assert_eq!(w.idempotency_key, None);
    finish(&q, "writer", json!("a poem")).await;
    let run = q.run(&run.id).await.unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(run.result, Some(json!({"w": "a poem"})));
    assert!(run.finished_at.is_some());
    // Exactly one task per step.
    let tagged = q
        .list(
            TaskFilter {
                tag: Some(format!("run:{}", run.id)),
                ..TaskFilter::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(tagged.len(), 2);
}

#[tokio::test]
async fn first_valid_cancels_the_rest_and_cancel_stops_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, q) = setup(dir.path()).await;
    let mut spec = resolved(json!({"agents": ["facts", "free"],
        "aggregate": {"mode": "first_valid"}}));
    spec.mode = AggregateMode::FirstValid;
    let (run, _) = q
        .create_run(row(spec.clone(), json!({"topic": "owls"}), None))
        .await
        .unwrap();
    finish(&q, "free", json!("quick")).await;
    let run = q.run(&run.id).await.unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(run.result, Some(json!("quick")));
    assert_eq!(run.decided_by, vec!["free".to_string()]);
    let facts = &run.steps[0];
    assert_eq!(facts.state, StepState::Cancelled);
    assert_eq!(facts.task_state, Some(TaskState::Cancelled));

    let (run, _) = q
        .create_run(row(spec, json!({"topic": "owls"}), None))
        .await
        .unwrap();
    let cancelled = q.cancel_run(&run.id).await.unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert!(
        cancelled
            .steps
            .iter()
            .all(|s| s.task_state == Some(TaskState::Cancelled))
    );
    let again = q.cancel_run(&run.id).await.unwrap_err();
    assert_eq!(again.code(), crate::ErrorCode::RunFinished);
}

#[test]
fn a_judge_reads_what_it_judges_by_step_too() {
    let mut cfg = config();
    cfg.agents.get_mut("judge").unwrap().prompt =
        "Pick from {{ results }} ({{ disagreements }}); facts said {{ facts.facts }}".into();
    let spec = spec(json!({"agents": ["facts", "free"],
        "aggregate": {"mode": "judge", "judge": "judge"}}));
    let r = resolve(&spec, &cfg, Some(&json!({"topic": "t"})), |_| None).unwrap();
    let judge = r.step(spec::JUDGE_STEP).unwrap();
    let outputs = std::collections::BTreeMap::from([
        ("facts".to_string(), json!({"facts": [1]})),
        ("free".to_string(), json!("text")),
    ]);
    let input = spec::step_input(judge, &json!({"topic": "t"}), &outputs, &json!([]));
    assert_eq!(input["facts"], json!({"facts": [1]}));
    assert_eq!(input["results"]["free"], json!("text"));
    let rendered = crate::agents::template::render(&cfg.agents["judge"].prompt, &input).unwrap();
    assert!(rendered.contains("facts said [1]"), "{rendered}");
}

#[tokio::test]
async fn a_step_that_cannot_be_created_fails_its_run_not_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, q) = setup(dir.path()).await;
    // Its input would be over the queue's 1 MiB limit.
    let big = "x".repeat(700 * 1024);
    let spec = resolved(json!({"steps": [{"id": "facts", "agent": "facts",
        "input": {"pad": big.clone()}}]}));
    let (run, _) = q
        .create_run(row(spec, json!({"topic": "t", "more": big}), None))
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.steps[0].state, StepState::Failed);
    assert_eq!(run.steps[0].task_id, None);
    let e = run.steps[0].error.as_ref().unwrap();
    assert_eq!(e.code, "step_not_started");
    assert!(e.message.contains("bytes"), "{}", e.message);
    assert_eq!(run.error.unwrap().code, "run_steps_failed");
}

#[tokio::test]
async fn a_step_of_a_decided_run_is_not_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, q) = setup(dir.path()).await;
    let mut spec = resolved(json!({"agents": ["facts", "free"]}));
    spec.mode = AggregateMode::FirstValid;
    let (run, _) = q
        .create_run(row(spec, json!({"topic": "owls"}), None))
        .await
        .unwrap();
    finish(&q, "free", json!("quick")).await;
    let run = q.run(&run.id).await.unwrap();
    let loser = run.steps[0].task_id.clone().unwrap();
    let e = q.requeue(&loser).await.unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::TaskFinished);
    assert!(e.to_string().contains("which is succeeded"), "{e}");
    // Nor by a bulk requeue of cancelled tasks.
    let bulk = q
        .requeue_many(Vec::new(), TaskState::Cancelled, None, 100)
        .await
        .unwrap();
    assert!(bulk.is_empty(), "{bulk:?}");
}
