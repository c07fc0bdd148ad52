//! The rollups: `cost_hourly` / `cost_daily` (and `cost_tag_*`, one row per tag of a call,
//! and `cost_by_tag_*`, by tag alone for breakdowns by tag) hold the ledger added up by UTC
//! hour and day and by client, agent, route, provider,
//! model and node. They are kept in the same transaction as each `calls` row
//! ([`apply`], called by the ledger's recorder only for a row it really inserted), so they
//! can never disagree with the ledger, and are rebuilt from `calls` once ([`backfill`]) for
//! a ledger that predates them.
//!
//! There is one definition of what a call adds ([`MEASURES`], SQL over `calls`): the
//! incremental path, the backfill and the raw scans of the queries all use it.
//! Invariants: money is added with `dec_add`/`dec_sum` (exact Decimal), never `SUM`.

use crate::store::{Store, StoreError, WriteTx};

/// The key columns as computed from a `calls` row (NULL → '').
pub(crate) const KEY_EXPR: &str = "client, COALESCE(agent, ''), COALESCE(route, ''), \
    COALESCE(provider, ''), COALESCE(model, ''), node_id";

/// Whether a call without a cost was billed (so its cost is unknown, not zero): it answered,
/// used tokens, was cut off mid-answer, or the node stopped while it ran.
pub(crate) const UNKNOWN_COST: &str = "(cost IS NULL AND (outcome IN ('ok', 'unrecorded') \
    OR input_tokens + output_tokens + cached_input_tokens + cache_write_tokens + reasoning_tokens > 0 \
    OR (outcome = 'cancelled' AND EXISTS (SELECT 1 FROM json_each(calls.hops) AS h \
        WHERE json_extract(h.value, '$.outcome') = 'ok'))))";

/// What a group of `calls` rows adds up to, in the rollups' measure column order: each an
/// SQL aggregate over `calls`, and whether it is money (`dec_sum`) or a count.
fn measure_exprs() -> [(String, bool); 16] {
    let count = |e: &str| (e.to_string(), false);
    let money = |e: &str| (e.to_string(), true);
    [
        count("COUNT(*)"),
        count("SUM(outcome = 'ok')"),
        count("SUM(outcome = 'error')"),
        count("SUM(outcome = 'cancelled')"),
        count("SUM(outcome = 'unrecorded')"),
        count("SUM(input_tokens)"),
        count("SUM(output_tokens)"),
        count("SUM(cached_input_tokens)"),
        count("SUM(cache_write_tokens)"),
        count("SUM(reasoning_tokens)"),
        money("dec_sum(cost)"),
        count(&format!("SUM({UNKNOWN_COST})")),
        count("SUM(usage_estimated)"),
        money("dec_sum(CASE WHEN usage_estimated = 1 THEN cost END)"),
        count("SUM(cache_hit)"),
        money("dec_sum(saved_cost)"),
    ]
}

