//! MCP servers as action types (`[mcp.<name>]`): the tools of a configured Model Context
//! Protocol server, over stdio (a program this node starts, never through a shell) or
//! streamable HTTP, through the official Rust SDK (rmcp). Their names, descriptions and input
//! schemas come from the server; each becomes the action `mcp:<server>:<tool>`, with the
//! server's risk (or the tool's own in config), and is gated like any other action: schema
//! checked, policies, approvals, at most once per idempotency key.
//!
//! Connections are opened on first use and kept; a server that dies (or a config change of
//! its section) is reconnected on the next use. A call that fails because the server died is
//! an error result for the agent (not retried: the tool may have acted).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::settings::{ActionConfig, ExecutorKind, Risk};
use crate::clock::SharedClock;
use crate::secrets::SecretStore;

fn default_mcp_risk() -> Risk {
    Risk::High
}

fn default_mcp_timeout() -> u64 {
    30_000
}

/// `[mcp.<name>.tools.<tool>]`: settings of one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpToolConfig {
    pub risk: Risk,
}

/// `[mcp.<name>]`: an MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// stdio: the program (absolute path) and its arguments, started without a shell.
    #[serde(default)]
    pub command: Vec<String>,
    /// stdio: the environment of the program (nothing else is passed but `PATH`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// streamable HTTP: the server's endpoint (https, or http to loopback).
    #[serde(default)]
    pub url: Option<String>,
    /// streamable HTTP: the named secret sent as the bearer token.
    #[serde(default)]
    pub token_secret: Option<String>,
    /// The risk of its tools (default high: they come from elsewhere).
    #[serde(default = "default_mcp_risk")]
    pub risk: Risk,
    /// Per-tool settings (`[mcp.files.tools.delete_file] risk = "critical"`).
    #[serde(default)]
    pub tools: BTreeMap<String, McpToolConfig>,
    /// Connecting, listing and each call's time limit.
    #[serde(default = "default_mcp_timeout")]
    pub timeout_ms: u64,
}

/// A tool as its server describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct McpTool {
    pub name: String,
    pub description: String,
    pub schema: Value,
}

/// `mcp:<server>:<tool>` → (server, tool).
pub fn parse_action(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("mcp:")?;
    rest.split_once(':')
}

/// The action of `tool` of server `server` under `cfg`.
pub fn action_config(cfg: &McpServerConfig, tool: &McpTool) -> ActionConfig {
    ActionConfig {
        description: tool.description.clone(),
        schema: tool.schema.clone(),
        risk: cfg.tools.get(&tool.name).map_or(cfg.risk, |t| t.risk),
        executor: ExecutorKind::Mcp,
        url: None,
        secret: None,
        command: Vec::new(),
        timeout_ms: cfg.timeout_ms,
        max_attempts: 1,
        shell_arguments: Vec::new(),
    }
}

/// The broken rules of `[mcp]`.
pub fn violations(servers: &BTreeMap<String, McpServerConfig>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, s) in servers {
        let key = |k: &str| format!("mcp.{name}.{k}");
        if !crate::agents::settings::valid_name(name) || name.contains(':') {
            out.push((
                format!("mcp.{name}"),
                "a server name is 1-128 of a-z, 0-9, - _ . / (no `:`)".into(),
            ));
        }
        match (s.command.first(), &s.url) {
            (None, None) => out.push((
                key("command"),
                "give the program to start (stdio) or the server's url (streamable HTTP)".into(),
            )),
            (Some(_), Some(_)) => out.push((
                key("url"),
                "stdio (`command`) or streamable HTTP (`url`), not both".into(),
            )),
            (Some(p), None) if !std::path::Path::new(p).is_absolute() => out.push((
                key("command"),
                format!("`{p}`: give the program's absolute path (no PATH lookup, no shell)"),
            )),
            (None, Some(url)) => {
                if let Some(why) = crate::agents::actions::webhook_url_problem(url) {
                    out.push((key("url"), why));
                }
            }
            _ => {}
        }
        if s.token_secret.is_some() && s.url.is_none() {
            out.push((
                key("token_secret"),
                "a bearer token is for a `url` server".into(),
            ));
        }
        if !(100..=600_000).contains(&s.timeout_ms) {
            out.push((key("timeout_ms"), "must be between 100 and 600000".into()));
        }
    }
    out
}

