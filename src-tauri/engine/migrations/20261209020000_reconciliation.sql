-- Reconciliation and re-pricing (engine module `costs`, src/costs/reconcile.rs and
-- src/costs/reprice.rs). An imported billing export keeps what the provider billed per UTC
-- day and model (money as Decimal TEXT); the ledger side is read from cost_daily when the
-- reconciliation is shown, so it follows later corrections. A file is imported once (its
-- SHA-256 is unique).
CREATE TABLE reconciliations (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,                     -- ms since the epoch, UTC
    actor       TEXT NOT NULL,
    format      TEXT NOT NULL CHECK (format IN ('openai', 'anthropic', 'generic')),
    providers   TEXT NOT NULL CHECK (json_valid(providers)),  -- the ledger's providers compared
    file_name   TEXT,
    sha256      TEXT NOT NULL UNIQUE,
    rows        INTEGER NOT NULL,
    first_day   TEXT NOT NULL,                        -- YYYY-MM-DD, UTC
    last_day    TEXT NOT NULL,
    drift_pct   REAL NOT NULL
) STRICT;
CREATE INDEX reconciliations_created ON reconciliations (created_at);

CREATE TABLE reconciliation_lines (
    reconciliation_id TEXT NOT NULL REFERENCES reconciliations (id) ON DELETE CASCADE,
    day               TEXT NOT NULL,
    model             TEXT NOT NULL,                  -- '' for charges without a model
    billed            TEXT NOT NULL,
    rows              INTEGER NOT NULL,
    PRIMARY KEY (reconciliation_id, day, model)
) STRICT;

-- Re-pricing: a ledger row whose cost was recomputed after a price-table fix keeps its
-- previous cost here (the ledger row holds the new one; its rollups moved with it in the
-- same transaction). Never deleted.
CREATE TABLE cost_corrections (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT NOT NULL,
    batch       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    old_cost    TEXT,                                 -- NULL: it was unknown
    new_cost    TEXT NOT NULL,
    old_price_source TEXT,
    new_price_source TEXT NOT NULL,
    reason      TEXT NOT NULL
) STRICT;
CREATE INDEX cost_corrections_call ON cost_corrections (call_id);
CREATE INDEX cost_corrections_batch ON cost_corrections (batch);
