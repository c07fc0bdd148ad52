//! The approvals tables (`approval_requests`, `approval_votes`, `standing_approvals`) and
//! every change to them, each inside the caller's write transaction together with its audit
//! entry, its feed event and (for an agent's request) the task's state change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::diff::{Change, canonical, diff};
use super::policy::{Proposer, Verdict};
use super::settings::{Decision, OnTimeout, Risk, glob};
use super::{
    ApprovalError, ApprovalEvent, ApprovalEventKind, DecisionInput, StandingScope, VoteDecision,
};
use crate::audit::{self, AuditEntry, AuditKind, NewEntry};
use crate::config::Config;
use crate::events::Event;
use crate::store::values::{json_to_db, time_from_db, time_to_db};
use crate::store::{Db, StoreError, WriteTx};

/// `<prefix>_<32 hex>`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    Approved,
    Rejected,
    /// No decision in time: the rule's timeout action rejected it (an `approve` timeout
    /// gives `approved`, decided by `system:sla`).
    Expired,
    /// A rule (or a standing approval) allowed it at once.
    Allowed,
    /// A rule denied it at once.
    Denied,
}

impl ApprovalState {
    pub const ALL: [ApprovalState; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Expired,
        Self::Allowed,
        Self::Denied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Allowed => "allowed",
            Self::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The action may run.
    pub fn runs(self) -> bool {
        matches!(self, Self::Approved | Self::Allowed)
    }
}

/// An edit of the arguments by an approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Edit {
    pub actor: String,
    pub at: DateTime<Utc>,
    pub changes: Vec<Change>,
}

/// A request as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRequest {
    pub id: String,
    /// Where it stands: `pending`, `approved`, `rejected`, `expired`, `allowed`, `denied`.
    #[serde(rename = "status")]
    pub state: ApprovalState,
    pub action: String,
    pub description: String,
    /// The model-facing tool name (own agents).
    pub tool: Option<String>,
    /// As proposed.
    pub arguments: Value,
    /// As approved, when an approver edited them (else the proposed ones apply).
    pub final_arguments: Option<Value>,
    pub edits: Vec<Edit>,
    pub rationale: Option<String>,
    pub risk: Risk,
    /// `agent:<name>` or a client's actor.
    pub proposer: String,
    pub agent: Option<String>,
    /// The task (its conversation: `GET /api/v1/tasks/{id}/steps`).
    pub task_id: Option<String>,
    /// The rule that decided (or required a decision) and why.
    pub rule: String,
    pub why: String,
    /// Who may decide (empty: anyone with the operate scope but the proposer).
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Approvals so far (of the current arguments).
    pub approvals: u32,
    pub sla_due: Option<DateTime<Utc>>,
    pub on_timeout: OnTimeout,
    /// A rejection's, an expiry's or the rule's reason.
    pub reason: Option<String>,
    pub decided_by: Vec<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    /// Steps of the escalation chain done.
    pub escalation_step: u32,
    pub callback_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApprovalRequest {
    /// The arguments the action runs with.
    pub fn effective_arguments(&self) -> &Value {
        self.final_arguments.as_ref().unwrap_or(&self.arguments)
    }
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Vote {
    pub actor: String,
    pub decision: VoteDecision,
    pub reason: Option<String>,
    pub arguments: Option<Value>,
    /// Votes count within a round; an edit starts the next one.
    pub round: u32,
    pub at: DateTime<Utc>,
}

/// A request with its votes, full verdict and audit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestDetail {
    pub request: ApprovalRequest,
    pub votes: Vec<Vote>,
    pub verdict: Verdict,
    pub history: Vec<AuditEntry>,
}

/// A standing approval: a visible, revocable rule with its author and expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StandingApproval {
    pub id: String,
    pub action: String,
    pub scope: StandingScope,
    /// For this agent's proposals...
    pub agent: Option<String>,
    /// ...or this proposer's (a client).
    pub proposer: Option<String>,
    /// `exact_arguments`: these and no others.
    pub arguments: Option<Value>,
    pub author: String,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    /// The rule whose requests it stands in for: a stricter rule's requests still ask.
    pub rule: String,
}

/// A request to create.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub id: String,
    pub action: String,
    pub description: String,
    pub tool: Option<String>,
    pub arguments: Value,
    pub rationale: Option<String>,
    pub risk: Risk,
    pub proposer: String,
    pub agent: Option<String>,
    pub task_id: Option<String>,
    pub step_key: Option<String>,
    pub callback_url: Option<String>,
    pub verdict: Verdict,
    /// The standing approval that allows it.
    pub standing: Option<String>,
}

impl NewRequest {
    /// A stand-in for a request that exists (parking again on it creates nothing).
    pub fn existing(r: &ApprovalRequest) -> Self {
        Self {
            id: r.id.clone(),
            action: r.action.clone(),
            description: r.description.clone(),
            tool: r.tool.clone(),
            arguments: r.arguments.clone(),
            rationale: r.rationale.clone(),
            risk: r.risk,
            proposer: r.proposer.clone(),
            agent: r.agent.clone(),
            task_id: r.task_id.clone(),
            step_key: None,
            callback_url: r.callback_url.clone(),
            verdict: Verdict {
                decision: Decision::RequireApproval,
                rule: r.rule.clone(),
                rule_index: None,
                reason: r.why.clone(),
                risk: r.risk,
                approvers: r.approvers.clone(),
                quorum: r.quorum,
                sla_secs: 0,
                on_timeout: r.on_timeout,
                failed_closed: false,
                trace: Vec::new(),
            },
            standing: None,
        }
    }
}

