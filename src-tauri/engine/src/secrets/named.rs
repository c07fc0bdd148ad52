//! Named secrets (`provider:openai`, `webhook:slack`, `node:prod-1`): the values in the
//! node's secret backend, their names and times in the `secrets` table (owned here).
//!
//! Invariants:
//! - **Write-only** from outside: nothing here returns a value to the API, the CLI or the
//!   UI; [`SecretStore::get`] is for the engine's own use (provider calls) and hands out a
//!   [`SecretString`], which never prints.
//! - Values never reach SQLite, logs or events: the table holds names and times.
//! - Backends: the keychain (one item per secret and data dir), the explicit `file` backend
//!   (one 0600 file per secret in `<data-dir>/secrets/`, replaced atomically), or `env`
//!   (read-only: `FLIGHTDECK_SECRET_<NAME>`, see [`env_var`]).
//! - The value is stored before its name is listed, and unlisted only after it is gone.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Backend, Secrets, SecretsError, keychain};
use crate::clock::SharedClock;
use crate::error::ErrorCode;
use crate::store::{Store, StoreError, values};

/// Directory of the `file` backend's secrets, inside the data dir.
pub const FILE_DIR: &str = "secrets";
/// Longest secret value accepted, in characters (so at most 256 KiB of UTF-8).
pub const MAX_VALUE_CHARS: usize = 64 * 1024;
/// The most bytes a value of [`MAX_VALUE_CHARS`] characters can take.
pub const MAX_VALUE_BYTES: usize = 4 * MAX_VALUE_CHARS;

/// A secret as listed: its name and times, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretInfo {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Raised by every set; the API's `ETag` (`"<version>"`) for conditional edits.
    pub version: i64,
}

/// The condition an edit is made under (the API's `If-Match` / `If-None-Match: *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precondition {
    /// Whatever is there (or nothing).
    #[default]
    Any,
    /// Only if there is no such secret yet.
    Absent,
    /// Only if the secret is at this version.
    Version(i64),
    /// Only if the secret is not at this version (absent included).
    NotVersion(i64),
    /// Only if the secret exists (`If-Match: *`).
    NotAbsent,
    /// A condition that holds for nothing (a malformed `If-Match`).
    Never,
}

/// Failures of named secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error(
        "invalid secret name {0:?}: use 1 to 127 characters of a-z, 0-9, '.', '_', ':' and \
         '-', starting with a letter or digit (e.g. provider:openai)"
    )]
    InvalidName(String),
    #[error("there is no secret named {0:?}")]
    NotFound(String),
    #[error("a secret value must not be empty")]
    Empty,
    #[error("a secret value is at most {MAX_VALUE_CHARS} characters")]
    TooLarge,
    #[error(
        "the env secret backend is read-only: set {var} in the node's environment instead, or \
         choose the keychain or file backend"
    )]
    ReadOnly { var: String },
    #[error("the secret {name:?} is {}, not what the request expected; fetch it again and retry", match .current { Some(v) => format!("at version {v}"), None => "absent".to_string() })]
    PreconditionFailed { name: String, current: Option<i64> },
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretStoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::PreconditionFailed { .. } => ErrorCode::PreconditionFailed,
            Self::InvalidName(_) | Self::Empty | Self::TooLarge | Self::ReadOnly { .. } => {
                ErrorCode::BadRequest
            }
            Self::NotFound(_) => ErrorCode::SecretMissing,
            Self::Secrets(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

/// Whether `name` may name a secret.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        // 127: the file backend names a file by the name's hex, within 255 bytes.
        && b.len() <= 127
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._:-".contains(c))
}

/// The environment variable the `env` backend reads `name` from: upper case, every
/// character but letters and digits as `_` (`provider:openai` → FLIGHTDECK_SECRET_PROVIDER_OPENAI).
pub fn env_var(name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("FLIGHTDECK_SECRET_{tail}")
}

