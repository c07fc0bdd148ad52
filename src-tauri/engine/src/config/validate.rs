//! The rules a [`Config`] must satisfy beyond its types (ranges, parsable addresses and log
//! filters), and who gets the blame when one is broken.
//!
//! Invariants: every rule reports the dotted key and a reason a user can act on; the source
//! named is the layer that set the value (the file, the environment variable, the flags).
//!
//! Must never: read files or the environment, or change the config it checks.

use std::path::Path;

use super::{Config, ConfigError, ConfigProblem};

/// A broken rule: the dotted key and why.
type Violation = (String, String);

impl Config {
    /// Checks values beyond their types; every problem is blamed on `path` (or on
    /// `configuration` when there is none). A load blames the layer that set each value.
    pub fn validate(&self, path: Option<&Path>) -> Result<(), ConfigError> {
        let source = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "configuration".into());
        into_result(
            self.violations()
                .into_iter()
                .map(|(key, reason)| ConfigProblem {
                    source: source.clone(),
                    key,
                    reason,
                })
                .collect(),
        )
    }

    /// [`Config::validate`], naming for each key the source `figment` says set it.
    pub(super) fn validate_against(&self, figment: &figment::Figment) -> Vec<ConfigProblem> {
        self.violations()
            .into_iter()
            .map(|(key, reason)| ConfigProblem {
                source: lookup_keys(&key)
                    .iter()
                    .find_map(|k| figment.find_metadata(k))
                    .map(super::load::source_name)
                    .unwrap_or_else(|| "configuration".into()),
                key,
                reason,
            })
            .collect()
    }

    fn violations(&self) -> Vec<Violation> {
        let mut out: Vec<Violation> = Vec::new();
        if self.server.listen_addr().is_none() {
            out.push((
                "server.listen".into(),
                format!(
                    "`{}` is not an IP address with a port or localhost:PORT, e.g. 127.0.0.1:7878",
                    self.server.listen
                ),
            ));
        }
        for entry in &self.server.allowed_hosts {
            if let Err(reason) = super::normalize_host(entry) {
                out.push((
                    "server.allowed_hosts".into(),
                    format!("`{entry}`: {reason}"),
                ));
            }
        }
        let ranges: [(&'static str, u64, u64, u64); 5] = [
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes,
                1024,
                64 * 1024 * 1024,
            ),
            ("shutdown.timeout_secs", self.shutdown.timeout_secs, 1, 3600),
            (
                "feed.metrics_interval_ms",
                self.feed.metrics_interval_ms,
                100,
                60_000,
            ),
            ("health.interval_secs", self.health.interval_secs, 1, 3600),
            (
                "health.degraded_after_ms",
                self.health.degraded_after_ms,
                1,
                60_000,
            ),
        ];
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            out.push((
                "log.level".into(),
                format!("`{}` is not a log filter: {e}", self.log.level),
            ));
        }
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                out.push((key.into(), format!("must be between {min} and {max}")));
            }
        }
        out.extend(self.providers_view().violations());
        out.extend(crate::agents::settings::violations(self));
        out.extend(crate::orchestrator::runs::spec::violations(self));
        out.extend(crate::approvals::settings::violations(self));
        out.extend(crate::costs::settings::violations(self));
        out.extend(crate::forecast::score::violations(&self.health_score));
        out.extend(crate::reports::settings::violations(&self.reports));
        out.extend(
            self.orchestrator
                .violations(&self.providers.keys().collect::<Vec<_>>()),
        );
        out
    }
}

/// `Ok` when there is nothing to report.
pub(super) fn into_result(problems: Vec<ConfigProblem>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

/// Where to look for the layer that set `key`, most precise first: a problem's key may name
/// a list item (`routes.default.chain[1]`) or a quoted table key (`prices."p/m".input`),
/// which figment knows as `routes.default.chain` and `prices.p/m.input`.
fn lookup_keys(key: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            '"' => {}
            _ if !in_index => plain.push(c),
            _ => {}
        }
    }
    let mut out = vec![plain.clone()];
    let mut rest = plain.as_str();
    while let Some((head, _)) = rest.rsplit_once('.') {
        out.push(head.to_string());
        rest = head;
    }
    out
}
