//! `[actions.<name>]`, `[[policies]]` and `[approvals]`: the action types agents (and
//! clients elsewhere) may propose, the ordered rules that decide them, and the defaults,
//! SLA warnings and escalation chain. Every rule here is checked when the config loads; a
//! config with a broken one is refused and the old one stays in force.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::config::Config;

/// How much harm an action can do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub const ALL: [Risk; 4] = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What runs an action once it is allowed or approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ExecutorKind {
    /// An HTTP POST of the action, signed (HMAC-SHA256 over timestamp and body).
    #[serde(rename = "webhook")]
    Webhook,
    /// A configured program, the arguments as JSON on stdin; never through a shell. Off
    /// unless `[approvals] enable_command_executor = true`.
    #[serde(rename = "command")]
    Command,
    /// A tool of an MCP server (see the approvals issue; not in this build yet).
    #[serde(rename = "mcp")]
    Mcp,
    /// A notification on the feed (and the desktop).
    #[serde(rename = "builtin:notify")]
    Notify,
    /// A line in the node's log.
    #[serde(rename = "builtin:log")]
    Log,
    /// Nothing runs here: the client that asked (an agent elsewhere) acts on the decision.
    #[serde(rename = "external")]
    External,
}

impl ExecutorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Command => "command",
            Self::Mcp => "mcp",
            Self::Notify => "builtin:notify",
            Self::Log => "builtin:log",
            Self::External => "external",
        }
    }
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_max_attempts() -> u32 {
    3
}

fn default_schema() -> Value {
    serde_json::json!({"type": "object"})
}

/// `[actions.<name>]`: an action type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// What it does, for the model and for the approver.
    pub description: String,
    /// The arguments' JSON Schema (a table, or a string holding JSON).
    #[serde(default = "default_schema")]
    pub schema: Value,
    pub risk: Risk,
    pub executor: ExecutorKind,
    /// `webhook`: where to POST (https, or http to loopback).
    #[serde(default)]
    pub url: Option<String>,
    /// `webhook`: the named secret holding the HMAC key (`flightdeck secrets set <name>`).
    #[serde(default)]
    pub secret: Option<String>,
    /// `command`: the program and its fixed arguments (no shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// Each try's time limit (webhook, command).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `webhook`: tries in all (backoff between them).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Argument names holding shell command lines: a policy's `when` is checked on every
    /// command of a chained line (`a && b; c | d`), not only the first.
    #[serde(default)]
    pub shell_arguments: Vec<String>,
}

impl ActionConfig {
    /// The arguments' schema as JSON.
    pub fn schema_value(&self) -> Result<Value, String> {
        crate::agents::settings::schema_value(&self.schema)
    }
}

/// What a rule (or the default) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    RequireApproval,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::RequireApproval => "require_approval",
            Self::Deny => "deny",
        }
    }

    /// At the same precedence: deny over require_approval over allow.
    pub fn strength(self) -> u8 {
        match self {
            Self::Allow => 0,
            Self::RequireApproval => 1,
            Self::Deny => 2,
        }
    }
}

/// What an overdue request's rule does when the escalation chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    #[default]
    Reject,
    Approve,
}

/// `approvers`: how many distinct people must approve, or the list of who may (then
/// `quorum` says how many of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Approvers {
    Count(u32),
    Named(Vec<String>),
}

/// One string or a list of them (`action = "refund"` or `action = ["refund", "payout"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&str> {
        match self {
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// `[[policies]]`: one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Shown in explanations and on requests (default `policies[<index>]`).
    #[serde(default)]
    pub name: Option<String>,
    /// Action type names (`*` globs allowed); absent: every action.
    #[serde(default)]
    pub action: Option<OneOrMany>,
    /// Own agents it applies to (globs); a rule with `agent` never matches a client's request.
    #[serde(default)]
    pub agent: Option<OneOrMany>,
    /// External clients it applies to, by actor (`token:ci`; globs); a rule with `client`
    /// never matches an own agent's proposal.
    #[serde(default)]
    pub client: Option<OneOrMany>,
    /// Risks it applies to.
    #[serde(default)]
    pub risk: Option<OneOrMany>,
    /// A predicate over the arguments, e.g. `amount > 500 and env == "prod"`.
    #[serde(default)]
    pub when: Option<String>,
    pub decision: Decision,
    /// Higher first; at the same priority deny wins over require_approval over allow.
    #[serde(default)]
    pub priority: i32,
    /// require_approval: a number of distinct approvers, or who may approve.
    #[serde(default)]
    pub approvers: Option<Approvers>,
    /// With a list of `approvers`: how many of them must approve (default 1).
    #[serde(default)]
    pub quorum: Option<u32>,
    /// require_approval: how long a decision may take (`30m`, `4h`, `2d`).
    #[serde(default)]
    pub sla: Option<String>,
    /// What happens when the SLA and the escalation chain have run out.
    #[serde(default)]
    pub on_timeout: Option<OnTimeout>,
}