const COLUMNS: &str = "id, state, action, description, tool, arguments, final_arguments, edits, \
    rationale, risk, proposer, agent, task_id, verdict, approvers, quorum, sla_due, on_timeout, \
    reason, decided_by, decided_at, warned_at, escalation_step, callback_url, created_at, \
    updated_at, (SELECT COUNT(*) FROM approval_votes v WHERE v.request_id = approval_requests.id \
      AND v.decision = 'approve' AND v.round = json_array_length(COALESCE(approval_requests.edits, '[]')))";

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, col: usize) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn opt_time(v: Option<i64>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    v.map(time_from_db).transpose()
}

fn request_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApprovalRequest, Verdict)> {
    let verdict: Verdict = parse_json(&r.get::<_, String>(13)?, 13)?;
    let state: String = r.get(1)?;
    let risk: String = r.get(9)?;
    let on_timeout: String = r.get(17)?;
    let bad = |col: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unknown {what}").into(),
        )
    };
    let request = ApprovalRequest {
        id: r.get(0)?,
        state: ApprovalState::parse(&state).ok_or_else(|| bad(1, "state"))?,
        action: r.get(2)?,
        description: r.get(3)?,
        tool: r.get(4)?,
        arguments: parse_json(&r.get::<_, String>(5)?, 5)?,
        final_arguments: r
            .get::<_, Option<String>>(6)?
            .map(|t| parse_json(&t, 6))
            .transpose()?,
        edits: r
            .get::<_, Option<String>>(7)?
            .map(|t| parse_json(&t, 7))
            .transpose()?
            .unwrap_or_default(),
        rationale: r.get(8)?,
        risk: Risk::parse(&risk).ok_or_else(|| bad(9, "risk"))?,
        proposer: r.get(10)?,
        agent: r.get(11)?,
        task_id: r.get(12)?,
        rule: verdict.rule.clone(),
        why: verdict.reason.clone(),
        approvers: parse_json(&r.get::<_, String>(14)?, 14)?,
        quorum: u32::try_from(r.get::<_, i64>(15)?).unwrap_or(1),
        sla_due: opt_time(r.get(16)?)?,
        on_timeout: if on_timeout == "approve" {
            OnTimeout::Approve
        } else {
            OnTimeout::Reject
        },
        reason: r.get(18)?,
        decided_by: r
            .get::<_, Option<String>>(19)?
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        decided_at: opt_time(r.get(20)?)?,
        warned_at: opt_time(r.get(21)?)?,
        escalation_step: u32::try_from(r.get::<_, i64>(22)?).unwrap_or(0),
        callback_url: r.get(23)?,
        created_at: time_from_db(r.get(24)?)?,
        updated_at: time_from_db(r.get(25)?)?,
        approvals: u32::try_from(r.get::<_, i64>(26)?).unwrap_or(0),
    };
    Ok((request, verdict))
}

pub fn get_opt(db: &Db<'_>, id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
    Ok(db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM approval_requests WHERE id = ?1"),
            [id],
            request_of,
        )?
        .map(|(r, _)| r))
}

fn must_get(db: &Db<'_>, id: &str) -> Result<(ApprovalRequest, Verdict), ApprovalError> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM approval_requests WHERE id = ?1"),
        [id],
        request_of,
    )?
    .ok_or_else(|| ApprovalError::NotFound(id.to_string()))
}

pub fn by_step_key(db: &Db<'_>, key: &str) -> Result<Option<ApprovalRequest>, StoreError> {
    Ok(db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM approval_requests WHERE step_key = ?1"),
            [key],
            request_of,
        )?
        .map(|(r, _)| r))
}

/// Appends `r`'s event of `kind` (with `message`) in `tx`.
pub(crate) fn event(
    tx: &mut WriteTx<'_>,
    r: &ApprovalRequest,
    kind: ApprovalEventKind,
    message: Option<String>,
) -> Result<(), StoreError> {
    tx.append_event(Event::Approvals(ApprovalEvent {
        id: r.id.clone(),
        kind,
        state: r.state,
        action: r.action.clone(),
        risk: r.risk,
        agent: r.agent.clone(),
        message,
    }))?;
    Ok(())
}

