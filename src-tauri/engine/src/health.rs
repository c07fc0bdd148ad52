//! Health: a check of every dependency (database, secrets, config), the overall status as
//! the worst of them, and the history of transitions in the store.
//!
//! Invariants: a check never hangs the report (each has a timeout and then counts as
//! unhealthy); a transition is written to `health_transitions` before it is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::config::{ConfigHandle, ConfigState};
use crate::secrets::{Secrets, SecretsError};
use crate::store::Store;

/// How long one check may take before it counts as unhealthy.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Results of the checks that cost something (a query, a D-Bus call) are reused for this long,
/// so `/health`, which needs no token, cannot be used to load the node.
const REUSE_FOR: Duration = Duration::from_secs(2);

/// Status of a dependency or of the node. Ordered from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS, ToSchema,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct DependencyHealth {
    pub name: String,
    pub status: HealthStatus,
    pub response_time_ms: f64,
    #[ts(type = "string")]
    pub last_check: DateTime<Utc>,
    pub message: Option<String>,
}

/// The node's health report, served at `/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    pub version: String,
    #[ts(type = "number")]
    pub uptime_seconds: u64,
    #[ts(type = "string")]
    pub timestamp: DateTime<Utc>,
    pub dependencies: Vec<DependencyHealth>,
}

/// What the checks look at.
#[derive(Clone, Debug)]
pub struct HealthChecks {
    pub store: Store,
    pub secrets: Result<Secrets, SecretsError>,
    pub config: ConfigHandle,
    last: Arc<Mutex<HashMap<String, HealthStatus>>>,
    /// The last database and secrets results; the async mutex also makes concurrent reports
    /// share one round of checks.
    recent: Arc<tokio::sync::Mutex<Option<Recent>>>,
}

/// When the costly checks last ran, and what they found.
type Recent = (std::time::Instant, [DependencyHealth; 2]);

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

impl HealthChecks {
    pub fn new(store: Store, secrets: Result<Secrets, SecretsError>, config: ConfigHandle) -> Self {
        Self {
            store,
            secrets,
            config,
            last: Arc::new(Mutex::new(HashMap::new())),
            recent: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Runs every check (concurrently) and records transitions.
    pub async fn report(&self, version: &str, uptime_seconds: u64) -> HealthReport {
        let [db, secrets] = self.costly_checks().await;
        let dependencies = vec![db, secrets, self.check_config()];
        self.record_transitions(&dependencies).await;
        let status = dependencies
            .iter()
            .map(|d| d.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        HealthReport {
            status,
            version: version.to_string(),
            uptime_seconds,
            timestamp: Utc::now(),
            dependencies,
        }
    }

    async fn costly_checks(&self) -> [DependencyHealth; 2] {
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

    async fn check_database(&self, degraded_after: Duration) -> DependencyHealth {
        let started = std::time::Instant::now();
        let (status, message) = match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(took)) if took > degraded_after => (
                HealthStatus::Degraded,
                Some(format!("slow: {} ms", ms(took))),
            ),
            Ok(Ok(_)) => (HealthStatus::Healthy, Some("SQLite (WAL)".into())),
            Ok(Err(e)) => {
                // The detail (with paths) goes to the log; /health needs no token.
                tracing::warn!(error = %e, "database check failed");
                (
                    HealthStatus::Unhealthy,
                    Some("the database does not answer; see the node's log".into()),
                )
            }
            Err(_) => (
                HealthStatus::Unhealthy,
                Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
            ),
        };
        dep("database", status, started.elapsed(), message)
    }

    async fn check_secrets(&self, degraded_after: Duration) -> DependencyHealth {
        let started = std::time::Instant::now();
        let (status, message) = match &self.secrets {
            Err(e) => (HealthStatus::Unhealthy, Some(e.to_string())),
            Ok(s) => match tokio::time::timeout(CHECK_TIMEOUT, s.probe()).await {
                Ok(Ok((what, took))) if took > degraded_after => (
                    HealthStatus::Degraded,
                    Some(format!("{what}: slow, {} ms", ms(took))),
                ),
                Ok(Ok((what, _))) => (HealthStatus::Healthy, Some(what)),
                Ok(Err(e)) => (HealthStatus::Unhealthy, Some(e.to_string())),
                Err(_) => (
                    HealthStatus::Unhealthy,
                    Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                ),
            },
        };
        dep("secrets", status, started.elapsed(), message)
    }

    fn check_config(&self) -> DependencyHealth {
        let started = std::time::Instant::now();
        let st = self.config.status();
        // File name only: /health needs no token, and paths reveal the user's home.
        let source = st
            .path
            .as_deref()
            .map(|p| {
                std::path::Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.to_string())
            })
            .unwrap_or_else(|| "built-in defaults".into());
        let (status, message) = match st.state {
            ConfigState::Ok => (HealthStatus::Healthy, Some(format!("loaded from {source}"))),
            ConfigState::Error => (
                HealthStatus::Degraded,
                Some(format!(
                    "last change rejected, previous configuration in force: {}",
                    st.error.unwrap_or_default()
                )),
            ),
        };
        dep("config", status, started.elapsed(), message)
    }

    async fn record_transitions(&self, deps: &[DependencyHealth]) {
        let changes: Vec<(String, Option<HealthStatus>, HealthStatus, Option<String>)> = {
            let mut last = match self.last.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            deps.iter()
                .filter_map(|d| {
                    let before = last.insert(d.name.clone(), d.status);
                    (before != Some(d.status))
                        .then(|| (d.name.clone(), before, d.status, d.message.clone()))
                })
                .collect()
        };
        for (name, from, to, message) in changes {
            let res = sqlx::query(
                "INSERT INTO health_transitions (dependency, from_status, to_status, message, at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&name)
            .bind(from.map(HealthStatus::as_str))
            .bind(to.as_str())
            .bind(&message)
            .bind(Utc::now().to_rfc3339())
            .execute(self.store.pool())
            .await;
            if let Err(error) = res {
                tracing::debug!(%error, dependency = %name, "could not record health transition");
            }
            if from.is_some() {
                tracing::warn!(dependency = %name, from = ?from, to = ?to, message = ?message, "health changed");
            }
        }
    }
}

fn dep(
    name: &str,
    status: HealthStatus,
    took: Duration,
    message: Option<String>,
) -> DependencyHealth {
    DependencyHealth {
        name: name.into(),
        status,
        response_time_ms: ms(took),
        last_check: Utc::now(),
        message,
    }
}
