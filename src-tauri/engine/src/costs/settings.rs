//! `[costs]`: the time zone and week start of calendar periods (rollups by day, week and
//! month; budgets' periods). Checked when the config loads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::Config;

/// The first day of a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeekStart {
    #[default]
    Monday,
    Sunday,
}

/// `[costs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CostsConfig {
    /// IANA time zone of calendar days, weeks and months (`Europe/Berlin`). UTC by default,
    /// so every node of a fleet closes a day at the same instant.
    pub time_zone: String,
    pub week_start: WeekStart,
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            week_start: WeekStart::Monday,
        }
    }
}

impl CostsConfig {
    /// The zone (UTC when the name does not parse; the config check refuses that).
    pub fn zone(&self) -> chrono_tz::Tz {
        parse_zone(&self.time_zone).unwrap_or(chrono_tz::UTC)
    }
}

/// An IANA zone name (`UTC`, `Europe/Berlin`, `Asia/Kolkata`).
pub fn parse_zone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().ok()
}

/// Problems of `[costs]`, by dotted key.
pub fn violations(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if parse_zone(&config.costs.time_zone).is_none() {
        out.push((
            "costs.time_zone".into(),
            format!(
                "`{}` is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)",
                config.costs.time_zone
            ),
        ));
    }
    out
}
