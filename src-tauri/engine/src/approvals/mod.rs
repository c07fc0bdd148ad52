//! Approvals: the gate between a proposed action and its execution.
//!
//! An action (declared in `[actions.<name>]`, or a builtin) proposed by an own agent (as a
//! tool call) or by a client elsewhere (`POST /api/v1/approvals`) is validated against its
//! schema, then the policies decide (`policy.rs`): allow, deny, or a request for a human
//! decision, stored with its SLA (`store.rs`). An agent's task parks in `waiting_approval`
//! in the same transaction, holding no worker, and goes back to the queue in the
//! transaction that decides it. Decisions: approve (with edited arguments, re-validated, the
//! diff kept), reject with a reason (the agent gets it as the tool result), expire; a rule
//! may need N distinct approvers. Standing approvals let a decider say "always for these
//! arguments" or "this agent and action for N hours". `sla.rs` warns, escalates and applies
//! the timeout action on the engine clock; `execute.rs` runs allowed and approved actions at
//! most once per idempotency key. Every step is in the audit log, in its own transaction.
//!
//! Invariants: evaluation fails closed (an error means `require_approval`, never allow);
//! deny wins at equal precedence; a decided request never changes again (a second decision
//! gets 409 and the first); a request's task resumes only through its decision.

pub mod diff;
pub mod execute;
pub mod mcp;
pub mod policy;
pub mod predicate;
pub mod settings;
pub mod shell;
pub mod sla;
pub mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::ErrorCode;
use crate::clock::SharedClock;
use crate::config::{Config, ConfigHandle};
use crate::orchestrator::Lease;
use crate::secrets::SecretStore;
use crate::store::{Store, StoreError};
pub use policy::{Proposer, Verdict};
pub use settings::{Decision, Risk};
pub use store::{
    ApprovalFilter, ApprovalRequest, ApprovalState, ApprovalStats, RequestDetail, StandingApproval,
    Vote,
};

/// What changed, on the `approvals` feed topic (in the transaction of the change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalEvent {
    pub id: String,
    pub kind: ApprovalEventKind,
    #[serde(rename = "status")]
    pub state: ApprovalState,
    pub action: String,
    pub risk: Risk,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// For `notify`: the text to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalEventKind {
    /// A request is waiting for a decision.
    Requested,
    /// An approver voted; more are needed.
    Voted,
    Decided,
    /// The SLA is close.
    Warned,
    /// The SLA passed; a step of the escalation chain ran (`message` says which).
    Escalated,
    /// A `builtin:notify` action or an escalation's desktop step: show it.
    Notify,
    StandingChanged,
}