/// Creates `new` (state from its verdict) with its audit entry and event. `warn_before`
/// sets the first SLA check.
pub fn create(
    tx: &mut WriteTx<'_>,
    new: &NewRequest,
    warn_before: std::time::Duration,
) -> Result<ApprovalRequest, ApprovalError> {
    let now = tx.now();
    let (state, reason) = match (new.verdict.decision, &new.standing) {
        (Decision::Deny, _) => (ApprovalState::Denied, Some(new.verdict.reason.clone())),
        (Decision::Allow, _) => (ApprovalState::Allowed, Some(new.verdict.reason.clone())),
        (Decision::RequireApproval, Some(s)) => (
            ApprovalState::Allowed,
            Some(format!("standing approval {s}")),
        ),
        (Decision::RequireApproval, None) => (ApprovalState::Pending, None),
    };
    let (sla_due, next_check) = if state == ApprovalState::Pending {
        let sla = chrono::Duration::seconds(
            i64::try_from(new.verdict.sla_secs).unwrap_or(i64::MAX / 2_000),
        );
        let due = now + sla;
        let warn = chrono::Duration::from_std(warn_before).unwrap_or(chrono::Duration::zero());
        let first = if due - warn > now { due - warn } else { due };
        (Some(time_to_db(due)), Some(time_to_db(first)))
    } else {
        (None, None)
    };
    let decided_at = (state != ApprovalState::Pending).then(|| time_to_db(now));
    let seq: i64 = tx.query_one(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM approval_requests",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO approval_requests (id, seq, action, description, tool, arguments, rationale, \
           risk, proposer, agent, task_id, step_key, callback_url, verdict, approvers, quorum, \
           sla_due, on_timeout, state, reason, decided_by, decided_at, next_check_at, \
           callback_state, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
           ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?25)",
        rusqlite::params![
            new.id,
            seq,
            new.action,
            new.description,
            new.tool,
            json_to_db(&new.arguments)?,
            new.rationale,
            new.risk.as_str(),
            new.proposer,
            new.agent,
            new.task_id,
            new.step_key,
            new.callback_url,
            json_to_db(&new.verdict)?,
            json_to_db(&new.verdict.approvers)?,
            new.verdict.quorum,
            sla_due,
            match new.verdict.on_timeout {
                OnTimeout::Reject => "reject",
                OnTimeout::Approve => "approve",
            },
            state.as_str(),
            reason,
            (state != ApprovalState::Pending).then_some(if new.standing.is_some() {
                "standing"
            } else {
                "policy"
            }),
            decided_at,
            next_check,
            (state != ApprovalState::Pending && new.callback_url.is_some()).then_some("pending"),
            time_to_db(now),
        ],
    )?;
    let kind = match state {
        ApprovalState::Pending => AuditKind::ApprovalRequested,
        ApprovalState::Denied => AuditKind::ActionDenied,
        _ => AuditKind::ActionAllowed,
    };
    audit::append(
        tx,
        &NewEntry::new(
            new.proposer.clone(),
            kind,
            new.id.clone(),
            json!({
                "action": new.action,
                "arguments": new.arguments,
                "rationale": new.rationale,
                "risk": new.risk,
                "task_id": new.task_id,
                "rule": new.verdict.rule,
                "why": new.verdict.reason,
                "failed_closed": new.verdict.failed_closed,
                "standing": new.standing,
            }),
        ),
    )?;
    let (r, _) = must_get(tx, &new.id)?;
    event(
        tx,
        &r,
        if state == ApprovalState::Pending {
            ApprovalEventKind::Requested
        } else {
            ApprovalEventKind::Decided
        },
        None,
    )?;
    Ok(r)
}

/// Whether `actor` may decide `r` (see [`super::Approvals::decide_as`] for `elevated`).
fn may_decide(r: &ApprovalRequest, actor: &str, elevated: bool) -> Result<(), ApprovalError> {
    if actor == r.proposer {
        return Err(ApprovalError::NotAnApprover(format!(
            "{actor} proposed request {} and cannot decide it",
            r.id
        )));
    }
    if r.approvers.is_empty() && !elevated {
        return Err(ApprovalError::NotAnApprover(format!(
            "request {}'s rule names no approvers: it is decided at the desktop, with the node's own token or an admin token, not by {actor} (a rule's `approvers` can name it)",
            r.id
        )));
    }
    if !r.approvers.is_empty() && !r.approvers.iter().any(|p| glob(p, actor)) {
        return Err(ApprovalError::NotAnApprover(format!(
            "{actor} is not an approver of request {} (approvers: {})",
            r.id,
            r.approvers.join(", ")
        )));
    }
    Ok(())
}

/// Ends `r` in `state` (a decision or a timeout): the row, the audit entry, the event, the
/// task back on the queue, the callback queued. Answers whether a task resumed.
pub(crate) fn finish(
    tx: &mut WriteTx<'_>,
    r: &ApprovalRequest,
    state: ApprovalState,
    reason: Option<&str>,
    deciders: &[String],
    audit_kind: AuditKind,
    actor: &str,
) -> Result<(ApprovalRequest, bool), ApprovalError> {
    let now = time_to_db(tx.now());
    tx.execute(
        "UPDATE approval_requests SET state = ?2, reason = COALESCE(?3, reason), decided_by = ?4, \
           decided_at = ?5, updated_at = ?5, next_check_at = NULL, \
           callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END \
         WHERE id = ?1",
        rusqlite::params![r.id, state.as_str(), reason, deciders.join(","), now],
    )?;
    let (done, _) = must_get(tx, &r.id)?;
    audit::append(
        tx,
        &NewEntry::new(
            actor,
            audit_kind,
            r.id.clone(),
            json!({
                "state": state,
                "reason": reason,
                "decided_by": deciders,
                "arguments": done.effective_arguments(),
                "task_id": r.task_id,
            }),
        ),
    )?;
    event(tx, &done, ApprovalEventKind::Decided, None)?;
    let resumed = match &r.task_id {
        Some(task) => crate::orchestrator::queue::resume_after_approval(tx, task)?,
        None => false,
    };
    Ok((done, resumed))
}

