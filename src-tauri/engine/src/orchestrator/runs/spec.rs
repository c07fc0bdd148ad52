//! Run definitions: what is posted to `/api/v1/runs` or declared as `[runs.<name>]`, the
//! rules checked before anything runs (agents and capabilities exist, `needs` name steps,
//! no cycle, every template variable is given by the run's input or a step it needs, with
//! the field it reads in that step's output schema, aggregation settings that fit), and the
//! resolved definition a run stores and follows.
//!
//! Must never: read the database or call a model (the plan's cost comes from prices).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::agents::settings::{schema_value, valid_name};
use crate::agents::{AgentConfig, template};
use crate::config::Config;

/// Most steps in a run.
pub const MAX_STEPS: usize = 64;
/// The id of the judge step `aggregate.mode = "judge"` adds.
pub const JUDGE_STEP: &str = "judge";

fn default_concurrency() -> u32 {
    4
}

/// A run: one input fanned out to several agents, or a small DAG of steps where a step's
/// output feeds the steps that need it; then an aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Fan-out shorthand: a step per agent (named after it), each given the run's input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// The steps (or `agents`, not both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Steps running at once (1-64, default 4).
    #[serde(default = "default_concurrency")]
    #[schema(minimum = 1, maximum = 64)]
    pub concurrency: u32,
    /// Each step's attempt timeout unless the step sets its own, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub step_timeout_ms: Option<u64>,
}

/// One step: an agent (or a capability) given the run's input, the step's own `input`
/// fields, and the output of every step it `needs` (as a variable named after that step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    #[schema(pattern = "^[A-Za-z0-9_.:/-]{1,128}$")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// Steps whose output this one reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Fields added to the run's input for this step.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub input: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_attempts: Option<u32>,
}

/// How the results of the aggregated steps become the run's result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregateMode {
    /// Every result, by step: succeeds when all succeeded.
    #[default]
    All,
    /// The first step to succeed (its output passed its schema); the others are cancelled.
    FirstValid,
    /// The value of `field` most answers agree on (a strict majority of the answers).
    Vote,
    /// A judge agent gets every result (and the disagreements) and answers the run's result.
    Judge,
}

impl AggregateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::FirstValid => "first_valid",
            Self::Vote => "vote",
            Self::Judge => "judge",
        }
    }
}

/// The aggregation of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Aggregate {
    #[serde(default)]
    pub mode: AggregateMode,
    /// The steps aggregated (default: every step no other step needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub of: Vec<String>,
    /// `vote`: the field voted on: a top-level field of each result, or a JSON pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `judge`: the agent that merges the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<String>,
}

/// A step as a run follows it: the agent chosen, the attempts and timeout decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedStep {
    pub id: String,
    pub agent: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub input: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    pub max_attempts: u32,
    /// The judge step: its input is every aggregated result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub judge: bool,
}

/// A definition checked against a config: what a run stores and follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Resolved {
    /// In definition order (a judge step last).
    pub steps: Vec<ResolvedStep>,
    pub mode: AggregateMode,
    /// The aggregated steps.
    pub of: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub concurrency: u32,
}

