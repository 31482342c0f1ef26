//! Which rows repeat an id that an earlier row already used, found in bounded memory.
//!
//! The ticket reader reads its input twice. The first read reports every row that would become a
//! ticket as an [`IdOccurrence`] (a 128-bit digest of its id and its row) to [`IdOccurrences`].
//! Those are sorted with a [`SpillSorter`]: equal ids become neighbours, the first of each group
//! holds the smallest row (the occurrence that is accepted) and every other one is a repeat. The
//! repeats, usually few, are sorted again, by row this time, into [`RepeatedRows`]; the second read
//! walks its rows in the same increasing order and asks [`RepeatedRows::first_row_for`] about
//! each one, which only ever looks at the next repeat.
//!
//! Memory is that of the two sorters: at most `chunk_entries` records each (24 and 16 bytes), the
//! second only while the first is being merged; nothing grows with the input. The price is the
//! second read of the input and, beyond one chunk, 24 bytes of temporary disk per ticket.

use std::io;
use std::path::PathBuf;

use super::spill_sort::{SortStats, SortedRecords, SpillRecord, SpillSorter};

/// One row that would become a ticket: its id's digest and its row. 24 bytes: the digest is kept
/// as two `u64`s, since a `u128` would align the record to 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdOccurrence {
    /// The id digest, most significant half first, so the derived order is the digest's.
    key: [u64; 2],
    row: u64,
}

impl IdOccurrence {
    pub fn new(key: u128, row: u64) -> Self {
        Self {
            key: [(key >> 64) as u64, key as u64],
            row,
        }
    }
}

impl SpillRecord for IdOccurrence {
    type Encoded = [u8; 24];

    fn encode(&self) -> [u8; 24] {
        encode_words([self.key[0], self.key[1], self.row])
    }

    fn decode(bytes: &[u8; 24]) -> Self {
        let [high, low, row] = decode_words(bytes);
        Self {
            key: [high, low],
            row,
        }
    }
}

/// A row that repeats the id of `first_row`. Ordered by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepeatedRow {
    row: u64,
    first_row: u64,
}

impl SpillRecord for RepeatedRow {
    type Encoded = [u8; 16];

    fn encode(&self) -> [u8; 16] {
        encode_words([self.row, self.first_row])
    }

    fn decode(bytes: &[u8; 16]) -> Self {
        let [row, first_row] = decode_words(bytes);
        Self { row, first_row }
    }
}

fn encode_words<const W: usize, const B: usize>(words: [u64; W]) -> [u8; B] {
    std::array::from_fn(|i| words[i / 8].to_le_bytes()[i % 8])
}

fn decode_words<const W: usize, const B: usize>(bytes: &[u8; B]) -> [u64; W] {
    std::array::from_fn(|w| u64::from_le_bytes(std::array::from_fn(|i| bytes[w * 8 + i])))
}

/// How the duplicate-id check may use memory and disk.
#[derive(Debug, Clone)]
pub struct DuplicateIdOptions {
    /// Records held in memory per sort before a sorted chunk is spilled to disk. Memory for the
    /// check stays below `chunk_entries × 40` bytes whatever the input's size (24 MB + 16 MB at
    /// the default, and far less for inputs smaller than one chunk, which never touch the disk).
    pub chunk_entries: usize,
    /// Where spill files go; `None` is the system's temporary directory (`TMPDIR`).
    pub spill_dir: Option<PathBuf>,
}

/// 1,048,576 entries: 24 MiB of id digests. Inputs up to a million tickets sort in memory.
pub const DEFAULT_CHUNK_ENTRIES: usize = 1 << 20;

impl Default for DuplicateIdOptions {
    fn default() -> Self {
        Self {
            chunk_entries: DEFAULT_CHUNK_ENTRIES,
            spill_dir: None,
        }
    }
}

