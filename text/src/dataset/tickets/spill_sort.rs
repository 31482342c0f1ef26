//! Sorting more records than memory should hold: an external merge sort ("spill and sort").
//!
//! **Why sort at all.** To find the rows that repeat an id, the obvious tool is a hash map from
//! id to first row. It works, but it holds one entry per ticket for the whole read: about 81
//! bytes an entry with its table's growth, which made the coordinator 815 MB at 10M tickets
//! (measured) and would make it 8 GB at 100M: memory growing with the input. Sorting gives the same answer another way: once the (id, row) pairs
//! are in order, equal ids are neighbours and one sequential scan finds every repeat. And sorting
//! is something we can do with a fixed amount of memory and a temporary directory.
//!
//! **How.** [`SpillSorter::push`] collects records in a chunk of at most `chunk_capacity`. When
//! the chunk is full it is sorted and written to a file in a temporary directory (a sorted
//! "run"), and the chunk starts again empty. [`SpillSorter::finish`] then:
//! * hands the chunk out sorted from memory when nothing was ever spilled: a small input never
//!   touches the disk, and costs no more than an in-memory sort;
//! * otherwise spills the last chunk too and merges the runs: a binary heap holds the smallest
//!   unread record of each run, and popping it gives the next record of the whole, in order
//!   (a k-way merge). With more than `fan_in` runs, groups of `fan_in` runs are first merged into
//!   longer runs, so the heap and the read buffers stay bounded too.
//!
//! **Memory bound.** At most `chunk_capacity` records are held in memory at any time, in every
//! phase (the chunk's allocation never grows past it, and `fan_in ≤ chunk_capacity`), plus one
//! [`READ_BUFFER_BYTES`] buffer per run being merged (at most [`MAX_FAN_IN`]). That bound is a
//! constant: it does not depend on how many records are pushed. [`SortStats`] reports the peak,
//! and the tests hold it to the bound.
//!
//! **Cost.** Each spilled record is written once and read once, sequentially (plus once more per
//! intermediate merge, which starts only beyond `fan_in × chunk_capacity` records: 64M records
//! with the defaults the ticket reader uses). Disk use is the record size times the records
//! pushed; the temporary directory is removed when the sorted output is dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Most runs merged at once. Each costs one read buffer and one heap slot, and a run is about
/// `chunk_capacity` records, so one merge covers `MAX_FAN_IN × chunk_capacity` records.
pub const MAX_FAN_IN: usize = 64;

/// Read buffer per run during a merge: large enough for sequential reads, small enough that
/// [`MAX_FAN_IN`] of them cost 4 MiB.
pub const READ_BUFFER_BYTES: usize = 64 << 10;

/// A fixed-size record the sorter can write to a run file and read back.
pub trait SpillRecord: Ord + Copy {
    /// The record on disk, e.g. `[u8; 24]`.
    type Encoded: AsRef<[u8]> + AsMut<[u8]> + Default;

    fn encode(&self) -> Self::Encoded;
    fn decode(bytes: &Self::Encoded) -> Self;
}

/// What a sort cost, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SortStats {
    /// Records pushed.
    pub records: u64,
    /// Sorted runs written to disk (0: the sort stayed in memory).
    pub spilled_runs: usize,
    /// Merges of `fan_in` runs into a longer run before the final merge.
    pub intermediate_merges: usize,
    /// Most record slots allocated at once: the chunk's capacity or the merge heap's.
    pub peak_resident_records: usize,
}

/// Collects records and hands them back sorted, spilling sorted chunks to disk beyond
/// `chunk_capacity` records (see the module docs).
pub struct SpillSorter<T: SpillRecord> {
    chunk: Vec<T>,
    chunk_capacity: usize,
    fan_in: usize,
    /// Where runs go; `None` means the system's temporary directory.
    spill_parent: Option<PathBuf>,
    /// Created at the first spill, so in-memory sorts create nothing.
    spill_dir: Option<tempfile::TempDir>,
    runs: Vec<Run>,
    stats: SortStats,
}

/// A sorted run on disk.
struct Run {
    path: PathBuf,
    records: u64,
}

impl<T: SpillRecord> SpillSorter<T> {
    /// A sorter holding at most `chunk_capacity` records in memory (at least 2: a merge needs
    /// two runs). Runs are spilled under `spill_parent`, or the system's temporary directory
    /// (`TMPDIR`) when `None`.
    pub fn new(chunk_capacity: usize, spill_parent: Option<PathBuf>) -> Self {
        let chunk_capacity = chunk_capacity.max(2);
        Self {
            chunk: Vec::new(),
            chunk_capacity,
            fan_in: MAX_FAN_IN.min(chunk_capacity),
            spill_parent,
            spill_dir: None,
            runs: Vec::new(),
            stats: SortStats::default(),
        }
    }

