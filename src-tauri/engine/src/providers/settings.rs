//! The providers' part of the config: `[providers.<name>]`, `[routes.<name>]`,
//! `[models."<provider>/<model>"]`, `[prices."<provider>/<model>"]`, `[gateway]` and `[cache]`,
//! with their defaults and their rules.
//!
//! Invariants:
//! - A provider named anywhere (a route's chain, a model, a price) exists in `[providers]`;
//!   otherwise the config is invalid and the problem names it and where it was named.
//! - `key` is the *name* of a secret (`provider:openai`), never a key: the config (and the
//!   config API, which shows it) holds no secret. Extra `headers` may not carry credentials.
//! - Resilience settings are per provider, overridable per model; a call takes one snapshot
//!   ([`Resolved`]) when it starts and keeps it, so a reload never changes a call in flight.
//!
//! Must never: read a secret, the environment or the network.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI chat completions: OpenAI, Azure-style URLs, Ollama, llama.cpp, vLLM, LM Studio,
    /// OpenRouter, Groq...
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// `[providers.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// `https://api.openai.com/v1`, `https://api.anthropic.com`, `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// The name of the secret holding the API key; optional for local servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Extra request headers (not credentials: those come from `key`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A local server: its models cost zero unless a price is configured. Default: true when
    /// `base_url` is on a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<bool>,
    #[serde(default)]
    pub timeouts: TimeoutSettings,
    #[serde(default)]
    pub retry: RetrySettings,
    #[serde(default)]
    pub breaker: BreakerSettings,
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
    /// Largest answer accepted from this provider (bytes; a stream in total).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
}

fn default_max_response_bytes() -> u64 {
    16 * 1024 * 1024
}

impl ProviderConfig {
    /// Local servers cost nothing unless priced: explicit `local`, else a loopback host.
    pub fn is_local(&self) -> bool {
        self.local.unwrap_or_else(|| {
            url_host(&self.base_url).is_some_and(|h| {
                h.eq_ignore_ascii_case("localhost")
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
        })
    }
}

/// The host of an `http(s)://host[:port]/...` URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then_some(host)
}

/// How long each part of a call may take (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSettings {
    pub connect_ms: u64,
    /// From sending the request to the first byte of the answer (headers).
    pub first_byte_ms: u64,
    /// Between two chunks of a stream: a stalled stream is cut after this.
    pub idle_ms: u64,
    /// The whole call, retries excluded.
    pub total_ms: u64,
}

impl Default for TimeoutSettings {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            first_byte_ms: 60_000,
            idle_ms: 30_000,
            total_ms: 600_000,
        }
    }
}

/// Retries of one hop: exponential backoff with full jitter, `Retry-After` honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Attempts per hop, the first included (1 = no retries).
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// A `Retry-After` longer than this is not waited for: the hop fails over instead.
    pub max_retry_after_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 200,
            max_delay_ms: 10_000,
            max_retry_after_ms: 30_000,
        }
    }
}

/// The circuit breaker of each provider/model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Opens after this many failures in a row.
    pub consecutive_failures: u32,
    /// Or when at least this share of the calls in the window failed...
    pub failure_rate: f64,
    /// ...and the window holds at least this many calls.
    pub min_calls: u32,
    pub window_secs: u64,
    /// How long it stays open before one probe call is let through (half-open).
    pub open_secs: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 20,
            window_secs: 60,
            open_secs: 30,
        }
    }
}

/// What a call does when the client-side rate limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// Wait for capacity (at most `max_wait_ms`, then fail over).
    #[default]
    Wait,
    /// Fail over (or fail) at once.
    Fail,
}

/// Client-side limits per provider/model; none by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Estimated input plus `max_tokens` of each request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u32>,
    pub on_limit: OnLimit,
    pub max_wait_ms: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: None,
            tokens_per_minute: None,
            on_limit: OnLimit::Wait,
            max_wait_ms: 10_000,
        }
    }
}

/// `[models."<provider>/<model>"]`: settings of one model (none are needed to use a model).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The context window in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSettings>,
}

