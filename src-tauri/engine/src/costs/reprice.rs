//! Price gaps and re-pricing.
//!
//! A price gap is a provider/model with ledger calls whose cost is unknown (no price in
//! force when they ran), listed with how many, when, and whether the price table has a
//! price for them now. Re-pricing recomputes the cost of the ledger rows in scope with the
//! prices in force now (at each call's own time) and, for every row whose cost changes,
//! writes a correction (`cost_corrections`: the previous cost and price source, the new
//! ones, who and why) in the same transaction as the row's new cost and its rollups
//! (taken out and put back), so the ledger, its rollups and the record of what changed
//! never disagree. Nothing is overwritten silently; a dry run shows what would change.
//!
//! Not re-priced: cache hits (they cost nothing; their saving stays as recorded) and calls
//! whose usage is unknown (cut off before any usage was recorded).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CostEvent, CostsError, rollup};
use crate::providers::neutral::Usage;
use crate::providers::prices::{PriceBook, PriceSource};
use crate::store::values::{money_from_db, money_to_db, time_from_db, time_to_db};

/// Rows corrected per write transaction.
const BATCH: usize = 1_000;
/// Corrections listed in a report at most (the counts cover all).
const LISTED: usize = 200;

/// A provider/model with calls of unknown cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceGap {
    pub provider: String,
    pub model: String,
    /// Calls of unknown cost.
    pub calls: u64,
    /// The UTC days of the first and last of them.
    pub first_day: DateTime<Utc>,
    pub last_day: DateTime<Utc>,
    /// Whether the price table has a price for it now (so re-pricing can fill the gap).
    pub priced_now: bool,
    /// A few of the calls (newest first), to look at.
    pub sample_call_ids: Vec<String>,
}

/// What to re-price.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepriceRequest {
    /// A provider's name (default: every provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A model as the ledger records it (default: every model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Calls started at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Calls started before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Only count and list what would change.
    #[serde(default)]
    pub dry_run: bool,
    /// Recorded with each correction (default "price table changed").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One ledger row's cost, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Correction {
    pub call_id: String,
    pub started_at: DateTime<Utc>,
    pub provider: String,
    pub model: String,
    /// `None`: it was unknown.
    #[schema(value_type = Option<String>)]
    pub old_cost: Option<Decimal>,
    #[schema(value_type = String)]
    pub new_cost: Decimal,
    pub old_price_source: Option<String>,
    pub new_price_source: String,
}

/// What a re-pricing did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RepriceReport {
    /// The corrections' batch id (none on a dry run or when nothing changed).
    pub batch: Option<String>,
    pub dry_run: bool,
    /// Ledger rows in scope that could be priced.
    pub examined: u64,
    /// Rows whose cost changed.
    pub corrected: u64,
    /// Of them, rows whose cost was unknown.
    pub filled: u64,
    /// Rows in scope still without a price.
    pub still_unpriced: u64,
    /// New minus old over the corrected rows (unknown counted as 0).
    #[schema(value_type = String)]
    pub delta: Decimal,
    /// The first corrections (at most 200).
    pub corrections: Vec<Correction>,
}

fn source_str(s: PriceSource) -> &'static str {
    match s {
        PriceSource::Config => "config",
        PriceSource::Shipped => "shipped",
        PriceSource::Local => "local",
    }
}

