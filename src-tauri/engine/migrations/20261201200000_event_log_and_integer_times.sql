-- Migrations are named by UTC timestamp (YYYYMMDDHHMMSS_name.sql) from here on, so work on
-- parallel branches cannot pick the same version. 0001 and 0002 keep their shipped numbers.
--
-- 1. The durable event log behind the feed: domain events are appended here in the same
--    transaction as the state change they describe; seq is the feed's sequence number.
--    Topics are rows of event_topics (a later domain adds its topic with an INSERT, not a
--    table rebuild), so an event can only name a known topic.
CREATE TABLE event_topics (
    name TEXT PRIMARY KEY NOT NULL
) STRICT;
INSERT INTO event_topics (name) VALUES ('config'), ('health');

CREATE TABLE events (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL REFERENCES event_topics (name),
    at    INTEGER NOT NULL,                       -- ms since the epoch, UTC
    body  TEXT NOT NULL CHECK (json_valid(body))  -- the event as the feed sends it
) STRICT;
CREATE INDEX events_at ON events (at);

-- 2. One convention for stored values: times are integer epoch milliseconds (UTC), enums
--    are their snake_case names with CHECK constraints. Rewrite the two tables that held
--    RFC 3339 text.
CREATE TABLE health_transitions_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dependency  TEXT NOT NULL,
    from_status TEXT CHECK (from_status IN ('healthy', 'degraded', 'unhealthy')),
    to_status   TEXT NOT NULL CHECK (to_status IN ('healthy', 'degraded', 'unhealthy')),
    message     TEXT,
    at          INTEGER NOT NULL
) STRICT;
INSERT INTO health_transitions_new (id, dependency, from_status, to_status, message, at)
SELECT id, dependency, from_status, to_status, message,
       CAST(ROUND((julianday(at) - 2440587.5) * 86400000.0) AS INTEGER)
FROM health_transitions;
DROP TABLE health_transitions;
ALTER TABLE health_transitions_new RENAME TO health_transitions;
CREATE INDEX health_transitions_at ON health_transitions (at);

CREATE TABLE meta_new (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO meta_new (key, value, updated_at)
SELECT key, value, CAST(ROUND((julianday(updated_at) - 2440587.5) * 86400000.0) AS INTEGER)
FROM meta;
DROP TABLE meta;
ALTER TABLE meta_new RENAME TO meta;
