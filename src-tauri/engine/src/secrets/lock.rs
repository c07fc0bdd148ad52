//! The lock that serializes generating the API token across processes: an exclusive OS file
//! lock on `<data-dir>/secrets.lock` (mode 0600, empty).
//!
//! Invariants: released when the guard drops, or by the OS when the process dies, so a crash
//! never leaves it stuck; the file is never removed (a process waiting on the old inode
//! would then hold a lock nobody else takes). Taking it blocks: callers are off the async
//! runtime.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::SecretsError;

/// The exclusive hold on `<data-dir>/secrets.lock`; released when dropped.
pub(super) struct GenerationLock {
    _file: File,
}

impl GenerationLock {
    fn open(path: &Path) -> Result<File, SecretsError> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(path).map_err(|e| lock_error(path, e))
    }

    /// Waits for the lock. Blocking: only off the async runtime.
    pub(super) fn take(path: &Path) -> Result<Self, SecretsError> {
        let file = Self::open(path)?;
        file.lock().map_err(|e| lock_error(path, e))?;
        Ok(Self { _file: file })
    }

    /// The lock if nobody holds it now.
    pub(super) fn try_take(path: &Path) -> Result<Option<Self>, SecretsError> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(lock_error(path, e)),
        }
    }
}

fn lock_error(path: &Path, e: std::io::Error) -> SecretsError {
    SecretsError::Lock {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
