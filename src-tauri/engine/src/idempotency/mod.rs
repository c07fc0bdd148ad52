//! Idempotency keys: a POST sent again with the same `Idempotency-Key` by the same actor gets
//! the first answer again instead of acting twice; the same key with a different request is
//! refused (`idempotency_key_reused`), and while the first is still running, so is a second
//! (`idempotency_key_in_use`). Owns `idempotency_keys`, kept [`RETAIN_FOR`].
//!
//! The database never holds a key or a readable answer: a row is found by the SHA-256 of actor
//! and key, and the answer is sealed (ChaCha20-Poly1305) under a key derived from the
//! Idempotency-Key, so a created token is still shown to its creator only. A claim left
//! pending by a crash is taken over after [`PENDING_FOR`]; the retry then acts again, which
//! domains that create by name answer with their own conflict.

use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ErrorCode;
use crate::clock::SharedClock;
use crate::store::values;
use crate::store::{Store, StoreError};

/// How long answers are kept for replay.
pub const RETAIN_FOR: Duration = Duration::from_secs(24 * 3600);
/// A claim older than this without an answer belongs to a request that died.
pub const PENDING_FOR: Duration = Duration::from_secs(60);
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error(
        "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a random UUID is best)"
    )]
    InvalidKey,
    #[error(
        "this Idempotency-Key was used for a different request; use a new key for a new request"
    )]
    Reused,
    #[error("a request with this Idempotency-Key is still running; retry when it has answered")]
    InUse,
    #[error("a stored answer could not be read back: {0}")]
    Corrupt(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IdempotencyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidKey => ErrorCode::BadRequest,
            Self::Reused => ErrorCode::IdempotencyKeyReused,
            Self::InUse => ErrorCode::IdempotencyKeyInUse,
            Self::Corrupt(_) => ErrorCode::Internal,
            Self::Store(e) => e.code(),
        }
    }
}

/// The answer kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// First use of the key: run the request, then [`Idempotency::complete`] or
    /// [`Idempotency::release`] the ticket.
    Fresh(Ticket),
    /// The same request was answered before: send this again.
    Replay(Answer),
}

/// A claimed key, to answer once.
#[derive(Debug)]
pub struct Ticket {
    id: String,
    secret: [u8; 32],
}

#[derive(Clone)]
pub struct Idempotency {
    store: Store,
    clock: SharedClock,
}

fn row_id(actor: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(actor.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

fn sealing_key(key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"flightdeck idempotency answer v1\0");
    h.update(key.as_bytes());
    h.finalize().into()
}

/// The fingerprint of a request: method, path with query, body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(body);
    hex::encode(h.finalize())
}

/// Whether `key` is acceptable: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

fn seal(secret: &[u8; 32], answer: &Answer) -> Result<Vec<u8>, IdempotencyError> {
    let plain = serde_json::to_vec(answer).map_err(|_| IdempotencyError::Corrupt("encode"))?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|_| IdempotencyError::Corrupt("no randomness"))?;
    let cipher = ChaCha20Poly1305::new(&Key::from(*secret));
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), plain.as_slice())
        .map_err(|_| IdempotencyError::Corrupt("seal"))?;
    Ok([nonce.as_slice(), sealed.as_slice()].concat())
}

fn open(secret: &[u8; 32], sealed: &[u8]) -> Result<Answer, IdempotencyError> {
    if sealed.len() < 12 {
        return Err(IdempotencyError::Corrupt("short"));
    }
    let (nonce, body) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| IdempotencyError::Corrupt("short"))?;
    let cipher = ChaCha20Poly1305::new(&Key::from(*secret));
    let plain = cipher
        .decrypt(&Nonce::from(nonce), body)
        .map_err(|_| IdempotencyError::Corrupt("unseal"))?;
    serde_json::from_slice(&plain).map_err(|_| IdempotencyError::Corrupt("decode"))
}

enum Found {
    Claimed,
    Done(String, Vec<u8>),
    Pending(String),
}

impl Idempotency {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// Claims `key` for `actor`'s request with `fingerprint`, or finds its earlier answer.
    pub async fn claim(
        &self,
        actor: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, IdempotencyError> {
        if !valid_key(key) {
            return Err(IdempotencyError::InvalidKey);
        }
        let id = row_id(actor, key);
        let secret = sealing_key(key);
        let now = self.clock.now();
        let stale_before =
            values::time_to_db(now - chrono::Duration::from_std(PENDING_FOR).unwrap_or_default());
        let (row, print) = (id.clone(), fingerprint.to_string());
        let found = self
            .store
            .write(move |tx| {
                let existing: Option<(String, String, Option<Vec<u8>>, i64)> = tx.query_opt(
                    "SELECT fingerprint, state, sealed, created_at FROM idempotency_keys WHERE id = ?1",
                    [&row],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
                match existing {
                    Some((f, state, Some(sealed), _)) if state == "done" => Ok(Found::Done(f, sealed)),
                    Some((f, _, _, created)) if created >= stale_before => Ok(Found::Pending(f)),
                    stale_or_none => {
                        if stale_or_none.is_some() {
                            tx.execute("DELETE FROM idempotency_keys WHERE id = ?1", [&row])?;
                        }
                        tx.execute(
                            "INSERT INTO idempotency_keys (id, fingerprint, state, created_at) \
                             VALUES (?1, ?2, 'pending', ?3)",
                            rusqlite::params![row, print, values::time_to_db(now)],
                        )?;
                        Ok::<_, StoreError>(Found::Claimed)
                    }
                }
            })
            .await?;
        match found {
            Found::Claimed => Ok(Claim::Fresh(Ticket { id, secret })),
            Found::Done(f, _) | Found::Pending(f) if f != fingerprint => {
                Err(IdempotencyError::Reused)
            }
            Found::Pending(_) => Err(IdempotencyError::InUse),
            Found::Done(_, sealed) => open(&secret, &sealed).map(Claim::Replay),
        }
    }

    /// Keeps `answer` as the one for the ticket's key.
    pub async fn complete(&self, ticket: Ticket, answer: &Answer) -> Result<(), IdempotencyError> {
        let sealed = seal(&ticket.secret, answer)?;
        let status = i64::from(answer.status);
        let id = ticket.id;
        self.store
            .write(move |tx| {
                tx.execute(
                    "UPDATE idempotency_keys SET state = 'done', status = ?2, sealed = ?3 WHERE id = ?1",
                    rusqlite::params![id, status, sealed],
                )
            })
            .await?;
        Ok(())
    }

    /// Gives the key up (the request failed inside the node): a retry runs afresh.
    pub async fn release(&self, ticket: Ticket) -> Result<(), IdempotencyError> {
        let id = ticket.id;
        self.store
            .write(move |tx| tx.execute("DELETE FROM idempotency_keys WHERE id = ?1", [&id]))
            .await?;
        Ok(())
    }
}

/// Drops answers older than [`RETAIN_FOR`].
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let before =
        values::time_to_db(now - chrono::Duration::from_std(RETAIN_FOR).unwrap_or_default());
    store
        .write(move |tx| {
            tx.execute(
                "DELETE FROM idempotency_keys WHERE created_at < ?1",
                [before],
            )
        })
        .await
}

#[cfg(test)]
mod tests;
