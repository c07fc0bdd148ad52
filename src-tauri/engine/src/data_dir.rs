//! The data directory: created private, checked writable, named by its canonical path, and
//! held by one engine at a time.
//!
//! Invariants:
//! - Every consumer (the store, the keychain account of the API token, `/api/v1/info`) sees
//!   the *canonical* path, so `--data-dir d`, `--data-dir ./d` and the absolute path are one
//!   node with one token.
//! - While a [`DataDirLock`] lives, no other process (or other engine in this process) can
//!   take it: two engines on one database would each believe they own the node. The lock is
//!   an OS file lock on `<data-dir>/flightdeck.lock`, so a crashed holder never leaves it
//!   stuck. The file itself is never removed: unlinking a lock file lets a later opener lock
//!   a different inode than a waiting one.
//! - Never taken by read-only tools (`db status`, `token`): they do not write the database.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// File name of the lock inside the data dir.
pub const LOCK_FILE: &str = "flightdeck.lock";

/// Ensures `dir` exists (created 0700) and is writable, and returns its canonical path. The
/// error names the directory as given.
pub fn prepare(dir: &Path) -> Result<PathBuf, StoreError> {
    let fail = |source| StoreError::DataDirUnwritable {
        path: dir.to_path_buf(),
        source,
    };
    // Without `.` components (`d/.` cannot be created); `..` stays for the OS to resolve.
    let dir = &std::path::absolute(dir).map_err(fail)?;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(fail)?;
        // The database holds the node's state: keep it to its owner.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)?;
    std::fs::canonicalize(dir).map_err(fail)
}

/// The exclusive hold on a data dir; released when dropped (or by the OS if the process
/// dies).
#[derive(Debug)]
pub struct DataDirLock {
    // Holding the open file holds the lock.
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (an existing directory, ideally canonical) without waiting,
    /// and writes this process's id into the lock file for the error others will see.
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(LOCK_FILE);
        let io_fail = |source| StoreError::DataDirUnwritable {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        // No truncate: the file may hold the current holder's pid.
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io_fail)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The pid is a courtesy for the message; an unreadable file just omits it.
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse::<u32>().ok());
                return Err(StoreError::DataDirLocked {
                    path: dir.to_path_buf(),
                    pid,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_fail(source)),
        }
        file.set_len(0).map_err(io_fail)?;
        file.rewind().map_err(io_fail)?;
        writeln!(file, "{}", std::process::id()).map_err(io_fail)?;
        Ok(Self { _file: file, path })
    }

    /// Path of the lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_canonicalizes_every_spelling() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("node");
        let odd = tmp.path().join("x").join("..").join("node").join(".");
        std::fs::create_dir(tmp.path().join("x")).unwrap();
        let a = prepare(&plain).unwrap();
        let b = prepare(&odd).unwrap();
        assert_eq!(a, b);
        assert!(a.is_absolute());
        assert!(!a.to_string_lossy().contains(".."));
    }

    #[test]
    fn lock_is_exclusive_names_the_holder_and_is_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = prepare(tmp.path()).unwrap();
        let held = DataDirLock::acquire(&dir).unwrap();
        assert_eq!(held.path(), dir.join(LOCK_FILE));
        let err = DataDirLock::acquire(&dir).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::DataDirLocked);
        let msg = err.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        let again = DataDirLock::acquire(&dir).unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
    }
}
