//! KPI series: the business numbers agents work for (revenue, orders, tickets), imported
//! from CSV or pushed through the API, forecast like any series, and flagged where a point
//! falls outside its 95 % interval.
//!
//! Tables (migration `kpi_series`): `kpi_series` (one row per series; `updated_at` is its
//! version), `kpi_points` (one value per series and instant), `kpi_anomalies` (one per
//! series and instant, written once with its `forecasts` feed event).
//!
//! The built-in series `cost.daily` is the ledger's spend per day in `[costs] time_zone`
//! (complete days, read from the rollups): it is forecast and flagged the same way, and
//! cannot be written.
//!
//! Anomalies come from three places: the backtest of every forecast (held-out points outside
//! the 95 % interval their origin's forecast gave); each pushed point later than the series'
//! last one, checked against the forecast made before it arrived; and the whole history,
//! checked against the series' own robust decomposition ([`super::outliers`]) once per
//! version of the series. A point whose value is removed or changed by an import or a push
//! loses its anomaly (it no longer describes the point).
//!
//! Must never: import part of a file (it is checked whole, then written in one
//! transaction), or store a non-finite value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::series::{self, Frequency, SeriesReport};
use super::{Forecast, ForecastError, ForecastEvent};
use crate::clock::SharedClock;
use crate::costs::{BucketSize, CostFilter, Costs, Span};
use crate::events::Event;
use crate::store::values::{time_from_db, time_to_db};
use crate::store::{Store, StoreError};

/// The built-in series of daily spend.
pub const COST_SERIES: &str = "cost.daily";
/// Points one push may carry.
pub const MAX_PUSH: usize = 10_000;
/// Days of spend `cost.daily` reads.
const COST_DAYS: i64 = 730;

/// A series and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesInfo {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// Read-only (`cost.daily`).
    pub builtin: bool,
    pub points: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Anomalies flagged on it so far.
    pub anomalies: u64,
}

/// One value of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub ds: DateTime<Utc>,
    pub value: f64,
}

/// A CSV import (`date,value` or `ds,y`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The file's text, with a header row.
    #[schema(min_length = 1)]
    pub csv: String,
    /// Check and preview only: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    /// Replace every point of the series (default: merge, a file's value winning on the
    /// same instant).
    #[serde(default)]
    pub replace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32)]
    pub unit: Option<String>,
}

/// What an import did, or would do (`dry_run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportOutcome {
    pub series: String,
    /// Written (false for a dry run).
    pub imported: bool,
    /// Distinct instants in the file.
    pub points: usize,
    /// Instants the series did not have.
    pub new_points: usize,
    /// Instants whose value the file changes.
    pub changed_points: usize,
    /// Points of the series a `replace` removes.
    pub removed_points: usize,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub frequency: Frequency,
    /// What was done to put the file on its grid (duplicates averaged, gaps...).
    pub report: SeriesReport,
    /// The first and last rows as they will be stored (at most 10 each).
    pub head: Vec<Point>,
    pub tail: Vec<Point>,
}

/// Points pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    #[schema(min_items = 1, max_items = 10000)]
    pub points: Vec<Point>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 32)]
    pub unit: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PushOutcome {
    pub series: String,
    /// The series was made by this push.
    pub created: bool,
    pub accepted: usize,
    /// Pushed points outside the 95 % interval of the forecast made before them.
    pub anomalies: Vec<Anomaly>,
}

/// Where an anomaly was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalySource {
    /// A held-out point of a forecast's backtest.
    Backtest,
    /// A pushed point, against the forecast made before it arrived.
    Forecast,
    /// A point anywhere in the history, far from the series' own decomposition (more than
    /// 3.5 robust standard deviations; `lo95`/`hi95` then hold that band).
    History,
}

impl AnomalySource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Backtest => "backtest",
            Self::Forecast => "forecast",
            Self::History => "history",
        }
    }
}