/// What the duplicate-id check found and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DuplicateIdSummary {
    /// Rows the first read saw (every row, quarantined or not).
    pub rows: u64,
    /// Rows that would become tickets, before the check.
    pub candidates: u64,
    /// Rows quarantined because an earlier row already used their id.
    pub repeats: u64,
    /// The sort of all ids.
    pub id_sort: SortStats,
    /// The sort of the repeats by row.
    pub repeat_sort: SortStats,
}

/// The first read's side: collects the ids of rows that would become tickets.
pub struct IdOccurrences {
    sorter: SpillSorter<IdOccurrence>,
    options: DuplicateIdOptions,
    rows: u64,
}

impl IdOccurrences {
    pub fn new(options: &DuplicateIdOptions) -> Self {
        Self {
            sorter: SpillSorter::new(options.chunk_entries, options.spill_dir.clone()),
            options: options.clone(),
            rows: 0,
        }
    }

    /// Notes that the first read got as far as `row`, whatever became of it.
    pub fn saw_row(&mut self, row: u64) {
        self.rows = self.rows.max(row);
    }

    /// Notes a row that would become a ticket with the id whose digest is `key`.
    pub fn record(&mut self, key: u128, row: u64) -> io::Result<()> {
        self.saw_row(row);
        self.sorter.push(IdOccurrence::new(key, row))
    }

    /// Sorts the ids and keeps the rows that repeat one, in row order.
    pub fn finish(self) -> io::Result<RepeatedRows> {
        let by_id = self.sorter.finish()?;
        let id_sort = by_id.stats();
        let mut repeats = SpillSorter::new(self.options.chunk_entries, self.options.spill_dir);
        let mut group: Option<IdOccurrence> = None;
        for occurrence in by_id {
            let occurrence = occurrence?;
            match group {
                Some(first) if first.key == occurrence.key => repeats.push(RepeatedRow {
                    row: occurrence.row,
                    first_row: first.row,
                })?,
                _ => group = Some(occurrence),
            }
        }
        let repeats = repeats.finish()?;
        let summary = DuplicateIdSummary {
            rows: self.rows,
            candidates: id_sort.records,
            repeats: repeats.stats().records,
            id_sort,
            repeat_sort: repeats.stats(),
        };
        Ok(RepeatedRows {
            pending: None,
            repeats,
            summary,
        })
    }
}

/// The second read's side: the rows that repeat an earlier row's id, asked about in row order.
pub struct RepeatedRows {
    /// The next repeat not yet asked about, read ahead by one.
    pending: Option<RepeatedRow>,
    repeats: SortedRecords<RepeatedRow>,
    summary: DuplicateIdSummary,
}

impl RepeatedRows {
    /// The earlier row whose id `row` repeats, or `None` when `row` is the first with its id.
    /// Rows must be asked about in increasing order, each one the first read reported.
    ///
    /// Fails when the rows do not match the first read's: the input changed between the reads.
    pub fn first_row_for(&mut self, row: u64) -> io::Result<Option<u64>> {
        if row > self.summary.rows {
            return Err(changed_input(format!(
                "row {row} was not there when the input was first read ({} rows)",
                self.summary.rows
            )));
        }
        if self.pending.is_none() {
            self.pending = self.repeats.next().transpose()?;
        }
        match self.pending {
            Some(repeat) if repeat.row == row => {
                self.pending = None;
                Ok(Some(repeat.first_row))
            }
            Some(repeat) if repeat.row < row => Err(changed_input(format!(
                "row {} repeated an id in the first read but was not a ticket in the second",
                repeat.row
            ))),
            _ => Ok(None),
        }
    }

    pub fn summary(&self) -> &DuplicateIdSummary {
        &self.summary
    }
}

