//! One attempt of an agent task: render the prompt → call the model → run the tools it asks
//! for and give their results back → until a final answer, which is checked against the
//! output schema (re-asking with the errors, bounded) — or the step limit.
//!
//! Every completed step is recorded (fenced by the lease) before the next one starts, and an
//! attempt first rebuilds the conversation from the steps already recorded: a resumed task
//! never calls the model again for a step that completed, nor runs a tool twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use super::AgentConfig;
use crate::ErrorCode;
use crate::orchestrator::{Lease, Queue, QueueError, Step, StepKind};
use crate::providers::neutral::{ChatRequest, Message, ResponseFormat, Role, Tool};
use crate::providers::{CacheMode, CallContext, CallError, Protocol, Providers};

/// Why an attempt ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Template(String),
    #[error("the answer does not match the output schema: {}", .0.join("; "))]
    OutputInvalid(Vec<String>),
    #[error("no final answer within {0} model calls (max_steps)")]
    StepLimit(u32),
    #[error(
        "the prompt needs {needed} tokens even with every earlier turn dropped; the route's context leaves {budget} for it"
    )]
    ContextOverflow { needed: u64, budget: u64 },
    #[error("{0}")]
    Provider(CallError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("cancelled")]
    Cancelled,
    /// A tool call needs a human decision: the task parks with this request.
    #[error("waiting for an approval")]
    NeedsApproval(Box<crate::approvals::store::NewRequest>),
    #[error(transparent)]
    Approval(#[from] crate::approvals::ApprovalError),
}

impl RunError {
    /// The stable code recorded on the task.
    pub fn code(&self) -> String {
        match self {
            Self::Template(_) => "template_error".into(),
            Self::OutputInvalid(_) => "output_invalid".into(),
            Self::StepLimit(_) => "step_limit".into(),
            Self::ContextOverflow { .. } => "context_overflow".into(),
            Self::Provider(e) => e.code.as_str().into(),
            Self::Queue(e) => e.code().as_str().into(),
            Self::Cancelled => "cancelled".into(),
            Self::NeedsApproval(_) => "waiting_approval".into(),
            Self::Approval(e) => e.code().as_str().into(),
        }
    }

    /// No provider of the chain could be reached: park instead of spending the attempt.
    pub fn provider_unreachable(&self) -> bool {
        matches!(self, Self::Provider(e) if e.unreachable)
    }

    /// Retrying cannot help (the input, the template, the key or the request is wrong).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Template(_)
            | Self::OutputInvalid(_)
            | Self::StepLimit(_)
            | Self::ContextOverflow { .. } => true,
            Self::Provider(e) => matches!(
                e.code,
                ErrorCode::ProviderRejected
                    | ErrorCode::ProviderAuthFailed
                    | ErrorCode::UnknownModel
                    | ErrorCode::BadRequest
                    | ErrorCode::BudgetExceeded
                    | ErrorCode::PriceUnknown
            ),
            Self::Queue(_) | Self::Cancelled | Self::NeedsApproval(_) | Self::Approval(_) => false,
        }
    }
}

/// Everything one attempt needs.
pub struct Attempt<'a> {
    pub providers: &'a Providers,
    pub queue: &'a Queue,
    pub approvals: &'a crate::approvals::Approvals,
    /// The config the attempt started under (the action types it offers).
    pub config: &'a crate::config::Config,
    pub lease: &'a Lease,
    pub agent_name: &'a str,
    pub agent: &'a AgentConfig,
    /// Set when cancel was asked (the heartbeat sees it): stop before the next step.
    pub cancelled: &'a Arc<AtomicBool>,
    pub metrics: &'a super::metrics::AgentMetrics,
    /// The smallest context size among the route's models that declare one (`None`: no
    /// budget, nothing is truncated).
    pub context_tokens: Option<u64>,
}

