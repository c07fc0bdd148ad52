-- KPI anomalies gain the source `history` (engine module `forecast::outliers`: a point far
-- from the series' own robust decomposition, anywhere in its history). SQLite cannot change
-- a CHECK constraint in place: the table is rebuilt with its rows.
CREATE TABLE kpi_anomalies_new (
    series        TEXT NOT NULL,
    ds            INTEGER NOT NULL,
    value         REAL NOT NULL,
    expected      REAL NOT NULL,
    lo95          REAL NOT NULL,                    -- for `history`: expected - 3.5 robust σ
    hi95          REAL NOT NULL,                    -- for `history`: expected + 3.5 robust σ
    source        TEXT NOT NULL CHECK (source IN ('backtest', 'forecast', 'history')),
    detected_at   INTEGER NOT NULL,
    PRIMARY KEY (series, ds)
) STRICT, WITHOUT ROWID;
INSERT INTO kpi_anomalies_new SELECT series, ds, value, expected, lo95, hi95, source,
    detected_at FROM kpi_anomalies;
DROP TABLE kpi_anomalies;
ALTER TABLE kpi_anomalies_new RENAME TO kpi_anomalies;
