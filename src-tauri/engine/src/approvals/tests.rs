//! The approvals domain on a real SQLite file and a hand-moved clock: requests from
//! elsewhere, decisions and their conflicts, quorum, edits, standing approvals (and their
//! expiry), the SLA chain under paused time, and the audit trail all of it leaves.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::audit::{self, AuditKind};
use crate::clock::{Clock, ManualClock};
use crate::config::{ConfigHandle, ConfigSource};
use crate::events::NoSink;

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    approvals: Approvals,
}

const CONFIG: &str = r#"
[actions.refund]
description = "Refund a customer"
risk = "high"
executor = "external"
schema = { type = "object", properties = { amount = { type = "number", minimum = 0 }, customer = { type = "string" } }, required = ["amount", "customer"], additionalProperties = false }

[actions.payout]
description = "Pay a supplier"
risk = "critical"
executor = "external"
schema = { type = "object", properties = { amount = { type = "number" } }, required = ["amount"] }

[[policies]]
name = "small refunds"
action = "refund"
when = "amount <= 50"
decision = "allow"
priority = 1

[[policies]]
name = "huge refunds"
action = "refund"
when = "amount > 10000"
decision = "deny"

[[policies]]
name = "refunds"
action = "refund"
decision = "require_approval"
sla = "30m"

[[policies]]
name = "payouts"
action = "payout"
decision = "require_approval"
approvers = 2
sla = "1h"

[approvals.escalation]
warn_before = "10m"
steps = [{ after = "0s", notify = "desktop" }]
timeout_after = "20m"
"#;

/// Approvals on a fresh SQLite file, `clock` and the config `text`.
async fn approvals_on(
    clock: crate::clock::SharedClock,
    text: &str,
) -> (tempfile::TempDir, Approvals) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), clock.clone(), Arc::new(NoSink))
        .await
        .unwrap();
    let config: Config = toml::from_str(text).unwrap();
    config.validate(None).unwrap();
    let handle = ConfigHandle::new(config, ConfigSource::default(), clock.clone());
    (dir, Approvals::new(store, handle, clock, None, None, None))
}

async fn world(extra: &str) -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
    ));
    let (dir, approvals) = approvals_on(clock.clone(), &format!("{CONFIG}\n{extra}")).await;
    World {
        _dir: dir,
        clock,
        approvals,
    }
}

fn ask(action: &str, arguments: serde_json::Value) -> NewApproval {
    NewApproval {
        action: action.into(),
        arguments,
        rationale: Some("the customer was charged twice".into()),
        callback_url: None,
    }
}

/// `action(arguments)` asked by the client `token:agent`.
async fn asked(a: &Approvals, action: &str, arguments: serde_json::Value) -> ApprovalRequest {
    a.request("token:agent", ask(action, arguments))
        .await
        .unwrap()
}

/// Approve, and grant a standing approval of `scope`.
fn always(scope: StandingScope, hours: Option<u32>) -> DecisionInput {
    DecisionInput {
        always: Some(StandingGrant { scope, hours }),
        ..approve()
    }
}

fn approve() -> DecisionInput {
    DecisionInput {
        decision: VoteDecision::Approve,
        reason: None,
        arguments: None,
        always: None,
    }
}

fn reject(reason: &str) -> DecisionInput {
    DecisionInput {
        decision: VoteDecision::Reject,
        reason: Some(reason.into()),
        arguments: None,
        always: None,
    }
}

