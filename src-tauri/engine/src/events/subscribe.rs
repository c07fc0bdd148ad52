//! Subscriptions: a live receiver from the bus, preceded by what the log holds after the
//! client's resume point, filtered by topic, with no gap and no duplicate between the two.
//!
//! How: subscribe to the bus first (noting its last seq `L`), then read `(resume_from, L]`
//! from the log. Everything after `L` reaches the receiver, everything up to `L` was
//! committed before the read; live events at or below `L` are skipped.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::log::{self, REPLAY_MAX};
use super::{EventBus, Published, Topic};
use crate::error::ErrorCode;
use crate::store::{Store, StoreError};

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("unknown topic {0:?}; the topics are {topics}", topics = topic_list())]
    UnknownTopic(String),
    #[error(
        "resume_from {from} is ahead of this node's last event ({last}); it comes from \
         another node or a wiped database: subscribe without resume_from and refetch"
    )]
    ResumeFromFuture { from: u64, last: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubscribeError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownTopic(_) => ErrorCode::UnknownTopic,
            Self::ResumeFromFuture { .. } => ErrorCode::ResumeFromFuture,
            Self::Store(e) => e.code(),
        }
    }
}

fn topic_list() -> String {
    Topic::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses topic names; `None` or an empty list means every topic.
pub fn parse_topics(names: Option<&[String]>) -> Result<Option<Vec<Topic>>, SubscribeError> {
    match names {
        None => Ok(None),
        Some([]) => Ok(None),
        Some(names) => names
            .iter()
            .map(|n| Topic::parse(n).ok_or_else(|| SubscribeError::UnknownTopic(n.clone())))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// What a subscriber gets next.
#[derive(Debug)]
pub enum Next {
    Event(Arc<Published>),
    /// This many events were dropped because the subscriber fell behind.
    Lagged(u64),
}

/// One subscriber's view of the event stream.
#[derive(Debug)]
pub struct Subscription {
    /// The last domain seq when the subscription started.
    pub seq: u64,
    /// A resume point was given and everything after it is (or will be) delivered.
    pub resumed: bool,
    /// A resume point was given but events after it are no longer kept (or too many): the
    /// client must refetch its state.
    pub resync: bool,
    pub topics: Option<Vec<Topic>>,
    replay: VecDeque<Arc<Published>>,
    receiver: broadcast::Receiver<Arc<Published>>,
}

impl Subscription {
    /// Subscribes to `topics` (all when `None`), replaying what came after `resume_from`.
    pub async fn open(
        bus: &EventBus,
        store: &Store,
        topics: Option<Vec<Topic>>,
        resume_from: Option<u64>,
    ) -> Result<Self, SubscribeError> {
        let (receiver, last) = bus.subscribe();
        let mut sub = Self {
            seq: last,
            resumed: false,
            resync: false,
            topics,
            replay: VecDeque::new(),
            receiver,
        };
        let Some(from) = resume_from else {
            return Ok(sub);
        };
        if from > last {
            return Err(SubscribeError::ResumeFromFuture { from, last });
        }
        if from == last {
            sub.resumed = true;
            return Ok(sub);
        }
        let (bounds, events) = store
            .read(move |db| {
                let bounds = log::bounds(db)?;
                let events = log::read_range(db, from, last, REPLAY_MAX + 1)?;
                Ok::<_, StoreError>((bounds, events))
            })
            .await?;
        let kept = bounds.is_some_and(|(oldest, _)| from.saturating_add(1) >= oldest);
        let complete = events.len() as i64 <= REPLAY_MAX;
        if kept && complete {
            sub.resumed = true;
            sub.replay = events
                .into_iter()
                .filter(|e| log::wants(sub.topics.as_deref(), e.event.topic()))
                .map(|e| Arc::new(Published::new(e)))
                .collect();
        } else {
            sub.resync = true;
        }
        Ok(sub)
    }

    /// The next event for this subscriber; `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Next> {
        if let Some(e) = self.replay.pop_front() {
            return Some(Next::Event(e));
        }
        loop {
            match self.receiver.recv().await {
                Ok(e) => {
                    let topic = e.event.topic();
                    // Committed before the subscription: replayed, or before the resume point.
                    if topic.is_durable() && e.seq <= self.seq {
                        continue;
                    }
                    if log::wants(self.topics.as_deref(), topic) {
                        return Some(Next::Event(e));
                    }
                }
                Err(RecvError::Lagged(n)) => return Some(Next::Lagged(n)),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
