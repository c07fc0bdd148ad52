//! The store: the sqlx pool over the SQLite file, embedded migrations and the schema check.
//!
//! Invariants:
//! - The database lives at `<data-dir>/flightdeck.db`, in WAL mode with `synchronous = FULL`:
//!   a transaction that returned `Ok` survives a crash or power loss (NORMAL would trade the
//!   last transactions for speed; tasks, approvals and the ledger must not be lost).
//! - A database written by a newer Flightdeck (a migration version we do not know) is refused
//!   *before* anything is written to it: the check runs on a plain read connection, and the
//!   pool (which sets WAL and runs migrations) is only opened once the check passed.
//! - Only this module talks to sqlx types directly; domains get the pool through
//!   [`Store::pool`]. Queries are plain SQL that SQLite and PostgreSQL both accept where
//!   possible, so a PostgreSQL backend can be added as a second pool kind later.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, SqlitePool};

use crate::error::ErrorCode;

/// The migrations compiled into this binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

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
        "the database {path} has a migration (version {version}) that failed half-way; restore \
         a backup or remove the file"
    )]
    SchemaDirty { path: PathBuf, version: i64 },
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
            Self::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            Self::SchemaDirty { .. } => ErrorCode::SchemaDirty,
            Self::Sqlx { .. } | Self::Migrate { .. } => ErrorCode::Database,
        }
    }
}

/// What `flightdeck db status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaStatus {
    pub path: PathBuf,
    pub exists: bool,
    /// Highest applied migration, 0 for a new or empty database.
    pub current_version: i64,
    /// Highest migration this build knows.
    pub latest_version: i64,
    /// Versions this build would apply.
    pub pending: Vec<i64>,
}

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
}

/// The newest migration version compiled in.
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Ensures `dir` exists and is writable, with a clear error naming it.
pub fn ensure_dir_writable(dir: &Path) -> Result<(), StoreError> {
    let fail = |source| StoreError::DataDirUnwritable {
        path: dir.to_path_buf(),
        source,
    };
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
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, refuses newer schemas, and
    /// applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        ensure_dir_writable(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let status = Self::inspect(&path).await?;
        if status.current_version > status.latest_version {
            return Err(StoreError::SchemaTooNew {
                path,
                found: status.current_version,
                supported: status.latest_version,
            });
        }
        let options = Self::options(&path)?
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(&path, private).map_err(|source| {
                StoreError::DataDirUnwritable {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(Self { pool, path })
    }

    /// Reads the schema state of the database at `path` without changing it. A missing file
    /// reports version 0 and is not created.
    pub async fn inspect(path: &Path) -> Result<SchemaStatus, StoreError> {
        let latest = latest_version();
        let mut status = SchemaStatus {
            path: path.to_path_buf(),
            exists: path.exists(),
            current_version: 0,
            latest_version: latest,
            pending: Vec::new(),
        };
        let sqlx_err = |source| StoreError::Sqlx {
            path: path.to_path_buf(),
            source,
        };
        let mut applied: Vec<(i64, bool)> = Vec::new();
        if status.exists {
            // A plain connection with no pragmas: reading must not convert the journal mode or
            // otherwise touch a file we may be about to refuse.
            let mut conn = Self::options(path)?
                .create_if_missing(false)
                .connect()
                .await
                .map_err(sqlx_err)?;
            let has_table: Option<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&mut conn)
            .await
            .map_err(sqlx_err)?;
            if has_table.is_some() {
                let rows = sqlx::query("SELECT version, success FROM _sqlx_migrations")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(sqlx_err)?;
                for row in rows {
                    let version: i64 = row.try_get("version").map_err(sqlx_err)?;
                    let success: bool = row.try_get("success").map_err(sqlx_err)?;
                    applied.push((version, success));
                }
            }
            conn.close().await.map_err(sqlx_err)?;
        }
        if let Some((version, _)) = applied.iter().find(|(_, ok)| !ok) {
            return Err(StoreError::SchemaDirty {
                path: path.to_path_buf(),
                version: *version,
            });
        }
        status.current_version = applied.iter().map(|(v, _)| *v).max().unwrap_or(0);
        status.pending = MIGRATOR
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a, _)| a == v))
            .collect();
        Ok(status)
    }

    fn options(path: &Path) -> Result<SqliteConnectOptions, StoreError> {
        // `filename` takes the path as is (no URL parsing of odd characters).
        Ok(SqliteConnectOptions::new().filename(path))
    }

    /// The pool, for the domains' own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|source| self.err(source))
    }

    /// Returns the value stored under `key`, inserting `value` first if there is none.
    /// Atomic: two processes racing on a new database agree on one value.
    pub async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&self.pool)
            .await
            .map_err(|source| self.err(source))?;
        let stored = self.meta_get(key).await?;
        Ok(stored.unwrap_or_else(|| value.to_string()))
    }

    /// Size in bytes of the database file and its WAL.
    pub fn size_bytes(&self) -> u64 {
        let wal = self.path.with_extension("db-wal");
        [&self.path, &wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Checkpoints the WAL and closes every connection, waiting up to `limit` for
    /// connections still in use (abandoned work must not hang the exit; SQLite's WAL makes
    /// whatever was committed durable either way).
    pub async fn close_within(&self, limit: Duration) {
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
