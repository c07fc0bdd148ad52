//! Reconciliation: a provider's billing export (CSV) set beside the ledger per UTC day and
//! model, with the days and models whose difference is above `[costs] drift_pct` flagged.
//!
//! Formats, told apart by their header (or named by the caller):
//! - `openai`: OpenAI's cost export (the organization Costs API grouped by line item, as
//!   the dashboard exports it): `start_time` (Unix seconds) or `start_time_iso`,
//!   `amount_value` (USD), `line_item` (`"gpt-4o-2024-08-06, input"`: the model is what comes
//!   before the first comma), optional `amount_currency`, `end_time`, `project_id`.
//! - `anthropic`: Anthropic's cost report: `starting_at` (or `usage_date_utc` / `date`),
//!   `model`, and `amount` in cents as the Admin API gives it (with `currency`), or
//!   `cost_usd` in dollars; optional `cost_type`, `token_type`, `description`, ...
//! - `generic`: `date,model,cost_usd` and optionally `provider` (a configured provider
//!   name), for any other bill (docs/costs.md).
//!
//! Models are compared by their base name (a dated snapshot suffix such as `-2024-08-06` or
//! `-20251001` is dropped on both sides), so a bill's snapshot names meet the ledger's
//! aliases. Charges without a model (web search, a bill not grouped by line item) are a line
//! of their own (`model` = `""`), billed only.
//!
//! Invariants: a file is parsed whole before anything is written, and written in one
//! transaction (a bad row, named by its line, imports nothing); a file is imported once
//! (its SHA-256); money is Decimal end to end. The ledger side is read when a
//! reconciliation is shown, so it follows later corrections and late calls.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;

use super::CostsError;
use crate::config::Config;
use crate::store::values::{money_from_db, money_to_db, time_from_db, time_to_db};
use crate::store::{Db, StoreError};

/// The largest export accepted (bytes).
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// A billing export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillFormat {
    Openai,
    Anthropic,
    Generic,
}

impl BillFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Generic => "generic",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(Self::Openai),
            "anthropic" => Some(Self::Anthropic),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }

    /// The headers it needs, for the error that names them.
    fn needs(self) -> &'static str {
        match self {
            Self::Openai => "start_time or start_time_iso, amount_value, line_item",
            Self::Anthropic => {
                "starting_at or usage_date_utc or date, model, and amount (cents) or cost_usd"
            }
            Self::Generic => "date, model, cost_usd (and optionally provider)",
        }
    }
}

/// (UTC day, model base name) → (billed, rows of the file).
pub type BilledLines = BTreeMap<(NaiveDate, String), (Decimal, u64)>;

/// What a file bills per UTC day and model (base name), parsed and checked.
#[derive(Debug, Clone)]
pub struct ParsedBill {
    pub format: BillFormat,
    /// Data rows read.
    pub rows: u64,
    /// (day, model) → (billed, rows).
    pub lines: BilledLines,
    /// The `provider` column's values (generic format).
    pub providers: BTreeSet<String>,
}

/// A model's base name: lowercased, without a dated snapshot suffix.
pub fn base_model(model: &str) -> String {
    let m = model.trim().to_ascii_lowercase();
    let bytes = m.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    // -YYYY-MM-DD
    if bytes.len() > 11 {
        let tail = &bytes[bytes.len() - 11..];
        if tail[0] == b'-'
            && digits(&tail[1..5])
            && tail[5] == b'-'
            && digits(&tail[6..8])
            && tail[8] == b'-'
            && digits(&tail[9..11])
        {
            return m[..m.len() - 11].to_string();
        }
    }
    // -20YYMMDD
    if bytes.len() > 9 {
        let tail = &bytes[bytes.len() - 9..];
        if tail[0] == b'-' && digits(&tail[1..]) && tail[1] == b'2' && tail[2] == b'0' {
            return m[..m.len() - 9].to_string();
        }
    }
    m
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| headers.iter().position(|h| h == n))
}