/// `[routes.<name>]`: a model name clients and agents use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `provider/model` references, tried in order.
    pub chain: Vec<String>,
    /// Answers of this route may be served from the response cache.
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One price of a model, USD per million tokens, in force from `from` (UTC midnight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    #[serde(deserialize_with = "decimal")]
    #[schema(value_type = String)]
    pub input: Decimal,
    #[serde(deserialize_with = "decimal")]
    #[schema(value_type = String)]
    pub output: Decimal,
    /// Default: `input`.
    #[serde(
        default,
        deserialize_with = "opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub cached_input: Option<Decimal>,
    /// Default: `input`.
    #[serde(
        default,
        deserialize_with = "opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub cache_write: Option<Decimal>,
    /// Default: `output`.
    #[serde(
        default,
        deserialize_with = "opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub reasoning: Option<Decimal>,
    /// `YYYY-MM-DD`; default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub from: Option<chrono::NaiveDate>,
}

/// `[prices."p/m"]` is one price; `[[prices."p/m"]]` a list with different `from` dates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PriceEntry {
    One(PriceConfig),
    Many(Vec<PriceConfig>),
}

impl PriceEntry {
    pub fn prices(&self) -> &[PriceConfig] {
        match self {
            Self::One(p) => std::slice::from_ref(p),
            Self::Many(v) => v,
        }
    }
}

/// A price as TOML writes it: a number (`0.15`, read by its shortest decimal spelling, so
/// `0.15` is exactly 0.15) or a string (`"0.15"`).
fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Int(i) => i.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Text(s) => s,
    };
    let value: Decimal = text
        .trim()
        .parse()
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a decimal number")))?;
    if value.is_sign_negative() {
        return Err(serde::de::Error::custom("a price cannot be negative"));
    }
    Ok(value.normalize())
}

fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    decimal(d).map(Some)
}

/// `[gateway]`: the OpenAI- and Anthropic-compatible endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// The desktop app also serves the gateway (and only it) on this loopback address.
    pub desktop_listen: bool,
    pub desktop_address: String,
    /// Largest request body of `/v1/*` (bytes).
    pub max_request_bytes: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            desktop_listen: false,
            desktop_address: "127.0.0.1:7879".into(),
            max_request_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `[cache]`: the response cache (used only by routes, agents or requests that opt in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub ttl_secs: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 3600,
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Splits `provider/model` at the first `/` (model names may hold more: `meta/llama-3`).
pub fn split_ref(reference: &str) -> Option<(&str, &str)> {
    let (p, m) = reference.split_once('/')?;
    (!p.is_empty() && !m.is_empty()).then_some((p, m))
}

/// Everything of the config the providers use, taken together.
pub struct ProvidersView<'a> {
    pub providers: &'a BTreeMap<String, ProviderConfig>,
    pub routes: &'a BTreeMap<String, RouteConfig>,
    pub models: &'a BTreeMap<String, ModelConfig>,
    pub prices: &'a BTreeMap<String, PriceEntry>,
    pub gateway: &'a GatewayConfig,
    pub cache: &'a CacheSettings,
}

/// Headers that carry credentials: set by `key`, never by `headers`.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
];

