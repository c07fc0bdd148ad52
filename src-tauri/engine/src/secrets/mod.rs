//! Secrets: the node's API token (and later provider keys), kept in the OS keychain through
//! keyring-core's Secret Service store, or, by explicit choice on headless servers, in a 0600
//! file in the data dir ([`file`]) or only in the environment.
//!
//! Invariants:
//! - Secret values never reach SQLite, logs, the event bus or the webview. [`ApiToken`]'s
//!   `Debug` and `Display` print `***`; comparing tokens takes constant time.
//! - No silent fallback: when the chosen store is unreachable, the error names the cause and
//!   the explicit alternatives (`--secrets file`, `--secrets env`).
//! - One node, one token: the keychain account is derived from the *canonical* data dir, so
//!   every spelling of the directory finds the same item. Finding no token, then generating
//!   and storing one, happens under an exclusive OS lock on `<data-dir>/secrets.lock` (taken
//!   by every process, `flightdeck token` included, which holds no data-dir lock), and the
//!   store is read again under it: processes that find no token at once (`serve` and `token`
//!   on a fresh node) all hand out the one that was stored. The lock file holds nothing and
//!   is never removed (a waiter would otherwise lock an unlinked inode).
//! - Keychain calls block (D-Bus); async callers go through `spawn_blocking`.
//! - [`SecretsError::public_message`] is the only text fit for the unauthenticated `/health`:
//!   no paths, no socket addresses.

mod file;
mod keychain;
mod lock;
pub mod named;

pub use named::{Precondition, SecretInfo, SecretStore, SecretStoreError};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::config::SecretsBackend;
use crate::error::ErrorCode;
use lock::GenerationLock;

/// Keychain service name for every Flightdeck secret.
pub const SERVICE: &str = "flightdeck";
/// File used by the `file` backend, inside the data dir.
pub const FILE_NAME: &str = "secrets.json";
/// The lock that serializes generating the token, inside the data dir.
pub const LOCK_FILE: &str = "secrets.lock";
/// Environment variable that overrides the stored API token.
pub const TOKEN_ENV: &str = "FLIGHTDECK_API_TOKEN";

const ALTERNATIVES: &str = "on a headless server choose explicitly: `--secrets file` (a 0600 \
    file in the data dir) or `--secrets env` with FLIGHTDECK_API_TOKEN set";

/// Failures of the secret stores.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the OS keychain is not reachable: {hint} ({detail}); start or unlock your keyring, or \
         {ALTERNATIVES}"
    )]
    KeychainUnavailable { hint: String, detail: String },
    #[error("secrets file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("secrets file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    InsecureFile { path: PathBuf, mode: u32 },
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("secrets lock {path}: {reason}")]
    Lock { path: PathBuf, reason: String },
    #[error("`--secrets env` needs {TOKEN_ENV} to be set")]
    EnvMissing,
    #[error("not a usable API token: {reason}")]
    InvalidToken { reason: String },
    #[error("the system's random number generator failed: {reason}")]
    Random { reason: String },
    #[error("the secret store call did not finish: {reason}")]
    Join { reason: String },
}

impl SecretsError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::EnvMissing => ErrorCode::SecretMissing,
            Self::InvalidToken { .. } => ErrorCode::BadRequest,
            Self::Random { .. } => ErrorCode::Internal,
            _ => ErrorCode::SecretsUnavailable,
        }
    }

    /// A short reason without paths or socket addresses, for the unauthenticated `/health`;
    /// the full text belongs in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::KeychainUnavailable { hint, .. } => {
                format!("the OS keychain is not reachable: {hint}")
            }
            Self::File { .. } => {
                format!("the secrets file ({FILE_NAME}) cannot be used; see the node's log")
            }
            Self::InsecureFile { mode, .. } => {
                format!("the secrets file ({FILE_NAME}) is readable by others (mode {mode:o})")
            }
            Self::DataDir { .. } => "the data directory cannot be resolved".into(),
            Self::Lock { .. } => {
                format!("the secrets lock ({LOCK_FILE}) cannot be taken; see the node's log")
            }
            Self::EnvMissing | Self::InvalidToken { .. } => self.to_string(),
            Self::Random { .. } => "the system's random number generator failed".into(),
            Self::Join { .. } => "the secret store call did not finish".into(),
        }
    }

    /// Says where an invalid token came from.
    fn in_context(self, what: &str) -> Self {
        match self {
            Self::InvalidToken { reason } => Self::InvalidToken {
                reason: format!("{what}: {reason}"),
            },
            other => other,
        }
    }
}