/// A point outside its 95 % interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Anomaly {
    pub series: String,
    pub ds: DateTime<Utc>,
    pub value: f64,
    /// The forecast's mean for it (for `history`, the decomposition's value).
    pub expected: f64,
    /// The interval it fell outside: the forecast's 95 % interval, or for `history` the
    /// decomposition's value ± 3.5 robust standard deviations.
    pub lo95: f64,
    pub hi95: f64,
    pub source: AnomalySource,
    pub detected_at: DateTime<Utc>,
}

/// A series' forecast with its recent history and anomalies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeriesForecast {
    pub series: SeriesInfo,
    pub forecast: Forecast,
    /// The last points (up to 3 horizons, at least 60), as stored.
    pub history: Vec<Point>,
    /// Flagged points, newest first (at most 100).
    pub anomalies: Vec<Anomaly>,
}

/// Whether `name` may name a series: 1-64 of `a-z 0-9 . _ -`, starting with a letter or
/// digit.
pub fn check_name(name: &str) -> Result<(), ForecastError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ForecastError::BadInput(format!(
            "`{name}` is not a series name: 1 to 64 of a-z, 0-9, `.`, `_`, `-`, starting with a \
             letter or digit"
        )))
    }
}

fn writable(name: &str) -> Result<(), ForecastError> {
    check_name(name)?;
    if name.starts_with("cost.") {
        return Err(ForecastError::BadInput(format!(
            "`{name}`: series named `cost.*` are built in and read-only"
        )));
    }
    Ok(())
}

fn check_text(what: &str, v: Option<&String>, max: usize) -> Result<(), ForecastError> {
    match v {
        Some(t) if t.chars().count() > max || t.chars().any(char::is_control) => Err(
            ForecastError::BadInput(format!("{what} is at most {max} characters, on one line")),
        ),
        _ => Ok(()),
    }
}

/// Duplicates in `points` averaged, sorted by instant: what is stored.
fn merged(mut points: Vec<(DateTime<Utc>, f64)>) -> Vec<Point> {
    points.sort_by_key(|p| p.0);
    let mut out: Vec<(DateTime<Utc>, f64, u32)> = Vec::with_capacity(points.len());
    for (t, v) in points {
        let t = crate::store::values::at_stored_precision(t);
        match out.last_mut() {
            Some(last) if last.0 == t => {
                last.1 += v;
                last.2 += 1;
            }
            _ => out.push((t, v, 1)),
        }
    }
    out.into_iter()
        .map(|(ds, sum, n)| Point {
            ds,
            value: sum / f64::from(n),
        })
        .collect()
}

/// A cached forecast: the series' version, horizon and season it was made for.
type Cached = (String, Arc<Forecast>);

/// The KPI series of one node. Cheap to clone.
#[derive(Clone)]
pub struct Kpis {
    store: Store,
    clock: SharedClock,
    costs: Costs,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// The version of each series whose history was last checked for outliers.
    scanned: Arc<Mutex<HashMap<String, String>>>,
}

impl std::fmt::Debug for Kpis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kpis")
    }
}

/// A series' row and figures, read in `db`.
fn info_in(db: &crate::store::Db<'_>, name: &str) -> Result<Option<SeriesInfo>, StoreError> {
    let row = db.query_opt(
        "SELECT description, unit, updated_at FROM kpi_series WHERE name = ?1",
        [name],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                time_from_db(r.get(2)?)?,
            ))
        },
    )?;
    let Some((description, unit, updated_at)) = row else {
        return Ok(None);
    };
    let (points, first, last): (i64, Option<i64>, Option<i64>) = db.query_one(
        "SELECT COUNT(*), MIN(ds), MAX(ds) FROM kpi_points WHERE series = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let last_value = match last {
        Some(l) => db.query_opt(
            "SELECT value FROM kpi_points WHERE series = ?1 AND ds = ?2",
            rusqlite::params![name, l],
            |r| r.get::<_, f64>(0),
        )?,
        None => None,
    };
    let anomalies: i64 = db.query_one(
        "SELECT COUNT(*) FROM kpi_anomalies WHERE series = ?1",
        [name],
        |r| r.get(0),
    )?;
    Ok(Some(SeriesInfo {
        name: name.to_string(),
        description,
        unit,
        builtin: false,
        points: u64::try_from(points).unwrap_or(0),
        first: first.map(time_from_db).transpose().map_err(|e| db.err(e))?,
        last: last.map(time_from_db).transpose().map_err(|e| db.err(e))?,
        last_value,
        updated_at: Some(updated_at),
        anomalies: u64::try_from(anomalies).unwrap_or(0),
    }))
}

