//! The `file` backend: a JSON object in `<data-dir>/secrets.json`, mode 0600.
//!
//! Invariants:
//! - The file only ever appears complete and private: it is written to a fresh temporary
//!   file (created exclusively, 0600, synced), then hard-linked into place, then the
//!   directory is synced. A leftover temporary file is never reused.
//! - Created at most once: linking fails when the file exists, so two processes generating
//!   a token at the same time (`serve` and `token` on first start) end up with the one
//!   that was linked first, which the loser reads back.
//! - A file readable by anyone but its owner is refused, not used.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{FILE_NAME, SecretsError};

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

/// The stored token, or `None` when there is no file.
pub(super) fn read(path: &Path) -> Result<Option<String>, SecretsError> {
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

/// Opens `path` for writing only if it does not exist yet, private to its owner.
fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A temporary name next to `path` that no other writer uses.
fn temporary_name(path: &Path) -> Result<PathBuf, SecretsError> {
    let mut salt = [0u8; 8];
    getrandom::fill(&mut salt).map_err(|e| SecretsError::Random {
        reason: e.to_string(),
    })?;
    let name = format!(
        "{FILE_NAME}.{}-{}.tmp",
        std::process::id(),
        hex::encode(salt)
    );
    Ok(path.with_file_name(name))
}

/// Makes a rename or link in `path`'s directory durable.
fn sync_parent(path: &Path) -> Result<(), SecretsError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Stores `token` at `path` unless a file is already there. Returns whether this call
/// created it (when not, the caller reads the winner back).
pub(super) fn create_if_absent(path: &Path, token: &str) -> Result<bool, SecretsError> {
    let body = serde_json::to_vec(&Contents {
        api_token: token.to_string(),
    })
    .map_err(|e| err(path, e))?;
    let tmp = temporary_name(path)?;
    let written = create_new_private(&tmp).and_then(|mut f| {
        f.write_all(&body)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(&tmp, e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    let created = match linked {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        // A file system without hard links: an exclusive create still keeps one winner.
        Err(_) => match create_new_private(path) {
            Ok(mut f) => {
                f.write_all(&body).map_err(|e| err(path, e))?;
                f.sync_all().map_err(|e| err(path, e))?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(err(path, e)),
        },
    };
    sync_parent(path)?;
    Ok(created)
}

/// Removes the file; a missing file is fine.
pub(super) fn remove(path: &Path) -> Result<(), SecretsError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_no_temporary_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        // A leftover from an older build, world-readable: never reused.
        std::fs::write(dir.path().join("secrets.json.tmp"), "{}").unwrap();
        assert!(create_if_absent(&path, "first-token-0123456789").unwrap());
        assert!(!create_if_absent(&path, "second-token-0123456789").unwrap());
        assert_eq!(
            read(&path).unwrap().as_deref(),
            Some("first-token-0123456789")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secrets.json", "secrets.json.tmp"]);
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(read(&path).unwrap(), None);
    }

    #[test]
    fn racing_writers_agree_on_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let winners: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || create_if_absent(path, &format!("token-{i}-0123456789")))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{winners:?}");
        let stored = read(&path).unwrap().unwrap();
        let winner = winners.iter().position(|w| *w).unwrap();
        assert_eq!(stored, format!("token-{winner}-0123456789"));
    }
}
