//! Export of the audit log, oldest first: JSON Lines (one entry per line, `detail` as JSON)
//! or CSV (a header row; `detail` as its JSON text). Both carry `prev_hash` and `hash`, so an
//! export can be checked against a head kept elsewhere.

use std::io::Write;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ChainHead, Row};
use crate::store::{Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/jsonl",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

fn encode(e: impl std::fmt::Display) -> StoreError {
    StoreError::Encode {
        what: "audit export",
        message: e.to_string(),
    }
}

/// Writes every entry to `out` in `format`; answers the head it ended at.
pub fn export(
    db: &Db<'_>,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<Option<ChainHead>, StoreError> {
    let mut head = None;
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut dyn Write>>),
        Jsonl(&'a mut dyn Write),
    }
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "seq",
                "at",
                "actor",
                "kind",
                "subject",
                "detail",
                "prev_hash",
                "hash",
            ])
            .map_err(encode)?;
            Sink::Csv(Box::new(w))
        }
        ExportFormat::Jsonl => Sink::Jsonl(out),
    };
    super::each_row(db, |row: Row| {
        let entry = row.entry().map_err(|e| db.err(e))?;
        match &mut sink {
            Sink::Csv(w) => w
                .write_record([
                    row.seq.to_string(),
                    entry
                        .at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    row.actor.clone(),
                    row.kind.clone(),
                    row.subject.clone(),
                    row.detail.clone(),
                    row.prev_hash.clone(),
                    row.hash.clone(),
                ])
                .map_err(encode)?,
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut **out, &entry).map_err(encode)?;
                out.write_all(b"\n").map_err(encode)?;
            }
        }
        head = Some(ChainHead {
            seq: row.seq,
            hash: row.hash,
        });
        Ok(())
    })?;
    match &mut sink {
        Sink::Csv(w) => w.flush().map_err(encode)?,
        Sink::Jsonl(out) => out.flush().map_err(encode)?,
    }
    Ok(head)
}