/// Runs the attempt to a result.
pub async fn run(a: Attempt<'_>) -> Result<Value, RunError> {
    let task = &a.lease.task;
    let prompt = super::template::render(&a.agent.prompt, &task.input)
        .map_err(|e| RunError::Template(format!("prompt: {e}")))?;
    let system = match &a.agent.system {
        Some(s) => vec![
            super::template::render(s, &task.input)
                .map_err(|e| RunError::Template(format!("system: {e}")))?,
        ],
        None => Vec::new(),
    };
    let schema = match &a.agent.output_schema {
        Some(raw) => {
            let value = super::settings::schema_value(raw).map_err(RunError::Template)?;
            let validator = super::output::compile(&value).map_err(RunError::Template)?;
            Some((value, validator))
        }
        None => None,
    };
    let offered = super::actions::offered(a.approvals, a.agent, a.config).await?;
    let tools: Vec<Tool> = offered.iter().map(|(_, t)| t.clone()).collect();
    let prompt = Message::text(Role::User, prompt);
    let done = a.queue.steps(&task.id, None).await?;
    let mut model_steps = 0u32;
    let mut reasks = 0u32;
    for s in &done {
        match s.kind {
            StepKind::Model => model_steps += 1,
            StepKind::Reask => reasks += 1,
            StepKind::Tool | StepKind::Summary => {}
        }
    }
    // The conversation: the prompt, every recorded step, the latest summary in place of the
    // turns it replaced.
    let mut conversation = super::memory::rebuild(prompt.clone(), &done);
    let mut messages = conversation.messages();
    let mut next_step = u32::try_from(done.len()).unwrap_or(u32::MAX);
    loop {
        if a.cancelled.load(Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        // The calls of the latest assistant turn not answered yet, by position: results are
        // recorded in the order of the calls, so the first `answered` are done (ids are not
        // trusted: some servers leave them empty or reuse them).
        let pending: Vec<crate::providers::neutral::ToolCall> = messages
            .iter()
            .rposition(|m| m.role == Role::Assistant)
            .and_then(|p| {
                let turn = messages.get(p)?;
                let answered = messages
                    .iter()
                    .skip(p + 1)
                    .filter(|m| m.role == Role::Tool)
                    .count();
                Some(turn.tool_calls.iter().skip(answered).cloned().collect())
            })
            .unwrap_or_default();
        if !pending.is_empty() {
            // The model's words with its calls: the rationale an approver sees.
            let rationale = messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant)
                .map(|m| m.joined_text())
                .filter(|t| !t.trim().is_empty());
            for call in &pending {
                // The step's idempotency key travels with the action, so a step run again
                // after a crash (its result was not recorded) has its effect once.
                let key = format!("{}:{}:{next_step}", task.id, task.round);
                let outcome = super::actions::run_tool(
                    a.approvals,
                    a.agent,
                    &offered,
                    a.agent_name,
                    &task.id,
                    &key,
                    &call.name,
                    &call.arguments,
                    rationale.clone(),
                )
                .await?;
                let (text, is_error) = match outcome {
                    super::actions::ToolOutcome::Done(text, is_error) => (text, is_error),
                    super::actions::ToolOutcome::Park(request) => {
                        return Err(RunError::NeedsApproval(request));
                    }
                };
                let mut msg = Message::text(Role::Tool, text);
                msg.tool_call_id = Some(call.id.clone());
                msg.is_error = is_error;
                let args: Value = serde_json::from_str(&call.arguments)
                    .unwrap_or(Value::String(call.arguments.clone()));
                record(
                    &a,
                    &mut next_step,
                    StepKind::Tool,
                    None,
                    Some(call.name.clone()),
                    &msg,
                    Some(args),
                )
                .await?;
                messages.push(msg);
            }
            continue;
        }
        let last = messages.last().cloned();
        match last {
            Some(m) if m.role == Role::Assistant && m.tool_calls.is_empty() => {
                let text = m.joined_text();
                let Some((value, validator)) = &schema else {
                    return Ok(super::output::extract_json(&text)
                        .filter(|v| v.is_object() || v.is_array())
                        .unwrap_or(Value::String(text)));
                };
                let checked = super::output::check(&text, value, validator);
                a.metrics
                    .validations
                    .with_label_values(&[
                        a.agent_name,
                        if checked.is_ok() { "pass" } else { "fail" },
                    ])
                    .inc();
                match checked {
                    Ok(result) => return Ok(result),
                    Err(errors) if reasks >= a.agent.max_reasks => {
                        return Err(RunError::OutputInvalid(errors));
                    }
                    Err(errors) => {
                        let msg = Message::text(
                            Role::User,
                            format!(
                                "Your answer does not match the required JSON Schema:\n- {}\nAnswer again with only the corrected JSON.",
                                errors.join("\n- ")
                            ),
                        );
                        record(
                            &a,
                            &mut next_step,
                            StepKind::Reask,
                            None,
                            None,
                            &msg,
                            Some(json!(errors)),
                        )
                        .await?;
                        reasks += 1;
                        messages.push(msg);
                    }
                }
            }
            _ => {
                if model_steps >= a.agent.max_steps {
                    return Err(RunError::StepLimit(a.agent.max_steps));
                }
                if let Some(context) = a.context_tokens
                    && a.agent.memory.strategy == super::memory::MemoryStrategy::Summarize
                    && !fits(&a, context, &system, &conversation, &messages, &tools)
                    && summarize(&a, &mut next_step, &prompt).await?
                {
                    let steps = a.queue.steps(&task.id, None).await?;
                    conversation = super::memory::rebuild(prompt.clone(), &steps);
                    messages = conversation.messages();
                }
                let mut system = system.clone();
                system.extend(conversation.summary_system());
                let mut request = ChatRequest {
                    model: a.agent.route.clone(),
                    system,
                    messages: messages.clone(),
                    tools: tools.clone(),
                    max_tokens: a.agent.max_tokens,
                    temperature: a.agent.temperature,
                    response_format: match (&schema, tools.is_empty()) {
                        (Some((value, _)), true) => Some(ResponseFormat::JsonSchema {
                            name: "output".into(),
                            schema: value.clone(),
                            strict: false,
                        }),
                        _ => None,
                    },
                    ..ChatRequest::default()
                };
                // The stored conversation keeps every turn; only this call's copy is cut.
                let fitted = match a.context_tokens {
                    Some(context) => {
                        let budget = super::context::budget(context, a.agent.max_tokens);
                        let mut fit = super::context::fit(&mut request, budget)
                            .map_err(|needed| RunError::ContextOverflow { needed, budget })?;
                        fit.summarized = conversation.summarized;
                        Some(fit)
                    }
                    None => None,
                };
                let mut ctx =
                    CallContext::new(format!("agent:{}", a.agent_name), Protocol::Internal);
                ctx.agent = Some(a.agent_name.to_string());
                ctx.task_id = Some(task.id.clone());
                ctx = ctx.with_tags(task.tags.iter().cloned());
                ctx.cache = if a.agent.cache {
                    CacheMode::On
                } else {
                    CacheMode::Off
                };
                let done = a
                    .providers
                    .complete(request, ctx)
                    .await
                    .map_err(RunError::Provider)?;
                let mut msg = Message::text(Role::Assistant, done.response.text.clone());
                if done.response.text.is_empty() {
                    msg.content.clear();
                }
                msg.tool_calls = done.response.tool_calls.clone();
                model_steps += 1;
                let detail = fitted.map(|f| json!({ "context": f }));
                record(
                    &a,
                    &mut next_step,
                    StepKind::Model,
                    Some(done.call_id.clone()),
                    None,
                    &msg,
                    detail,
                )
                .await?;
                messages.push(msg);
            }
        }
    }
}

