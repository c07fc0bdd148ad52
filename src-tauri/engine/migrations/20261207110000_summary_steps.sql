-- Conversation memory compression: a task step may be a `summary` (older turns of the
-- conversation summarised by a model call; the summarised steps are kept, the summary names
-- them in its `detail`). SQLite cannot change a CHECK in place: the table is rebuilt with the
-- same columns and rows.
CREATE TABLE task_steps_new (
    task_id         TEXT NOT NULL REFERENCES tasks (id),
    round           INTEGER NOT NULL,
    step            INTEGER NOT NULL,
    attempt         INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('model', 'tool', 'reask', 'summary')),
    call_id         TEXT,                                 -- the ledger row of a model or summary step
    name            TEXT,                                 -- the tool of a tool step
    message         TEXT NOT NULL CHECK (json_valid(message)),
    detail          TEXT CHECK (detail IS NULL OR json_valid(detail)),
    at              INTEGER NOT NULL,
    PRIMARY KEY (task_id, round, step)
) STRICT;
INSERT INTO task_steps_new (task_id, round, step, attempt, kind, call_id, name, message, detail, at)
    SELECT task_id, round, step, attempt, kind, call_id, name, message, detail, at FROM task_steps;
DROP TABLE task_steps;
ALTER TABLE task_steps_new RENAME TO task_steps;