fn points_in(db: &crate::store::Db<'_>, name: &str) -> Result<Vec<Point>, StoreError> {
    db.query_all(
        "SELECT ds, value FROM kpi_points WHERE series = ?1 ORDER BY ds",
        [name],
        |r| {
            Ok(Point {
                ds: time_from_db(r.get(0)?)?,
                value: r.get(1)?,
            })
        },
    )
}

fn anomaly_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Anomaly> {
    let source: String = r.get(6)?;
    Ok(Anomaly {
        series: r.get(0)?,
        ds: time_from_db(r.get(1)?)?,
        value: r.get(2)?,
        expected: r.get(3)?,
        lo95: r.get(4)?,
        hi95: r.get(5)?,
        source: match source.as_str() {
            "forecast" => AnomalySource::Forecast,
            "history" => AnomalySource::History,
            _ => AnomalySource::Backtest,
        },
        detected_at: time_from_db(r.get(7)?)?,
    })
}

/// Forgets the anomalies of `series` whose point is gone or now holds another value.
fn forget_stale_anomalies(
    tx: &mut crate::store::WriteTx<'_>,
    series: &str,
) -> Result<usize, StoreError> {
    tx.execute(
        "DELETE FROM kpi_anomalies WHERE series = ?1 AND NOT EXISTS (SELECT 1 FROM kpi_points p \
         WHERE p.series = ?1 AND p.ds = kpi_anomalies.ds AND p.value = kpi_anomalies.value)",
        [series],
    )
}

/// A version of a series' points: changes when any point is added, removed or changed.
fn points_version(points: &[Point]) -> String {
    let digest = points.iter().fold(0u64, |h, p| {
        h.rotate_left(7) ^ p.value.to_bits() ^ time_to_db(p.ds).cast_unsigned()
    });
    format!("{}|{digest:x}", points.len())
}

/// The outliers of a history (its points as stored), as anomalies found `now`.
fn history_anomalies(name: &str, points: &[Point], now: DateTime<Utc>) -> Vec<Anomaly> {
    let Ok(s) = series::from_points(points.iter().map(|p| (p.ds, p.value)).collect()) else {
        return Vec::new();
    };
    let stored: HashMap<i64, f64> = points.iter().map(|p| (time_to_db(p.ds), p.value)).collect();
    super::outliers::outliers(&s)
        .into_iter()
        .filter_map(|o| {
            let ds = crate::store::values::at_stored_precision(s.ds(o.index)?);
            // Only real points: not one interpolated into a gap, nor one moved onto the grid.
            let value = *stored.get(&time_to_db(ds))?;
            (value.to_bits() == s.values[o.index].to_bits()).then(|| Anomaly {
                series: name.to_string(),
                ds,
                value,
                expected: o.expected,
                lo95: o.lo,
                hi95: o.hi,
                source: AnomalySource::History,
                detected_at: now,
            })
        })
        .collect()
}