struct Conn {
    /// The config it was opened with: another one reconnects.
    config: McpServerConfig,
    service: RunningService<RoleClient, ()>,
    tools: Vec<McpTool>,
}

/// One server's connection, behind its own lock (connecting to one server never holds up
/// the others).
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Conn>>>>;

/// What is known of a server's connection (for `/health`).
#[derive(Debug, Clone, PartialEq)]
pub enum McpState {
    /// Not used since the node started (connections open on first use).
    Unused,
    /// Connected, with this many tools.
    Connected(usize),
    /// The last connect or call failed (the full reason, for the log).
    Failed(String),
}

/// The open connections, by server name.
#[derive(Default)]
pub struct McpHub {
    slots: std::sync::Mutex<HashMap<String, Slot>>,
    states: std::sync::Mutex<HashMap<String, McpState>>,
}

impl std::fmt::Debug for McpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHub").finish_non_exhaustive()
    }
}

async fn within<T>(
    clock: &SharedClock,
    limit: Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::select! {
        r = work => r,
        () = clock.sleep(limit) => Err(format!("{what} took longer than {} ms", limit.as_millis())),
    }
}

fn tool_of(t: &rmcp::model::Tool) -> McpTool {
    McpTool {
        name: t.name.to_string(),
        description: t
            .description
            .as_deref()
            .map(str::to_string)
            .or_else(|| t.title.clone())
            .unwrap_or_else(|| format!("The MCP tool {}.", t.name)),
        schema: Value::Object((*t.input_schema).clone()),
    }
}

impl McpHub {
    async fn connect(
        &self,
        name: &str,
        cfg: &McpServerConfig,
        secrets: Option<&SecretStore>,
        clock: &SharedClock,
    ) -> Result<Arc<Conn>, String> {
        let limit = Duration::from_millis(cfg.timeout_ms);
        let service = within(clock, limit, "connecting", async {
            match (&cfg.url, cfg.command.split_first()) {
                (Some(url), _) => {
                    let mut config =
                        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                            url.as_str(),
                        );
                    if let Some(secret) = &cfg.token_secret {
                        let Some(store) = secrets else {
                            return Err(format!("the secret {secret} is not available"));
                        };
                        let token = store.get(secret).await.map_err(|e| e.to_string())?;
                        use secrecy::ExposeSecret;
                        config = config.auth_header(token.expose_secret().to_string());
                    }
                    ().serve(StreamableHttpClientTransport::from_config(config))
                        .await
                        .map_err(|e| e.to_string())
                }
                (None, Some((program, args))) => {
                    let command = tokio::process::Command::new(program).configure(|c| {
                        c.args(args)
                            .env_clear()
                            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                            .envs(&cfg.env)
                            .kill_on_drop(true);
                    });
                    let transport = TokioChildProcess::builder(command)
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .map(|(t, _)| t)
                        .map_err(|e| format!("{program} could not start: {e}"))?;
                    ().serve(transport).await.map_err(|e| e.to_string())
                }
                (None, None) => Err("no command and no url".into()),
            }
        })
        .await
        .map_err(|e| format!("MCP server {name}: {e}"))?;
        let tools = within(clock, limit, "listing its tools", async {
            service.list_all_tools().await.map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("MCP server {name}: {e}"))?;
        Ok(Arc::new(Conn {
            config: cfg.clone(),
            tools: tools.iter().map(tool_of).collect(),
            service,
        }))
    }

    fn set_state(&self, name: &str, state: McpState) {
        let mut states = match self.states.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        states.insert(name.to_string(), state);
    }

