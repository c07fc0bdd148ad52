//! Events: the typed [`Event`] enum, the durable log behind it (`events` table, see
//! [`log`]) and the bus that fans committed events out to live subscribers.
//!
//! Invariants:
//! - A domain event (every topic but `metrics`) exists only once it is committed: it is
//!   appended to the log in the same write transaction as the state it describes
//!   ([`crate::store::WriteTx::append_event`]), which assigns its `seq`, and the writer hands
//!   it to the bus after the commit, in `seq` order. So a crash can never leave state
//!   without its event, or an event without its state.
//! - `seq` is the log's: it strictly increases across restarts, and a client's resume point
//!   means the same thing on the next run.
//! - Metrics samples are ephemeral: never stored, they carry the `seq` of the last domain
//!   event (they take no number), so they never push domain events out of a replay.
//! - Each event is serialized once, when the bus gets it; every subscriber sends those bytes.
//! - A slow subscriber never blocks the publisher: the broadcast drops its oldest events and
//!   the subscriber is told it lagged.
//! - Event times come from the engine's [`Clock`](crate::clock::Clock).

pub mod log;
pub mod subscribe;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::health::HealthStatus;

/// Per-subscriber buffer before it lags.
const CAPACITY: usize = 1024;

/// A sample of the node's vital signs, published on the `metrics` topic every interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsSample {
    pub uptime_seconds: u64,
    pub http_requests_total: u64,
    pub http_requests_in_flight: i64,
    pub feed_subscribers: i64,
    pub rss_bytes: u64,
    pub db_size_bytes: u64,
    pub events_published_total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigOutcome {
    Applied,
    Rejected,
}

/// A config file change, applied or rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigEvent {
    pub outcome: ConfigOutcome,
    pub path: Option<String>,
    pub message: String,
    /// Keys that changed.
    pub changed: Vec<String>,
    /// Changed keys that take effect only after a restart.
    pub restart_required: Vec<String>,
}

/// Everything that happens on a node and is worth telling a live client. The variant's
/// snake_case name is the feed topic (`metrics`, `config`, `health`, `calls`, `providers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "topic", content = "payload", rename_all = "snake_case")]
pub enum Event {
    Metrics(MetricsSample),
    Config(ConfigEvent),
    /// A dependency's health changed; published after the transition was stored. The
    /// message is the one `/health` shows (no paths).
    Health {
        dependency: String,
        from: HealthStatus,
        to: HealthStatus,
        message: Option<String>,
    },
    /// An LLM call was written to the usage ledger (in the same transaction).
    Calls(Box<crate::providers::ledger::CallRecord>),
    /// A provider/model's circuit breaker moved, or a model without a price was called.
    Providers(crate::providers::ProviderEvent),
    /// A task changed state (in the same transaction as the change).
    Tasks(crate::orchestrator::TaskEvent),
    /// A multi-agent run or one of its steps changed (in the same transaction).
    Runs(crate::orchestrator::runs::RunEvent),
    /// An approval request was created, voted on, decided, warned or escalated; a
    /// notification to show (in the same transaction).
    Approvals(crate::approvals::ApprovalEvent),
    /// A budget crossed an alert threshold or refused a call, the first time in its period
    /// (in the same transaction as the alert's row).
    Costs(crate::costs::CostEvent),
    /// KPI series imported, pushed or removed; anomalies flagged; goals at risk (in the same
    /// transaction as the change).
    Forecasts(crate::forecast::ForecastEvent),
    /// A report was made, or its delivery ended (sent or failed).
    Reports(crate::reports::ReportEvent),
}

/// A feed topic: the snake_case name of an [`Event`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Metrics,
    Config,
    Health,
    Calls,
    Providers,
    Tasks,
    Runs,
    Approvals,
    Costs,
    Forecasts,
    Reports,
}

impl Topic {
    pub const ALL: &'static [Topic] = &[
        Topic::Metrics,
        Topic::Config,
        Topic::Health,
        Topic::Calls,
        Topic::Providers,
        Topic::Tasks,
        Topic::Runs,
        Topic::Approvals,
        Topic::Costs,
        Topic::Forecasts,
        Topic::Reports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Config => "config",
            Self::Health => "health",
            Self::Calls => "calls",
            Self::Providers => "providers",
            Self::Tasks => "tasks",
            Self::Runs => "runs",
            Self::Approvals => "approvals",
            Self::Costs => "costs",
            Self::Forecasts => "forecasts",
            Self::Reports => "reports",
        }
    }

    /// The topic named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// Whether its events are kept in the log (all but metrics samples).
    pub fn is_durable(self) -> bool {
        !matches!(self, Self::Metrics)
    }
}

impl Event {
    pub fn topic(&self) -> Topic {
        match self {
            Self::Metrics(_) => Topic::Metrics,
            Self::Config(_) => Topic::Config,
            Self::Health { .. } => Topic::Health,
            Self::Calls(_) => Topic::Calls,
            Self::Providers(_) => Topic::Providers,
            Self::Tasks(_) => Topic::Tasks,
            Self::Runs(_) => Topic::Runs,
            Self::Approvals(_) => Topic::Approvals,
            Self::Costs(_) => Topic::Costs,
            Self::Forecasts(_) => Topic::Forecasts,
            Self::Reports(_) => Topic::Reports,
        }
    }
}

/// An event with its place in the node's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedEvent {
    pub seq: u64,
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// An event as the bus carries it: the event and its feed frame, serialized once for every
/// subscriber. Derefs to the [`FeedEvent`].
#[derive(Debug)]
pub struct Published {
    pub feed: FeedEvent,
    /// The feed's text frame for it: `{"type":"event","seq":…,"time":…,"topic":…,"payload":…}`
    /// (the api crate's `ServerMessage::Event`).
    pub json: Arc<str>,
}