/// Writes the anomalies not flagged before, each with its feed event: those new.
fn record_anomalies(
    tx: &mut crate::store::WriteTx<'_>,
    found: &[Anomaly],
) -> Result<Vec<Anomaly>, StoreError> {
    let mut new = Vec::new();
    for a in found {
        let n = tx.execute(
            "INSERT OR IGNORE INTO kpi_anomalies (series, ds, value, expected, lo95, hi95, \
             source, detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                a.series,
                time_to_db(a.ds),
                a.value,
                a.expected,
                a.lo95,
                a.hi95,
                a.source.as_str(),
                time_to_db(a.detected_at)
            ],
        )?;
        if n == 1 {
            tx.append_event(Event::Forecasts(ForecastEvent::Anomaly(a.clone())))?;
            new.push(a.clone());
        }
    }
    Ok(new)
}

impl Kpis {
    pub fn new(store: Store, clock: SharedClock, costs: Costs) -> Self {
        Self {
            store,
            clock,
            costs,
            cache: Arc::default(),
            scanned: Arc::default(),
        }
    }

    pub(crate) fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn store_handle(&self) -> &Store {
        &self.store
    }

    /// Every series, the built-in ones first.
    pub async fn list(&self) -> Result<Vec<SeriesInfo>, ForecastError> {
        let mut out = vec![self.cost_info().await?];
        let mut kpis = self
            .store
            .read(|db| {
                let names: Vec<String> =
                    db.query_all("SELECT name FROM kpi_series ORDER BY name", [], |r| {
                        r.get(0)
                    })?;
                let mut out = Vec::new();
                for n in names {
                    if let Some(i) = info_in(db, &n)? {
                        out.push(i);
                    }
                }
                Ok::<_, StoreError>(out)
            })
            .await?;
        out.append(&mut kpis);
        Ok(out)
    }

    /// One series.
    pub async fn info(&self, name: &str) -> Result<SeriesInfo, ForecastError> {
        if name == COST_SERIES {
            return self.cost_info().await;
        }
        check_name(name)?;
        let n = name.to_string();
        self.store
            .read(move |db| info_in(db, &n))
            .await?
            .ok_or_else(|| ForecastError::NotFound(format!("no series `{name}`")))
    }

