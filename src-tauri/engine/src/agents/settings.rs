//! `[agents.<name>]`: what an agent is in the config, and the rules a definition must meet
//! before the config is accepted (its route resolves, its templates compile, its output
//! schema is a valid JSON Schema, its tools exist).
//!
//! Must never: read files (validation is pure, like the rest of the config's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Config;
use crate::providers::settings::split_ref;

/// Tools an agent may name until the approvals issue brings action types.
pub const BUILTIN_TOOLS: &[&str] = &["builtin:log", "builtin:webhook"];

fn default_max_attempts() -> u32 {
    3
}
fn default_max_steps() -> u32 {
    8
}
fn default_max_reasks() -> u32 {
    2
}
fn default_concurrency() -> u32 {
    4
}
/// What an agent's task does when a blocking budget refuses its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnBudget {
    #[default]
    Wait,
    Fail,
}

fn default_timeout_secs() -> u64 {
    300
}

/// One agent (`[agents.<name>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    pub description: String,
    /// A route name or a `provider/model` reference: the model chain the agent calls.
    pub route: String,
    /// The prompt template (minijinja); the task's input fields are its variables. Or
    /// `prompt_file`.
    #[serde(default)]
    pub prompt: String,
    /// A file holding the prompt template instead (UTF-8, at most 1 MiB), relative to the
    /// config file's directory. Read at every load of the config (then its text is `prompt`);
    /// a change to it reloads the config like a change to the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_file: Option<String>,
    /// System instructions (also a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// JSON Schema the answer must match (a table, or JSON text); none: free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<serde_json::Value>,
    /// Action types the agent may propose (today `builtin:log`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// What it can do: tasks may ask for a capability instead of an agent.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Attempts of its tasks that name none.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Model calls per attempt at most (tool rounds and re-asks included).
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Re-asks after an answer that does not match `output_schema`.
    #[serde(default = "default_max_reasks")]
    pub max_reasks: u32,
    /// Use the response cache for its calls (deterministic requests).
    #[serde(default)]
    pub cache: bool,
    /// A blocking budget refused its call: `wait` (the task is scheduled for when the
    /// budget resets, its attempt refunded) or `fail` (the task fails).
    #[serde(default)]
    pub on_budget: OnBudget,
    /// Tasks of this agent running at once on this node.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Longest one attempt may run.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Where `builtin:webhook` posts (`[agents.<name>.webhook]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<super::actions::WebhookConfig>,
    /// What happens to turns that no longer fit the context (`[agents.<name>.memory]`).
    #[serde(default)]
    pub memory: super::memory::MemoryConfig,
    /// Tasks enqueued on a schedule (`[[agents.<name>.schedules]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleConfig>,
}

fn default_catch_up_secs() -> u64 {
    3600
}

/// A schedule: a task of this agent at every time the cron pattern names (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Five fields (minute hour day month weekday) or six (seconds first); `@daily` and the
    /// other nicknames too. UTC.
    pub cron: String,
    /// The input of each task.
    #[serde(default)]
    pub input: serde_json::Value,
    #[serde(default)]
    pub priority: i32,
    /// A slot the node missed (it was stopped) is still run when it is at most this old;
    /// older ones are skipped.
    #[serde(default = "default_catch_up_secs")]
    pub catch_up_secs: u64,
}