async fn record(
    a: &Attempt<'_>,
    next: &mut u32,
    kind: StepKind,
    call_id: Option<String>,
    name: Option<String>,
    message: &Message,
    detail: Option<Value>,
) -> Result<(), RunError> {
    let step = Step {
        step: *next,
        attempt: a.lease.attempt,
        kind,
        call_id,
        name,
        message: message.clone(),
        detail,
        at: None,
    };
    a.queue.record_step(a.lease, step).await?;
    a.metrics
        .steps
        .with_label_values(&[
            a.agent_name,
            match kind {
                StepKind::Model => "model",
                StepKind::Tool => "tool",
                StepKind::Reask => "reask",
                StepKind::Summary => "summary",
            },
        ])
        .inc();
    *next += 1;
    Ok(())
}

/// Whether the next call fits the context budget without leaving anything out.
fn fits(
    a: &Attempt<'_>,
    context: u64,
    system: &[String],
    conversation: &super::memory::Conversation,
    messages: &[Message],
    tools: &[Tool],
) -> bool {
    let mut system = system.to_vec();
    system.extend(conversation.summary_system());
    let mut probe = ChatRequest {
        system,
        messages: messages.to_vec(),
        tools: tools.to_vec(),
        ..ChatRequest::default()
    };
    let budget = super::context::budget(context, a.agent.max_tokens);
    matches!(super::context::fit(&mut probe, budget), Ok(f) if f.dropped == 0)
}

/// Summarises the older turns of the task's conversation by a model call and records the
/// summary step. `false`: nothing was worth summarising (truncation takes over).
async fn summarize(
    a: &Attempt<'_>,
    next_step: &mut u32,
    prompt: &Message,
) -> Result<bool, RunError> {
    let task = &a.lease.task;
    let steps = a.queue.steps(&task.id, None).await?;
    let conversation = super::memory::rebuild(prompt.clone(), &steps);
    let Some((first, last)) = super::memory::span(&conversation, a.agent.memory.keep_recent) else {
        return Ok(false);
    };
    let (Some(from), Some(to)) = (
        conversation.messages[first].0,
        conversation.messages[last].0,
    ) else {
        return Ok(false);
    };
    let turns: Vec<Message> = conversation.messages[first..=last]
        .iter()
        .map(|(_, m)| m.clone())
        .collect();
    let text = super::memory::transcript(conversation.summary.as_deref(), &turns);
    let request = ChatRequest {
        model: a
            .agent
            .memory
            .route
            .clone()
            .unwrap_or_else(|| a.agent.route.clone()),
        system: vec![super::memory::SUMMARY_INSTRUCTIONS.to_string()],
        messages: vec![Message::text(Role::User, text)],
        max_tokens: Some(a.agent.memory.max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let mut ctx = CallContext::new(format!("agent:{}", a.agent_name), Protocol::Internal);
    ctx.agent = Some(a.agent_name.to_string());
    ctx.task_id = Some(task.id.clone());
    ctx = ctx.with_tags(task.tags.iter().cloned());
    let done = a
        .providers
        .complete(request, ctx)
        .await
        .map_err(RunError::Provider)?;
    let summary = Message::text(Role::System, done.response.text.clone());
    record(
        a,
        next_step,
        StepKind::Summary,
        Some(done.call_id.clone()),
        None,
        &summary,
        Some(json!({"from": from, "to": to, "turns": turns.len()})),
    )
    .await?;
    Ok(true)
}
