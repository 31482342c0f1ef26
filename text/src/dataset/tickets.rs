//! Ticket layer: records in, [`Ticket`]s with stable ids out.
//!
//! A ticket whose id an earlier row already used is quarantined ([`QuarantineReason::DuplicateId`]
//! naming that row). Finding those without a map from every id to its row (which grew with the
//! input: 815 MB at 10M tickets, measured) takes two reads of the input: [`TicketReader::open`] reads it once
//! to sort the ids in bounded memory ([`duplicate_ids`], [`spill_sort`]), and iterating reads it
//! again, streaming.

mod duplicate_ids;
mod spill_sort;

use std::path::{Path, PathBuf};

use ticketflow_schemas::Ticket;

use super::file_reader::{ColumnSpec, RecordOutcome, RecordReader};
use super::{LoadError, LoadOptions, QuarantineReason, Quarantined};
use duplicate_ids::{IdOccurrences, RepeatedRows};

pub use duplicate_ids::{DEFAULT_CHUNK_ENTRIES, DuplicateIdOptions, DuplicateIdSummary};
pub use spill_sort::SortStats;

/// Tag columns are `tag_1` … `tag_N` in the exports; we read up to this many.
const MAX_TAGS: usize = 16;

/// Fixed positions of the columns [`TicketReader`] asks for.
const SUBJECT: usize = 0;
const BODY: usize = 1;
const ANSWER: usize = 2;
const TYPE: usize = 3;
const QUEUE: usize = 4;
const PRIORITY: usize = 5;
const LANGUAGE: usize = 6;
const ID: usize = 7;
const FIRST_TAG: usize = 8;

/// What the loader made of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketOutcome {
    Accepted(Ticket),
    Quarantined(Quarantined),
}

/// Streams [`TicketOutcome`]s from a CSV or JSONL export.
///
/// Memory does not grow with the input: one record at a time, plus the duplicate-id check's
/// bounded sorters ([`DuplicateIdOptions::chunk_entries`]). The price is that the input is read
/// twice, once by [`open`](Self::open) and once by the iteration; it must not change in between
/// (a row the first read did not see stops the load with an error).
pub struct TicketReader {
    records: RecordReader,
    /// The rows that repeat an earlier ticket's id, from the first read.
    repeated: RepeatedRows,
    /// True when ids come from the input rather than from a content hash.
    explicit_ids: bool,
    path: PathBuf,
}

impl TicketReader {
    /// Opens an export and reads it once for the duplicate-id check, with the default
    /// [`DuplicateIdOptions`]. `subject` and `body` are required columns; `answer`, `type`,
    /// `queue`, `priority`, `language`, `tag_N` and an id column are used when present; anything
    /// else is ignored.
    pub fn open(path: &Path, opts: &LoadOptions) -> Result<Self, LoadError> {
        Self::open_with(path, opts, &DuplicateIdOptions::default())
    }

    /// [`open`](Self::open) with the duplicate-id check's memory and spill directory chosen.
    pub fn open_with(
        path: &Path,
        opts: &LoadOptions,
        duplicates: &DuplicateIdOptions,
    ) -> Result<Self, LoadError> {
        let explicit_ids = opts.id_column.is_some();
        let repeated = find_repeated_ids(path, opts, explicit_ids, duplicates)?;
        let records = RecordReader::open(path, ticket_columns(opts), opts)?;
        Ok(Self {
            records,
            repeated,
            explicit_ids,
            path: path.to_path_buf(),
        })
    }

    /// What the duplicate-id check found in the first read, and what it cost.
    pub fn duplicate_ids(&self) -> &DuplicateIdSummary {
        self.repeated.summary()
    }

    /// The row's outcome: [`row_outcome`]'s, unless an earlier ticket already used its id.
    fn ticket_from(&mut self, record: super::Record) -> Result<TicketOutcome, LoadError> {
        let line = record.line;
        let ticket = match row_outcome(record, self.explicit_ids) {
            TicketOutcome::Accepted(ticket) => ticket,
            quarantined => return Ok(quarantined),
        };
        let first_row =
            self.repeated
                .first_row_for(ticket.row)
                .map_err(|source| LoadError::Io {
                    path: self.path.clone(),
                    source,
                })?;
        Ok(match first_row {
            Some(first_row) => TicketOutcome::Quarantined(Quarantined {
                row: ticket.row,
                line,
                excerpt: super::excerpt(ticket.subject.as_bytes()),
                reason: QuarantineReason::DuplicateId {
                    id: ticket.id,
                    first_row,
                },
            }),
            None => TicketOutcome::Accepted(ticket),
        })
    }
}

/// The columns a [`TicketReader`] asks for, at the positions of the constants above.
fn ticket_columns(opts: &LoadOptions) -> Vec<ColumnSpec> {
    let id_spec = match &opts.id_column {
        Some(name) => ColumnSpec::required(name),
        None => ColumnSpec::optional(&["id", "ticket_id"]),
    };
    let mut specs = vec![
        ColumnSpec::required("subject"),
        ColumnSpec::required("body"),
        ColumnSpec::optional(&["answer"]),
        ColumnSpec::optional(&["type", "ticket_type"]),
        ColumnSpec::optional(&["queue"]),
        ColumnSpec::optional(&["priority"]),
        ColumnSpec::optional(&["language", "lang"]),
        id_spec,
    ];
    for i in 1..=MAX_TAGS {
        specs.push(ColumnSpec::optional(&[&format!("tag_{i}")]));
    }
    specs
}