/// The measures of a group of `calls` rows, or their negation (to take rows out).
fn signed_measures(negate: bool) -> String {
    measure_exprs()
        .into_iter()
        .map(|(e, money)| match (negate, money) {
            (false, _) => e,
            (true, false) => format!("-({e})"),
            (true, true) => format!("dec_neg({e})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a group of `calls` rows adds up to, in the rollups' measure column order.
pub(crate) fn measures() -> String {
    signed_measures(false)
}

/// The rollups' measure columns.
pub(crate) const MEASURE_COLUMNS: &str = "calls, ok, errors, cancelled, unrecorded, \
    input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, \
    cost, unknown_cost_calls, estimated_calls, estimated_cost, cache_hits, saved_cost";

/// The same measures read back from rollup rows.
pub(crate) const ROLLUP_MEASURES: &str = "SUM(calls), SUM(ok), SUM(errors), SUM(cancelled), \
    SUM(unrecorded), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens), \
    SUM(cache_write_tokens), SUM(reasoning_tokens), dec_sum(cost), SUM(unknown_cost_calls), \
    SUM(estimated_calls), dec_sum(estimated_cost), SUM(cache_hits), dec_sum(saved_cost)";

const UPSERT: &str = "ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, \
    ok = ok + excluded.ok, errors = errors + excluded.errors, \
    cancelled = cancelled + excluded.cancelled, unrecorded = unrecorded + excluded.unrecorded, \
    input_tokens = input_tokens + excluded.input_tokens, \
    output_tokens = output_tokens + excluded.output_tokens, \
    cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, \
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, \
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
    cost = dec_add(cost, excluded.cost), \
    unknown_cost_calls = unknown_cost_calls + excluded.unknown_cost_calls, \
    estimated_calls = estimated_calls + excluded.estimated_calls, \
    estimated_cost = dec_add(estimated_cost, excluded.estimated_cost), \
    cache_hits = cache_hits + excluded.cache_hits, \
    saved_cost = dec_add(saved_cost, excluded.saved_cost)";

/// The six statements that add the calls selected by `filter` (SQL over `calls`) to the
/// rollups (or, with `negate`, take them out).
fn statements(filter: &str, negate: bool) -> [String; 6] {
    let m = signed_measures(negate);
    let plain = |table: &str, unit: i64| {
        format!(
            "INSERT INTO {table} (bucket, client, agent, route, provider, model, node_id, \
             {MEASURE_COLUMNS}) SELECT (started_at / {unit}) * {unit}, {KEY_EXPR}, {m} \
             FROM calls WHERE {filter} GROUP BY 1, 2, 3, 4, 5, 6, 7 {UPSERT}"
        )
    };
    let tagged = |table: &str, unit: i64| {
        format!(
            "INSERT INTO {table} (bucket, tag, client, agent, route, provider, model, node_id, \
             {MEASURE_COLUMNS}) SELECT (started_at / {unit}) * {unit}, t.value, {KEY_EXPR}, {m} \
             FROM calls, json_each(calls.tags) AS t WHERE {filter} \
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 {UPSERT}"
        )
    };
    let by_tag = |table: &str, unit: i64| {
        format!(
            "INSERT INTO {table} (bucket, tag, {MEASURE_COLUMNS}) \
             SELECT (started_at / {unit}) * {unit}, t.value, {m} \
             FROM calls, json_each(calls.tags) AS t WHERE {filter} GROUP BY 1, 2 {UPSERT}"
        )
    };
    use super::segments::{DAY, HOUR};
    [
        plain("cost_hourly", HOUR),
        plain("cost_daily", DAY),
        tagged("cost_tag_hourly", HOUR),
        tagged("cost_tag_daily", DAY),
        by_tag("cost_by_tag_hourly", HOUR),
        by_tag("cost_by_tag_daily", DAY),
    ]
}

/// Every rollup table.
pub(crate) const TABLES: [&str; 6] = [
    "cost_hourly",
    "cost_daily",
    "cost_tag_hourly",
    "cost_tag_daily",
    "cost_by_tag_hourly",
    "cost_by_tag_daily",
];

thread_local! {
    static BY_ID: [String; 6] = statements("calls.id = ?1", false);
    static BY_ID_OUT: [String; 6] = statements("calls.id = ?1", true);
}

/// Takes the call `id` out of the rollups (before its row changes; [`apply`] puts it back
/// as it is after).
pub(crate) fn unapply(tx: &mut WriteTx<'_>, id: &str) -> Result<(), StoreError> {
    BY_ID_OUT.with(|stmts| {
        for sql in stmts {
            tx.execute(sql, [id])?;
        }
        Ok(())
    })
}

/// Adds the call `id` (just inserted into `calls`) to the rollups.
pub(crate) fn apply(tx: &mut WriteTx<'_>, id: &str) -> Result<(), StoreError> {
    BY_ID.with(|stmts| {
        for sql in stmts {
            tx.execute(sql, [id])?;
        }
        Ok(())
    })
}

/// v2: `cost_by_tag_*` joined (a ledger rolled up by v1 is rolled up again, whole).
const BACKFILLED: &str = "costs.rollups.v2";

/// Builds the rollups from `calls` the first time a ledger opens with them (one
/// transaction; does nothing afterwards).
pub async fn backfill(store: &Store) -> Result<u64, StoreError> {
    store
        .write(|tx| {
            let done: Option<String> =
                tx.query_opt("SELECT value FROM meta WHERE key = ?1", [BACKFILLED], |r| {
                    r.get(0)
                })?;
            if done.is_some() {
                return Ok(0);
            }
            for table in TABLES {
                tx.execute(&format!("DELETE FROM {table}"), [])?;
            }
            let calls: i64 = tx.query_one("SELECT COUNT(*) FROM calls", [], |r| r.get(0))?;
            for sql in statements("true", false) {
                tx.execute(&sql, [])?;
            }
            let now = crate::store::values::time_to_db(tx.now());
            tx.execute(
                "INSERT INTO meta (key, value, updated_at) VALUES (?1, ?2, ?3)",
                rusqlite::params![BACKFILLED, calls.to_string(), now],
            )?;
            Ok(u64::try_from(calls).unwrap_or(0))
        })
        .await
}
