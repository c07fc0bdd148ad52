//! The store: the SQLite file, the data-dir lock, migrations and the schema check, and the
//! two ways in for domains: [`Store::write`] (the one write path, group-committed on the
//! writer thread, see [`writer`]) and [`Store::read`] (read-only connections). Domains own
//! their tables, queries and row types in their own modules; the store owns only `meta`
//! (the node's identity) and the `events` log's append ([`WriteTx::append_event`]).
//!
//! Invariants:
//! - The database lives at `<data-dir>/flightdeck.db`, in WAL mode with `synchronous = FULL`:
//!   a write that was answered `Ok` survives a crash or power loss.
//! - One writer: only the writer thread's connection writes (readers are `query_only`), so
//!   writes never meet `SQLITE_BUSY` from each other; another process holding the file
//!   (which the data-dir lock prevents for Flightdecks) gets 5 s, then
//!   [`StoreError::Busy`].
//! - One open [`Store`] per data dir: [`Store::open`] takes the [`DataDirLock`] before it
//!   reads or writes anything, and [`Store::close_within`] releases it.
//! - The database file is created 0600 *before* SQLite opens it: the WAL and shared-memory
//!   files SQLite creates next to it copy its mode.
//! - A database written by a newer Flightdeck is refused *before* anything is written to it
//!   (see [`schema`]).
//! - Values follow one convention (see [`values`]): integer epoch milliseconds, exact
//!   decimals as text, enums by name with CHECKs, validated JSON.
//! - Never reads the system clock: times come from the [`SharedClock`] it was opened with.
//!
//! Why two SQLite libraries: migrations and the read-only schema check run on sqlx (its
//! migrator's table and checksums are the schema's record); every query after that runs
//! on rusqlite, because sqlx's SQLite driver hands each statement to a worker thread and
//! back (measured here: 18 us per insert against 1.6 us for rusqlite, which would cap the
//! durable write path far below its target). Both link the same SQLite.

pub mod schema;

mod db;
mod readers;
pub mod values;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

use crate::clock::{SharedClock, SystemClock};
use crate::data_dir::{self, DataDirLock};
use crate::error::ErrorCode;
use crate::events::{EventSink, NoSink};

pub use db::Db;
pub use schema::{MIGRATOR, SchemaStatus, latest_version};
pub use writer::{MAX_BATCH, WriteTx};

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
        "the database {path} was written by a newer Flightdeck (it has migration {found}, which \
         this build does not know; its newest is {supported}); it was left untouched. Upgrade \
         Flightdeck, or point --data-dir at another directory"
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
    #[error("database {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: Arc<rusqlite::Error>,
    },
    #[error(
        "the database {path} is locked by another program (for more than 5 s); close it (an \
         sqlite3 shell, a backup tool) and try again"
    )]
    Busy { path: PathBuf },
    #[error("the store is closed (the engine is shutting down)")]
    Closed,
    #[error("a database job failed unexpectedly: {message}")]
    JobPanicked { message: String },
    #[error("cannot store {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("writing to the database: {message}")]
    Write { message: String },
}

