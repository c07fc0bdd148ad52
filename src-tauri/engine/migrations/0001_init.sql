-- Flightdeck schema, version 1: node identity and key/value metadata.
-- Every later domain (tasks, approvals, ledger...) adds its own migration.
CREATE TABLE meta (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
