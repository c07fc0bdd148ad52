-- Costs (engine module `costs`): the ledger's tags, and rollups of the ledger kept in the same
-- transaction as each `calls` row (see src/costs/rollup.rs). Buckets are UTC hours and UTC
-- days (ms since the epoch of their start); a period in another time zone is read as whole
-- days, whole hours and a raw scan of `calls` for what is left (src/costs/segments.rs).
-- Money is Decimal TEXT added with the `dec_add` function the store registers (never REAL).
-- Dimension columns hold '' for "none" so they can be part of the key.
ALTER TABLE calls ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));
CREATE INDEX calls_task ON calls (task_id) WHERE task_id IS NOT NULL;

CREATE TABLE cost_hourly (
    bucket              INTEGER NOT NULL,
    client              TEXT NOT NULL,
    agent               TEXT NOT NULL,
    route               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    node_id             TEXT NOT NULL,
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
    PRIMARY KEY (bucket, client, agent, route, provider, model, node_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE cost_daily (
    bucket              INTEGER NOT NULL,
    client              TEXT NOT NULL,
    agent               TEXT NOT NULL,
    route               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    node_id             TEXT NOT NULL,
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
    PRIMARY KEY (bucket, client, agent, route, provider, model, node_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE cost_tag_hourly (
    bucket              INTEGER NOT NULL,
    tag                 TEXT NOT NULL,
    client              TEXT NOT NULL,
    agent               TEXT NOT NULL,
    route               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    node_id             TEXT NOT NULL,
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
    PRIMARY KEY (bucket, tag, client, agent, route, provider, model, node_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE cost_tag_daily (
    bucket              INTEGER NOT NULL,
    tag                 TEXT NOT NULL,
    client              TEXT NOT NULL,
    agent               TEXT NOT NULL,
    route               TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    node_id             TEXT NOT NULL,
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
    PRIMARY KEY (bucket, tag, client, agent, route, provider, model, node_id)
) STRICT, WITHOUT ROWID;

INSERT INTO event_topics (name) VALUES ('costs');
