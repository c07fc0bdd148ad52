-- A version per secret, raised by every set: the API's ETag, so concurrent edits can be
-- made conditional (If-Match) instead of the last writer silently winning.
ALTER TABLE secrets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
