-- Budget alerts (engine module `costs::budget`): one row per budget, period and threshold
-- (or `blocked`) that fired, so each fires once per period, across restarts too. Written in
-- the same transaction as its `costs` feed event; delivery to the webhook is recorded after.
CREATE TABLE budget_alerts (
    budget        TEXT NOT NULL,
    period_start  INTEGER NOT NULL,                 -- ms since the epoch
    kind          TEXT NOT NULL CHECK (kind IN ('threshold', 'blocked')),
    threshold     INTEGER NOT NULL,                 -- % of the limit (100 for blocked)
    spent         TEXT NOT NULL,                    -- Decimal USD when it fired
    limit_usd     TEXT NOT NULL,
    fired_at      INTEGER NOT NULL,
    delivered_at  INTEGER,                          -- the webhook accepted it
    attempts      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (budget, period_start, kind, threshold)
) STRICT, WITHOUT ROWID;
CREATE INDEX budget_alerts_fired ON budget_alerts (fired_at);
