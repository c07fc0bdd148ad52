//! Reports: a day's or a week's spend, budgets and their projected exhaustion, top agents,
//! approvals, health incidents, KPIs with forecasts, goals and the health score, as one
//! self-contained HTML file (`html`) and as PDF (`pdf`), written into `[reports] folder`.
//!
//! Made on request (API, CLI, UI) or on `[reports] schedule` (`schedule.rs`): the scheduler
//! runs on the engine's clock, makes the last complete period's report once `at_hour` has
//! passed, and is restart-safe (a scheduled report is one row per period, unique; a start
//! makes what is missing and resumes deliveries left pending).
//!
//! Delivery (`deliver.rs`): by email through `[reports.smtp]` (lettre) and to a webhook, each
//! tried up to `max_attempts` times with backoff; a failure is kept on the report (state,
//! attempts, the server's answer) and published on the `reports` feed topic.
//!
//! Table `reports` (migration `reports`). Files are written before their row (to a temporary
//! name, then renamed): a crash leaves no row pointing at a missing file.

pub mod deliver;
pub mod gather;
pub mod html;
pub mod pdf;
pub mod schedule;
pub mod settings;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::approvals::Approvals;
use crate::clock::SharedClock;
use crate::config::{Config, ConfigHandle};
use crate::costs::Costs;
use crate::error::ErrorCode;
use crate::events::Event;
use crate::forecast::kpi::Kpis;
use crate::secrets::SecretStore;
use crate::store::values::{json_to_db, time_from_db, time_to_db};
use crate::store::{Store, StoreError};
pub use settings::{ReportFormat, ReportsConfig};

/// The report font (the charts').
pub(crate) static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");

/// Failures of reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("rendering the report failed: {0}")]
    Render(String),
    #[error("writing the report failed: {0}")]
    Io(String),
    #[error("{0}")]
    DeliveryFailed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReportsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Render(_) | Self::Io(_) => ErrorCode::Internal,
            Self::DeliveryFailed(_) => ErrorCode::DeliveryFailed,
            Self::Store(e) => e.code(),
        }
    }
}

macro_rules! wrap_err {
    ($($t:ty),*) => {$(
        impl From<$t> for ReportsError {
            fn from(e: $t) -> Self {
                match e.code() {
                    ErrorCode::BadRequest => Self::BadRequest(e.to_string()),
                    ErrorCode::NotFound => Self::NotFound(e.to_string()),
                    _ => Self::Render(e.to_string()),
                }
            }
        }
    )*};
}
wrap_err!(
    crate::costs::CostsError,
    crate::forecast::ForecastError,
    crate::approvals::ApprovalError,
    crate::charts::ChartError
);

/// A report's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "daily",
            Self::Week => "weekly",
        }
    }

    fn db(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
        }
    }

    /// A human label of `[from, until)` in `tz`.
    pub(crate) fn label(
        self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> String {
        let f = from.with_timezone(&tz);
        let last = (until - Duration::seconds(1)).with_timezone(&tz);
        match self {
            Self::Day => f.format("%A %-d %B %Y").to_string(),
            Self::Week => format!("{} to {}", f.format("%-d %B"), last.format("%-d %B %Y")),
        }
    }

    /// The last complete period before `now` (`to_date`: the one running, up to now).
    pub fn span(
        self,
        now: DateTime<Utc>,
        to_date: bool,
        config: &Config,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let tz =
            crate::costs::settings::parse_zone(&config.costs.time_zone).unwrap_or(chrono_tz::UTC);
        let ws = config.costs.week_start;
        let size = match self {
            Self::Day => crate::costs::BucketSize::Day,
            Self::Week => crate::costs::BucketSize::Week,
        };
        let current = crate::costs::period::floor(now, size, tz, ws);
        if to_date {
            return (current, now);
        }
        let before = crate::costs::period::floor(current - Duration::seconds(1), size, tz, ws);
        (before, current)
    }
}

/// What made a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Sent,
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// A delivery of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub state: DeliveryState,
    pub attempts: u32,
    /// The last failure (the server's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A file of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportFile {
    pub format: ReportFormat,
    /// The file's name in the reports folder.
    pub name: String,
    pub bytes: u64,
    /// PDF pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<usize>,
}

