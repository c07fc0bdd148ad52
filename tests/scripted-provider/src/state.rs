//! The server's shared state: the script queues, the call counters and the last requests,
//! behind one mutex held only for a push, a pop or a copy (never across an await).
//!
//! Invariants: every provider request is recorded exactly once, before it is answered, so a
//! failed, faulted or cancelled call counts like any other; a call whose answer is dropped
//! before it was fully produced (the client went away) counts once more as `disconnected`
//! ([`CallGuard`]). A request pops at most one step: from its model's queue if that has one,
//! else from the shared queue.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::step::Step;

/// How many requests `recent` keeps.
pub const RECENT_CALLS: usize = 50;

/// The counters and the last requests, as `GET /_calls` returns them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Provider requests (everything but the control API), failed and faulted ones included.
    pub total: u64,
    /// Requests per URL path (`/v1/chat/completions`, `/chat/completions`, `/v1/messages`, …).
    pub by_path: BTreeMap<String, u64>,
    /// Requests per request `model`.
    pub by_model: BTreeMap<String, u64>,
    /// Calls whose answer was dropped before it was complete (the client went away).
    pub disconnected: u64,
    /// Steps left in the shared queue.
    pub queued: usize,
    /// Steps left per model queue.
    pub queued_by_model: BTreeMap<String, usize>,
    /// The last [`RECENT_CALLS`] requests, oldest first.
    pub recent: Vec<RecordedCall>,
}

/// One recorded provider request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// 1 for the first request since start or reset.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The request's `model`, if it had one.
    pub model: Option<String>,
    /// Whether the request asked for a stream.
    pub stream: bool,
    /// What answered it: a step kind (`reply`, `status`, …), `default` (nothing scripted),
    /// `unauthorized`, `invalid_request`, `models` or `unknown_path`.
    pub answer: String,
    /// Every header, names lowercase, values as sent (repeated headers joined by `, `).
    pub headers: BTreeMap<String, String>,
    /// The request body as JSON, or as a string if it was not JSON (`null` if empty).
    pub body: Value,
}

impl RecordedCall {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

impl CallCounts {
    /// Requests to this path.
    pub fn path(&self, path: &str) -> u64 {
        self.by_path.get(path).copied().unwrap_or(0)
    }

    /// Requests for this model.
    pub fn model(&self, model: &str) -> u64 {
        self.by_model.get(model).copied().unwrap_or(0)
    }

    /// The most recent request.
    pub fn last(&self) -> Option<&RecordedCall> {
        self.recent.last()
    }
}

/// A request as it arrived, kept until `/_calls` asks.
pub(crate) struct Recorded {
    pub method: String,
    pub path: String,
    pub model: Option<String>,
    pub stream: bool,
    pub answer: &'static str,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Step>,
    by_model_queue: HashMap<String, VecDeque<Step>>,
    seq: u64,
    total: u64,
    by_path: HashMap<String, u64>,
    by_model: HashMap<String, u64>,
    disconnected: u64,
    recent: VecDeque<(u64, Recorded)>,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    pub require_key: Option<String>,
    pub openai_models: Bytes,
    pub anthropic_models: Bytes,
}

impl Shared {
    pub fn new(require_key: Option<String>, models: &[String]) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            require_key,
            openai_models: Bytes::from(crate::openai::models(models)),
            anthropic_models: Bytes::from(crate::anthropic::models(models)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters half-updated in a way
        // that matters to a test double; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends steps to the shared queue, or to `model`'s queue.
    pub fn script(&self, model: Option<String>, steps: impl IntoIterator<Item = Step>) {
        let mut inner = self.lock();
        match model {
            Some(model) => inner.by_model_queue.entry(model).or_default().extend(steps),
            None => inner.queue.extend(steps),
        }
    }

    /// Clears the queues, the counters and the recorded requests.
    pub fn reset(&self) {
        *self.lock() = Inner::default();
    }

    /// Records a request and, if `pop`, takes the step that answers it (`None`: nothing is
    /// scripted for it). `answer` of the record is set from the step when one is taken.
    pub fn record(&self, mut call: Recorded, pop: bool) -> Option<Step> {
        let mut inner = self.lock();
        let step = if pop {
            let from_model = call.model.as_ref().and_then(|model| {
                let queue = inner.by_model_queue.get_mut(model)?;
                let step = queue.pop_front();
                if queue.is_empty() {
                    inner.by_model_queue.remove(model);
                }
                step
            });
            let step = from_model.or_else(|| inner.queue.pop_front());
            call.answer = step.as_ref().map_or("default", Step::kind);
            step
        } else {
            None
        };
        inner.seq += 1;
        inner.total += 1;
        if let Some(n) = inner.by_path.get_mut(&call.path) {
            *n += 1;
        } else {
            inner.by_path.insert(call.path.clone(), 1);
        }
        if let Some(model) = &call.model {
            if let Some(n) = inner.by_model.get_mut(model) {
                *n += 1;
            } else {
                inner.by_model.insert(model.clone(), 1);
            }
        }
        if inner.recent.len() == RECENT_CALLS {
            inner.recent.pop_front();
        }
        let seq = inner.seq;
        inner.recent.push_back((seq, call));
        step
    }

    fn disconnected(&self) {
        self.lock().disconnected += 1;
    }

    /// A copy of the counters and the recorded requests.
    pub fn counts(&self) -> CallCounts {
        let inner = self.lock();
        CallCounts {
            total: inner.total,
            by_path: inner.by_path.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            by_model: inner
                .by_model
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            disconnected: inner.disconnected,
            queued: inner.queue.len(),
            queued_by_model: inner
                .by_model_queue
                .iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect(),
            recent: inner
                .recent
                .iter()
                .map(|(seq, r)| RecordedCall {
                    seq: *seq,
                    method: r.method.clone(),
                    path: r.path.clone(),
                    model: r.model.clone(),
                    stream: r.stream,
                    answer: r.answer.to_owned(),
                    headers: headers(&r.headers),
                    body: body(&r.body),
                })
                .collect(),
        }
    }
}

fn headers(map: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in map {
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

fn body(bytes: &Bytes) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Counts its call as `disconnected` if dropped before [`CallGuard::done`]: the answer was
/// abandoned half-way (the handler or the body stream was dropped because the client left).
pub(crate) struct CallGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl CallGuard {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            done: false,
        }
    }

    /// The answer was produced completely (or ended on purpose).
    pub fn done(&mut self) {
        self.done = true;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.done {
            self.shared.disconnected();
        }
    }
}
