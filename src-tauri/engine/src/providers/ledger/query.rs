//! Reading the ledger: filtered, newest first, paged by `seq`.
//!
//! Invariants: filters are bound parameters (never spliced into SQL); an unknown stored enum
//! or a damaged amount is an error, not a default.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CallOutcome, CallRecord, Hop, PriceSourceName, Protocol};
use crate::providers::neutral::Usage;
use crate::store::values::{money_from_db, time_from_db, time_to_db};
use crate::store::{Db, StoreError};

/// What to list; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallFilter {
    pub client: Option<String>,
    pub agent: Option<String>,
    /// Calls carrying this tag.
    pub tag: Option<String>,
    pub node_id: Option<String>,
    pub route: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub outcome: Option<CallOutcome>,
    pub task_id: Option<String>,
    pub cache_hit: Option<bool>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "seq, id, started_at, finished_at, client, agent, task_id, route, \
    requested_model, provider, model, node_id, protocol, stream, input_tokens, output_tokens, \
    cached_input_tokens, cache_write_tokens, reasoning_tokens, usage_estimated, cost, \
    price_source, latency_us, ttft_us, outcome, error_code, error_message, cache_hit, \
    saved_cost, hops, tags";

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, CallRecord)> {
    let hops: String = r.get(29)?;
    let hops: Vec<Hop> = serde_json::from_str(&hops).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(29, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let cost: Option<String> = r.get(20)?;
    let saved: Option<String> = r.get(28)?;
    let price_source: Option<String> = r.get(21)?;
    Ok((
        r.get(0)?,
        CallRecord {
            id: r.get(1)?,
            started_at: time_from_db(r.get(2)?)?,
            finished_at: r.get::<_, Option<i64>>(3)?.map(time_from_db).transpose()?,
            client: r.get(4)?,
            agent: r.get(5)?,
            task_id: r.get(6)?,
            route: r.get(7)?,
            requested_model: r.get(8)?,
            provider: r.get(9)?,
            model: r.get(10)?,
            node_id: r.get(11)?,
            protocol: parse_enum::<Protocol>(&r.get::<_, String>(12)?)?,
            stream: r.get(13)?,
            usage: Usage {
                input: u64_of(r.get(14)?),
                output: u64_of(r.get(15)?),
                cached_input: u64_of(r.get(16)?),
                cache_write: u64_of(r.get(17)?),
                reasoning: u64_of(r.get(18)?),
                estimated: r.get(19)?,
            },
            cost: cost.as_deref().map(money_from_db).transpose()?,
            price_source: price_source
                .as_deref()
                .map(parse_enum::<PriceSourceName>)
                .transpose()?,
            latency_us: u64_of(r.get(22)?),
            ttft_us: r.get::<_, Option<i64>>(23)?.map(u64_of),
            outcome: parse_enum::<CallOutcome>(&r.get::<_, String>(24)?)?,
            error_code: r.get(25)?,
            error_message: r.get(26)?,
            cache_hit: r.get(27)?,
            saved_cost: saved.as_deref().map(money_from_db).transpose()?,
            hops,
            tags: {
                let tags: String = r.get(30)?;
                serde_json::from_str(&tags).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        30,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?
            },
        },
    ))
}

pub(super) fn list(
    db: &Db<'_>,
    f: &CallFilter,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<(i64, CallRecord)>, StoreError> {
    list_ordered(db, f, after, limit, false)
}

/// `list`, oldest first when `ascending` (then `after` is the last `seq` already read).
pub(super) fn list_ordered(
    db: &Db<'_>,
    f: &CallFilter,
    after: Option<i64>,
    limit: u32,
    ascending: bool,
) -> Result<Vec<(i64, CallRecord)>, StoreError> {
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut text = |clause: &'static str, v: &Option<String>, args: &mut Vec<Value>| {
        if let Some(v) = v {
            clauses.push(clause);
            args.push(Value::Text(v.clone()));
        }
    };
    text("client = ?", &f.client, &mut args);
    text("agent = ?", &f.agent, &mut args);
    text(
        "EXISTS (SELECT 1 FROM json_each(calls.tags) WHERE json_each.value = ?)",
        &f.tag,
        &mut args,
    );
    text("node_id = ?", &f.node_id, &mut args);
    text("route = ?", &f.route, &mut args);
    text("provider = ?", &f.provider, &mut args);
    text("model = ?", &f.model, &mut args);
    text("task_id = ?", &f.task_id, &mut args);
    text(
        "outcome = ?",
        &f.outcome.map(|o| super::recorder::enum_name(&o)),
        &mut args,
    );
    if let Some(hit) = f.cache_hit {
        clauses.push("cache_hit = ?");
        args.push(Value::Integer(i64::from(hit)));
    }
    if let Some(since) = f.since {
        clauses.push("started_at >= ?");
        args.push(Value::Integer(time_to_db(since)));
    }
    if let Some(until) = f.until {
        clauses.push("started_at < ?");
        args.push(Value::Integer(time_to_db(until)));
    }
    if let Some(after) = after {
        clauses.push(if ascending { "seq > ?" } else { "seq < ?" });
        args.push(Value::Integer(after));
    }
    let mut sql = format!("SELECT {COLUMNS} FROM calls");
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(if ascending {
        " ORDER BY seq ASC LIMIT ?"
    } else {
        " ORDER BY seq DESC LIMIT ?"
    });
    args.push(Value::Integer(i64::from(limit)));
    db.query_all(&sql, rusqlite::params_from_iter(args), row)
}

pub(super) fn get(db: &Db<'_>, id: &str) -> Result<Option<CallRecord>, StoreError> {
    Ok(db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM calls WHERE id = ?1"),
            [id],
            row,
        )?
        .map(|(_, r)| r))
}

/// The value at quantile `q` of sorted `v` (nearest rank).
pub(crate) fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied()
}

/// cost, outcome, fell back, cache hit, input and output tokens, latency.
type TotalsRow = (Option<String>, String, bool, i64, i64, i64, i64);

/// The calls of `client` started at or after `since`, added up.
pub(super) fn totals(
    db: &Db<'_>,
    client: &str,
    since: DateTime<Utc>,
) -> Result<super::CallTotals, StoreError> {
    let rows: Vec<TotalsRow> = db.query_all(
        "SELECT cost, outcome, json_array_length(hops) > 1, cache_hit, input_tokens, \
           output_tokens, latency_us \
         FROM calls WHERE client = ?1 AND started_at >= ?2",
        rusqlite::params![client, time_to_db(since)],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        },
    )?;
    let mut t = super::CallTotals::default();
    let mut cost = rust_decimal::Decimal::ZERO;
    let mut latencies = Vec::new();
    for (c, outcome, fallback, hit, input, output, latency) in rows {
        t.calls += 1;
        let ok = outcome == "ok";
        if ok {
            t.ok += 1;
            latencies.push(latency as f64 / 1000.0);
        }
        t.fallbacks += u64::from(fallback);
        t.cache_hits += u64::from(hit == 1);
        t.input_tokens += u64::try_from(input).unwrap_or(0);
        t.output_tokens += u64::try_from(output).unwrap_or(0);
        match c {
            Some(text) => {
                cost += money_from_db(&text).map_err(|e| db.err(e))?;
            }
            None if ok => t.unpriced += 1,
            None => {}
        }
    }
    latencies.sort_by(f64::total_cmp);
    t.latency_p50_ms = quantile(&latencies, 0.5);
    t.latency_p95_ms = quantile(&latencies, 0.95);
    t.cost = cost.normalize().to_string();
    Ok(t)
}
