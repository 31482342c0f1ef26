//! Format layer: CSV or JSONL in, validated records of the requested columns out.
//!
//! The caller names the columns it needs ([`ColumnSpec`]); the reader resolves them once against
//! the CSV header (or per line for JSONL), checks each requested field for UTF-8 and size, and
//! yields a [`Record`] whose values line up with the specs. Columns nobody asked for are never
//! decoded, which keeps extra columns harmless and the hot loop cheap.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{InputFormat, LoadError, LoadOptions, QuarantineReason, Quarantined, excerpt};

/// A column the caller wants, under one or more accepted names (matched case-insensitively,
/// first match wins).
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub names: Vec<String>,
    pub required: bool,
}

impl ColumnSpec {
    pub fn required(name: &str) -> Self {
        Self {
            names: vec![name.to_string()],
            required: true,
        }
    }

    pub fn optional(names: &[&str]) -> Self {
        Self {
            names: names.iter().map(|n| n.to_string()).collect(),
            required: false,
        }
    }

    fn primary(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or("")
    }

    fn matches(&self, column: &str) -> bool {
        let column = column.trim();
        self.names.iter().any(|n| n.eq_ignore_ascii_case(column))
    }
}

/// One accepted record: `values[i]` belongs to `specs[i]`; `None` when the column is absent
/// (or JSON `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub row: u64,
    pub line: u64,
    pub values: Vec<Option<String>>,
}

/// What the reader made of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    Record(Record),
    Quarantined(Quarantined),
}

/// Streams records from a CSV or JSONL file.
pub struct RecordReader {
    inner: Inner,
}

enum Inner {
    Csv(CsvRecords),
    Jsonl(JsonlRecords),
}

impl RecordReader {
    /// Opens `path` and resolves `specs` against its columns. Fails at once when a required column
    /// is missing, naming every missing one.
    pub fn open(
        path: &Path,
        specs: Vec<ColumnSpec>,
        opts: &LoadOptions,
    ) -> Result<Self, LoadError> {
        let file = File::open(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format = opts.format.unwrap_or_else(|| InputFormat::from_path(path));
        let inner = match format {
            InputFormat::Csv => Inner::Csv(CsvRecords::new(path, file, specs, opts)?),
            InputFormat::Jsonl => Inner::Jsonl(JsonlRecords::new(path, file, specs, opts)?),
        };
        Ok(Self { inner })
    }
}

impl Iterator for RecordReader {
    type Item = Result<RecordOutcome, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(r) => r.next(),
            Inner::Jsonl(r) => r.next(),
        }
    }
}

fn missing_columns(path: &Path, specs: &[ColumnSpec], found: &[String]) -> Result<(), LoadError> {
    let missing: Vec<String> = specs
        .iter()
        .filter(|s| s.required && !found.iter().any(|c| s.matches(c)))
        .map(|s| s.primary().to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LoadError::MissingColumns {
            path: path.to_path_buf(),
            missing,
            found: found.to_vec(),
        })
    }
}

/// Checks one raw field against the size limit and decodes it.
fn decode_field(spec: &ColumnSpec, raw: &[u8], limit: usize) -> Result<String, QuarantineReason> {
    if raw.len() > limit {
        return Err(QuarantineReason::OversizedField {
            column: spec.primary().to_string(),
            bytes: raw.len(),
            limit,
        });
    }
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => Err(QuarantineReason::InvalidUtf8 {
            column: spec.primary().to_string(),
        }),
    }
}

/// The file as the CSV parser sees it, cut off `limit` bytes after the start of the record
/// being read: the parser keeps a whole record in memory, and an unclosed quote makes the rest
/// of the file one record. The csv crate has no such limit, hence this wrapper.
struct RecordCap {
    file: File,
    /// Bytes handed to the parser so far.
    consumed: u64,
    /// Where the current record starts; the reader moves it after every record.
    record_start: Rc<Cell<u64>>,
    limit: u64,
}

/// The error [`RecordCap`] stops the parser with.
#[derive(Debug, thiserror::Error)]
#[error("record over the size limit")]
struct RecordOverLimit;

impl Read for RecordCap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.record_start.get().saturating_add(self.limit);
        let allowed = end.saturating_sub(self.consumed);
        if allowed == 0 {
            return Err(std::io::Error::other(RecordOverLimit));
        }
        let take = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..take])?;
        self.consumed += n as u64;
        Ok(n)
    }
}

fn is_over_limit(e: &csv::Error) -> bool {
    match e.kind() {
        csv::ErrorKind::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<RecordOverLimit>().is_some()),
        _ => false,
    }
}

