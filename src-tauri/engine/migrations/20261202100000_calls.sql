-- The usage ledger (engine module `providers::ledger`): one row per LLM call, gateway or agent.
-- Written by the ledger's recorder off the latency path; a call in flight at a crash is
-- recovered from the journal (ledger-journal/) as outcome 'unrecorded'. Kept forever.
CREATE TABLE calls (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    started_at      INTEGER NOT NULL,                     -- ms since the epoch, UTC
    finished_at     INTEGER,
    client          TEXT NOT NULL,                        -- token:<name>, agent:<name>, desktop:<user>
    agent           TEXT,
    task_id         TEXT,
    route           TEXT,
    requested_model TEXT NOT NULL,
    provider        TEXT,                                 -- the hop that answered (or was tried last)
    model           TEXT,
    node_id         TEXT NOT NULL,
    protocol        TEXT NOT NULL CHECK (protocol IN ('openai', 'anthropic', 'internal')),
    stream          INTEGER NOT NULL CHECK (stream IN (0, 1)),
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    usage_estimated INTEGER NOT NULL CHECK (usage_estimated IN (0, 1)),
    cost            TEXT,                                 -- Decimal USD; NULL = unknown
    price_source    TEXT CHECK (price_source IN ('config', 'shipped', 'local')),
    latency_us      INTEGER NOT NULL,
    ttft_us         INTEGER,
    outcome         TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled', 'unrecorded')),
    error_code      TEXT,
    error_message   TEXT,
    cache_hit       INTEGER NOT NULL CHECK (cache_hit IN (0, 1)),
    saved_cost      TEXT,
    hops            TEXT NOT NULL CHECK (json_valid(hops))
) STRICT;
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_client ON calls (client, seq);
CREATE INDEX calls_model ON calls (provider, model, seq);
CREATE INDEX calls_route ON calls (route, seq);

INSERT INTO event_topics (name) VALUES ('calls'), ('providers');