async fn audit_kinds(a: &Approvals, subject: &str) -> Vec<String> {
    let subject = subject.to_string();
    let mut entries = a
        .store()
        .read(move |db| {
            audit::list(
                db,
                &audit::AuditFilter {
                    subject: Some(subject),
                    ..Default::default()
                },
                100,
            )
        })
        .await
        .unwrap();
    entries.reverse();
    entries.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_request_from_elsewhere_is_decided_once_and_a_second_decision_is_a_conflict() {
    let w = world("").await;
    let a = &w.approvals;
    // Allowed and denied at once, by rule.
    let r = asked(a, "refund", json!({"amount": 20, "customer": "c1"})).await;
    assert_eq!(
        (r.state, r.rule.as_str()),
        (ApprovalState::Allowed, "small refunds")
    );
    let r = asked(a, "refund", json!({"amount": 20000, "customer": "c1"})).await;
    assert_eq!(r.state, ApprovalState::Denied);
    // Invalid arguments never reach a policy.
    let e = a
        .request(
            "token:agent",
            ask("refund", json!({"amount": -1, "customer": "c1"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ApprovalError::ArgumentsInvalid(errs) if errs[0].contains("/amount")),
        "{e}"
    );
    let e = a
        .request("token:agent", ask("nope", json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::UnknownAction);
    // Pending, with its SLA.
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    assert_eq!(r.state, ApprovalState::Pending);
    assert_eq!(
        r.sla_due,
        Some(w.clock.now() + chrono::Duration::minutes(30))
    );
    assert_eq!(
        r.rationale.as_deref(),
        Some("the customer was charged twice")
    );
    // The proposer cannot decide its own request; a rejection needs a reason.
    let e = a.decide(&r.id, "token:agent", approve()).await.unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::NotAnApprover);
    let e = a
        .decide(&r.id, "desktop:alice", reject("  "))
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::ReasonRequired);
    let e = a
        .decide("apr_missing", "desktop:alice", approve())
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::NotFound);
    let done = a
        .decide(
            &r.id,
            "desktop:alice",
            reject("refund the second charge only"),
        )
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::Rejected);
    assert_eq!(
        done.reason.as_deref(),
        Some("refund the second charge only")
    );
    assert_eq!(done.decided_by, ["desktop:alice"]);
    match a.decide(&r.id, "desktop:bob", approve()).await.unwrap_err() {
        ApprovalError::AlreadyDecided(existing) => {
            assert_eq!(existing.state, ApprovalState::Rejected);
            assert_eq!(existing.decided_by, ["desktop:alice"]);
        }
        other => panic!("{other}"),
    }
    // The long poll answers at once for a decided request.
    let waited = a.wait(&r.id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(waited.state, ApprovalState::Rejected);
    assert_eq!(
        audit_kinds(a, &r.id).await,
        ["approval_requested", "approval_decided"]
    );
    let v = a.store().read(|db| audit::verify(db, None)).await.unwrap();
    assert!(v.ok && v.entries >= 4, "{v:?}");
}

#[tokio::test]
async fn a_two_approver_rule_needs_two_distinct_identities() {
    let w = world("").await;
    let a = &w.approvals;
    let r = asked(a, "payout", json!({"amount": 5000})).await;
    assert_eq!((r.quorum, r.approvals), (2, 0));
    let r1 = a.decide(&r.id, "desktop:alice", approve()).await.unwrap();
    assert_eq!((r1.state, r1.approvals), (ApprovalState::Pending, 1));
    let e = a
        .decide(&r.id, "desktop:alice", approve())
        .await
        .unwrap_err();
    assert!(matches!(e, ApprovalError::AlreadyVoted { .. }), "{e}");
    let r2 = a.decide(&r.id, "token:bob", approve()).await.unwrap();
    assert_eq!(r2.state, ApprovalState::Approved);
    assert_eq!(r2.decided_by, ["desktop:alice", "token:bob"]);
    assert_eq!(
        audit_kinds(a, &r.id).await,
        ["approval_requested", "approval_voted", "approval_decided"]
    );
}

#[tokio::test]
async fn an_edit_is_revalidated_its_diff_kept_and_it_restarts_the_votes() {
    let w = world("").await;
    let a = &w.approvals;
    let r = asked(a, "payout", json!({"amount": 5000})).await;
    a.decide(&r.id, "desktop:alice", approve()).await.unwrap();
    let bad = DecisionInput {
        arguments: Some(json!({"amount": "lots"})),
        ..approve()
    };
    let e = a.decide(&r.id, "token:bob", bad).await.unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::ArgumentsInvalid);
    let edit = DecisionInput {
        arguments: Some(json!({"amount": 4000})),
        ..approve()
    };
    let r2 = a.decide(&r.id, "token:bob", edit).await.unwrap();
    // Alice approved 5000, not 4000: the edit needs a second approval again.
    assert_eq!((r2.state, r2.approvals), (ApprovalState::Pending, 1));
    assert_eq!(r2.final_arguments, Some(json!({"amount": 4000})));
    assert_eq!(r2.edits.len(), 1);
    assert_eq!(r2.edits[0].changes[0].path, "/amount");
    assert_eq!(r2.edits[0].changes[0].from, Some(json!(5000)));
    let r3 = a.decide(&r.id, "desktop:alice", approve()).await.unwrap();
    assert_eq!(r3.state, ApprovalState::Approved);
    assert_eq!(r3.effective_arguments(), &json!({"amount": 4000}));
    let kinds = audit_kinds(a, &r.id).await;
    assert!(kinds.contains(&"approval_edited".to_string()), "{kinds:?}");
}

