//! The `keychain` backend: one item per node in the OS keychain (Secret Service over D-Bus,
//! through keyring-core), service [`super::SERVICE`], account `api-token:<canonical data dir>`.
//!
//! Invariants: every call here blocks (D-Bus) and runs off the async runtime; secret values
//! are returned to the caller and never logged or put into an error.

use std::sync::Arc;

use keyring_core::api::CredentialStoreApi;

use super::{SERVICE, SecretsError};

/// The Secret Service connection.
pub(super) type Keychain = Arc<zbus_secret_service_keyring_store::Store>;

/// The error for an unreachable or refusing keychain, with a short hint (safe to show
/// anywhere) and keyring-core's own text (which may name the D-Bus socket) apart.
pub(super) fn unavailable(e: &keyring_core::Error) -> SecretsError {
    let detail = e.to_string();
    let hint =
        if detail.contains("Failed to connect") || detail.contains("DBUS_SESSION_BUS_ADDRESS") {
            "no D-Bus session bus"
        } else if detail.contains("ServiceUnknown") || detail.contains("was not provided by any") {
            "no Secret Service (GNOME Keyring, KWallet) on the session bus"
        } else if detail.contains("result not returned") || detail.contains("ocked") {
            "the keyring is locked"
        } else {
            "the Secret Service refused the call"
        };
    SecretsError::KeychainUnavailable {
        hint: hint.into(),
        detail,
    }
}

/// Connects to the Secret Service.
pub(super) fn connect() -> Result<Keychain, SecretsError> {
    zbus_secret_service_keyring_store::Store::new().map_err(|e| unavailable(&e))
}

fn entry(keychain: &Keychain, account: &str) -> Result<keyring_core::Entry, SecretsError> {
    keychain
        .build(SERVICE, account, None)
        .map_err(|e| unavailable(&e))
}

/// The stored secret, or `None` when there is no item.
pub(super) fn read(keychain: &Keychain, account: &str) -> Result<Option<String>, SecretsError> {
    match entry(keychain, account)?.get_password() {
        Ok(value) => Ok(Some(value)),
        Err(keyring_core::Error::NoEntry) => Ok(None),
        Err(e) => Err(unavailable(&e)),
    }
}

/// Stores `value`, then reads the item back and returns what it holds (the caller holds the
/// generation lock, so only a writer outside Flightdeck can have replaced it meanwhile).
/// Reading back also proves the keyring kept the value instead of dropping it silently.
pub(super) fn store_and_read_back(
    keychain: &Keychain,
    account: &str,
    value: &str,
) -> Result<String, SecretsError> {
    entry(keychain, account)?
        .set_password(value)
        .map_err(|e| unavailable(&e))?;
    read(keychain, account)?.ok_or_else(|| SecretsError::KeychainUnavailable {
        hint: "the keyring did not keep the token".into(),
        detail: "the item was missing right after it was stored".into(),
    })
}

/// Removes the item; a missing item is fine.
pub(super) fn remove(keychain: &Keychain, account: &str) -> Result<(), SecretsError> {
    match entry(keychain, account)?.delete_credential() {
        Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
        Err(e) => Err(unavailable(&e)),
    }
}
