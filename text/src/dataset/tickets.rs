//! Ticket layer: records in, [`Ticket`]s with stable ids out.

use std::collections::HashMap;
use std::path::Path;

use ticketflow_schemas::Ticket;

use super::file_reader::{ColumnSpec, RecordOutcome, RecordReader};
use super::{LoadError, LoadOptions, QuarantineReason, Quarantined};

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
pub struct TicketReader {
    records: RecordReader,
    /// Where each id was first seen, to refuse duplicates, keyed by [`id_key`]: the one piece
    /// of state that grows with the input (about 50 bytes per ticket instead of 140 with the
    /// id strings as keys: 1M tickets cost the coordinator 142 MB that way).
    seen: HashMap<u128, u64>,
    /// True when ids come from the input rather than from a content hash.
    explicit_ids: bool,
}

impl TicketReader {
    /// Opens an export. `subject` and `body` are required columns; `answer`, `type`, `queue`,
    /// `priority`, `language`, `tag_N` and an id column are used when present; anything else is
    /// ignored.
    pub fn open(path: &Path, opts: &LoadOptions) -> Result<Self, LoadError> {
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
        let explicit_ids = opts.id_column.is_some();
        let records = RecordReader::open(path, specs, opts)?;
        Ok(Self {
            records,
            seen: HashMap::new(),
            explicit_ids,
        })
    }

    fn ticket_from(&mut self, record: super::Record) -> TicketOutcome {
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
            None if self.explicit_ids => {
                return quarantine(QuarantineReason::EmptyId, &ticket.subject);
            }
            None => content_id(&ticket),
        };
        let key = id_key(&ticket.id);
        if let Some(&first_row) = self.seen.get(&key) {
            return quarantine(
                QuarantineReason::DuplicateId {
                    id: ticket.id.clone(),
                    first_row,
                },
                &ticket.subject,
            );
        }
        self.seen.insert(key, row);
        TicketOutcome::Accepted(ticket)
    }
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
            Ok(RecordOutcome::Record(r)) => Ok(self.ticket_from(r)),
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