/// `actor`'s decision on request `id`. Answers the request and whether its task resumed.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    tx: &mut WriteTx<'_>,
    config: &Config,
    action: Option<&super::settings::ActionConfig>,
    id: &str,
    actor: &str,
    elevated: bool,
    input: &DecisionInput,
) -> Result<(ApprovalRequest, bool), ApprovalError> {
    let (r, verdict) = must_get(tx, id)?;
    if r.state != ApprovalState::Pending {
        return Err(ApprovalError::AlreadyDecided(Box::new(r)));
    }
    may_decide(&r, actor, elevated)?;
    let mut r = r;
    let now = tx.now();
    let round = r.edits.len();
    match input.decision {
        VoteDecision::Reject => {
            let reason = input
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or(ApprovalError::ReasonRequired)?;
            if input.arguments.is_some() || input.always.is_some() {
                return Err(ApprovalError::Invalid(
                    "a rejection takes a reason only (no arguments, no standing approval)".into(),
                ));
            }
            vote(
                tx,
                &r.id,
                actor,
                VoteDecision::Reject,
                Some(reason),
                None,
                round,
            )?;
            finish(
                tx,
                &r,
                ApprovalState::Rejected,
                Some(reason),
                &[actor.to_string()],
                AuditKind::ApprovalDecided,
                actor,
            )
        }
        VoteDecision::Approve => {
            if input.always.is_some() && verdict.failed_closed {
                return Err(ApprovalError::Invalid(format!(
                    "request {} was sent to a human because a rule could not be evaluated: it grants no standing approval",
                    r.id
                )));
            }
            if input.always.is_some() && r.quorum > 1 {
                return Err(ApprovalError::Invalid(format!(
                    "request {} needs {} approvers: one of them cannot grant a standing approval for it",
                    r.id, r.quorum
                )));
            }
            let mut round = round;
            let mut current = r.effective_arguments().clone();
            if let Some(edited) = &input.arguments
                && *edited != current
            {
                let action = action.ok_or_else(|| {
                    ApprovalError::Invalid(format!(
                        "the action {} is no longer declared: its arguments cannot be checked",
                        r.action
                    ))
                })?;
                let schema = action
                    .schema_value()
                    .map_err(|e| ApprovalError::Invalid(format!("the action's schema: {e}")))?;
                let errors = super::schema_errors(&schema, edited);
                if !errors.is_empty() {
                    return Err(ApprovalError::ArgumentsInvalid(errors));
                }
                // The edited arguments meet the policies again: a deny refuses the edit, and a
                // stricter rule's approvers and quorum take over from here.
                let who = match &r.agent {
                    Some(a) => Proposer::Agent(a.clone()),
                    None => Proposer::Client(r.proposer.clone()),
                };
                let again = super::policy::evaluate(config, &r.action, action, &who, edited);
                if again.decision == Decision::Deny {
                    return Err(ApprovalError::ArgumentsInvalid(vec![format!(
                        "the policies deny these arguments: {}",
                        again.reason
                    )]));
                }
                let stricter = again.decision == Decision::RequireApproval
                    && (again.quorum > r.quorum
                        || (!again.approvers.is_empty() && again.approvers != r.approvers));
                if stricter {
                    // The stricter rule binds from here: its approvers and quorum, the
                    // earlier SLA, and reject on timeout if either rule says so.
                    let mut tightened = r.clone();
                    tightened.approvers = again.approvers.clone();
                    tightened.quorum = again.quorum.max(r.quorum);
                    if again.on_timeout == OnTimeout::Reject {
                        tightened.on_timeout = OnTimeout::Reject;
                    }
                    let due = now
                        + chrono::Duration::seconds(
                            i64::try_from(again.sla_secs).unwrap_or(i64::MAX / 2_000),
                        );
                    tightened.sla_due = Some(tightened.sla_due.map_or(due, |d| d.min(due)));
                    may_decide(&tightened, actor, elevated)?;
                    tx.execute(
                        "UPDATE approval_requests SET approvers = ?2, quorum = ?3, verdict = ?4, \
                           on_timeout = ?5, sla_due = ?6, \
                           next_check_at = MIN(COALESCE(next_check_at, ?6), ?6) WHERE id = ?1",
                        rusqlite::params![
                            r.id,
                            json_to_db(&tightened.approvers)?,
                            tightened.quorum,
                            json_to_db(&again)?,
                            match tightened.on_timeout {
                                OnTimeout::Reject => "reject",
                                OnTimeout::Approve => "approve",
                            },
                            tightened.sla_due.map(time_to_db)
                        ],
                    )?;
                    r = tightened;
                }
                let changes = diff(&current, edited);
                let mut edits = r.edits.clone();
                edits.push(Edit {
                    actor: actor.to_string(),
                    at: now,
                    changes: changes.clone(),
                });
                tx.execute(
                    "UPDATE approval_requests SET final_arguments = ?2, edits = ?3, updated_at = ?4 WHERE id = ?1",
                    rusqlite::params![r.id, json_to_db(edited)?, json_to_db(&edits)?, time_to_db(now)],
                )?;
                audit::append(
                    tx,
                    &NewEntry::new(
                        actor,
                        AuditKind::ApprovalEdited,
                        r.id.clone(),
                        json!({"changes": changes, "arguments": edited}),
                    ),
                )?;
                round = edits.len();
                current = edited.clone();
            }
            vote(
                tx,
                &r.id,
                actor,
                VoteDecision::Approve,
                input.reason.as_deref(),
                input.arguments.as_ref(),
                round,
            )?;
            let voters: Vec<String> = tx.query_all(
                "SELECT actor FROM approval_votes WHERE request_id = ?1 AND round = ?2 \
                   AND decision = 'approve' ORDER BY at, actor",
                rusqlite::params![r.id, i64::try_from(round).unwrap_or(0)],
                |row| row.get(0),
            )?;
            if u32::try_from(voters.len()).unwrap_or(u32::MAX) >= r.quorum {
                let done = finish(
                    tx,
                    &r,
                    ApprovalState::Approved,
                    input.reason.as_deref(),
                    &voters,
                    AuditKind::ApprovalDecided,
                    actor,
                )?;
                // Only a request that is approved in full grants a standing approval.
                if let Some(grant) = &input.always {
                    grant_standing(tx, &r, grant, &current, actor)?;
                }
                Ok(done)
            } else {
                audit::append(
                    tx,
                    &NewEntry::new(
                        actor,
                        AuditKind::ApprovalVoted,
                        r.id.clone(),
                        json!({"approvals": voters.len(), "quorum": r.quorum}),
                    ),
                )?;
                tx.execute(
                    "UPDATE approval_requests SET updated_at = ?2 WHERE id = ?1",
                    rusqlite::params![r.id, time_to_db(now)],
                )?;
                let (after, _) = must_get(tx, &r.id)?;
                event(tx, &after, ApprovalEventKind::Voted, None)?;
                Ok((after, false))
            }
        }
    }
}