#[tokio::test]
async fn standing_approvals_allow_exactly_what_they_say_until_they_expire_or_are_revoked() {
    let w = world("").await;
    let a = &w.approvals;
    let args = json!({"amount": 120, "customer": "c1"});
    let r = asked(a, "refund", args.clone()).await;
    a.decide(
        &r.id,
        "desktop:alice",
        always(StandingScope::ExactArguments, None),
    )
    .await
    .unwrap();
    // Exactly these arguments (in any key order) from the same client: allowed at once.
    let again = asked(a, "refund", json!({"customer": "c1", "amount": 120})).await;
    assert_eq!(again.state, ApprovalState::Allowed);
    assert!(
        again
            .reason
            .as_deref()
            .unwrap()
            .starts_with("standing approval sta_")
    );
    // Other arguments, or another client: asked again.
    let other = asked(a, "refund", json!({"amount": 121, "customer": "c1"})).await;
    assert_eq!(other.state, ApprovalState::Pending);
    let stranger = a
        .request("token:other", ask("refund", args.clone()))
        .await
        .unwrap();
    assert_eq!(stranger.state, ApprovalState::Pending);
    // An agent-and-action grant for 2 hours.
    let grant = always(StandingScope::AgentAction, Some(2));
    a.decide(&other.id, "desktop:alice", grant).await.unwrap();
    let any = asked(a, "refund", json!({"amount": 999, "customer": "c9"})).await;
    assert_eq!(any.state, ApprovalState::Allowed);
    let list = a.standing(false).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s.author == "desktop:alice"));
    // Two hours later the blanket one has expired; the exact one stands until revoked.
    w.clock.advance(Duration::from_secs(2 * 3600 + 1));
    let later = asked(a, "refund", json!({"amount": 999, "customer": "c9"})).await;
    assert_eq!(later.state, ApprovalState::Pending);
    let active = a.standing(false).await.unwrap();
    assert_eq!(active.len(), 1);
    let revoked = a
        .revoke_standing(&active[0].id, "desktop:bob")
        .await
        .unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("desktop:bob"));
    let after = asked(a, "refund", args).await;
    assert_eq!(after.state, ApprovalState::Pending);
    assert_eq!(a.standing(true).await.unwrap().len(), 2);
    // A blanket grant on a critical action is refused.
    let p = asked(a, "payout", json!({"amount": 1})).await;
    let grant = always(StandingScope::AgentAction, Some(1));
    assert_eq!(
        a.decide(&p.id, "desktop:alice", grant)
            .await
            .unwrap_err()
            .code(),
        crate::ErrorCode::BadRequest
    );
}

