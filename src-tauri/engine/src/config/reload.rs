//! Hot reload of the config file: a debounced notify watcher on the file's directory (editors
//! replace files rather than write them in place), a reload on each settled change, and an
//! event on the bus for every outcome.
//!
//! A valid change is put in force at once; keys listed in [`super::RESTART_KEYS`] are reported
//! as needing a restart. An invalid change (or a removed file) is rejected: the previous config
//! stays in force and the error is kept in the status for /health and the UI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ConfigError, ConfigHandle, ConfigProblem, RESTART_KEYS};
use crate::events::{ConfigEvent, ConfigOutcome, Event};

/// How long the file must be quiet before it is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the OS watcher alive; dropping it stops watching.
pub struct ConfigWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigWatcher")
    }
}

impl ConfigWatcher {
    /// Starts watching the handle's file, if it has one. Reload tasks run on `tracker` and
    /// stop when `cancel` fires.
    pub fn spawn(
        handle: ConfigHandle,
        publish: Publish,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(path) = handle.path().map(Path::to_path_buf) else {
            return Ok(None);
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(file_name) = path.file_name().map(|n| n.to_os_string()) else {
            return Ok(None);
        };
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let watch_err = |reason: String| ConfigError::Invalid {
            problems: vec![ConfigProblem {
                source: path.display().to_string(),
                key: String::new(),
                reason: format!("cannot watch for changes: {reason}"),
            }],
        };
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| {
            if let Ok(events) = res {
                let ours = events.iter().any(|e| {
                    e.paths
                        .iter()
                        .any(|p| p.file_name() == Some(file_name.as_os_str()))
                });
                if ours {
                    // A full channel already holds a pending reload: dropping this is fine.
                    let _ = tx.try_send(());
                }
            }
        })
        .map_err(|e| watch_err(e.to_string()))?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| watch_err(e.to_string()))?;
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    got = rx.recv() => {
                        if got.is_none() { break; }
                        publish(reload(&handle, &path));
                    }
                }
            }
        });
        Ok(Some(Self {
            _debouncer: debouncer,
        }))
    }
}

/// Where reload outcomes go (the engine's publish, which also counts them).
pub type Publish = Box<dyn Fn(Event) + Send + Sync>;

/// Reloads `path` into `handle`; returns the event announcing the outcome.
pub fn reload(handle: &ConfigHandle, path: &Path) -> Event {
    let was_error = handle.status().error.is_some();
    let event = match handle.load_again() {
        Ok(loaded) => {
            let running = handle.current();
            let changed = running.changed_keys(&loaded);
            // Restart-only keys keep their running values, so what the node reports is what
            // it uses; the event says which changes wait for a restart.
            handle.apply(loaded.with_restart_keys_of(&running));
            if changed.is_empty() && !was_error {
                return Event::Config(ConfigEvent {
                    outcome: ConfigOutcome::Applied,
                    path: Some(path.display().to_string()),
                    message: "configuration unchanged".into(),
                    changed,
                    restart_required: Vec::new(),
                });
            }
            let restart_required: Vec<String> = changed
                .iter()
                .filter(|k| RESTART_KEYS.contains(&k.as_str()))
                .cloned()
                .collect();
            let message = if changed.is_empty() {
                "configuration is valid again".to_string()
            } else {
                format!("applied changes to {}", changed.join(", "))
            };
            tracing::info!(path = %path.display(), changed = ?changed, restart_required = ?restart_required, "configuration reloaded");
            ConfigEvent {
                outcome: ConfigOutcome::Applied,
                path: Some(path.display().to_string()),
                message,
                changed,
                restart_required,
            }
        }
        Err(error) => {
            tracing::warn!(%error, "configuration change rejected; the previous configuration stays in force");
            handle.reject(&error);
            ConfigEvent {
                outcome: ConfigOutcome::Rejected,
                path: Some(path.display().to_string()),
                message: error.to_string(),
                changed: Vec::new(),
                restart_required: Vec::new(),
            }
        }
    };
    Event::Config(event)
}
