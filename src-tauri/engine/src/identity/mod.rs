//! Identity: who did it. Every request carries an [`Actor`]: the desktop user in-process,
//! the node's bootstrap token, or a named API token with a [`Scope`]. Named tokens live in
//! `api_tokens` (this module owns the table).
//!
//! Invariants:
//! - Only a SHA-256 of a token is stored; the token is returned once, by [`Identity::create`].
//!   Tokens are 256 random bits, so a fast hash is enough (nothing to brute-force).
//! - Authentication reads an in-memory copy of the table (kept in step by create and
//!   revoke, which change the table first), so a request costs no database read; a token's
//!   last use is written back at most once a minute.
//! - An expired token authenticates no one (checked against the engine's clock).
//!
//! Must never: log, return or store a token after its creation.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::error::ErrorCode;
use crate::store::values::{self, StoredEnum};
use crate::store::{Store, StoreError};

/// Prefix of every named token (recognisable in a leaked paste, and by secret scanners).
pub const TOKEN_PREFIX: &str = "fdt_";
/// How often a token's last use is written back.
const LAST_USE_EVERY: Duration = Duration::from_secs(60);

/// What a token may do. Ordered: each scope includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read everything (GET).
    Read,
    /// Act on tasks and approvals.
    Operate,
    /// Tokens, config and secrets.
    Admin,
}

impl StoredEnum for Scope {
    const ALL: &'static [Self] = &[Self::Read, Self::Operate, Self::Admin];
    fn as_db(self) -> &'static str {
        self.as_str()
    }
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Operate => "operate",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The person at the desktop app (their OS user name).
    Desktop { user: String },
    /// The node's bootstrap token (from the keychain or FLIGHTDECK_API_TOKEN).
    Bootstrap,
    /// A named API token.
    Token { name: String },
}

impl Actor {
    /// How audit entries and logs name it: `desktop:alice`, `bootstrap`, `token:ci`.
    pub fn label(&self) -> String {
        match self {
            Self::Desktop { user } => format!("desktop:{user}"),
            Self::Bootstrap => "bootstrap".into(),
            Self::Token { name } => format!("token:{name}"),
        }
    }
}

/// A named token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token just created: the only time its value is shown. `Debug` hides it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The bearer token. Shown once; only its hash is stored.
    pub token: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("info", &self.info)
            .field("token", &"***")
            .finish()
    }
}

/// Failures of identity operations.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "invalid token name {0:?}: use 1 to 64 characters of a-z, 0-9, '.', '_' and '-', \
         starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("a token named {0:?} exists already; revoke it first or pick another name")]
    Exists(String),
    #[error("there is no token named {0:?}")]
    NotFound(String),
    #[error("expires_at {0} is not in the future")]
    ExpiryInPast(DateTime<Utc>),
    #[error("cannot generate a token: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IdentityError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidName(_) | Self::ExpiryInPast(_) => ErrorCode::BadRequest,
            Self::Exists(_) => ErrorCode::Conflict,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Random(_) => ErrorCode::Internal,
            Self::Store(e) => e.code(),
        }
    }
}

/// Why a presented token authenticates no one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Unknown,
    Expired,
}

#[derive(Debug, Clone)]
struct Entry {
    info: TokenInfo,
    /// When the last use was last written back.
    written: Option<DateTime<Utc>>,
}

/// The named tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Identity {
    store: Store,
    clock: SharedClock,
    /// By token hash.
    tokens: Arc<RwLock<HashMap<String, Entry>>>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `name` may name a token.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
}

fn row_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, TokenInfo)> {
    let opt_time = |v: Option<i64>| v.map(values::time_from_db).transpose();
    Ok((
        r.get(2)?,
        TokenInfo {
            name: r.get(0)?,
            scope: Scope::from_db(&r.get::<_, String>(1)?)?,
            created_at: values::time_from_db(r.get(3)?)?,
            last_used_at: opt_time(r.get(4)?)?,
            expires_at: opt_time(r.get(5)?)?,
        },
    ))
}

