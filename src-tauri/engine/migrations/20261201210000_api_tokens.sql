-- Named API tokens (identity): only a SHA-256 of each token is stored; the token itself is
-- shown once, at creation. Revoking deletes the row.
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY NOT NULL,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'operate', 'admin')),
    token_hash   TEXT NOT NULL UNIQUE,           -- hex SHA-256 of the token
    created_at   INTEGER NOT NULL,               -- ms since the epoch, UTC
    last_used_at INTEGER,
    expires_at   INTEGER
) STRICT;