/// Column positions of one format.
struct Columns {
    day: usize,
    /// Unix seconds rather than a date or RFC 3339 time.
    day_is_unix: bool,
    model: usize,
    /// OpenAI's `line_item`: the model is what precedes the first comma.
    model_in_line_item: bool,
    amount: usize,
    /// The amount is in cents (Anthropic's cost report).
    cents: bool,
    currency: Option<usize>,
    provider: Option<usize>,
}

fn columns(format: BillFormat, h: &[String]) -> Option<Columns> {
    match format {
        BillFormat::Openai => {
            let (day, unix) = match find(h, &["start_time_iso"]) {
                Some(i) => (i, false),
                None => (find(h, &["start_time"])?, true),
            };
            Some(Columns {
                day,
                day_is_unix: unix,
                model: find(h, &["line_item"])?,
                model_in_line_item: true,
                amount: find(h, &["amount_value"])?,
                cents: false,
                currency: find(h, &["amount_currency"]),
                provider: None,
            })
        }
        BillFormat::Anthropic => {
            let (amount, cents) = match find(h, &["cost_usd"]) {
                Some(i) => (i, false),
                None => (find(h, &["amount"])?, true),
            };
            Some(Columns {
                day: find(h, &["starting_at", "usage_date_utc", "date"])?,
                day_is_unix: false,
                model: find(h, &["model"])?,
                model_in_line_item: false,
                amount,
                cents,
                currency: find(h, &["currency"]),
                provider: None,
            })
        }
        BillFormat::Generic => Some(Columns {
            day: find(h, &["date"])?,
            day_is_unix: false,
            model: find(h, &["model"])?,
            model_in_line_item: false,
            amount: find(h, &["cost_usd"])?,
            cents: false,
            currency: find(h, &["currency"]),
            provider: find(h, &["provider"]),
        }),
    }
}

/// The format a header names: OpenAI's and Anthropic's own columns first, then generic.
fn detect(h: &[String]) -> Option<BillFormat> {
    let has = |n: &str| h.iter().any(|x| x == n);
    if has("amount_value") && has("line_item") {
        return Some(BillFormat::Openai);
    }
    if (has("starting_at") || has("usage_date_utc"))
        && has("model")
        && (has("amount") || has("cost_usd"))
    {
        return Some(BillFormat::Anthropic);
    }
    if has("date") && has("model") && has("cost_usd") {
        return Some(BillFormat::Generic);
    }
    None
}

fn day_of(text: &str, unix: bool) -> Result<NaiveDate, String> {
    let t = text.trim();
    if unix {
        let secs: i64 = t
            .parse()
            .map_err(|_| format!("`{t}` is not a Unix time in seconds"))?;
        return Utc
            .timestamp_opt(secs, 0)
            .single()
            .map(|d| d.date_naive())
            .ok_or_else(|| format!("`{t}` is out of range"));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d);
    }
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc).date_naive())
        .map_err(|_| format!("`{t}` is not a date (2026-12-01) or an RFC 3339 time"))
}

fn amount_of(text: &str, cents: bool) -> Result<Decimal, String> {
    let t = text.trim();
    let d = t
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| format!("`{t}` is not an amount"))?;
    Ok(if cents { d / Decimal::from(100) } else { d }.normalize())
}