    /// The points of a series from `from` until `until` (both optional), oldest first.
    pub async fn points(
        &self,
        name: &str,
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Point>, ForecastError> {
        let all = self.all_points(name).await?;
        Ok(all
            .into_iter()
            .filter(|p| from.is_none_or(|f| p.ds >= f) && until.is_none_or(|u| p.ds < u))
            .collect())
    }

    async fn all_points(&self, name: &str) -> Result<Vec<Point>, ForecastError> {
        if name == COST_SERIES {
            return self.cost_points().await;
        }
        self.info(name).await?;
        let n = name.to_string();
        Ok(self.store.read(move |db| points_in(db, &n)).await?)
    }

    /// Imports a CSV file into `name` (made if new): checked whole first; nothing is
    /// written when a row is bad, or for a dry run.
    pub async fn import(
        &self,
        name: &str,
        req: ImportRequest,
    ) -> Result<ImportOutcome, ForecastError> {
        writable(name)?;
        check_text("description", req.description.as_ref(), 500)?;
        check_text("unit", req.unit.as_ref(), 32)?;
        let raw = series::parse_points(&req.csv)?;
        if raw.is_empty() {
            return Err(ForecastError::BadInput(
                "the file has a header but no rows".into(),
            ));
        }
        // On its grid (frequency found, duplicates and gaps reported): a file that cannot
        // be forecast is refused here, not at the first forecast.
        let grid = series::from_points(raw.clone())?;
        let points = merged(raw);
        let (Some(first), Some(last)) = (points.first().map(|p| p.ds), points.last().map(|p| p.ds))
        else {
            return Err(ForecastError::BadInput("the file has no rows".into()));
        };
        let n = name.to_string();
        let existing: HashMap<i64, f64> = self
            .store
            .read(move |db| {
                Ok::<_, StoreError>(
                    points_in(db, &n)?
                        .into_iter()
                        .map(|p| (time_to_db(p.ds), p.value))
                        .collect(),
                )
            })
            .await?;
        let mut new_points = 0;
        let mut changed = 0;
        let mut in_file = std::collections::HashSet::new();
        for p in &points {
            let k = time_to_db(p.ds);
            in_file.insert(k);
            match existing.get(&k) {
                None => new_points += 1,
                Some(v) if v.to_bits() != p.value.to_bits() => changed += 1,
                Some(_) => {}
            }
        }
        let removed = if req.replace {
            existing.keys().filter(|k| !in_file.contains(k)).count()
        } else {
            0
        };
        let outcome = ImportOutcome {
            series: name.to_string(),
            imported: !req.dry_run,
            points: points.len(),
            new_points,
            changed_points: changed,
            removed_points: removed,
            first,
            last,
            frequency: grid.frequency,
            report: grid.report,
            head: points.iter().take(10).copied().collect(),
            tail: points
                .iter()
                .skip(points.len().saturating_sub(10).max(10))
                .copied()
                .collect(),
        };
        if req.dry_run {
            return Ok(outcome);
        }
        let (n, replace, description, unit) = (
            name.to_string(),
            req.replace,
            req.description.clone(),
            req.unit.clone(),
        );
        let count = points.len();
        self.store
            .write(move |tx| {
                let now = time_to_db(tx.now());
                upsert_series(tx, &n, description.as_deref(), unit.as_deref(), now)?;
                if replace {
                    tx.execute("DELETE FROM kpi_points WHERE series = ?1", [&n])?;
                }
                for p in &points {
                    tx.execute(
                        "INSERT INTO kpi_points (series, ds, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (series, ds) DO UPDATE SET value = excluded.value",
                        rusqlite::params![n, time_to_db(p.ds), p.value],
                    )?;
                }
                forget_stale_anomalies(tx, &n)?;
                tx.append_event(Event::Forecasts(ForecastEvent::SeriesUpdated {
                    series: n.clone(),
                    points: count,
                    imported: true,
                }))?;
                Ok::<_, StoreError>(())
            })
            .await?;
        self.evaluate_series(name).await;
        Ok(outcome)
    }

    /// Adds (or replaces, on the same instant) points of `name`, made if new; points later
    /// than the series' last are checked against the forecast made before them.
    pub async fn push(&self, name: &str, req: PushRequest) -> Result<PushOutcome, ForecastError> {
        writable(name)?;
        check_text("description", req.description.as_ref(), 500)?;
        check_text("unit", req.unit.as_ref(), 32)?;
        if req.points.is_empty() || req.points.len() > MAX_PUSH {
            return Err(ForecastError::BadInput(format!(
                "a push carries 1 to {MAX_PUSH} points"
            )));
        }
        if let Some((i, p)) = req
            .points
            .iter()
            .enumerate()
            .find(|(_, p)| !p.value.is_finite())
        {
            return Err(ForecastError::BadInput(format!(
                "points[{i}] ({}): the value is not a finite number",
                p.ds
            )));
        }
        let before = match self.info(name).await {
            Ok(i) => Some(i),
            Err(ForecastError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        // The forecast made before these points, for those after the series' last.
        let mut found = Vec::new();
        let now = self.clock.now();
        if let Some(info) = &before
            && let Some(last) = info.last
        {
            let later: Vec<Point> = req.points.iter().filter(|p| p.ds > last).copied().collect();
            if let Some(max) = later.iter().map(|p| p.ds).max()
                && let Ok(f) = self.forecast_until(name, info, max).await
            {
                for p in later {
                    let Some(row) = nearest(&f, p.ds) else {
                        continue;
                    };
                    if p.value < row.lo95 || p.value > row.hi95 {
                        found.push(Anomaly {
                            series: name.to_string(),
                            ds: crate::store::values::at_stored_precision(p.ds),
                            value: p.value,
                            expected: row.mean,
                            lo95: row.lo95,
                            hi95: row.hi95,
                            source: AnomalySource::Forecast,
                            detected_at: now,
                        });
                    }
                }
            }
        }
        let points = merged(req.points.iter().map(|p| (p.ds, p.value)).collect());
        let (n, description, unit) = (name.to_string(), req.description, req.unit);
        let accepted = points.len();
        let new = self
            .store
            .write(move |tx| {
                let now = time_to_db(tx.now());
                upsert_series(tx, &n, description.as_deref(), unit.as_deref(), now)?;
                for p in &points {
                    tx.execute(
                        "INSERT INTO kpi_points (series, ds, value) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (series, ds) DO UPDATE SET value = excluded.value",
                        rusqlite::params![n, time_to_db(p.ds), p.value],
                    )?;
                }
                forget_stale_anomalies(tx, &n)?;
                tx.append_event(Event::Forecasts(ForecastEvent::SeriesUpdated {
                    series: n.clone(),
                    points: accepted,
                    imported: false,
                }))?;
                record_anomalies(tx, &found)
            })
            .await?;
        self.evaluate_series(name).await;
        Ok(PushOutcome {
            series: name.to_string(),
            created: before.is_none(),
            accepted,
            anomalies: new,
        })
    }

    /// Removes a series with its points and anomalies.
    pub async fn remove(&self, name: &str) -> Result<(), ForecastError> {
        writable(name)?;
        let n = name.to_string();
        let removed = self
            .store
            .write(move |tx| {
                let k = tx.execute("DELETE FROM kpi_series WHERE name = ?1", [&n])?;
                if k == 1 {
                    tx.execute("DELETE FROM kpi_points WHERE series = ?1", [&n])?;
                    tx.execute("DELETE FROM kpi_anomalies WHERE series = ?1", [&n])?;
                    tx.append_event(Event::Forecasts(ForecastEvent::SeriesRemoved {
                        series: n.clone(),
                    }))?;
                }
                Ok::<_, StoreError>(k == 1)
            })
            .await?;
        if removed {
            Ok(())
        } else {
            Err(ForecastError::NotFound(format!("no series `{name}`")))
        }
    }

    /// The anomalies of a series, newest first.
    pub async fn anomalies(&self, name: &str, limit: u32) -> Result<Vec<Anomaly>, ForecastError> {
        self.info(name).await?;
        let n = name.to_string();
        Ok(self
            .store
            .read(move |db| {
                db.query_all(
                    "SELECT series, ds, value, expected, lo95, hi95, source, detected_at \
                     FROM kpi_anomalies WHERE series = ?1 ORDER BY ds DESC LIMIT ?2",
                    rusqlite::params![n, limit],
                    anomaly_from_row,
                )
            })
            .await?)
    }

    /// Forecasts `name` `horizon` steps ahead (default: by frequency), flags the backtest's
    /// anomalies, and returns it with the recent history.
    pub async fn forecast(
        &self,
        name: &str,
        horizon: Option<usize>,
        season: Option<usize>,
    ) -> Result<SeriesForecast, ForecastError> {
        let info = self.info(name).await?;
        let points = self.all_points(name).await?;
        let f = self
            .fit(name, &info, &points, horizon, season, true)
            .await?;
        let now = self.clock.now();
        let mut found: Vec<Anomaly> = f
            .backtest
            .iter()
            .filter(|p| p.outside95())
            .map(|p| Anomaly {
                series: name.to_string(),
                ds: p.ds,
                value: p.actual,
                expected: p.mean,
                lo95: p.lo95,
                hi95: p.hi95,
                source: AnomalySource::Backtest,
                detected_at: now,
            })
            .collect();
        // The whole history, once per version of the series (its points and its last write:
        // a series removed and imported again is checked again).
        let version = format!(
            "{}|{}",
            points_version(&points),
            info.updated_at.map_or(0, time_to_db)
        );
        let seen = self
            .scanned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .is_some_and(|v| *v == version);
        if !seen {
            let (n, all) = (name.to_string(), points.clone());
            // A failed check (a bug) costs the history's flags, not the forecast.
            match tokio::task::spawn_blocking(move || history_anomalies(&n, &all, now)).await {
                Ok(history) => found.extend(history),
                Err(error) => tracing::warn!(%error, series = name, "the outlier check failed"),
            }
        }
        if !found.is_empty() {
            self.store
                .write(move |tx| record_anomalies(tx, &found))
                .await?;
        }
        if !seen {
            self.scanned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string(), version);
        }
        let keep = (f.rows.len() * 3).max(60);
        let history = points[points.len().saturating_sub(keep)..].to_vec();
        let anomalies = self.anomalies(name, 100).await?;
        let info = self.info(name).await?;
        Ok(SeriesForecast {
            series: info,
            forecast: (*f).clone(),
            history,
            anomalies,
        })
    }

    /// The forecast of `name` (cached per version, horizon and season).
    async fn fit(
        &self,
        name: &str,
        info: &SeriesInfo,
        points: &[Point],
        horizon: Option<usize>,
        season: Option<usize>,
        exact: bool,
    ) -> Result<Arc<Forecast>, ForecastError> {
        if points.is_empty() {
            return Err(ForecastError::TooShort(format!(
                "`{name}` has no points: a forecast needs at least 3"
            )));
        }
        let s = series::from_points(points.iter().map(|p| (p.ds, p.value)).collect())?;
        let horizon = horizon.unwrap_or_else(|| default_horizon(s.frequency));
        let version = format!(
            "{}|{}|{season:?}",
            points_version(points),
            info.updated_at.map_or(0, time_to_db),
        );
        let reach = s.ds(s.values.len() + horizon - 1);
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .filter(|c| c.0 == version)
        {
            // The same horizon; or, for a check of later points (`forecast_until`), the
            // forecast already made when it reaches far enough (what people saw).
            let rows = hit.1.rows.len();
            if rows == horizon
                || (!exact && reach.is_some_and(|r| hit.1.rows.last().is_some_and(|l| l.ds >= r)))
            {
                return Ok(hit.1.clone());
            }
        }
        let f = tokio::task::spawn_blocking(move || super::forecast(&s, horizon, season))
            .await
            .map_err(|e| ForecastError::BadInput(format!("the forecast failed: {e}")))??;
        let f = Arc::new(f);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), (version, f.clone()));
        Ok(f)
    }

