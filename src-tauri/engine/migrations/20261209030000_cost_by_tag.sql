-- Rollups by tag alone (engine module `costs`, src/costs/rollup.rs): the measures of
-- cost_tag_hourly / cost_tag_daily added up over every other dimension, so a breakdown by
-- tag with no other filter reads a few rows per hour instead of one per key combination.
-- Kept in the same transaction as each ledger row; filled from `calls` by the rollups'
-- backfill (meta key costs.rollups.v2).
CREATE TABLE cost_by_tag_hourly (
    bucket              INTEGER NOT NULL,
    tag                 TEXT NOT NULL,
    calls               INTEGER NOT NULL,
    ok                  INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    cancelled           INTEGER NOT NULL,
    unrecorded          INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost                TEXT NOT NULL,                    -- over the calls whose cost is known
    unknown_cost_calls  INTEGER NOT NULL,                 -- billed calls without a price: never $0
    estimated_calls     INTEGER NOT NULL,                 -- usage estimated, not reported
    estimated_cost      TEXT NOT NULL,
    cache_hits          INTEGER NOT NULL,
    saved_cost          TEXT NOT NULL,
    PRIMARY KEY (bucket, tag)
) STRICT, WITHOUT ROWID;
CREATE TABLE cost_by_tag_daily (
    bucket              INTEGER NOT NULL,
    tag                 TEXT NOT NULL,
    calls               INTEGER NOT NULL,
    ok                  INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    cancelled           INTEGER NOT NULL,
    unrecorded          INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost                TEXT NOT NULL,                    -- over the calls whose cost is known
    unknown_cost_calls  INTEGER NOT NULL,                 -- billed calls without a price: never $0
    estimated_calls     INTEGER NOT NULL,                 -- usage estimated, not reported
    estimated_cost      TEXT NOT NULL,
    cache_hits          INTEGER NOT NULL,
    saved_cost          TEXT NOT NULL,
    PRIMARY KEY (bucket, tag)
) STRICT, WITHOUT ROWID;
