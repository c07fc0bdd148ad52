//! The action layer: the tools an agent may offer its model (its action types) and their
//! execution: `builtin:log` (a line in the node's log), `builtin:webhook` (a POST of the
//! arguments to the agent's `webhook.url`) and the `[actions.<name>]` it lists. Every call
//! passes the approvals gate first ([`run_tool`]): its arguments are checked against the
//! action's schema and the policies decide (run, refuse, or park the task for a human).
//!
//! Invariant: every action carries the idempotency key of its step
//! (`<task>:<round>:<step>`, as the `Idempotency-Key` header of a webhook), the same on every
//! run of that step, so a receiver that honours it applies a step's effect once even when a
//! crash made the step run again.
//!
//! Must never: run an action the agent does not list, or send a webhook anywhere but the
//! agent's configured URL.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AgentConfig;
use crate::providers::neutral::Tool;

/// Largest webhook answer given back to the model; longer ones are cut with a marker.
pub const MAX_WEBHOOK_ANSWER: usize = 16 * 1024;

fn default_webhook_timeout() -> u64 {
    10_000
}

/// `[agents.<name>.webhook]`: where `builtin:webhook` posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://…`, or `http://` to a loopback address.
    pub url: String,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
}

/// Why `url` cannot be a webhook's (none: it can).
pub fn webhook_url_problem(url: &str) -> Option<String> {
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("`{url}` is not a URL: {e}")),
    };
    let Some(host) = parsed.host_str() else {
        return Some(format!("`{url}` has no host"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some(format!(
            "`{url}` is plain http off loopback: use https (secrets and effects travel in it)"
        )),
        other => Some(format!("`{url}`: the scheme must be https (not {other})")),
    }
}

/// The model-facing name of an action type (`builtin:log` → `builtin_log`,
/// `mcp:files:delete_file` → `mcp_files_delete_file`): letters, digits, `_` and `-`, at most
/// 64, as the providers require.
pub fn tool_name(action: &str) -> String {
    action
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// The tools `agent` offers its model, each with the action type it stands for: the
/// builtins, the `[actions]` it lists, and the tools of the MCP servers it lists
/// (`mcp:<server>` for all of them, `mcp:<server>:<tool>` for one), described by the server.
pub async fn offered(
    approvals: &crate::approvals::Approvals,
    agent: &AgentConfig,
    config: &crate::config::Config,
) -> Result<Vec<(String, Tool)>, crate::approvals::ApprovalError> {
    let mut out: Vec<(String, Tool)> = Vec::new();
    // Model-facing names are unique: two actions that sanitize (or cut at 64) to the same
    // name get a short hash of their action type, so a call always runs the action it named.
    let push = |out: &mut Vec<(String, Tool)>, action: String, mut tool: Tool| {
        if out.iter().any(|(a, _)| *a == action) {
            return;
        }
        if tool.name.len() >= 64 || out.iter().any(|(_, t)| t.name == tool.name) {
            use sha2::Digest;
            let h = hex::encode(sha2::Sha256::digest(action.as_bytes()));
            let stem: String = tool.name.chars().take(55).collect();
            tool.name = format!("{stem}_{}", &h[..8]);
        }
        out.push((action, tool));
    };
    for entry in &agent.tools {
        let Some(rest) = entry.strip_prefix("mcp:") else {
            let single = AgentConfig {
                tools: vec![entry.clone()],
                ..agent.clone()
            };
            for t in tools_of(&single, config) {
                push(&mut out, entry.clone(), t);
            }
            continue;
        };
        let (server, only) = match rest.split_once(':') {
            Some((s, t)) => (s, Some(t)),
            None => (rest, None),
        };
        for tool in approvals.mcp_tools(config, server).await? {
            if only.is_some_and(|o| o != tool.name) {
                continue;
            }
            let action = format!("mcp:{server}:{}", tool.name);
            let offered_tool = Tool {
                name: tool_name(&action),
                description: Some(tool.description.clone()),
                parameters: tool.schema.clone(),
            };
            push(&mut out, action, offered_tool);
        }
    }
    Ok(out)
}

/// The tools `agent` offers its model: the builtins, and the `[actions]` of `config` it
/// lists with their descriptions and argument schemas.
pub fn tools_of(agent: &AgentConfig, config: &crate::config::Config) -> Vec<Tool> {
    agent
        .tools
        .iter()
        .map(|t| match t.as_str() {
            name if config.actions.contains_key(name) => {
                let action = &config.actions[name];
                Tool {
                    name: tool_name(name),
                    description: Some(action.description.clone()),
                    parameters: action
                        .schema_value()
                        .unwrap_or_else(|_| json!({"type": "object"})),
                }
            }
            "builtin:log" => Tool {
                name: tool_name(t),
                description: Some("Write a line to Flightdeck's log.".into()),
                parameters: json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }),
            },
            "builtin:webhook" => Tool {
                name: tool_name(t),
                description: Some(
                    "Send a JSON object to this agent's webhook; answers what it returns.".into(),
                ),
                parameters: json!({"type": "object"}),
            },
            other => Tool {
                name: tool_name(other),
                description: None,
                parameters: json!({"type": "object"}),
            },
        })
        .collect()
}

