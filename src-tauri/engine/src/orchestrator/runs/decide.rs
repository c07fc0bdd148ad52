//! What a run does next, from where its steps are: which steps start (their needs all
//! succeeded, within the run's concurrency), which are skipped (a need failed), which are
//! cancelled (the run is decided), and how it ends (the aggregation). Pure: the store
//! applies the decision in the transaction that settled a step's task.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::spec::{AggregateMode, Resolved};
use crate::orchestrator::TaskState;
use crate::store::values::StoredEnum;

/// Where a step of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waiting for the steps it needs (or for room under the run's concurrency).
    Pending,
    /// Its task exists and is not finished (queued, running, retrying, waiting...).
    Running,
    Succeeded,
    /// Its task failed, went to dead-letter or was cancelled.
    Failed,
    /// A step it needs did not succeed, so it never ran.
    Skipped,
    /// The run was decided or cancelled before it finished.
    Cancelled,
}

impl StoredEnum for StepState {
    const ALL: &'static [Self] = &[
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];
    fn as_db(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        self.as_db()
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl StoredEnum for RunState {
    const ALL: &'static [Self] = &[
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];
    fn as_db(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        self.as_db()
    }
}

/// Steps that gave the same answer (the whole result, or the voted field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnswerGroup {
    pub value: Value,
    pub steps: Vec<String>,
}

/// A step as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepNow {
    /// As stored.
    pub state: StepState,
    /// Its task's state, result and finish time, once it has a task.
    pub task: Option<(TaskState, Option<Value>, Option<DateTime<Utc>>)>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: RunState,
    pub result: Option<Value>,
    /// The steps whose answers made the result.
    pub decided_by: Vec<String>,
    pub disagreements: Vec<AnswerGroup>,
    pub error: Option<(String, String)>,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Every step's state (index = position).
    pub states: Vec<StepState>,
    /// Steps whose tasks to create now.
    pub start: Vec<usize>,
    /// Steps whose unfinished tasks to cancel (the run is decided).
    pub cancel: Vec<usize>,
    /// Steps whose failed task is left behind: a step they need runs again (it was
    /// requeued), so they start again on its new output.
    pub unlink: Vec<usize>,
    pub finish: Option<Outcome>,
    /// A failed run runs again (one of its step tasks was requeued).
    pub reopen: bool,
}

fn from_task(state: TaskState) -> StepState {
    match state {
        TaskState::Succeeded => StepState::Succeeded,
        TaskState::Failed | TaskState::Dead => StepState::Failed,
        TaskState::Cancelled => StepState::Cancelled,
        _ => StepState::Running,
    }
}

/// The value `field` names in `result` (a JSON pointer, or a top-level field).
pub fn field_value<'a>(result: &'a Value, field: &str) -> Option<&'a Value> {
    if field.starts_with('/') {
        result.pointer(field)
    } else {
        result.get(field)
    }
}

/// Answers grouped by equal value, the largest group first (then by first step).
pub fn group(answers: &[(String, Value)]) -> Vec<AnswerGroup> {
    let mut groups: Vec<AnswerGroup> = Vec::new();
    for (step, value) in answers {
        match groups.iter_mut().find(|g| &g.value == value) {
            Some(g) => g.steps.push(step.clone()),
            None => groups.push(AnswerGroup {
                value: value.clone(),
                steps: vec![step.clone()],
            }),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.steps.len()));
    groups
}

/// The disagreements among `answers`: their groups when there is more than one.
pub fn disagreements(answers: &[(String, Value)]) -> Vec<AnswerGroup> {
    let g = group(answers);
    if g.len() > 1 { g } else { Vec::new() }
}

/// The answers of the aggregated steps that succeeded (the voted field for `vote`).
pub fn answers(run: &Resolved, states: &[StepState], steps: &[StepNow]) -> Vec<(String, Value)> {
    run.of
        .iter()
        .filter_map(|id| {
            let i = run.steps.iter().position(|s| &s.id == id)?;
            if states.get(i) != Some(&StepState::Succeeded) {
                return None;
            }
            let result = steps.get(i)?.task.as_ref()?.1.clone()?;
            match (run.mode, &run.field) {
                (AggregateMode::Vote, Some(f)) => {
                    field_value(&result, f).map(|v| (id.clone(), v.clone()))
                }
                _ => Some((id.clone(), result)),
            }
        })
        .collect()
}

