//! The store: the sqlx pool over the SQLite file, the data-dir lock, and the queries of the
//! engine's own tables (metadata, health transitions). Migrations and the schema check live
//! in [`schema`].
//!
//! Invariants:
//! - The database lives at `<data-dir>/flightdeck.db`, in WAL mode with `synchronous = FULL`:
//!   a transaction that returned `Ok` survives a crash or power loss (NORMAL would trade the
//!   last transactions for speed; tasks, approvals and the ledger must not be lost).
//! - One open [`Store`] per data dir: [`Store::open`] takes the [`DataDirLock`] before it
//!   reads or writes anything, and [`Store::close_within`] releases it.
//! - The database file is created 0600 *before* SQLite opens it: the WAL and shared-memory
//!   files SQLite creates next to it copy its mode.
//! - A database written by a newer Flightdeck is refused *before* anything is written to it
//!   (see [`schema`]).
//! - Only this module talks to sqlx types directly; domains get the pool through
//!   [`Store::pool`] or, better, a method here. Queries are plain SQL with `$1`-style
//!   placeholders, which SQLite and PostgreSQL both accept, so a PostgreSQL backend can be
//!   added as a second pool kind later.
//! - Never reads the clock: times to store are arguments (the engine's clock stamps them).

pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::data_dir::{self, DataDirLock};
use crate::error::ErrorCode;

pub use schema::{MIGRATOR, SchemaStatus, latest_version};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "flightdeck.db";

/// Failures of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use data directory {path}: {source}")]
    DataDirUnwritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the data directory {path} is in use by {}; stop that Flightdeck (desktop or `flightdeck \
         serve`) first, or point --data-dir at another directory",
        pid.map_or_else(|| "another process".to_string(), |p| format!("pid {p}"))
    )]
    DataDirLocked { path: PathBuf, pid: Option<u32> },
    #[error(
        "the database {path} was written by a newer Flightdeck (schema version {found}, this \
         build knows up to {supported}); it was left untouched. Upgrade Flightdeck, or point \
         --data-dir at another directory"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "the database {path} has a migration (version {version}) that failed half-way; it was \
         left untouched: restore it from a backup"
    )]
    SchemaDirty { path: PathBuf, version: i64 },
    #[error(
        "{path} is not a SQLite database (or is damaged); it was left untouched: restore it from \
         a backup, or point --data-dir at another directory"
    )]
    NotADatabase { path: PathBuf },
    #[error("database {path}: {source}")]
    Sqlx {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating database {path}: {source}")]
    Migrate {
        path: PathBuf,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

impl StoreError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DataDirUnwritable { .. } => ErrorCode::DataDirUnwritable,
            Self::DataDirLocked { .. } => ErrorCode::DataDirLocked,
            Self::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            Self::SchemaDirty { .. } => ErrorCode::SchemaDirty,
            Self::NotADatabase { .. } | Self::Sqlx { .. } | Self::Migrate { .. } => {
                ErrorCode::Database
            }
        }
    }
}

/// One row of `health_transitions`, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HealthTransitionRecord {
    pub dependency: String,
    /// `None` for the first observation after start.
    pub from_status: Option<String>,
    pub to_status: String,
    pub message: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The canonical data dir.
    dir: PathBuf,
    path: PathBuf,
    /// Held until [`Store::close_within`] (or the last clone is dropped).
    lock: Arc<Mutex<Option<DataDirLock>>>,
}

/// Ensures `dir` exists and is writable, with a clear error naming it; returns its canonical
/// path (see [`crate::data_dir::prepare`]).
pub fn ensure_dir_writable(dir: &Path) -> Result<PathBuf, StoreError> {
    data_dir::prepare(dir)
}

/// Creates the database file 0600 if missing and keeps it (and its WAL and shared-memory
/// files, if any) private, before SQLite opens it.
#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = schema::sidecar(path, suffix);
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`: takes the data-dir lock, refuses
    /// newer or half-migrated schemas, and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir::prepare(data_dir)?;
        let lock = DataDirLock::acquire(&dir)?;
        let path = dir.join(DB_FILE);
        let status = Self::inspect(&path).await?;
        if status.current_version > status.latest_version {
            return Err(StoreError::SchemaTooNew {
                path,
                found: status.current_version,
                supported: status.latest_version,
            });
        }
        #[cfg(unix)]
        make_private(&path).map_err(|source| StoreError::DataDirUnwritable {
            path: path.clone(),
            source,
        })?;
        let options = schema::options(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Sqlx {
                path: path.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            pool,
            dir,
            path,
            lock: Arc::new(Mutex::new(Some(lock))),
        })
    }

    /// The pool, for the domains' own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The data dir, canonical.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The highest applied migration.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(|source| self.err(source))
    }

    /// Round-trips a trivial query; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|source| self.err(source))?;
        Ok(started.elapsed())
    }

    /// Reads a metadata value.
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|source| self.err(source))
    }

    /// Returns the value stored under `key`, inserting `value` (updated at `at`) first if there
    /// is none. Atomic: two processes racing on a new database agree on one value.
    pub async fn meta_get_or_insert(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|source| self.err(source))?;
        let stored = self.meta_get(key).await?;
        Ok(stored.unwrap_or_else(|| value.to_string()))
    }

    /// Appends a row to the history of health transitions, observed `at`.
    pub async fn record_health_transition(
        &self,
        dependency: &str,
        from_status: Option<&str>,
        to_status: &str,
        message: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO health_transitions (dependency, from_status, to_status, message, at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(dependency)
        .bind(from_status)
        .bind(to_status)
        .bind(message)
        .bind(at.to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(|source| self.err(source))?;
        Ok(())
    }

    /// The history of health transitions, oldest first.
    pub async fn health_transitions(&self) -> Result<Vec<HealthTransitionRecord>, StoreError> {
        sqlx::query_as(
            "SELECT dependency, from_status, to_status, message, at \
             FROM health_transitions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|source| self.err(source))
    }

    /// Size in bytes of the database file and its WAL.
    pub fn size_bytes(&self) -> u64 {
        [self.path.clone(), schema::sidecar(&self.path, "-wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Checkpoints the WAL, closes every connection (waiting up to `limit` for connections
    /// still in use: abandoned work must not hang the exit, and SQLite's WAL makes whatever
    /// was committed durable either way), then releases the data-dir lock. A second call
    /// only makes sure the lock is released.
    pub async fn close_within(&self, limit: Duration) {
        if !self.pool.is_closed() {
            let close = async {
                if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&self.pool)
                    .await
                {
                    tracing::warn!(%error, "WAL checkpoint at close failed; the WAL is replayed at next open");
                }
                self.pool.close().await;
            };
            if tokio::time::timeout(limit, close).await.is_err() {
                tracing::warn!("database connections still busy at exit; closing without waiting");
            }
        }
        let released = match self.lock.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(released);
    }

    /// [`Store::close_within`] with a generous limit, for tools and tests.
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(10)).await;
    }

    fn err(&self, source: sqlx::Error) -> StoreError {
        StoreError::Sqlx {
            path: self.path.clone(),
            source,
        }
    }
}