#[tokio::test]
async fn the_sla_chain_warns_escalates_and_times_out_under_paused_time() {
    let w = world("").await;
    let a = &w.approvals;
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    // Nothing is due yet; the next check is the warning, 10 min before the 30 min SLA.
    let next = sla::pass(a).await.unwrap().unwrap();
    assert_eq!(next, r.created_at + chrono::Duration::minutes(20));
    w.clock.advance(Duration::from_secs(20 * 60));
    let next = sla::pass(a).await.unwrap().unwrap();
    let now = a.get(&r.id).await.unwrap().request;
    assert!(now.warned_at.is_some() && now.escalation_step == 0);
    assert_eq!(next, r.created_at + chrono::Duration::minutes(30));
    // At the SLA: the desktop step.
    w.clock.advance(Duration::from_secs(10 * 60));
    let next = sla::pass(a).await.unwrap().unwrap();
    let now = a.get(&r.id).await.unwrap().request;
    assert_eq!(
        (now.state, now.escalation_step),
        (ApprovalState::Pending, 1)
    );
    assert_eq!(next, r.created_at + chrono::Duration::minutes(50));
    // 20 min past the SLA: the timeout action (reject by default).
    w.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(sla::pass(a).await.unwrap(), None);
    let done = a.get(&r.id).await.unwrap().request;
    assert_eq!(done.state, ApprovalState::Expired);
    assert_eq!(done.decided_by, ["system:sla"]);
    assert_eq!(
        audit_kinds(a, &r.id).await,
        [
            "approval_requested",
            "approval_warned",
            "approval_escalated",
            "approval_expired"
        ]
    );
    let stats = a.stats().await.unwrap();
    assert_eq!((stats.breaches, stats.auto_decisions), (1, 1));
    // A decision after the timeout is a conflict with it.
    assert_eq!(
        a.decide(&r.id, "desktop:alice", approve())
            .await
            .unwrap_err()
            .code(),
        crate::ErrorCode::AlreadyDecided
    );
}

#[tokio::test]
async fn a_rule_may_approve_on_timeout_and_a_missed_step_is_taken_late() {
    let w = world("[[policies]]\nname = \"auto\"\naction = \"payout\"\nwhen = \"amount < 10\"\ndecision = \"require_approval\"\nsla = \"5m\"\non_timeout = \"approve\"\npriority = 1\n").await;
    let a = &w.approvals;
    let r = asked(a, "payout", json!({"amount": 5})).await;
    assert_eq!(r.rule, "auto");
    // The node was down for hours: one pass takes every step at once.
    w.clock.advance(Duration::from_secs(5 * 3600));
    sla::pass(a).await.unwrap();
    let done = a.get(&r.id).await.unwrap().request;
    assert_eq!(done.state, ApprovalState::Approved);
    assert_eq!(
        audit_kinds(a, &r.id).await,
        [
            "approval_requested",
            "approval_escalated",
            "approval_expired"
        ]
    );
    let v = a.store().read(|db| audit::verify(db, None)).await.unwrap();
    assert!(v.ok, "{v:?}");
    let _ = AuditKind::ApprovalWarned;
}

