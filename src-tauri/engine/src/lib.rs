//! The Flightdeck engine: everything a node does, with no window and no HTTP server.
//!
//! [`Engine`] is the one way in; it is cheap to clone. Binaries (the headless node, the
//! desktop shell) load the config, open the engine, hand it to the API router, and call
//! [`Engine::shutdown`] on the way out.
//!
//! Invariants:
//! - No dependency on tauri, axum or any UI (checked by the
//!   `engine_has_no_ui_or_http_server_dependencies` test in `tests/engine.rs`).
//! - No global state: config, clock, paths and the pool are passed in. Wall-clock time is
//!   read only through [`EngineOptions::clock`], so tests run on a [`clock::ManualClock`].
//!   (Durations and deadlines use the monotonic clock.)
//! - State is written to the store first, then published on the event bus.
//! - One engine per data dir: the store holds the data-dir lock from open to shutdown.
//! - The data dir is canonicalized once at open; everything after sees that one path.
//! - Shutdown (see `lifecycle.rs`) runs once: intake stops (the cancellation token fires),
//!   in-flight work tracked by the engine gets up to `shutdown.timeout_secs` to finish, then
//!   the pool is checkpointed and closed and the lock released. Nothing committed is lost.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod charts;
pub mod clock;
pub mod config;
pub mod costs;
pub mod csv_rows;
pub mod data_dir;
pub mod error;
pub mod events;
pub mod forecast;
pub mod health;
pub mod idempotency;
pub mod identity;
pub mod orchestrator;
pub mod paths;
pub mod providers;
pub mod reports;
pub mod retention;
pub mod secrets;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_rng;

mod lifecycle;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigHandle, ConfigStatus, ConfigWatcher};
use crate::events::{Event, EventBus, MetricsSample};
use crate::health::{HealthChecks, HealthReport};
use crate::secrets::{Secrets, SecretsError};
use crate::store::Store;
use crate::telemetry::Metrics;

pub use error::{EngineError, ErrorCode};
pub use lifecycle::ShutdownOutcome;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a binary decides before opening the engine.
#[derive(Clone)]
pub struct EngineOptions {
    /// Any spelling; the engine works with its canonical form.
    pub data_dir: PathBuf,
    /// The validated config in force at start.
    pub config: Config,
    /// Where it came from (file, environment snapshot, flags): reloads read it the same way.
    /// The file is watched for changes when `watch_config`.
    pub config_source: config::ConfigSource,
    pub watch_config: bool,
    /// FLIGHTDECK_API_TOKEN, if set.
    pub env_token: Option<String>,
    /// The API token must be available (found or generated and stored) for the engine to
    /// open: a node that could authenticate no one fails before it creates a database. The
    /// desktop, which authenticates in-process, opens without one (health shows why).
    pub require_token: bool,
    /// Every wall-clock time the engine stamps or stores: [`clock::SystemClock`] in the
    /// binaries, a [`clock::ManualClock`] in tests.
    pub clock: SharedClock,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("data_dir", &self.data_dir)
            .field("config_path", &self.config_source.path)
            .field("watch_config", &self.watch_config)
            .field("env_token", &self.env_token.as_ref().map(|_| "***"))
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// What `/api/v1/info` answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    pub version: String,
    pub node_id: String,
    pub data_dir: String,
    pub database_path: String,
    pub schema_version: i64,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: u64,
    pub config: ConfigStatus,
}

struct Inner {
    data_dir: PathBuf,
    store: Store,
    config: ConfigHandle,
    secrets: Result<Secrets, SecretsError>,
    bus: EventBus,
    metrics: Metrics,
    health: HealthChecks,
    identity: identity::Identity,
    idempotency: idempotency::Idempotency,
    named_secrets: secrets::SecretStore,
    providers: providers::Providers,
    tasks: orchestrator::Tasks,
    audit: audit::Audit,
    costs: costs::Costs,
    kpis: forecast::kpi::Kpis,
    reports: reports::Reports,
    clock: SharedClock,
    node_id: String,
    schema_version: i64,
    started: Instant,
    started_at: DateTime<Utc>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    watcher: std::sync::Mutex<Option<ConfigWatcher>>,
    /// FLIGHTDECK_API_TOKEN, checked: it wins over the secret store.
    env_token: Option<secrets::ApiToken>,
    /// Set by the first shutdown; later calls return it.
    stopped: tokio::sync::OnceCell<ShutdownOutcome>,
}

