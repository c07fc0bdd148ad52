//! Secrets: the node's API token (and later provider keys), kept in the OS keychain through
//! keyring-core's Secret Service store, or, by explicit choice on headless servers, in a 0600
//! file in the data dir or only in the environment.
//!
//! Invariants:
//! - Secret values never reach SQLite, logs, the event bus or the webview. [`ApiToken`]'s
//!   `Debug` and `Display` print `***`; comparing tokens takes constant time.
//! - No silent fallback: when the chosen store is unreachable, the error names the cause and
//!   the explicit alternatives (`--secrets file`, `--secrets env`).
//! - Keychain calls block (D-Bus); async callers go through `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::config::SecretsBackend;
use crate::error::ErrorCode;

/// Keychain service name for every Flightdeck secret.
pub const SERVICE: &str = "flightdeck";
/// File used by the `file` backend, inside the data dir.
pub const FILE_NAME: &str = "secrets.json";
/// Environment variable that overrides the stored API token.
pub const TOKEN_ENV: &str = "FLIGHTDECK_API_TOKEN";

const ALTERNATIVES: &str = "on a headless server choose explicitly: `--secrets file` (a 0600 \
    file in the data dir) or `--secrets env` with FLIGHTDECK_API_TOKEN set";

/// Failures of the secret stores.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the OS keychain is not reachable: {cause}; start or unlock your keyring, or {ALTERNATIVES}"
    )]
    KeychainUnavailable { cause: String },
    #[error("secrets file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("secrets file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    InsecureFile { path: PathBuf, mode: u32 },
    #[error("`--secrets env` needs {TOKEN_ENV} to be set")]
    EnvMissing,
    #[error("not a usable API token: {reason}")]
    InvalidToken { reason: String },
    #[error("the secret store call did not finish: {reason}")]
    Join { reason: String },
}

impl SecretsError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::EnvMissing => ErrorCode::SecretMissing,
            Self::InvalidToken { .. } => ErrorCode::BadRequest,
            _ => ErrorCode::SecretsUnavailable,
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
        getrandom::fill(&mut bytes).map_err(|e| SecretsError::Join {
            reason: format!("no randomness: {e}"),
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

impl SecretsError {
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

#[derive(Clone)]
enum Backend {
    Keychain(Arc<zbus_secret_service_keyring_store::Store>),
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
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("backend", &self.kind)
            .finish()
    }
}

fn keychain_cause(e: &keyring_core::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("Failed to connect") || text.contains("DBUS_SESSION_BUS_ADDRESS") {
        "no D-Bus session bus"
    } else if text.contains("ServiceUnknown") || text.contains("was not provided by any") {
        "no Secret Service (GNOME Keyring, KWallet) on the session bus"
    } else if text.contains("result not returned") || text.contains("ocked") {
        "the keyring is locked"
    } else {
        "the Secret Service refused the call"
    };
    format!("{hint} ({text})")
}

impl Secrets {
    /// Opens the chosen backend for the node whose data lives in `data_dir`. `env_token` is
    /// the value of FLIGHTDECK_API_TOKEN, if set. Blocking (D-Bus): call from a blocking
    /// context or through [`Secrets::open_async`].
    pub fn open(
        kind: SecretsBackend,
        data_dir: &Path,
        env_token: Option<String>,
    ) -> Result<Self, SecretsError> {
        let backend = match kind {
            SecretsBackend::Keychain => {
                let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| {
                    SecretsError::KeychainUnavailable {
                        cause: keychain_cause(&e),
                    }
                })?;
                Backend::Keychain(store)
            }
            SecretsBackend::File => Backend::File(data_dir.join(FILE_NAME)),
            SecretsBackend::Env => {
                if env_token.as_deref().is_none_or(str::is_empty) {
                    return Err(SecretsError::EnvMissing);
                }
                Backend::Env
            }
        };
        // One keychain item per data dir: two nodes on one machine keep separate tokens.
        let account = format!("api-token:{}", data_dir.display());
        Ok(Self {
            backend,
            kind,
            account,
            env_token: env_token.filter(|t| !t.is_empty()),
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
            .map_err(|e| SecretsError::Join {
                reason: e.to_string(),
            })?
    }

    pub fn kind(&self) -> SecretsBackend {
        self.kind
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
            .map_err(|e| SecretsError::Join {
                reason: e.to_string(),
            })?
    }

    fn api_token_blocking(&self) -> Result<(ApiToken, TokenSource), SecretsError> {
        match &self.backend {
            Backend::Env => Err(SecretsError::EnvMissing),
            Backend::Keychain(store) => {
                let entry = self.entry(store)?;
                match entry.get_password() {
                    Ok(t) => Ok((stored(&t)?, TokenSource::Keychain)),
                    Err(keyring_core::Error::NoEntry) => {
                        let token = ApiToken::generate()?;
                        entry.set_password(token.expose()).map_err(|e| {
                            SecretsError::KeychainUnavailable {
                                cause: keychain_cause(&e),
                            }
                        })?;
                        Ok((token, TokenSource::Generated))
                    }
                    Err(e) => Err(SecretsError::KeychainUnavailable {
                        cause: keychain_cause(&e),
                    }),
                }
            }
            Backend::File(path) => match file::read(path)? {
                Some(t) => Ok((stored(&t)?, TokenSource::File)),
                None => {
                    let token = ApiToken::generate()?;
                    file::write(path, token.expose())?;
                    Ok((token, TokenSource::Generated))
                }
            },
        }
    }

    fn entry(
        &self,
        store: &zbus_secret_service_keyring_store::Store,
    ) -> Result<keyring_core::Entry, SecretsError> {
        use keyring_core::api::CredentialStoreApi;
        store
            .build(SERVICE, &self.account, None)
            .map_err(|e| SecretsError::KeychainUnavailable {
                cause: keychain_cause(&e),
            })
    }

    /// Checks the store answers, without revealing anything. Returns a short description and
    /// how long the check took.
    pub async fn probe(&self) -> Result<(String, Duration), SecretsError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let what = match &this.backend {
                Backend::Env => "environment only (FLIGHTDECK_API_TOKEN)".to_string(),
                Backend::Keychain(store) => {
                    let entry = this.entry(store)?;
                    match entry.get_password() {
                        Ok(_) | Err(keyring_core::Error::NoEntry) => {
                            "OS keychain (Secret Service)".to_string()
                        }
                        Err(e) => {
                            return Err(SecretsError::KeychainUnavailable {
                                cause: keychain_cause(&e),
                            });
                        }
                    }
                }
                Backend::File(path) => {
                    file::read(path)?;
                    format!("file {FILE_NAME} in the data dir")
                }
            };
            Ok((what, started.elapsed()))
        })
        .await
        .map_err(|e| SecretsError::Join {
            reason: e.to_string(),
        })?
    }

    /// Removes the stored token (the next start generates a new one). Used by `token --rotate`.
    pub async fn forget_api_token(&self) -> Result<(), SecretsError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || match &this.backend {
            Backend::Env => Ok(()),
            Backend::Keychain(store) => match this.entry(store)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(SecretsError::KeychainUnavailable {
                    cause: keychain_cause(&e),
                }),
            },
            Backend::File(path) => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(SecretsError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
            },
        })
        .await
        .map_err(|e| SecretsError::Join {
            reason: e.to_string(),
        })?
    }
}

