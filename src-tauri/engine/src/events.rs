//! The event bus: one typed [`Event`] enum on a bounded broadcast, with a per-node sequence
//! number and a short replay buffer so a reconnecting client can resume where it stopped.
//!
//! Invariants:
//! - Publishers write state to the store first, then publish (the bus is not a log).
//! - Sequence numbers strictly increase across the node's restarts: they start at the time
//!   the engine opens (its clock's, in microseconds since the epoch), so a number remembered
//!   from a previous run is never mistaken for one of this run (and stays below 2^53 for
//!   JavaScript).
//! - Start and event times come from the engine's [`Clock`](crate::clock::Clock), never from
//!   the system clock directly.
//! - Subscribing and replaying happen under the same lock as publishing, so a subscriber sees
//!   every event after its resume point exactly once, in order, unless it lags.
//! - A slow subscriber never blocks the publisher: the broadcast drops its oldest events and
//!   the subscriber sees a gap in `seq`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::health::HealthStatus;

/// Events kept for resuming clients.
const REPLAY: usize = 512;
/// Per-subscriber buffer before it lags.
const CAPACITY: usize = 256;

/// A sample of the node's vital signs, published on the `metrics` topic every interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct MetricsSample {
    #[ts(type = "number")]
    pub uptime_seconds: u64,
    #[ts(type = "number")]
    pub http_requests_total: u64,
    #[ts(type = "number")]
    pub http_requests_in_flight: i64,
    #[ts(type = "number")]
    pub feed_subscribers: i64,
    #[ts(type = "number")]
    pub rss_bytes: u64,
    #[ts(type = "number")]
    pub db_size_bytes: u64,
    #[ts(type = "number")]
    pub events_published_total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigOutcome {
    Applied,
    Rejected,
}

/// A config file change, applied or rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
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
/// snake_case name is the feed topic (`metrics`, `config`, `health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
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
}

/// An event with its place in the node's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
pub struct FeedEvent {
    #[ts(type = "number")]
    pub seq: u64,
    #[ts(type = "string")]
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

/// A new subscription: events to replay first, then the live receiver.
#[derive(Debug)]
pub struct Subscription {
    pub replay: Vec<Arc<FeedEvent>>,
    /// True when the requested resume point was still in the replay buffer.
    pub resumed: bool,
    /// The last sequence number published when subscribing.
    pub seq: u64,
    pub receiver: broadcast::Receiver<Arc<FeedEvent>>,
}

#[derive(Debug)]
struct State {
    seq: u64,
    recent: VecDeque<Arc<FeedEvent>>,
    published: u64,
}

/// The bus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<FeedEvent>>,
    state: Arc<Mutex<State>>,
    /// Stamps each event's `time`.
    clock: SharedClock,
}

impl EventBus {
    /// A bus whose sequence starts at `clock`'s time in microseconds since the epoch.
    pub fn new(clock: SharedClock) -> Self {
        let start = u64::try_from(clock.now().timestamp_micros()).unwrap_or(0);
        Self::starting_at(start, clock)
    }

