//! `[costs]` (the time zone and week start of calendar periods; what a call without
//! `max_tokens` may cost at most; unpriced models under a blocking budget; the alert
//! webhook; the drift reconciliation flags) and `[budgets.<name>]`. Everything is checked when the config loads; a bad
//! budget is refused with its dotted key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
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

/// A model without a price, called under a blocking budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unpriced {
    /// Refuse the call (`price_unknown`): a budget cannot hold what it cannot price.
    #[default]
    Refuse,
    /// Let it through; its cost is counted as unknown.
    Allow,
}

/// `[costs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CostsConfig {
    /// IANA time zone of calendar days, weeks and months (`Europe/Berlin`). UTC by default,
    /// so every node of a fleet closes a day at the same instant.
    pub time_zone: String,
    pub week_start: WeekStart,
    /// Output tokens a budget reserves for a request without `max_tokens` (capped by the
    /// model's `[models."p/m"] max_output_tokens` when set).
    pub default_max_output_tokens: u32,
    pub unpriced: Unpriced,
    /// POSTed (JSON, signed like action webhooks when `alert_webhook_secret` names a
    /// secret) once per budget threshold per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_webhook_secret: Option<String>,
    /// Reconciliation: a day or model whose billed and ledger costs differ by more than this
    /// percentage (and at least a cent) is flagged as drift.
    pub drift_pct: f64,
}

impl Default for CostsConfig {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            week_start: WeekStart::Monday,
            default_max_output_tokens: 4096,
            unpriced: Unpriced::Refuse,
            alert_webhook: None,
            alert_webhook_secret: None,
            drift_pct: 2.0,
        }
    }
}

/// How long a budget's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// Calendar days in the zone.
    Daily,
    /// Calendar weeks (from `[costs] week_start`).
    Weekly,
    /// Calendar months.
    Monthly,
    /// One window, `from` to `until`.
    Fixed,
}

/// What happens at the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum BudgetAction {
    /// Alerts only.
    #[default]
    Alert,
    /// Calls that could exceed it are refused before they reach a provider.
    Block,
}

/// An amount in USD as written in TOML: a number or a string, kept as written and checked
/// (a decimal > 0) with the rest of the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(value_type = String)]
pub struct Usd(pub String);

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        Ok(Usd(match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Text(s) => s,
        }))
    }
}

impl Usd {
    /// The amount, when it is a decimal > 0.
    pub fn value(&self) -> Option<Decimal> {
        self.0
            .trim()
            .parse::<Decimal>()
            .ok()
            .filter(|d| *d > Decimal::ZERO)
            .map(|d| d.normalize())
    }
}

/// An instant written as an RFC 3339 string or a TOML offset date-time.
fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(toml::value::Datetime),
    }
    let text = match Option::<Raw>::deserialize(d)? {
        None => return Ok(None),
        Some(Raw::Text(s)) => s,
        Some(Raw::Toml(t)) => t.to_string(),
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not an RFC 3339 time with an offset (2026-12-01T00:00:00Z)"
            ))
        })
}

fn default_thresholds() -> Vec<u32> {
    vec![50, 80, 100]
}

/// `[budgets.<name>]`. Scope keys narrow (all must match); none = every call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// USD per period, > 0.
    pub limit_usd: Usd,
    pub period: BudgetPeriod,
    #[serde(default)]
    pub action: BudgetAction,
    /// Alert at these percentages of the limit (1-1000; default 50, 80, 100).
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// `token:<name>`, `agent:<name>`, `desktop:<user>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `provider/model`, or a model name on any provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Also hold calls to models that cost nothing (local ones). Off: a free model is never
    /// blocked by this budget.
    #[serde(default)]
    pub include_free: bool,
    /// Start of a `fixed` window (RFC 3339, a string or a TOML date-time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "instant"
    )]
    pub from: Option<DateTime<Utc>>,
    /// End of a `fixed` window, exclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "instant"
    )]
    pub until: Option<DateTime<Utc>>,
    /// IANA zone of its calendar periods (default `[costs] time_zone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `[budgets]` by name.
pub type Budgets = BTreeMap<String, BudgetConfig>;

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

/// Problems of one budget, as (key under `budgets.<name>`, reason).
pub fn budget_problems(name: &str, b: &BudgetConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if !crate::agents::settings::valid_name(name) {
        out.push((
            String::new(),
            "a budget name is 1-128 of a-z, 0-9, - _ . : /".into(),
        ));
    }
    if b.limit_usd.value().is_none() {
        out.push((
            "limit_usd".into(),
            format!("`{}` is not an amount of USD above 0", b.limit_usd.0),
        ));
    }
    if b.thresholds.iter().any(|t| !(1..=1000).contains(t)) {
        out.push((
            "thresholds".into(),
            "each threshold is a percentage of the limit from 1 to 1000".into(),
        ));
    }
    match (b.period, b.from, b.until) {
        (BudgetPeriod::Fixed, Some(f), Some(u)) if f < u => {}
        (BudgetPeriod::Fixed, Some(_), Some(_)) => {
            out.push(("until".into(), "must be after from".into()))
        }
        (BudgetPeriod::Fixed, _, _) => out.push((
            "period".into(),
            "a fixed period needs from and until (RFC 3339 times)".into(),
        )),
        (_, None, None) => {}
        (_, _, _) => out.push((
            "from".into(),
            "from and until are only for period = \"fixed\"".into(),
        )),
    }
    if let Some(z) = &b.time_zone
        && parse_zone(z).is_none()
    {
        out.push((
            "time_zone".into(),
            format!("`{z}` is not an IANA time zone"),
        ));
    }
    for (key, v) in [
        ("agent", &b.agent),
        ("client", &b.client),
        ("route", &b.route),
        ("provider", &b.provider),
        ("model", &b.model),
        ("tag", &b.tag),
    ] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            out.push((
                key.into(),
                "empty: leave the key out to cover everything".into(),
            ));
        }
    }
    out
}

/// Problems of `[costs]` and `[budgets]`, by dotted key.
pub fn violations(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, b) in &config.budgets {
        for (key, why) in budget_problems(name, b) {
            let k = if key.is_empty() {
                format!("budgets.{name}")
            } else {
                format!("budgets.{name}.{key}")
            };
            out.push((k, why));
        }
    }
    if config.costs.default_max_output_tokens == 0 {
        out.push((
            "costs.default_max_output_tokens".into(),
            "must be at least 1".into(),
        ));
    }
    if !(config.costs.drift_pct.is_finite() && (0.0..=100.0).contains(&config.costs.drift_pct)) {
        out.push((
            "costs.drift_pct".into(),
            "a percentage from 0 to 100".into(),
        ));
    }
    if let Some(url) = &config.costs.alert_webhook
        && let Some(why) = crate::agents::actions::webhook_url_problem(url)
    {
        out.push(("costs.alert_webhook".into(), why));
    }
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