fn default_sla() -> String {
    "24h".into()
}

/// `[approvals.default]`: the rule when none matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultRule {
    pub decision: Decision,
    /// The decision for low-risk actions no rule matches (`allow` out of the box, so
    /// `builtin:log` needs no rule).
    pub low_risk: Decision,
    pub approvers: u32,
    #[serde(default = "default_sla")]
    pub sla: String,
    pub on_timeout: OnTimeout,
}

impl Default for DefaultRule {
    fn default() -> Self {
        Self {
            decision: Decision::RequireApproval,
            low_risk: Decision::Allow,
            approvers: 1,
            sla: default_sla(),
            on_timeout: OnTimeout::Reject,
        }
    }
}

/// One step of `[approvals.escalation] steps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// How long after the SLA ran out (`0s`, `15m`).
    pub after: String,
    /// `desktop` (a notification on the feed, shown natively by the desktop app) or
    /// `webhook` (a signed POST to `url`: a chat or incident tool).
    pub notify: EscalationChannel,
    #[serde(default)]
    pub url: Option<String>,
    /// The named secret holding the HMAC key for `webhook`.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationChannel {
    Desktop,
    Webhook,
}

fn default_warn_before() -> String {
    "15m".into()
}

fn default_timeout_after() -> String {
    "1h".into()
}

/// `[approvals.escalation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// A warning this long before the SLA runs out.
    #[serde(default = "default_warn_before")]
    pub warn_before: String,
    /// After the SLA, in order.
    #[serde(default)]
    pub steps: Vec<EscalationStep>,
    /// How long after the SLA the rule's `on_timeout` decides (after every step).
    #[serde(default = "default_timeout_after")]
    pub timeout_after: String,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            warn_before: default_warn_before(),
            steps: vec![EscalationStep {
                after: "0s".into(),
                notify: EscalationChannel::Desktop,
                url: None,
                secret: None,
            }],
            timeout_after: default_timeout_after(),
        }
    }
}

/// `[approvals]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    pub default: DefaultRule,
    pub escalation: EscalationConfig,
    /// The `command` executor runs programs on this machine: off unless set.
    pub enable_command_executor: bool,
    /// The named secret that signs callbacks to clients that asked from elsewhere.
    pub callback_secret: Option<String>,
    /// Callbacks may go to `http://` on loopback (else https only): off, so a client
    /// elsewhere cannot make the node POST to services on its own machine.
    pub allow_loopback_callbacks: bool,
}

/// `url` without its path, query and credentials (`https://hooks.slack.com/…`): webhook URLs
/// often carry a secret, so logs, audit entries and the API show only where they go.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}/…", u.scheme()),
            (Some(h), None) => format!("{}://{h}/…", u.scheme()),
            _ => "(a URL)".into(),
        },
        Err(_) => "(not a URL)".into(),
    }
}

/// The longest SLA, warning or escalation delay.
pub const MAX_SLA: Duration = Duration::from_secs(365 * 86_400);

/// `30m`, `4h`, `2d`, `90s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 30m, 4h or 2d: {e}"))
}

/// Whether `pattern` (with `*` for any run of characters) matches `value`.
pub fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let mut rest = value;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// The action types an agent may list in `tools` besides `[actions]`.
pub const BUILTIN_ACTIONS: &[&str] = &["builtin:log", "builtin:webhook"];