impl StoreError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::DataDirUnwritable { .. } => ErrorCode::DataDirUnwritable,
            Self::DataDirLocked { .. } => ErrorCode::DataDirLocked,
            Self::SchemaTooNew { .. } => ErrorCode::SchemaTooNew,
            Self::SchemaDirty { .. } => ErrorCode::SchemaDirty,
            Self::Busy { .. } => ErrorCode::DatabaseBusy,
            Self::Closed => ErrorCode::Unavailable,
            Self::NotADatabase { .. }
            | Self::Sqlx { .. }
            | Self::Migrate { .. }
            | Self::Sql { .. }
            | Self::JobPanicked { .. }
            | Self::Encode { .. }
            | Self::Write { .. } => ErrorCode::Database,
        }
    }

    /// A rusqlite failure on the database at `path` (`SQLITE_BUSY` as [`StoreError::Busy`]).
    pub fn sql(path: &Path, source: rusqlite::Error) -> Self {
        if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            return Self::Busy {
                path: path.to_path_buf(),
            };
        }
        Self::Sql {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }

    /// The same failure again, for every job of a batch that failed to commit.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Sql { path, source } => Self::Sql {
                path: path.clone(),
                source: source.clone(),
            },
            Self::Busy { path } => Self::Busy { path: path.clone() },
            Self::Closed => Self::Closed,
            other => Self::Write {
                message: other.to_string(),
            },
        }
    }
}

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    writer: writer::WriterHandle,
    readers: readers::Readers,
    /// Fires when the writer thread has committed its last batch and closed.
    writer_done: Arc<tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>>,
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
    /// Opens (creating if needed) the database in `data_dir`, as a tool or test would: system
    /// clock, events appended but published nowhere. The engine uses [`Store::open_with`].
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, SystemClock::shared(), Arc::new(NoSink)).await
    }

    /// Opens (creating if needed) the database in `data_dir`: takes the data-dir lock, refuses
    /// newer or half-migrated schemas, applies pending migrations, and starts the writer,
    /// which stamps events with `clock` and hands them to `sink` once committed.
    pub async fn open_with(
        data_dir: &Path,
        clock: SharedClock,
        sink: Arc<dyn EventSink>,
    ) -> Result<Self, StoreError> {
        let dir = data_dir::prepare(data_dir)?;
        let lock = DataDirLock::acquire(&dir)?;
        let path = dir.join(DB_FILE);
        let status = Self::inspect(&path).await?;
        if let Some(found) = status.unknown_version {
            return Err(StoreError::SchemaTooNew {
                path,
                found,
                supported: status.latest_version,
            });
        }
        #[cfg(unix)]
        make_private(&path).map_err(|source| StoreError::DataDirUnwritable {
            path: path.clone(),
            source,
        })?;
        Self::migrate(&path).await?;
        let conn = Self::writer_connection(&path)?;
        let readers = readers::Readers::open(&path)?;
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let writer = writer::spawn(conn, path.clone(), clock, sink, done_tx)?;
        Ok(Self {
            writer,
            readers,
            writer_done: Arc::new(tokio::sync::Mutex::new(Some(done_rx))),
            dir,
            path,
            lock: Arc::new(Mutex::new(Some(lock))),
        })
    }

    /// Applies pending migrations on a connection of its own, then closes it.
    async fn migrate(path: &Path) -> Result<(), StoreError> {
        let sqlx_err = |source| StoreError::Sqlx {
            path: path.to_path_buf(),
            source,
        };
        let options = schema::options(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // A pool of one rather than a bare connection: the migrator's `&mut` connection form
        // makes the engine's open future lose `Send` (a higher-ranked lifetime in sqlx).
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(sqlx_err)?;
        let migrated = MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            });
        pool.close().await;
        migrated
    }

    /// The writer's connection: WAL, `synchronous = FULL`, foreign keys, 5 s busy timeout.
    fn writer_connection(path: &Path) -> Result<rusqlite::Connection, StoreError> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sql(path, e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(Duration::from_secs(5))?;
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::InvalidQuery);
            }
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", true)?;
            conn.set_prepared_statement_cache_capacity(256);
            values::register_functions(&conn)?;
            Ok(())
        };
        setup().map_err(|e| StoreError::sql(path, e))?;
        Ok(conn)
    }

    /// Runs `f` as one transaction on the writer and returns its result once the
    /// transaction is durably committed. `f` runs on the writer thread, may run more than
    /// once (see [`writer`]), and must do nothing but database work through its
    /// [`WriteTx`]: no waiting, no side effects outside it. The job is submitted when this
    /// is called, not when the future is first polled: jobs commit in call order.
    pub fn write<F, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'static + use<F, T, E>
    where
        F: FnMut(&mut WriteTx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write(f)
    }

    /// Runs `f` on a read-only connection, inside one read transaction (one snapshot).
    pub fn read<F, T, E>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<T, E>> + Send + 'static + use<F, T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        async move { readers.read(f).await }
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
    pub fn schema_version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send + 'static {
        self.read(|db| {
            db.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Round-trips a trivial read and a trivial write through the writer (a stuck writer is
    /// what the health check must see); returns how long both took.
    pub fn ping(&self) -> impl Future<Output = Result<Duration, StoreError>> + Send + 'static {
        let read = self.read(|db| db.query_one("SELECT 1", [], |r| r.get::<_, i64>(0)));
        let store = self.clone();
        async move {
            let started = Instant::now();
            read.await?;
            store
                .write(|tx| tx.query_one("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .await?;
            Ok(started.elapsed())
        }
    }

    /// Reads a metadata value.
    pub fn meta_get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send + 'static {
        let key = key.to_string();
        self.read(move |db| {
            db.query_opt("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
        })
    }

    /// Returns the value stored under `key`, inserting `value` (updated at `at`) first if there
    /// is none. Atomic: one transaction on the writer.
    pub fn meta_get_or_insert(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<String, StoreError>> + Send + 'static {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO NOTHING",
                rusqlite::params![key, value, values::time_to_db(at)],
            )?;
            tx.query_one("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
        })
    }

    /// Size in bytes of the database file and its WAL.
    pub fn size_bytes(&self) -> u64 {
        [self.path.clone(), schema::sidecar(&self.path, "-wal")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Lets the writer commit what was submitted before, checkpoints the WAL and closes every
    /// connection (waiting up to `limit`: abandoned work must not hang the exit, and the WAL
    /// makes whatever was committed durable either way), then releases the data-dir lock.
    /// A second call only makes sure the lock is released.
    pub async fn close_within(&self, limit: Duration) {
        self.writer.close();
        self.readers.close();
        let done = self.writer_done.lock().await.take();
        if let Some(done) = done
            && tokio::time::timeout(limit, done).await.is_err()
        {
            tracing::warn!("the database writer is still busy at exit; closing without waiting");
        }
        let released = match self.lock.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(released);
    }

    /// Whether [`Store::close_within`] has run.
    pub fn is_closed(&self) -> bool {
        self.lock.lock().map_or(true, |slot| slot.is_none())
    }

    /// [`Store::close_within`] with a generous limit, for tools and tests.
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(10)).await;
    }
}
