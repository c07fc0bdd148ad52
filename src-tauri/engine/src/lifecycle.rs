//! The engine's work over time: tracked in-flight work, the background loops (metrics
//! sampler, health checks, log level follower) and the one shutdown.
//!
//! Invariants:
//! - Work accepted by [`Engine::spawn_work`] is always waited for by a shutdown that starts
//!   later: the work takes its place in the tracker *before* the cancellation check, so the
//!   check and `close` + `wait` cannot interleave into a wait that misses it.
//! - The background loops hold only weak handles to the engine and stop on the shutdown
//!   token, so dropping the last handle (without a shutdown) still stops them and releases
//!   the store and its data-dir lock.
//! - Shutdown runs once; a second or concurrent call gets the first call's outcome. Any
//!   timeout, up to `Duration::MAX`, is valid.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::Event;
use crate::telemetry::LogHandle;
use crate::{Engine, Inner};

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownOutcome {
    /// Every tracked task finished in time.
    Drained,
    /// The timeout passed with tasks still running; they were abandoned.
    TimedOut { still_running: usize },
}

/// Spawns `work` on `tracker` unless `cancel` has fired.
fn spawn_unless_cancelled<F>(
    cancel: &CancellationToken,
    tracker: &TaskTracker,
    work: F,
) -> Option<JoinHandle<F::Output>>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Counted as in flight from here: a shutdown that cancels after the check below waits
    // for it; one that cancelled before makes us drop it (and the count) unstarted.
    let tracked = tracker.track_future(work);
    if cancel.is_cancelled() {
        return None;
    }
    Some(tokio::spawn(tracked))
}

