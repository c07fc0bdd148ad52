//! Watching the config file: a debounced notify watcher on the file's directory (editors save
//! by writing a temporary file and renaming it over the config) and, when the file is a
//! symlink into another directory, on the target's directory too; a reload on each settled
//! change, and an event on the bus for each one that is news.
//!
//! Invariants:
//! - Only changes to the file (created, written, renamed, removed) lead to a reload. Access
//!   events (a reload opens the file) and metadata changes do not, so a reload never triggers
//!   the next one; and a reload of unchanged content is quiet anyway.
//! - A watched directory that is removed or renamed is re-armed; while it cannot be, the
//!   status says so (`watching: false`, `watch_error`) and re-arming is retried every
//!   [`RETRY`]. A symlink re-pointed elsewhere moves the second watch along.
//! - Watcher errors are logged and followed by a reload. A watcher that cannot be set up at
//!   all leaves the engine running on the config it has, with the reason in the status.
//!
//! Must never: do more in the notify callback than flag and wake the reload task, or hold
//! the debouncer's lock across an `.await`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ConfigHandle;
use super::reload::{Publish, reload};
use crate::events::Event;

/// How long the file must be quiet before it is reloaded.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// How often a watch that could not be armed is tried again.
pub const RETRY: Duration = Duration::from_secs(2);

type Debounced = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Keeps the OS watcher alive; dropping it stops watching.
pub struct ConfigWatcher {
    debouncer: Arc<Mutex<Option<Debounced>>>,
    signal: Arc<Signal>,
}

impl std::fmt::Debug for ConfigWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigWatcher")
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        let mut guard = match self.debouncer.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.take();
    }
}

impl ConfigWatcher {
    /// Starts watching the handle's file, if it has one. Reloads run on `tracker` and stop
    /// when `cancel` fires. `None` when there is nothing to watch or the OS watcher cannot be
    /// created; the status then says why, and the engine runs on.
    pub fn spawn(
        handle: ConfigHandle,
        publish: Publish,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> Option<Self> {
        let path = handle.path()?.to_path_buf();
        let Some(mut watches) = Watches::new(&path) else {
            handle.set_watching(
                false,
                Some(format!("cannot watch {}: not a file path", path.display())),
            );
            return None;
        };
        let signal = Arc::new(Signal::default());
        let callback = Arc::clone(&signal);
        let debouncer = match new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| {
            callback.on_events(res)
        }) {
            Ok(d) => Arc::new(Mutex::new(Some(d))),
            Err(error) => {
                let reason = format!("cannot watch for changes: {error}");
                tracing::warn!(path = %path.display(), %error, "config file not watched; reload it with POST /api/v1/config/reload or restart");
                handle.set_watching(false, Some(reason));
                return None;
            }
        };
        let mut armed = watches.sync(&debouncer, &signal, &handle, false);
        // One look right away: the file may have changed between the load at start and now
        // (and the look records its fingerprint). Quiet if it did not.
        signal.wake.notify_one();
        let shared = Arc::clone(&debouncer);
        let task_signal = Arc::clone(&signal);
        tracker.spawn(async move {
            let signal = task_signal;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = signal.wake.notified() => {}
                    _ = tokio::time::sleep(RETRY), if !armed => {}
                }
                // Arm first, then read: a change between the two is not missed.
                let force = signal.rearm.swap(false, Ordering::AcqRel);
                armed = watches.sync(&shared, &signal, &handle, force);
                let reloaded = reload(&handle);
                if reloaded.is_news() {
                    // The new config may name other prompt files: watch those.
                    armed = watches.sync(&shared, &signal, &handle, false);
                    publish(Event::Config(reloaded.into_event()));
                }
            }
        });
        Some(Self { debouncer, signal })
    }

    /// How many times the reload task was woken by the OS watcher (tests: a reload must not
    /// wake it again).
    pub fn wakes(&self) -> u64 {
        self.signal.wakes.load(Ordering::Relaxed)
    }
}

/// What the notify callback looks for, and how it wakes the reload task.
#[derive(Default)]
struct Signal {
    wake: Notify,
    wakes: AtomicU64,
    /// A watched directory went away (or the watcher erred): re-arm before trusting it.
    rearm: AtomicBool,
    interest: Mutex<Interest>,
}

/// Paths as notify reports them: under the directories as they were watched.
#[derive(Default)]
struct Interest {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Signal {
    fn on_events(&self, result: DebounceEventResult) {
        let (mut change, mut rearm) = (false, false);
        match result {
            Ok(events) => {
                let interest = match self.interest.lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                for event in &events {
                    if event.need_rescan() {
                        (change, rearm) = (true, true);
                        continue;
                    }
                    if matches!(
                        event.kind,
                        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_))
                    ) {
                        continue;
                    }
                    for p in &event.paths {
                        change |= interest.files.contains(p);
                        if interest.dirs.contains(p)
                            && matches!(
                                event.kind,
                                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                            )
                        {
                            (change, rearm) = (true, true);
                        }
                    }
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "config watcher error; checking the file and re-arming");
                }
                (change, rearm) = (true, true);
            }
        }
        if rearm {
            self.rearm.store(true, Ordering::Release);
        }
        if change {
            // Stores a permit if the task is busy: a change during a reload is not lost.
            self.wakes.fetch_add(1, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }
}