#[tokio::test]
async fn explain_names_the_rule_and_creates_nothing() {
    let w = world("").await;
    let a = &w.approvals;
    let input = ExplainInput {
        action: "refund".into(),
        arguments: json!({"amount": 20000, "customer": "c"}),
        agent: None,
        client: None,
    };
    let e = a.explain(&input, "token:agent").await.unwrap();
    assert_eq!(e.outcome, "denied");
    let v = e.verdict.unwrap();
    assert_eq!(v.rule, "huge refunds");
    assert!(v.reason.contains("amount > 10000"), "{}", v.reason);
    let input = ExplainInput {
        arguments: json!({"amount": "x"}),
        ..input
    };
    let e = a.explain(&input, "token:agent").await.unwrap();
    assert_eq!(e.outcome, "invalid");
    assert!(!e.schema_errors.is_empty());
    assert!(
        a.list(ApprovalFilter::default(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An engine-less world on the system clock with `extra` config, for executors.
async fn executor_world(extra: &str) -> (tempfile::TempDir, Approvals) {
    approvals_on(crate::clock::SystemClock::shared(), extra).await
}

fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_command_executor_passes_json_on_stdin_without_a_shell_and_records_the_exit() {
    let bin = tempfile::tempdir().unwrap();
    let out = bin.path().join("seen");
    let ok = script(
        bin.path(),
        "ok.sh",
        &format!(
            "cat > {}; echo \"done $FLIGHTDECK_IDEMPOTENCY_KEY $HOME\"",
            out.display()
        ),
    );
    let fails = script(bin.path(), "fails.sh", "echo 'disk full' >&2; exit 3");
    let hangs = script(bin.path(), "hangs.sh", "sleep 30");
    let (_dir, a) = executor_world(&format!(
        r#"
[approvals]
enable_command_executor = true
[actions.ok]
description = "ok"
risk = "low"
executor = "command"
command = ["{ok}", "$(rm -rf /)"]
[actions.fails]
description = "fails"
risk = "low"
executor = "command"
command = ["{fails}"]
[actions.hangs]
description = "hangs"
risk = "low"
executor = "command"
command = ["{hangs}"]
timeout_ms = 300
"#
    ))
    .await;
    let o = a
        .execute(
            "k1",
            "ok",
            &json!({"path": "/tmp/a b; rm -rf /"}),
            None,
            None,
            None,
        )
        .await;
    assert!(o.ok, "{o:?}");
    // The environment is empty but for PATH and the key: no HOME leaks in.
    assert_eq!(o.text.trim(), "done k1");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        r#"{"path":"/tmp/a b; rm -rf /"}"#
    );
    // At most once per key: a second call answers the recorded outcome and runs nothing.
    std::fs::remove_file(&out).unwrap();
    let again = a
        .execute("k1", "ok", &json!({"path": "other"}), None, None, None)
        .await;
    assert_eq!(again.text.trim(), "done k1");
    assert!(!out.exists(), "ran twice");
    let f = a.execute("k2", "fails", &json!({}), None, None, None).await;
    assert!(!f.ok);
    assert_eq!(f.detail["exit_code"], 3);
    assert!(f.text.contains("disk full"), "{}", f.text);
    let h = a.execute("k3", "hangs", &json!({}), None, None, None).await;
    assert!(!h.ok);
    assert_eq!(h.detail["error"], "timeout");
    let v = a.store().read(|db| audit::verify(db, None)).await.unwrap();
    assert_eq!(v.entries, 3, "one audit entry per execution");
}

#[tokio::test]
async fn a_command_found_running_after_a_crash_is_not_run_again() {
    let bin = tempfile::tempdir().unwrap();
    let marker = bin.path().join("ran");
    let cmd = script(
        bin.path(),
        "touch.sh",
        &format!("touch {}", marker.display()),
    );
    let (_dir, a) = executor_world(&format!(
        "[approvals]\nenable_command_executor = true\n[actions.t]\ndescription = \"t\"\nrisk = \"low\"\nexecutor = \"command\"\ncommand = [\"{cmd}\"]\n"
    ))
    .await;
    // A claim left by a node that died mid-execution.
    a.store()
        .write(|tx| {
            tx.execute(
                "INSERT INTO action_executions (key, action, arguments, state, started_at) VALUES ('k', 't', '{}', 'running', 0)",
                [],
            )
        })
        .await
        .unwrap();
    let o = a.execute("k", "t", &json!({}), None, None, None).await;
    assert!(!o.ok);
    assert_eq!(o.detail["error"], "outcome_unknown");
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_webhook_whose_signing_secret_is_missing_fails_before_sending_and_stays_failed() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_dir, a) = executor_world(&format!(
        "[actions.w]\ndescription = \"w\"\nrisk = \"low\"\nexecutor = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"hook\"\nmax_attempts = 2\n"
    ))
    .await;
    // No secret store here: the signing key is missing, which is a failure before any send.
    let o = a.execute("k", "w", &json!({}), None, None, None).await;
    assert!(!o.ok);
    assert_eq!(o.detail["error"], "secret_missing");
    let again = a.execute("k", "w", &json!({}), None, None, None).await;
    assert_eq!(
        again.detail["error"], "secret_missing",
        "the recorded outcome, not a new try"
    );
}

#[tokio::test]
async fn an_edit_meets_the_policies_again_deny_refuses_it_and_a_stricter_rule_takes_over() {
    let w = world(
        "[[policies]]\nname = \"cfo for big ones\"\naction = \"refund\"\nwhen = \"amount > 5000\"\ndecision = \"require_approval\"\napprovers = [\"desktop:cfo\", \"desktop:ceo\"]\nquorum = 2\n",
    )
    .await;
    let a = &w.approvals;
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    assert_eq!((r.quorum, r.approvers.len()), (1, 0));
    // Into the denied range: refused, nothing changes.
    let denied = DecisionInput {
        arguments: Some(json!({"amount": 20000, "customer": "c1"})),
        ..approve()
    };
    let e = a.decide(&r.id, "desktop:alice", denied).await.unwrap_err();
    assert!(e.to_string().contains("deny"), "{e}");
    // Into the CFO's range: alice may not approve that at all.
    let big = DecisionInput {
        arguments: Some(json!({"amount": 6000, "customer": "c1"})),
        ..approve()
    };
    let e = a
        .decide(&r.id, "desktop:alice", big.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::NotAnApprover);
    // The CFO may; the CEO's approval is needed too.
    let after = a.decide(&r.id, "desktop:cfo", big).await.unwrap();
    assert_eq!(
        (after.state, after.quorum, after.approvals),
        (ApprovalState::Pending, 2, 1)
    );
    let done = a.decide(&r.id, "desktop:ceo", approve()).await.unwrap();
    assert_eq!(done.state, ApprovalState::Approved);
    assert_eq!(
        done.effective_arguments(),
        &json!({"amount": 6000, "customer": "c1"})
    );
}

#[tokio::test]
async fn a_standing_approval_stands_in_for_its_own_rule_only() {
    let w = world(
        "[[policies]]\nname = \"cfo for big ones\"\naction = \"refund\"\nwhen = \"amount > 5000\"\ndecision = \"require_approval\"\napprovers = [\"desktop:cfo\"]\npriority = 1\n",
    )
    .await;
    let a = &w.approvals;
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    let grant = always(StandingScope::AgentAction, Some(8));
    a.decide(&r.id, "desktop:alice", grant).await.unwrap();
    let small = asked(a, "refund", json!({"amount": 300, "customer": "c2"})).await;
    assert_eq!(small.state, ApprovalState::Allowed);
    // A refund the CFO rule covers still asks the CFO.
    let big = asked(a, "refund", json!({"amount": 9000, "customer": "c2"})).await;
    assert_eq!(
        (big.state, big.rule.as_str()),
        (ApprovalState::Pending, "cfo for big ones")
    );
    // And one approver of a two-approver rule cannot grant one at all.
    let p = asked(a, "payout", json!({"amount": 5})).await;
    let exact = always(StandingScope::ExactArguments, None);
    let e = a.decide(&p.id, "desktop:alice", exact).await.unwrap_err();
    assert!(e.to_string().contains("needs 2 approvers"), "{e}");
}

#[tokio::test]
async fn a_token_decides_only_where_a_rule_names_it() {
    let w = world("[[policies]]\nname = \"named\"\naction = \"payout\"\nwhen = \"amount < 10\"\ndecision = \"require_approval\"\napprovers = [\"token:oncall-*\"]\npriority = 1\n").await;
    let a = &w.approvals;
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    let e = a
        .decide_as(&r.id, "token:other-agent", false, approve())
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::NotAnApprover);
    assert!(e.to_string().contains("names no approvers"), "{e}");
    let p = asked(a, "payout", json!({"amount": 5})).await;
    let done = a
        .decide_as(&p.id, "token:oncall-bob", false, approve())
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::Approved);
}