impl Drop for Inner {
    /// Dropped without a shutdown: stop the background loops (they hold only weak handles).
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Handle to a running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.inner.data_dir)
            .field("node_id", &self.inner.node_id)
            .finish()
    }
}

impl Engine {
    /// Opens the store (migrating it), the secret store and the metrics, and starts the
    /// background tasks (metrics sampler, health checks, config watcher). Must be called
    /// inside a tokio runtime.
    pub async fn open(options: EngineOptions) -> Result<Self, EngineError> {
        let clock = options.clock;
        // Secrets first: with `require_token`, a missing keychain stops the open before the
        // store creates anything but the data dir.
        let data_dir = data_dir::prepare(&options.data_dir)?;
        let secrets = Secrets::open_async(
            options.config.secrets.backend,
            data_dir.clone(),
            options.env_token.clone(),
        )
        .await;
        let env_token = match options.env_token.as_deref() {
            Some(t) if !t.is_empty() => Some(secrets::ApiToken::parse(t)?),
            _ => None,
        };
        match (&secrets, options.require_token) {
            // FLIGHTDECK_API_TOKEN is the token: no keychain is needed for it (health still
            // shows why the secret store is unreachable).
            (Err(error), true) if env_token.is_some() => {
                tracing::warn!(%error, "secret store unavailable; the API token comes from FLIGHTDECK_API_TOKEN")
            }
            (Err(error), true) => return Err(error.clone().into()),
            (Err(error), false) => tracing::warn!(%error, "secret store unavailable"),
            (Ok(secrets), true) => {
                let (_, source) = secrets.api_token().await?;
                if source == secrets::TokenSource::Generated {
                    tracing::info!(
                        "generated a new API token and stored it; `flightdeck token` prints it"
                    );
                }
            }
            (Ok(_), false) => {}
        }
        let bus = EventBus::new(clock.clone(), 0);
        let store = Store::open_with(&data_dir, clock.clone(), Arc::new(bus.clone())).await?;
        bus.start_after(store.read(events::log::last_assigned).await?);
        let data_dir = store.data_dir().to_path_buf();
        let schema_version = store.schema_version().await?;
        let node_id = store
            .meta_get_or_insert("node_id", &uuid::Uuid::new_v4().to_string(), clock.now())
            .await?;
        let identity = identity::Identity::open(store.clone(), clock.clone()).await?;
        let idempotency = idempotency::Idempotency::new(store.clone(), clock.clone());
        let named_secrets =
            secrets::SecretStore::new(secrets.clone(), store.clone(), clock.clone());
        let config = ConfigHandle::new(options.config, options.config_source, clock.clone());
        let metrics = Metrics::new(VERSION)?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        // Before anything can call a model: a previous run's journal is written first.
        let ledger = providers::Ledger::open(
            store.clone(),
            clock.clone(),
            &data_dir,
            &tracker,
            cancel.clone(),
        )
        .await?;
        let publish: providers::Publish = {
            let store = store.clone();
            let tracker = tracker.clone();
            let counter = metrics.events_published.clone();
            Arc::new(move |event: Event| {
                counter.inc();
                let write = store.write(move |tx| tx.append_event(event.clone()));
                tracker.spawn(async move {
                    if let Err(error) = write.await {
                        tracing::warn!(%error, "could not store a providers event");
                    }
                });
            })
        };
        let budgets = costs::Gate::open(
            store.clone(),
            clock.clone(),
            config.clone(),
            &tracker,
            cancel.clone(),
            Some(named_secrets.clone()),
        )
        .await?;
        let providers = providers::Providers::new(providers::ProvidersParts {
            config: config.clone(),
            secrets: named_secrets.clone(),
            clock: clock.clone(),
            ledger,
            node_id: node_id.clone(),
            metrics: providers::metrics::ProviderMetrics::new(&metrics)?,
            publish,
            budgets: Some(budgets.clone()),
        });
        let wake = Arc::new(tokio::sync::Notify::new());
        let approvals = approvals::Approvals::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            Some(named_secrets.clone()),
            Some(wake.clone()),
            Some(approvals::sla::ApprovalMetrics::new(&metrics)?),
        );
        let tasks = orchestrator::Tasks::new(
            orchestrator::Queue::new(store.clone(), clock.clone()),
            config.clone(),
            providers.clone(),
            agents::metrics::AgentMetrics::new(&metrics)?,
            approvals,
            wake,
        );
        let audit = audit::Audit::new(store.clone());
        let costs =
            costs::Costs::new(store.clone(), config.clone(), clock.clone()).with_gate(budgets);
        costs.spawn_projections(std::time::Duration::from_secs(60), &tracker, cancel.clone());
        let kpis = forecast::kpi::Kpis::new(store.clone(), clock.clone(), costs.clone());
        kpis.spawn_checks(
            std::time::Duration::from_secs(3600),
            &tracker,
            cancel.clone(),
        );
        let reports = reports::Reports::new(reports::ReportsParts {
            store: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
            costs: costs.clone(),
            kpis: kpis.clone(),
            approvals: tasks.approvals().clone(),
            secrets: Some(named_secrets.clone()),
            node_id: node_id.clone(),
            data_dir: data_dir.clone(),
        });
        reports.spawn_schedule(&tracker, cancel.clone());
        let health = HealthChecks::new(
            store.clone(),
            secrets.clone(),
            config.clone(),
            providers.clone(),
            clock.clone(),
        )
        .with_mcp(tasks.approvals().clone());
        let engine = Self {
            inner: Arc::new(Inner {
                data_dir,
                store,
                config,
                secrets,
                bus,
                metrics,
                health,
                identity,
                idempotency,
                named_secrets,
                providers,
                tasks,
                audit,
                costs,
                kpis,
                reports,
                node_id,
                schema_version,
                started: Instant::now(),
                started_at: clock.now(),
                clock,
                cancel,
                tracker,
                watcher: std::sync::Mutex::new(None),
                env_token,
                stopped: tokio::sync::OnceCell::new(),
            }),
        };
        if options.watch_config {
            // The closure holds a weak handle: the watcher lives inside the engine.
            let weak = Arc::downgrade(&engine.inner);
            let publish: config::reload::Publish = Box::new(move |event| {
                if let Some(inner) = weak.upgrade() {
                    Engine { inner }.record_detached(event);
                }
            });
            // A watcher that cannot be set up is logged and shown in the config status; the
            // engine runs on (reloads stay available through `reload_config`).
            let watcher = ConfigWatcher::spawn(
                engine.inner.config.clone(),
                publish,
                engine.inner.cancel.clone(),
                &engine.inner.tracker,
            );
            if let Ok(mut slot) = engine.inner.watcher.lock() {
                *slot = watcher;
            }
        }
        engine.spawn_sampler();
        engine.spawn_health_loop();
        engine.spawn_retention();
        engine.spawn_providers_follower();
        approvals::sla::spawn(
            engine.inner.tasks.approvals().clone(),
            engine.inner.cancel.clone(),
            &engine.inner.tracker,
        );
        orchestrator::worker::spawn(
            engine.inner.tasks.clone(),
            engine.inner.node_id.clone(),
            engine.inner.cancel.clone(),
            &engine.inner.tracker,
        );
        tracing::info!(data_dir = %engine.inner.data_dir.display(), node_id = %engine.inner.node_id, schema_version, "engine open");
        Ok(engine)
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Named secrets (`provider:openai`...): write-only from outside.
    pub fn named_secrets(&self) -> &secrets::SecretStore {
        &self.inner.named_secrets
    }