fn changed_input(detail: String) -> io::Error {
    io::Error::other(format!(
        "the input changed while it was read twice for the duplicate-id check: {detail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(chunk_entries: usize) -> DuplicateIdOptions {
        DuplicateIdOptions {
            chunk_entries,
            spill_dir: None,
        }
    }

    /// Each row's answer, for rows 1..=n reported with the given keys (None: not a ticket).
    fn answers(keys: &[Option<u128>], chunk_entries: usize) -> (Vec<Option<u64>>, RepeatedRows) {
        let mut occurrences = IdOccurrences::new(&options(chunk_entries));
        for (i, key) in keys.iter().enumerate() {
            let row = i as u64 + 1;
            match key {
                Some(key) => occurrences.record(*key, row).expect("record"),
                None => occurrences.saw_row(row),
            }
        }
        let mut repeats = occurrences.finish().expect("finish");
        let got = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.is_some())
            .map(|(i, _)| repeats.first_row_for(i as u64 + 1).expect("ask"))
            .collect();
        (got, repeats)
    }

    /// What the old in-memory map answered, the reference.
    fn with_a_map(keys: &[Option<u128>]) -> Vec<Option<u64>> {
        let mut seen = std::collections::HashMap::new();
        keys.iter()
            .enumerate()
            .filter_map(|(i, key)| key.map(|k| (i as u64 + 1, k)))
            .map(|(row, key)| match seen.get(&key) {
                Some(&first) => Some(first),
                None => {
                    seen.insert(key, row);
                    None
                }
            })
            .collect()
    }

    #[test]
    fn records_are_24_and_16_bytes() {
        assert_eq!(std::mem::size_of::<IdOccurrence>(), 24);
        assert_eq!(std::mem::size_of::<RepeatedRow>(), 16);
        let occurrence = IdOccurrence::new(u128::MAX - 5, 7);
        assert_eq!(IdOccurrence::decode(&occurrence.encode()), occurrence);
        let repeat = RepeatedRow {
            row: 9,
            first_row: 2,
        };
        assert_eq!(RepeatedRow::decode(&repeat.encode()), repeat);
    }

    #[test]
    fn digest_order_is_kept_by_the_two_halves() {
        let small = IdOccurrence::new(1 << 64, 9);
        let large = IdOccurrence::new((1 << 64) + 1, 1);
        assert!(small < large);
        assert!(IdOccurrence::new(u64::MAX as u128, 1) < small);
    }

    #[test]
    fn repeats_across_chunks_point_at_the_first_row() {
        // Chunks of 3: the first row of id 7 is in the first chunk, its repeats in the third and
        // fifth; rows that are not tickets take no part.
        let keys = [
            Some(7),
            Some(1),
            None,
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(7),
            Some(6),
            Some(1),
            Some(8),
            Some(9),
            Some(10),
            Some(7),
        ];
        let (got, repeats) = answers(&keys, 3);
        assert_eq!(got, with_a_map(&keys));
        assert_eq!(
            got.iter().flatten().copied().collect::<Vec<_>>(),
            vec![1, 2, 1]
        );
        assert!(repeats.summary().id_sort.spilled_runs > 1);
        assert_eq!(repeats.summary().repeats, 3);
    }

    #[test]
    fn agrees_with_a_map_on_many_repeats_and_tiny_chunks() {
        // Rows over a seventh as many ids, one row in eleven not a ticket. The tiniest chunk gets
        // the smallest input: every run is a file.
        let keys = |rows: u128| -> Vec<Option<u128>> {
            (0..rows)
                .map(|i| (i % 11 != 5).then_some((i * 7_919) % (rows / 7)))
                .collect()
        };
        for (rows, chunk) in [(500, 2), (5_000, 7), (5_000, 64), (5_000, 100_000)] {
            let keys = keys(rows);
            let (got, repeats) = answers(&keys, chunk);
            assert_eq!(got, with_a_map(&keys), "chunk {chunk}");
            let summary = repeats.summary();
            assert!(summary.id_sort.peak_resident_records <= chunk.max(2));
            assert!(summary.repeat_sort.peak_resident_records <= chunk.max(2));
        }
    }

    #[test]
    fn a_row_the_first_read_did_not_see_is_an_error() {
        let (_, mut repeats) = answers(&[Some(1), Some(2)], 16);
        let err = repeats.first_row_for(3).expect_err("row 3 is new");
        assert!(err.to_string().contains("input changed"), "{err}");
    }
}
