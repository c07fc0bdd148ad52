-- History of health transitions: one row each time a dependency changes status.
CREATE TABLE health_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dependency  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    message     TEXT,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX health_transitions_at ON health_transitions (at);
