//! Health: a check of every dependency (database, secrets, config, and each configured LLM
//! provider by its circuit breakers), the overall status as the worst of them, and the
//! history of transitions in the store.
//!
//! Invariants:
//! - A check never hangs the report (each has a timeout and then counts as unhealthy).
//! - The report is served unauthenticated at `/health`: its messages are short reasons with
//!   no paths or socket addresses. The full detail goes to the log (on each transition) and,
//!   for the config, to the authenticated `/api/v1/info`.
//! - A transition is written to `health_transitions` together with its [`Event::Health`] in
//!   one transaction ([`history`]); the first observation after start is stored, not
//!   published. It is stored with the time of the check that saw it.
//! - Reports decide transitions one at a time (under one lock) and submit their writes in
//!   that order, so each dependency's stored history forms one chain. The lock is not held
//!   while the write commits: `/health` never waits behind a slow database. A write that
//!   fails or takes longer than [`WRITE_TIMEOUT`] is logged as a warning, and the next
//!   report tries the transition again.
//! - Timestamps come from the engine's [`Clock`](crate::clock::Clock); durations (response
//!   times, the reuse window) from the monotonic clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::config::{ConfigHandle, ConfigState};
use crate::providers::{BreakerState, Providers};
use crate::secrets::{Secrets, SecretsError};
use crate::store::Store;

/// How long one check may take before it counts as unhealthy.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Results of the checks that cost something (a query, a D-Bus call) are reused for this long,
/// so `/health`, which needs no token, cannot be used to load the node.
const REUSE_FOR: Duration = Duration::from_secs(2);
/// How long a report waits for its transitions to commit before it answers anyway.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

pub mod history;

/// Status of a dependency or of the node. Ordered from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// One dependency's last check (the shape fleets already speak).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependencyHealth {
    pub name: String,
    pub status: HealthStatus,
    pub response_time_ms: f64,
    pub last_check: DateTime<Utc>,
    pub message: Option<String>,
}

/// The node's health report, served at `/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub version: String,
    pub uptime_seconds: u64,
    pub timestamp: DateTime<Utc>,
    pub dependencies: Vec<DependencyHealth>,
}

/// What the checks look at.
#[derive(Clone, Debug)]
pub struct HealthChecks {
    pub store: Store,
    pub secrets: Result<Secrets, SecretsError>,
    pub config: ConfigHandle,
    providers: Providers,
    /// MCP servers' connections (`mcp:<name>` entries).
    approvals: Option<crate::approvals::Approvals>,
    clock: SharedClock,
    /// The last status recorded per dependency. Its lock is what makes reports run one at a
    /// time (see the module's invariants).
    last: Arc<tokio::sync::Mutex<HashMap<String, HealthStatus>>>,
    /// The last database and secrets results, reused for [`REUSE_FOR`].
    recent: Arc<tokio::sync::Mutex<Option<Recent>>>,
}

/// A dependency's check, with the detail that must not leave the node unauthenticated.
#[derive(Clone, Debug)]
struct Checked {
    public: DependencyHealth,
    /// The full reason (may name paths), for the log.
    detail: Option<String>,
}

/// A transition's write, submitted and not yet known to have committed.
struct PendingWrite {
    dependency: String,
    from: Option<HealthStatus>,
    to: HealthStatus,
    write: std::pin::Pin<Box<dyn Future<Output = Result<(), crate::store::StoreError>> + Send>>,
}

/// When the costly checks last ran, and what they found.
type Recent = (std::time::Instant, [Checked; 2]);

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

