-- Approvals (engine module `approvals`): requests for a human decision on a proposed
-- action, the votes of their approvers, standing approvals, and the executions of allowed
-- or approved actions (at most one per idempotency key).
CREATE TABLE approval_requests (
    id              TEXT PRIMARY KEY,                     -- apr_<uuid>
    seq             INTEGER NOT NULL UNIQUE,              -- creation order
    action          TEXT NOT NULL,
    description     TEXT NOT NULL,
    tool            TEXT,                                 -- the model-facing tool name (agents)
    arguments       TEXT NOT NULL CHECK (json_valid(arguments)),   -- as proposed
    final_arguments TEXT CHECK (final_arguments IS NULL OR json_valid(final_arguments)),
    edits           TEXT CHECK (edits IS NULL OR json_valid(edits)), -- the diff of every edit
    rationale       TEXT,
    risk            TEXT NOT NULL CHECK (risk IN ('low', 'medium', 'high', 'critical')),
    proposer        TEXT NOT NULL,                        -- agent:<name> or a client's actor
    agent           TEXT,
    task_id         TEXT,
    step_key        TEXT UNIQUE,                          -- <task>:<round>:<step> of an agent's tool call
    callback_url    TEXT,
    verdict         TEXT NOT NULL CHECK (json_valid(verdict)),   -- the matching rule and why
    approvers       TEXT NOT NULL CHECK (json_valid(approvers)), -- who may decide ([] = any operate)
    quorum          INTEGER NOT NULL,
    sla_due         INTEGER,                              -- ms; NULL once decided at once
    on_timeout      TEXT NOT NULL CHECK (on_timeout IN ('reject', 'approve')),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'allowed', 'denied')),
    reason          TEXT,                                 -- a rejection's, an expiry's or a rule's
    decided_by      TEXT,                                 -- the deciding actor(s), comma separated
    decided_at      INTEGER,
    warned_at       INTEGER,
    escalation_step INTEGER NOT NULL DEFAULT 0,           -- steps of the chain done
    next_check_at   INTEGER,                              -- when the SLA scheduler looks again
    callback_state  TEXT CHECK (callback_state IN ('pending', 'delivered', 'failed')),
    callback_tries  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX approval_requests_by_state ON approval_requests (state, seq);
CREATE INDEX approval_requests_by_next_check ON approval_requests (next_check_at) WHERE state = 'pending';
CREATE INDEX approval_requests_by_task ON approval_requests (task_id);

CREATE TABLE approval_votes (
    request_id      TEXT NOT NULL REFERENCES approval_requests (id),
    actor           TEXT NOT NULL,
    decision        TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason          TEXT,
    arguments       TEXT CHECK (arguments IS NULL OR json_valid(arguments)),
    round           INTEGER NOT NULL,                     -- an edit starts a new round of votes
    at              INTEGER NOT NULL,
    PRIMARY KEY (request_id, round, actor)
) STRICT;

CREATE TABLE standing_approvals (
    id              TEXT PRIMARY KEY,                     -- sta_<uuid>
    action          TEXT NOT NULL,
    agent           TEXT,                                 -- for this agent (NULL: any proposer ...)
    proposer        TEXT,                                 -- ... or exactly this proposer
    arguments_hash  TEXT,                                 -- exactly these arguments (NULL: any)
    arguments       TEXT CHECK (arguments IS NULL OR json_valid(arguments)),
    rule            TEXT NOT NULL,                        -- the rule it stands in for (only that rule's requests)
    author          TEXT NOT NULL,
    request_id      TEXT,                                 -- the request it was granted from
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,                              -- NULL: until revoked
    revoked_at      INTEGER,
    revoked_by      TEXT
) STRICT;

CREATE INDEX standing_approvals_by_action ON standing_approvals (action) WHERE revoked_at IS NULL;

CREATE TABLE action_executions (
    key             TEXT PRIMARY KEY,                     -- the idempotency key
    action          TEXT NOT NULL,
    request_id      TEXT,
    task_id         TEXT,
    arguments       TEXT NOT NULL CHECK (json_valid(arguments)),
    state           TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'unknown')),
    result          TEXT,                                 -- the outcome's excerpt
    detail          TEXT CHECK (detail IS NULL OR json_valid(detail)), -- status, exit code, tries
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER
) STRICT;

INSERT INTO event_topics (name) VALUES ('approvals');