/// The decision for `run` whose steps are `steps` (same order as `run.steps`) and which is
/// `run_state` now.
pub fn decide(run: &Resolved, steps: &[StepNow], run_state: RunState) -> Decision {
    let n = run.steps.len();
    // One entry per step of the definition, whatever the store gave.
    let mut padded: Vec<StepNow> = steps.to_vec();
    padded.resize(
        n,
        StepNow {
            state: StepState::Pending,
            task: None,
        },
    );
    let steps = &padded[..];
    let index: BTreeMap<&str, usize> = run
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut has_task: Vec<bool> = steps.iter().map(|s| s.task.is_some()).collect();
    let mut states: Vec<StepState> = steps
        .iter()
        .map(|s| match &s.task {
            Some(t) => from_task(t.0),
            // A step that could not be started stays failed.
            None if s.state == StepState::Failed => StepState::Failed,
            None => StepState::Pending,
        })
        .collect();
    let mut d = Decision::default();
    // A step that failed while something it needs runs again (a requeue) starts again after
    // it: its old task is left behind.
    if run_state == RunState::Running || run_state == RunState::Failed {
        loop {
            let mut moved = false;
            for (i, s) in run.steps.iter().enumerate() {
                let failed = matches!(states[i], StepState::Failed | StepState::Cancelled);
                let upstream_open = s
                    .needs
                    .iter()
                    .filter_map(|n| index.get(n.as_str()))
                    .any(|&j| !states[j].is_terminal());
                if failed && has_task[i] && upstream_open {
                    states[i] = StepState::Pending;
                    has_task[i] = false;
                    d.unlink.push(i);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
    // Skips flow down the DAG; a judge is skipped only when none of its needs succeeded.
    loop {
        let mut moved = false;
        for (i, s) in run.steps.iter().enumerate() {
            if states[i] != StepState::Pending {
                continue;
            }
            let needs: Vec<StepState> = s
                .needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).map(|&j| states[j]))
                .collect();
            let bad = |st: &StepState| st.is_terminal() && *st != StepState::Succeeded;
            let skip = if s.judge {
                !needs.is_empty() && needs.iter().all(bad)
            } else {
                needs.iter().any(bad)
            };
            if skip {
                states[i] = StepState::Skipped;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let any_running = states.contains(&StepState::Running);
    if run_state != RunState::Running {
        if run_state == RunState::Failed && any_running {
            d.reopen = true;
        } else {
            // Decided: steps without a task keep what they were marked.
            d.unlink.clear();
            for (i, st) in states.iter_mut().enumerate() {
                if *st == StepState::Pending || (steps[i].task.is_none() && st.is_terminal()) {
                    *st = steps[i].state;
                }
            }
            d.states = states;
            return d;
        }
    }
    // First valid: decided by the first aggregated step to succeed.
    if run.mode == AggregateMode::FirstValid {
        let winner = run
            .of
            .iter()
            .filter_map(|id| index.get(id.as_str()).map(|&i| (id, i)))
            .filter(|(_, i)| states[*i] == StepState::Succeeded)
            .min_by_key(|(_, i)| (steps[*i].task.as_ref().and_then(|t| t.2), *i));
        if let Some((id, i)) = winner {
            let result = steps[i].task.as_ref().and_then(|t| t.1.clone());
            let all = answers(run, &states, steps);
            for (j, st) in states.iter_mut().enumerate() {
                match st {
                    StepState::Pending => *st = StepState::Cancelled,
                    StepState::Running => d.cancel.push(j),
                    _ => {}
                }
            }
            d.finish = Some(Outcome {
                state: RunState::Succeeded,
                result,
                decided_by: vec![id.clone()],
                disagreements: disagreements(&all),
                error: None,
            });
            d.states = states;
            return d;
        }
    }
    // Start what is ready, within the run's concurrency.
    let mut room = usize::try_from(run.concurrency)
        .unwrap_or(usize::MAX)
        .saturating_sub(states.iter().filter(|s| **s == StepState::Running).count());
    for (i, s) in run.steps.iter().enumerate() {
        if room == 0 {
            break;
        }
        if states[i] != StepState::Pending || has_task[i] {
            continue;
        }
        let needs: Vec<StepState> = s
            .needs
            .iter()
            .filter_map(|n| index.get(n.as_str()).map(|&j| states[j]))
            .collect();
        let ready = if s.judge {
            needs.iter().all(|st| st.is_terminal())
        } else {
            needs.iter().all(|st| *st == StepState::Succeeded)
        };
        if ready {
            d.start.push(i);
            states[i] = StepState::Running;
            room -= 1;
        }
    }
    if states.iter().all(|s| s.is_terminal()) {
        d.finish = Some(conclude(run, &states, steps));
    }
    d.states = states;
    d
}

/// The outcome of a run whose steps all finished.
fn conclude(run: &Resolved, states: &[StepState], steps: &[StepNow]) -> Outcome {
    let all = answers(run, states, steps);
    let of_states: Vec<(&String, StepState)> = run
        .of
        .iter()
        .filter_map(|id| {
            run.steps
                .iter()
                .position(|s| &s.id == id)
                .map(|i| (id, states[i]))
        })
        .collect();
    let not_ok: Vec<String> = of_states
        .iter()
        .filter(|(_, s)| *s != StepState::Succeeded)
        .map(|(id, s)| format!("`{id}` {}", s.as_db()))
        .collect();
    let failed = |code: &str, message: String, result: Option<Value>, by: Vec<String>| Outcome {
        state: RunState::Failed,
        result,
        decided_by: by,
        disagreements: disagreements(&all),
        error: Some((code.to_string(), message)),
    };
    match run.mode {
        AggregateMode::All => {
            let by_step: serde_json::Map<String, Value> = all.iter().cloned().collect();
            let by: Vec<String> = all.iter().map(|(s, _)| s.clone()).collect();
            if not_ok.is_empty() {
                Outcome {
                    state: RunState::Succeeded,
                    result: Some(Value::Object(by_step)),
                    decided_by: by,
                    disagreements: disagreements(&all),
                    error: None,
                }
            } else {
                failed(
                    "run_steps_failed",
                    format!("not every step succeeded: {}", not_ok.join(", ")),
                    Some(Value::Object(by_step)),
                    by,
                )
            }
        }
        AggregateMode::FirstValid => failed(
            "no_valid_result",
            format!("no step gave a valid result: {}", not_ok.join(", ")),
            None,
            Vec::new(),
        ),
        AggregateMode::Vote => {
            let field = run.field.clone().unwrap_or_default();
            let groups = group(&all);
            match groups.first() {
                Some(g) if g.steps.len() * 2 > all.len() => Outcome {
                    state: RunState::Succeeded,
                    result: Some(serde_json::json!({
                        "field": field,
                        "value": g.value,
                        "votes": g.steps.len(),
                        "answers": all.len(),
                    })),
                    decided_by: g.steps.clone(),
                    disagreements: disagreements(&all),
                    error: None,
                },
                Some(_) => failed(
                    "no_majority",
                    format!(
                        "no value of `{field}` has a majority of the {} answers",
                        all.len()
                    ),
                    None,
                    Vec::new(),
                ),
                None => failed(
                    "no_majority",
                    format!(
                        "no step answered `{field}`{}",
                        if not_ok.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", not_ok.join(", "))
                        }
                    ),
                    None,
                    Vec::new(),
                ),
            }
        }
        AggregateMode::Judge => {
            let judge = run.steps.iter().position(|s| s.judge);
            match judge.map(|i| (i, states[i])) {
                Some((i, StepState::Succeeded)) => Outcome {
                    state: RunState::Succeeded,
                    result: steps.get(i).and_then(|s| s.task.as_ref()?.1.clone()),
                    decided_by: vec![run.steps[i].id.clone()],
                    disagreements: disagreements(&all),
                    error: None,
                },
                Some((_, st)) => failed(
                    "judge_failed",
                    format!("the judge step is {}", st.as_db()),
                    None,
                    Vec::new(),
                ),
                None => failed(
                    "judge_failed",
                    "the run has no judge".into(),
                    None,
                    Vec::new(),
                ),
            }
        }
    }
}