impl HealthChecks {
    pub fn new(
        store: Store,
        secrets: Result<Secrets, SecretsError>,
        config: ConfigHandle,
        providers: Providers,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            secrets,
            config,
            providers,
            approvals: None,
            clock,
            last: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
            recent: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Runs every check (the costly ones concurrently), records transitions and hands each
    /// one, once stored, to `publish`.
    pub async fn report(&self, version: &str, uptime_seconds: u64) -> HealthReport {
        // Held until the transitions are submitted: a report that observed later must not
        // submit before one that observed earlier.
        let mut last = self.last.lock().await;
        let [db, secrets] = self.costly_checks().await;
        let mut checked = vec![db, secrets, self.check_config()];
        checked.extend(self.check_providers());
        checked.extend(self.check_mcp());
        let writes = self.record_transitions(&mut last, &checked);
        drop(last);
        self.await_writes(writes).await;
        let dependencies: Vec<DependencyHealth> = checked.into_iter().map(|c| c.public).collect();
        let status = dependencies
            .iter()
            .map(|d| d.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        HealthReport {
            status,
            version: version.to_string(),
            uptime_seconds,
            timestamp: self.clock.now(),
            dependencies,
        }
    }

    async fn costly_checks(&self) -> [Checked; 2] {
        let mut recent = self.recent.lock().await;
        if let Some((at, deps)) = recent.as_ref()
            && at.elapsed() < REUSE_FOR
        {
            return deps.clone();
        }
        let degraded_after = Duration::from_millis(self.config.current().health.degraded_after_ms);
        let (db, secrets) = tokio::join!(
            self.check_database(degraded_after),
            self.check_secrets(degraded_after)
        );
        let deps = [db, secrets];
        *recent = Some((std::time::Instant::now(), deps.clone()));
        deps
    }

    async fn check_database(&self, degraded_after: Duration) -> Checked {
        let started = std::time::Instant::now();
        let (status, message, detail) =
            match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
                Ok(Ok(took)) if took > degraded_after => (
                    HealthStatus::Degraded,
                    Some(format!("slow: {} ms", ms(took))),
                    None,
                ),
                Ok(Ok(_)) => (HealthStatus::Healthy, Some("SQLite (WAL)".into()), None),
                Ok(Err(e)) => (
                    HealthStatus::Unhealthy,
                    Some("the database does not answer; see the node's log".into()),
                    Some(e.to_string()),
                ),
                Err(_) => (
                    HealthStatus::Unhealthy,
                    Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                    None,
                ),
            };
        self.checked("database", status, started.elapsed(), message, detail)
    }

    async fn check_secrets(&self, degraded_after: Duration) -> Checked {
        let started = std::time::Instant::now();
        let failed = |e: &SecretsError| {
            (
                HealthStatus::Unhealthy,
                Some(e.public_message()),
                Some(e.to_string()),
            )
        };
        let (status, message, detail) = match &self.secrets {
            Err(e) => failed(e),
            Ok(s) => match tokio::time::timeout(CHECK_TIMEOUT, s.probe()).await {
                Ok(Ok((what, took))) if took > degraded_after => (
                    HealthStatus::Degraded,
                    Some(format!("{what}: slow, {} ms", ms(took))),
                    None,
                ),
                Ok(Ok((what, _))) => (HealthStatus::Healthy, Some(what), None),
                Ok(Err(e)) => failed(&e),
                Err(_) => (
                    HealthStatus::Unhealthy,
                    Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                    None,
                ),
            },
        };
        self.checked("secrets", status, started.elapsed(), message, detail)
    }

    fn check_config(&self) -> Checked {
        let started = std::time::Instant::now();
        let st = self.config.status();
        // File name only: paths reveal the user's home.
        let source = st
            .path
            .as_deref()
            .map(|p| {
                std::path::Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "the config file".into())
            })
            .unwrap_or_else(|| "built-in defaults".into());
        let (status, message, detail) = match st.state {
            ConfigState::Ok => (
                HealthStatus::Healthy,
                Some(format!("loaded from {source}")),
                None,
            ),
            // The error text names the file's absolute path: /api/v1/info has it.
            ConfigState::Error => (
                HealthStatus::Degraded,
                Some(format!(
                    "the last change to {source} was rejected; the previous configuration in \
                     force stays (details: /api/v1/info)"
                )),
                st.error,
            ),
        };
        self.checked("config", status, started.elapsed(), message, detail)
    }

    /// Decides the transitions `checked` shows, submits their writes (in order) and marks
    /// them as the last known status; returns the pending writes.
    /// Adds the `mcp:<name>` entries, from `approvals`' connections.
    pub fn with_mcp(mut self, approvals: crate::approvals::Approvals) -> Self {
        self.approvals = Some(approvals);
        self
    }

    /// One entry per configured MCP server, `mcp:<name>`, from what its connection did last
    /// (no connection is opened for a check: servers start on first use). A failure is
    /// degraded, not unhealthy: only the agents using its tools are held up. The reason goes
    /// to the log (it may name a program's path).
    fn check_mcp(&self) -> Vec<Checked> {
        let Some(approvals) = &self.approvals else {
            return Vec::new();
        };
        let config = self.config.current();
        config
            .mcp
            .keys()
            .map(|name| {
                let started = std::time::Instant::now();
                let (status, message, detail) = match approvals.mcp_state(name) {
                    crate::approvals::mcp::McpState::Unused => {
                        (HealthStatus::Healthy, "not used yet".to_string(), None)
                    }
                    crate::approvals::mcp::McpState::Connected(n) => {
                        (HealthStatus::Healthy, format!("connected, {n} tools"), None)
                    }
                    crate::approvals::mcp::McpState::Failed(why) => (
                        HealthStatus::Degraded,
                        "its last connection or call failed; reconnected on the next use"
                            .to_string(),
                        Some(why),
                    ),
                };
                self.checked(
                    &format!("mcp:{name}"),
                    status,
                    started.elapsed(),
                    Some(message),
                    detail,
                )
            })
            .collect()
    }