/// A bearer token. Never printed by `Debug`/`Display`.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// Generates 256 random bits, hex-encoded with a recognisable prefix.
    pub fn generate() -> Result<Self, SecretsError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SecretsError::Random {
            reason: e.to_string(),
        })?;
        Ok(Self(format!("fdk_{}", hex::encode(bytes))))
    }

    /// Wraps a token given by the user, checking it is usable in a header.
    pub fn parse(value: &str) -> Result<Self, SecretsError> {
        let value = value.trim();
        if value.len() < 16 {
            return Err(SecretsError::InvalidToken {
                reason: "shorter than 16 characters".into(),
            });
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretsError::InvalidToken {
                reason: "only printable ASCII without spaces is allowed".into(),
            });
        }
        Ok(Self(value.to_string()))
    }

    /// The secret itself, for the one place that must send or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl std::fmt::Display for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where the token in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Environment,
    Keychain,
    File,
    /// Generated now and stored in the backend.
    Generated,
}

/// A token read back from a store must be as good as one we would accept from the user: an
/// empty or mangled value would otherwise match an empty bearer.
fn stored(value: &str) -> Result<ApiToken, SecretsError> {
    ApiToken::parse(value)
        .map_err(|e| e.in_context("the stored token (replace it with `flightdeck token --rotate`)"))
}

#[derive(Clone)]
enum Backend {
    Keychain(keychain::Keychain),
    File(PathBuf),
    Env,
}

/// The secret store chosen for this node. Cheap to clone.
#[derive(Clone)]
pub struct Secrets {
    backend: Backend,
    kind: SecretsBackend,
    account: String,
    env_token: Option<String>,
    /// The canonical data dir (named secrets' keychain accounts and files).
    dir: PathBuf,
    /// `<canonical data dir>/secrets.lock`.
    lock_path: PathBuf,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("backend", &self.kind)
            .finish()
    }
}

fn join_error(e: tokio::task::JoinError) -> SecretsError {
    SecretsError::Join {
        reason: e.to_string(),
    }
}