fn file_path(dir: &Path, name: &str) -> PathBuf {
    // Hex: any name is a safe file name.
    dir.join(FILE_DIR).join(hex::encode(name.as_bytes()))
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> SecretsError {
    SecretsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, value: &str) -> Result<(), SecretsError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path.parent().unwrap_or(path);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| file_err(dir, e))?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| file_err(&tmp, e))?;
    f.write_all(value.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| file_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_err(dir, e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, value: &str) -> Result<(), SecretsError> {
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    std::fs::write(path, value).map_err(|e| file_err(path, e))
}

impl Secrets {
    fn secret_account(&self, name: &str) -> String {
        format!("secret:{name}:{}", self.dir.display())
    }

    fn put_blocking(&self, name: &str, value: &str) -> Result<(), SecretStoreError> {
        match &self.backend {
            Backend::Env => Err(SecretStoreError::ReadOnly { var: env_var(name) }),
            Backend::Keychain(k) => {
                keychain::store_and_read_back(k, &self.secret_account(name), value)?;
                Ok(())
            }
            Backend::File(_) => Ok(write_private(&file_path(&self.dir, name), value)?),
        }
    }

    fn get_blocking(&self, name: &str) -> Result<Option<String>, SecretsError> {
        match &self.backend {
            Backend::Env => Ok(std::env::var(env_var(name)).ok().filter(|v| !v.is_empty())),
            Backend::Keychain(k) => keychain::read(k, &self.secret_account(name)),
            Backend::File(_) => {
                let path = file_path(&self.dir, name);
                match std::fs::read_to_string(&path) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(file_err(&path, e)),
                }
            }
        }
    }

    fn delete_blocking(&self, name: &str) -> Result<(), SecretStoreError> {
        match &self.backend {
            Backend::Env => Err(SecretStoreError::ReadOnly { var: env_var(name) }),
            Backend::Keychain(k) => Ok(keychain::remove(k, &self.secret_account(name))?),
            Backend::File(_) => {
                let path = file_path(&self.dir, name);
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(file_err(&path, e).into()),
                }
            }
        }
    }
}

/// A `secrets` row selected as `name, created_at, updated_at, version`.
fn secret_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SecretInfo> {
    Ok(SecretInfo {
        name: r.get(0)?,
        created_at: values::time_from_db(r.get(1)?)?,
        updated_at: values::time_from_db(r.get(2)?)?,
        version: r.get(3)?,
    })
}

/// Named secrets of one node. Cheap to clone.
#[derive(Clone)]
pub struct SecretStore {
    secrets: Result<Secrets, SecretsError>,
    store: Store,
    clock: SharedClock,
    /// One edit at a time: the precondition check, the backend write and the row write of
    /// a set or remove happen together, so concurrent edits cannot interleave.
    edits: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Values the engine read (provider keys, on every call): a keychain lookup is a D-Bus
    /// round trip. An edit drops the name from it.
    cached: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SecretString>>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretStore")
    }
}

impl SecretStore {
    pub fn new(secrets: Result<Secrets, SecretsError>, store: Store, clock: SharedClock) -> Self {
        Self {
            secrets,
            store,
            clock,
            edits: Default::default(),
            cached: Default::default(),
        }
    }

    fn backend(&self) -> Result<Secrets, SecretStoreError> {
        self.secrets.clone().map_err(SecretStoreError::Secrets)
    }

    fn check_name(name: &str) -> Result<(), SecretStoreError> {
        if valid_name(name) {
            Ok(())
        } else {
            Err(SecretStoreError::InvalidName(name.to_string()))
        }
    }

    /// Stores `value` under `name` (replacing any), then lists the name.
    pub async fn set(
        &self,
        name: &str,
        value: SecretString,
    ) -> Result<SecretInfo, SecretStoreError> {
        self.set_if(name, value, Precondition::Any).await
    }

    /// The version of `name`, if it is listed.
    async fn version(&self, name: &str) -> Result<Option<i64>, SecretStoreError> {
        let owned = name.to_string();
        Ok(self
            .store
            .read(move |db| {
                db.query_opt(
                    "SELECT version FROM secrets WHERE name = ?1",
                    [&owned],
                    |r| r.get(0),
                )
            })
            .await?)
    }

    fn check(name: &str, current: Option<i64>, when: Precondition) -> Result<(), SecretStoreError> {
        let ok = match when {
            Precondition::Any => true,
            Precondition::Absent => current.is_none(),
            Precondition::Version(v) => current == Some(v),
            Precondition::NotVersion(v) => current != Some(v),
            Precondition::NotAbsent => current.is_some(),
            Precondition::Never => false,
        };
        if ok {
            Ok(())
        } else {
            Err(SecretStoreError::PreconditionFailed {
                name: name.to_string(),
                current,
            })
        }
    }

