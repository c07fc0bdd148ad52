-- Budget alerts gain the kind `projected` (engine module `costs::burn`: the burn forecast
-- reaches the limit before the period ends), once per budget and period like the others.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt with its rows.
CREATE TABLE budget_alerts_new (
    budget        TEXT NOT NULL,
    period_start  INTEGER NOT NULL,                 -- ms since the epoch
    kind          TEXT NOT NULL CHECK (kind IN ('threshold', 'blocked', 'projected')),
    threshold     INTEGER NOT NULL,                 -- % of the limit (100 for blocked, projected)
    spent         TEXT NOT NULL,                    -- Decimal USD when it fired
    limit_usd     TEXT NOT NULL,
    fired_at      INTEGER NOT NULL,
    delivered_at  INTEGER,                          -- the webhook accepted it
    attempts      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (budget, period_start, kind, threshold)
) STRICT, WITHOUT ROWID;
INSERT INTO budget_alerts_new SELECT budget, period_start, kind, threshold, spent, limit_usd,
    fired_at, delivered_at, attempts FROM budget_alerts;
DROP TABLE budget_alerts;
ALTER TABLE budget_alerts_new RENAME TO budget_alerts;
CREATE INDEX budget_alerts_fired ON budget_alerts (fired_at);