    /// A bus whose first event gets `start + 1` (tests use small numbers).
    pub fn starting_at(start: u64, clock: SharedClock) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            clock,
            tx,
            state: Arc::new(Mutex::new(State {
                seq: start,
                recent: VecDeque::with_capacity(REPLAY),
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

    /// Publishes `event`; returns its sequence number.
    pub fn publish(&self, event: Event) -> u64 {
        let mut state = self.lock();
        state.seq += 1;
        state.published += 1;
        let item = Arc::new(FeedEvent {
            seq: state.seq,
            time: self.clock.now(),
            event,
        });
        if state.recent.len() == REPLAY {
            state.recent.pop_front();
        }
        state.recent.push_back(item.clone());
        // No receivers is not an error: nobody is listening right now.
        let _ = self.tx.send(item);
        state.seq
    }

    /// Subscribes; with `resume_from`, replays what came after it if still buffered.
    pub fn subscribe(&self, resume_from: Option<u64>) -> Subscription {
        let state = self.lock();
        let receiver = self.tx.subscribe();
        let (replay, resumed) = match resume_from {
            Some(from) if from == state.seq => (Vec::new(), true),
            Some(from) => {
                let oldest = state.recent.front().map(|e| e.seq);
                match oldest {
                    Some(oldest) if from.saturating_add(1) >= oldest && from < state.seq => (
                        state
                            .recent
                            .iter()
                            .filter(|e| e.seq > from)
                            .cloned()
                            .collect(),
                        true,
                    ),
                    _ => (Vec::new(), false),
                }
            }
            None => (Vec::new(), false),
        };
        Subscription {
            replay,
            resumed,
            seq: state.seq,
            receiver,
        }
    }

    /// The last sequence number published.
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::{ManualClock, SystemClock};

    fn bus_at(start: u64) -> EventBus {
        EventBus::starting_at(start, SystemClock::shared())
    }

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

    #[test]
    fn seq_increases_and_serializes_flat() {
        let bus = bus_at(10);
        assert_eq!(bus.publish(sample(1)), 11);
        assert_eq!(bus.publish(sample(2)), 12);
        let sub = bus.subscribe(Some(10));
        assert!(sub.resumed);
        let json = serde_json::to_value(&*sub.replay[0]).unwrap();
        assert_eq!(json["seq"], 11);
        assert_eq!(json["topic"], "metrics");
        assert_eq!(json["payload"]["uptime_seconds"], 1);
    }

    #[test]
    fn health_events_are_on_the_health_topic() {
        let bus = bus_at(0);
        bus.publish(Event::Health {
            dependency: "secrets".into(),
            from: HealthStatus::Healthy,
            to: HealthStatus::Unhealthy,
            message: Some("the OS keychain is not reachable: the keyring is locked".into()),
        });
        let sub = bus.subscribe(Some(0));
        let json = serde_json::to_value(&*sub.replay[0]).unwrap();
        assert_eq!(json["topic"], "health");
        assert_eq!(json["payload"]["dependency"], "secrets");
        assert_eq!(json["payload"]["from"], "healthy");
        assert_eq!(json["payload"]["to"], "unhealthy");
    }

    #[test]
    fn resume_table() {
        let bus = bus_at(0);
        for i in 0..(REPLAY as u64 + 10) {
            bus.publish(sample(i));
        }
        let last = bus.last_seq();
        // (resume_from, resumed, replayed)
        let cases = [
            (None, false, 0),
            (Some(last), true, 0),
            (Some(last - 3), true, 3),
            (Some(last - REPLAY as u64), true, REPLAY),
            (Some(5), false, 0),
            (Some(last + 100), false, 0),
        ];
        for (from, resumed, replayed) in cases {
            let sub = bus.subscribe(from);
            assert_eq!(sub.resumed, resumed, "from {from:?}");
            assert_eq!(sub.replay.len(), replayed, "from {from:?}");
            if let Some(first) = sub.replay.first() {
                assert_eq!(first.seq, from.unwrap() + 1);
            }
        }
    }

    #[tokio::test]
    async fn live_after_replay_without_gap() {
        let bus = bus_at(0);
        bus.publish(sample(1));
        let mut sub = bus.subscribe(Some(0));
        bus.publish(sample(2));
        assert_eq!(sub.replay.len(), 1);
        assert_eq!(sub.receiver.recv().await.unwrap().seq, 2);
    }

    #[test]
    fn new_bus_starts_above_any_previous_run() {
        let clock = Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
                .unwrap()
                .to_utc(),
        ));
        let a = EventBus::new(clock.clone());
        assert_eq!(a.last_seq(), 1_893_553_445_000_000);
        clock.advance(Duration::from_millis(2));
        let b = EventBus::new(clock.clone());
        assert_eq!(b.last_seq(), a.last_seq() + 2_000);
        assert!(b.last_seq() < (1u64 << 53));
    }

    #[test]
    fn events_are_stamped_by_the_bus_clock() {
        let start = DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let clock = Arc::new(ManualClock::new(start));
        let bus = EventBus::starting_at(0, clock.clone());
        bus.publish(sample(1));
        let later = clock.advance(Duration::from_secs(60));
        bus.publish(sample(2));
        let sub = bus.subscribe(Some(0));
        let times: Vec<_> = sub.replay.iter().map(|e| e.time).collect();
        assert_eq!(times, [start, later]);
    }
}
