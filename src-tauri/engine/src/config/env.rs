//! The `FLIGHTDECK_*` environment, captured once: which variables are config overrides
//! (`FLIGHTDECK_<SECTION>__<KEY>`), which are flags the binaries read themselves, and which are
//! mistakes.
//!
//! Owns: the snapshot ([`EnvSnapshot`]) and the figment provider that names the variable in
//! errors ([`EnvVar`]).
//!
//! Invariants:
//! - The process environment is read once, with `vars_os` (a non-UTF-8 variable elsewhere in
//!   the environment never panics); reloads reuse the snapshot, so they are hermetic.
//! - Only config overrides are kept: the snapshot never holds a secret (`FLIGHTDECK_API_TOKEN`
//!   is checked, not stored).
//! - A misspelt override (unknown key, one underscore instead of two, non-UTF-8) is a
//!   [`ConfigProblem`] naming the variable, never silently ignored.
//!
//! Must never: read the environment after [`EnvSnapshot::capture`], or log variable values.

use std::collections::BTreeMap;
use std::ffi::OsString;

use figment::providers::Serialized;

use super::{Config, ConfigProblem};

/// Prefix of environment overrides: `FLIGHTDECK_SERVER__LISTEN=127.0.0.1:9000`.
pub const ENV_PREFIX: &str = "FLIGHTDECK_";

/// Variables the binaries read themselves (clap, the desktop shell, the secret store). Their
/// values are paths, so any OS string is fine.
const PATH_FLAGS: &[&str] = &[
    "FLIGHTDECK_CONFIG",
    "FLIGHTDECK_DATA_DIR",
    "FLIGHTDECK_UI_DIR",
];

/// Flags whose values must be text; checked here, never stored.
const TEXT_FLAGS: &[&str] = &[crate::secrets::TOKEN_ENV];

/// The `FLIGHTDECK_*` part of the environment at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvSnapshot {
    /// `FLIGHTDECK_<SECTION>__<KEY>` variables naming a known key, by name.
    overrides: BTreeMap<String, String>,
    /// What is wrong with the `FLIGHTDECK_*` variables; every load reports them.
    problems: Vec<ConfigProblem>,
    /// `FLIGHTDECK_*` variables that are neither flags nor settings (tooling such as
    /// `FLIGHTDECK_BIN` in the test scripts): warned about, not fatal.
    ignored: Vec<String>,
}

impl EnvSnapshot {
    /// Reads the process environment (once).
    pub fn capture() -> Self {
        Self::from_os_vars(std::env::vars_os())
    }

    /// A snapshot of the given variables (tests build their own environment).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self::from_os_vars(
            vars.into_iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    /// A snapshot of the given variables, which need not be UTF-8.
    pub fn from_os_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        let keys = config_keys();
        let mut snapshot = Self::default();
        for (name, value) in vars {
            snapshot.classify(name, value, &keys);
        }
        snapshot.ignored.sort();
        snapshot
    }

    fn classify(&mut self, name: OsString, value: OsString, keys: &[String]) {
        let name = match name.into_string() {
            Ok(name) => name,
            Err(raw) => {
                if raw.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) {
                    self.problems.push(ConfigProblem {
                        source: "environment".into(),
                        key: String::new(),
                        reason: format!(
                            "the name of variable `{}` is not valid UTF-8",
                            raw.to_string_lossy()
                        ),
                    });
                }
                return;
            }
        };
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            return;
        };
        if PATH_FLAGS.contains(&name.as_str()) {
            return;
        }
        let source = format!("environment variable {name}");
        let not_text = |key: String| ConfigProblem {
            source: source.clone(),
            key,
            reason: "the value is not valid UTF-8".into(),
        };
        if TEXT_FLAGS.contains(&name.as_str()) {
            if value.to_str().is_none() {
                self.problems.push(not_text(String::new()));
            }
            return;
        }
        if rest.contains("__") {
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if !keys.contains(&key) && !in_map_section(&key) {
                self.problems.push(ConfigProblem {
                    source,
                    reason: unknown_key_reason(&key, keys),
                    key,
                });
                return;
            }
            match value.into_string() {
                Ok(value) => {
                    self.overrides.insert(name, value);
                }
                Err(_) => self.problems.push(not_text(key)),
            }
            return;
        }
        let lower = rest.to_ascii_lowercase();
        let section = keys.iter().filter_map(|k| k.split('.').next()).find(|s| {
            lower == *s
                || lower
                    .strip_prefix(s)
                    .is_some_and(|tail| tail.starts_with('_'))
        });
        match section {
            Some(section) => {
                let tail = lower[section.len()..].trim_start_matches('_');
                let upper = section.to_ascii_uppercase();
                let reason = if tail.is_empty() {
                    let keys: Vec<&str> = keys
                        .iter()
                        .filter_map(|k| k.strip_prefix(section)?.strip_prefix('.'))
                        .collect();
                    format!(
                        "not a setting: set one key of [{section}] per variable, \
                         {ENV_PREFIX}{upper}__<KEY> (keys: {})",
                        keys.join(", ")
                    )
                } else {
                    format!(
                        "not a setting: a config key takes two underscores between section and \
                         key, e.g. {ENV_PREFIX}{upper}__{}",
                        tail.to_ascii_uppercase()
                    )
                };
                self.problems.push(ConfigProblem {
                    source,
                    key: String::new(),
                    reason,
                });
            }
            None => self.ignored.push(name),
        }
    }

    /// The overrides, sorted by variable name.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// What is wrong with the environment (empty when all is well).
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// `FLIGHTDECK_*` variables that mean nothing to Flightdeck.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

/// Sections keyed by a user's names (`providers.<name>.<key>`): any key below a name is
/// passed on, and the config's own types reject what they do not know.
const MAP_SECTIONS: &[&str] = &["providers", "routes", "models", "prices"];

fn in_map_section(key: &str) -> bool {
    let mut parts = key.split('.');
    parts.next().is_some_and(|s| MAP_SECTIONS.contains(&s)) && parts.count() >= 2
}

fn unknown_key_reason(key: &str, keys: &[String]) -> String {
    let section = key.split('.').next().unwrap_or_default();
    let siblings: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(section)?.strip_prefix('.'))
        .collect();
    if siblings.is_empty() {
        let mut sections: Vec<&str> = keys.iter().filter_map(|k| k.split('.').next()).collect();
        sections.dedup();
        format!(
            "unknown key `{key}`: there is no section `{section}` (sections: {})",
            sections.join(", ")
        )
    } else {
        format!(
            "unknown key `{key}` (keys of [{section}]: {})",
            siblings.join(", ")
        )
    }
}

/// Environment values are strings; read numbers and booleans as such so `FLIGHTDECK_..=30`
/// fills a number field. Lists are written as TOML arrays: `["a", "b"]`.
fn parse_env_value(raw: &str) -> figment::value::Value {
    raw.parse::<figment::value::Value>()
        .unwrap_or_else(|_| figment::value::Value::from(raw.to_string()))
}

/// One `FLIGHTDECK_SECTION__KEY` variable as a figment provider, so errors (and
/// `find_metadata`) name the variable.
pub(super) struct EnvVar {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl EnvVar {
    pub(super) fn new(name: &str, raw: &str) -> Self {
        let key = name[ENV_PREFIX.len()..]
            .to_ascii_lowercase()
            .replace("__", ".");
        Self {
            name: name.to_string(),
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

/// Every dotted key of [`Config`], e.g. `server.listen`.
pub(super) fn config_keys() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(Config::default()) {
        leaves("", &value, &mut out);
    }
    out
}

fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}
