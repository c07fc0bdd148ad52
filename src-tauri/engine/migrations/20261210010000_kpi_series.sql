-- KPI series (engine module `forecast::kpi`): business numbers imported from CSV or pushed
-- through the API, one value per series and instant, and the points flagged outside their
-- 95 % interval (each once, with its `forecasts` feed event). `updated_at` only grows: it
-- is the series' version for cached forecasts.
CREATE TABLE kpi_series (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    unit          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,                 -- ms since the epoch
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE TABLE kpi_points (
    series        TEXT NOT NULL,
    ds            INTEGER NOT NULL,                 -- ms since the epoch
    value         REAL NOT NULL,
    PRIMARY KEY (series, ds)
) STRICT, WITHOUT ROWID;
-- Anomalies of KPI series and of the built-in `cost.daily`.
CREATE TABLE kpi_anomalies (
    series        TEXT NOT NULL,
    ds            INTEGER NOT NULL,
    value         REAL NOT NULL,
    expected      REAL NOT NULL,
    lo95          REAL NOT NULL,
    hi95          REAL NOT NULL,
    source        TEXT NOT NULL CHECK (source IN ('backtest', 'forecast')),
    detected_at   INTEGER NOT NULL,
    PRIMARY KEY (series, ds)
) STRICT, WITHOUT ROWID;
-- Goals on KPI series (engine module `forecast::goals`): a target value by a date, the
-- forecast's probability of reaching it, and whether it was notified as at risk.
CREATE TABLE kpi_goals (
    name          TEXT PRIMARY KEY,
    series        TEXT NOT NULL,
    target        REAL NOT NULL,
    due           INTEGER NOT NULL,                 -- ms since the epoch
    direction     TEXT NOT NULL CHECK (direction IN ('at_least', 'at_most')),
    alert_below   REAL NOT NULL,                    -- probability 0..1
    baseline      REAL,                             -- the series' last value when it was set
    created_at    INTEGER NOT NULL,
    probability   REAL,                             -- the last evaluation
    evaluated_at  INTEGER,
    at_risk       INTEGER NOT NULL DEFAULT 0        -- notified, until it recovers
) STRICT;
INSERT INTO event_topics (name) VALUES ('forecasts');