    /// [`Self::set`] under a precondition, checked with the edit (412 on the API).
    pub async fn set_if(
        &self,
        name: &str,
        value: SecretString,
        when: Precondition,
    ) -> Result<SecretInfo, SecretStoreError> {
        Self::check_name(name)?;
        if value.expose_secret().is_empty() {
            return Err(SecretStoreError::Empty);
        }
        if value.expose_secret().chars().count() > MAX_VALUE_CHARS {
            return Err(SecretStoreError::TooLarge);
        }
        let backend = self.backend()?;
        let _edit = self.edits.lock().await;
        Self::check(name, self.version(name).await?, when)?;
        let owned = name.to_string();
        let written = tokio::task::spawn_blocking(move || {
            backend.put_blocking(&owned, value.expose_secret())
        })
        .await;
        self.forget(name);
        written.map_err(|e| SecretsError::Join {
            reason: e.to_string(),
        })??;
        let now = values::time_to_db(self.clock.now());
        let owned = name.to_string();
        let (created, updated, version) = self
            .store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO secrets (name, created_at, updated_at) VALUES (?1, ?2, ?2) \
                     ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at, \
                     version = version + 1",
                    rusqlite::params![owned, now],
                )?;
                tx.query_one(
                    "SELECT created_at, updated_at, version FROM secrets WHERE name = ?1",
                    [&owned],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
            })
            .await?;
        let time = |v| {
            values::time_from_db(v).map_err(|e| StoreError::Write {
                message: e.to_string(),
            })
        };
        Ok(SecretInfo {
            name: name.to_string(),
            created_at: time(created)?,
            updated_at: time(updated)?,
            version,
        })
    }

    /// Every listed secret, by name.
    pub async fn list(&self) -> Result<Vec<SecretInfo>, SecretStoreError> {
        let rows = self
            .store
            .read(|db| {
                db.query_all(
                    "SELECT name, created_at, updated_at, version FROM secrets ORDER BY name",
                    [],
                    secret_row,
                )
            })
            .await?;
        Ok(rows)
    }

    /// One listed secret.
    pub async fn info(&self, name: &str) -> Result<SecretInfo, SecretStoreError> {
        Self::check_name(name)?;
        let owned = name.to_string();
        let found = self
            .store
            .read(move |db| {
                db.query_opt(
                    "SELECT name, created_at, updated_at, version FROM secrets WHERE name = ?1",
                    [&owned],
                    secret_row,
                )
            })
            .await?;
        found.ok_or_else(|| SecretStoreError::NotFound(name.to_string()))
    }

    /// Removes the secret `name`: its value first, then its name.
    pub async fn remove(&self, name: &str) -> Result<(), SecretStoreError> {
        self.remove_if(name, Precondition::Any).await
    }

    /// [`Self::remove`] under a precondition (`Version`; `Absent` never holds here).
    pub async fn remove_if(&self, name: &str, when: Precondition) -> Result<(), SecretStoreError> {
        Self::check_name(name)?;
        let _edit = self.edits.lock().await;
        let current = self.version(name).await?;
        if current.is_none() {
            return Err(SecretStoreError::NotFound(name.to_string()));
        }
        Self::check(name, current, when)?;
        let backend = self.backend()?;
        let owned = name.to_string();
        let deleted = tokio::task::spawn_blocking(move || backend.delete_blocking(&owned)).await;
        self.forget(name);
        deleted.map_err(|e| SecretsError::Join {
            reason: e.to_string(),
        })??;
        let owned = name.to_string();
        self.store
            .write(move |tx| tx.execute("DELETE FROM secrets WHERE name = ?1", [&owned]))
            .await?;
        Ok(())
    }

    fn forget(&self, name: &str) {
        if let Ok(mut c) = self.cached.lock() {
            c.remove(name);
        }
    }

    /// [`Self::get`], remembered until the secret is next edited through this store.
    pub async fn get_cached(&self, name: &str) -> Result<SecretString, SecretStoreError> {
        if let Some(v) = self.cached.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(v);
        }
        let value = self.get(name).await?;
        if let Ok(mut c) = self.cached.lock() {
            c.insert(name.to_string(), value.clone());
        }
        Ok(value)
    }

    /// The value of `name`, for the engine's own use (never for an API answer).
    pub async fn get(&self, name: &str) -> Result<SecretString, SecretStoreError> {
        Self::check_name(name)?;
        let backend = self.backend()?;
        let owned = name.to_string();
        let value = tokio::task::spawn_blocking(move || backend.get_blocking(&owned))
            .await
            .map_err(|e| SecretsError::Join {
                reason: e.to_string(),
            })??;
        value
            .map(SecretString::from)
            .ok_or_else(|| SecretStoreError::NotFound(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_env_vars() {
        for ok in ["provider:openai", "webhook:slack", "node:prod-1", "a.b_c"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ":x", "Provider", "with space", "ü", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            env_var("provider:openai"),
            "FLIGHTDECK_SECRET_PROVIDER_OPENAI"
        );
        assert_eq!(env_var("node:prod-1"), "FLIGHTDECK_SECRET_NODE_PROD_1");
    }
}
