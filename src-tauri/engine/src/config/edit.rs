//! Edits of the config file from the API (the Settings screen): a few keys set in place.
//!
//! Owns: which keys may be edited ([`EDITABLE`]) and the edit itself.
//!
//! Invariants:
//! - The file keeps its comments, order and layout (toml_edit); only the keys set change.
//! - The edited text is validated as a whole, with the environment and flags on top, before
//!   anything is written; an invalid edit changes nothing.
//! - The file is replaced atomically (a temporary file in the same directory, fsynced, then
//!   renamed), keeping its permissions (0600 when it is created); a crash leaves the old file
//!   or the new one, never half of one.
//! - A key that an environment variable overrides is refused: the file would not take effect.
//!
//! Must never: write a secret (no editable key holds one), or edit a file it could not parse.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ConfigError, ConfigHandle};
use crate::error::ErrorCode;

/// The keys the API may set (dotted, `section.key`).
pub const EDITABLE: &[&str] = &["gateway.desktop_listen", "gateway.desktop_address"];

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("`{0}` cannot be changed here (editable: {list}); edit the config file instead", list = EDITABLE.join(", "))]
    NotEditable(String),
    #[error("`{key}`: {reason}")]
    BadValue { key: String, reason: String },
    #[error(
        "`{key}` is set by the environment variable {var}, which wins over the file: unset it to change this setting here"
    )]
    Overridden { key: String, var: String },
    #[error(
        "this node runs on built-in defaults with no config file location: start it with --config FILE to change settings"
    )]
    NoFile,
    #[error("the config file {path} cannot be edited: {reason}")]
    Unparsable { path: PathBuf, reason: String },
    #[error(transparent)]
    Invalid(ConfigError),
    #[error("agent `{agent}` takes its prompt from {file}: edit that file (the node reloads it)")]
    FromFile { agent: String, file: String },
    #[error(
        "`[{table}]` is not in the config file {path} (it comes from elsewhere): edit it where it is set"
    )]
    NotInFile { path: PathBuf, table: String },
    #[error("no such agent: {0:?}")]
    UnknownAgent(String),
    #[error("no budget `{0}` in the config")]
    NoSuchBudget(String),
    #[error("could not write the config file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl EditError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotEditable(_) | Self::BadValue { .. } | Self::NoFile => ErrorCode::BadRequest,
            Self::Overridden { .. }
            | Self::Unparsable { .. }
            | Self::FromFile { .. }
            | Self::NotInFile { .. } => ErrorCode::Conflict,
            Self::UnknownAgent(_) => ErrorCode::UnknownAgent,
            Self::NoSuchBudget(_) => ErrorCode::NotFound,
            Self::Invalid(e) => e.code(),
            Self::Write { .. } => ErrorCode::Internal,
        }
    }
}

/// The environment variable that overrides `key` (`gateway.desktop_listen` →
/// `FLIGHTDECK_GATEWAY__DESKTOP_LISTEN`).
fn env_var(key: &str) -> String {
    let upper = key.to_ascii_uppercase().replacen('.', "__", 1);
    format!("{}{upper}", super::ENV_PREFIX)
}

fn toml_value(key: &str, value: &serde_json::Value) -> Result<toml_edit::Value, EditError> {
    let bad = |reason: &str| EditError::BadValue {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    Ok(match value {
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => return Err(bad("only whole numbers are accepted")),
        },
        _ => return Err(bad("must be a boolean, a whole number or a string")),
    })
}

/// Sets `values` (dotted key → JSON scalar) in the handle's config file and writes it.
/// Returns the path written. The caller reloads (so the change is announced as any other).
pub fn set(
    handle: &ConfigHandle,
    values: &[(String, serde_json::Value)],
) -> Result<PathBuf, EditError> {
    let mut edits = Vec::new();
    for (key, value) in values {
        if !EDITABLE.contains(&key.as_str()) {
            return Err(EditError::NotEditable(key.clone()));
        }
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        edits.push(Edit {
            key: key.clone(),
            var: env_var(key),
            path,
            value: Some(toml_edit::Item::Value(toml_value(key, value)?)),
            must_exist: false,
        });
    }
    apply(handle, edits)
}

