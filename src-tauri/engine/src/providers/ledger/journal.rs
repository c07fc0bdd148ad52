//! The ledger's journal: an append-only file of call records (`begin` when a call starts,
//! `end` when it finished), so a crash between a call's answer and its row's commit loses
//! nothing silently.
//!
//! Layout: `<data-dir>/ledger-journal/<segment>.jsonl`, one JSON object per line, written
//! with one `write(2)` each (no fsync: a killed process loses nothing the kernel has; a power
//! cut loses at most what the recorder had not committed yet, which SQLite syncs within
//! `recorder::LINGER`, 20 ms, plus a commit). A segment is rotated at [`SEGMENT_BYTES`] and deleted once every record in
//! it has been committed to the `calls` table.
//!
//! Invariants: a record's line is complete in the file before `append` returns; a segment is
//! removed only when its outstanding count is zero and it is not the one being written.
//! Must never: hold a secret (records carry no prompts or keys), or grow without bound while
//! the recorder commits.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use super::CallRecord;

/// Rotation size of a segment.
pub const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// One line: a call that started, or one that finished.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    Begin(Box<CallRecord>),
    End(Box<CallRecord>),
}

pub struct Journal {
    dir: PathBuf,
    file: File,
    segment: u64,
    bytes: u64,
    /// Records written to each segment and not yet committed.
    outstanding: HashMap<u64, u64>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:012}.jsonl"))
}

fn open_segment(dir: &Path, segment: u64) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(segment_path(dir, segment))
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// What a previous run left: every entry of every segment, in order (a torn last line, from
/// a kill mid-write, is skipped), and the segments to remove once they are committed.
pub fn read_leftovers(dir: &Path) -> std::io::Result<(Vec<Entry>, Vec<PathBuf>)> {
    std::fs::create_dir_all(dir)?;
    let mut entries = Vec::new();
    let mut paths = Vec::new();
    for segment in segments(dir)? {
        let path = segment_path(dir, segment);
        let file = File::open(&path)?;
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line?;
            match serde_json::from_slice::<Entry>(&line) {
                Ok(entry) => entries.push(entry),
                Err(error) if !line.is_empty() => {
                    tracing::warn!(%error, segment, "skipping a torn ledger journal line")
                }
                Err(_) => {}
            }
        }
        paths.push(path);
    }
    Ok((entries, paths))
}

impl Journal {
    /// A fresh segment after the ones in `dir` (which recovery has emptied).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let segment = segments(dir)?.last().map_or(1, |s| s + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            file: open_segment(dir, segment)?,
            segment,
            bytes: 0,
            outstanding: HashMap::new(),
        })
    }

    /// Writes one entry and returns the segment it is in.
    pub fn append(&mut self, entry: &Entry) -> std::io::Result<u64> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        let segment = self.segment;
        *self.outstanding.entry(segment).or_default() += 1;
        self.bytes += line.len() as u64;
        if self.bytes >= SEGMENT_BYTES {
            let next = self.segment + 1;
            self.file = open_segment(&self.dir, next)?;
            self.segment = next;
            self.bytes = 0;
        }
        Ok(segment)
    }

    /// Records in `segments` are committed; segments left with nothing outstanding (and not
    /// being written) are removed.
    pub fn committed(&mut self, segments: impl IntoIterator<Item = u64>) {
        for segment in segments {
            let done = match self.outstanding.get_mut(&segment) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => false,
            };
            if done && segment != self.segment {
                self.outstanding.remove(&segment);
                if let Err(error) = std::fs::remove_file(segment_path(&self.dir, segment)) {
                    tracing::warn!(%error, segment, "could not remove a committed ledger journal segment");
                }
            }
        }
    }

    /// Segment files present now (for tests and the docs' promise).
    pub fn segment_count(&self) -> usize {
        segments(&self.dir).map(|s| s.len()).unwrap_or(0)
    }
}