/// The `file` backend: a JSON object in a 0600 file, replaced atomically.
mod file {
    use std::io::Write;
    use std::path::Path;

    use super::SecretsError;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Contents {
        api_token: String,
    }

    fn err(path: &Path, reason: impl std::fmt::Display) -> SecretsError {
        SecretsError::File {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub fn read(path: &Path) -> Result<Option<String>, SecretsError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(path, e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretsError::InsecureFile {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
        let contents: Contents =
            serde_json::from_str(&text).map_err(|e| err(path, format!("not valid: {e}")))?;
        Ok(Some(contents.api_token))
    }

    pub fn write(path: &Path, token: &str) -> Result<(), SecretsError> {
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(&Contents {
            api_token: token.to_string(),
        })
        .map_err(|e| err(path, e))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(|e| err(&tmp, e))?;
        f.write_all(&body).map_err(|e| err(&tmp, e))?;
        f.sync_all().map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints() {
        let t = ApiToken::generate().unwrap();
        assert_eq!(format!("{t:?} {t}"), "ApiToken(***) ***");
        assert!(t.expose().starts_with("fdk_"));
        assert_eq!(t.expose().len(), 4 + 64);
        assert!(t.matches(t.expose()));
        assert!(!t.matches("fdk_wrong"));
    }

    #[test]
    fn parse_table() {
        let cases = [
            ("short", false),
            ("a-perfectly-fine-token", true),
            ("has a space in the middle!", false),
            ("  trimmed-token-is-fine  ", true),
        ];
        for (input, ok) in cases {
            assert_eq!(ApiToken::parse(input).is_ok(), ok, "{input}");
        }
    }

    #[tokio::test]
    async fn file_backend_creates_0600_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let s = Secrets::open(SecretsBackend::File, dir.path(), None).unwrap();
        let (a, src) = s.api_token().await.unwrap();
        assert_eq!(src, TokenSource::Generated);
        let (b, src) = s.api_token().await.unwrap();
        assert_eq!(src, TokenSource::File);
        assert!(a.matches(b.expose()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(
                dir.path().join(FILE_NAME),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            let e = s.api_token().await.unwrap_err();
            assert!(matches!(e, SecretsError::InsecureFile { .. }), "{e}");
        }
    }

    #[tokio::test]
    async fn env_backend_requires_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let e = Secrets::open(SecretsBackend::Env, dir.path(), None).unwrap_err();
        assert!(e.to_string().contains(TOKEN_ENV));
        let s = Secrets::open(
            SecretsBackend::Env,
            dir.path(),
            Some("env-token-0123456789".into()),
        )
        .unwrap();
        let (t, src) = s.api_token().await.unwrap();
        assert_eq!(src, TokenSource::Environment);
        assert_eq!(t.expose(), "env-token-0123456789");
    }
}