/// The broken rules of `[actions]`, `[[policies]]` and `[approvals]`: dotted key and reason.
pub fn violations(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, a) in &config.actions {
        let key = |k: &str| format!("actions.{name}.{k}");
        if !crate::agents::settings::valid_name(name) || name.starts_with("builtin:") {
            out.push((
                format!("actions.{name}"),
                "an action name is 1-128 of a-z, 0-9, - _ . : / and does not start with builtin:"
                    .into(),
            ));
        }
        if a.description.trim().is_empty() {
            out.push((key("description"), "say what the action does".into()));
        }
        match a
            .schema_value()
            .and_then(|v| crate::agents::output::compile(&v).map(|_| v))
        {
            Ok(v) if v.get("type").and_then(Value::as_str) != Some("object") => out.push((
                key("schema"),
                "the arguments are an object: the schema needs \"type\": \"object\"".into(),
            )),
            Ok(_) => {}
            Err(e) => out.push((key("schema"), e)),
        }
        match a.executor {
            ExecutorKind::Webhook => {
                match &a.url {
                    None => out.push((key("url"), "a webhook executor needs a url".into())),
                    Some(url) => {
                        if let Some(why) = crate::agents::actions::webhook_url_problem(url) {
                            out.push((key("url"), why));
                        }
                    }
                }
                if a.secret.is_none() {
                    out.push((
                        key("secret"),
                        "a webhook executor signs what it sends: name the secret holding the key"
                            .into(),
                    ));
                }
                if !(1..=10).contains(&a.max_attempts) {
                    out.push((key("max_attempts"), "must be between 1 and 10".into()));
                }
            }
            ExecutorKind::Command => {
                if !config.approvals.enable_command_executor {
                    out.push((
                        key("executor"),
                        "the command executor is off: set [approvals] enable_command_executor = true to run programs"
                            .into(),
                    ));
                }
                match a.command.first() {
                    None => out.push((
                        key("command"),
                        "a command executor needs the program: command = [\"/path/to/program\", \"arg\"...]"
                            .into(),
                    )),
                    Some(p) if !std::path::Path::new(p).is_absolute() => out.push((
                        key("command"),
                        format!("`{p}`: give the program's absolute path (no PATH lookup, no shell)"),
                    )),
                    Some(_) => {}
                }
            }
            ExecutorKind::Mcp => out.push((
                key("executor"),
                "MCP tools come from their server: declare [mcp.<name>] and use mcp:<name>:<tool>"
                    .into(),
            )),
            ExecutorKind::Notify | ExecutorKind::Log | ExecutorKind::External => {}
        }
        if !(100..=600_000).contains(&a.timeout_ms) {
            out.push((key("timeout_ms"), "must be between 100 and 600000".into()));
        }
        for s in &a.shell_arguments {
            let declared = a
                .schema_value()
                .ok()
                .and_then(|v| v.get("properties").and_then(|p| p.get(s)).cloned());
            if declared.is_none() {
                out.push((
                    key("shell_arguments"),
                    format!("`{s}` is not a property of the schema"),
                ));
            }
        }
    }
    for (i, p) in config.policies.iter().enumerate() {
        let key = |k: &str| format!("policies[{i}].{k}");
        if let Some(when) = &p.when
            && let Err(e) = super::predicate::parse(when)
        {
            out.push((key("when"), e.to_string()));
        }
        if let Some(actions) = &p.action {
            for a in actions.items() {
                if let Some(rest) = a.strip_prefix("mcp:") {
                    let server = rest.split(':').next().unwrap_or_default();
                    if !server.contains('*') && !config.mcp.contains_key(server) {
                        out.push((
                            key("action"),
                            format!("`{a}`: no MCP server [mcp.{server}] is declared"),
                        ));
                    }
                    continue;
                }
                if !a.contains('*')
                    && !config.actions.contains_key(a)
                    && !BUILTIN_ACTIONS.contains(&a)
                {
                    out.push((
                        key("action"),
                        format!("`{a}` is not an action ([actions.{a}] is not declared)"),
                    ));
                }
            }
        }
        if let Some(risks) = &p.risk {
            for r in risks.items() {
                if Risk::parse(r).is_none() {
                    out.push((
                        key("risk"),
                        format!("`{r}` is not low, medium, high or critical"),
                    ));
                }
            }
        }
        if p.agent.is_some() && p.client.is_some() {
            out.push((
                key("client"),
                "a rule applies to own agents (`agent`) or to clients (`client`), not both".into(),
            ));
        }
        if let Some(agents) = &p.agent {
            for a in agents.items() {
                if !a.contains('*') && !config.agents.contains_key(a) {
                    out.push((key("agent"), format!("`{a}` is not an agent")));
                }
            }
        }
        if p.decision != Decision::RequireApproval
            && (p.approvers.is_some()
                || p.sla.is_some()
                || p.on_timeout.is_some()
                || p.quorum.is_some())
        {
            out.push((
                key("decision"),
                "approvers, quorum, sla and on_timeout belong to require_approval rules".into(),
            ));
        }
        match (&p.approvers, p.quorum) {
            (Some(Approvers::Count(n)), q) => {
                if !(1..=10).contains(n) {
                    out.push((
                        key("approvers"),
                        "between 1 and 10 distinct approvers".into(),
                    ));
                }
                if q.is_some() {
                    out.push((
                        key("quorum"),
                        "quorum goes with a list of approvers; with a number, the number is the quorum".into(),
                    ));
                }
            }
            (Some(Approvers::Named(list)), q) => {
                let q = q.unwrap_or(1);
                if list.is_empty() {
                    out.push((key("approvers"), "name at least one approver".into()));
                }
                if q == 0 || q as usize > list.len() {
                    out.push((
                        key("quorum"),
                        format!("must be between 1 and the {} approvers named", list.len()),
                    ));
                }
            }
            (None, Some(_)) => out.push((key("quorum"), "quorum needs a list of approvers".into())),
            (None, None) => {}
        }
        if let Some(sla) = &p.sla {
            match parse_duration(sla) {
                Err(e) => out.push((key("sla"), e)),
                Ok(d) if d > MAX_SLA || d.is_zero() => {
                    out.push((key("sla"), "between 1 second and 365 days".into()));
                }
                Ok(_) => {}
            }
        }
    }
    out.extend(super::mcp::violations(&config.mcp));
    let d = &config.approvals.default;
    match parse_duration(&d.sla) {
        Err(e) => out.push(("approvals.default.sla".into(), e)),
        Ok(d) if d > MAX_SLA || d.is_zero() => {
            out.push((
                "approvals.default.sla".into(),
                "between 1 second and 365 days".into(),
            ));
        }
        Ok(_) => {}
    }
    if !(1..=10).contains(&d.approvers) {
        out.push((
            "approvals.default.approvers".into(),
            "between 1 and 10".into(),
        ));
    }
    let esc = &config.approvals.escalation;
    for (k, v) in [
        ("warn_before", &esc.warn_before),
        ("timeout_after", &esc.timeout_after),
    ] {
        if let Err(e) = parse_duration(v).and_then(|d| {
            if d > MAX_SLA {
                Err("365 days at most".to_string())
            } else {
                Ok(d)
            }
        }) {
            out.push((format!("approvals.escalation.{k}"), e));
        }
    }
    let mut last = Duration::ZERO;
    for (i, s) in esc.steps.iter().enumerate() {
        let key = |k: &str| format!("approvals.escalation.steps[{i}].{k}");
        match parse_duration(&s.after) {
            Ok(d) if d > MAX_SLA => out.push((key("after"), "365 days at most".into())),
            Ok(d) if d < last => out.push((key("after"), "steps go in order of `after`".into())),
            Ok(d) => last = d,
            Err(e) => out.push((key("after"), e)),
        }
        match (s.notify, &s.url) {
            (EscalationChannel::Webhook, None) => {
                out.push((key("url"), "a webhook step needs a url".into()));
            }
            (EscalationChannel::Webhook, Some(url)) => {
                if let Some(why) = crate::agents::actions::webhook_url_problem(url) {
                    out.push((key("url"), why));
                }
            }
            (EscalationChannel::Desktop, Some(_)) => {
                out.push((key("url"), "a desktop step has no url".into()));
            }
            (EscalationChannel::Desktop, None) => {}
        }
    }
    if let Ok(timeout) = parse_duration(&esc.timeout_after)
        && timeout < last
    {
        out.push((
            "approvals.escalation.timeout_after".into(),
            "comes after the last step".into(),
        ));
    }
    out
}

