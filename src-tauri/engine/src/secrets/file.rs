//! The `file` backend: a JSON object in `<data-dir>/secrets.json`, mode 0600.
//!
//! Invariants:
//! - The file only ever appears complete and private: it is written to a fresh temporary
//!   file (created exclusively, 0600, synced), then hard-linked into place (or, on a file
//!   system without hard links, renamed into place), then the directory is synced. A
//!   leftover temporary file is never reused, and is removed when the backend is opened (it
//!   may hold a token).
//! - Created at most once: writers hold the generation lock (`secrets.lock`) and read again
//!   under it, and linking fails when the file exists; the rename fallback replaces, so it
//!   runs only after checking, under that lock, that there is still no file.
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
/// created it (when not, the caller reads the winner back). The caller holds the generation
/// lock.
pub(super) fn create_if_absent(path: &Path, token: &str) -> Result<bool, SecretsError> {
    create_with(path, token, |from, to| std::fs::hard_link(from, to))
}

/// [`create_if_absent`], placing the temporary file with `link`.
fn create_with(
    path: &Path,
    token: &str,
    link: impl Fn(&Path, &Path) -> std::io::Result<()>,
) -> Result<bool, SecretsError> {
    let body = serde_json::to_vec(&Contents {
        api_token: token.to_string(),
    })
    .map_err(|e| err(path, e))?;
    let tmp = temporary_name(path)?;
    let written = create_new_private(&tmp).and_then(|mut f| {
        f.write_all(&body)?;
        f.sync_all()
    });
    let placed = match written {
        Err(e) => Err(err(&tmp, e)),
        Ok(()) => match link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            // A file system without hard links: rename the complete file into place. A
            // rename replaces, so check first; under the generation lock nobody else can
            // create the file between the check and the rename.
            Err(_) => match std::fs::symlink_metadata(path) {
                Ok(_) => Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::rename(&tmp, path)
                    .map(|()| true)
                    .map_err(|e| err(path, e)),
                Err(e) => Err(err(path, e)),
            },
        },
    };
    // Gone already after a rename; otherwise it holds the token and must not stay.
    let _ = std::fs::remove_file(&tmp);
    let created = placed?;
    sync_parent(path)?;
    Ok(created)
}

/// Removes the temporary files a writer that died midway left next to `path`
/// (`secrets.json.*.tmp`, and `secrets.json.tmp` of older builds). Best effort: the caller
/// holds the generation lock, so none of them is still being written.
pub(super) fn remove_stale_temporaries(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{FILE_NAME}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = name.starts_with(&prefix)
            && name.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| !t.is_dir());
        if stale && let Err(error) = std::fs::remove_file(entry.path()) {
            tracing::debug!(%error, file = %name, "could not remove a stale temporary file");
        }
    }
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

    fn assert_private(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }

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
        assert_private(&path);
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
    fn without_hard_links_the_complete_file_is_renamed_into_place_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let no_links = |_: &Path, _: &Path| Err(std::io::ErrorKind::Unsupported.into());
        assert!(create_with(&path, "first-token-0123456789", no_links).unwrap());
        // The file exists: a second writer neither replaces it nor leaves its copy behind.
        assert!(!create_with(&path, "second-token-0123456789", no_links).unwrap());
        assert_eq!(
            read(&path).unwrap().as_deref(),
            Some("first-token-0123456789")
        );
        assert_private(&path);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [FILE_NAME]);
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