    /// The LLM call path and the usage ledger.
    pub fn providers(&self) -> &providers::Providers {
        &self.inner.providers
    }

    /// The task queue and its agents.
    pub fn tasks(&self) -> &orchestrator::Tasks {
        &self.inner.tasks
    }

    /// Idempotency keys of POST requests (the API's `Idempotency-Key`).
    pub fn approvals(&self) -> &approvals::Approvals {
        self.inner.tasks.approvals()
    }

    /// Cost rollups and queries (the ledger is `providers()`).
    pub fn costs(&self) -> &costs::Costs {
        &self.inner.costs
    }

    /// KPI series, their forecasts and anomalies, goals and the health score.
    pub fn kpis(&self) -> &forecast::kpi::Kpis {
        &self.inner.kpis
    }

    /// Reports: make, list, fetch, deliver; the schedule.
    pub fn reports(&self) -> &reports::Reports {
        &self.inner.reports
    }

    /// The health score of the configured KPIs now.
    pub async fn health_score(
        &self,
    ) -> Result<forecast::score::HealthScore, forecast::ForecastError> {
        let config = self.inner.config.current();
        self.inner.kpis.health_score(&config.health_score).await
    }

    pub fn audit(&self) -> &audit::Audit {
        &self.inner.audit
    }

    pub fn idempotency(&self) -> &idempotency::Idempotency {
        &self.inner.idempotency
    }

