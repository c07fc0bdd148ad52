//! Typed settings: one TOML file plus `FLIGHTDECK_<SECTION>__<KEY>` environment overrides.
//!
//! Invariants:
//! - A [`Config`] that exists has passed [`Config::validate`]; errors name the file (or the
//!   environment variable), the key and the reason.
//! - The config in force only ever changes to another valid config ([`ConfigHandle::apply`]);
//!   a rejected reload leaves the previous one in force and records the error in the status.
//! - No global: the handle is passed to whoever needs it.

pub mod reload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::error::ErrorCode;

pub use reload::ConfigWatcher;

/// Prefix of environment overrides: `FLIGHTDECK_SERVER__LISTEN=127.0.0.1:9000`.
pub const ENV_PREFIX: &str = "FLIGHTDECK_";

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where secrets (the API token) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema, Default)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub secrets: SecretsConfig,
    pub shutdown: ShutdownConfig,
    pub feed: FeedConfig,
    pub health: HealthConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP/WebSocket API. Loopback unless `insecure_listen`.
    pub listen: String,
    /// Allow a non-loopback `listen` without TLS.
    pub insecure_listen: bool,
    /// Largest accepted request body, in bytes.
    #[ts(type = "number")]
    pub body_limit_bytes: u64,
    /// Extra host names accepted in the Host header (besides loopback names).
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,flightdeck_api=debug`.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    pub backend: SecretsBackend,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long in-flight work may take to finish after a stop signal.
    #[ts(type = "number")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Interval of the `metrics` topic, in milliseconds.
    #[ts(type = "number")]
    pub metrics_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Interval of the background health checks, in seconds.
    #[ts(type = "number")]
    pub interval_secs: u64,
    /// A check slower than this is reported degraded, in milliseconds.
    #[ts(type = "number")]
    pub degraded_after_ms: u64,
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

/// Command-line flags that override the file and the environment. Kept with the handle so a
/// reload of the file does not lose them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigOverrides {
    pub listen: Option<String>,
    pub insecure_listen: Option<bool>,
    pub secrets_backend: Option<SecretsBackend>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
}

impl ConfigOverrides {
    /// Applies the flags to `config` and validates the result.
    pub fn apply(&self, mut config: Config) -> Result<Config, ConfigError> {
        if let Some(v) = &self.listen {
            config.server.listen = v.clone();
        }
        if let Some(v) = self.insecure_listen {
            config.server.insecure_listen = v;
        }
        if let Some(v) = self.secrets_backend {
            config.secrets.backend = v;
        }
        if let Some(v) = self.log_format {
            config.log.format = v;
        }
        if let Some(v) = &self.log_level {
            config.log.level = v.clone();
        }
        if *self != Self::default() {
            config.validate(None).map_err(|e| match e {
                ConfigError::Invalid { problems } => ConfigError::Invalid {
                    problems: problems
                        .into_iter()
                        .map(|p| ConfigProblem {
                            source: "command-line flags".into(),
                            ..p
                        })
                        .collect(),
                },
                other => other,
            })?;
        }
        Ok(config)
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
];

impl Config {
    /// Loads `path` (if given) merged over defaults, with environment overrides on top.
    /// `required`: a missing file is an error (it was named explicitly) rather than defaults.
    pub fn load(path: Option<&Path>, required: bool) -> Result<Self, ConfigError> {
        Self::load_with_env(path, required, std::env::vars())
    }

    /// [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        path: Option<&Path>,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if path.exists() {
                figment = figment.merge(Toml::file(path));
            } else if required {
                return Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                });
            }
        }
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__"))
            .collect();
        overrides.sort();
        for (name, value) in overrides {
            figment = figment.merge(EnvVar::new(name, &value));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid {
            problems: e.into_iter().map(problem_from_figment).collect(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Parses a TOML text (no environment) as if it were a config file named `source`.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Invalid {
                problems: e
                    .into_iter()
                    .map(problem_from_figment)
                    .map(|p| ConfigProblem {
                        source: source.into(),
                        ..p
                    })
                    .collect(),
            })?;
        config.validate(Some(Path::new(source)))?;
        Ok(config)
    }

    /// Checks values beyond their types. `path` names the source in messages.
    pub fn validate(&self, path: Option<&Path>) -> Result<(), ConfigError> {
        let source = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".into());
        let mut problems = Vec::new();
        let mut bad = |key: &str, reason: String| {
            problems.push(ConfigProblem {
                source: source.clone(),
                key: key.into(),
                reason,
            })
        };
        if self.server.listen.parse::<SocketAddr>().is_err() {
            bad(
                "server.listen",
                format!(
                    "`{}` is not an IP address with a port, e.g. 127.0.0.1:7878",
                    self.server.listen
                ),
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.server.body_limit_bytes) {
            bad(
                "server.body_limit_bytes",
                "must be between 1024 and 67108864".into(),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad(
                "log.level",
                format!("`{}` is not a log filter: {e}", self.log.level),
            );
        }
        if !(1..=3600).contains(&self.shutdown.timeout_secs) {
            bad("shutdown.timeout_secs", "must be between 1 and 3600".into());
        }
        if !(100..=60_000).contains(&self.feed.metrics_interval_ms) {
            bad(
                "feed.metrics_interval_ms",
                "must be between 100 and 60000".into(),
            );
        }
        if !(1..=3600).contains(&self.health.interval_secs) {
            bad("health.interval_secs", "must be between 1 and 3600".into());
        }
        if !(1..=60_000).contains(&self.health.degraded_after_ms) {
            bad(
                "health.degraded_after_ms",
                "must be between 1 and 60000".into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// `self` with the keys in [`RESTART_KEYS`] taken from `running`: what a reload can put in
    /// force without a restart.
    pub fn with_restart_keys_of(&self, running: &Config) -> Config {
        let mut c = self.clone();
        c.server = running.server.clone();
        c.secrets = running.secrets.clone();
        c.log.format = running.log.format;
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
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Environment values are strings; read numbers and booleans as such so `FLIGHTDECK_..=30`
/// fills a number field. Lists are written as TOML arrays: `["a", "b"]`.
fn parse_env_value(raw: &str) -> figment::value::Value {
    raw.parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_string()))
}

/// One `FLIGHTDECK_SECTION__KEY` variable as a figment provider, so errors name the variable.
struct EnvVar {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl EnvVar {
    fn new(name: String, raw: &str) -> Self {
        let key = name[ENV_PREFIX.len()..]
            .to_ascii_lowercase()
            .replace("__", ".");
        Self {
            name,
            key,
            value: parse_env_value(raw),
        }
    }
}

impl figment::Provider for EnvVar {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

fn problem_from_figment(e: figment::Error) -> ConfigProblem {
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(src) => src.to_string(),
            None => m.name.to_string(),
        })
        .unwrap_or_else(|| "configuration".into());
    // Figment prefixes keys with the profile ("default."): strip it.
    let key = e
        .path
        .iter()
        .skip_while(|p| p.as_str() == "default" || p.as_str() == "global")
        .cloned()
        .collect::<Vec<_>>()
        .join(".");
    ConfigProblem {
        source,
        key,
        reason: e.kind.to_string(),
    }
}

/// Whether the config in force came from a clean load, and the last error if a reload failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct ConfigStatus {
    pub path: Option<String>,
    pub state: ConfigState,
    /// The last rejected change, while the previous config stays in force.
    pub error: Option<String>,
    #[ts(type = "string")]
    pub loaded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigState {
    Ok,
    Error,
}

/// The config in force and its status; cheap to clone, shared by the engine and its users.
#[derive(Debug, Clone)]
pub struct ConfigHandle {
    tx: Arc<watch::Sender<Arc<Config>>>,
    status: Arc<RwLock<ConfigStatus>>,
    path: Option<PathBuf>,
    overrides: Arc<ConfigOverrides>,
}

impl ConfigHandle {
    /// Wraps a validated config loaded from `path` (with `overrides` already applied).
    pub fn new(config: Config, path: Option<PathBuf>, overrides: ConfigOverrides) -> Self {
        let (tx, _) = watch::channel(Arc::new(config));
        Self {
            tx: Arc::new(tx),
            status: Arc::new(RwLock::new(ConfigStatus {
                path: path.as_ref().map(|p| p.display().to_string()),
                state: ConfigState::Ok,
                error: None,
                loaded_at: Utc::now(),
            })),
            path,
            overrides: Arc::new(overrides),
        }
    }

    /// Reads the file again, with the environment and the flags applied as at start.
    pub fn load_again(&self) -> Result<Config, ConfigError> {
        let config = Config::load(self.path.as_deref(), true)?;
        self.overrides.apply(config)
    }

    /// The config in force.
    pub fn current(&self) -> Arc<Config> {
        self.tx.borrow().clone()
    }

    /// Notified on every applied change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.tx.subscribe()
    }

    /// The file it was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn status(&self) -> ConfigStatus {
        match self.status.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts a validated config in force; returns the keys that changed.
    pub fn apply(&self, config: Config) -> Vec<String> {
        let changed = self.current().changed_keys(&config);
        if !changed.is_empty() {
            self.tx.send_replace(Arc::new(config));
        }
        self.set_status(ConfigState::Ok, None);
        changed
    }

    /// Records a rejected change; the config in force is untouched.
    pub fn reject(&self, error: &ConfigError) {
        self.set_status(ConfigState::Error, Some(error.to_string()));
    }

    fn set_status(&self, state: ConfigState, error: Option<String>) {
        let mut guard = match self.status.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.state = state;
        guard.error = error;
        if state == ConfigState::Ok {
            guard.loaded_at = Utc::now();
        }
    }
}

#[cfg(test)]
mod tests;