/// What went wrong, each with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval request {0}")]
    NotFound(String),
    #[error("no action named {0:?} (actions: {1})")]
    UnknownAction(String, String),
    #[error("the arguments do not match the action's schema: {}", .0.join("; "))]
    ArgumentsInvalid(Vec<String>),
    #[error("request {} is {} already", .0.id, .0.state.as_str())]
    AlreadyDecided(Box<ApprovalRequest>),
    #[error("{actor} has already voted on request {id}")]
    AlreadyVoted { id: String, actor: String },
    #[error("{0}")]
    NotAnApprover(String),
    #[error("a rejection needs a reason (it is given to the agent)")]
    ReasonRequired,
    #[error("{0}")]
    Invalid(String),
    #[error("no standing approval {0}")]
    StandingNotFound(String),
    /// An MCP server could not be reached or listed.
    #[error("{0}")]
    Mcp(String),
    #[error(transparent)]
    Queue(#[from] crate::orchestrator::QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) | Self::StandingNotFound(_) => ErrorCode::NotFound,
            Self::UnknownAction(..) => ErrorCode::UnknownAction,
            Self::ArgumentsInvalid(_) => ErrorCode::ArgumentsInvalid,
            Self::AlreadyDecided(_) => ErrorCode::AlreadyDecided,
            Self::AlreadyVoted { .. } => ErrorCode::Conflict,
            Self::NotAnApprover(_) => ErrorCode::NotAnApprover,
            Self::ReasonRequired => ErrorCode::ReasonRequired,
            Self::Invalid(_) => ErrorCode::BadRequest,
            Self::Mcp(_) => ErrorCode::Unavailable,
            Self::Queue(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

/// A request from a client elsewhere (`POST /api/v1/approvals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApproval {
    /// An action type of `[actions]`.
    pub action: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// Why the agent wants it (shown to the approver).
    #[serde(default)]
    pub rationale: Option<String>,
    /// Where to POST the decision (https, or http to loopback), signed with
    /// `[approvals] callback_secret` when set.
    #[serde(default)]
    pub callback_url: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A decision (`POST /api/v1/approvals/{id}/decision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub decision: VoteDecision,
    /// Required to reject (the agent gets it); optional note otherwise.
    #[serde(default)]
    pub reason: Option<String>,
    /// Approve these arguments instead of the proposed ones (re-validated; the diff is kept).
    #[serde(default)]
    pub arguments: Option<Value>,
    /// With approve: also allow the same from now on (see [`StandingScope`]).
    #[serde(default)]
    pub always: Option<StandingGrant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteDecision {
    Approve,
    Reject,
}

impl VoteDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A standing approval granted with a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StandingGrant {
    pub scope: StandingScope,
    /// For `agent_action`: how long (1 to 720 hours). For `exact_arguments`: optional.
    #[serde(default)]
    pub hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandingScope {
    /// The same action with exactly these arguments, from the same proposer.
    ExactArguments,
    /// The same action from the same agent (or client), any arguments, for `hours`.
    AgentAction,
}

/// What `explain` answers: which rule matches and why, without creating anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    pub action: String,
    pub risk: Risk,
    /// Schema errors (the proposal would be refused before any policy runs).
    pub schema_errors: Vec<String>,
    /// `None` when the arguments are invalid.
    pub verdict: Option<Verdict>,
    /// A standing approval that would allow it.
    pub standing: Option<StandingApproval>,
    /// What would happen: allowed, denied, pending (a request), invalid.
    pub outcome: String,
}

/// A proposal to explain (`POST /api/v1/policies/explain`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    pub action: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// As this own agent (else as the caller, a client).
    #[serde(default)]
    pub agent: Option<String>,
    /// As this client actor (`token:ci`).
    #[serde(default)]
    pub client: Option<String>,
}

/// What the gate says about an agent's tool call.
#[derive(Debug)]
pub enum Gate {
    /// Run it with these arguments.
    Run {
        arguments: Value,
        request_id: Option<String>,
    },
    /// Do not run it; give the model this as the tool result (an error).
    Refuse(String),
    /// A human decides: park the task with this request.
    Park(Box<store::NewRequest>),
}

/// An agent's tool call at the gate.
pub struct ToolCall<'a> {
    pub agent: &'a str,
    pub task_id: &'a str,
    /// `<task>:<round>:<step>`.
    pub key: &'a str,
    /// The action type (`refund`, `builtin:log`).
    pub action: &'a str,
    pub tool: &'a str,
    pub arguments: &'a str,
    pub rationale: Option<String>,
}

/// The approvals domain (`engine.approvals()`).
#[derive(Clone)]
pub struct Approvals {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ConfigHandle,
    clock: SharedClock,
    secrets: Option<SecretStore>,
    /// Notified after every change (long polls wait on it).
    changed: Notify,
    /// Wakes the SLA scheduler (a new request).
    scheduler: Notify,
    /// Wakes the task workers (a task resumed).
    workers: Option<Arc<Notify>>,
    metrics: Option<sla::ApprovalMetrics>,
    /// A callback delivery task runs.
    callbacks: std::sync::atomic::AtomicBool,
    /// Connections to the MCP servers of `[mcp]`.
    mcp: mcp::McpHub,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals").finish_non_exhaustive()
    }
}

/// Schema errors of `args` for `schema` (empty: valid).
pub fn schema_errors(schema: &Value, args: &Value) -> Vec<String> {
    match crate::agents::output::compile(schema) {
        Err(e) => vec![format!("the action's schema does not compile: {e}")],
        Ok(v) => v
            .iter_errors(args)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect(),
    }
}

impl Approvals {
    pub fn new(
        store: Store,
        config: ConfigHandle,
        clock: SharedClock,
        secrets: Option<SecretStore>,
        workers: Option<Arc<Notify>>,
        metrics: Option<sla::ApprovalMetrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                clock,
                secrets,
                changed: Notify::new(),
                scheduler: Notify::new(),
                workers,
                metrics,
                callbacks: std::sync::atomic::AtomicBool::new(false),
                mcp: mcp::McpHub::default(),
            }),
        }
    }

    pub(crate) fn callbacks_running(&self) -> &std::sync::atomic::AtomicBool {
        &self.inner.callbacks
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub(crate) fn secrets(&self) -> Option<&SecretStore> {
        self.inner.secrets.as_ref()
    }

    pub(crate) fn metrics(&self) -> Option<&sla::ApprovalMetrics> {
        self.inner.metrics.as_ref()
    }

    pub fn config(&self) -> Arc<Config> {
        self.inner.config.current()
    }

    fn after_change(&self, resumed: bool) {
        self.inner.changed.notify_waiters();
        self.inner.scheduler.notify_one();
        if resumed && let Some(w) = &self.inner.workers {
            w.notify_waiters();
        }
    }

    /// The action type `name`: `[actions]`, a builtin, or an MCP server's tool
    /// (`mcp:<server>:<tool>`, described by the server; connecting if need be).
    pub async fn action(
        &self,
        config: &Config,
        name: &str,
    ) -> Result<Option<settings::ActionConfig>, ApprovalError> {
        let Some((server, tool)) = mcp::parse_action(name) else {
            return Ok(settings::action_of(config, name).map(std::borrow::Cow::into_owned));
        };
        let Some(cfg) = config.mcp.get(server) else {
            return Ok(None);
        };
        let tools = self.mcp_tools(config, server).await?;
        Ok(tools
            .iter()
            .find(|t| t.name == tool)
            .map(|t| mcp::action_config(cfg, t)))
    }

    /// The tools of MCP server `server` (connecting if need be).
    pub async fn mcp_tools(
        &self,
        config: &Config,
        server: &str,
    ) -> Result<Vec<mcp::McpTool>, ApprovalError> {
        self.inner.mcp.retain(&config.mcp);
        let Some(cfg) = config.mcp.get(server) else {
            return Err(ApprovalError::Mcp(format!("no MCP server [mcp.{server}]")));
        };
        self.inner
            .mcp
            .tools(server, cfg, self.secrets(), &self.inner.clock)
            .await
            .map_err(ApprovalError::Mcp)
    }

    /// What is known of MCP server `name`'s connection (`/health`).
    pub fn mcp_state(&self, name: &str) -> mcp::McpState {
        self.inner.mcp.state(name)
    }

    pub(crate) fn mcp_hub(&self) -> &mcp::McpHub {
        &self.inner.mcp
    }

    /// Validates and evaluates a proposal: `Err(schema errors)` or the verdict, with the
    /// standing approval that applies when the verdict is `require_approval`.
    async fn judge(
        &self,
        config: &Config,
        action_name: &str,
        who: &Proposer,
        args: &Value,
    ) -> Result<
        (
            Risk,
            Result<(Verdict, Option<StandingApproval>), Vec<String>>,
        ),
        ApprovalError,
    > {
        let Some(action) = self.action(config, action_name).await? else {
            return Err(ApprovalError::UnknownAction(
                action_name.to_string(),
                settings::action_names(&config.actions),
            ));
        };
        let schema = action
            .schema_value()
            .map_err(|e| ApprovalError::Invalid(format!("the action's schema: {e}")))?;
        let errors = schema_errors(&schema, args);
        if !errors.is_empty() {
            return Ok((action.risk, Err(errors)));
        }
        let verdict = policy::evaluate(config, action_name, &action, who, args);
        // A standing approval stands in for one quorum-1 rule's decision, never a stricter one.
        // Nor for a verdict that failed closed: the proposer controls what fails to evaluate.
        let standing = if verdict.decision == Decision::RequireApproval
            && verdict.quorum <= 1
            && !verdict.failed_closed
        {
            let (action, who, args) = (action_name.to_string(), who.clone(), args.clone());
            let rule = verdict.rule.clone();
            let now = self.inner.clock.now();
            self.inner
                .store
                .read(move |db| store::standing_for(db, &action, &who, &args, &rule, now))
                .await?
        } else {
            None
        };
        Ok((action.risk, Ok((verdict, standing))))
    }

    /// Which rule matches a proposal and why; creates nothing.
    pub async fn explain(
        &self,
        input: &ExplainInput,
        caller: &str,
    ) -> Result<Explanation, ApprovalError> {
        let config = self.config();
        let who = match (&input.agent, &input.client) {
            (Some(_), Some(_)) => {
                return Err(ApprovalError::Invalid(
                    "explain as an agent or as a client, not both".into(),
                ));
            }
            (Some(a), None) => Proposer::Agent(a.clone()),
            (None, Some(c)) => Proposer::Client(c.clone()),
            (None, None) => Proposer::Client(caller.to_string()),
        };
        let (risk, judged) = self
            .judge(&config, &input.action, &who, &input.arguments)
            .await?;
        Ok(match judged {
            Err(errors) => Explanation {
                action: input.action.clone(),
                risk,
                schema_errors: errors,
                verdict: None,
                standing: None,
                outcome: "invalid".into(),
            },
            Ok((verdict, standing)) => Explanation {
                action: input.action.clone(),
                risk,
                schema_errors: Vec::new(),
                outcome: match (verdict.decision, &standing) {
                    (Decision::Allow, _) | (Decision::RequireApproval, Some(_)) => "allowed",
                    (Decision::Deny, _) => "denied",
                    (Decision::RequireApproval, None) => "pending",
                }
                .into(),
                verdict: Some(verdict),
                standing,
            },
        })
    }

    /// A request from a client elsewhere (`actor`): decided at once (allowed, denied) or
    /// pending. Invalid arguments are refused with the schema errors.
    pub async fn request(
        &self,
        actor: &str,
        input: NewApproval,
    ) -> Result<ApprovalRequest, ApprovalError> {
        let config = self.config();
        if let Some(url) = &input.callback_url {
            if let Some(why) = crate::agents::actions::webhook_url_problem(url) {
                return Err(ApprovalError::Invalid(format!("callback_url: {why}")));
            }
            // A client elsewhere must not make the node POST to services on its own machine.
            if !url.starts_with("https://") && !config.approvals.allow_loopback_callbacks {
                return Err(ApprovalError::Invalid(
                    "callback_url: use https (http to loopback needs [approvals] allow_loopback_callbacks = true)"
                        .into(),
                ));
            }
        }
        if input.action.starts_with("mcp:") {
            return Err(ApprovalError::Invalid(format!(
                "{} is a tool of an MCP server of this node: clients elsewhere ask for actions they run themselves, declared with executor = \"external\"",
                input.action
            )));
        }
        if let Some(action) = settings::action_of(&config, &input.action)
            && (action.executor != settings::ExecutorKind::External
                || input.action.starts_with("builtin:"))
        {
            return Err(ApprovalError::Invalid(format!(
                "{} runs on this node (executor {}): clients elsewhere ask for actions they run themselves, declared with executor = \"external\"",
                input.action,
                if input.action.starts_with("builtin:") {
                    "builtin"
                } else {
                    action.executor.as_str()
                }
            )));
        }
        let who = Proposer::Client(actor.to_string());
        let (_, judged) = self
            .judge(&config, &input.action, &who, &input.arguments)
            .await?;
        let (verdict, standing) = judged.map_err(ApprovalError::ArgumentsInvalid)?;
        let Some(action) = self.action(&config, &input.action).await? else {
            return Err(ApprovalError::UnknownAction(
                input.action.clone(),
                settings::action_names(&config.actions),
            ));
        };
        let new = store::NewRequest {
            id: store::new_id("apr"),
            action: input.action.clone(),
            description: action.description.clone(),
            tool: None,
            arguments: input.arguments.clone(),
            rationale: input.rationale.clone(),
            risk: action.risk,
            proposer: who.label(),
            agent: None,
            task_id: None,
            step_key: None,
            callback_url: input.callback_url.clone(),
            verdict,
            standing: standing.map(|s| s.id),
        };
        let warn = self.warn_before(&config);
        let created = self
            .inner
            .store
            .write(move |tx| store::create(tx, &new, warn))
            .await?;
        if let Some(m) = self.metrics() {
            m.created(&created);
        }
        self.after_change(false);
        Ok(created)
    }

    fn warn_before(&self, config: &Config) -> Duration {
        settings::parse_duration(&config.approvals.escalation.warn_before)
            .unwrap_or(Duration::from_secs(900))
    }

    /// The gate for an agent's tool call (see [`Gate`]). A call seen before (the same step
    /// key) gets the answer its request has: run when approved, refuse when rejected or
    /// expired, park again while pending.
    pub async fn gate(&self, call: ToolCall<'_>) -> Result<Gate, ApprovalError> {
        let key = call.key.to_string();
        let existing = self
            .inner
            .store
            .read(move |db| store::by_step_key(db, &key))
            .await?;
        if let Some(r) = existing {
            return Ok(match r.state {
                ApprovalState::Approved | ApprovalState::Allowed => Gate::Run {
                    arguments: r.final_arguments.clone().unwrap_or(r.arguments.clone()),
                    request_id: Some(r.id.clone()),
                },
                ApprovalState::Pending => Gate::Park(Box::new(store::NewRequest::existing(&r))),
                ApprovalState::Rejected => Gate::Refuse(format!(
                    "A human rejected this action ({}): {}",
                    r.id,
                    r.reason.as_deref().unwrap_or("no reason given")
                )),
                ApprovalState::Expired => Gate::Refuse(format!(
                    "No decision came in time; the request {} expired: {}",
                    r.id,
                    r.reason.as_deref().unwrap_or("")
                )),
                ApprovalState::Denied => Gate::Refuse(format!(
                    "The policy denies this action: {}",
                    r.reason.as_deref().unwrap_or("")
                )),
            });
        }
        let config = self.config();
        let args: Value = match serde_json::from_str(call.arguments) {
            Ok(v) => v,
            Err(e) => {
                return Ok(Gate::Refuse(format!(
                    "The arguments are not JSON ({e}); send a JSON object matching the tool's schema."
                )));
            }
        };
        let who = Proposer::Agent(call.agent.to_string());
        let (_, judged) = match self.judge(&config, call.action, &who, &args).await {
            Ok(j) => j,
            Err(ApprovalError::UnknownAction(a, _)) => {
                return Ok(Gate::Refuse(format!("No action named {a}.")));
            }
            Err(e) => return Err(e),
        };
        let (verdict, standing) = match judged {
            Ok(v) => v,
            Err(errors) => {
                return Ok(Gate::Refuse(format!(
                    "The arguments do not match the tool's schema: {}. Fix them and call again.",
                    errors.join("; ")
                )));
            }
        };
        let Some(action) = self.action(&config, call.action).await? else {
            return Ok(Gate::Refuse(format!("No action named {}.", call.action)));
        };
        let new = store::NewRequest {
            id: store::new_id("apr"),
            action: call.action.to_string(),
            description: action.description.clone(),
            tool: Some(call.tool.to_string()),
            arguments: args.clone(),
            rationale: call.rationale.clone(),
            risk: action.risk,
            proposer: who.label(),
            agent: Some(call.agent.to_string()),
            task_id: Some(call.task_id.to_string()),
            step_key: Some(call.key.to_string()),
            callback_url: None,
            verdict: verdict.clone(),
            standing: standing.as_ref().map(|s| s.id.clone()),
        };
        match (verdict.decision, standing) {
            (Decision::RequireApproval, None) => Ok(Gate::Park(Box::new(new))),
            (Decision::Deny, _) => {
                let reason = verdict.reason.clone();
                // Recorded (a denied request row and its audit entry) so it is visible.
                let warn = self.warn_before(&config);
                self.inner
                    .store
                    .write(move |tx| store::create(tx, &new, warn))
                    .await?;
                self.after_change(false);
                Ok(Gate::Refuse(format!(
                    "The policy denies this action: {reason}"
                )))
            }
            _ => {
                // Allowed (by a rule or a standing approval): only low-risk builtins skip
                // the record, so the log is not flooded with agent log lines.
                if call.action.starts_with("builtin:") && verdict.rule == "default" {
                    return Ok(Gate::Run {
                        arguments: args,
                        request_id: None,
                    });
                }
                let warn = self.warn_before(&config);
                let created = self
                    .inner
                    .store
                    .write(move |tx| store::create(tx, &new, warn))
                    .await?;
                self.after_change(false);
                Ok(Gate::Run {
                    arguments: args,
                    request_id: Some(created.id),
                })
            }
        }
    }

    /// Stores `new` and parks the leased task in `waiting_approval`, in one transaction
    /// (fenced by the lease: a lost lease writes nothing).
    pub async fn park(
        &self,
        lease: &Lease,
        new: store::NewRequest,
    ) -> Result<ApprovalRequest, ApprovalError> {
        let (task_id, lease_id) = (lease.task.id.clone(), lease.lease_id.clone());
        let warn = self.warn_before(&self.config());
        let created = self
            .inner
            .store
            .write(move |tx| {
                let created = match store::get_opt(tx, &new.id)? {
                    Some(r) => r,
                    None => store::create(tx, &new, warn)?,
                };
                let why = format!("waiting for approval {}", created.id);
                crate::orchestrator::queue::park(
                    tx,
                    &task_id,
                    &lease_id,
                    crate::orchestrator::TaskState::WaitingApproval,
                    &why,
                )?;
                // Decided meanwhile (a standing approval, a race): back to the queue at once.
                let resumed = created.state != ApprovalState::Pending
                    && crate::orchestrator::queue::resume_after_approval(tx, &task_id)?;
                Ok::<_, ApprovalError>((created, resumed))
            })
            .await;
        let (created, resumed) = created?;
        if let Some(m) = self.metrics() {
            m.created(&created);
        }
        self.after_change(resumed);
        Ok(created)
    }

    /// Records the decision of `actor`, a person at this node (the desktop, the CLI on the
    /// data dir) who may decide any request a rule does not restrict to named approvers.
    pub async fn decide(
        &self,
        id: &str,
        actor: &str,
        input: DecisionInput,
    ) -> Result<ApprovalRequest, ApprovalError> {
        self.decide_as(id, actor, true, input).await
    }

    /// Records `actor`'s decision on request `id`. `elevated`: the actor may decide requests
    /// whose rule names no approvers (the desktop, the node's own token, an admin token); an
    /// `operate` token decides only where a rule names it, so the tokens agents use to ask
    /// cannot answer each other's requests.
    pub async fn decide_as(
        &self,
        id: &str,
        actor: &str,
        elevated: bool,
        input: DecisionInput,
    ) -> Result<ApprovalRequest, ApprovalError> {
        let config = self.config();
        // The action is resolved first (an MCP tool's schema comes from its server): an edit
        // is checked against it inside the transaction.
        let action = match input.arguments {
            Some(_) => {
                let name = self.get(id).await?.request.action;
                self.action(&config, &name).await?
            }
            None => None,
        };
        let (id, actor) = (id.to_string(), actor.to_string());
        let out = self
            .inner
            .store
            .write(move |tx| {
                store::decide(tx, &config, action.as_ref(), &id, &actor, elevated, &input)
            })
            .await?;
        if let Some(m) = self.metrics() {
            m.decided(&out.0);
        }
        self.after_change(out.1);
        Ok(out.0)
    }

    pub async fn get(&self, id: &str) -> Result<RequestDetail, ApprovalError> {
        let id = id.to_string();
        self.inner
            .store
            .read(move |db| store::detail(db, &id))
            .await
    }

    /// Pending first (highest risk, then soonest SLA), then decided ones, newest first; after
    /// the cursor `after` (see [`store::InboxKey`]).
    pub async fn list(
        &self,
        filter: ApprovalFilter,
        after: Option<store::InboxKey>,
        limit: usize,
    ) -> Result<Vec<(store::InboxKey, ApprovalRequest)>, ApprovalError> {
        Ok(self
            .inner
            .store
            .read(move |db| store::list(db, &filter, after, limit))
            .await?)
    }

    /// Request `id` once it is decided, or as it is after `timeout` (a long poll).
    pub async fn wait(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<ApprovalRequest, ApprovalError> {
        let deadline = self.inner.clock.now()
            + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::zero());
        loop {
            let notified = self.inner.changed.notified();
            let r = self.get(id).await?.request;
            if r.state != ApprovalState::Pending || self.inner.clock.now() >= deadline {
                return Ok(r);
            }
            tokio::select! {
                () = notified => {}
                () = self.inner.clock.sleep_until(deadline) => {}
            }
        }
    }

    pub async fn standing(
        &self,
        include_inactive: bool,
    ) -> Result<Vec<StandingApproval>, ApprovalError> {
        Ok(self
            .inner
            .store
            .read({
                let now = self.inner.clock.now();
                move |db| store::standing_list(db, include_inactive, now)
            })
            .await?)
    }

    pub async fn revoke_standing(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<StandingApproval, ApprovalError> {
        let (id, actor) = (id.to_string(), actor.to_string());
        let out = self
            .inner
            .store
            .write(move |tx| store::revoke_standing(tx, &id, &actor))
            .await?;
        self.after_change(false);
        Ok(out)
    }

    pub async fn stats(&self) -> Result<ApprovalStats, ApprovalError> {
        let now = self.inner.clock.now();
        Ok(self
            .inner
            .store
            .read(move |db| store::stats(db, now))
            .await?)
    }

    /// What happened to requests in `[from, until)` (reports).
    pub async fn period_stats(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<store::PeriodStats, ApprovalError> {
        Ok(self
            .inner
            .store
            .read(move |db| store::period_stats(db, from, until))
            .await?)
    }

    /// Wakes the SLA scheduler (tests; the engine does it after every change).
    pub fn nudge(&self) {
        self.inner.scheduler.notify_one();
    }

    pub(crate) fn scheduler_notify(&self) -> &Notify {
        &self.inner.scheduler
    }

    pub(crate) fn changed_notify(&self) -> &Notify {
        &self.inner.changed
    }

    pub(crate) fn notify_workers(&self) {
        if let Some(w) = &self.inner.workers {
            w.notify_waiters();
        }
    }
}