impl ProvidersView<'_> {
    /// Every broken rule as (dotted key, reason).
    pub fn violations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, p) in self.providers {
            let key = |k: &str| format!("providers.{name}.{k}");
            if name.is_empty() || name.contains('/') || name.len() > 64 {
                out.push((
                    format!("providers.{name}"),
                    "a provider name is 1 to 64 characters without `/`".into(),
                ));
            }
            if url_host(&p.base_url).is_none() {
                out.push((
                    key("base_url"),
                    format!(
                        "`{}` is not an http:// or https:// URL with a host (and no user info)",
                        p.base_url
                    ),
                ));
            }
            if let Some(k) = &p.key
                && !crate::secrets::named::valid_name(k)
            {
                out.push((
                    key("key"),
                    format!("`{k}` is not a secret name (lower-case letters, digits and `._:-`, e.g. provider:{name})"),
                ));
            }
            for h in p.headers.keys() {
                if CREDENTIAL_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                    out.push((
                        key("headers"),
                        format!("`{h}` carries a credential: name a secret in `key` instead"),
                    ));
                } else if http_token(h).is_err() {
                    out.push((key("headers"), format!("`{h}` is not a header name")));
                }
            }
            for (k, v) in &p.headers {
                if v.chars().any(|c| c.is_control()) {
                    out.push((
                        key("headers"),
                        format!("the value of `{k}` holds a control character"),
                    ));
                }
            }
            check_resilience(
                &format!("providers.{name}"),
                &p.timeouts,
                &p.retry,
                &p.breaker,
                &p.rate_limit,
                &mut out,
            );
            if !(1024..=1024 * 1024 * 1024).contains(&p.max_response_bytes) {
                out.push((
                    key("max_response_bytes"),
                    "must be between 1024 and 1073741824".into(),
                ));
            }
        }
        for (name, r) in self.routes {
            let key = format!("routes.{name}.chain");
            if r.chain.is_empty() {
                out.push((
                    key.clone(),
                    "a route needs at least one `provider/model`".into(),
                ));
            }
            if name.contains('/') {
                out.push((
                    format!("routes.{name}"),
                    "a route name may not contain `/` (that is a `provider/model` reference)"
                        .into(),
                ));
            }
            for (i, entry) in r.chain.iter().enumerate() {
                self.check_ref(&format!("{key}[{i}]"), entry, &mut out);
            }
        }
        for (reference, m) in self.models {
            let key = format!("models.\"{reference}\"");
            self.check_ref(&key, reference, &mut out);
            check_resilience(
                &key,
                &m.timeouts.unwrap_or_default(),
                &m.retry.unwrap_or_default(),
                &m.breaker.unwrap_or_default(),
                &m.rate_limit.unwrap_or_default(),
                &mut out,
            );
        }
        for (reference, entry) in self.prices {
            let key = format!("prices.\"{reference}\"");
            self.check_ref(&key, reference, &mut out);
            let mut dates: Vec<_> = entry.prices().iter().map(|p| p.from).collect();
            dates.sort();
            if dates.windows(2).any(|w| w[0] == w[1]) {
                out.push((key, "two prices with the same `from` date".into()));
            }
        }
        if url_host(&format!("http://{}", self.gateway.desktop_address)).is_none()
            || !crate::config::parse_listen(&self.gateway.desktop_address)
                .is_some_and(|a| a.ip().is_loopback())
        {
            out.push((
                "gateway.desktop_address".into(),
                format!(
                    "`{}` is not a loopback IP:PORT",
                    self.gateway.desktop_address
                ),
            ));
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.gateway.max_request_bytes) {
            out.push((
                "gateway.max_request_bytes".into(),
                "must be between 1024 and 268435456".into(),
            ));
        }
        if self.cache.max_entries == 0 || self.cache.max_bytes < 1024 || self.cache.ttl_secs == 0 {
            out.push((
                "cache".into(),
                "ttl_secs and max_entries must be at least 1, max_bytes at least 1024".into(),
            ));
        }
        out
    }

    fn check_ref(&self, key: &str, reference: &str, out: &mut Vec<(String, String)>) {
        match split_ref(reference) {
            None => out.push((
                key.to_string(),
                format!("`{reference}` is not a `provider/model` reference"),
            )),
            Some((provider, _)) if !self.providers.contains_key(provider) => {
                let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
                out.push((
                    key.to_string(),
                    format!(
                        "`{reference}` names provider `{provider}`, which is not configured (providers: {})",
                        if known.is_empty() { "none".into() } else { known.join(", ") }
                    ),
                ));
            }
            Some(_) => {}
        }
    }
}

fn http_token(name: &str) -> Result<(), ()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok { Ok(()) } else { Err(()) }
}

fn check_resilience(
    prefix: &str,
    t: &TimeoutSettings,
    r: &RetrySettings,
    b: &BreakerSettings,
    l: &RateLimitSettings,
    out: &mut Vec<(String, String)>,
) {
    let ranges: [(&str, u64, u64, u64); 10] = [
        ("timeouts.connect_ms", t.connect_ms, 1, 600_000),
        ("timeouts.first_byte_ms", t.first_byte_ms, 1, 3_600_000),
        ("timeouts.idle_ms", t.idle_ms, 1, 3_600_000),
        ("timeouts.total_ms", t.total_ms, 1, 86_400_000),
        ("retry.max_attempts", u64::from(r.max_attempts), 1, 20),
        ("retry.base_delay_ms", r.base_delay_ms, 1, 600_000),
        ("retry.max_delay_ms", r.max_delay_ms, 1, 3_600_000),
        (
            "breaker.consecutive_failures",
            u64::from(b.consecutive_failures),
            1,
            10_000,
        ),
        ("breaker.window_secs", b.window_secs, 1, 86_400),
        ("breaker.open_secs", b.open_secs, 1, 86_400),
    ];
    for (key, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            out.push((
                format!("{prefix}.{key}"),
                format!("must be between {min} and {max}"),
            ));
        }
    }
    if !(b.failure_rate > 0.0 && b.failure_rate <= 1.0) {
        out.push((
            format!("{prefix}.breaker.failure_rate"),
            "must be above 0 and at most 1".into(),
        ));
    }
    if l.requests_per_minute == Some(0) || l.tokens_per_minute == Some(0) {
        out.push((
            format!("{prefix}.rate_limit"),
            "a limit of 0 would block every call: leave it out for no limit".into(),
        ));
    }
}