/// A report that was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportRecord {
    pub id: String,
    pub period: Period,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Of the period running (up to when it was made).
    pub to_date: bool,
    pub trigger: Trigger,
    pub title: String,
    pub created_at: DateTime<Utc>,
    /// How long making it took.
    pub duration_ms: u64,
    pub files: Vec<ReportFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Delivery>,
}

/// A report to make now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub period: Period,
    /// The period running, up to now (default: the last complete one).
    #[serde(default)]
    pub to_date: bool,
    /// Default `[reports] formats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub formats: Option<Vec<ReportFormat>>,
    /// Also mail it to `[reports] email_to` and post it to `[reports] webhook`.
    #[serde(default)]
    pub deliver: bool,
}

/// An event of the `reports` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReportEvent {
    /// A report was made.
    Generated {
        id: String,
        period: Period,
        trigger: Trigger,
        title: String,
    },
    /// A delivery ended: `sent` or `failed` (after every attempt).
    Delivery {
        id: String,
        channel: String,
        state: DeliveryState,
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// What a report is made from.
pub struct ReportsParts {
    pub store: Store,
    pub clock: SharedClock,
    pub config: ConfigHandle,
    pub costs: Costs,
    pub kpis: Kpis,
    pub approvals: Approvals,
    pub secrets: Option<SecretStore>,
    pub node_id: String,
    pub data_dir: PathBuf,
}

impl ReportsParts {
    pub(crate) fn tz(&self, config: &Config) -> chrono_tz::Tz {
        crate::costs::settings::parse_zone(&config.costs.time_zone).unwrap_or(chrono_tz::UTC)
    }
}

/// The reports of one node. Cheap to clone.
#[derive(Clone)]
pub struct Reports {
    pub(crate) inner: Arc<ReportsParts>,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reports")
    }
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRecord> {
    let files: String = r.get(9)?;
    let delivery = |state: Option<String>, attempts: i64, error: Option<String>| {
        state.map(|s| Delivery {
            state: DeliveryState::parse(&s),
            attempts: u32::try_from(attempts).unwrap_or(0),
            error,
        })
    };
    Ok(ReportRecord {
        id: r.get(0)?,
        period: if r.get::<_, String>(1)? == "day" {
            Period::Day
        } else {
            Period::Week
        },
        from: time_from_db(r.get(2)?)?,
        until: time_from_db(r.get(3)?)?,
        to_date: r.get::<_, i64>(4)? != 0,
        trigger: if r.get::<_, String>(5)? == "schedule" {
            Trigger::Schedule
        } else {
            Trigger::Manual
        },
        title: r.get(6)?,
        created_at: time_from_db(r.get(7)?)?,
        duration_ms: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
        files: serde_json::from_str(&files).unwrap_or_default(),
        email: delivery(r.get(10)?, r.get(11)?, r.get(12)?),
        webhook: delivery(r.get(13)?, r.get(14)?, r.get(15)?),
    })
}

const COLUMNS: &str = "id, period, period_start, period_end, to_date, trigger, title, created_at, \
     duration_ms, files, email_state, email_attempts, email_error, webhook_state, \
     webhook_attempts, webhook_error";

impl Reports {
    pub fn new(parts: ReportsParts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    /// Reports on `store` alone (a stopped data dir: the CLI, tests, benchmarks): costs
    /// without a live gate, KPI series and approvals on the same store.
    pub fn on_store(
        store: Store,
        clock: SharedClock,
        config: ConfigHandle,
        secrets: Option<SecretStore>,
        node_id: String,
    ) -> Self {
        let costs = Costs::new(store.clone(), config.clone(), clock.clone());
        let kpis = Kpis::new(store.clone(), clock.clone(), costs.clone());
        let approvals = Approvals::new(
            store.clone(),
            config.clone(),
            clock.clone(),
            None,
            None,
            None,
        );
        let data_dir = store.data_dir().to_path_buf();
        Self::new(ReportsParts {
            store,
            clock,
            config,
            costs,
            kpis,
            approvals,
            secrets,
            node_id,
            data_dir,
        })
    }

    /// When the next scheduled report is due (none when the schedule is off).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        next_due(&self.inner.config.current(), self.inner.clock.now())
    }

    /// Where report files go.
    pub fn folder(&self) -> PathBuf {
        let config = self.inner.config.current();
        match &config.reports.folder {
            Some(f) if f.is_absolute() => f.clone(),
            Some(f) => self.inner.data_dir.join(f),
            None => self.inner.data_dir.join("reports"),
        }
    }

    /// Renders a report of `[from, until)` without storing it: (data, files' bytes).
    pub async fn render(
        &self,
        period: Period,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        formats: &[ReportFormat],
    ) -> Result<
        (
            gather::ReportData,
            Vec<(ReportFormat, Vec<u8>, Option<usize>)>,
        ),
        ReportsError,
    > {
        let data = self.gather(period, from, until).await?;
        let d = data.clone();
        let formats = formats.to_vec();
        let files = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for f in formats {
                match f {
                    ReportFormat::Html => out.push((f, html::render(&d)?.into_bytes(), None)),
                    ReportFormat::Pdf => {
                        let (bytes, pages) = pdf::render(&d)?;
                        out.push((f, bytes, Some(pages)));
                    }
                }
            }
            Ok::<_, ReportsError>(out)
        })
        .await
        .map_err(|e| ReportsError::Render(e.to_string()))??;
        Ok((data, files))
    }

    /// Makes a report now: files into the folder, its row, its event; delivered when asked.
    pub async fn generate(&self, req: &ReportRequest) -> Result<ReportRecord, ReportsError> {
        let config = self.inner.config.current();
        let (from, until) = req
            .period
            .span(self.inner.clock.now(), req.to_date, &config);
        let formats = match &req.formats {
            Some(f) if f.is_empty() => {
                return Err(ReportsError::BadRequest(
                    "formats: at least one of html, pdf".into(),
                ));
            }
            Some(f) => f.clone(),
            None => config.reports.formats.clone(),
        };
        if req.deliver && config.reports.email_to.is_empty() && config.reports.webhook.is_none() {
            return Err(ReportsError::BadRequest(
                "no delivery is configured: set [reports] email_to (with [reports.smtp]) or webhook"
                    .into(),
            ));
        }
        let record = self
            .make(
                req.period,
                from,
                until,
                req.to_date,
                Trigger::Manual,
                &formats,
            )
            .await?
            .ok_or_else(|| ReportsError::Render("the report was made twice".into()))?;
        if req.deliver {
            return self.deliver(&record.id).await;
        }
        Ok(record)
    }

    /// Makes and stores a report; `None` when a scheduled one of that period exists.
    pub(crate) async fn make(
        &self,
        period: Period,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        to_date: bool,
        trigger: Trigger,
        formats: &[ReportFormat],
    ) -> Result<Option<ReportRecord>, ReportsError> {
        let started = std::time::Instant::now();
        let mut formats = formats.to_vec();
        formats.sort();
        formats.dedup();
        let (data, rendered) = self.render(period, from, until, &formats).await?;
        let id = format!("rep_{}", uuid::Uuid::new_v4().simple());
        let folder = self.folder();
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| ReportsError::Io(format!("{}: {e}", folder.display())))?;
        let tz = self.inner.tz(&self.inner.config.current());
        let stem = format!(
            "flightdeck-{}-{}-{}",
            period.db(),
            from.with_timezone(&tz).format("%Y-%m-%d"),
            &id[4..12]
        );
        let mut files = Vec::new();
        for (format, bytes, pages) in rendered {
            let name = format!("{stem}.{}", format.ext());
            let path = folder.join(&name);
            let tmp = folder.join(format!(".{name}.tmp"));
            tokio::fs::write(&tmp, &bytes)
                .await
                .map_err(|e| ReportsError::Io(format!("{}: {e}", tmp.display())))?;
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| ReportsError::Io(format!("{}: {e}", path.display())))?;
            files.push(ReportFile {
                format,
                name,
                bytes: bytes.len() as u64,
                pages,
            });
        }
        let config = self.inner.config.current();
        let email = (trigger == Trigger::Schedule && !config.reports.email_to.is_empty())
            .then_some(DeliveryState::Pending);
        let webhook = (trigger == Trigger::Schedule && config.reports.webhook.is_some())
            .then_some(DeliveryState::Pending);
        let record = ReportRecord {
            id: id.clone(),
            period,
            from,
            until,
            to_date,
            trigger,
            title: data.title.clone(),
            created_at: self.inner.clock.now(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            files,
            email: email.map(|state| Delivery {
                state,
                attempts: 0,
                error: None,
            }),
            webhook: webhook.map(|state| Delivery {
                state,
                attempts: 0,
                error: None,
            }),
        };
        let r = record.clone();
        let inserted =
            self.inner
                .store
                .write(move |tx| {
                    let files = json_to_db(&r.files)?;
                    let n = tx.execute(
                    "INSERT OR IGNORE INTO reports (id, period, period_start, period_end, to_date, \
                     trigger, title, created_at, duration_ms, files, email_state, webhook_state) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    rusqlite::params![
                        r.id,
                        r.period.db(),
                        time_to_db(r.from),
                        time_to_db(r.until),
                        r.to_date,
                        if r.trigger == Trigger::Schedule { "schedule" } else { "manual" },
                        r.title,
                        time_to_db(r.created_at),
                        i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                        files,
                        r.email.as_ref().map(|d| d.state.as_str()),
                        r.webhook.as_ref().map(|d| d.state.as_str()),
                    ],
                )?;
                    if n == 1 {
                        tx.append_event(Event::Reports(ReportEvent::Generated {
                            id: r.id.clone(),
                            period: r.period,
                            trigger: r.trigger,
                            title: r.title.clone(),
                        }))?;
                    }
                    Ok::<_, StoreError>(n == 1)
                })
                .await?;
        if !inserted {
            // A scheduled report of this period exists (another run made it): ours goes.
            for f in &record.files {
                let _ = tokio::fs::remove_file(folder.join(&f.name)).await;
            }
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Reports, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<ReportRecord>, ReportsError> {
        Ok(self
            .inner
            .store
            .read(move |db| {
                db.query_all(
                    &format!("SELECT {COLUMNS} FROM reports ORDER BY created_at DESC, id LIMIT ?1"),
                    [limit],
                    record_from_row,
                )
            })
            .await?)
    }

    /// One report.
    pub async fn get(&self, id: &str) -> Result<ReportRecord, ReportsError> {
        let i = id.to_string();
        self.inner
            .store
            .read(move |db| {
                db.query_opt(
                    &format!("SELECT {COLUMNS} FROM reports WHERE id = ?1"),
                    [i],
                    record_from_row,
                )
            })
            .await?
            .ok_or_else(|| ReportsError::NotFound(format!("no report `{id}`")))
    }

    /// A report's file: its bytes.
    pub async fn file(&self, id: &str, format: ReportFormat) -> Result<Vec<u8>, ReportsError> {
        let r = self.get(id).await?;
        let f = r.files.iter().find(|f| f.format == format).ok_or_else(|| {
            ReportsError::NotFound(format!("report `{id}` has no {} file", format.ext()))
        })?;
        let path = self.folder().join(&f.name);
        tokio::fs::read(&path).await.map_err(|e| {
            ReportsError::NotFound(format!("{}: {e} (moved or removed?)", path.display()))
        })
    }
}

/// The next instant the scheduled report of `schedule` is due after `now` (its local hour).
pub(crate) fn next_due(config: &Config, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let period = match config.reports.schedule {
        settings::Schedule::Off => return None,
        settings::Schedule::Daily => Period::Day,
        settings::Schedule::Weekly => Period::Week,
    };
    let tz = crate::costs::settings::parse_zone(&config.costs.time_zone).unwrap_or(chrono_tz::UTC);
    let (_, current_start) = period.span(now, false, config);
    let local = current_start.with_timezone(&tz);
    let due = |start: chrono::DateTime<chrono_tz::Tz>| {
        tz.with_ymd_and_hms(
            start.year(),
            start.month(),
            start.day(),
            u32::from(config.reports.at_hour),
            0,
            0,
        )
        .earliest()
        .map(|t| t.with_timezone(&Utc))
    };
    let this = due(local)?;
    if this > now {
        return Some(this);
    }
    let next_start = match period {
        Period::Day => local + Duration::days(1),
        Period::Week => local + Duration::days(7),
    };
    due(next_start)
}
