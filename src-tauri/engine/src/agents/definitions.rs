//! Agent definitions as tasks ran them (`agent_definitions`): one row per agent and version
//! (a hash of the definition), written when a task first runs on it, so a task's later
//! attempts run on the definition it started with whatever the config says by then.
//!
//! Invariants: a row is never changed (the version is the content's hash); writing the same
//! version again is a no-op.

use super::AgentConfig;
use crate::store::values::{json_to_db, time_to_db};
use crate::store::{Store, StoreError};

/// Keeps `definition` of `agent` under its version; answers the version.
pub async fn record(
    store: &Store,
    agent: &str,
    definition: &AgentConfig,
) -> Result<String, StoreError> {
    let version = super::version_of(definition);
    let json = json_to_db(definition)?;
    let (agent, v) = (agent.to_string(), version.clone());
    store
        .write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO agent_definitions (agent, version, definition, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![agent, v, json, time_to_db(tx.now())],
            )?;
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(version)
}

/// A kept definition, as read back.
#[derive(Debug)]
pub enum Kept {
    Found(Box<AgentConfig>),
    Missing,
    /// Stored by a build whose definition had fields this one does not read.
    Unreadable(String),
}

/// The definition of `agent` at `version`.
pub async fn get(store: &Store, agent: &str, version: &str) -> Result<Kept, StoreError> {
    let (agent, version) = (agent.to_string(), version.to_string());
    let text: Option<String> = store
        .read(move |db| {
            db.query_opt(
                "SELECT definition FROM agent_definitions WHERE agent = ?1 AND version = ?2",
                rusqlite::params![agent, version],
                |r| r.get(0),
            )
        })
        .await?;
    Ok(match text {
        None => Kept::Missing,
        Some(t) => match serde_json::from_str(&t) {
            Ok(def) => Kept::Found(Box::new(def)),
            Err(e) => Kept::Unreadable(e.to_string()),
        },
    })
}
