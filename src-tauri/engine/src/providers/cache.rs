//! The response cache: exact match on what determines an answer (model chain, messages,
//! tools, parameters), with a TTL on the engine's clock, bounded in entries and in bytes
//! (least recently used evicted first).
//!
//! Invariants: only complete, successful answers are stored (never errors or partial
//! streams: the caller stores after a `Finish`); an entry past its TTL is never served; the
//! byte count is the sum of the entries' sizes, kept under `max_bytes`.
//! Must never: hold an entry larger than the whole budget, or serve one route's answer for
//! another chain (the key includes the resolved chain).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use super::neutral::{ChatRequest, ChatResponse};
use super::settings::CacheSettings;
use rust_decimal::Decimal;

/// The key of a request: SHA-256 of the chain and of the request's content without
/// `stream` (a streamed and a plain request share answers).
pub type Key = [u8; 32];

pub fn key(chain: &[String], request: &ChatRequest) -> Key {
    let mut r = request.clone();
    r.stream = false;
    let mut h = Sha256::new();
    for hop in chain {
        h.update(hop.as_bytes());
        h.update([0]);
    }
    h.update(serde_json::to_vec(&r).unwrap_or_default());
    h.finalize().into()
}

/// A stored answer, with what it cost when it was made (what a hit saves).
#[derive(Debug, Clone)]
pub struct Entry {
    pub response: ChatResponse,
    pub provider: String,
    pub model: String,
    pub cost: Option<Decimal>,
    stored_at: DateTime<Utc>,
    bytes: u64,
}

struct Inner {
    lru: lru::LruCache<Key, Entry>,
    bytes: u64,
    settings: CacheSettings,
}

pub struct Cache {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

fn cap(settings: &CacheSettings) -> NonZeroUsize {
    NonZeroUsize::new(
        usize::try_from(settings.max_entries)
            .unwrap_or(usize::MAX)
            .max(1),
    )
    .unwrap_or(NonZeroUsize::MIN)
}

/// Counters for /metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

impl Cache {
    pub fn new(settings: CacheSettings) -> Self {
        Self {
            inner: Mutex::new(Inner {
                lru: lru::LruCache::new(cap(&settings)),
                bytes: 0,
                settings,
            }),
        }
    }

    /// New bounds from a reload: evicts down to them.
    pub fn set_settings(&self, settings: CacheSettings) {
        if let Ok(mut i) = self.inner.lock() {
            if i.settings == settings {
                return;
            }
            i.lru.resize(cap(&settings));
            i.settings = settings;
            i.recount();
            i.evict();
        }
    }

    /// A fresh answer for `key`, if there is one.
    pub fn get(&self, key: &Key, now: DateTime<Utc>) -> Option<Entry> {
        let mut i = self.inner.lock().ok()?;
        let ttl = TimeDelta::seconds(i64::try_from(i.settings.ttl_secs).unwrap_or(i64::MAX / 1000));
        let fresh = i.lru.get(key).map(|e| e.stored_at + ttl > now)?;
        if fresh {
            return i.lru.get(key).cloned();
        }
        if let Some(e) = i.lru.pop(key) {
            i.bytes -= e.bytes;
        }
        None
    }

    /// Stores a complete answer.
    pub fn put(
        &self,
        key: Key,
        response: ChatResponse,
        provider: String,
        model: String,
        cost: Option<Decimal>,
        now: DateTime<Utc>,
    ) {
        let bytes = serde_json::to_vec(&response)
            .map(|v| v.len() as u64)
            .unwrap_or(u64::MAX)
            + 64
            + provider.len() as u64
            + model.len() as u64;
        let Ok(mut i) = self.inner.lock() else { return };
        if bytes > i.settings.max_bytes {
            return;
        }
        let entry = Entry {
            response,
            provider,
            model,
            cost,
            stored_at: now,
            bytes,
        };
        if let Some((_, old)) = i.lru.push(key, entry) {
            // Either the same key replaced or the LRU entry pushed out by the count bound.
            i.bytes -= old.bytes;
        }
        i.bytes += bytes;
        i.evict();
    }

    pub fn stats(&self) -> Stats {
        self.inner
            .lock()
            .map(|i| Stats {
                entries: i.lru.len() as u64,
                bytes: i.bytes,
            })
            .unwrap_or_default()
    }
}

impl Inner {
    fn recount(&mut self) {
        self.bytes = self.lru.iter().map(|(_, e)| e.bytes).sum();
    }

    fn evict(&mut self) {
        while self.bytes > self.settings.max_bytes {
            match self.lru.pop_lru() {
                Some((_, e)) => self.bytes -= e.bytes,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::neutral::{Message, Role};

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "default".into(),
            messages: vec![Message::text(Role::User, text)],
            ..ChatRequest::default()
        }
    }

    fn resp(text: &str) -> ChatResponse {
        ChatResponse {
            text: text.into(),
            ..ChatResponse::default()
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn keys_ignore_stream_but_not_content_or_chain() {
        let chain = vec!["a/m".to_string()];
        let mut streamed = req("hi");
        streamed.stream = true;
        assert_eq!(key(&chain, &req("hi")), key(&chain, &streamed));
        assert_ne!(key(&chain, &req("hi")), key(&chain, &req("ho")));
        assert_ne!(
            key(&chain, &req("hi")),
            key(&["b/m".to_string()], &req("hi"))
        );
        let mut warm = req("hi");
        warm.temperature = Some(0.7);
        assert_ne!(key(&chain, &req("hi")), key(&chain, &warm));
    }

    #[test]
    fn ttl_entries_and_bytes_are_bounds() {
        let settings = CacheSettings {
            ttl_secs: 10,
            max_entries: 2,
            max_bytes: 1024,
        };
        let c = Cache::new(settings);
        let k = |s: &str| key(&[], &req(s));
        c.put(k("a"), resp("A"), "p".into(), "m".into(), None, t(0));
        assert_eq!(c.get(&k("a"), t(9)).unwrap().response.text, "A");
        assert!(c.get(&k("a"), t(10)).is_none(), "expired at the TTL");
        assert_eq!(c.stats().entries, 0);
        c.put(k("a"), resp("A"), "p".into(), "m".into(), None, t(0));
        c.put(k("b"), resp("B"), "p".into(), "m".into(), None, t(0));
        c.get(&k("a"), t(1));
        c.put(k("c"), resp("C"), "p".into(), "m".into(), None, t(1));
        assert!(
            c.get(&k("b"), t(1)).is_none(),
            "least recently used went first"
        );
        assert!(c.get(&k("a"), t(1)).is_some());
        // Bytes: a big answer pushes the others out; one over the budget is not kept.
        c.put(
            k("big"),
            resp(&"x".repeat(700)),
            "p".into(),
            "m".into(),
            None,
            t(1),
        );
        assert!(c.stats().bytes <= 1024);
        assert!(c.get(&k("big"), t(1)).is_some());
        c.put(
            k("huge"),
            resp(&"x".repeat(2000)),
            "p".into(),
            "m".into(),
            None,
            t(1),
        );
        assert!(c.get(&k("huge"), t(1)).is_none());
        assert_eq!(
            c.stats().bytes,
            c.inner
                .lock()
                .unwrap()
                .lru
                .iter()
                .map(|(_, e)| e.bytes)
                .sum::<u64>()
        );
    }
}
