//! Readers: a few read-only connections for [`super::Store::read`]. A read runs on a blocking
//! thread inside one read transaction, so everything it reads comes from one snapshot. WAL
//! lets reads go on while the writer commits; readers never write (`query_only`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::StoreError;
use super::db::Db;

/// How many reads may run at once.
pub const READERS: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    path: Arc<PathBuf>,
}

impl Readers {
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut idle = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            idle.push(Self::connect(path)?);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(idle)),
            permits: Arc::new(Semaphore::new(READERS)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub(super) async fn read<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        let conn = self.take().ok_or_else(|| E::from(StoreError::Closed))?;
        let path = self.path.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = (|| {
                conn.execute_batch("BEGIN")
                    .map_err(|e| E::from(StoreError::sql(&path, e)))?;
                let result = f(&Db::new(&conn, &path));
                // A read transaction has nothing to keep; ending it releases the snapshot.
                let _ = conn.execute_batch("COMMIT");
                result
            })();
            (conn, result)
        })
        .await;
        match joined {
            Ok((conn, result)) => {
                self.give_back(conn);
                result
            }
            // The closure panicked: its connection is gone with it, so open a new one.
            Err(join) => {
                if let Ok(conn) = Self::connect(&self.path) {
                    self.give_back(conn);
                }
                Err(E::from(StoreError::JobPanicked {
                    message: join.to_string(),
                }))
            }
        }
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            c.pragma_update(None, "query_only", true)?;
            super::values::register_functions(&c)?;
            Ok(c)
        })
        .map_err(|e| StoreError::sql(path, e))
    }

    fn take(&self) -> Option<Connection> {
        match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        }
    }

    fn give_back(&self, conn: Connection) {
        // Closed meanwhile: this connection closes now rather than outliving the store.
        if self.permits.is_closed() {
            drop(conn);
            return;
        }
        match self.idle.lock() {
            Ok(mut idle) => idle.push(conn),
            Err(poisoned) => poisoned.into_inner().push(conn),
        }
    }

    /// Closes the idle connections; reads after this fail with [`StoreError::Closed`].
    pub(super) fn close(&self) {
        self.permits.close();
        let conns = match self.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        drop(conns);
    }
}