/// Sets agent `agent`'s prompt template (and its system template: `None` removes it) in the
/// config file, where `[agents.<agent>]` must be declared with an inline `prompt` (an agent
/// whose prompt comes from `prompt_file` is edited in that file).
pub fn set_agent_template(
    handle: &ConfigHandle,
    agent: &str,
    prompt: &str,
    system: Option<&str>,
) -> Result<PathBuf, EditError> {
    let running = handle.current();
    let Some(current) = running.agents.get(agent) else {
        return Err(EditError::UnknownAgent(agent.to_string()));
    };
    if let Some(file) = &current.prompt_file {
        return Err(EditError::FromFile {
            agent: agent.to_string(),
            file: file.clone(),
        });
    }
    let var = |k: &str| {
        format!(
            "{}AGENTS__{}__{}",
            super::ENV_PREFIX,
            agent.to_ascii_uppercase(),
            k.to_ascii_uppercase()
        )
    };
    let edit = |k: &str, value: Option<toml_edit::Value>| Edit {
        key: format!("agents.{agent}.{k}"),
        var: var(k),
        path: vec!["agents".into(), agent.to_string(), k.to_string()],
        value: value.map(toml_edit::Item::Value),
        must_exist: true,
    };
    apply(
        handle,
        vec![
            edit("prompt", Some(prompt.into())),
            edit("system", system.filter(|s| !s.is_empty()).map(Into::into)),
        ],
    )
}

