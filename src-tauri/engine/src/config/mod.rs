//! Typed settings: one TOML file, `FLIGHTDECK_<SECTION>__<KEY>` environment overrides and
//! command-line flags, validated, held by a [`ConfigHandle`] and kept current by a watcher.
//!
//! The map: `mod.rs` the types and their defaults; `env` the environment snapshot; `load`
//! the layering ([`ConfigSource`]); `validate` the rules; `handle` the config in force
//! ([`ConfigHandle`], [`ConfigStatus`]); [`reload`] one reload; `watch` the file watcher.
//!
//! Invariants:
//! - A [`Config`] that exists has passed validation; errors name the source that set the bad
//!   value (the file, the environment variable, the flags), the key and the reason.
//! - The config in force only ever changes to another valid config; a rejected reload leaves
//!   the previous one in force and records the error in the status.
//! - No global: the handle is passed to whoever needs it; the environment is read once.
//!
//! Must never: panic on user data (files, environment), or print secrets.

pub mod edit;
mod env;
mod handle;
mod host_name;
mod load;
pub mod reload;
mod validate;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorCode;
use crate::providers::settings::{
    CacheSettings, GatewayConfig, ModelConfig, PriceEntry, ProviderConfig, ProvidersView,
    RouteConfig,
};

pub use env::{ENV_PREFIX, EnvSnapshot};
pub use handle::{ConfigHandle, ConfigState, ConfigStatus};
pub use host_name::normalize_host;
pub use load::{ConfigOverrides, ConfigSource};
pub use watch::ConfigWatcher;

/// Failures loading or validating configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("{}", render_problems(.problems))]
    Invalid { problems: Vec<ConfigProblem> },
}

impl ConfigError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::ConfigInvalid
    }
}

/// One thing wrong with a configuration: where, which key, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigProblem {
    /// The file path, `environment variable FLIGHTDECK_...`, or `defaults`.
    pub source: String,
    /// Dotted key, e.g. `server.listen`; empty when the whole file is unreadable.
    pub key: String,
    pub reason: String,
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.key.is_empty() {
                format!("{}: {}", p.source, p.reason)
            } else {
                format!("{}: key `{}`: {}", p.source, p.key, p.reason)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where secrets (the API token) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecretsBackend {
    /// The OS keychain (Secret Service on Linux).
    #[default]
    Keychain,
    /// A 0600 file in the data dir: an explicit opt-in for headless servers.
    File,
    /// Environment only (`FLIGHTDECK_API_TOKEN`); nothing is stored.
    Env,
}

/// The whole configuration. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub secrets: SecretsConfig,
    pub shutdown: ShutdownConfig,
    pub feed: FeedConfig,
    pub health: HealthConfig,
    /// LLM providers by name (`[providers.openai]`).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Model names for clients and agents (`[routes.default] chain = [...]`).
    pub routes: BTreeMap<String, RouteConfig>,
    /// Settings of single models (`[models."openai/gpt-4.1"]`); none needed to use one.
    pub models: BTreeMap<String, ModelConfig>,
    /// Prices over the shipped table (`[prices."openai/gpt-4.1"]`).
    pub prices: BTreeMap<String, PriceEntry>,
    pub gateway: GatewayConfig,
    pub cache: CacheSettings,
    /// Agents by name (`[agents.summarize]`).
    pub agents: BTreeMap<String, crate::agents::AgentConfig>,
    /// Multi-agent runs by name (`[runs.review]`), started with `POST /api/v1/runs`.
    pub runs: BTreeMap<String, crate::orchestrator::runs::RunSpec>,
    /// The task queue's workers on this node.
    pub orchestrator: crate::orchestrator::OrchestratorConfig,
    /// Action types agents (and clients elsewhere) may propose (`[actions.refund]`).
    pub actions: BTreeMap<String, crate::approvals::settings::ActionConfig>,
    /// Ordered rules deciding proposed actions (`[[policies]]`).
    pub policies: Vec<crate::approvals::settings::PolicyRule>,
    /// The default rule, SLA warnings and escalation (`[approvals]`).
    pub approvals: crate::approvals::settings::ApprovalsConfig,
    /// MCP servers whose tools are gated actions `mcp:<server>:<tool>` (`[mcp.files]`).
    pub mcp: BTreeMap<String, crate::approvals::mcp::McpServerConfig>,
    /// The time zone and week start of calendar periods (`[costs]`).
    pub costs: crate::costs::settings::CostsConfig,
    /// Spending limits by name (`[budgets.team-a]`).
    pub budgets: crate::costs::settings::Budgets,
    /// The business health score's KPIs by series name (`[health_score.revenue]`).
    pub health_score: crate::forecast::score::ScoreConfig,
    /// Reports: schedule, folder, formats, email and webhook delivery (`[reports]`).
    pub reports: crate::reports::ReportsConfig,
}