impl super::Costs {
    /// Provider/models with calls of unknown cost, most calls first.
    pub async fn price_gaps(&self) -> Result<Vec<PriceGap>, CostsError> {
        let config = self.config.current();
        let rows = self
            .store
            .read(|db| {
                let groups = db.query_all(
                    "SELECT provider, model, SUM(unknown_cost_calls), MIN(bucket), MAX(bucket) \
                     FROM cost_daily WHERE unknown_cost_calls > 0 GROUP BY provider, model \
                     ORDER BY 3 DESC, 1, 2 LIMIT 500",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            time_from_db(r.get(3)?)?,
                            time_from_db(r.get(4)?)?,
                        ))
                    },
                )?;
                let mut out = Vec::with_capacity(groups.len());
                for (provider, model, calls, first, last) in groups {
                    let sample = db.query_all(
                        &format!(
                            "SELECT id FROM calls WHERE COALESCE(provider, '') = ?1 \
                             AND COALESCE(model, '') = ?2 AND {} ORDER BY seq DESC LIMIT 5",
                            rollup::UNKNOWN_COST
                        ),
                        [&provider, &model],
                        |r| r.get::<_, String>(0),
                    )?;
                    out.push((provider, model, calls, first, last, sample));
                }
                Ok::<_, CostsError>(out)
            })
            .await?;
        let book = PriceBook::new(&config.providers_view());
        Ok(rows
            .into_iter()
            .map(|(provider, model, calls, first, last, sample)| {
                let priced_now = config.providers.get(&provider).is_some_and(|p| {
                    book.price(&provider, p, &model, last + chrono::Duration::days(1))
                        .is_some()
                });
                PriceGap {
                    provider,
                    model,
                    calls: u64::try_from(calls).unwrap_or(0),
                    first_day: first,
                    last_day: last,
                    priced_now,
                    sample_call_ids: sample,
                }
            })
            .collect())
    }

    /// Recomputes the cost of the ledger rows in scope with the prices in force now; each
    /// change is a correction (see the module doc).
    pub async fn reprice(
        &self,
        req: &RepriceRequest,
        actor: &str,
    ) -> Result<RepriceReport, CostsError> {
        if let (Some(f), Some(u)) = (req.from, req.until)
            && u <= f
        {
            return Err(CostsError::BadRequest("until must be after from".into()));
        }
        let reason = req
            .reason
            .clone()
            .unwrap_or_else(|| "price table changed".into());
        if reason.trim().is_empty() || reason.len() > 500 {
            return Err(CostsError::BadRequest(
                "reason is 1 to 500 characters".into(),
            ));
        }
        let config = self.config.current();
        if let Some(p) = &req.provider
            && !config.providers.contains_key(p)
        {
            return Err(CostsError::NotFound(format!(
                "`{p}` is not a configured provider"
            )));
        }
        let book = PriceBook::new(&config.providers_view());
        let (provider, model) = (req.provider.clone(), req.model.clone());
        let (from, until) = (req.from.map(time_to_db), req.until.map(time_to_db));
        type Candidate = (
            String,
            i64,
            String,
            String,
            Usage,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Candidate> = self
            .store
            .read(move |db| {
                db.query_all(
                    "SELECT id, started_at, provider, model, input_tokens, output_tokens, \
                     cached_input_tokens, cache_write_tokens, reasoning_tokens, cost, \
                     price_source FROM calls WHERE cache_hit = 0 AND provider IS NOT NULL \
                     AND model IS NOT NULL AND (cost IS NOT NULL OR input_tokens + \
                     output_tokens + cached_input_tokens + cache_write_tokens + \
                     reasoning_tokens > 0) AND (?1 IS NULL OR provider = ?1) \
                     AND (?2 IS NULL OR model = ?2) AND (?3 IS NULL OR started_at >= ?3) \
                     AND (?4 IS NULL OR started_at < ?4) ORDER BY seq",
                    rusqlite::params![provider, model, from, until],
                    |r| {
                        let n = |i: usize| -> rusqlite::Result<u64> {
                            Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0))
                        };
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            Usage {
                                input: n(4)?,
                                output: n(5)?,
                                cached_input: n(6)?,
                                cache_write: n(7)?,
                                reasoning: n(8)?,
                                estimated: false,
                            },
                            r.get(9)?,
                            r.get(10)?,
                        ))
                    },
                )
            })
            .await?;
        let mut report = RepriceReport {
            batch: None,
            dry_run: req.dry_run,
            examined: 0,
            corrected: 0,
            filled: 0,
            still_unpriced: 0,
            delta: Decimal::ZERO,
            corrections: Vec::new(),
        };
        let mut changes: Vec<Correction> = Vec::new();
        for (id, started, provider, model, usage, cost, source) in rows {
            let at = time_from_db(started).map_err(|e| {
                CostsError::BadRequest(format!("call {id} has a bad start time: {e}"))
            })?;
            let old = cost
                .as_deref()
                .map(money_from_db)
                .transpose()
                .map_err(|e| CostsError::BadRequest(format!("call {id}: {e}")))?;
            let price = config
                .providers
                .get(&provider)
                .and_then(|p| book.price(&provider, p, &model, at));
            let Some(price) = price else {
                report.still_unpriced += u64::from(old.is_none());
                continue;
            };
            report.examined += 1;
            let new = price.cost(&usage);
            if old == Some(new) {
                continue;
            }
            report.corrected += 1;
            report.filled += u64::from(old.is_none());
            report.delta += new - old.unwrap_or(Decimal::ZERO);
            changes.push(Correction {
                call_id: id,
                started_at: at,
                provider,
                model,
                old_cost: old,
                new_cost: new,
                old_price_source: source,
                new_price_source: source_str(price.source).to_string(),
            });
        }
        report.delta = report.delta.normalize();
        if !req.dry_run && !changes.is_empty() {
            let batch = crate::approvals::store::new_id("rpr");
            let mut written = 0u64;
            let mut delta = Decimal::ZERO;
            for chunk in changes.chunks(BATCH) {
                let chunk = chunk.to_vec();
                let (b, who, why) = (batch.clone(), actor.to_string(), reason.clone());
                let (n, d) = self
                    .store
                    .write(move |tx| {
                        let now = time_to_db(tx.now());
                        let mut n = 0u64;
                        let mut d = Decimal::ZERO;
                        for c in &chunk {
                            rollup::unapply(tx, &c.call_id)?;
                            let changed = tx.execute(
                                "UPDATE calls SET cost = ?2, price_source = ?3 WHERE id = ?1 \
                                 AND cost IS ?4",
                                rusqlite::params![
                                    c.call_id,
                                    money_to_db(c.new_cost),
                                    c.new_price_source,
                                    c.old_cost.map(money_to_db),
                                ],
                            )?;
                            rollup::apply(tx, &c.call_id)?;
                            if changed == 0 {
                                // Changed since it was read: left as it is.
                                continue;
                            }
                            tx.execute(
                                "INSERT INTO cost_corrections (call_id, batch, at, actor, \
                                 old_cost, new_cost, old_price_source, new_price_source, \
                                 reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                rusqlite::params![
                                    c.call_id,
                                    b,
                                    now,
                                    who,
                                    c.old_cost.map(money_to_db),
                                    money_to_db(c.new_cost),
                                    c.old_price_source,
                                    c.new_price_source,
                                    why,
                                ],
                            )?;
                            n += 1;
                            d += c.new_cost - c.old_cost.unwrap_or(Decimal::ZERO);
                        }
                        tx.append_event(crate::events::Event::Costs(CostEvent::Repriced {
                            batch: b.clone(),
                            corrected: n,
                            delta: d.normalize(),
                        }))?;
                        Ok::<_, CostsError>((n, d))
                    })
                    .await?;
                written += n;
                delta += d;
            }
            report.batch = Some(batch);
            report.corrected = written;
            report.delta = delta.normalize();
            if let Some(g) = &self.gate {
                g.refresh().await?;
            }
        }
        changes.truncate(LISTED);
        report.corrections = changes;
        Ok(report)
    }

    /// The corrections recorded for one call, oldest first.
    pub async fn corrections(&self, call_id: &str) -> Result<Vec<Correction>, CostsError> {
        let id = call_id.to_string();
        Ok(self
            .store
            .read(move |db| {
                db.query_all(
                    "SELECT k.call_id, c.started_at, COALESCE(c.provider, ''), \
                     COALESCE(c.model, ''), k.old_cost, k.new_cost, k.old_price_source, \
                     k.new_price_source FROM cost_corrections k JOIN calls c ON c.id = k.call_id \
                     WHERE k.call_id = ?1 ORDER BY k.seq",
                    [&id],
                    |r| {
                        Ok(Correction {
                            call_id: r.get(0)?,
                            started_at: time_from_db(r.get(1)?)?,
                            provider: r.get(2)?,
                            model: r.get(3)?,
                            old_cost: r
                                .get::<_, Option<String>>(4)?
                                .as_deref()
                                .map(money_from_db)
                                .transpose()?,
                            new_cost: money_from_db(&r.get::<_, String>(5)?)?,
                            old_price_source: r.get(6)?,
                            new_price_source: r.get(7)?,
                        })
                    },
                )
            })
            .await?)
    }
}
