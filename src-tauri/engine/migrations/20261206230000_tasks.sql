-- The durable task queue (engine module `orchestrator`): one row per task, one row per attempt.
-- A task is leased by a worker with a lease id and a deadline; every change a worker makes
-- is fenced by that lease id, so a worker whose lease expired can never overwrite a task
-- another worker took over or finished. Kept forever (retention will prune finished ones).
CREATE TABLE tasks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    agent           TEXT,
    capability      TEXT,
    input           TEXT NOT NULL CHECK (json_valid(input)),
    state           TEXT NOT NULL CHECK (state IN ('queued', 'scheduled', 'running',
                        'waiting_for_provider', 'waiting_approval', 'succeeded', 'failed',
                        'dead', 'cancelled')),
    priority        INTEGER NOT NULL,
    run_at          INTEGER NOT NULL,                     -- ms since the epoch: not before
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    attempts        INTEGER NOT NULL,                     -- of this round (requeue starts a new one)
    attempt_seq     INTEGER NOT NULL,                     -- every attempt ever: numbers task_attempts
    round           INTEGER NOT NULL,                     -- requeues so far: steps belong to a round
    timeout_ms      INTEGER,
    tags            TEXT NOT NULL CHECK (json_valid(tags)),
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT NOT NULL,                        -- SHA-256 of what was enqueued
    lease_id        TEXT,
    lease_until     INTEGER,
    worker          TEXT,
    cancel_requested INTEGER NOT NULL CHECK (cancel_requested IN (0, 1)),
    result          TEXT CHECK (result IS NULL OR json_valid(result)),
    error_code      TEXT,
    error_message   TEXT,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    CHECK (agent IS NOT NULL OR capability IS NOT NULL)
) STRICT;
-- What a worker leases next for an agent: due tasks by priority, then age.
CREATE INDEX tasks_ready ON tasks (agent, priority DESC, run_at, seq) WHERE state IN ('queued', 'scheduled');
-- Expired leases.
CREATE INDEX tasks_leases ON tasks (lease_until) WHERE state = 'running';
CREATE INDEX tasks_state ON tasks (state, seq);
CREATE INDEX tasks_agent ON tasks (agent, seq);

CREATE TABLE task_attempts (
    task_id         TEXT NOT NULL REFERENCES tasks (id),
    attempt         INTEGER NOT NULL,
    lease_id        TEXT NOT NULL,
    worker          TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    outcome         TEXT CHECK (outcome IS NULL OR outcome IN ('succeeded', 'failed', 'expired',
                        'cancelled', 'parked')),
    error_code      TEXT,
    error_message   TEXT,
    PRIMARY KEY (task_id, attempt)
) STRICT;

-- The steps of a task's current round, in order: what went back into the conversation (a
-- model's answer, a tool's result, a re-ask), so a resumed task rebuilds its conversation
-- instead of running a finished step again. Written fenced by the lease.
CREATE TABLE task_steps (
    task_id         TEXT NOT NULL REFERENCES tasks (id),
    round           INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    attempt         INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('model', 'tool', 'reask')),
    call_id         TEXT,                                 -- the ledger row of a model step
    name            TEXT,                                 -- the tool of a tool step
    message         TEXT NOT NULL CHECK (json_valid(message)),
    detail          TEXT CHECK (detail IS NULL OR json_valid(detail)),
    at              INTEGER NOT NULL,
    PRIMARY KEY (task_id, round, step)
) STRICT;

INSERT INTO event_topics (name) VALUES ('tasks');