    /// The state of server `name`; a connection found closed counts as a failure.
    pub fn state(&self, name: &str) -> McpState {
        let known = match self.states.lock() {
            Ok(g) => g.get(name).cloned(),
            Err(poisoned) => poisoned.into_inner().get(name).cloned(),
        };
        let closed = {
            let slots = match self.slots.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            slots.get(name).and_then(|slot| {
                slot.try_lock()
                    .ok()
                    .and_then(|c| c.as_ref().map(|c| c.service.is_transport_closed()))
            })
        };
        match (known, closed) {
            (Some(McpState::Connected(_)), Some(true)) => {
                McpState::Failed("the connection closed (the server exited)".into())
            }
            (Some(s), _) => s,
            (None, _) => McpState::Unused,
        }
    }

    fn slot(&self, name: &str) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.entry(name.to_string()).or_default().clone()
    }

    /// Closes the connections of servers `servers` no longer names (their processes end).
    pub fn retain(&self, servers: &BTreeMap<String, McpServerConfig>) {
        let mut slots = match self.slots.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        slots.retain(|name, _| servers.contains_key(name));
    }

    /// The connection to `name` (opened when there is none, it closed, or its config changed).
    async fn conn(
        &self,
        name: &str,
        cfg: &McpServerConfig,
        secrets: Option<&SecretStore>,
        clock: &SharedClock,
    ) -> Result<Arc<Conn>, String> {
        let slot = self.slot(name);
        let mut current = slot.lock().await;
        if let Some(c) = current.as_ref()
            && c.config == *cfg
            && !c.service.is_transport_closed()
        {
            return Ok(c.clone());
        }
        // The old one (another config, closed) goes; a failed connect leaves none.
        *current = None;
        match self.connect(name, cfg, secrets, clock).await {
            Ok(fresh) => {
                self.set_state(name, McpState::Connected(fresh.tools.len()));
                *current = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => {
                self.set_state(name, McpState::Failed(e.clone()));
                Err(e)
            }
        }
    }

    /// The tools of server `name`.
    pub async fn tools(
        &self,
        name: &str,
        cfg: &McpServerConfig,
        secrets: Option<&SecretStore>,
        clock: &SharedClock,
    ) -> Result<Vec<McpTool>, String> {
        Ok(self.conn(name, cfg, secrets, clock).await?.tools.clone())
    }

    /// Calls `tool` of server `name` with `args`: the result text and whether the tool said
    /// it failed; `Err` when the call itself failed (the server died, timed out).
    pub async fn call(
        &self,
        name: &str,
        cfg: &McpServerConfig,
        secrets: Option<&SecretStore>,
        clock: &SharedClock,
        tool: &str,
        args: &Value,
    ) -> Result<(String, bool, Value), String> {
        let conn = self.conn(name, cfg, secrets, clock).await?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = args.as_object().cloned();
        let limit = Duration::from_millis(cfg.timeout_ms);
        let result = within(clock, limit, "the call", async {
            conn.service
                .call_tool(params)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                // A dead or stuck server is reconnected on the next use (unless another caller
                // has already put a fresh connection in its place).
                let slot = self.slot(name);
                let mut current = slot.lock().await;
                if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &conn)) {
                    *current = None;
                }
                let e = format!("MCP server {name}: {e}");
                self.set_state(name, McpState::Failed(e.clone()));
                return Err(e);
            }
        };
        let shown = serde_json::to_value(&result).unwrap_or(Value::Null);
        let mut text = String::new();
        if let Some(blocks) = shown.get("content").and_then(Value::as_array) {
            for b in blocks {
                match b.get("text").and_then(Value::as_str) {
                    Some(t) => text.push_str(t),
                    None => text.push_str(&b.to_string()),
                }
            }
        }
        if text.is_empty()
            && let Some(structured) = shown.get("structuredContent")
        {
            text = structured.to_string();
        }
        Ok((text, result.is_error.unwrap_or(false), shown))
    }
}
