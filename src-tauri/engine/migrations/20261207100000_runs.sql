-- Multi-agent runs (engine module `orchestrator::runs`): a run is a small DAG of steps, each
-- step one task of the durable queue. A step's task is created in the same transaction that
-- settles the last step it needs, so a crash between two steps loses nothing and starts
-- nothing twice (`run_steps.task_id` links each step to its one task).
CREATE TABLE runs (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    name            TEXT,                                 -- the `[runs.<name>]` it came from
    spec            TEXT NOT NULL CHECK (json_valid(spec)),  -- as validated, agents resolved
    input           TEXT NOT NULL CHECK (json_valid(input)),
    state           TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    result          TEXT CHECK (result IS NULL OR json_valid(result)),
    disagreements   TEXT CHECK (disagreements IS NULL OR json_valid(disagreements)),
    decided_by      TEXT CHECK (decided_by IS NULL OR json_valid(decided_by)),  -- steps whose answers made the result
    error_code      TEXT,
    error_message   TEXT,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;
CREATE INDEX runs_state ON runs (state, seq);

CREATE TABLE run_steps (
    run_id          TEXT NOT NULL REFERENCES runs (id),
    step            TEXT NOT NULL,
    position        INTEGER NOT NULL,                     -- order in the definition
    agent           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
                        'skipped', 'cancelled')),
    task_id         TEXT UNIQUE REFERENCES tasks (id),   -- NULL: not started (or started again)
    error_code      TEXT,                                 -- why it could not start
    error_message   TEXT,
    PRIMARY KEY (run_id, step)
) STRICT;

INSERT INTO event_topics (name) VALUES ('runs');