/// What became of a tool call.
pub enum ToolOutcome {
    /// The result for the model (`true`: an error).
    Done(String, bool),
    /// A human decides first: park the task with this request.
    Park(Box<crate::approvals::store::NewRequest>),
}

/// The tool call `name(arguments)` of step `key` through the approvals gate, then its
/// execution: builtins here, `[actions]` by their executor (at most once per key).
/// `offered`: the tools the attempt offered, with their action types (only those run).
#[allow(clippy::too_many_arguments)]
pub async fn run_tool(
    approvals: &crate::approvals::Approvals,
    agent: &AgentConfig,
    offered: &[(String, Tool)],
    agent_name: &str,
    task_id: &str,
    key: &str,
    name: &str,
    arguments: &str,
    rationale: Option<String>,
) -> Result<ToolOutcome, crate::approvals::ApprovalError> {
    let Some((action, _)) = offered.iter().find(|(_, t)| t.name == name) else {
        return Ok(ToolOutcome::Done(format!("no tool named {name}"), true));
    };
    let gate = approvals
        .gate(crate::approvals::ToolCall {
            agent: agent_name,
            task_id,
            key,
            action,
            tool: name,
            arguments,
            rationale,
        })
        .await?;
    Ok(match gate {
        crate::approvals::Gate::Refuse(text) => ToolOutcome::Done(text, true),
        crate::approvals::Gate::Park(request) => ToolOutcome::Park(request),
        crate::approvals::Gate::Run {
            arguments,
            request_id,
        } => {
            if action.starts_with("builtin:") {
                let (text, is_error) = execute(
                    agent,
                    agent_name,
                    task_id,
                    key,
                    name,
                    &arguments.to_string(),
                )
                .await;
                ToolOutcome::Done(text, is_error)
            } else {
                let o = approvals
                    .execute(
                        key,
                        action,
                        &arguments,
                        request_id.as_deref(),
                        Some(task_id),
                        Some(agent_name),
                    )
                    .await;
                ToolOutcome::Done(o.text, !o.ok)
            }
        }
    })
}