    /// A forecast of `name` reaching at least `until`.
    pub(crate) async fn forecast_until(
        &self,
        name: &str,
        info: &SeriesInfo,
        until: DateTime<Utc>,
    ) -> Result<Arc<Forecast>, ForecastError> {
        let points = self.all_points(name).await?;
        let s = series::from_points(points.iter().map(|p| (p.ds, p.value)).collect())?;
        let last = s.ds(s.values.len().saturating_sub(1)).unwrap_or(until);
        let step = s.frequency.nominal_seconds().max(1);
        let steps = usize::try_from(((until - last).num_seconds() + step - 1) / step)
            .unwrap_or(0)
            .max(1);
        if steps > super::MAX_HORIZON {
            return Err(ForecastError::BadInput(format!(
                "{until} is more than {} steps after the series' last point",
                super::MAX_HORIZON
            )));
        }
        self.fit(name, info, &points, Some(steps), None, false)
            .await
    }

    /// Forecasts `cost.daily` (flagging its anomalies) and evaluates every goal, every
    /// `every` until `cancel` (the node's loop; a day's spend completes at midnight).
    pub fn spawn_checks(
        &self,
        every: std::time::Duration,
        tracker: &tokio_util::task::TaskTracker,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let kpis = self.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = kpis.clock.sleep(every) => {}
                    () = cancel.cancelled() => break,
                }
                match kpis.forecast(COST_SERIES, None, None).await {
                    Ok(_) | Err(ForecastError::TooShort(_)) => {}
                    Err(error) => tracing::warn!(%error, "could not forecast the daily spend"),
                }
                if let Err(error) = kpis.goals().await {
                    tracing::warn!(%error, "could not evaluate the goals");
                }
            }
        });
    }

    fn cost_info_of(points: &[Point]) -> SeriesInfo {
        SeriesInfo {
            name: COST_SERIES.into(),
            description: "Spend per day (the ledger, complete days in [costs] time_zone)".into(),
            unit: "USD".into(),
            builtin: true,
            points: points.len() as u64,
            first: points.first().map(|p| p.ds),
            last: points.last().map(|p| p.ds),
            last_value: points.last().map(|p| p.value),
            updated_at: None,
            anomalies: 0,
        }
    }

    async fn cost_info(&self) -> Result<SeriesInfo, ForecastError> {
        let points = self.cost_points().await?;
        let mut info = Self::cost_info_of(&points);
        info.anomalies = self
            .store
            .read(|db| {
                db.query_one(
                    "SELECT COUNT(*) FROM kpi_anomalies WHERE series = ?1",
                    [COST_SERIES],
                    |r| r.get::<_, i64>(0),
                )
            })
            .await
            .map(|n| u64::try_from(n).unwrap_or(0))?;
        Ok(info)
    }

    /// The spend of each complete day of the last two years, from the first day with spend.
    async fn cost_points(&self) -> Result<Vec<Point>, ForecastError> {
        let now = self.clock.now();
        let span = Span {
            period: None,
            from: Some(now - Duration::days(COST_DAYS + 1)),
            until: Some(now),
            time_zone: None,
        };
        let b = self
            .costs
            .breakdown(&span, CostFilter::default(), None, BucketSize::Day)
            .await
            .map_err(|e| ForecastError::BadInput(e.to_string()))?;
        // Complete days only: the last bucket (today) is still running; the first starts
        // before the span.
        let mut days: Vec<Point> = b
            .rows
            .iter()
            .filter_map(|r| {
                Some(Point {
                    ds: r.bucket_start?,
                    value: r.figures.cost.to_f64()?,
                })
            })
            .collect();
        days.sort_by_key(|p| p.ds);
        let today = days.last().map(|p| p.ds);
        let mut out: Vec<Point> = Vec::new();
        let mut started = false;
        for p in days {
            if Some(p.ds) == today || p.ds < b.window.from {
                continue;
            }
            started |= p.value > 0.0;
            if started {
                out.push(p);
            }
        }
        Ok(out)
    }
}

