//! Reading ticket exports (CSV or JSONL) without ever crashing on a bad row.
//!
//! A ticket export is messy: quoting breaks, encodings drift, bodies are empty or enormous. The
//! loader therefore separates two kinds of failure:
//!
//! * **fatal** ([`LoadError`]): the file cannot be opened, or the columns the job needs are not
//!   there. Nothing sensible can continue, so the caller gets one error that names the problem.
//! * **per row** ([`Quarantined`]): one record is unusable. It is set aside with its row number and
//!   a reason, counted, and the load goes on.
//!
//! Reading is streaming: [`TicketReader`] is an iterator, so the coordinator can shard a
//! million-row file without holding it in memory. [`load_tickets`] collects everything for the
//! small single-process commands.
//!
//! Two layers keep the formats out of the ticket logic: [`records`] turns CSV or JSONL into
//! validated records holding only the requested columns, and [`tickets`] turns records into
//! [`Ticket`](ticketflow_schemas::Ticket)s with stable ids.

mod file_reader;
mod tickets;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use file_reader::{ColumnSpec, Record, RecordOutcome, RecordReader};
pub use tickets::{
    DEFAULT_CHUNK_ENTRIES, DuplicateIdOptions, DuplicateIdSummary, Loaded, SortStats,
    TicketOutcome, TicketReader, content_id, load_tickets,
};

/// Parses a raw shard file. A line that does not parse makes the whole file corrupt: the
/// coordinator wrote it, so a bad line means damage, not a user's typo.
pub fn parse_raw_shard(bytes: &[u8]) -> Result<Vec<ticketflow_schemas::Ticket>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("raw shard is not UTF-8: {e}"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<ticketflow_schemas::Ticket>(line)
                .map_err(|e| format!("raw shard line {}: {e}", i + 1))
        })
        .collect()
}

/// Input file formats the loader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl InputFormat {
    /// Picks the format from the file extension: `.jsonl`, `.ndjson` and `.json` are JSONL,
    /// everything else is read as CSV.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => InputFormat::Jsonl,
            _ => InputFormat::Csv,
        }
    }
}

/// Knobs for reading an export.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Column holding a ticket id. `None` looks for `id` or `ticket_id` and falls back to a
    /// content hash when neither exists.
    pub id_column: Option<String>,
    /// Any single field longer than this (in bytes) quarantines its row. Guards memory and the
    /// tokenizer against pasted logs or attachments.
    pub max_field_bytes: usize,
    /// No record may be longer than this (in bytes; at least `max_field_bytes`). Bounds the
    /// memory one record can take: an unclosed CSV quote would otherwise read the rest of the
    /// file into one record. A longer CSV record stops the load (nothing after it can be
    /// parsed reliably); a longer JSON line is quarantined and skipped.
    pub max_record_bytes: usize,
    /// Forces a format instead of guessing from the extension.
    pub format: Option<InputFormat>,
}

/// 1 MiB: far above any real ticket (the dev data's longest body is a few KB), far below what
/// would hurt a worker.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1 << 20;

/// 16 MiB: what one record may cost the coordinator at most. Far above a real ticket, and
/// above a pasted 10 MB attachment, which is still quarantined by the field limit rather than
/// stopping the load.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            id_column: None,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            format: None,
        }
    }
}

/// A failure that stops the whole load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: missing required column(s): {}; found: {}",
        missing.join(", "),
        if found.is_empty() { "(none)".to_string() } else { found.join(", ") }
    )]
    MissingColumns {
        path: PathBuf,
        missing: Vec<String>,
        found: Vec<String>,
    },
    #[error("{path}: the file is empty (no header row)")]
    Empty { path: PathBuf },
    #[error("{path}: the header row is not valid UTF-8")]
    HeaderNotUtf8 { path: PathBuf },
    /// A CSV record longer than [`LoadOptions::max_record_bytes`]. Reading stopped there.
    #[error(
        "{path}: the record starting at line {line} is longer than {limit} bytes, probably an \
         unclosed quote; reading stopped there (fix the file, or raise --max-record-bytes if the \
         record is real)"
    )]
    RecordTooLarge {
        path: PathBuf,
        line: u64,
        limit: usize,
    },
}

/// Why a row was set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QuarantineReason {
    /// The CSV record has a different number of fields than the header: almost always an
    /// unbalanced quote that swallowed a line break or a delimiter.
    FieldCount { expected: usize, found: usize },
    /// The CSV parser rejected the record.
    Malformed { detail: String },
    /// A field is not valid UTF-8 (a file saved in Latin-1 or Windows-1252, or binary junk).
    InvalidUtf8 { column: String },
    /// A field is longer than [`LoadOptions::max_field_bytes`].
    OversizedField {
        column: String,
        bytes: usize,
        limit: usize,
    },
    /// Subject and body are both empty: there is nothing to learn from or embed.
    EmptyText,
    /// A JSONL line that is not a JSON object.
    InvalidJson { detail: String },
    /// A JSONL line without a field that the job needs.
    MissingField { column: String },
    /// A JSONL line longer than [`LoadOptions::max_record_bytes`]; skipped unread.
    OversizedRecord { limit: usize },
    /// The id column is empty on this row.
    EmptyId,
    /// The same id was already accepted on an earlier row. Kept out so a rerun cannot make the
    /// second row silently overwrite the first in the vector store.
    DuplicateId { id: String, first_row: u64 },
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldCount { expected, found } => write!(
                f,
                "expected {expected} fields, found {found} (broken quoting?)"
            ),
            Self::Malformed { detail } => write!(f, "malformed record: {detail}"),
            Self::InvalidUtf8 { column } => write!(f, "column {column:?} is not valid UTF-8"),
            Self::OversizedField {
                column,
                bytes,
                limit,
            } => write!(
                f,
                "column {column:?} is {bytes} bytes, over the {limit}-byte limit"
            ),
            Self::EmptyText => write!(f, "subject and body are both empty"),
            Self::InvalidJson { detail } => write!(f, "not a JSON object: {detail}"),
            Self::MissingField { column } => write!(f, "missing field {column:?}"),
            Self::OversizedRecord { limit } => {
                write!(f, "the line is over the {limit}-byte record limit")
            }
            Self::EmptyId => write!(f, "the id column is empty"),
            Self::DuplicateId { id, first_row } => {
                write!(f, "id {id:?} was already used by row {first_row}")
            }
        }
    }
}

/// A row set aside by the loader, with enough context for a person to find and fix it.
/// Reads back from the JSON lines [`write_quarantine`] writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    /// 1-based data row (record) number; the header is not counted.
    pub row: u64,
    /// 1-based line in the file where the record starts.
    pub line: u64,
    pub reason: QuarantineReason,
    /// The start of the raw record (lossily decoded), to recognise it by.
    pub excerpt: String,
}

/// Writes quarantined rows as JSON lines (`{"row":…,"line":…,"reason":{…},"message":…}`).
pub fn write_quarantine(path: &Path, rows: &[Quarantined]) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        row: &'a Quarantined,
        message: String,
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in rows {
        let line = Line {
            row,
            message: row.reason.to_string(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Longest excerpt kept for a quarantined row.
const EXCERPT_CHARS: usize = 120;

/// The first characters of a raw record, decoded lossily and with line breaks made visible.
pub(crate) fn excerpt(raw: &[u8]) -> String {
    let head = &raw[..raw.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head)
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