impl Identity {
    /// Loads the table.
    pub async fn open(store: Store, clock: SharedClock) -> Result<Self, IdentityError> {
        let rows = store
            .read(|db| {
                db.query_all(
                    "SELECT name, scope, token_hash, created_at, last_used_at, expires_at \
                     FROM api_tokens",
                    [],
                    row_info,
                )
            })
            .await?;
        let tokens = rows
            .into_iter()
            .map(|(h, info)| {
                let written = info.last_used_at;
                (h, Entry { info, written })
            })
            .collect();
        Ok(Self {
            store,
            clock,
            tokens: Arc::new(RwLock::new(tokens)),
        })
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        match self.tokens.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        match self.tokens.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Creates a token named `name` for `actor` (recorded in the audit log); the answer
    /// holds its value, shown this once.
    pub async fn create(
        &self,
        name: &str,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<CreatedToken, IdentityError> {
        if !valid_name(name) {
            return Err(IdentityError::InvalidName(name.to_string()));
        }
        let now = self.clock.now();
        if let Some(at) = expires_at
            && at <= now
        {
            return Err(IdentityError::ExpiryInPast(at));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| IdentityError::Random(e.to_string()))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let token_hash = hash(&token);
        // Millisecond precision, as stored.
        let created_at = values::at_stored_precision(now);
        let expires_at = expires_at.map(values::at_stored_precision);
        let info = TokenInfo {
            name: name.to_string(),
            scope,
            created_at,
            last_used_at: None,
            expires_at,
        };
        let (row, h, actor) = (info.clone(), token_hash.clone(), actor.to_string());
        self.store
            .write(move |tx| {
                let exists: Option<i64> = tx.query_opt(
                    "SELECT 1 FROM api_tokens WHERE name = ?1",
                    [&row.name],
                    |r| r.get(0),
                )?;
                if exists.is_some() {
                    return Err(IdentityError::Exists(row.name.clone()));
                }
                tx.execute(
                    "INSERT INTO api_tokens (name, scope, token_hash, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        row.name,
                        row.scope.as_db(),
                        h,
                        values::time_to_db(row.created_at),
                        row.expires_at.map(values::time_to_db)
                    ],
                )?;
                crate::audit::append(
                    tx,
                    &crate::audit::NewEntry::new(
                        actor.clone(),
                        crate::audit::AuditKind::TokenCreated,
                        row.name.clone(),
                        serde_json::json!({"scope": row.scope.as_str(), "expires_at": row.expires_at}),
                    ),
                )?;
                Ok(())
            })
            .await?;
        self.write_map().insert(
            token_hash,
            Entry {
                info: info.clone(),
                written: None,
            },
        );
        Ok(CreatedToken { info, token })
    }

    /// Every named token, by name (never their values).
    pub fn list(&self) -> Vec<TokenInfo> {
        let mut all: Vec<TokenInfo> = self.read_map().values().map(|e| e.info.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Revokes the token named `name` for `actor` (recorded in the audit log): it
    /// authenticates no one from now on.
    pub async fn revoke(&self, name: &str, actor: &str) -> Result<(), IdentityError> {
        let (owned, actor) = (name.to_string(), actor.to_string());
        let removed = self
            .store
            .write(move |tx| {
                let n = tx.execute("DELETE FROM api_tokens WHERE name = ?1", [&owned])?;
                if n > 0 {
                    crate::audit::append(
                        tx,
                        &crate::audit::NewEntry::new(
                            actor.clone(),
                            crate::audit::AuditKind::TokenRevoked,
                            owned.clone(),
                            serde_json::json!({}),
                        ),
                    )?;
                }
                Ok::<_, IdentityError>(n)
            })
            .await?;
        self.write_map().retain(|_, e| e.info.name != name);
        if removed == 0 {
            return Err(IdentityError::NotFound(name.to_string()));
        }
        Ok(())
    }

    /// The named token `presented` is, if it is one and has not expired.
    pub fn authenticate(&self, presented: &str) -> Result<(String, Scope), Rejected> {
        if !presented.starts_with(TOKEN_PREFIX) {
            return Err(Rejected::Unknown);
        }
        let h = hash(presented);
        let now = self.clock.now();
        let (name, scope, write_back) = {
            let map = self.read_map();
            let entry = map.get(&h).ok_or(Rejected::Unknown)?;
            if entry.info.expires_at.is_some_and(|at| at <= now) {
                return Err(Rejected::Expired);
            }
            let due = entry
                .written
                .is_none_or(|w| (now - w).to_std().unwrap_or(Duration::ZERO) >= LAST_USE_EVERY);
            (entry.info.name.clone(), entry.info.scope, due)
        };
        if write_back {
            self.record_use(&h, &name, now);
        }
        Ok((name, scope))
    }

    /// Notes a use in memory and writes it back without waiting (a lost write costs only
    /// the precision of `last_used_at`).
    fn record_use(&self, h: &str, name: &str, now: DateTime<Utc>) {
        if let Some(entry) = self.write_map().get_mut(h) {
            entry.info.last_used_at = Some(now);
            entry.written = Some(now);
        }
        let name = name.to_string();
        let at = values::time_to_db(now);
        // Submitted now; the commit happens without anyone waiting for it.
        drop(self.store.write(move |tx| {
            tx.execute(
                "UPDATE api_tokens SET last_used_at = ?1 WHERE name = ?2",
                rusqlite::params![at, name],
            )
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["ci", "prod-1", "a.b_c", "0day"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-x", "Upper", "with space", "ü", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_are_ordered_and_named() {
        assert!(Scope::Read < Scope::Operate && Scope::Operate < Scope::Admin);
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            Actor::Token { name: "ci".into() }.label(),
            "token:ci".to_string()
        );
    }
}