/// The settings of one provider/model as a call sees them from start to end.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub provider: String,
    pub model: String,
    pub config: ProviderConfig,
    pub context_tokens: Option<u32>,
    pub timeouts: TimeoutSettings,
    pub retry: RetrySettings,
    pub breaker: BreakerSettings,
    pub rate_limit: RateLimitSettings,
}

impl ProvidersView<'_> {
    /// The settings of `provider/model` (the model's overrides over its provider's).
    pub fn resolve(&self, provider: &str, model: &str) -> Option<Resolved> {
        let config = self.providers.get(provider)?.clone();
        let m = self
            .models
            .get(&format!("{provider}/{model}"))
            .cloned()
            .unwrap_or_default();
        Some(Resolved {
            provider: provider.to_string(),
            model: model.to_string(),
            context_tokens: m.context_tokens,
            timeouts: m.timeouts.unwrap_or(config.timeouts),
            retry: m.retry.unwrap_or(config.retry),
            breaker: m.breaker.unwrap_or(config.breaker),
            rate_limit: m.rate_limit.unwrap_or(config.rate_limit),
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_providers_are_local_unless_told() {
        let mut p: ProviderConfig =
            toml::from_str("kind = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"").unwrap();
        assert!(p.is_local());
        p.base_url = "http://[::1]:8080/v1".into();
        assert!(p.is_local());
        p.base_url = "http://localhost:8080".into();
        assert!(p.is_local());
        p.base_url = "https://api.openai.com/v1".into();
        assert!(!p.is_local());
        p.local = Some(true);
        assert!(p.is_local());
    }

    #[test]
    fn prices_read_exactly_from_numbers_and_strings() {
        let p: PriceConfig =
            toml::from_str("input = 0.15\noutput = \"0.6\"\nfrom = \"2026-01-01\"").unwrap();
        assert_eq!(p.input.to_string(), "0.15");
        assert_eq!(p.output.to_string(), "0.6");
        assert_eq!(p.from, chrono::NaiveDate::from_ymd_opt(2026, 1, 1));
        let e = toml::from_str::<PriceConfig>("input = -1\noutput = 1").unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }

    #[test]
    fn a_provider_named_anywhere_that_does_not_exist_is_an_error_naming_it() {
        let text = r#"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
key = "provider:openai"
[routes.default]
chain = ["openai/gpt-4.1-mini", "anthropc/claude-haiku-4-5", "gpt-4"]
[models."locl/llama3.2"]
context_tokens = 8192
[prices."ollama/llama3.2"]
input = 0
output = 0
"#;
        let e = crate::config::Config::from_toml_str(text, "flightdeck.toml").unwrap_err();
        let crate::config::ConfigError::Invalid { problems } = &e else {
            panic!("{e}")
        };
        let keys: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.reason.as_str()))
            .collect();
        let has =
            |key: &str, needle: &str| keys.iter().any(|(k, r)| *k == key && r.contains(needle));
        assert!(
            has(
                "routes.default.chain[1]",
                "provider `anthropc`, which is not configured (providers: openai)"
            ),
            "{keys:?}"
        );
        assert!(
            has("routes.default.chain[2]", "not a `provider/model`"),
            "{keys:?}"
        );
        assert!(has("models.\"locl/llama3.2\"", "`locl`"), "{keys:?}");
        assert!(has("prices.\"ollama/llama3.2\"", "`ollama`"), "{keys:?}");
        assert!(
            problems
                .iter()
                .all(|p| p.source.contains("flightdeck.toml")),
            "{problems:?}"
        );
        // Models need no declaration: a chain of known providers is valid as it is.
        let ok = text
            .replace(", \"anthropc/claude-haiku-4-5\", \"gpt-4\"", "")
            .replace("locl/", "openai/")
            .replace("ollama/", "openai/");
        crate::config::Config::from_toml_str(&ok, "flightdeck.toml").unwrap();
    }

    #[test]
    fn refs_split_at_the_first_slash() {
        assert_eq!(
            split_ref("openrouter/meta/llama-3"),
            Some(("openrouter", "meta/llama-3"))
        );
        assert_eq!(split_ref("gpt-4"), None);
        assert_eq!(split_ref("/x"), None);
    }
}