impl Engine {
    /// Runs `work` as in-flight work that shutdown waits for. Refused (returns `None`) once
    /// shutdown has started.
    pub fn spawn_work<F>(&self, work: F) -> Option<JoinHandle<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_unless_cancelled(&self.inner.cancel, &self.inner.tracker, work)
    }

    pub(crate) fn spawn_sampler(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cancel = self.inner.cancel.clone();
        self.inner.tracker.spawn(async move {
            loop {
                // Read every round: a reload may change the interval.
                let (every, clock) = match weak.upgrade() {
                    Some(inner) => (
                        inner.config.current().feed.metrics_interval_ms,
                        inner.clock.clone(),
                    ),
                    None => break,
                };
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = clock.sleep(Duration::from_millis(every)) => {}
                }
                let Some(inner) = weak.upgrade() else { break };
                let engine = Engine { inner };
                engine.publish_ephemeral(Event::Metrics(engine.metrics_sample()));
            }
        });
    }

    pub(crate) fn spawn_health_loop(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cancel = self.inner.cancel.clone();
        self.inner.tracker.spawn(async move {
            loop {
                // Check first, so transitions are recorded from the start.
                let (every, clock) = {
                    let Some(inner) = weak.upgrade() else { break };
                    let engine = Engine { inner };
                    // Records (and publishes) transitions; the report itself is not needed.
                    let _ = engine.health().await;
                    (
                        engine.inner.config.current().health.interval_secs,
                        engine.inner.clock.clone(),
                    )
                };
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = clock.sleep(Duration::from_secs(every)) => {}
                }
            }
        });
    }

    /// Hands config reloads to the parts that keep state across calls (the response cache's
    /// bounds) and records new versions of the agents' templates; everything else reads the
    /// config per call.
    pub(crate) fn spawn_providers_follower(&self) {
        let mut changes = self.inner.config.subscribe();
        let providers = self.inner.providers.clone();
        let cancel = self.inner.cancel.clone();
        let store = self.inner.store.clone();
        let first = self.inner.config.current();
        self.inner.tracker.spawn(async move {
            // The templates in force at start, then after every change.
            if let Err(error) = crate::agents::templates::record(&store, &first).await {
                tracing::warn!(%error, "could not record the agents' template versions");
            }
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    changed = changes.changed() => {
                        if changed.is_err() { break }
                        let config = changes.borrow_and_update().clone();
                        providers.config_changed(&config);
                        if let Some(gate) = providers.budgets() {
                            providers.ledger().flush().await;
                            if let Err(error) = gate.refresh().await {
                                tracing::warn!(%error, "could not read the budgets' spending after a reload");
                            }
                        }
                        if let Err(error) = crate::agents::templates::record(&store, &config).await {
                            tracing::warn!(%error, "could not record the agents' template versions");
                        }
                    }
                }
            }
        });
    }

    /// Prunes what the retention rules no longer keep (see [`crate::retention`]): at start,
    /// then every [`crate::retention::EVERY`].
    pub(crate) fn spawn_retention(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cancel = self.inner.cancel.clone();
        self.inner.tracker.spawn(async move {
            loop {
                let clock = {
                    let Some(inner) = weak.upgrade() else { break };
                    crate::retention::run(&inner.store, inner.clock.now()).await;
                    inner.clock.clone()
                };
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = clock.sleep(crate::retention::EVERY) => {}
                }
            }
        });
    }

    /// Applies `log.level` changes from config reloads to `log` until shutdown. Does nothing
    /// when `RUST_LOG` is set and not empty: it wins over the config, as at start.
    pub fn follow_log_level(&self, log: LogHandle) {
        if std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) {
            return;
        }
        self.spawn_log_follower(log);
    }

    /// The follower itself; its handle tells when it has ended.
    fn spawn_log_follower(&self, log: LogHandle) -> JoinHandle<()> {
        let mut config = self.inner.config.subscribe();
        let cancel = self.inner.cancel.clone();
        let mut level = config.borrow_and_update().log.level.clone();
        self.inner.tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    changed = config.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let new = config.borrow_and_update().log.level.clone();
                        if new == level {
                            continue;
                        }
                        match log.set_level(&new) {
                            Ok(()) => {
                                tracing::info!(level = %new, "log level changed");
                                level = new;
                            }
                            Err(error) => tracing::warn!(%error, "could not apply the new log level"),
                        }
                    }
                }
            }
        })
    }

    /// Stops intake, waits up to the configured timeout for in-flight work, then closes the
    /// store. Runs once: later calls return the first outcome.
    pub async fn shutdown(&self) -> ShutdownOutcome {
        let timeout = Duration::from_secs(self.inner.config.current().shutdown.timeout_secs);
        self.shutdown_within(timeout).await
    }

    /// [`Engine::shutdown`] with an explicit timeout (`Duration::MAX` waits as long as it
    /// takes).
    pub async fn shutdown_within(&self, timeout: Duration) -> ShutdownOutcome {
        *self.inner.stopped.get_or_init(|| self.stop(timeout)).await
    }

    async fn stop(&self, timeout: Duration) -> ShutdownOutcome {
        self.inner.cancel.cancel();
        if let Ok(mut w) = self.inner.watcher.lock() {
            w.take();
        }
        let tracker = &self.inner.tracker;
        tracker.close();
        // No deadline when `timeout` reaches past the end of time.
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let drained = match deadline {
            Some(at) => tokio::time::timeout_at(at, tracker.wait()).await.is_ok(),
            None => {
                tracker.wait().await;
                true
            }
        };
        let outcome = if drained {
            ShutdownOutcome::Drained
        } else {
            ShutdownOutcome::TimedOut {
                still_running: tracker.len(),
            }
        };
        // Closing gets what is left of the budget, and at least a moment to checkpoint.
        let left = deadline.map_or(Duration::MAX, |at| {
            at.saturating_duration_since(tokio::time::Instant::now())
        });
        self.inner
            .store
            .close_within(left.max(Duration::from_millis(500)))
            .await;
        tracing::info!(?outcome, "engine stopped");
        outcome
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Work accepted while a shutdown begins on another thread is always waited for.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn accepted_work_is_always_waited_for() {
        for _ in 0..500 {
            let cancel = CancellationToken::new();
            let tracker = TaskTracker::new();
            let done = Arc::new(AtomicBool::new(false));
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let spawner = {
                let (cancel, tracker, done, barrier) = (
                    cancel.clone(),
                    tracker.clone(),
                    done.clone(),
                    barrier.clone(),
                );
                let rt = tokio::runtime::Handle::current();
                std::thread::spawn(move || {
                    let _guard = rt.enter();
                    barrier.wait();
                    spawn_unless_cancelled(&cancel, &tracker, async move {
                        tokio::task::yield_now().await;
                        done.store(true, Ordering::SeqCst);
                    })
                    .is_some()
                })
            };
            barrier.wait();
            cancel.cancel();
            tracker.close();
            tracker.wait().await;
            let accepted = spawner.join().unwrap();
            if accepted {
                assert!(
                    done.load(Ordering::SeqCst),
                    "shutdown finished before accepted work"
                );
            }
        }
    }

    #[tokio::test]
    async fn log_level_follows_config_reloads_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flightdeck.toml");
        std::fs::write(&path, "[log]\nlevel = \"info\"\n").unwrap();
        let source = crate::config::ConfigSource {
            path: Some(path.clone()),
            required: true,
            env: crate::config::EnvSnapshot::default(),
            overrides: crate::config::ConfigOverrides {
                secrets_backend: Some(crate::config::SecretsBackend::Env),
                ..Default::default()
            },
        };
        let engine = Engine::open(crate::EngineOptions {
            data_dir: dir.path().join("data"),
            config: source.load().unwrap(),
            config_source: source,
            watch_config: false,
            env_token: Some("lifecycle-test-token-123".into()),
            require_token: false,
            clock: crate::clock::SystemClock::shared(),
        })
        .await
        .unwrap();
        let (log, _layer) = LogHandle::detached("info").unwrap();
        // Not `follow_log_level`: RUST_LOG may be set where the tests run.
        let follower = engine.spawn_log_follower(log.clone());

        std::fs::write(&path, "[log]\nlevel = \"debug\"\n").unwrap();
        let applied = engine.reload_config().unwrap();
        assert_eq!(applied.outcome, crate::events::ConfigOutcome::Applied);
        let mut seen = log.current();
        for _ in 0..200 {
            if seen.as_deref() == Some("debug") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            seen = log.current();
        }
        assert_eq!(seen.as_deref(), Some("debug"));

        // Shutdown ends the follower (the engine, and so the config sender, is still alive:
        // only the shutdown token can have stopped it), so a later change is not applied.
        assert_eq!(engine.shutdown().await, ShutdownOutcome::Drained);
        tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .expect("the log level follower outlived the shutdown")
            .unwrap();
        std::fs::write(&path, "[log]\nlevel = \"warn\"\n").unwrap();
        let ignored = engine.reload_config().unwrap();
        assert_eq!(ignored.outcome, crate::events::ConfigOutcome::Applied);
        assert_eq!(engine.config().current().log.level, "warn");
        assert_eq!(log.current().as_deref(), Some("debug"));
    }

    #[tokio::test]
    async fn refused_after_cancel_and_nothing_left_counted() {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        cancel.cancel();
        assert!(spawn_unless_cancelled(&cancel, &tracker, async {}).is_none());
        assert_eq!(tracker.len(), 0);
    }
}
