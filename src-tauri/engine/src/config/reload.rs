//! One reload of the config file into a [`ConfigHandle`], for the watcher and for an explicit
//! `POST /api/v1/config/reload`, and the event that announces it.
//!
//! A valid change is put in force at once; keys listed in [`super::RESTART_KEYS`] keep their
//! running values and are reported as needing a restart. An invalid change is rejected: the
//! previous config stays in force and the error is kept in the status for /health and the UI.
//! A removed file is rejected when it was named explicitly, and means the built-in defaults
//! when it was the default location (as a restart would do).
//!
//! Invariants: reloads are serialised by the handle; a file whose content is unchanged since
//! the last reload is not parsed again; only news is published ([`Reloaded::News`]), never a
//! "nothing changed".
//!
//! Must never: read the process environment (the handle's snapshot is used), or publish
//! anything itself (the caller decides, through [`Publish`]).

use super::handle::ConfigState;
use super::load::Fingerprint;
use super::{ConfigHandle, RESTART_KEYS};
use crate::events::{ConfigEvent, ConfigOutcome, Event};

/// Where reload outcomes go (the engine's publish, which also counts them).
pub type Publish = Box<dyn Fn(Event) + Send + Sync>;

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reloaded {
    /// Applied a change, rejected one, or the config is valid again: to be announced.
    News(ConfigEvent),
    /// Nothing changed (same content, or a change that changes no value): nothing to announce.
    /// The event describes the state in force, for a caller who asked.
    Quiet(ConfigEvent),
}

impl Reloaded {
    pub fn is_news(&self) -> bool {
        matches!(self, Self::News(_))
    }

    pub fn event(&self) -> &ConfigEvent {
        match self {
            Self::News(e) | Self::Quiet(e) => e,
        }
    }

    pub fn into_event(self) -> ConfigEvent {
        match self {
            Self::News(e) | Self::Quiet(e) => e,
        }
    }
}

/// Reloads the handle's file (with its environment snapshot and flags) and puts the result in
/// force if it is valid and different.
pub fn reload(handle: &ConfigHandle) -> Reloaded {
    let mut last = handle.lock_reloads();
    let path = handle.path().map(|p| p.display().to_string());
    let loaded = handle.source().load_fingerprinted();
    if loaded.fingerprint.is_some() && loaded.fingerprint == *last {
        return Reloaded::Quiet(in_force(handle, path));
    }
    *last = loaded.fingerprint;
    let was_error = handle.status().state == ConfigState::Error;
    match loaded.result {
        Ok(loaded_config) => {
            let running = handle.current();
            let changed = running.changed_keys(&loaded_config);
            let from_file = matches!(loaded.fingerprint, Some(Fingerprint::Content(_)));
            // Restart-only keys keep their running values, so what the node reports is what
            // it uses; the event says which changes wait for a restart.
            handle.apply_loaded(loaded_config.with_restart_keys_of(&running), from_file);
            if changed.is_empty() && !was_error {
                return Reloaded::Quiet(in_force(handle, path));
            }
            let restart_required: Vec<String> = changed
                .iter()
                .filter(|k| RESTART_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            let mut message = if changed.is_empty() {
                "configuration is valid again".to_string()
            } else {
                format!("applied changes to {}", changed.join(", "))
            };
            if !from_file && let Some(p) = &path {
                message = format!("{p} is gone, so the built-in defaults apply; {message}");
            }
            tracing::info!(path = ?path, changed = ?changed, restart_required = ?restart_required, "configuration reloaded");
            Reloaded::News(ConfigEvent {
                outcome: ConfigOutcome::Applied,
                path,
                message,
                changed,
                restart_required,
            })
        }
        Err(error) => {
            tracing::warn!(%error, "configuration change rejected; the previous configuration stays in force");
            handle.reject(&error);
            Reloaded::News(ConfigEvent {
                outcome: ConfigOutcome::Rejected,
                path,
                message: error.to_string(),
                changed: Vec::new(),
                restart_required: Vec::new(),
            })
        }
    }
}

/// The state in force, as an event that announces nothing new.
fn in_force(handle: &ConfigHandle, path: Option<String>) -> ConfigEvent {
    let status = handle.status();
    let (outcome, message) = match status.state {
        ConfigState::Ok => (
            ConfigOutcome::Applied,
            "no change: the configuration in force is up to date".to_string(),
        ),
        ConfigState::Error => (ConfigOutcome::Rejected, status.error.unwrap_or_default()),
    };
    ConfigEvent {
        outcome,
        path,
        message,
        changed: Vec::new(),
        restart_required: Vec::new(),
    }
}