impl Resolved {
    pub fn step(&self, id: &str) -> Option<&ResolvedStep> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Each step's depth: 0 for a step that needs none, else one more than its deepest need.
    pub fn levels(&self) -> BTreeMap<String, usize> {
        let mut level: BTreeMap<String, usize> = BTreeMap::new();
        // Steps are acyclic (checked): repeat until stable, at most `len` rounds.
        for _ in 0..=self.steps.len() {
            let mut moved = false;
            for s in &self.steps {
                let l = s
                    .needs
                    .iter()
                    .map(|n| level.get(n).map_or(1, |l| l + 1))
                    .max()
                    .unwrap_or(0);
                if level.get(&s.id) != Some(&l) {
                    level.insert(s.id.clone(), l);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        level
    }
}

/// Everything wrong with a definition, each problem one sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the run definition is invalid: {}", .0.join("; "))]
pub struct Invalid(pub Vec<String>);

/// The steps of `spec` as written (the `agents` shorthand expanded).
fn steps_of(spec: &RunSpec, problems: &mut Vec<String>) -> Vec<StepSpec> {
    if !spec.agents.is_empty() && !spec.steps.is_empty() {
        problems.push("a run has `agents` (a fan-out) or `steps`, not both".into());
    }
    if spec.steps.is_empty() {
        spec.agents
            .iter()
            .map(|a| StepSpec {
                id: a.clone(),
                agent: Some(a.clone()),
                capability: None,
                needs: Vec::new(),
                input: serde_json::Map::new(),
                timeout_ms: None,
                max_attempts: None,
            })
            .collect()
    } else {
        spec.steps.clone()
    }
}

/// Checks `spec` under `config` and resolves it. `input`: the run's input when it is known
/// (a start or a dry run; `None` for a `[runs.<name>]` at config load, where only what the
/// definition itself gives is checked). `pick(capability)`: the agent routing would choose.
pub fn resolve(
    spec: &RunSpec,
    config: &Config,
    input: Option<&Value>,
    pick: impl Fn(&str) -> Option<String>,
) -> Result<Resolved, Invalid> {
    let mut problems = Vec::new();
    if let Some(input) = input
        && !input.is_object()
    {
        problems.push("a run's input is a JSON object (its fields are the variables)".into());
    }
    let steps = steps_of(spec, &mut problems);
    if steps.is_empty() {
        problems.push("a run has at least one step (`steps`, or `agents` to fan out)".into());
    }
    if steps.len() > MAX_STEPS {
        problems.push(format!(
            "a run has at most {MAX_STEPS} steps (this one has {})",
            steps.len()
        ));
    }
    if !(1..=64).contains(&spec.concurrency) {
        problems.push("concurrency must be between 1 and 64".into());
    }
    if spec.step_timeout_ms == Some(0) {
        problems.push("step_timeout_ms must be at least 1".into());
    }
    let judge_mode = spec.aggregate.mode == AggregateMode::Judge;
    let mut ids = BTreeSet::new();
    let mut resolved = Vec::new();
    for s in &steps {
        if !valid_name(&s.id) {
            problems.push(format!(
                "step id {:?} is not valid (1-128 of a-z, 0-9, - _ . : /)",
                s.id
            ));
        }
        if !ids.insert(s.id.as_str()) {
            problems.push(format!("two steps are named `{}`", s.id));
        }
        if judge_mode && s.id == JUDGE_STEP {
            problems.push(format!(
                "`{JUDGE_STEP}` is the judge's step: name this step otherwise"
            ));
        }
        if s.timeout_ms == Some(0) {
            problems.push(format!("step `{}`: timeout_ms must be at least 1", s.id));
        }
        if let Some(m) = s.max_attempts
            && !(1..=super::super::MAX_ATTEMPTS_LIMIT).contains(&m)
        {
            problems.push(format!("step `{}`: max_attempts must be 1 to 100", s.id));
        }
        let agent = match (&s.agent, &s.capability) {
            (Some(a), None) => {
                if config.agents.contains_key(a) {
                    Some(a.clone())
                } else {
                    problems.push(format!(
                        "step `{}` names agent `{a}`, which is not configured (agents: {})",
                        s.id,
                        agent_names(config)
                    ));
                    None
                }
            }
            (None, Some(c)) => {
                let found = pick(c);
                if found.is_none() {
                    problems.push(format!(
                        "step `{}` asks for capability `{c}`, which no agent has",
                        s.id
                    ));
                }
                found
            }
            _ => {
                problems.push(format!(
                    "step `{}` names an `agent` or a `capability` (one of the two)",
                    s.id
                ));
                None
            }
        };
        let max_attempts = s
            .max_attempts
            .or_else(|| {
                agent
                    .as_ref()
                    .and_then(|a| config.agents.get(a))
                    .map(|a| a.max_attempts)
            })
            .unwrap_or(super::super::DEFAULT_MAX_ATTEMPTS);
        resolved.push(ResolvedStep {
            id: s.id.clone(),
            agent: agent.unwrap_or_default(),
            needs: s.needs.clone(),
            input: s.input.clone(),
            timeout_ms: s.timeout_ms.or(spec.step_timeout_ms),
            max_attempts,
            judge: false,
        });
    }
    for s in &resolved {
        for n in &s.needs {
            if n == &s.id {
                problems.push(format!("step `{}` needs itself", s.id));
            } else if !ids.contains(n.as_str()) {
                problems.push(format!("step `{}` needs `{n}`, which is not a step", s.id));
            }
        }
    }
    if let Some(cycle) = cycle(&resolved) {
        problems.push(format!(
            "the steps form a cycle: {}",
            cycle
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    // The aggregated steps.
    let needed: BTreeSet<&str> = resolved
        .iter()
        .flat_map(|s| s.needs.iter().map(String::as_str))
        .collect();
    let of: Vec<String> = if spec.aggregate.of.is_empty() {
        resolved
            .iter()
            .filter(|s| !needed.contains(s.id.as_str()))
            .map(|s| s.id.clone())
            .collect()
    } else {
        let mut seen = BTreeSet::new();
        for o in &spec.aggregate.of {
            if !ids.contains(o.as_str()) {
                problems.push(format!("aggregate.of names `{o}`, which is not a step"));
            }
            if !seen.insert(o.as_str()) {
                problems.push(format!("aggregate.of names `{o}` twice"));
            }
        }
        spec.aggregate.of.clone()
    };
    match spec.aggregate.mode {
        AggregateMode::Vote => match &spec.aggregate.field {
            None => problems.push("aggregate.mode `vote` needs aggregate.field".into()),
            Some(field) => {
                for id in &of {
                    if let Some(a) = resolved
                        .iter()
                        .find(|s| &s.id == id)
                        .and_then(|s| config.agents.get(&s.agent))
                        && let Err(why) = field_in_output(a, field)
                    {
                        problems.push(format!(
                            "aggregate.field `{field}` cannot be voted on for step `{id}`: {why}"
                        ));
                    }
                }
            }
        },
        AggregateMode::Judge => match &spec.aggregate.judge {
            None => problems.push("aggregate.mode `judge` needs aggregate.judge (an agent)".into()),
            Some(j) if !config.agents.contains_key(j) => problems.push(format!(
                "aggregate.judge names agent `{j}`, which is not configured (agents: {})",
                agent_names(config)
            )),
            Some(j) => resolved.push(ResolvedStep {
                id: JUDGE_STEP.into(),
                agent: j.clone(),
                needs: of.clone(),
                input: serde_json::Map::new(),
                timeout_ms: spec.step_timeout_ms,
                max_attempts: config.agents.get(j).map_or(3, |a| a.max_attempts),
                judge: true,
            }),
        },
        AggregateMode::All | AggregateMode::FirstValid => {}
    }
    if spec.aggregate.mode != AggregateMode::Vote && spec.aggregate.field.is_some() {
        problems.push("aggregate.field is for mode `vote`".into());
    }
    if spec.aggregate.mode != AggregateMode::Judge && spec.aggregate.judge.is_some() {
        problems.push("aggregate.judge is for mode `judge`".into());
    }
    if problems.is_empty() {
        for s in &resolved {
            if let Some(a) = config.agents.get(&s.agent) {
                variables_given(s, a, &resolved, config, input, &mut problems);
            }
        }
    }
    if problems.is_empty() {
        Ok(Resolved {
            steps: resolved,
            mode: spec.aggregate.mode,
            of,
            field: spec.aggregate.field.clone(),
            concurrency: spec.concurrency,
        })
    } else {
        Err(Invalid(problems))
    }
}

fn agent_names(config: &Config) -> String {
    if config.agents.is_empty() {
        "none".into()
    } else {
        config.agents.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Some cycle among `steps`, as the ids along it (first repeated at the end).
fn cycle(steps: &[ResolvedStep]) -> Option<Vec<String>> {
    let by_id: BTreeMap<&str, &ResolvedStep> = steps.iter().map(|s| (s.id.as_str(), s)).collect();
    // 0 unseen, 1 on the path, 2 done.
    let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        id: &'a str,
        by_id: &BTreeMap<&'a str, &'a ResolvedStep>,
        mark: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match mark.get(id) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut c: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                c.push(id.to_string());
                return Some(c);
            }
            _ => {}
        }
        mark.insert(id, 1);
        path.push(id);
        if let Some(s) = by_id.get(id) {
            for n in &s.needs {
                if n != id
                    && by_id.contains_key(n.as_str())
                    && let Some(c) = visit(n.as_str(), by_id, mark, path)
                {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark.insert(id, 2);
        None
    }
    for s in steps {
        let mut path = Vec::new();
        if let Some(c) = visit(s.id.as_str(), &by_id, &mut mark, &mut path) {
            return Some(c);
        }
    }
    None
}

/// Whether `agent`'s answers have `field` (a top-level name or a JSON pointer's first
/// part) with a value one can vote on: `Err(why)` when its output schema says otherwise.
fn field_in_output(agent: &AgentConfig, field: &str) -> Result<(), String> {
    let Some(raw) = &agent.output_schema else {
        return Err("the agent answers free text (it has no output_schema)".into());
    };
    let schema = schema_value(raw)?;
    let first = field
        .strip_prefix('/')
        .map_or(field, |p| p.split('/').next().unwrap_or(p));
    property_of(&schema, first).map(|_| ())
}

/// The schema of property `name` in an object `schema`, or why it has none.
fn property_of<'a>(schema: &'a Value, name: &str) -> Result<Option<&'a Value>, String> {
    if let Some(t) = schema.get("type").and_then(Value::as_str)
        && t != "object"
    {
        return Err(format!("its output is a {t}, which has no field `{name}`"));
    }
    match schema.get("properties").and_then(Value::as_object) {
        Some(props) => match props.get(name) {
            Some(p) => Ok(Some(p)),
            None => {
                let mut have: Vec<&str> = props.keys().map(String::as_str).collect();
                have.sort_unstable();
                Err(format!(
                    "its output schema has no property `{name}` (it has: {})",
                    have.join(", ")
                ))
            }
        },
        None => Ok(None),
    }
}

/// Every variable step `s`'s templates read is given: by the run's input (when known), the
/// step's own input, or a step it needs (whose output schema has the field read).
fn variables_given(
    s: &ResolvedStep,
    agent: &AgentConfig,
    steps: &[ResolvedStep],
    config: &Config,
    input: Option<&Value>,
    problems: &mut Vec<String>,
) {
    let mut vars = BTreeSet::new();
    for text in [Some(&agent.prompt), agent.system.as_ref()]
        .into_iter()
        .flatten()
    {
        match template::variables(text) {
            Ok(v) => vars.extend(v),
            Err(e) => problems.push(format!("step `{}`: {e}", s.id)),
        }
    }
    let roots: BTreeSet<&str> = vars
        .iter()
        .map(|v| v.split('.').next().unwrap_or(v))
        .collect();
    for root in roots {
        if root == "input" || s.input.contains_key(root) {
            continue;
        }
        if s.judge && matches!(root, "results" | "disagreements") {
            continue;
        }
        if s.needs.iter().any(|n| n == root) {
            let Some(upstream) = steps
                .iter()
                .find(|u| u.id == root)
                .and_then(|u| config.agents.get(&u.agent).map(|a| (u, a)))
            else {
                continue;
            };
            for v in vars.iter().filter(|v| v.split('.').next() == Some(root)) {
                let Some(field) = v.split('.').nth(1) else {
                    continue;
                };
                let why = match &upstream.1.output_schema {
                    None => Some(format!(
                        "`{}` ({}) answers free text, which has no field `{field}`",
                        upstream.0.id, upstream.0.agent
                    )),
                    Some(raw) => match schema_value(raw)
                        .and_then(|sc| property_of(&sc, field).map(|_| ()))
                    {
                        Ok(_) => None,
                        Err(e) => Some(format!("`{}` ({}): {e}", upstream.0.id, upstream.0.agent)),
                    },
                };
                if let Some(why) = why {
                    problems.push(format!(
                        "step `{}` reads `{v}`, a type mismatch: {why}",
                        s.id
                    ));
                }
            }
            continue;
        }
        if steps.iter().any(|o| o.id == root) {
            problems.push(format!(
                "step `{}` reads `{root}`, the output of step `{root}`, but does not list it in needs",
                s.id
            ));
            continue;
        }
        if let Some(input) = input
            && input.get(root).is_none()
        {
            let mut have: Vec<&str> = input
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            have.sort_unstable();
            problems.push(format!(
                "step `{}` ({}) reads `{root}`, which neither the run's input (it has: {}) nor a step it needs gives",
                s.id,
                s.agent,
                if have.is_empty() {
                    "nothing".to_string()
                } else {
                    have.join(", ")
                }
            ));
        }
    }
}

/// The input of step `s`: the run's input, the step's own fields, and each needed step's
/// output by its id (a judge also gets `results`, those outputs by step, and the
/// `disagreements`).
pub fn step_input(
    s: &ResolvedStep,
    run_input: &Value,
    outputs: &BTreeMap<String, Value>,
    disagreements: &Value,
) -> Value {
    let mut map = run_input.as_object().cloned().unwrap_or_default();
    for (k, v) in &s.input {
        map.insert(k.clone(), v.clone());
    }
    if s.judge {
        let results: serde_json::Map<String, Value> = s
            .needs
            .iter()
            .filter_map(|n| outputs.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        map.insert("results".into(), Value::Object(results));
        map.insert("disagreements".into(), disagreements.clone());
    }
    {
        for n in &s.needs {
            if let Some(v) = outputs.get(n) {
                map.insert(n.clone(), v.clone());
            }
        }
    }
    Value::Object(map)
}

/// The broken rules of every `[runs.<name>]`: dotted key and reason (capabilities resolve
/// to the first agent by name that has them; the input is not known yet).
pub fn violations(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, spec) in &config.runs {
        if !valid_name(name) {
            out.push((
                format!("runs.{name}"),
                "a run name is 1-128 of a-z, 0-9, - _ . : /".into(),
            ));
        }
        let pick = |c: &str| {
            crate::agents::with_capability(config, c)
                .first()
                .map(|s| s.to_string())
        };
        if let Err(Invalid(problems)) = resolve(spec, config, None, pick) {
            out.extend(problems.into_iter().map(|p| (format!("runs.{name}"), p)));
        }
    }
    out
}