/// The output schema as JSON: a table, or a string holding JSON.
pub fn schema_value(raw: &serde_json::Value) -> Result<serde_json::Value, String> {
    match raw {
        serde_json::Value::String(text) => {
            serde_json::from_str(text).map_err(|e| format!("is a string but not JSON: {e}"))
        }
        other => Ok(other.clone()),
    }
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

/// The broken rules of every agent: dotted key and reason.
pub fn violations(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, a) in &config.agents {
        let key = |k: &str| format!("agents.{name}.{k}");
        if !valid_name(name) {
            out.push((
                format!("agents.{name}"),
                "an agent name is 1-128 of a-z, 0-9, - _ . : /".into(),
            ));
        }
        if a.prompt.is_empty() && a.prompt_file.is_none() {
            out.push((
                key("prompt"),
                "an agent needs a prompt template: `prompt`, or `prompt_file`".into(),
            ));
        }
        if let Err(reason) = route_problem(config, &a.route) {
            out.push((key("route"), reason));
        }
        for (field, text) in [("prompt", Some(&a.prompt)), ("system", a.system.as_ref())] {
            if let Some(text) = text
                && let Err(e) = super::template::compile(text)
            {
                out.push((key(field), e));
            }
        }
        if let Some(raw) = &a.output_schema {
            match schema_value(raw).and_then(|v| super::output::compile(&v).map(|_| ())) {
                Ok(()) => {}
                Err(e) => out.push((key("output_schema"), e)),
            }
        }
        for t in &a.tools {
            match config.actions.get(t) {
                _ if BUILTIN_TOOLS.contains(&t.as_str()) => {}
                _ if t.starts_with("mcp:") => {
                    let server = t["mcp:".len()..].split(':').next().unwrap_or_default();
                    if !config.mcp.contains_key(server) {
                        out.push((
                            key("tools"),
                            format!("`{t}`: no MCP server [mcp.{server}] is declared"),
                        ));
                    }
                }
                None => out.push((
                    key("tools"),
                    format!(
                        "`{t}` is not an action type (there are: {})",
                        crate::approvals::settings::action_names(&config.actions)
                    ),
                )),
                Some(a) if a.executor == crate::approvals::settings::ExecutorKind::External => {
                    out.push((
                        key("tools"),
                        format!(
                            "`{t}` has the executor `external` (clients elsewhere run it): an agent here cannot use it"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        match (&a.webhook, a.tools.iter().any(|t| t == "builtin:webhook")) {
            (None, true) => out.push((
                key("webhook"),
                "the tool builtin:webhook needs [agents.<name>.webhook] url".into(),
            )),
            (Some(h), _) => {
                if let Some(why) = super::actions::webhook_url_problem(&h.url) {
                    out.push((key("webhook.url"), why));
                }
                if !(1..=300_000).contains(&h.timeout_ms) {
                    out.push((
                        key("webhook.timeout_ms"),
                        "must be between 1 and 300000".into(),
                    ));
                }
            }
            (None, false) => {}
        }
        for c in &a.capabilities {
            if !valid_name(c) {
                out.push((
                    key("capabilities"),
                    format!("`{c}` is not a capability name (1-128 of a-z, 0-9, - _ . : /)"),
                ));
            }
        }
        let ranges: [(&str, u64, u64, u64); 5] = [
            ("max_attempts", a.max_attempts.into(), 1, 100),
            ("max_steps", a.max_steps.into(), 1, 1000),
            ("max_reasks", a.max_reasks.into(), 0, 10),
            ("concurrency", a.concurrency.into(), 1, 1000),
            ("timeout_secs", a.timeout_secs, 1, 86_400),
        ];
        for (k, v, min, max) in ranges {
            if !(min..=max).contains(&v) {
                out.push((key(k), format!("must be between {min} and {max}")));
            }
        }
        for (i, s) in a.schedules.iter().enumerate() {
            if let Err(e) = super::schedule::parse(&s.cron) {
                out.push((format!("agents.{name}.schedules[{i}].cron"), e));
            }
            if s.catch_up_secs > 7 * 86_400 {
                out.push((
                    format!("agents.{name}.schedules[{i}].catch_up_secs"),
                    "must be between 0 and 604800 (a week)".into(),
                ));
            }
        }
        if let Some(route) = &a.memory.route
            && let Err(reason) = route_problem(config, route)
        {
            out.push((key("memory.route"), reason));
        }
        if !(16..=32_768).contains(&a.memory.max_tokens) {
            out.push((
                key("memory.max_tokens"),
                "must be between 16 and 32768".into(),
            ));
        }
        if !(1..=100).contains(&a.memory.keep_recent) {
            out.push((
                key("memory.keep_recent"),
                "must be between 1 and 100".into(),
            ));
        }
        if let Some(t) = a.temperature
            && !(0.0..=2.0).contains(&t)
        {
            out.push((key("temperature"), "must be between 0 and 2".into()));
        }
    }
    out
}

/// Why `route` names nothing a call could use.
fn route_problem(config: &Config, route: &str) -> Result<(), String> {
    if config.routes.contains_key(route) {
        return Ok(());
    }
    match split_ref(route) {
        Some((p, _)) if config.providers.contains_key(p) => Ok(()),
        Some((p, _)) => Err(format!(
            "`{route}` names provider `{p}`, which is not configured (providers: {})",
            names(&config.providers)
        )),
        None => Err(format!(
            "`{route}` is neither a route nor a `provider/model` reference (routes: {})",
            names(&config.routes)
        )),
    }
}

fn names<T>(map: &BTreeMap<String, T>) -> String {
    if map.is_empty() {
        "none".into()
    } else {
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}
