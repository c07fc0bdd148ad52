-- The audit log (engine module `audit`): every proposal, decision, edit, escalation,
-- execution, standing approval, policy or config change and token change, appended in the
-- transaction of the change it records. Hash-chained: `hash` is SHA-256 over the previous
-- entry's hash and this entry's fields (see audit/mod.rs), so `flightdeck audit verify`
-- finds the first altered, removed or reordered entry. Entries are never updated or
-- deleted (the triggers refuse it; retention keeps them forever).
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY,                 -- 1, 2, 3... without gaps
    at              INTEGER NOT NULL,                    -- ms since the epoch
    actor           TEXT NOT NULL,                       -- desktop:<user>, token:<name>, system:...
    kind            TEXT NOT NULL,                       -- audit::AuditKind
    subject         TEXT NOT NULL,                       -- what it is about (a request id, a token name)
    detail          TEXT NOT NULL CHECK (json_valid(detail)),
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_by_subject ON audit_log (subject, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log entries are never updated');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log entries are never deleted');
END;