/// The action types by name, as the engine sees them: `[actions]` plus the builtins an
/// agent may list (low risk, no schema of their own).
pub fn action_of<'a>(config: &'a Config, name: &str) -> Option<std::borrow::Cow<'a, ActionConfig>> {
    if let Some(a) = config.actions.get(name) {
        return Some(std::borrow::Cow::Borrowed(a));
    }
    let builtin = |description: &str, schema: Value| ActionConfig {
        description: description.into(),
        schema,
        risk: Risk::Low,
        executor: ExecutorKind::External,
        url: None,
        secret: None,
        command: Vec::new(),
        timeout_ms: default_timeout_ms(),
        max_attempts: default_max_attempts(),
        shell_arguments: Vec::new(),
    };
    match name {
        "builtin:log" => Some(std::borrow::Cow::Owned(builtin(
            "Write a line to Flightdeck's log.",
            serde_json::json!({
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"]
            }),
        ))),
        "builtin:webhook" => Some(std::borrow::Cow::Owned(builtin(
            "Send a JSON object to this agent's webhook; answers what it returns.",
            serde_json::json!({"type": "object"}),
        ))),
        _ => None,
    }
}

/// Names, for error messages.
pub fn action_names(actions: &BTreeMap<String, ActionConfig>) -> String {
    let mut names: Vec<&str> = actions.keys().map(String::as_str).collect();
    names.extend(BUILTIN_ACTIONS);
    names.join(", ")
}