struct CsvRecords {
    path: PathBuf,
    reader: csv::Reader<RecordCap>,
    /// Where the next record starts (byte and line), for the cap and its error.
    record_start: Rc<Cell<u64>>,
    record_line: u64,
    record_limit: usize,
    specs: Vec<ColumnSpec>,
    /// For each spec, its index in the header (None when absent).
    index: Vec<Option<usize>>,
    header_len: usize,
    limit: usize,
    row: u64,
    record: csv::ByteRecord,
    done: bool,
}

impl CsvRecords {
    fn new(
        path: &Path,
        file: File,
        specs: Vec<ColumnSpec>,
        opts: &LoadOptions,
    ) -> Result<Self, LoadError> {
        // Headers are read by hand (has_headers = false) so that an undecodable or missing header
        // is reported as such instead of surfacing later as a confusing row error; `flexible`
        // lets a row with the wrong field count reach us, to be quarantined rather than abort.
        let record_start = Rc::new(Cell::new(0));
        let record_limit = opts.max_record_bytes.max(opts.max_field_bytes);
        let capped = RecordCap {
            file,
            consumed: 0,
            record_start: Rc::clone(&record_start),
            limit: record_limit as u64,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(capped);
        let mut header = csv::ByteRecord::new();
        let io_err = |e: csv::Error| {
            if is_over_limit(&e) {
                LoadError::RecordTooLarge {
                    path: path.to_path_buf(),
                    line: 1,
                    limit: record_limit,
                }
            } else {
                LoadError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(e.to_string()),
                }
            }
        };
        if !reader.read_byte_record(&mut header).map_err(io_err)? {
            return Err(LoadError::Empty {
                path: path.to_path_buf(),
            });
        }
        let mut columns = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| LoadError::HeaderNotUtf8 {
                path: path.to_path_buf(),
            })?;
            // Excel and friends prefix UTF-8 files with a byte-order mark.
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            columns.push(name.trim().to_string());
        }
        if columns.iter().all(String::is_empty) {
            return Err(LoadError::Empty {
                path: path.to_path_buf(),
            });
        }
        missing_columns(path, &specs, &columns)?;
        let index = specs
            .iter()
            .map(|s| columns.iter().position(|c| s.matches(c)))
            .collect();
        record_start.set(reader.position().byte());
        let record_line = reader.position().line();
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            record_start,
            record_line,
            record_limit,
            specs,
            index,
            header_len: columns.len(),
            limit: opts.max_field_bytes,
            row: 0,
            record: csv::ByteRecord::new(),
            done: false,
        })
    }

    fn raw_excerpt(&self) -> String {
        let joined: Vec<u8> = self.record.iter().collect::<Vec<_>>().join(&b","[..]);
        excerpt(&joined)
    }

    fn next(&mut self) -> Option<Result<RecordOutcome, LoadError>> {
        if self.done {
            return None;
        }
        let read = self.reader.read_byte_record(&mut self.record);
        // The next record starts where the parser stands now: the cap counts from there.
        let start_line = self.record_line;
        self.record_start.set(self.reader.position().byte());
        self.record_line = self.reader.position().line();
        match read {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                self.row += 1;
                let line = self.record.position().map_or(0, |p| p.line());
                Some(Ok(self.check_record(line)))
            }
            Err(e) if is_over_limit(&e) => {
                self.done = true;
                Some(Err(LoadError::RecordTooLarge {
                    path: self.path.clone(),
                    line: start_line,
                    limit: self.record_limit,
                }))
            }
            Err(e) if e.is_io_error() => {
                self.done = true;
                Some(Err(LoadError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(e.to_string()),
                }))
            }
            Err(e) => {
                self.row += 1;
                let line = e.position().map_or(0, |p| p.line());
                Some(Ok(RecordOutcome::Quarantined(Quarantined {
                    row: self.row,
                    line,
                    reason: QuarantineReason::Malformed {
                        detail: e.to_string(),
                    },
                    excerpt: String::new(),
                })))
            }
        }
    }

    fn check_record(&self, line: u64) -> RecordOutcome {
        let quarantine = |reason| {
            RecordOutcome::Quarantined(Quarantined {
                row: self.row,
                line,
                reason,
                excerpt: self.raw_excerpt(),
            })
        };
        if self.record.len() != self.header_len {
            // A blank line inside the data is not a record anybody meant to write.
            return quarantine(QuarantineReason::FieldCount {
                expected: self.header_len,
                found: self.record.len(),
            });
        }
        let mut values = Vec::with_capacity(self.specs.len());
        for (spec, idx) in self.specs.iter().zip(&self.index) {
            let value = match idx.and_then(|i| self.record.get(i)) {
                None => None,
                Some(raw) => match decode_field(spec, raw, self.limit) {
                    Ok(v) => Some(v),
                    Err(reason) => return quarantine(reason),
                },
            };
            values.push(value);
        }
        RecordOutcome::Record(Record {
            row: self.row,
            line,
            values,
        })
    }
}

