//! LLM providers: one call path for every model call Flightdeck makes or serves.
//!
//! The map: `neutral` the protocol-free request and answer; `wire` the OpenAI and
//! Anthropic protocols both ways (client and gateway side); `settings` the config
//! sections; `plan` model → chain; `client` one HTTP attempt; `call` the call path
//! (cache, breaker, key, rate limit, retries, fallbacks) and `stream` a streamed answer;
//! `breaker`, `retry`, `ratelimit`, `cache` the resilience parts; `prices` and `tokens`
//! what a call costs; `ledger` the durable record of every call; `metrics`.
//!
//! Invariants: [`Providers`] is the only way to call a model; every call gets one ledger
//! row; keys come only from the secret store and go only into the upstream request.
//! Must never: depend on an HTTP *server* (the gateway lives in the api crate).

pub mod breaker;
pub mod cache;
pub mod call;
pub mod client;
pub mod ledger;
pub mod metrics;
pub mod neutral;
pub mod plan;
pub mod prices;
pub mod ratelimit;
pub mod retry;
pub mod settings;
pub mod stream;
pub mod tokens;
pub mod wire;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigHandle};
use crate::error::ErrorCode;
use crate::events::Event;
use crate::secrets::SecretStore;

pub use breaker::{Admission, BreakerState};
pub use call::Completed;
pub use ledger::{CallOutcome, CallRecord, Ledger, Protocol};
pub use stream::CallStream;

/// Whether this call may use the response cache (the `x-flightdeck-cache` header, an
/// agent's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// As the route says (deterministic requests only).
    #[default]
    Default,
    /// Never.
    Off,
    /// Deterministic requests (temperature 0 or a seed), whatever the route says.
    On,
    /// Any request, deterministic or not.
    Force,
}

/// Who is calling, for the ledger.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
    pub client: String,
    pub agent: Option<String>,
    pub task_id: Option<String>,
    pub protocol: Protocol,
    pub cache: CacheMode,
    /// Tags for cost rollups and budgets (a task's; a gateway request's
    /// `x-flightdeck-tags`), deduplicated and sorted.
    pub tags: Vec<String>,
}

impl CallContext {
    pub fn new(client: impl Into<String>, protocol: Protocol) -> Self {
        Self {
            client: client.into(),
            agent: None,
            task_id: None,
            protocol,
            cache: CacheMode::Default,
            tags: Vec::new(),
        }
    }

    /// With `tags` (deduplicated and sorted).
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = String>) -> Self {
        let mut tags: Vec<String> = tags.into_iter().collect();
        tags.sort();
        tags.dedup();
        self.tags = tags;
        self
    }
}

/// A call that failed, with its stable code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub code: ErrorCode,
    pub message: String,
    /// The ledger row of the call (when one was written).
    pub call_id: Option<String>,
    /// When to try again (rate limits), if known.
    pub retry_after: Option<Duration>,
    /// Every hop failed because its provider could not be reached or serve (connection,
    /// timeout, 5xx, open breaker): worth waiting for, not the request's fault.
    pub unreachable: bool,
}

impl CallError {
    pub fn new(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            call_id: None,
            retry_after: None,
            unreachable: false,
        }
    }

    pub fn with_call(mut self, id: String) -> Self {
        self.call_id = Some(id);
        self
    }
}

/// What the `providers` feed topic carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderEvent {
    Breaker {
        provider: String,
        model: String,
        from: BreakerState,
        to: BreakerState,
    },
    /// The first call (since start) to a model without a price: its cost is unknown.
    PriceUnknown { provider: String, model: String },
}

/// A model clients may name (`GET /v1/models`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelEntry {
    /// A route name or a `provider/model` reference.
    pub id: String,
    /// `route`, or the provider's name.
    pub owned_by: String,
}

pub(crate) fn ledger_outcome_name(o: CallOutcome) -> &'static str {
    match o {
        CallOutcome::Ok => "ok",
        CallOutcome::Error => "error",
        CallOutcome::Cancelled => "cancelled",
        CallOutcome::Unrecorded => "unrecorded",
    }
}

/// Publishes an event (stored, then on the bus) without waiting.
pub type Publish = Arc<dyn Fn(Event) + Send + Sync>;

pub(crate) struct Inner {
    config: ConfigHandle,
    secrets: SecretStore,
    clock: SharedClock,
    ledger: Ledger,
    node_id: String,
    upstream: client::Upstream,
    states: call::States,
    cache: cache::Cache,
    prices: Mutex<Option<(Arc<Config>, Arc<prices::PriceBook>)>>,
    unpriced: Mutex<HashSet<String>>,
    metrics: metrics::ProviderMetrics,
    publish: Publish,
    budgets: Option<crate::costs::Gate>,
}

/// The call path. Cheap to clone.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Providers")
    }
}

/// What [`Providers::new`] needs.
pub struct ProvidersParts {
    pub config: ConfigHandle,
    pub secrets: SecretStore,
    pub clock: SharedClock,
    pub ledger: Ledger,
    pub node_id: String,
    pub metrics: metrics::ProviderMetrics,
    pub publish: Publish,
    /// The budgets every hop is held against (none: no budget is enforced).
    pub budgets: Option<crate::costs::Gate>,
}

impl Providers {
    pub fn new(parts: ProvidersParts) -> Self {
        let cache = cache::Cache::new(parts.config.current().cache);
        Self {
            inner: Arc::new(Inner {
                config: parts.config,
                secrets: parts.secrets,
                clock: parts.clock,
                ledger: parts.ledger,
                node_id: parts.node_id,
                upstream: client::Upstream::default(),
                states: Mutex::default(),
                cache,
                prices: Mutex::new(None),
                unpriced: Mutex::new(HashSet::new()),
                metrics: parts.metrics,
                publish: parts.publish,
                budgets: parts.budgets,
            }),
        }
    }

    /// The budgets' gate.
    pub fn budgets(&self) -> Option<&crate::costs::Gate> {
        self.inner.budgets.as_ref()
    }

    /// The usage ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// A reload: the cache takes its new bounds (everything else is read per call).
    pub fn config_changed(&self, config: &Config) {
        self.inner.cache.set_settings(config.cache);
    }

    /// Routes, then the models declared in `[models]`, for `GET /v1/models`.
    pub fn models(&self) -> Vec<ModelEntry> {
        let config = self.inner.config.current();
        let mut out: Vec<ModelEntry> = config
            .routes
            .keys()
            .map(|r| ModelEntry {
                id: r.clone(),
                owned_by: "route".into(),
            })
            .collect();
        for reference in config.models.keys() {
            if let Some((p, _)) = settings::split_ref(reference) {
                out.push(ModelEntry {
                    id: reference.clone(),
                    owned_by: p.to_string(),
                });
            }
        }
        out
    }
}
