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
    #[error("could not write the config file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl EditError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotEditable(_) | Self::BadValue { .. } | Self::NoFile => ErrorCode::BadRequest,
            Self::Overridden { .. } | Self::Unparsable { .. } => ErrorCode::Conflict,
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
    let source = handle.source();
    let path = source.path.clone().ok_or(EditError::NoFile)?;
    let overridden: Vec<&str> = source.env.overrides().map(|(k, _)| k).collect();
    let mut edits = Vec::new();
    for (key, value) in values {
        if !EDITABLE.contains(&key.as_str()) {
            return Err(EditError::NotEditable(key.clone()));
        }
        let var = env_var(key);
        if overridden.contains(&var.as_str()) {
            return Err(EditError::Overridden {
                key: key.clone(),
                var,
            });
        }
        edits.push((key.as_str(), toml_value(key, value)?));
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
    for (key, value) in edits {
        let Some((section, name)) = key.split_once('.') else {
            return Err(EditError::NotEditable(key.to_string()));
        };
        let table = doc
            .entry(section)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        let Some(table) = table.as_table_like_mut() else {
            return Err(EditError::Unparsable {
                path: path.clone(),
                reason: format!("`{section}` is not a table"),
            });
        };
        match table.get_mut(name) {
            // Keep the comment and spacing around an existing value.
            Some(toml_edit::Item::Value(old)) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            _ => {
                table.insert(name, toml_edit::Item::Value(value));
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
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
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
}