/// Sets budget `name` to `budget` in the config file (the whole `[budgets.<name>]` table
/// is replaced), or removes it (`None`). The new config is validated whole first.
pub fn set_budget(
    handle: &ConfigHandle,
    name: &str,
    budget: Option<&crate::costs::settings::BudgetConfig>,
) -> Result<PathBuf, EditError> {
    let key = format!("budgets.{name}");
    let value = match budget {
        None => {
            if !handle.current().budgets.contains_key(name) {
                return Err(EditError::NoSuchBudget(name.to_string()));
            }
            None
        }
        Some(b) => {
            let text = toml::to_string(b).map_err(|e| EditError::BadValue {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            let table: toml_edit::DocumentMut =
                text.parse()
                    .map_err(|e: toml_edit::TomlError| EditError::BadValue {
                        key: key.clone(),
                        reason: e.to_string(),
                    })?;
            Some(toml_edit::Item::Table(table.as_table().clone()))
        }
    };
    apply(
        handle,
        vec![Edit {
            var: format!(
                "{}BUDGETS__{}",
                super::ENV_PREFIX,
                name.to_ascii_uppercase().replace('-', "_")
            ),
            key,
            path: vec!["budgets".into(), name.to_string()],
            value,
            must_exist: false,
        }],
    )
}

/// One key to set (or remove: `value` = `None`) at `path` in the document.
struct Edit {
    key: String,
    /// The environment variable that would override it.
    var: String,
    path: Vec<String>,
    value: Option<toml_edit::Item>,
    /// The table holding it must be declared in the file already.
    must_exist: bool,
}

/// One edit of a config file at a time in this process: each reads, checks and writes the
/// file whole, so two at once would lose one.
static EDITING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn apply(handle: &ConfigHandle, edits: Vec<Edit>) -> Result<PathBuf, EditError> {
    let _one_at_a_time = match EDITING.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let source = handle.source();
    let named = source.path.clone().ok_or(EditError::NoFile)?;
    // A symlinked config is written where it points, not over the link.
    let path = std::fs::canonicalize(&named).unwrap_or(named);
    let overridden: Vec<&str> = source.env.overrides().map(|(k, _)| k).collect();
    for e in &edits {
        if overridden.contains(&e.var.as_str()) {
            return Err(EditError::Overridden {
                key: e.key.clone(),
                var: e.var.clone(),
            });
        }
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(EditError::Unparsable {
                path,
                reason: e.to_string(),
            });
        }
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| EditError::Unparsable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
    for e in edits {
        let Some((name, tables)) = e.path.split_last() else {
            return Err(EditError::NotEditable(e.key));
        };
        let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
        for t in tables {
            if e.must_exist && table.get(t).is_none() {
                return Err(EditError::NotInFile {
                    path: path.clone(),
                    table: tables.join("."),
                });
            }
            let item = table.entry(t).or_insert_with(|| {
                // `[budgets.x]` alone, not an empty `[budgets]` above it.
                let mut new = toml_edit::Table::new();
                new.set_implicit(true);
                toml_edit::Item::Table(new)
            });
            table = match item.as_table_like_mut() {
                Some(t) => t,
                None => {
                    return Err(EditError::Unparsable {
                        path: path.clone(),
                        reason: format!("`{}` is not a table", tables.join(".")),
                    });
                }
            };
        }
        match (table.get_mut(name), e.value) {
            (_, None) => {
                table.remove(name);
            }
            // Keep the comment and spacing around an existing value.
            (Some(toml_edit::Item::Value(old)), Some(toml_edit::Item::Value(value))) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            (_, Some(item)) => {
                table.insert(name, item);
            }
        }
    }
    let new_text = doc.to_string();
    source
        .load_text(&path, new_text.clone())
        .map_err(EditError::Invalid)?;
    write_atomically(&path, new_text.as_bytes()).map_err(|e| EditError::Write {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    Ok(path)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flightdeck.toml".into());
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600);
        options.mode(mode);
    }
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::config::{Config, ConfigSource, EnvSnapshot};
    use serde_json::json;

    fn handle(path: &Path, env: &[(&str, &str)]) -> ConfigHandle {
        let mut source = ConfigSource::new(Some(path.to_path_buf()), false);
        source.env = EnvSnapshot::from_vars(
            env.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        let config = source.load().unwrap();
        ConfigHandle::new(config, source, SystemClock::shared())
    }

    #[test]
    fn sets_keys_in_place_keeping_comments_and_validates_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flightdeck.toml");
        let original = "# my node\n[server]\nlisten = \"127.0.0.1:7878\" # the port\n\n[gateway]\ndesktop_listen = false # off for now\n";
        std::fs::write(&path, original).unwrap();
        let h = handle(&path, &[]);
        set(&h, &[("gateway.desktop_listen".into(), json!(true))]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            original.replace("desktop_listen = false", "desktop_listen = true")
        );
        let loaded = Config::load(Some(&path), true).unwrap();
        assert!(loaded.gateway.desktop_listen);

        // Invalid: nothing written.
        let e = set(
            &h,
            &[("gateway.desktop_address".into(), json!("0.0.0.0:1"))],
        )
        .unwrap_err();
        assert!(matches!(e, EditError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("gateway.desktop_address"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        // Not editable, wrong type.
        let e = set(&h, &[("server.listen".into(), json!("0.0.0.0:80"))]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadRequest);
        let e = set(&h, &[("gateway.desktop_listen".into(), json!("yes"))]).unwrap_err();
        assert!(matches!(e, EditError::Invalid(_)), "{e}");
        let e = set(&h, &[("gateway.desktop_listen".into(), json!([1]))]).unwrap_err();
        assert!(matches!(e, EditError::BadValue { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn creates_a_private_file_and_refuses_what_the_environment_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg").join("flightdeck.toml");
        let h = handle(&path, &[]);
        set(&h, &[("gateway.desktop_listen".into(), json!(true))]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[gateway]\ndesktop_listen = true\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let h = handle(&path, &[("FLIGHTDECK_GATEWAY__DESKTOP_LISTEN", "false")]);
        let e = set(&h, &[("gateway.desktop_listen".into(), json!(false))]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Conflict);
        assert!(
            e.to_string().contains("FLIGHTDECK_GATEWAY__DESKTOP_LISTEN"),
            "{e}"
        );

        std::fs::write(&path, "[gateway\n").unwrap();
        let h = ConfigHandle::new(
            Config::default(),
            ConfigSource::new(Some(path.clone()), false),
            SystemClock::shared(),
        );
        let e = set(&h, &[("gateway.desktop_listen".into(), json!(true))]).unwrap_err();
        assert!(matches!(e, EditError::Unparsable { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[gateway\n");
    }

    #[test]
    fn an_agents_templates_are_edited_in_place_or_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flightdeck.toml");
        let original = "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nkey = \"none\"\n\n\
            # the greeter\n[agents.\"team.greeter\"]\nroute = \"p/m\"\nprompt = \"Hi {{ name }}\" # short\nsystem = \"Be kind\"\n\n\
            [agents.filed]\nroute = \"p/m\"\nprompt_file = \"f.j2\"\n";
        std::fs::write(dir.path().join("f.j2"), "From a file").unwrap();
        std::fs::write(&path, original).unwrap();
        let h = handle(&path, &[]);
        // A name with a dot is one key, not two tables.
        set_agent_template(&h, "team.greeter", "Hello {{ name }}\nWelcome.", None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# the greeter"), "{text}");
        assert!(text.contains("# short"), "{text}");
        assert!(!text.contains("system"), "{text}");
        let loaded = Config::load(Some(&path), true).unwrap();
        assert_eq!(
            loaded.agents["team.greeter"].prompt,
            "Hello {{ name }}\nWelcome."
        );
        assert_eq!(loaded.agents["team.greeter"].system, None);

        // A template that does not parse: nothing written.
        let e = set_agent_template(&h, "team.greeter", "Hi {% if %}", None).unwrap_err();
        assert!(matches!(e, EditError::Invalid(_)), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // A prompt from a file is edited in the file; an unknown agent is named.
        let e = set_agent_template(&h, "filed", "x", None).unwrap_err();
        assert!(e.to_string().contains("f.j2"), "{e}");
        assert_eq!(e.code(), ErrorCode::Conflict);
        let e = set_agent_template(&h, "ghost", "x", None).unwrap_err();
        assert!(e.to_string().contains("no such agent"), "{e}");
    }
}
