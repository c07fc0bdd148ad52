-- The names of stored secrets and when they were set: never their values, which live in the
-- keychain (or the explicit file backend). Lets `secrets ls` and the API list what exists.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,   -- ms since the epoch, UTC
    updated_at INTEGER NOT NULL
) STRICT;