impl Secrets {
    /// Opens the chosen backend for the node whose data lives in `data_dir` (an existing
    /// directory for the keychain and file backends; any spelling of it). `env_token` is the
    /// value of FLIGHTDECK_API_TOKEN, if set. Blocking (D-Bus): call from a blocking context
    /// or through [`Secrets::open_async`].
    pub fn open(
        kind: SecretsBackend,
        data_dir: &Path,
        env_token: Option<String>,
    ) -> Result<Self, SecretsError> {
        let canonical = || {
            std::fs::canonicalize(data_dir).map_err(|e| SecretsError::DataDir {
                path: data_dir.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let (backend, dir) = match kind {
            SecretsBackend::Keychain => {
                let dir = canonical()?;
                (Backend::Keychain(keychain::connect()?), dir)
            }
            SecretsBackend::File => {
                let dir = canonical()?;
                let path = dir.join(FILE_NAME);
                // Under the lock nobody is between writing a temporary file and placing it,
                // so any one left is stale; when the lock is busy, a later open cleans up.
                match GenerationLock::try_take(&dir.join(LOCK_FILE)) {
                    Ok(Some(_held)) => file::remove_stale_temporaries(&path),
                    Ok(None) => {}
                    // Only housekeeping: generating a token reports the lock's error.
                    Err(error) => tracing::debug!(%error, "stale temporary files not removed"),
                }
                (Backend::File(path), dir)
            }
            SecretsBackend::Env => {
                if env_token.as_deref().is_none_or(str::is_empty) {
                    return Err(SecretsError::EnvMissing);
                }
                // Nothing is stored: the directory need not exist.
                let dir = canonical().unwrap_or_else(|_| data_dir.to_path_buf());
                (Backend::Env, dir)
            }
        };
        // One keychain item per data dir: two nodes on one machine keep separate tokens.
        let account = format!("api-token:{}", dir.display());
        Ok(Self {
            backend,
            kind,
            account,
            env_token: env_token.filter(|t| !t.is_empty()),
            lock_path: dir.join(LOCK_FILE),
            dir,
        })
    }

    /// [`Secrets::open`] off the async runtime.
    pub async fn open_async(
        kind: SecretsBackend,
        data_dir: PathBuf,
        env_token: Option<String>,
    ) -> Result<Self, SecretsError> {
        tokio::task::spawn_blocking(move || Self::open(kind, &data_dir, env_token))
            .await
            .map_err(join_error)?
    }

    pub fn kind(&self) -> SecretsBackend {
        self.kind
    }

    /// The keychain account of this node's API token: `api-token:<canonical data dir>`.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The API token: FLIGHTDECK_API_TOKEN if set, else the stored one, else a new one that
    /// is stored first.
    pub async fn api_token(&self) -> Result<(ApiToken, TokenSource), SecretsError> {
        if let Some(t) = &self.env_token {
            let token = ApiToken::parse(t).map_err(|e| e.in_context(TOKEN_ENV))?;
            return Ok((token, TokenSource::Environment));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.api_token_blocking())
            .await
            .map_err(join_error)?
    }

    fn api_token_blocking(&self) -> Result<(ApiToken, TokenSource), SecretsError> {
        // The common case, a stored token, needs no lock.
        if let Some(found) = self.stored_token()? {
            return Ok(found);
        }
        let _held = GenerationLock::take(&self.lock_path)?;
        // Another process may have stored one while we waited.
        if let Some(found) = self.stored_token()? {
            return Ok(found);
        }
        let token = ApiToken::generate()?;
        match &self.backend {
            Backend::Env => Err(SecretsError::EnvMissing),
            Backend::Keychain(k) => {
                let kept = keychain::store_and_read_back(k, &self.account, token.expose())?;
                if token.matches(&kept) {
                    Ok((token, TokenSource::Generated))
                } else {
                    // Only a writer that takes no lock (another tool) gets here: the keychain
                    // holds its value, so that is the one that works.
                    Ok((stored(&kept)?, TokenSource::Keychain))
                }
            }
            Backend::File(path) => {
                if file::create_if_absent(path, token.expose())? {
                    return Ok((token, TokenSource::Generated));
                }
                // Created by a writer that takes no lock: use its token.
                match file::read(path)? {
                    Some(t) => Ok((stored(&t)?, TokenSource::File)),
                    None => Err(SecretsError::File {
                        path: path.clone(),
                        reason: "removed while the token was being stored; try again".into(),
                    }),
                }
            }
        }
    }

    /// The token the backend holds, if any.
    fn stored_token(&self) -> Result<Option<(ApiToken, TokenSource)>, SecretsError> {
        let (value, source) = match &self.backend {
            Backend::Env => return Err(SecretsError::EnvMissing),
            Backend::Keychain(k) => (keychain::read(k, &self.account)?, TokenSource::Keychain),
            Backend::File(path) => (file::read(path)?, TokenSource::File),
        };
        value.map(|v| Ok((stored(&v)?, source))).transpose()
    }

    /// Checks the store answers, without revealing anything: the keychain item is read (it
    /// must be reachable and unlocked) and its value dropped unseen. Returns a short
    /// description and how long the check took.
    pub async fn probe(&self) -> Result<(String, Duration), SecretsError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let what = match &this.backend {
                Backend::Env => "environment only (FLIGHTDECK_API_TOKEN)".to_string(),
                Backend::Keychain(k) => {
                    drop(keychain::read(k, &this.account)?);
                    "OS keychain (Secret Service)".to_string()
                }
                Backend::File(path) => {
                    drop(file::read(path)?);
                    format!("file {FILE_NAME} in the data dir")
                }
            };
            Ok((what, started.elapsed()))
        })
        .await
        .map_err(join_error)?
    }

    /// Removes the stored token (the next start generates a new one). Used by `token --rotate`.
    pub async fn forget_api_token(&self) -> Result<(), SecretsError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if matches!(this.backend, Backend::Env) {
                return Ok(());
            }
            // Not in the middle of another process's generate-and-store.
            let _held = GenerationLock::take(&this.lock_path)?;
            match &this.backend {
                Backend::Env => Ok(()),
                Backend::Keychain(k) => keychain::remove(k, &this.account),
                Backend::File(path) => file::remove(path),
            }
        })
        .await
        .map_err(join_error)?
    }
}

#[cfg(test)]
mod tests;
