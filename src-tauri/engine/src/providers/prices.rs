//! Prices: the shipped table (`assets/prices.toml`, with its source and date) under the
//! config's `[prices]`, on a timeline per model, and the cost of a call's [`Usage`].
//!
//! Rules, in order, for provider `P`, model `M` at time `t`:
//! 1. Of the config's prices for `P/M` and the shipped ones for `V/M` (where `V` is the
//!    vendor whose API host `P`'s `base_url` points at), the one with the latest `from` not
//!    after `t` (the config's wins a tie). A dated snapshot (`claude-haiku-4-5-20251001`)
//!    uses the prices of the longest listed name it extends with `-` and digits (a
//!    different model such as `gpt-4o-mini` never takes `gpt-4o`'s).
//! 2. None, and `P` is local (loopback or `local = true`): zero, known.
//! 3. Otherwise the cost is **unknown** (`None`), never zero.
//!
//! Invariants: money is `Decimal` end to end; cost = Σ tokens × price / 1,000,000, exact.
//! Must never: round, or use floating point.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::neutral::Usage;
use super::settings::{PriceConfig, ProviderConfig, ProvidersView};

const SHIPPED: &str = include_str!("../../../../assets/prices.toml");

/// The shipped table's own date (when its prices were read off the vendors' pages).
pub fn shipped_source_date() -> String {
    shipped().map(|t| t.source_date).unwrap_or_default()
}

#[derive(Deserialize)]
struct ShippedTable {
    source_date: String,
    prices: Vec<ShippedPrice>,
}

#[derive(Deserialize)]
struct ShippedPrice {
    model: String,
    #[serde(flatten)]
    price: PriceConfig,
}

fn shipped() -> Option<ShippedTable> {
    toml::from_str(SHIPPED).ok()
}

/// Where a price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    Config,
    Shipped,
    /// A local model without a configured price.
    Local,
}

/// The price in force for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub input: Decimal,
    pub output: Decimal,
    pub cached_input: Decimal,
    pub cache_write: Decimal,
    pub reasoning: Decimal,
    pub source: PriceSource,
}

impl Price {
    fn of(p: &PriceConfig, source: PriceSource) -> Self {
        Self {
            input: p.input,
            output: p.output,
            cached_input: p.cached_input.unwrap_or(p.input),
            cache_write: p.cache_write.unwrap_or(p.input),
            reasoning: p.reasoning.unwrap_or(p.output),
            source,
        }
    }

    /// The cost of `usage` in USD, exact.
    pub fn cost(&self, usage: &Usage) -> Decimal {
        let million = Decimal::from(1_000_000u32);
        let sum = Decimal::from(usage.input) * self.input
            + Decimal::from(usage.output) * self.output
            + Decimal::from(usage.cached_input) * self.cached_input
            + Decimal::from(usage.cache_write) * self.cache_write
            + Decimal::from(usage.reasoning) * self.reasoning;
        (sum / million).normalize()
    }
}

/// Every price known: the shipped table (parsed once) and the config's, by reference.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    shipped: BTreeMap<String, Vec<PriceConfig>>,
    configured: BTreeMap<String, Vec<PriceConfig>>,
}

/// The vendor whose shipped prices a provider gets: by its API host.
fn vendor(provider: &ProviderConfig) -> Option<&'static str> {
    let host = provider
        .base_url
        .split("://")
        .nth(1)?
        .split(['/', ':', '?'])
        .next()?
        .to_ascii_lowercase();
    match host.as_str() {
        "api.openai.com" => Some("openai"),
        "api.anthropic.com" => Some("anthropic"),
        _ => None,
    }
}

impl PriceBook {
    /// The shipped table with the config's prices over it.
    pub fn new(view: &ProvidersView<'_>) -> Self {
        let mut shipped_map: BTreeMap<String, Vec<PriceConfig>> = BTreeMap::new();
        if let Some(table) = shipped() {
            for p in table.prices {
                shipped_map.entry(p.model).or_default().push(p.price);
            }
        }
        let configured = view
            .prices
            .iter()
            .map(|(k, v)| (k.clone(), v.prices().to_vec()))
            .collect();
        Self {
            shipped: shipped_map,
            configured,
        }
    }

    /// The price of `provider/model` at `at`, or `None` when it is unknown.
    pub fn price(
        &self,
        provider_name: &str,
        provider: &ProviderConfig,
        model: &str,
        at: DateTime<Utc>,
    ) -> Option<Price> {
        let day = at.date_naive();
        let configured = lookup(&self.configured, provider_name, model)
            .into_iter()
            .flatten()
            .map(|p| (p, 1u8, PriceSource::Config));
        let shipped = vendor(provider)
            .and_then(|v| lookup(&self.shipped, v, model))
            .into_iter()
            .flatten()
            .map(|p| (p, 0u8, PriceSource::Shipped));
        let best = configured
            .chain(shipped)
            .filter(|(p, _, _)| p.from.is_none_or(|f| f <= day))
            .max_by_key(|(p, rank, _)| (p.from, *rank))
            .map(|(p, _, source)| (p, source));
        if let Some((p, source)) = best {
            return Some(Price::of(p, source));
        }
        provider.is_local().then_some(Price {
            input: Decimal::ZERO,
            output: Decimal::ZERO,
            cached_input: Decimal::ZERO,
            cache_write: Decimal::ZERO,
            reasoning: Decimal::ZERO,
            source: PriceSource::Local,
        })
    }
}