/// The feed frame of an event.
#[derive(Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    event: &'a FeedEvent,
}

impl Published {
    pub fn new(event: FeedEvent) -> Self {
        // FeedEvent holds only strings, numbers and maps with string keys: it always
        // serializes. The fallback keeps the feed going should that ever change.
        let frame = Frame {
            kind: "event",
            event: &event,
        };
        let json = serde_json::to_string(&frame).unwrap_or_else(|e| {
            tracing::error!(error = %e, seq = event.seq, "cannot serialize an event");
            String::from("{}")
        });
        Self {
            feed: event,
            json: json.into(),
        }
    }
}

impl std::ops::Deref for Published {
    type Target = FeedEvent;
    fn deref(&self) -> &FeedEvent {
        &self.feed
    }
}

/// Where the writer hands committed events.
pub trait EventSink: Send + Sync {
    /// `event` was committed; called in `seq` order.
    fn published(&self, event: FeedEvent);
}

/// A sink that drops everything (tools that open the store without a bus).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSink;

impl EventSink for NoSink {
    fn published(&self, _event: FeedEvent) {}
}

#[derive(Debug)]
struct State {
    /// The last domain event's seq.
    seq: u64,
    published: u64,
}

/// The bus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Published>>,
    state: Arc<Mutex<State>>,
    /// Stamps ephemeral events' `time`.
    clock: SharedClock,
}

impl EventBus {
    /// A bus whose last domain event is `last_seq` (the log's newest, 0 for an empty log).
    pub fn new(clock: SharedClock, last_seq: u64) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            clock,
            tx,
            state: Arc::new(Mutex::new(State {
                seq: last_seq,
                published: 0,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Moves the bus to the log's newest seq (once, at open, before anything is published).
    pub fn start_after(&self, last_seq: u64) {
        let mut state = self.lock();
        state.seq = state.seq.max(last_seq);
    }

    /// Publishes an ephemeral event (a metrics sample): not stored, numbered with the last
    /// domain event's seq. Domain events go through the store instead.
    pub fn publish_ephemeral(&self, event: Event) -> u64 {
        let mut state = self.lock();
        state.published += 1;
        let item = Arc::new(Published::new(FeedEvent {
            seq: state.seq,
            time: self.clock.now(),
            event,
        }));
        // No receivers is not an error: nobody is listening right now.
        let _ = self.tx.send(item);
        state.seq
    }

    /// A live receiver and the last domain seq at the moment it started receiving: every
    /// event with a higher seq reaches the receiver (unless it lags).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Published>>, u64) {
        let state = self.lock();
        (self.tx.subscribe(), state.seq)
    }

    /// The last domain event's seq.
    pub fn last_seq(&self) -> u64 {
        self.lock().seq
    }

    /// How many events were published since start.
    pub fn published_total(&self) -> u64 {
        self.lock().published
    }

    /// Current live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl EventSink for EventBus {
    fn published(&self, event: FeedEvent) {
        let item = Arc::new(Published::new(event));
        let mut state = self.lock();
        state.seq = state.seq.max(item.feed.seq);
        state.published += 1;
        let _ = self.tx.send(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn sample(n: u64) -> Event {
        Event::Metrics(MetricsSample {
            uptime_seconds: n,
            http_requests_total: 0,
            http_requests_in_flight: 0,
            feed_subscribers: 0,
            rss_bytes: 0,
            db_size_bytes: 0,
            events_published_total: 0,
        })
    }

    fn health(seq: u64) -> FeedEvent {
        FeedEvent {
            seq,
            time: DateTime::from_timestamp_millis(1_796_119_872_345).unwrap(),
            event: Event::Health {
                dependency: "secrets".into(),
                from: HealthStatus::Healthy,
                to: HealthStatus::Unhealthy,
                message: Some("the keyring is locked".into()),
            },
        }
    }

    #[test]
    fn topics_have_stable_names() {
        for topic in Topic::ALL {
            let json = serde_json::to_string(topic).unwrap();
            assert_eq!(json, format!("\"{}\"", topic.as_str()));
            assert_eq!(Topic::parse(topic.as_str()), Some(*topic));
        }
        assert_eq!(Topic::parse("budgets"), None);
        assert!(!Topic::Metrics.is_durable());
        assert_eq!(sample(1).topic(), Topic::Metrics);
    }

    #[tokio::test]
    async fn committed_events_are_serialized_once_and_flat() {
        let bus = EventBus::new(SystemClock::shared(), 10);
        let (mut rx, seq) = bus.subscribe();
        assert_eq!(seq, 10);
        bus.published(health(11));
        let got = rx.recv().await.unwrap();
        let json: serde_json::Value = serde_json::from_str(&got.json).unwrap();
        assert_eq!(json["seq"], 11);
        assert_eq!(json["topic"], "health");
        assert_eq!(json["payload"]["dependency"], "secrets");
        assert_eq!(json["payload"]["to"], "unhealthy");
        assert_eq!(bus.last_seq(), 11);
    }

    #[tokio::test]
    async fn ephemeral_events_take_no_number() {
        let bus = EventBus::new(SystemClock::shared(), 5);
        let (mut rx, _) = bus.subscribe();
        assert_eq!(bus.publish_ephemeral(sample(1)), 5);
        bus.published(health(6));
        assert_eq!(bus.publish_ephemeral(sample(2)), 6);
        let seqs: Vec<u64> = [
            rx.recv().await.unwrap(),
            rx.recv().await.unwrap(),
            rx.recv().await.unwrap(),
        ]
        .iter()
        .map(|p| p.seq)
        .collect();
        assert_eq!(seqs, [5, 6, 6]);
        assert_eq!(bus.published_total(), 3);
    }
}
