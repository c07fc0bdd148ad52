//! Bad rows of an imported CSV file (a billing export, a series), collected while the whole
//! file is read so the error names every bad line (the first 20, and how many more) and
//! nothing is used from a file that has one.

/// Bad rows named in the message at most (the count covers all).
const MAX_LISTED: usize = 20;

/// The bad rows of one file.
#[derive(Debug, Default)]
pub struct BadRows {
    listed: Vec<String>,
    count: usize,
}

impl BadRows {
    /// Records line `line` as bad, for `why`.
    pub fn push(&mut self, line: u64, why: impl std::fmt::Display) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(format!("line {line}: {why}"));
        }
    }

    /// The line and reason of a record the CSV reader itself refused.
    pub fn reader_error(e: &csv::Error) -> (u64, String) {
        let line = e.position().map_or(0, |p| p.line());
        let why = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            _ => e.to_string(),
        };
        (line, why)
    }

    /// The error message when any row was bad (`outcome`: what did not happen, e.g.
    /// "nothing was imported").
    pub fn message(&self, outcome: &str) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let more = if self.count > self.listed.len() {
            format!(" (and {} more)", self.count - self.listed.len())
        } else {
            String::new()
        };
        Some(format!(
            "{} row(s) do not parse, {outcome}: {}{more}",
            self.count,
            self.listed.join("; ")
        ))
    }
}