#[tokio::test]
async fn clients_ask_only_for_actions_they_run_and_callbacks_need_https() {
    let w =
        world("[actions.hook]\ndescription = \"h\"\nrisk = \"low\"\nexecutor = \"builtin:log\"\n")
            .await;
    let a = &w.approvals;
    let e = a
        .request("token:agent", ask("hook", json!({})))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("runs on this node"), "{e}");
    let e = a
        .request("token:agent", ask("builtin:log", json!({"message": "x"})))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("runs on this node"), "{e}");
    let mut with_callback = ask("refund", json!({"amount": 120, "customer": "c1"}));
    with_callback.callback_url = Some("http://127.0.0.1:9/cb".into());
    let e = a.request("token:agent", with_callback).await.unwrap_err();
    assert!(e.to_string().contains("allow_loopback_callbacks"), "{e}");
}

/// A one-shot HTTP receiver on loopback (the engine has no HTTP server of its own): answers
/// 200 to every request and hands each (head, body) over.
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            let _ = tx.send((head.to_string(), body.to_string()));
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            break;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn an_overdue_request_is_escalated_to_a_chat_webhook_without_its_path_in_the_log() {
    let (url, mut got) = receiver().await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
    ));
    let text = CONFIG.replace(
        "steps = [{ after = \"0s\", notify = \"desktop\" }]",
        &format!(
            "steps = [{{ after = \"0s\", notify = \"desktop\" }}, {{ after = \"5m\", notify = \"webhook\", url = \"{url}\" }}]"
        ),
    );
    let (_dir, approvals) = approvals_on(clock.clone(), &text).await;
    let w = World {
        _dir,
        clock,
        approvals,
    };
    let a = &w.approvals;
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    w.clock.advance(Duration::from_secs(36 * 60));
    sla::pass(a).await.unwrap();
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), got.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("POST /hook"), "{head}");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["event"], "approval_overdue");
    assert_eq!(sent["request"]["id"], r.id.as_str());
    assert!(sent["text"].as_str().unwrap().contains("refund"), "{sent}");
    let now = a.get(&r.id).await.unwrap();
    assert_eq!(now.request.escalation_step, 2);
    // The audit entries name where it went by scheme and host only.
    let escalations: Vec<_> = now
        .history
        .iter()
        .filter(|e| e.kind == "approval_escalated")
        .collect();
    assert!(escalations.len() >= 2, "{escalations:?}");
    let shown = escalations[1].detail["url"].as_str().unwrap();
    assert!(shown.ends_with("/…") && !shown.contains("/hook"), "{shown}");
}