    /// One entry per configured provider, `provider:<name>`, from its breakers (no request
    /// is made: a probe would cost money on paid APIs). Any breaker open or probing makes it
    /// degraded, never unhealthy: calls still go to the other models of its routes' chains.
    fn check_providers(&self) -> Vec<Checked> {
        let config = self.config.current();
        let breakers = self.providers.breakers();
        config
            .providers
            .keys()
            .map(|name| {
                let started = std::time::Instant::now();
                let prefix = format!("{name}/");
                let mine: Vec<(&str, BreakerState)> = breakers
                    .iter()
                    .filter_map(|(k, s)| k.strip_prefix(&prefix).map(|m| (m, *s)))
                    .collect();
                let of = |want: BreakerState| -> Vec<&str> {
                    mine.iter()
                        .filter(|(_, s)| *s == want)
                        .map(|(m, _)| *m)
                        .collect()
                };
                let (open, probing) = (of(BreakerState::Open), of(BreakerState::HalfOpen));
                let (status, message) = if mine.is_empty() {
                    (HealthStatus::Healthy, "no calls yet".to_string())
                } else if open.is_empty() && probing.is_empty() {
                    (
                        HealthStatus::Healthy,
                        format!("{} model(s) called, breakers closed", mine.len()),
                    )
                } else {
                    let mut parts = Vec::new();
                    if !open.is_empty() {
                        parts.push(format!("breaker open for {}", open.join(", ")));
                    }
                    if !probing.is_empty() {
                        parts.push(format!("probing {}", probing.join(", ")));
                    }
                    (HealthStatus::Degraded, parts.join("; "))
                };
                self.checked(
                    &format!("provider:{name}"),
                    status,
                    started.elapsed(),
                    Some(message),
                    None,
                )
            })
            .collect()
    }

    fn record_transitions(
        &self,
        last: &mut HashMap<String, HealthStatus>,
        checked: &[Checked],
    ) -> Vec<PendingWrite> {
        let mut writes = Vec::new();
        for c in checked {
            let d = &c.public;
            let from = last.get(&d.name).copied();
            if from == Some(d.status) {
                continue;
            }
            let write = history::record(
                &self.store,
                history::NewTransition {
                    dependency: d.name.clone(),
                    from,
                    to: d.status,
                    message: d.message.clone(),
                    at: d.last_check,
                },
            );
            last.insert(d.name.clone(), d.status);
            let detail = c.detail.as_deref().or(d.message.as_deref());
            match from {
                Some(from) => {
                    tracing::warn!(dependency = %d.name, from = from.as_str(), to = d.status.as_str(), detail, "health changed");
                }
                None if d.status != HealthStatus::Healthy => {
                    tracing::warn!(dependency = %d.name, status = d.status.as_str(), detail, "dependency not healthy at start");
                }
                None => {}
            }
            writes.push(PendingWrite {
                dependency: d.name.clone(),
                from,
                to: d.status,
                write: Box::pin(write),
            });
        }
        writes
    }

    /// Waits (up to [`WRITE_TIMEOUT`]) for the transitions to commit. One that failed is
    /// forgotten, so the next report submits it again; one still pending finishes on its
    /// own (and a retry of it is not stored twice, see [`history::record`]).
    async fn await_writes(&self, writes: Vec<PendingWrite>) {
        for w in writes {
            let outcome = match tokio::time::timeout(WRITE_TIMEOUT, w.write).await {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("not committed within {} s", WRITE_TIMEOUT.as_secs()),
            };
            tracing::warn!(dependency = %w.dependency, error = %outcome, "could not store a health transition; the next check retries it");
            let mut last = self.last.lock().await;
            if last.get(&w.dependency) == Some(&w.to) {
                match w.from {
                    Some(from) => last.insert(w.dependency.clone(), from),
                    None => last.remove(&w.dependency),
                };
            }
        }
    }

    /// A check that ended now.
    fn checked(
        &self,
        name: &str,
        status: HealthStatus,
        took: Duration,
        message: Option<String>,
        detail: Option<String>,
    ) -> Checked {
        Checked {
            public: DependencyHealth {
                name: name.into(),
                status,
                response_time_ms: ms(took),
                last_check: self.clock.now(),
                message,
            },
            detail,
        }
    }
}