/// Parses and checks a whole export. `format` overrides detection.
pub fn parse(text: &str, format: Option<BillFormat>) -> Result<ParsedBill, CostsError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(CostsError::BadRequest(format!(
            "the file is over {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| CostsError::UnknownFormat(format!("the header row does not parse: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let unknown = || {
        CostsError::UnknownFormat(format!(
            "the header ({}) matches no known format: openai needs {}; anthropic needs {}; \
             generic needs {}",
            headers.join(","),
            BillFormat::Openai.needs(),
            BillFormat::Anthropic.needs(),
            BillFormat::Generic.needs()
        ))
    };
    let format = match format {
        Some(f) => f,
        None => detect(&headers).ok_or_else(unknown)?,
    };
    let cols = columns(format, &headers).ok_or_else(|| {
        CostsError::UnknownFormat(format!(
            "the header ({}) is not the {} format, which needs {}",
            headers.join(","),
            format.as_str(),
            format.needs()
        ))
    })?;
    let mut bad = crate::csv_rows::BadRows::default();
    let mut out = ParsedBill {
        format,
        rows: 0,
        lines: BTreeMap::new(),
        providers: BTreeSet::new(),
    };
    for record in reader.records() {
        let (line, result) = match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                (line, row(&r, &cols, format))
            }
            Err(e) => {
                let (line, why) = crate::csv_rows::BadRows::reader_error(&e);
                (line, Err(why))
            }
        };
        out.rows += 1;
        match result {
            Ok(None) => {}
            Ok(Some((day, model, amount, provider))) => {
                let e = out.lines.entry((day, model)).or_insert((Decimal::ZERO, 0));
                e.0 += amount;
                e.1 += 1;
                if let Some(p) = provider {
                    out.providers.insert(p);
                }
            }
            Err(why) => bad.push(line, why),
        }
    }
    if let Some(message) = bad.message("nothing was imported") {
        return Err(CostsError::InvalidRows(message));
    }
    if out.lines.is_empty() {
        return Err(CostsError::InvalidRows(
            "the file has no billed rows, nothing was imported".into(),
        ));
    }
    Ok(out)
}

type Row = (NaiveDate, String, Decimal, Option<String>);

/// One data row: `None` for a row that bills nothing (zero, e.g. a free line item).
fn row(r: &csv::StringRecord, c: &Columns, format: BillFormat) -> Result<Option<Row>, String> {
    let get = |i: usize| r.get(i).unwrap_or("");
    let raw_day = get(c.day);
    if raw_day.is_empty() {
        return Err("no date".into());
    }
    let day = day_of(raw_day, c.day_is_unix)?;
    let raw_amount = get(c.amount);
    if raw_amount.is_empty() {
        return Err("no amount".into());
    }
    let amount = amount_of(raw_amount, c.cents)?;
    if let Some(ci) = c.currency {
        let cur = get(ci);
        if !cur.is_empty() && !cur.eq_ignore_ascii_case("usd") {
            return Err(format!(
                "currency `{cur}`: only USD bills can be reconciled"
            ));
        }
    }
    let raw_model = get(c.model);
    let model = if c.model_in_line_item {
        raw_model.split(',').next().unwrap_or("").trim()
    } else {
        raw_model
    };
    let provider = c
        .provider
        .map(|i| get(i).to_string())
        .filter(|p| !p.is_empty());
    if format == BillFormat::Generic && model.is_empty() {
        return Err("no model".into());
    }
    if amount.is_zero() {
        return Ok(None);
    }
    Ok(Some((day, base_model(model), amount, provider)))
}

/// One day × model of a reconciliation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileLine {
    pub day: NaiveDate,
    /// The model's base name; `""` for charges without a model.
    pub model: String,
    #[schema(value_type = String)]
    pub billed: Decimal,
    #[schema(value_type = String)]
    pub ledger: Decimal,
    /// billed − ledger.
    #[schema(value_type = String)]
    pub diff: Decimal,
    /// diff as a percentage of the larger side (none when both are 0).
    pub diff_pct: Option<f64>,
    /// Ledger calls that day (of that model).
    pub ledger_calls: u64,
    /// Of them, calls whose cost is unknown (not in `ledger`): a reason for drift.
    pub unknown_cost_calls: u64,
    pub drift: bool,
}

/// One day of a reconciliation (every model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReconcileDay {
    pub day: NaiveDate,
    #[schema(value_type = String)]
    pub billed: Decimal,
    #[schema(value_type = String)]
    pub ledger: Decimal,
    #[schema(value_type = String)]
    pub diff: Decimal,
    pub diff_pct: Option<f64>,
    pub unknown_cost_calls: u64,
    pub drift: bool,
}

