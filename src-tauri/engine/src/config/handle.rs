//! The config in force, its status, and where it came from: [`ConfigHandle`], cheap to clone
//! and shared by the engine and its users.
//!
//! Invariants:
//! - The config in force only ever changes to another valid config ([`ConfigHandle::apply`]);
//!   a rejected change leaves it in force and records the error in the status.
//! - Config and status change together: every write happens inside the watch channel's
//!   `send_if_modified`, and [`ConfigHandle::status`] reads under the channel's read lock, so
//!   no reader sees a new config next to an old status. Subscribers are woken only when the
//!   config really changed.
//! - One reload at a time ([`ConfigHandle::lock_reloads`]): the watcher and an explicit
//!   reload (`POST /api/v1/config/reload`) never interleave.
//! - `loaded_at` comes from the engine's [`Clock`](crate::clock::Clock), never the system clock.
//!
//! Must never: hold a lock across an `.await`, or publish events (that is the caller's job).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::ToSchema;

use super::load::Fingerprint;
use super::{Config, ConfigError, ConfigSource};
use crate::clock::SharedClock;

/// Whether the config in force came from a clean load, the last error if a reload failed, and
/// whether changes to the file are noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigStatus {
    /// The file the config in force was read from; `null` on built-in defaults.
    pub path: Option<String>,
    pub state: ConfigState,
    /// The last rejected change, while the previous config stays in force.
    pub error: Option<String>,
    pub loaded_at: DateTime<Utc>,
    /// Changes to the file are picked up on their own (the watcher is armed).
    pub watching: bool,
    /// Why changes are not picked up although watching was asked for (set up failed, or the
    /// directory went away); `null` otherwise.
    pub watch_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    source: Arc<ConfigSource>,
    /// Held for the whole of a reload; holds the file's fingerprint as last read (`None`:
    /// unknown, so the next reload reads and compares in full).
    reloads: Arc<Mutex<Option<Fingerprint>>>,
    /// Stamps `loaded_at`.
    clock: SharedClock,
}

impl ConfigHandle {
    /// Wraps a validated config loaded from `source` (flags already applied), loaded at
    /// `clock`'s now. Warns about `FLIGHTDECK_*` variables that mean nothing (logging is set up
    /// by now).
    pub fn new(config: Config, source: ConfigSource, clock: SharedClock) -> Self {
        for name in source.env.ignored() {
            tracing::warn!(variable = %name, "environment variable is not a Flightdeck setting; ignored");
        }
        let path = source
            .path
            .as_deref()
            .filter(|p| source.required || p.exists())
            .map(|p| p.display().to_string());
        let (tx, _) = watch::channel(Arc::new(config));
        Self {
            tx: Arc::new(tx),
            status: Arc::new(RwLock::new(ConfigStatus {
                path,
                state: ConfigState::Ok,
                error: None,
                loaded_at: clock.now(),
                watching: false,
                watch_error: None,
            })),
            source: Arc::new(source),
            reloads: Arc::new(Mutex::new(None)),
            clock,
        }
    }

    /// The config in force.
    pub fn current(&self) -> Arc<Config> {
        self.tx.borrow().clone()
    }

    /// Notified on every applied change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.tx.subscribe()
    }

    /// The file it is loaded from (which may not exist when it is the default location).
    pub fn path(&self) -> Option<&Path> {
        self.source.path.as_deref()
    }

    /// How to load it again: file, environment snapshot, flags.
    pub fn source(&self) -> &ConfigSource {
        &self.source
    }

    pub fn status(&self) -> ConfigStatus {
        self.snapshot().1
    }

    /// The config in force and its status, read together.
    pub fn snapshot(&self) -> (Arc<Config>, ConfigStatus) {
        // Writers change the status inside `send_if_modified`, under the channel's write
        // lock; holding its read lock here makes the pair consistent.
        let config = self.tx.borrow();
        let status = match self.status.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        (config.clone(), status)
    }

    /// Puts a validated config in force; returns the keys that changed.
    pub fn apply(&self, config: Config) -> Vec<String> {
        let path = self.status().path;
        self.apply_from(config, path)
    }

    /// [`ConfigHandle::apply`] for a config read from the file (`from_file`) or, the file
    /// being absent from its default location, from the defaults.
    pub(crate) fn apply_loaded(&self, config: Config, from_file: bool) -> Vec<String> {
        let path = self
            .path()
            .filter(|_| from_file)
            .map(|p| p.display().to_string());
        self.apply_from(config, path)
    }

    fn apply_from(&self, config: Config, path: Option<String>) -> Vec<String> {
        let mut changed = Vec::new();
        let now = self.clock.now();
        self.update(|current, status| {
            changed = current.changed_keys(&config);
            status.path = path;
            status.state = ConfigState::Ok;
            status.error = None;
            status.loaded_at = now;
            if changed.is_empty() {
                return false;
            }
            *current = Arc::new(config);
            true
        });
        changed
    }

    /// Records a rejected change; the config in force is untouched.
    pub fn reject(&self, error: &ConfigError) {
        self.update(|_, status| {
            status.state = ConfigState::Error;
            status.error = Some(error.to_string());
            false
        });
    }

    /// Records whether the watcher is armed, and why not.
    pub(crate) fn set_watching(&self, watching: bool, error: Option<String>) {
        self.update(|_, status| {
            status.watching = watching;
            status.watch_error = error;
            false
        });
    }

    /// Serialises reloads; the guard holds the file's fingerprint as last read.
    pub(crate) fn lock_reloads(&self) -> MutexGuard<'_, Option<Fingerprint>> {
        match self.reloads.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Changes config and status as one step; `f` returns whether the config changed, and
    /// subscribers are woken only then.
    fn update(&self, f: impl FnOnce(&mut Arc<Config>, &mut ConfigStatus) -> bool) -> bool {
        self.tx.send_if_modified(|current| {
            let mut status = match self.status.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(current, &mut status)
        })
    }
}
