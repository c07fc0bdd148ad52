-- Idempotency keys of POST requests (engine module `idempotency`): the SHA-256 of actor and
-- key (never the key), a fingerprint of the request, and the first answer, sealed under a key
-- derived from the Idempotency-Key itself. Kept 24 hours (retention.rs).
CREATE TABLE idempotency_keys (
    id          TEXT PRIMARY KEY NOT NULL,          -- hex SHA-256 of actor, 0, key
    fingerprint TEXT NOT NULL,                      -- hex SHA-256 of method, path, body
    state       TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    status      INTEGER,                            -- the answer's HTTP status, once done
    sealed      BLOB,                               -- nonce || ChaCha20-Poly1305(answer)
    created_at  INTEGER NOT NULL                    -- ms since the epoch, UTC
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