    /// Adds a record; sorts and spills the chunk when it is full.
    pub fn push(&mut self, record: T) -> io::Result<()> {
        if self.chunk.len() == self.chunk_capacity {
            self.spill_chunk()?;
        }
        if self.chunk.len() == self.chunk.capacity() {
            // Grow by doubling, as a Vec would, but never past the chunk's capacity.
            let room = self.chunk.capacity().max(1024);
            let room = room.min(self.chunk_capacity - self.chunk.len());
            self.chunk.reserve_exact(room);
            self.note_resident(self.chunk.capacity());
        }
        self.chunk.push(record);
        self.stats.records += 1;
        Ok(())
    }

    /// Every pushed record, in order.
    pub fn finish(mut self) -> io::Result<SortedRecords<T>> {
        if self.runs.is_empty() {
            let mut chunk = std::mem::take(&mut self.chunk);
            chunk.sort_unstable();
            return Ok(SortedRecords {
                source: Source::Memory(chunk.into_iter()),
                stats: self.stats,
                _spill_dir: None,
            });
        }
        if !self.chunk.is_empty() {
            self.spill_chunk()?;
        }
        // The chunk's memory is given back before the merge takes its own.
        self.chunk = Vec::new();
        let dir = self.spill_dir()?.to_path_buf();
        while self.runs.len() > self.fan_in {
            let group: Vec<Run> = self.runs.drain(..self.fan_in).collect();
            let path = dir.join(format!("run-{}", self.stats.spilled_runs));
            self.stats.spilled_runs += 1;
            self.stats.intermediate_merges += 1;
            let mut merge = Merge::<T>::open(&group)?;
            self.note_resident(merge.heap.capacity());
            let mut out = BufWriter::new(File::create(&path)?);
            let mut records = 0_u64;
            while let Some(record) = merge.next_record()? {
                out.write_all(record.encode().as_ref())?;
                records += 1;
            }
            out.into_inner().map_err(io::IntoInnerError::into_error)?;
            drop(merge);
            for run in &group {
                std::fs::remove_file(&run.path)?;
            }
            self.runs.push(Run { path, records });
        }
        let merge = Merge::open(&self.runs)?;
        self.note_resident(merge.heap.capacity());
        Ok(SortedRecords {
            source: Source::Merge(merge),
            stats: self.stats,
            _spill_dir: self.spill_dir.take(),
        })
    }

    fn note_resident(&mut self, slots: usize) {
        self.stats.peak_resident_records = self.stats.peak_resident_records.max(slots);
    }

    fn spill_dir(&mut self) -> io::Result<&Path> {
        if self.spill_dir.is_none() {
            let dir = match &self.spill_parent {
                Some(parent) => tempfile::Builder::new()
                    .prefix("ticketflow-sort-")
                    .tempdir_in(parent)?,
                None => tempfile::Builder::new()
                    .prefix("ticketflow-sort-")
                    .tempdir()?,
            };
            self.spill_dir = Some(dir);
        }
        match &self.spill_dir {
            Some(dir) => Ok(dir.path()),
            None => Err(io::Error::other("the spill directory was not created")),
        }
    }

    /// Sorts the chunk, writes it as a run and empties it (keeping its allocation).
    fn spill_chunk(&mut self) -> io::Result<()> {
        self.chunk.sort_unstable();
        let name = format!("run-{}", self.stats.spilled_runs);
        let path = self.spill_dir()?.join(name);
        let mut out = BufWriter::new(File::create(&path)?);
        for record in &self.chunk {
            out.write_all(record.encode().as_ref())?;
        }
        out.into_inner().map_err(io::IntoInnerError::into_error)?;
        self.runs.push(Run {
            path,
            records: self.chunk.len() as u64,
        });
        self.stats.spilled_runs += 1;
        self.chunk.clear();
        Ok(())
    }
}

/// The records of a [`SpillSorter`], in order. Dropping it removes the spill files.
pub struct SortedRecords<T: SpillRecord> {
    source: Source<T>,
    stats: SortStats,
    /// Declared last so that it is dropped after the open run files.
    _spill_dir: Option<tempfile::TempDir>,
}

enum Source<T: SpillRecord> {
    Memory(std::vec::IntoIter<T>),
    Merge(Merge<T>),
}

impl<T: SpillRecord> SortedRecords<T> {
    pub fn stats(&self) -> SortStats {
        self.stats
    }
}

impl<T: SpillRecord> Iterator for SortedRecords<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Source::Memory(records) => records.next().map(Ok),
            Source::Merge(merge) => merge.next_record().transpose(),
        }
    }
}

/// Reads one run back, record by record.
struct RunReader<T> {
    reader: BufReader<File>,
    /// Records not read yet: a run shorter than it says is an error, not a silent end.
    remaining: u64,
    _records: PhantomData<T>,
}