/// The HTTP client of actions (webhooks, callbacks): no redirects, so a webhook posts only
/// where it is configured to.
pub(crate) fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Runs the tool `name` the model asked for with `arguments`, for step `key` of `task_id`:
/// `(result text, is_error)`. Only the agent's own tools run.
pub async fn execute(
    agent: &AgentConfig,
    agent_name: &str,
    task_id: &str,
    key: &str,
    name: &str,
    arguments: &str,
) -> (String, bool) {
    let Some(action) = agent.tools.iter().find(|t| tool_name(t) == name) else {
        return (format!("no tool named {name}"), true);
    };
    match action.as_str() {
        "builtin:log" => {
            let message = serde_json::from_str::<Value>(arguments)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string));
            match message {
                Some(m) => {
                    tracing::info!(task = %task_id, message = %m, "agent log");
                    ("logged".into(), false)
                }
                None => ("arguments must be {\"message\": string}".into(), true),
            }
        }
        "builtin:webhook" => {
            let Some(hook) = &agent.webhook else {
                return ("this agent has no webhook configured".into(), true);
            };
            let args: Value =
                serde_json::from_str(arguments).unwrap_or(Value::String(arguments.to_string()));
            let body = json!({
                "agent": agent_name,
                "task_id": task_id,
                "idempotency_key": key,
                "arguments": args,
            });
            let sent = client()
                .post(&hook.url)
                .header("idempotency-key", key)
                .timeout(Duration::from_millis(hook.timeout_ms))
                .json(&body)
                .send()
                .await;
            match sent {
                Err(e) => (
                    format!("the webhook could not be reached: {}", e.without_url()),
                    true,
                ),
                Ok(mut res) => {
                    let status = res.status();
                    // Read up to the cap, never the whole of a huge answer.
                    let mut bytes: Vec<u8> = Vec::new();
                    let mut cut_short = false;
                    while let Ok(Some(chunk)) = res.chunk().await {
                        let room = MAX_WEBHOOK_ANSWER.saturating_sub(bytes.len());
                        if chunk.len() > room {
                            bytes.extend_from_slice(&chunk[..room]);
                            cut_short = true;
                            break;
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    let mut text = String::from_utf8_lossy(&bytes).into_owned();
                    if cut_short {
                        text.push_str(" [truncated]");
                    }
                    if status.is_success() {
                        (if text.is_empty() { "ok".into() } else { text }, false)
                    } else {
                        (format!("the webhook answered {status}: {text}"), true)
                    }
                }
            }
        }
        other => (
            format!("the action type {other} is not available yet"),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn model_facing_names_are_unique_even_when_two_actions_sanitize_alike() {
        let config: crate::config::Config = toml::from_str(
            r#"
[actions."a.b"]
description = "one"
risk = "low"
executor = "builtin:log"
[actions.a_b]
description = "two"
risk = "high"
executor = "builtin:log"
"#,
        )
        .unwrap();
        let agent: AgentConfig =
            toml::from_str("route = \"x/y\"\nprompt = \"p\"\ntools = [\"a.b\", \"a_b\"]\n")
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).await.unwrap();
        let clock = crate::clock::SystemClock::shared();
        let handle = crate::config::ConfigHandle::new(
            config.clone(),
            crate::config::ConfigSource::default(),
            clock.clone(),
        );
        let approvals =
            crate::approvals::Approvals::new(store.clone(), handle, clock, None, None, None);
        let offered = offered(&approvals, &agent, &config).await.unwrap();
        let names: Vec<&str> = offered.iter().map(|(_, t)| t.name.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1], "{names:?}");
        assert_eq!(names[0], "a_b");
        assert!(
            names[1].starts_with("a_b_") && names[1].len() == 12,
            "{names:?}"
        );
        assert!(names.iter().all(|n| n.len() <= 64));
        store.close().await;
    }

    #[test]
    fn webhooks_use_https_or_loopback_http() {
        let cases = [
            ("https://hooks.example.com/x", None),
            ("http://127.0.0.1:9000/hook", None),
            ("http://[::1]:9000/hook", None),
            ("http://localhost/hook", None),
            (
                "http://hooks.example.com/x",
                Some("plain http off loopback"),
            ),
            ("ftp://example.com/x", Some("scheme must be https")),
            ("not a url", Some("is not a URL")),
        ];
        for (url, want) in cases {
            match (webhook_url_problem(url), want) {
                (None, None) => {}
                (Some(why), Some(w)) => assert!(why.contains(w), "{url}: {why}"),
                (got, _) => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }
}