/// The directories being watched and why.
struct Watches {
    /// The config file, absolute, as named (maybe a symlink).
    file: PathBuf,
    /// Its directory.
    dir: PathBuf,
    /// The symlink's target directory and the target file as notify reports it; the last
    /// known one while the link dangles.
    target: Option<(PathBuf, PathBuf)>,
    watched: Vec<PathBuf>,
    failure: Option<String>,
    first: bool,
}

impl Watches {
    fn new(path: &Path) -> Option<Self> {
        let file = std::path::absolute(path).ok()?;
        let dir = file.parent()?.to_path_buf();
        file.file_name()?;
        Some(Self {
            file,
            dir,
            target: None,
            watched: Vec::new(),
            failure: None,
            first: true,
        })
    }

    /// Follows the symlink (if any) to where the content really lives.
    fn resolve(&mut self) {
        let Ok(real) = std::fs::canonicalize(&self.file) else {
            return;
        };
        let (Some(real_dir), Some(name)) = (real.parent(), real.file_name()) else {
            return;
        };
        if std::fs::canonicalize(&self.dir).ok().as_deref() == Some(real_dir) {
            // Same directory (or no link at all): notify reports it under `dir`.
            self.target = Some((self.dir.clone(), self.dir.join(name)));
        } else {
            self.target = Some((real_dir.to_path_buf(), real.clone()));
        }
    }

    /// Makes the watches match the file's directory and its target's; `force` re-adds them
    /// (a watched directory was removed or renamed). Returns whether all are armed.
    fn sync(
        &mut self,
        debouncer: &Mutex<Option<Debounced>>,
        signal: &Signal,
        handle: &ConfigHandle,
        force: bool,
    ) -> bool {
        self.resolve();
        let mut want = vec![self.dir.clone()];
        if let Some((target_dir, _)) = &self.target
            && *target_dir != self.dir
        {
            want.push(target_dir.clone());
        }
        // The agents' prompt files, and their directories.
        let mut prompts = super::load::prompt_files(&handle.current(), &self.dir);
        for p in super::load::prompt_files_named(&self.file, &self.dir) {
            if !prompts.contains(&p) {
                prompts.push(p);
            }
        }
        for dir in prompts.iter().filter_map(|p| p.parent()) {
            if !want.iter().any(|w| w == dir) {
                want.push(dir.to_path_buf());
            }
        }
        let mut failures = Vec::new();
        // A missing directory at the default location is normal (no config yet): not a warning.
        let mut serious = handle.source().required;
        {
            let mut guard = match debouncer.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let Some(debouncer) = guard.as_mut() else {
                return true; // stopped
            };
            for old in std::mem::take(&mut self.watched) {
                if force || !want.contains(&old) {
                    // Fails when the OS already dropped it (directory removed): fine.
                    let _ = debouncer.unwatch(&old);
                } else {
                    self.watched.push(old);
                }
            }
            for dir in &want {
                if self.watched.contains(dir) {
                    continue;
                }
                match debouncer.watch(dir, RecursiveMode::NonRecursive) {
                    Ok(()) => self.watched.push(dir.clone()),
                    Err(e) => {
                        serious |= !matches!(e.kind, notify::ErrorKind::PathNotFound);
                        failures.push(format!("{}: {e}", dir.display()));
                    }
                }
            }
        }
        if let Ok(mut interest) = signal.interest.lock() {
            interest.files = std::iter::once(self.file.clone())
                .chain(self.target.iter().map(|(_, f)| f.clone()))
                .chain(prompts)
                .collect();
            interest.dirs = self.watched.clone();
        }
        let failure = (!failures.is_empty()).then(|| {
            format!(
                "not watching for changes ({}); retrying every {} s",
                failures.join("; "),
                RETRY.as_secs()
            )
        });
        if failure != self.failure || self.first {
            match &failure {
                Some(reason) if serious => {
                    tracing::warn!(file = %self.file.display(), %reason, "config file not watched")
                }
                Some(reason) => {
                    tracing::info!(file = %self.file.display(), %reason, "config file not watched")
                }
                None if !self.first => {
                    tracing::info!(file = %self.file.display(), "watching the config file again")
                }
                None => {}
            }
            // A default-location directory that does not exist yet is polled for (every
            // RETRY), so the file is still picked up when it appears: the status says watching,
            // and the UI shows no warning for the ordinary "no config yet".
            let shown = failure.clone().filter(|_| serious);
            handle.set_watching(shown.is_none(), shown);
        }
        self.failure = failure;
        self.first = false;
        self.failure.is_none()
    }
}