fn upsert_series(
    tx: &crate::store::WriteTx<'_>,
    name: &str,
    description: Option<&str>,
    unit: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO kpi_series (name, description, unit, created_at, updated_at) \
         VALUES (?1, COALESCE(?2, ''), COALESCE(?3, ''), ?4, ?4) \
         ON CONFLICT (name) DO UPDATE SET updated_at = MAX(excluded.updated_at, updated_at + 1), \
         description = COALESCE(?2, description), unit = COALESCE(?3, unit)",
        rusqlite::params![name, description, unit, now],
    )?;
    Ok(())
}

/// Steps ahead by default: two days of hours, a month of days, a quarter of weeks, a year
/// of months, two years of quarters, five years.
pub fn default_horizon(f: Frequency) -> usize {
    match f {
        Frequency::Hourly => 48,
        Frequency::Daily => 30,
        Frequency::Weekly => 13,
        Frequency::Monthly => 12,
        Frequency::Quarterly => 8,
        Frequency::Yearly => 5,
    }
}

/// The forecast row nearest `t` (within half a step).
fn nearest(f: &Forecast, t: DateTime<Utc>) -> Option<&super::ForecastRow> {
    let half = f.frequency.nominal_seconds() / 2;
    f.rows
        .iter()
        .min_by_key(|r| (r.ds - t).num_seconds().abs())
        .filter(|r| (r.ds - t).num_seconds().abs() <= half)
}