/// Reads up to and including the next newline (or the end), keeping nothing: the rest of a
/// line too long to keep.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                reader.consume(n);
            }
        }
    }
}

struct JsonlRecords {
    path: PathBuf,
    reader: BufReader<File>,
    specs: Vec<ColumnSpec>,
    limit: usize,
    record_limit: usize,
    row: u64,
    line: u64,
    buf: Vec<u8>,
    /// The first object is checked for required columns, like a CSV header.
    schema_checked: bool,
    done: bool,
}

impl JsonlRecords {
    fn new(
        path: &Path,
        file: File,
        specs: Vec<ColumnSpec>,
        opts: &LoadOptions,
    ) -> Result<Self, LoadError> {
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            specs,
            limit: opts.max_field_bytes,
            record_limit: opts.max_record_bytes.max(opts.max_field_bytes),
            row: 0,
            line: 0,
            buf: Vec::new(),
            schema_checked: false,
            done: false,
        })
    }

    fn next(&mut self) -> Option<Result<RecordOutcome, LoadError>> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            // At most one byte over the limit is read: enough to know the line is too long.
            let bounded = (&mut self.reader)
                .take(self.record_limit as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            match bounded {
                Ok(0) => {
                    self.done = true;
                    if !self.schema_checked && self.row == 0 {
                        return Some(Err(LoadError::Empty {
                            path: self.path.clone(),
                        }));
                    }
                    return None;
                }
                Ok(_) => {}
                Err(source) => {
                    self.done = true;
                    return Some(Err(LoadError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
            self.line += 1;
            if self.buf.len() > self.record_limit && self.buf.last() != Some(&b'\n') {
                self.row += 1;
                let excerpt = excerpt(&self.buf);
                if let Err(source) = skip_line(&mut self.reader) {
                    self.done = true;
                    return Some(Err(LoadError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
                return Some(Ok(RecordOutcome::Quarantined(Quarantined {
                    row: self.row,
                    line: self.line,
                    reason: QuarantineReason::OversizedRecord {
                        limit: self.record_limit,
                    },
                    excerpt,
                })));
            }
            let trimmed = self.buf.trim_ascii();
            if trimmed.is_empty() {
                continue;
            }
            self.row += 1;
            return Some(self.parse_line());
        }
    }

    fn parse_line(&mut self) -> Result<RecordOutcome, LoadError> {
        let raw = self.buf.trim_ascii();
        let quarantine = |reason| {
            Ok(RecordOutcome::Quarantined(Quarantined {
                row: self.row,
                line: self.line,
                reason,
                excerpt: excerpt(raw),
            }))
        };
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                return quarantine(QuarantineReason::InvalidUtf8 {
                    column: "(line)".into(),
                });
            }
        };
        let object = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => {
                return quarantine(QuarantineReason::InvalidJson {
                    detail: format!("found {}", json_kind(&other)),
                });
            }
            Err(e) => {
                return quarantine(QuarantineReason::InvalidJson {
                    detail: e.to_string(),
                });
            }
        };
        if !self.schema_checked {
            self.schema_checked = true;
            let keys: Vec<String> = object.keys().cloned().collect();
            missing_columns(&self.path, &self.specs, &keys)?;
        }
        let mut values = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let found = object.iter().find(|(k, _)| spec.matches(k)).map(|(_, v)| v);
            let value = match found {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            // A required key must be present; `null` counts as an empty value (subjects are often
            // empty), like an empty CSV field.
            if found.is_none() && spec.required {
                return quarantine(QuarantineReason::MissingField {
                    column: spec.primary().to_string(),
                });
            }
            if let Some(v) = &value
                && v.len() > self.limit
            {
                return quarantine(QuarantineReason::OversizedField {
                    column: spec.primary().to_string(),
                    bytes: v.len(),
                    limit: self.limit,
                });
            }
            values.push(value);
        }
        Ok(RecordOutcome::Record(Record {
            row: self.row,
            line: self.line,
            values,
        }))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
