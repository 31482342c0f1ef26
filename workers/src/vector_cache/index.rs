//! What one embedder process knows of a vector space: text hash → segment and row.

use std::collections::{HashMap, HashSet};

use super::TextHash;
use super::layout::{Day, Run};

/// The in-memory key: the first 16 bytes of the hash (a collision among a billion texts has a
/// probability near 10⁻²¹).
fn short(hash: &TextHash) -> u128 {
    let mut head = [0u8; 16];
    head.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(head)
}

#[derive(Default)]
pub(crate) struct Index {
    /// Segment names; a position here is a segment's number in `rows`.
    segments: Vec<String>,
    numbers: HashMap<String, u32>,
    /// Text hash → (segment number, row).
    rows: HashMap<u128, (u32, u32)>,
    /// Index runs already read (or found missing or damaged: not asked for again).
    runs: HashSet<String>,
    /// Segments found gone or unreadable: they serve nothing until this process writes them
    /// anew, whatever a run or a listing says.
    lost: HashSet<u32>,
    /// Whether the space had a manifest at the last look.
    pub has_manifest: bool,
    /// Segments in no index run yet, at the last look (plus those written since): when they
    /// reach the threshold, `keep` compacts.
    pub recent: usize,
    /// Keeps to let pass before compacting again, after a compaction failed (a space from
    /// before manifests costs a read of every segment per try).
    pub compact_wait: usize,
    /// The segments this process has recorded as used, and on which day.
    recorded: Option<(Day, HashSet<String>)>,
}

impl Index {
    fn number(&mut self, segment: &str) -> u32 {
        if let Some(&n) = self.numbers.get(segment) {
            return n;
        }
        self.segments.push(segment.to_string());
        let n = (self.segments.len() - 1) as u32;
        self.numbers.insert(segment.to_string(), n);
        n
    }

    /// Whether `segment` is known already (read from a run or a listing, written, or lost).
    pub fn knows(&self, segment: &str) -> bool {
        self.numbers.contains_key(segment)
    }

    pub fn has_run(&self, id: &str) -> bool {
        self.runs.contains(id)
    }

    /// A run that need not be asked for again: read, or found missing or damaged.
    pub fn mark_run(&mut self, id: &str) {
        self.runs.insert(id.to_string());
    }

    /// An index run's rows; a later call wins over an earlier one, as later runs do.
    pub fn add_run(&mut self, id: &str, run: &Run) {
        self.mark_run(id);
        let local: Vec<u32> = run.segments.iter().map(|s| self.number(s)).collect();
        for &(hash, segment, row) in &run.rows {
            let Some(&n) = local.get(segment as usize) else {
                continue;
            };
            if !self.lost.contains(&n) {
                self.rows.insert(short(&hash), (n, row));
            }
        }
    }

    /// A segment found in a listing. A lost one stays lost.
    pub fn add_segment(&mut self, segment: &str, hashes: &[TextHash]) {
        let n = self.number(segment);
        if self.lost.contains(&n) {
            return;
        }
        for (row, hash) in hashes.iter().enumerate() {
            self.rows.insert(short(hash), (n, row as u32));
        }
    }

    /// A segment this process has just written: complete, so it serves its texts even if an
    /// earlier copy of it was found unreadable. The newest segment that holds a text serves
    /// it: after a segment is lost, the texts embedded again land in a new one, which must
    /// take over.
    pub fn serve(&mut self, segment: &str, hashes: &[TextHash]) {
        let n = self.number(segment);
        self.lost.remove(&n);
        for (row, hash) in hashes.iter().enumerate() {
            self.rows.insert(short(hash), (n, row as u32));
        }
    }

    /// Stops serving texts from a segment that is gone or unreadable: they become misses, are
    /// embedded again and kept in a new segment.
    pub fn forget(&mut self, number: u32) {
        self.lost.insert(number);
        self.rows.retain(|_, (segment, _)| *segment != number);
    }

    pub fn get(&self, hash: &TextHash) -> Option<(u32, u32)> {
        self.rows.get(&short(hash)).copied()
    }

    pub fn name(&self, number: u32) -> &str {
        self.segments
            .get(number as usize)
            .map_or("", String::as_str)
    }

    /// Those of `segments` this process has not recorded as used on `day` yet.
    pub fn unrecorded(&self, day: Day, segments: &[String]) -> Vec<String> {
        let recorded = match &self.recorded {
            Some((d, set)) if *d == day => Some(set),
            _ => None,
        };
        let mut fresh: Vec<String> = segments
            .iter()
            .filter(|s| recorded.is_none_or(|set| !set.contains(*s)))
            .cloned()
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh
    }

    pub fn mark_recorded(&mut self, day: Day, segments: &[String]) {
        if !matches!(&self.recorded, Some((d, _)) if *d == day) {
            self.recorded = Some((day, HashSet::new()));
        }
        if let Some((_, set)) = &mut self.recorded {
            set.extend(segments.iter().cloned());
        }
    }
}
