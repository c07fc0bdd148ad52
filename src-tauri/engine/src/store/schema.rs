//! The schema: the migrations compiled into this build and the read-only check of a database
//! file's schema state, which runs before anything may write to the file.
//!
//! Invariants:
//! - [`Store::inspect`] never changes the file: it connects read-only with no pragmas, so a
//!   leftover WAL or hot journal is read but never checkpointed or rolled back into the
//!   database, and the journal mode is not converted. A missing file is not created, and a
//!   cleanly closed WAL-mode file gets no WAL or index files next to it.
//! - A newer schema is reported before a dirty one: a half-failed migration of a newer build
//!   is still that build's database, and the advice is to upgrade.

use std::path::Path;

use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use super::{Store, StoreError};

/// The migrations compiled into this binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// SQLite's primary result code for "file is not a database".
const SQLITE_NOTADB: i64 = 26;

/// What `flightdeck db status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaStatus {
    pub path: std::path::PathBuf,
    pub exists: bool,
    /// Highest applied migration, 0 for a new or empty database.
    pub current_version: i64,
    /// Highest migration this build knows.
    pub latest_version: i64,
    /// Versions this build would apply.
    pub pending: Vec<i64>,
    /// An applied migration this build does not know (the file is a newer build's).
    pub unknown_version: Option<i64>,
}

/// The newest migration version compiled in.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Connect options for the file at `path`, with no pragmas set.
pub(super) fn options(path: &Path) -> SqliteConnectOptions {
    // `filename` takes the path as is (no URL parsing of odd characters).
    SqliteConnectOptions::new().filename(path)
}

/// `path` with `suffix` appended (`-wal`, `-shm`, `-journal`).
pub(super) fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::path::PathBuf::from(name)
}

/// Whether the file's header says WAL mode (read and write versions 2).
fn is_wal_mode(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header.starts_with(b"SQLite format 3\0") && header[18..20] == [2, 2])
}

/// Maps a failure reading `path`, naming a file that is not a database as such.
fn read_error(path: &Path, source: sqlx::Error) -> StoreError {
    let not_a_db = source
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| c & 0xff == SQLITE_NOTADB);
    if not_a_db {
        StoreError::NotADatabase {
            path: path.to_path_buf(),
        }
    } else {
        StoreError::Sqlx {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Store {
    /// Reads the schema state of the database at `path` without changing it. A missing file
    /// reports version 0 and is not created. A newer schema is reported in the status (the
    /// caller refuses it); a failed migration of a schema this build knows is an error.
    pub async fn inspect(path: &Path) -> Result<SchemaStatus, StoreError> {
        let latest = latest_version();
        let mut status = SchemaStatus {
            path: path.to_path_buf(),
            exists: path.exists(),
            current_version: 0,
            latest_version: latest,
            pending: Vec::new(),
            unknown_version: None,
        };
        let fail = |source| read_error(path, source);
        let mut applied: Vec<(i64, bool)> = Vec::new();
        if status.exists {
            // A WAL-mode file without its WAL has nothing uncheckpointed: read it as
            // immutable, or SQLite would leave an empty WAL and index next to it. With a WAL
            // present, a read-only connection reads it and cannot checkpoint it.
            let quiescent = is_wal_mode(path) && !sidecar(path, "-wal").exists();
            let mut conn = options(path)
                .read_only(true)
                .immutable(quiescent)
                .create_if_missing(false)
                .connect()
                .await
                .map_err(fail)?;
            let has_table: Option<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&mut conn)
            .await
            .map_err(fail)?;
            if has_table.is_some() {
                let rows = sqlx::query("SELECT version, success FROM _sqlx_migrations")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(fail)?;
                for row in rows {
                    let version: i64 = row.try_get("version").map_err(fail)?;
                    let success: bool = row.try_get("success").map_err(fail)?;
                    applied.push((version, success));
                }
            }
            conn.close().await.map_err(fail)?;
        }
        status.current_version = applied.iter().map(|(v, _)| *v).max().unwrap_or(0);
        // With timestamp versions a newer build's migration may sort below ours (it was
        // written on a branch that landed later): any applied version this build does not
        // know means the file belongs to another build.
        let unknown = applied
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !MIGRATOR.iter().any(|m| m.version == *v))
            .max();
        if let Some(unknown) = unknown {
            status.unknown_version = Some(unknown);
            return Ok(status);
        }
        if let Some((version, _)) = applied.iter().find(|(_, ok)| !ok) {
            return Err(StoreError::SchemaDirty {
                path: path.to_path_buf(),
                version: *version,
            });
        }
        status.pending = MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a, _)| a == v))
            .collect();
        Ok(status)
    }
}