fn vote(
    tx: &WriteTx<'_>,
    id: &str,
    actor: &str,
    decision: VoteDecision,
    reason: Option<&str>,
    arguments: Option<&Value>,
    round: usize,
) -> Result<(), ApprovalError> {
    let exists: Option<i64> = tx.query_opt(
        "SELECT 1 FROM approval_votes WHERE request_id = ?1 AND round = ?2 AND actor = ?3",
        rusqlite::params![id, i64::try_from(round).unwrap_or(0), actor],
        |r| r.get(0),
    )?;
    if exists.is_some() {
        return Err(ApprovalError::AlreadyVoted {
            id: id.to_string(),
            actor: actor.to_string(),
        });
    }
    tx.execute(
        "INSERT INTO approval_votes (request_id, actor, decision, reason, arguments, round, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![
            id,
            actor,
            decision.as_str(),
            reason,
            arguments.map(json_to_db).transpose()?,
            i64::try_from(round).unwrap_or(0),
            time_to_db(tx.now())
        ],
    )?;
    Ok(())
}

fn args_hash(args: &Value) -> String {
    hex::encode(Sha256::digest(canonical(args).as_bytes()))
}

fn grant_standing(
    tx: &mut WriteTx<'_>,
    r: &ApprovalRequest,
    grant: &super::StandingGrant,
    args: &Value,
    author: &str,
) -> Result<(), ApprovalError> {
    let hours = match (grant.scope, grant.hours) {
        (StandingScope::AgentAction, None) => {
            return Err(ApprovalError::Invalid(
                "a standing approval for an agent and action needs `hours` (1 to 720)".into(),
            ));
        }
        (_, Some(h)) if !(1..=720).contains(&h) => {
            return Err(ApprovalError::Invalid(
                "`hours` is between 1 and 720".into(),
            ));
        }
        (_, h) => h,
    };
    if r.risk == Risk::Critical && grant.scope == StandingScope::AgentAction {
        return Err(ApprovalError::Invalid(
            "critical actions get no blanket standing approval; approve exact arguments instead"
                .into(),
        ));
    }
    let now = tx.now();
    let expires = hours.map(|h| time_to_db(now + chrono::Duration::hours(i64::from(h))));
    let id = new_id("sta");
    let (hash, stored_args) = match grant.scope {
        StandingScope::ExactArguments => (Some(args_hash(args)), Some(json_to_db(args)?)),
        StandingScope::AgentAction => (None, None),
    };
    tx.execute(
        "INSERT INTO standing_approvals (id, action, agent, proposer, arguments_hash, arguments, \
           author, request_id, created_at, expires_at, rule) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            id,
            r.action,
            r.agent,
            r.proposer,
            hash,
            stored_args,
            author,
            r.id,
            time_to_db(now),
            expires,
            r.rule
        ],
    )?;
    audit::append(
        tx,
        &NewEntry::new(
            author,
            AuditKind::StandingApprovalCreated,
            id.clone(),
            json!({
                "action": r.action, "proposer": r.proposer, "scope": grant.scope,
                "arguments": (grant.scope == StandingScope::ExactArguments).then_some(args),
                "hours": hours, "request_id": r.id,
            }),
        ),
    )?;
    tx.append_event(Event::Approvals(ApprovalEvent {
        id,
        kind: ApprovalEventKind::StandingChanged,
        state: r.state,
        action: r.action.clone(),
        risk: r.risk,
        agent: r.agent.clone(),
        message: None,
    }))?;
    Ok(())
}