    /// Named API tokens and actors.
    pub fn identity(&self) -> &identity::Identity {
        &self.inner.identity
    }

    pub fn config(&self) -> &ConfigHandle {
        &self.inner.config
    }

    /// The secret store, or why it could not be opened.
    pub fn secrets(&self) -> Result<&Secrets, &SecretsError> {
        self.inner.secrets.as_ref()
    }

    /// The node's API token (stored, from the environment, or generated and stored now).
    pub async fn api_token(&self) -> Result<secrets::ApiToken, SecretsError> {
        if let Some(token) = &self.inner.env_token {
            return Ok(token.clone());
        }
        let secrets = self.secrets().map_err(Clone::clone)?;
        Ok(secrets.api_token().await?.0)
    }

    pub fn events(&self) -> &EventBus {
        &self.inner.bus
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The clock the engine stamps times with; later domains (SLAs, escalations) read it too.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// Fires when shutdown starts: long-lived work (feeds, loops) stops on it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The node's identity and state.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            version: VERSION.into(),
            node_id: self.inner.node_id.clone(),
            data_dir: self.inner.data_dir.display().to_string(),
            database_path: self.inner.store.path().display().to_string(),
            schema_version: self.inner.schema_version,
            started_at: self.inner.started_at,
            uptime_seconds: self.uptime().as_secs(),
            config: self.inner.config.status(),
        }
    }

    /// Checks every dependency now (transitions are stored with their events).
    pub async fn health(&self) -> HealthReport {
        self.inner
            .health
            .report(VERSION, self.uptime().as_secs())
            .await
    }

    /// Subscribes to the event stream: `topics` (all when `None`), resuming after
    /// `resume_from` from the durable log when it still holds what came after.
    pub async fn subscribe(
        &self,
        topics: Option<Vec<events::Topic>>,
        resume_from: Option<u64>,
    ) -> Result<events::subscribe::Subscription, events::subscribe::SubscribeError> {
        events::subscribe::Subscription::open(
            &self.inner.bus,
            &self.inner.store,
            topics,
            resume_from,
        )
        .await
    }

    /// A snapshot of the vital signs published on the `metrics` topic.
    pub fn metrics_sample(&self) -> MetricsSample {
        let m = &self.inner.metrics;
        MetricsSample {
            uptime_seconds: self.uptime().as_secs(),
            http_requests_total: m.http_requests_total(),
            http_requests_in_flight: m.http_in_flight.get(),
            feed_subscribers: m.feed_subscribers.get(),
            rss_bytes: m.rss_bytes(),
            db_size_bytes: self.inner.store.size_bytes(),
            events_published_total: self.inner.bus.published_total(),
        }
    }

    /// Publishes an ephemeral event (a metrics sample) on the bus. Domain events are stored
    /// with [`Engine::record`] or inside a domain's own write.
    pub fn publish_ephemeral(&self, event: Event) -> u64 {
        self.inner.metrics.events_published.inc();
        self.inner.bus.publish_ephemeral(event)
    }

    /// Appends a domain event that goes with no other state change (a config reload) to the
    /// log, in submission order; resolves to its seq once committed (and published). A
    /// config event is also recorded in the audit log, as done by the config file's owner.
    pub fn record(
        &self,
        event: Event,
    ) -> impl std::future::Future<Output = Result<u64, store::StoreError>> + Send + 'static + use<>
    {
        self.record_as(event, "system:config-file")
    }

    /// [`Engine::record`] with the actor the audit entry names.
    pub fn record_as(
        &self,
        event: Event,
        actor: &str,
    ) -> impl std::future::Future<Output = Result<u64, store::StoreError>> + Send + 'static + use<>
    {
        if let Event::Config(c) = &event {
            let outcome = match c.outcome {
                events::ConfigOutcome::Applied => "applied",
                events::ConfigOutcome::Rejected => "rejected",
            };
            self.inner
                .metrics
                .config_reloads
                .with_label_values(&[outcome])
                .inc();
        }
        self.inner.metrics.events_published.inc();
        let actor = actor.to_string();
        self.inner.store.write(move |tx| {
            if let Event::Config(c) = &event {
                for entry in config_audit(c, &actor) {
                    audit::append(tx, &entry)?;
                }
            }
            tx.append_event(event.clone())
        })
    }

    /// [`Engine::record`] from code that cannot wait (the config watcher); a failure is logged.
    fn record_detached(&self, event: Event) {
        self.record_detached_as(event, "system:config-file");
    }

    fn record_detached_as(&self, event: Event, actor: &str) {
        let write = self.record_as(event, actor);
        self.inner.tracker.spawn(async move {
            if let Err(error) = write.await {
                tracing::warn!(%error, "could not store an event");
            }
        });
    }

    /// Sets config keys in the config file ([`config::edit::EDITABLE`]), then reloads it: the
    /// change is applied and announced like any other reload.
    pub fn set_config(
        &self,
        values: &[(String, serde_json::Value)],
        actor: &str,
    ) -> Result<events::ConfigEvent, config::edit::EditError> {
        config::edit::set(&self.inner.config, values)?;
        Ok(self.reload_after_edit(actor))
    }

    /// Sets agent `agent`'s prompt and system templates in the config file, then reloads it
    /// (which records the new template version).
    pub fn set_agent_template(
        &self,
        agent: &str,
        prompt: &str,
        system: Option<&str>,
        actor: &str,
    ) -> Result<events::ConfigEvent, config::edit::EditError> {
        config::edit::set_agent_template(&self.inner.config, agent, prompt, system)?;
        Ok(self.reload_after_edit(actor))
    }

    /// Sets (or removes, `None`) budget `name` in the config file, reloads it, and waits
    /// until the budgets' gate holds the new definition (its spending read from the ledger).
    pub async fn set_budget(
        &self,
        name: &str,
        budget: Option<&costs::settings::BudgetConfig>,
        actor: &str,
    ) -> Result<events::ConfigEvent, config::edit::EditError> {
        let (handle, owned, def) = (self.inner.config.clone(), name.to_string(), budget.cloned());
        tokio::task::spawn_blocking(move || {
            config::edit::set_budget(&handle, &owned, def.as_ref())
        })
        .await
        .map_err(|e| config::edit::EditError::Write {
            path: std::path::PathBuf::new(),
            reason: e.to_string(),
        })??;
        let event = self.reload_after_edit(actor);
        if let Some(gate) = self.inner.providers.budgets() {
            self.inner.providers.ledger().flush().await;
            if let Err(error) = gate.refresh().await {
                tracing::warn!(%error, "could not read the budgets' spending after an edit");
            }
        }
        Ok(event)
    }

    fn reload_after_edit(&self, actor: &str) -> events::ConfigEvent {
        let reloaded = config::reload::reload(&self.inner.config);
        if reloaded.is_news() {
            self.record_detached_as(Event::Config(reloaded.event().clone()), actor);
        }
        reloaded.into_event()
    }

    /// Reloads the config file now (as the watcher does on a change) and publishes the
    /// outcome if it is news (an unchanged file is answered, not published). `None` when the
    /// config does not come from a file.
    pub fn reload_config(&self) -> Option<events::ConfigEvent> {
        self.inner.config.path()?;
        let reloaded = config::reload::reload(&self.inner.config);
        if reloaded.is_news() {
            self.record_detached(Event::Config(reloaded.event().clone()));
        }
        Some(reloaded.into_event())
    }
}

/// The audit entries of a config event: the change (or its refusal), and a policies entry
/// when `[actions]`, `[[policies]]` or `[approvals]` changed.
fn config_audit(c: &events::ConfigEvent, actor: &str) -> Vec<audit::NewEntry> {
    let detail = serde_json::json!({
        "outcome": c.outcome,
        "changed": c.changed,
        "message": c.message,
        "path": c.path,
    });
    let mut out = vec![audit::NewEntry::new(
        actor,
        audit::AuditKind::ConfigChanged,
        c.path.clone().unwrap_or_else(|| "config".into()),
        detail.clone(),
    )];
    let policy_keys: Vec<&String> = c
        .changed
        .iter()
        .filter(|k| {
            ["actions", "policies", "approvals"].iter().any(|p| {
                *k == p || k.starts_with(&format!("{p}.")) || k.starts_with(&format!("{p}["))
            })
        })
        .collect();
    if c.outcome == events::ConfigOutcome::Applied && !policy_keys.is_empty() {
        out.push(audit::NewEntry::new(
            actor,
            audit::AuditKind::PoliciesChanged,
            "policies",
            serde_json::json!({"changed": policy_keys}),
        ));
    }
    out
}
