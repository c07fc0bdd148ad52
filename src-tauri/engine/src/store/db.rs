//! [`Db`]: a connection as the domains see it, inside a write transaction ([`super::WriteTx`])
//! or a read ([`super::Store::read`]): a few query helpers whose errors name the database.
//! Statements are prepared once per connection and cached (`prepare_cached`).

use std::path::Path;

use rusqlite::{Connection, Params, Row};

use super::StoreError;

/// A connection borrowed for one transaction or read.
pub struct Db<'c> {
    conn: &'c Connection,
    path: &'c Path,
}

impl<'c> Db<'c> {
    pub(super) fn new(conn: &'c Connection, path: &'c Path) -> Self {
        Self { conn, path }
    }

    /// The rusqlite connection, for what the helpers do not cover. Errors from it become
    /// [`StoreError`]s through [`Db::err`].
    pub fn conn(&self) -> &Connection {
        self.conn
    }

    /// A rusqlite error as a [`StoreError`] naming this database.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sql(self.path, source)
    }

    /// Runs one statement; returns the number of rows changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(params))
            .map_err(|e| self.err(e))
    }

    /// The first row mapped by `f`, or `None`.
    pub fn query_opt<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Option<T>, StoreError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let mut rows = st.query(params).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            Some(row) => f(row).map(Some).map_err(|e| self.err(e)),
            None => Ok(None),
        }
    }

    /// Exactly one row mapped by `f` (an error if there is none).
    pub fn query_one<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, StoreError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| self.err(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Every row, mapped by `f`.
    pub fn query_all<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Vec<T>, StoreError>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> rusqlite::Result<T>,
    {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = st.query_map(params, f).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<T>>>()
            .map_err(|e| self.err(e))
    }
}