impl Config {
    /// The providers' part of the config.
    pub fn providers_view(&self) -> ProvidersView<'_> {
        ProvidersView {
            providers: &self.providers,
            routes: &self.routes,
            models: &self.models,
            prices: &self.prices,
            gateway: &self.gateway,
            cache: &self.cache,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP/WebSocket API. Loopback unless `insecure_listen`.
    pub listen: String,
    /// Allow a non-loopback `listen` without TLS.
    pub insecure_listen: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: u64,
    /// Extra host names accepted in the Host header (besides loopback names).
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,flightdeck_api=debug`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    pub backend: SecretsBackend,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight work may take to finish after a stop signal.
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Interval of the `metrics` topic, in milliseconds.
    pub metrics_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Interval of the background health checks, in seconds.
    pub interval_secs: u64,
    /// A check slower than this is reported degraded, in milliseconds.
    pub degraded_after_ms: u64,
}

impl ServerConfig {
    /// `listen` as a socket address: `IP:PORT`, or `localhost:PORT` for `127.0.0.1:PORT`.
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        parse_listen(&self.listen)
    }
}

/// `IP:PORT`, or `localhost:PORT` (any case) meaning `127.0.0.1:PORT`; never resolves a name.
pub fn parse_listen(value: &str) -> Option<std::net::SocketAddr> {
    if let Ok(addr) = value.parse() {
        return Some(addr);
    }
    let (host, port) = value.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    host.eq_ignore_ascii_case("localhost")
        .then(|| std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            insecure_listen: false,
            body_limit_bytes: 1024 * 1024,
            allowed_hosts: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { timeout_secs: 10 }
    }
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            metrics_interval_ms: 1000,
        }
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval_secs: 15,
            degraded_after_ms: 1000,
        }
    }
}

/// Keys whose change takes effect only after a restart.
pub const RESTART_KEYS: &[&str] = &[
    "server.listen",
    "server.insecure_listen",
    "server.body_limit_bytes",
    "server.allowed_hosts",
    "secrets.backend",
    "log.format",
    "gateway.max_request_bytes",
];

impl Config {
    /// `self` with the keys in [`RESTART_KEYS`] taken from `running`: what a reload can put in
    /// force without a restart.
    pub fn with_restart_keys_of(&self, running: &Config) -> Config {
        let mut c = self.clone();
        c.server = running.server.clone();
        c.secrets = running.secrets.clone();
        c.log.format = running.log.format;
        // The gateway's body limit is a layer of the Router, built once.
        c.gateway.max_request_bytes = running.gateway.max_request_bytes;
        c
    }

    /// Dotted keys whose values differ between `self` and `other`.
    pub fn changed_keys(&self, other: &Config) -> Vec<String> {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(other).unwrap_or_default();
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        out
    }
}

fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (k, va) in x {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match y.get(k) {
                    Some(vb) => diff(&key, va, vb, out),
                    None => out.push(key),
                }
            }
            // Keys only the other has (an agent, a provider, a route added).
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                });
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod reload_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod watch_tests;
