//! The ledger as a file: CSV (one row per call, oldest first, the columns of
//! [`CSV_COLUMNS`], a contract for spreadsheets and tools) or JSON Lines (the API's
//! `CallRecord`). Money is written exactly as stored; an unknown cost is an empty cell,
//! never `0`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CostFilter, Window};
use crate::providers::ledger::{CallFilter, CallRecord};

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LedgerFormat {
    #[default]
    Csv,
    Jsonl,
}

impl LedgerFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/jsonl",
        }
    }
}

/// The CSV header.
pub const CSV_COLUMNS: [&str; 28] = [
    "id",
    "started_at",
    "finished_at",
    "client",
    "agent",
    "task_id",
    "route",
    "requested_model",
    "provider",
    "model",
    "node_id",
    "protocol",
    "stream",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "cost_usd",
    "price_source",
    "outcome",
    "error_code",
    "cache_hit",
    "saved_cost_usd",
    "latency_ms",
    "ttft_ms",
    "tags",
];

fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// One call as CSV cells, in [`CSV_COLUMNS`] order.
pub fn csv_cells(r: &CallRecord) -> Vec<String> {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        r.id.clone(),
        r.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        r.finished_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        r.client.clone(),
        opt(&r.agent),
        opt(&r.task_id),
        opt(&r.route),
        r.requested_model.clone(),
        opt(&r.provider),
        opt(&r.model),
        r.node_id.clone(),
        name(&r.protocol),
        r.stream.to_string(),
        r.usage.input.to_string(),
        r.usage.output.to_string(),
        r.usage.cached_input.to_string(),
        r.usage.cache_write.to_string(),
        r.usage.reasoning.to_string(),
        r.usage.estimated.to_string(),
        r.cost
            .map(|c| c.normalize().to_string())
            .unwrap_or_default(),
        r.price_source.as_ref().map(name).unwrap_or_default(),
        name(&r.outcome),
        opt(&r.error_code),
        r.cache_hit.to_string(),
        r.saved_cost
            .map(|c| c.normalize().to_string())
            .unwrap_or_default(),
        ms(r.latency_us),
        r.ttft_us.map(ms).unwrap_or_default(),
        r.tags.join(" "),
    ]
}

/// CSV text of `rows` (with the header first when `header`).
pub fn csv_chunk(rows: &[CallRecord], header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    if header {
        w.write_record(CSV_COLUMNS)?;
    }
    for r in rows {
        w.write_record(csv_cells(r))?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// JSON Lines of `rows`.
pub fn jsonl_chunk(rows: &[CallRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        if let Ok(line) = serde_json::to_vec(r) {
            out.extend(line);
            out.push(b'\n');
        }
    }
    out
}

/// The ledger filter of a costs query (`model` as `provider/model` or a bare model).
pub fn call_filter(window: &Window, f: &CostFilter) -> CallFilter {
    let (provider, model) = match &f.model {
        Some(m) => match m.split_once('/') {
            Some((p, m)) => (Some(p.to_string()), Some(m.to_string())),
            None => (f.provider.clone(), Some(m.clone())),
        },
        None => (f.provider.clone(), None),
    };
    CallFilter {
        client: f.client.clone(),
        agent: f.agent.clone(),
        tag: f.tag.clone(),
        node_id: f.node.clone(),
        route: f.route.clone(),
        provider,
        model,
        since: Some(window.from),
        until: Some(window.until),
        ..CallFilter::default()
    }
}