const STANDING_COLUMNS: &str = "id, action, agent, proposer, arguments_hash, arguments, author, \
    request_id, created_at, expires_at, revoked_at, revoked_by, rule";

fn standing_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<StandingApproval> {
    let hash: Option<String> = r.get(4)?;
    Ok(StandingApproval {
        id: r.get(0)?,
        action: r.get(1)?,
        scope: if hash.is_some() {
            StandingScope::ExactArguments
        } else {
            StandingScope::AgentAction
        },
        agent: r.get(2)?,
        proposer: r.get(3)?,
        arguments: r
            .get::<_, Option<String>>(5)?
            .map(|t| parse_json(&t, 5))
            .transpose()?,
        author: r.get(6)?,
        request_id: r.get(7)?,
        created_at: time_from_db(r.get(8)?)?,
        expires_at: opt_time(r.get(9)?)?,
        revoked_at: opt_time(r.get(10)?)?,
        revoked_by: r.get(11)?,
        rule: r.get(12)?,
    })
}

/// The standing approval in force now that allows `action` by `who` with `args`, under the
/// rule `rule` (the one that requires the decision now).
pub fn standing_for(
    db: &Db<'_>,
    action: &str,
    who: &Proposer,
    args: &Value,
    rule: &str,
    now: DateTime<Utc>,
) -> Result<Option<StandingApproval>, StoreError> {
    db.query_opt(
        &format!(
            "SELECT {STANDING_COLUMNS} FROM standing_approvals WHERE action = ?1 AND proposer = ?2 \
               AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?3) \
               AND (arguments_hash IS NULL OR arguments_hash = ?4) AND rule = ?5 \
             ORDER BY created_at LIMIT 1"
        ),
        rusqlite::params![action, who.label(), time_to_db(now), args_hash(args), rule],
        standing_of,
    )
}

pub fn standing_list(
    db: &Db<'_>,
    include_inactive: bool,
    now: DateTime<Utc>,
) -> Result<Vec<StandingApproval>, StoreError> {
    db.query_all(
        &format!(
            "SELECT {STANDING_COLUMNS} FROM standing_approvals WHERE ?1 \
               OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)) \
             ORDER BY created_at DESC LIMIT 1000"
        ),
        rusqlite::params![include_inactive, time_to_db(now)],
        standing_of,
    )
}

pub fn revoke_standing(
    tx: &mut WriteTx<'_>,
    id: &str,
    actor: &str,
) -> Result<StandingApproval, ApprovalError> {
    let found = tx.query_opt(
        &format!("SELECT {STANDING_COLUMNS} FROM standing_approvals WHERE id = ?1"),
        [id],
        standing_of,
    )?;
    let Some(s) = found else {
        return Err(ApprovalError::StandingNotFound(id.to_string()));
    };
    if s.revoked_at.is_some() {
        return Ok(s);
    }
    tx.execute(
        "UPDATE standing_approvals SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1",
        rusqlite::params![id, time_to_db(tx.now()), actor],
    )?;
    audit::append(
        tx,
        &NewEntry::new(
            actor,
            AuditKind::StandingApprovalRevoked,
            id,
            json!({"action": s.action, "proposer": s.proposer}),
        ),
    )?;
    tx.append_event(Event::Approvals(ApprovalEvent {
        id: id.to_string(),
        kind: ApprovalEventKind::StandingChanged,
        state: ApprovalState::Approved,
        action: s.action.clone(),
        risk: Risk::Low,
        agent: s.agent.clone(),
        message: None,
    }))?;
    tx.query_one(
        &format!("SELECT {STANDING_COLUMNS} FROM standing_approvals WHERE id = ?1"),
        [id],
        standing_of,
    )
    .map_err(Into::into)
}

/// The pending requests of a task that will not resume (cancelled): expired with `reason`.
pub fn close_for_task(
    tx: &mut WriteTx<'_>,
    task_id: &str,
    reason: &str,
) -> Result<(), crate::orchestrator::QueueError> {
    let ids: Vec<String> = tx.query_all(
        "SELECT id FROM approval_requests WHERE task_id = ?1 AND state = 'pending'",
        [task_id],
        |r| r.get(0),
    )?;
    for id in ids {
        let (r, _) = match must_get(tx, &id) {
            Ok(found) => found,
            Err(ApprovalError::Store(e)) => return Err(e.into()),
            // A row this build cannot read is still closed below; its event is skipped.
            Err(_) => {
                tracing::warn!(request = %id, "an approval request of a cancelled task could not be read");
                let now = time_to_db(tx.now());
                tx.execute(
                    "UPDATE approval_requests SET state = 'expired', reason = ?2, \
                       decided_by = 'system:task', decided_at = ?3, updated_at = ?3, \
                       next_check_at = NULL WHERE id = ?1",
                    rusqlite::params![id, reason, now],
                )?;
                continue;
            }
        };
        let now = time_to_db(tx.now());
        tx.execute(
            "UPDATE approval_requests SET state = 'expired', reason = ?2, decided_by = 'system:task', \
               decided_at = ?3, updated_at = ?3, next_check_at = NULL WHERE id = ?1",
            rusqlite::params![id, reason, now],
        )?;
        audit::append(
            tx,
            &NewEntry::new(
                "system:task",
                AuditKind::ApprovalExpired,
                id.clone(),
                json!({"reason": reason, "task_id": task_id}),
            ),
        )?;
        let mut done = r;
        done.state = ApprovalState::Expired;
        tx.append_event(Event::Approvals(ApprovalEvent {
            id: done.id.clone(),
            kind: ApprovalEventKind::Decided,
            state: done.state,
            action: done.action.clone(),
            risk: done.risk,
            agent: done.agent.clone(),
            message: None,
        }))?;
    }
    Ok(())
}