/// An imported export, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub actor: String,
    pub format: BillFormat,
    /// The ledger's providers it is compared with.
    pub providers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub sha256: String,
    pub rows: u64,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The threshold it flags drift at (%).
    pub drift_pct: f64,
    #[schema(value_type = String)]
    pub billed: Decimal,
    #[schema(value_type = String)]
    pub ledger: Decimal,
    #[schema(value_type = String)]
    pub diff: Decimal,
    pub drifted_days: u32,
    pub drifted_lines: u32,
}

/// An imported export set beside the ledger as it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reconciliation {
    #[serde(flatten)]
    pub summary: ReconciliationSummary,
    pub days: Vec<ReconcileDay>,
    pub lines: Vec<ReconcileLine>,
}

/// What an import is told besides the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    /// The file's format (detected from its header when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<BillFormat>,
    /// The configured provider(s) whose ledger rows it is compared with. Default: the
    /// generic file's `provider` column, else every configured provider of the vendor
    /// (by its API host, then by its kind when none is on the vendor's host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// Drift threshold in % (default `[costs] drift_pct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_pct: Option<f64>,
    /// Shown beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// The providers an import compares with.
pub fn providers_for(
    config: &Config,
    bill: &ParsedBill,
    asked: &[String],
) -> Result<Vec<String>, CostsError> {
    let configured = &config.providers;
    let check = |names: Vec<String>| -> Result<Vec<String>, CostsError> {
        for n in &names {
            if !configured.contains_key(n) {
                return Err(CostsError::BadRequest(format!(
                    "`{n}` is not a configured provider (configured: {})",
                    configured.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(names)
    };
    if !asked.is_empty() {
        let mut v = asked.to_vec();
        v.sort();
        v.dedup();
        return check(v);
    }
    if !bill.providers.is_empty() {
        return check(bill.providers.iter().cloned().collect());
    }
    use crate::providers::settings::ProviderKind;
    let (host, kind) = match bill.format {
        BillFormat::Openai => ("api.openai.com", Some(ProviderKind::Openai)),
        BillFormat::Anthropic => ("api.anthropic.com", Some(ProviderKind::Anthropic)),
        BillFormat::Generic => ("", None),
    };
    let on_host: Vec<String> = configured
        .iter()
        .filter(|(_, p)| !host.is_empty() && p.base_url.contains(host))
        .map(|(n, _)| n.clone())
        .collect();
    if !on_host.is_empty() {
        return Ok(on_host);
    }
    let of_kind: Vec<String> = configured
        .iter()
        .filter(|(_, p)| kind.is_none_or(|k| p.kind == k) && !p.is_local())
        .map(|(n, _)| n.clone())
        .collect();
    if of_kind.is_empty() {
        return Err(CostsError::BadRequest(format!(
            "no configured provider to compare a {} bill with: name one (providers)",
            bill.format.as_str()
        )));
    }
    Ok(of_kind)
}

/// Drift: the difference is above `pct` of the larger side and at least a cent.
fn drifted(billed: Decimal, ledger: Decimal, pct: f64) -> (Option<f64>, bool) {
    use rust_decimal::prelude::ToPrimitive;
    let diff = (billed - ledger).abs();
    let base = billed.abs().max(ledger.abs());
    if base.is_zero() {
        return (None, false);
    }
    let p = (diff / base * Decimal::from(100)).to_f64().unwrap_or(0.0);
    let p = (p * 100.0).round() / 100.0;
    (Some(p), diff >= Decimal::new(1, 2) && p > pct)
}

const DAY_MS: i64 = 86_400_000;

fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

/// Sets the bill's lines beside the ledger's `cost_daily` for its providers and days.
fn compare(
    db: &Db<'_>,
    summary: &mut ReconciliationSummary,
    billed: &BilledLines,
) -> Result<(Vec<ReconcileDay>, Vec<ReconcileLine>), StoreError> {
    let from = day_start_ms(summary.first_day);
    let until = day_start_ms(summary.last_day) + DAY_MS;
    let providers = serde_json::to_string(&summary.providers).unwrap_or_else(|_| "[]".into());
    let rows = db.query_all(
        "SELECT bucket, model, dec_sum(cost), SUM(calls), SUM(unknown_cost_calls) \
         FROM cost_daily WHERE bucket >= ?1 AND bucket < ?2 \
         AND provider IN (SELECT value FROM json_each(?3)) GROUP BY bucket, model",
        rusqlite::params![from, until, providers],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                money_from_db(&r.get::<_, String>(2)?)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        },
    )?;
    // (day, base model) → (billed, ledger, calls, unknown)
    let mut cells: BTreeMap<(NaiveDate, String), (Decimal, Decimal, u64, u64)> = BTreeMap::new();
    for ((day, model), (b, _)) in billed {
        cells.entry((*day, model.clone())).or_default().0 += *b;
    }
    for (bucket, model, cost, calls, unknown) in rows {
        let Some(day) = DateTime::from_timestamp_millis(bucket).map(|d| d.date_naive()) else {
            continue;
        };
        let e = cells.entry((day, base_model(&model))).or_default();
        e.1 += cost;
        e.2 += u64::try_from(calls).unwrap_or(0);
        e.3 += u64::try_from(unknown).unwrap_or(0);
    }
    let pct = summary.drift_pct;
    let mut days: BTreeMap<NaiveDate, (Decimal, Decimal, u64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(cells.len());
    for ((day, model), (b, l, calls, unknown)) in cells {
        let (diff_pct, drift) = drifted(b, l, pct);
        let d = days.entry(day).or_default();
        d.0 += b;
        d.1 += l;
        d.2 += unknown;
        lines.push(ReconcileLine {
            day,
            model,
            billed: b.normalize(),
            ledger: l.normalize(),
            diff: (b - l).normalize(),
            diff_pct,
            ledger_calls: calls,
            unknown_cost_calls: unknown,
            drift,
        });
    }
    // Every day of the bill's span, also one without any charge or call.
    let mut day = summary.first_day;
    while day <= summary.last_day {
        days.entry(day).or_default();
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    let days: Vec<ReconcileDay> = days
        .into_iter()
        .map(|(day, (b, l, unknown))| {
            let (diff_pct, drift) = drifted(b, l, pct);
            ReconcileDay {
                day,
                billed: b.normalize(),
                ledger: l.normalize(),
                diff: (b - l).normalize(),
                diff_pct,
                unknown_cost_calls: unknown,
                drift,
            }
        })
        .collect();
    summary.billed = days.iter().map(|d| d.billed).sum::<Decimal>().normalize();
    summary.ledger = days.iter().map(|d| d.ledger).sum::<Decimal>().normalize();
    summary.diff = (summary.billed - summary.ledger).normalize();
    summary.drifted_days = u32::try_from(days.iter().filter(|d| d.drift).count()).unwrap_or(0);
    summary.drifted_lines = u32::try_from(lines.iter().filter(|l| l.drift).count()).unwrap_or(0);
    Ok((days, lines))
}

fn summary_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReconciliationSummary> {
    let day = |i: usize| -> rusqlite::Result<NaiveDate> {
        let s: String = r.get(i)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let providers: String = r.get(4)?;
    let format: String = r.get(3)?;
    Ok(ReconciliationSummary {
        id: r.get(0)?,
        created_at: time_from_db(r.get(1)?)?,
        actor: r.get(2)?,
        format: BillFormat::parse(&format).unwrap_or(BillFormat::Generic),
        providers: serde_json::from_str(&providers).unwrap_or_default(),
        file_name: r.get(5)?,
        sha256: r.get(6)?,
        rows: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        first_day: day(8)?,
        last_day: day(9)?,
        drift_pct: r.get(10)?,
        billed: Decimal::ZERO,
        ledger: Decimal::ZERO,
        diff: Decimal::ZERO,
        drifted_days: 0,
        drifted_lines: 0,
    })
}

const SUMMARY_COLUMNS: &str = "id, created_at, actor, format, providers, file_name, sha256, \
    rows, first_day, last_day, drift_pct";

fn billed_lines(db: &Db<'_>, id: &str) -> Result<BilledLines, StoreError> {
    let rows = db.query_all(
        "SELECT day, model, billed, rows FROM reconciliation_lines WHERE reconciliation_id = ?1",
        [id],
        |r| {
            let day: String = r.get(0)?;
            Ok((
                NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok(),
                r.get::<_, String>(1)?,
                money_from_db(&r.get::<_, String>(2)?)?,
                u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|(d, m, b, n)| d.map(|d| ((d, m), (b, n))))
        .collect())
}

/// One reconciliation, compared with the ledger now.
pub fn load(db: &Db<'_>, id: &str) -> Result<Option<Reconciliation>, StoreError> {
    let Some(mut summary) = db.query_opt(
        &format!("SELECT {SUMMARY_COLUMNS} FROM reconciliations WHERE id = ?1"),
        [id],
        summary_of,
    )?
    else {
        return Ok(None);
    };
    let billed = billed_lines(db, id)?;
    let (days, lines) = compare(db, &mut summary, &billed)?;
    Ok(Some(Reconciliation {
        summary,
        days,
        lines,
    }))
}

/// Every reconciliation, newest first, with its totals against the ledger now.
pub fn list(db: &Db<'_>, limit: u32) -> Result<Vec<ReconciliationSummary>, StoreError> {
    let mut items = db.query_all(
        &format!(
            "SELECT {SUMMARY_COLUMNS} FROM reconciliations ORDER BY created_at DESC, rowid DESC \
             LIMIT ?1"
        ),
        [limit],
        summary_of,
    )?;
    for s in &mut items {
        let billed = billed_lines(db, &s.id)?;
        compare(db, s, &billed)?;
    }
    Ok(items)
}

/// The hex SHA-256 of a file.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes a parsed bill (one transaction); a file imported before is `Conflict`.
pub(super) fn insert(
    tx: &mut crate::store::WriteTx<'_>,
    summary: &ReconciliationSummary,
    bill: &ParsedBill,
) -> Result<Result<(), String>, StoreError> {
    if let Some(existing) = tx.query_opt(
        "SELECT id FROM reconciliations WHERE sha256 = ?1",
        [&summary.sha256],
        |r| r.get::<_, String>(0),
    )? {
        return Ok(Err(existing));
    }
    tx.execute(
        "INSERT INTO reconciliations (id, created_at, actor, format, providers, file_name, \
         sha256, rows, first_day, last_day, drift_pct) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        rusqlite::params![
            summary.id,
            time_to_db(summary.created_at),
            summary.actor,
            summary.format.as_str(),
            serde_json::to_string(&summary.providers).unwrap_or_else(|_| "[]".into()),
            summary.file_name,
            summary.sha256,
            i64::try_from(summary.rows).unwrap_or(i64::MAX),
            summary.first_day.to_string(),
            summary.last_day.to_string(),
            summary.drift_pct,
        ],
    )?;
    for ((day, model), (billed, rows)) in &bill.lines {
        tx.execute(
            "INSERT INTO reconciliation_lines (reconciliation_id, day, model, billed, rows) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                summary.id,
                day.to_string(),
                model,
                money_to_db(*billed),
                i64::try_from(*rows).unwrap_or(i64::MAX),
            ],
        )?;
    }
    Ok(Ok(()))
}

impl super::Costs {
    /// Imports a billing export and compares it with the ledger: parsed whole first (a bad
    /// row or an unknown format imports nothing), written in one transaction with its
    /// `costs` feed event; the same file twice is `Duplicate`.
    pub async fn import_bill(
        &self,
        text: &str,
        options: ImportOptions,
        actor: &str,
    ) -> Result<Reconciliation, CostsError> {
        let bill = parse(text, options.format)?;
        let config = self.config.current();
        let providers = providers_for(&config, &bill, &options.providers)?;
        let drift_pct = options.drift_pct.unwrap_or(config.costs.drift_pct);
        if !(drift_pct.is_finite() && (0.0..=100.0).contains(&drift_pct)) {
            return Err(CostsError::BadRequest(
                "drift_pct is a percentage from 0 to 100".into(),
            ));
        }
        if let Some(n) = &options.file_name
            && (n.len() > 255 || n.chars().any(char::is_control))
        {
            return Err(CostsError::BadRequest(
                "file_name is at most 255 characters, none of them control characters".into(),
            ));
        }
        let (Some(first), Some(last)) = (
            bill.lines.keys().map(|(d, _)| *d).min(),
            bill.lines.keys().map(|(d, _)| *d).max(),
        ) else {
            return Err(CostsError::InvalidRows(
                "the file has no billed rows".into(),
            ));
        };
        if (last - first).num_days() > 3660 {
            return Err(CostsError::InvalidRows(format!(
                "the file spans {first} to {last}: at most ten years at a time"
            )));
        }
        let summary = ReconciliationSummary {
            id: crate::approvals::store::new_id("rec"),
            created_at: self.clock.now(),
            actor: actor.to_string(),
            format: bill.format,
            providers,
            file_name: options.file_name.clone(),
            sha256: sha256_hex(text.as_bytes()),
            rows: bill.rows,
            first_day: first,
            last_day: last,
            drift_pct,
            billed: Decimal::ZERO,
            ledger: Decimal::ZERO,
            diff: Decimal::ZERO,
            drifted_days: 0,
            drifted_lines: 0,
        };
        let s = summary.clone();
        let result = self
            .store
            .write(move |tx| {
                if let Err(existing) = insert(tx, &s, &bill)? {
                    return Ok(Err(existing));
                }
                let Some(rec) = load(tx, &s.id)? else {
                    return Ok(Err(s.id.clone()));
                };
                tx.append_event(crate::events::Event::Costs(
                    super::CostEvent::Reconciliation {
                        id: s.id.clone(),
                        drifted_days: rec.summary.drifted_days,
                        removed: false,
                    },
                ))?;
                Ok::<_, CostsError>(Ok(rec))
            })
            .await?;
        result.map_err(CostsError::Duplicate)
    }

    /// One reconciliation, compared with the ledger as it is now.
    pub async fn reconciliation(&self, id: &str) -> Result<Reconciliation, CostsError> {
        let key = id.to_string();
        self.store
            .read(move |db| load(db, &key))
            .await?
            .ok_or_else(|| CostsError::NotFound(format!("no reconciliation `{id}`")))
    }

    /// The reconciliations, newest first (at most `limit`).
    pub async fn reconciliations(
        &self,
        limit: u32,
    ) -> Result<Vec<ReconciliationSummary>, CostsError> {
        Ok(self.store.read(move |db| list(db, limit)).await?)
    }

    /// Removes an imported export (so a corrected file can be imported again).
    pub async fn remove_reconciliation(&self, id: &str) -> Result<(), CostsError> {
        let key = id.to_string();
        let n = self
            .store
            .write(move |tx| {
                let n = tx.execute("DELETE FROM reconciliations WHERE id = ?1", [&key])?;
                if n > 0 {
                    tx.append_event(crate::events::Event::Costs(
                        super::CostEvent::Reconciliation {
                            id: key.clone(),
                            drifted_days: 0,
                            removed: true,
                        },
                    ))?;
                }
                Ok::<_, CostsError>(n)
            })
            .await?;
        if n == 0 {
            return Err(CostsError::NotFound(format!("no reconciliation `{id}`")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn snapshot_suffixes_are_dropped() {
        assert_eq!(base_model("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(base_model("claude-haiku-4-5-20251001"), "claude-haiku-4-5");
        assert_eq!(base_model("GPT-4o"), "gpt-4o");
        assert_eq!(base_model("gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(base_model("o3"), "o3");
        assert_eq!(base_model("model-12345678"), "model-12345678");
    }

    #[test]
    fn formats_are_detected_and_rows_checked() {
        let openai = "start_time,end_time,start_time_iso,end_time_iso,project_id,line_item,amount_value,amount_currency\n\
            1796083200,1796169600,2026-12-01T00:00:00+00:00,2026-12-02T00:00:00+00:00,proj_1,\"gpt-4o-2024-08-06, input\",0.25,usd\n\
            1796083200,1796169600,2026-12-01T00:00:00+00:00,2026-12-02T00:00:00+00:00,proj_1,\"gpt-4o-2024-08-06, output\",1.00,usd\n";
        let b = parse(openai, None).unwrap();
        assert_eq!(b.format, BillFormat::Openai);
        assert_eq!(b.rows, 2);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(
            b.lines.get(&(day, "gpt-4o".into())),
            Some(&("1.25".parse().unwrap(), 2))
        );

        let anthropic = "starting_at,ending_at,model,cost_type,token_type,amount,currency\n\
            2026-12-01T00:00:00Z,2026-12-02T00:00:00Z,claude-haiku-4-5-20251001,tokens,output_tokens,123.45,USD\n\
            2026-12-01T00:00:00Z,2026-12-02T00:00:00Z,,web_search,,1000,USD\n";
        let b = parse(anthropic, None).unwrap();
        assert_eq!(b.format, BillFormat::Anthropic);
        assert_eq!(
            b.lines.get(&(day, "claude-haiku-4-5".into())),
            Some(&("1.2345".parse().unwrap(), 1))
        );
        assert_eq!(
            b.lines.get(&(day, String::new())),
            Some(&("10".parse().unwrap(), 1))
        );

        let err = parse("when,what\n1,2\n", None).unwrap_err();
        assert_eq!(err.code().as_str(), "unknown_format");
        assert!(
            err.to_string()
                .contains("generic needs date, model, cost_usd")
        );

        let err = parse(
            "date,model,cost_usd\n2026-12-01,m,1\n2026-13-01,m,1\n2026-12-02,m,abc\n2026-12-03,m,1,extra\n2026-12-04,m,1,EUR\n",
            None,
        )
        .unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_rows");
        let msg = err.to_string();
        assert!(msg.contains("line 3: `2026-13-01` is not a date"), "{msg}");
        assert!(msg.contains("line 4: `abc` is not an amount"), "{msg}");
        assert!(
            msg.contains("line 5: 4 fields where the header has 3"),
            "{msg}"
        );
        assert!(msg.starts_with("4 row(s)"), "{msg}");

        let err = parse("date,model,cost_usd,currency\n2026-12-01,m,1,EUR\n", None).unwrap_err();
        assert!(err.to_string().contains("line 2: currency `EUR`"), "{err}");
        let err = parse("date,model,cost_usd\n", None).unwrap_err();
        assert_eq!(err.code().as_str(), "invalid_rows");
        let err = parse(
            "date,model,cost_usd\n2026-12-01,m,1\n",
            Some(BillFormat::Openai),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not the openai format"), "{err}");
    }

    #[test]
    fn drift_needs_the_percentage_and_a_cent() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(drifted(d("10"), d("10"), 2.0), (Some(0.0), false));
        assert_eq!(drifted(d("10"), d("9.5"), 2.0), (Some(5.0), true));
        assert_eq!(drifted(d("0.004"), d("0.002"), 2.0), (Some(50.0), false));
        assert_eq!(drifted(d("0"), d("0"), 2.0), (None, false));
        assert_eq!(drifted(d("1"), d("0"), 2.0), (Some(100.0), true));
    }
}