/// `prefix/model`, else the longest listed `prefix/name` that `model` extends with `-`.
fn lookup<'a>(
    map: &'a BTreeMap<String, Vec<PriceConfig>>,
    prefix: &str,
    model: &str,
) -> Option<&'a Vec<PriceConfig>> {
    let exact = format!("{prefix}/{model}");
    if let Some(v) = map.get(&exact) {
        return Some(v);
    }
    map.iter()
        .filter(|(k, _)| {
            k.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|name| {
                    model.strip_prefix(name).is_some_and(|rest| {
                        // A snapshot suffix (`-2024-08-06`, `-20251001`, `-0125`), not
                        // another model (`gpt-4o-mini` is not `gpt-4o`).
                        rest.len() > 1
                            && rest.starts_with('-')
                            && rest[1..].chars().all(|c| c.is_ascii_digit() || c == '-')
                    })
                })
        })
        .max_by_key(|(k, _)| k.len())
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use chrono::NaiveDate;

    fn config(toml_text: &str) -> Config {
        let c: Config = toml::from_str(toml_text).unwrap();
        c.validate(None).unwrap();
        c
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const BASE: &str = r#"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"
[providers.remote]
kind = "openai"
base_url = "https://llm.example.com/v1"
"#;

    #[test]
    fn the_shipped_table_parses_and_names_its_date() {
        let t = shipped().unwrap();
        assert!(!t.prices.is_empty());
        assert!(NaiveDate::parse_from_str(&shipped_source_date(), "%Y-%m-%d").is_ok());
    }

    #[test]
    fn cost_is_exact_for_every_token_kind() {
        let c = config(&format!(
            "{BASE}\n[prices.\"remote/m\"]\ninput = 0.15\noutput = 0.6\ncached_input = 0.075\ncache_write = 0.3\nreasoning = 1.2\n"
        ));
        let book = PriceBook::new(&c.providers_view());
        let p = book
            .price(
                "remote",
                &c.providers["remote"],
                "m",
                at("2026-12-01T00:00:00Z"),
            )
            .unwrap();
        let usage = Usage {
            input: 1_000_001,
            output: 3,
            cached_input: 7,
            cache_write: 11,
            reasoning: 13,
            estimated: false,
        };
        // 1000001*0.15 + 3*0.6 + 7*0.075 + 11*0.3 + 13*1.2 = 150000.15+1.8+0.525+3.3+15.6
        assert_eq!(p.cost(&usage).to_string(), "0.150021375");
    }

    #[test]
    fn timeline_config_over_shipped_local_zero_unknown_none() {
        let c = config(&format!(
            "{BASE}\n[[prices.\"openai/gpt-4.1-mini\"]]\ninput = 1\noutput = 2\nfrom = \"2026-06-01\"\n"
        ));
        let book = PriceBook::new(&c.providers_view());
        let openai = &c.providers["openai"];
        let before = book
            .price("openai", openai, "gpt-4.1-mini", at("2026-05-31T23:59:59Z"))
            .unwrap();
        assert_eq!(
            (before.input.to_string(), before.source),
            ("0.4".into(), PriceSource::Shipped)
        );
        let after = book
            .price("openai", openai, "gpt-4.1-mini", at("2026-06-01T00:00:00Z"))
            .unwrap();
        assert_eq!(
            (after.input.to_string(), after.source),
            ("1".into(), PriceSource::Config)
        );
        // A dated snapshot takes its family's price.
        let snap = book
            .price(
                "openai",
                openai,
                "gpt-4.1-mini-2025-04-14",
                at("2026-01-01T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(snap.output.to_string(), "1.6");
        let local = book
            .price(
                "local",
                &c.providers["local"],
                "llama3.2",
                at("2026-01-01T00:00:00Z"),
            )
            .unwrap();
        assert_eq!(
            (
                local.cost(&Usage {
                    input: 5,
                    ..Usage::default()
                }),
                local.source
            ),
            (Decimal::ZERO, PriceSource::Local)
        );
        assert!(
            book.price(
                "remote",
                &c.providers["remote"],
                "x",
                at("2026-01-01T00:00:00Z")
            )
            .is_none()
        );
        // Shipped prices are the vendor's: another host does not get them.
        assert!(
            book.price(
                "remote",
                &c.providers["remote"],
                "gpt-4.1-mini",
                at("2026-01-01T00:00:00Z")
            )
            .is_none()
        );
    }
}