/// Which requests [`list`] answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ApprovalFilter {
    #[serde(rename = "status")]
    pub state: Option<ApprovalState>,
    pub risk: Option<Risk>,
    pub action: Option<String>,
    pub agent: Option<String>,
    pub task_id: Option<String>,
}

/// Where a request stands in the inbox order (a list cursor): pending first (`0`), by risk
/// (critical `0` … low `3`), then by SLA due (soonest first); then the decided ones, newest
/// first; the newest first among equals.
pub type InboxKey = [i64; 4];

/// Pending requests first (by risk, highest first, then by SLA due, soonest first: overdue
/// first), then the decided ones, newest first; after `after` (a keyset cursor: a request
/// decided between two pages moves behind the cursor, so nothing is skipped).
pub fn list(
    db: &Db<'_>,
    f: &ApprovalFilter,
    after: Option<InboxKey>,
    limit: usize,
) -> Result<Vec<(InboxKey, ApprovalRequest)>, StoreError> {
    let rows = db.query_all(
        &format!(
            "SELECT * FROM (SELECT {COLUMNS}, \
               CASE WHEN state = 'pending' THEN 0 ELSE 1 END AS k1, \
               CASE WHEN state = 'pending' THEN CASE risk WHEN 'critical' THEN 0 WHEN 'high' THEN 1 \
                 WHEN 'medium' THEN 2 ELSE 3 END ELSE 0 END AS k2, \
               CASE WHEN state = 'pending' THEN COALESCE(sla_due, 9007199254740991) ELSE -seq END AS k3, \
               -seq AS k4 \
             FROM approval_requests WHERE (?1 IS NULL OR state = ?1) \
               AND (?2 IS NULL OR risk = ?2) AND (?3 IS NULL OR action = ?3) \
               AND (?4 IS NULL OR agent = ?4) AND (?5 IS NULL OR task_id = ?5)) \
             WHERE ?6 IS NULL OR (k1, k2, k3, k4) > (?6, ?7, ?8, ?9) \
             ORDER BY k1, k2, k3, k4 LIMIT ?10"
        ),
        rusqlite::params![
            f.state.map(ApprovalState::as_str),
            f.risk.map(Risk::as_str),
            f.action,
            f.agent,
            f.task_id,
            after.map(|k| k[0]),
            after.map(|k| k[1]),
            after.map(|k| k[2]),
            after.map(|k| k[3]),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        |r| {
            let (request, _) = request_of(r)?;
            Ok(([r.get(27)?, r.get(28)?, r.get(29)?, r.get(30)?], request))
        },
    )?;
    Ok(rows)
}

pub fn detail(db: &Db<'_>, id: &str) -> Result<RequestDetail, ApprovalError> {
    let (request, verdict) = must_get(db, id)?;
    let votes = db.query_all(
        "SELECT actor, decision, reason, arguments, round, at FROM approval_votes \
         WHERE request_id = ?1 ORDER BY at, actor",
        [id],
        |r| {
            Ok(Vote {
                actor: r.get(0)?,
                decision: if r.get::<_, String>(1)? == "reject" {
                    VoteDecision::Reject
                } else {
                    VoteDecision::Approve
                },
                reason: r.get(2)?,
                arguments: r
                    .get::<_, Option<String>>(3)?
                    .map(|t| parse_json(&t, 3))
                    .transpose()?,
                round: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                at: time_from_db(r.get(5)?)?,
            })
        },
    )?;
    let mut history = audit::list(
        db,
        &audit::AuditFilter {
            subject: Some(id.to_string()),
            ..Default::default()
        },
        200,
    )?;
    history.reverse();
    Ok(RequestDetail {
        request,
        votes,
        verdict,
        history,
    })
}

/// SLA figures (`GET /api/v1/approvals/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalStats {
    /// Pending requests by risk.
    pub pending: std::collections::BTreeMap<String, u64>,
    /// Pending requests past their SLA.
    pub overdue: u64,
    /// Time from request to a human decision, over the last 1,000 decided requests.
    pub time_to_decision_p50_secs: Option<f64>,
    pub time_to_decision_p95_secs: Option<f64>,
    /// Requests decided after their SLA, or by the timeout action.
    pub breaches: u64,
    /// Requests decided by the timeout action.
    pub auto_decisions: u64,
}