#[tokio::test]
async fn a_verdict_that_failed_closed_is_never_covered_by_a_standing_approval() {
    let w = world("").await;
    let a = &w.approvals;
    // Granted under "refunds" for this client, any arguments, 8 hours.
    let r = asked(a, "refund", json!({"amount": 120, "customer": "c1"})).await;
    a.decide(
        &r.id,
        "desktop:alice",
        always(StandingScope::AgentAction, Some(8)),
    )
    .await
    .unwrap();
    assert_eq!(
        asked(a, "refund", json!({"amount": 130, "customer": "c1"}))
            .await
            .state,
        ApprovalState::Allowed
    );
    // A proposal that makes the deny rule fail to evaluate (a missing amount is caught by the
    // schema, so the policies see a text instead) still asks a human, and grants nothing.
    let w2 = world("[actions.loose]\ndescription = \"l\"\nrisk = \"high\"\nexecutor = \"external\"\n[[policies]]\nname = \"big loose\"\naction = \"loose\"\nwhen = \"amount > 10\"\ndecision = \"deny\"\n[[policies]]\nname = \"loose\"\naction = \"loose\"\ndecision = \"require_approval\"\n").await;
    let b = &w2.approvals;
    let first = asked(b, "loose", json!({"amount": 1})).await;
    b.decide(
        &first.id,
        "desktop:alice",
        always(StandingScope::AgentAction, Some(8)),
    )
    .await
    .unwrap();
    let sneaky = asked(b, "loose", json!({"amount": "100000"})).await;
    assert_eq!(
        sneaky.state,
        ApprovalState::Pending,
        "the standing approval does not cover a failed-closed verdict"
    );
    assert_eq!(sneaky.on_timeout, settings::OnTimeout::Reject);
    let e = b
        .decide(
            &sneaky.id,
            "desktop:alice",
            always(StandingScope::ExactArguments, None),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("grants no standing approval"), "{e}");
    // And clients elsewhere cannot ask for this node's MCP tools.
    let e = b
        .request("token:agent", ask("mcp:files:delete", json!({})))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("MCP server"), "{e}");
}