impl<T: SpillRecord> RunReader<T> {
    fn open(run: &Run) -> io::Result<Self> {
        Ok(Self {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, File::open(&run.path)?),
            remaining: run.records,
            _records: PhantomData,
        })
    }

    fn next_record(&mut self) -> io::Result<Option<T>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let mut bytes = T::Encoded::default();
        self.reader.read_exact(bytes.as_mut())?;
        self.remaining -= 1;
        Ok(Some(T::decode(&bytes)))
    }
}

/// A k-way merge: the heap holds the smallest unread record of each run, tagged with its run.
struct Merge<T: SpillRecord> {
    runs: Vec<RunReader<T>>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
}

impl<T: SpillRecord> Merge<T> {
    fn open(runs: &[Run]) -> io::Result<Self> {
        let mut readers = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (i, run) in runs.iter().enumerate() {
            let mut reader = RunReader::open(run)?;
            if let Some(first) = reader.next_record()? {
                heap.push(Reverse((first, i)));
            }
            readers.push(reader);
        }
        Ok(Self {
            runs: readers,
            heap,
        })
    }

    fn next_record(&mut self) -> io::Result<Option<T>> {
        let Some(Reverse((record, run))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(reader) = self.runs.get_mut(run)
            && let Some(next) = reader.next_record()?
        {
            self.heap.push(Reverse((next, run)));
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl SpillRecord for u64 {
        type Encoded = [u8; 8];

        fn encode(&self) -> [u8; 8] {
            self.to_le_bytes()
        }

        fn decode(bytes: &[u8; 8]) -> Self {
            u64::from_le_bytes(*bytes)
        }
    }

    /// A reproducible shuffle of 0..n (a multiplicative permutation modulo a prime).
    fn shuffled(n: u64) -> Vec<u64> {
        const P: u64 = 1_000_003;
        assert!(n < P);
        (1..=n).map(|i| (i * 7_919) % P).collect()
    }

    fn sort(records: &[u64], chunk: usize) -> (Vec<u64>, SortStats) {
        let mut sorter = SpillSorter::new(chunk, None);
        for &r in records {
            sorter.push(r).expect("push");
        }
        let sorted = sorter.finish().expect("finish");
        let stats = sorted.stats();
        let out = sorted.collect::<io::Result<Vec<_>>>().expect("read back");
        (out, stats)
    }

    #[test]
    fn small_inputs_sort_in_memory_without_spilling() {
        let input = shuffled(1_000);
        let (out, stats) = sort(&input, 1_000);
        let mut expected = input.clone();
        expected.sort_unstable();
        assert_eq!(out, expected);
        assert_eq!(stats.spilled_runs, 0);
        assert!(stats.peak_resident_records <= 1_000, "{stats:?}");
    }

    #[test]
    fn spilled_runs_merge_into_one_order_with_duplicates_kept() {
        let mut input = shuffled(5_000);
        input.extend(shuffled(1_000)); // every one of these is a repeat
        let (out, stats) = sort(&input, 256);
        let mut expected = input.clone();
        expected.sort_unstable();
        assert_eq!(out, expected);
        assert_eq!(stats.spilled_runs as u64, 6_000_u64.div_ceil(256));
        assert_eq!(stats.intermediate_merges, 0, "24 runs fit one merge");
    }

    #[test]
    fn memory_stays_at_the_chunk_size_however_long_the_input() {
        for factor in [1_u64, 10, 100] {
            let chunk = 64;
            let input = shuffled(chunk as u64 * factor);
            let (out, stats) = sort(&input, chunk);
            assert!(out.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(out.len(), input.len());
            assert!(
                stats.peak_resident_records <= chunk,
                "{factor}× the chunk: {stats:?}"
            );
        }
    }

    #[test]
    fn more_runs_than_the_fan_in_are_merged_in_groups() {
        // Chunks of 4 records make the fan-in 4: 1,000 records are 250 runs.
        let input = shuffled(1_000);
        let (out, stats) = sort(&input, 4);
        let mut expected = input.clone();
        expected.sort_unstable();
        assert_eq!(out, expected);
        assert!(stats.intermediate_merges > 0, "{stats:?}");
        assert!(stats.peak_resident_records <= 4, "{stats:?}");
    }

    #[test]
    fn spill_files_are_removed_with_the_output() {
        let parent = tempfile::tempdir().expect("tempdir");
        let mut sorter = SpillSorter::new(8, Some(parent.path().to_path_buf()));
        for r in shuffled(100) {
            sorter.push(r).expect("push");
        }
        let sorted = sorter.finish().expect("finish");
        let entries = || std::fs::read_dir(parent.path()).expect("read dir").count();
        assert_eq!(entries(), 1, "one spill directory while reading");
        drop(sorted);
        assert_eq!(entries(), 0, "nothing left behind");
    }
}