/// What happened to approval requests in a period (reports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodStats {
    /// Requests made in the period.
    pub requested: u64,
    /// Decisions made in the period, by final state (approved, rejected, expired, allowed,
    /// denied).
    pub decided: std::collections::BTreeMap<String, u64>,
    /// Requests made in the period, by risk.
    pub by_risk: std::collections::BTreeMap<String, u64>,
    /// Decided after their SLA, or by the timeout action, in the period.
    pub breaches: u64,
    /// Median and 95th percentile time to a human decision in the period.
    pub time_to_decision_p50_secs: Option<f64>,
    pub time_to_decision_p95_secs: Option<f64>,
    /// Still pending at the period's end among those made in it.
    pub pending_at_end: u64,
}

/// [`PeriodStats`] of `[from, until)`.
pub fn period_stats(
    db: &Db<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<PeriodStats, StoreError> {
    let (f, u) = (time_to_db(from), time_to_db(until));
    let count = |rows: Vec<(String, i64)>| {
        rows.into_iter()
            .map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let by_risk = count(db.query_all(
        "SELECT risk, COUNT(*) FROM approval_requests WHERE created_at >= ?1 AND created_at < ?2          GROUP BY risk",
        [f, u],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?);
    let decided = count(db.query_all(
        "SELECT state, COUNT(*) FROM approval_requests WHERE decided_at >= ?1 AND decided_at < ?2          AND state <> 'pending' GROUP BY state",
        [f, u],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?);
    let mut waits: Vec<i64> = db.query_all(
        "SELECT decided_at - created_at FROM approval_requests WHERE decided_at >= ?1          AND decided_at < ?2 AND state IN ('approved', 'rejected') AND decided_by NOT LIKE 'system:%'",
        [f, u],
        |r| r.get(0),
    )?;
    waits.sort_unstable();
    let pct = |p: f64| -> Option<f64> {
        let rank = ((p * waits.len() as f64).ceil() as usize).clamp(1, waits.len().max(1));
        waits.get(rank - 1).map(|ms| *ms as f64 / 1000.0)
    };
    let breaches: i64 = db.query_one(
        "SELECT COUNT(*) FROM approval_requests WHERE decided_at >= ?1 AND decided_at < ?2          AND sla_due IS NOT NULL AND (decided_at > sla_due OR decided_by LIKE 'system:sla%')",
        [f, u],
        |r| r.get(0),
    )?;
    let pending: i64 = db.query_one(
        "SELECT COUNT(*) FROM approval_requests WHERE created_at >= ?1 AND created_at < ?2          AND (decided_at IS NULL OR decided_at >= ?2)",
        [f, u],
        |r| r.get(0),
    )?;
    Ok(PeriodStats {
        requested: by_risk.values().sum(),
        decided,
        by_risk,
        breaches: u64::try_from(breaches).unwrap_or(0),
        time_to_decision_p50_secs: pct(0.5),
        time_to_decision_p95_secs: pct(0.95),
        pending_at_end: u64::try_from(pending).unwrap_or(0),
    })
}

pub fn stats(db: &Db<'_>, now: DateTime<Utc>) -> Result<ApprovalStats, StoreError> {
    let mut pending = std::collections::BTreeMap::new();
    for r in Risk::ALL {
        pending.insert(r.as_str().to_string(), 0);
    }
    for (risk, n) in db.query_all(
        "SELECT risk, COUNT(*) FROM approval_requests WHERE state = 'pending' GROUP BY risk",
        [],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )? {
        pending.insert(risk, u64::try_from(n).unwrap_or(0));
    }
    let overdue: i64 = db.query_one(
        "SELECT COUNT(*) FROM approval_requests WHERE state = 'pending' AND sla_due < ?1",
        [time_to_db(now)],
        |r| r.get(0),
    )?;
    let mut waits: Vec<i64> = db.query_all(
        "SELECT decided_at - created_at FROM approval_requests \
         WHERE state IN ('approved', 'rejected') AND decided_by NOT LIKE 'system:%' \
         ORDER BY seq DESC LIMIT 1000",
        [],
        |r| r.get(0),
    )?;
    waits.sort_unstable();
    let pct = |p: f64| -> Option<f64> {
        if waits.is_empty() {
            return None;
        }
        let rank = ((p * waits.len() as f64).ceil() as usize).clamp(1, waits.len());
        waits.get(rank - 1).map(|ms| *ms as f64 / 1000.0)
    };
    let breaches: i64 = db.query_one(
        "SELECT COUNT(*) FROM approval_requests WHERE sla_due IS NOT NULL \
           AND decided_at IS NOT NULL AND (decided_at > sla_due OR decided_by LIKE 'system:sla%')",
        [],
        |r| r.get(0),
    )?;
    let auto: i64 = db.query_one(
        "SELECT COUNT(*) FROM approval_requests WHERE decided_by LIKE 'system:sla%'",
        [],
        |r| r.get(0),
    )?;
    Ok(ApprovalStats {
        pending,
        overdue: u64::try_from(overdue).unwrap_or(0),
        time_to_decision_p50_secs: pct(0.5),
        time_to_decision_p95_secs: pct(0.95),
        breaches: u64::try_from(breaches).unwrap_or(0),
        auto_decisions: u64::try_from(auto).unwrap_or(0),
    })
}
