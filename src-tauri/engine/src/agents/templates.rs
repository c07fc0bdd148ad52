//! Prompt template versions (`agent_templates`): every change of an agent's `prompt` or
//! `system` in the config becomes a new version, recorded when the engine opens and after
//! every config change, so the history and the diff between any two versions stay
//! available after the config file moved on.
//!
//! Invariants: versions of an agent are numbered from 1 without gaps, and a version is
//! written only when the text differs from the latest one (reloading the same config writes
//! nothing). Rows are never changed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use similar::TextDiff;
use utoipa::ToSchema;

use crate::config::Config;
use crate::store::values::{time_from_db, time_to_db};
use crate::store::{Db, Store, StoreError};

/// One version of an agent's templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateVersion {
    pub agent: String,
    /// From 1.
    pub version: u32,
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// When this text was first seen in the config.
    pub created_at: DateTime<Utc>,
}

fn hash(prompt: &str, system: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update((prompt.len() as u64).to_le_bytes());
    h.update(prompt.as_bytes());
    if let Some(s) = system {
        h.update([1]);
        h.update(s.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Records a new version for every agent of `config` whose templates changed. Answers how
/// many versions were written.
pub async fn record(store: &Store, config: &Config) -> Result<usize, StoreError> {
    let texts: Vec<(String, String, Option<String>)> = config
        .agents
        .iter()
        .map(|(name, a)| (name.clone(), a.prompt.clone(), a.system.clone()))
        .collect();
    if texts.is_empty() {
        return Ok(0);
    }
    store
        .write(move |tx| {
            let mut written = 0;
            for (agent, prompt, system) in &texts {
                let h = hash(prompt, system.as_deref());
                let latest: Option<(i64, String)> = tx.query_opt(
                    "SELECT version, hash FROM agent_templates WHERE agent = ?1 \
                     ORDER BY version DESC LIMIT 1",
                    [agent],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if latest.as_ref().is_some_and(|(_, last)| *last == h) {
                    continue;
                }
                let version = latest.map_or(1, |(v, _)| v + 1);
                tx.execute(
                    "INSERT INTO agent_templates (agent, version, prompt, system, hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![agent, version, prompt, system, h, time_to_db(tx.now())],
                )?;
                written += 1;
            }
            Ok::<_, StoreError>(written)
        })
        .await
}

fn version_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<TemplateVersion> {
    Ok(TemplateVersion {
        agent: r.get(0)?,
        version: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        prompt: r.get(2)?,
        system: r.get(3)?,
        created_at: time_from_db(r.get(4)?)?,
    })
}

/// Every version of `agent`'s templates, newest first.
pub fn history(db: &Db<'_>, agent: &str) -> Result<Vec<TemplateVersion>, StoreError> {
    db.query_all(
        "SELECT agent, version, prompt, system, created_at FROM agent_templates \
         WHERE agent = ?1 ORDER BY version DESC",
        [agent],
        version_of,
    )
}

/// A unified diff (3 lines of context) from one text to another; empty when they are equal.
pub fn diff(from: &TemplateVersion, to: &TemplateVersion) -> String {
    let render = |v: &TemplateVersion| match &v.system {
        Some(s) => format!("[system]\n{s}\n[prompt]\n{}\n", v.prompt),
        None => format!("{}\n", v.prompt),
    };
    let (a, b) = (render(from), render(to));
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{} v{}", from.agent, from.version),
            &format!("{} v{}", to.agent, to.version),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::AgentConfig;

    fn agent(prompt: &str) -> AgentConfig {
        toml::from_str(&format!("route = \"x/y\"\nprompt = {prompt:?}\n")).unwrap()
    }

    #[tokio::test]
    async fn a_changed_template_is_a_new_version_and_the_same_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut config = Config::default();
        config.agents.insert("a".into(), agent("Hello {{ name }}"));
        assert_eq!(record(&store, &config).await.unwrap(), 1);
        assert_eq!(
            record(&store, &config).await.unwrap(),
            0,
            "same text, no version"
        );
        config
            .agents
            .insert("a".into(), agent("Hello {{ name }}!\nBe brief."));
        config.agents.insert("b".into(), agent("Other"));
        assert_eq!(record(&store, &config).await.unwrap(), 2);
        let versions = store.read(|db| history(db, "a")).await.unwrap();
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [2, 1]
        );
        let d = diff(&versions[1], &versions[0]);
        assert!(d.contains("--- a v1") && d.contains("+++ a v2"), "{d}");
        assert!(d.contains("-Hello {{ name }}\n"), "{d}");
        assert!(d.contains("+Hello {{ name }}!\n+Be brief.\n"), "{d}");
        assert_eq!(diff(&versions[0], &versions[0]), "");
        store.close().await;
    }
}