/// The first read: the id of every row that [`row_outcome`] makes a ticket, sorted to find the
/// rows that repeat one. Rows quarantined for another reason (empty text, empty id, a broken
/// record) are no first occurrence of anything, exactly as in the second read, because both
/// reads decide with the same [`row_outcome`].
///
/// A fatal error stops this read where it happened; the second read meets it at the same row
/// and reports it there, after the rows before it, as a single read always did.
fn find_repeated_ids(
    path: &Path,
    opts: &LoadOptions,
    explicit_ids: bool,
    options: &DuplicateIdOptions,
) -> Result<RepeatedRows, LoadError> {
    let spill_parent = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let spill_error = |source: std::io::Error| LoadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            source.kind(),
            format!(
                "sorting ids for the duplicate-id check (spill files under {}): {source}",
                spill_parent.display()
            ),
        ),
    };
    let mut occurrences = IdOccurrences::new(options);
    for outcome in RecordReader::open(path, ticket_columns(opts), opts)? {
        match outcome {
            Ok(RecordOutcome::Record(record)) => {
                let row = record.row;
                match row_outcome(record, explicit_ids) {
                    TicketOutcome::Accepted(ticket) => occurrences
                        .record(id_key(&ticket.id), ticket.row)
                        .map_err(spill_error)?,
                    TicketOutcome::Quarantined(_) => occurrences.saw_row(row),
                }
            }
            Ok(RecordOutcome::Quarantined(q)) => occurrences.saw_row(q.row),
            Err(_) => break,
        }
    }
    occurrences.finish().map_err(spill_error)
}

/// What becomes of a record, before the duplicate-id check: a ticket, or a row quarantined for
/// its content (empty text, empty id). Both reads call it, so they agree on which rows are tickets.
fn row_outcome(record: super::Record, explicit_ids: bool) -> TicketOutcome {
    let super::Record { row, line, values } = record;
    let mut values: Vec<Option<String>> = values;
    let take = |values: &mut Vec<Option<String>>, i: usize| values[i].take();
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());

    let subject = take(&mut values, SUBJECT).unwrap_or_default();
    let body = take(&mut values, BODY).unwrap_or_default();
    let quarantine = |reason, excerpt: &str| {
        TicketOutcome::Quarantined(Quarantined {
            row,
            line,
            reason,
            excerpt: super::excerpt(excerpt.as_bytes()),
        })
    };
    if subject.trim().is_empty() && body.trim().is_empty() {
        return quarantine(QuarantineReason::EmptyText, "");
    }
    let mut ticket = Ticket {
        id: String::new(),
        row,
        subject,
        body,
        answer: non_empty(take(&mut values, ANSWER)),
        ticket_type: non_empty(take(&mut values, TYPE)).map(|s| s.trim().to_string()),
        queue: non_empty(take(&mut values, QUEUE)).map(|s| s.trim().to_string()),
        priority: non_empty(take(&mut values, PRIORITY)).map(|s| s.trim().to_string()),
        language: non_empty(take(&mut values, LANGUAGE)).map(|s| s.trim().to_string()),
        tags: values[FIRST_TAG..]
            .iter_mut()
            .filter_map(|v| non_empty(v.take()))
            .map(|s| s.trim().to_string())
            .collect(),
    };
    let given_id = non_empty(take(&mut values, ID)).map(|s| s.trim().to_string());
    ticket.id = match given_id {
        Some(id) => id,
        None if explicit_ids => {
            return quarantine(QuarantineReason::EmptyId, &ticket.subject);
        }
        None => content_id(&ticket),
    };
    TicketOutcome::Accepted(ticket)
}

/// A 128-bit BLAKE3 digest of a ticket id. Two different ids collide with probability about
/// n²/2¹²⁹ (1e-23 for 100 million tickets), so treating equal digests as equal ids is safe.
fn id_key(id: &str) -> u128 {
    let hash = blake3::hash(id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    u128::from_le_bytes(bytes)
}

impl Iterator for TicketReader {
    type Item = Result<TicketOutcome, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.records.next()? {
            Ok(RecordOutcome::Record(r)) => self.ticket_from(r),
            Ok(RecordOutcome::Quarantined(q)) => Ok(TicketOutcome::Quarantined(q)),
            Err(e) => Err(e),
        })
    }
}

/// A stable id from a ticket's content: the same ticket gets the same id in every run, so
/// reruns upsert instead of duplicating.
///
/// Every field is length-prefixed before hashing, so `("ab", "c")` and `("a", "bc")` differ.
/// 128 bits of BLAKE3 make an accidental collision practically impossible at any data size we
/// will meet.
pub fn content_id(ticket: &Ticket) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut field = |s: &str| {
        hasher.update(&(s.len() as u64).to_le_bytes());
        hasher.update(s.as_bytes());
    };
    field(&ticket.subject);
    field(&ticket.body);
    for opt in [
        &ticket.answer,
        &ticket.ticket_type,
        &ticket.queue,
        &ticket.priority,
        &ticket.language,
    ] {
        field(opt.as_deref().unwrap_or(""));
    }
    for tag in &ticket.tags {
        field(tag);
    }
    let hash = hasher.finalize();
    hash.to_hex()[..32].to_string()
}

/// Everything a load produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub tickets: Vec<Ticket>,
    pub quarantined: Vec<Quarantined>,
}

/// Loads a whole export into memory. For small inputs and single-process commands; the
/// coordinator streams with [`TicketReader`] instead.
pub fn load_tickets(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for outcome in TicketReader::open(path, opts)? {
        match outcome? {
            TicketOutcome::Accepted(t) => loaded.tickets.push(t),
            TicketOutcome::Quarantined(q) => loaded.quarantined.push(q),
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests;
