-- Reports (engine module `reports`): one row per report made, its files (in the reports
-- folder, written before this row) and its deliveries. A scheduled report is unique per
-- period, so a restart or a second node never makes it twice.
CREATE TABLE reports (
    id               TEXT PRIMARY KEY,                -- rep_<uuid>
    period           TEXT NOT NULL CHECK (period IN ('day', 'week')),
    period_start     INTEGER NOT NULL,                -- ms since the epoch
    period_end       INTEGER NOT NULL,
    to_date          INTEGER NOT NULL DEFAULT 0,
    trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    title            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    files            TEXT NOT NULL CHECK (json_valid(files)),
    email_state      TEXT CHECK (email_state IN ('pending', 'sent', 'failed')),
    email_attempts   INTEGER NOT NULL DEFAULT 0,
    email_error      TEXT,
    webhook_state    TEXT CHECK (webhook_state IN ('pending', 'sent', 'failed')),
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_error    TEXT
) STRICT;
CREATE UNIQUE INDEX reports_scheduled ON reports (period, period_start) WHERE trigger = 'schedule';
CREATE INDEX reports_created ON reports (created_at);
INSERT INTO event_topics (name) VALUES ('reports');
