//! Seeded samples of a run too large to hold: what keeps the trainer's memory bounded.
//!
//! Every row gets a priority: the first 8 bytes of BLAKE3(seed ‖ ticket id). A sample of `k`
//! rows is the `k` rows with the smallest priorities ("bottom-k"), which is a uniform random
//! sample that:
//! - is found in one pass over rows arriving in any order, holding only `k` of them
//!   ([`BottomK`]);
//! - depends only on the seed and the ids, not on shard order or on which process reads it, so
//!   the same run always gives the same sample;
//! - keeps a ticket in the sample of a later, larger export of the same tickets unless smaller
//!   priorities push it out (samples of consecutive daily runs overlap).
//!
//! [`StratifiedSample`] does the same per stratum (the ticket type, for training), with each
//! stratum's share of `k` proportional to its share of the run (largest remainders, at least
//! one row per non-empty stratum), so a sample keeps the class balance the run has.

use std::collections::{BTreeMap, BinaryHeap};

/// The sampling priority of ticket `id` under `seed`.
pub fn priority(seed: u64, id: &str) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(id.as_bytes());
    let hash = hasher.finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(head)
}

/// An entry of a [`BottomK`], ordered by priority only (ties by arrival, first kept).
struct Entry<T> {
    priority: u64,
    arrival: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.arrival) == (other.priority, other.arrival)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.priority, self.arrival).cmp(&(other.priority, other.arrival))
    }
}

/// The `k` items with the smallest priorities seen so far. Memory: `k` items.
pub struct BottomK<T> {
    k: usize,
    seen: u64,
    /// A max-heap: its top is the entry to evict when a smaller priority arrives.
    heap: BinaryHeap<Entry<T>>,
}

impl<T> BottomK<T> {
    pub fn new(k: usize) -> Self {
        Self {
            k,
            seen: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// Offers an item; it is kept if it is among the `k` smallest priorities so far.
    pub fn offer(&mut self, priority: u64, item: T) {
        self.offer_with(priority, || item);
    }

    /// [`offer`](Self::offer), building the item only if it is kept (rows are costly to copy).
    pub fn offer_with(&mut self, priority: u64, item: impl FnOnce() -> T) {
        let arrival = self.seen;
        self.seen += 1;
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Entry {
                priority,
                arrival,
                item: item(),
            });
        } else if self
            .heap
            .peek()
            .is_some_and(|top| (priority, arrival) < (top.priority, top.arrival))
        {
            self.heap.pop();
            self.heap.push(Entry {
                priority,
                arrival,
                item: item(),
            });
        }
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The kept items, smallest priority first.
    pub fn into_sorted(self) -> Vec<T> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.item)
            .collect()
    }

    /// The kept items in the order they were offered (a sample of a run in run order).
    pub fn into_arrival_order(self) -> Vec<T> {
        let mut entries = self.heap.into_vec();
        entries.sort_by_key(|e| e.arrival);
        entries.into_iter().map(|e| e.item).collect()
    }

    /// The `n` kept items of smallest priority (a smaller sample of the same rows).
    fn truncated(self, n: usize) -> Vec<T> {
        let mut items = self.into_sorted();
        items.truncate(n);
        items
    }
}

/// Each stratum's share of `k`: proportional to its count, by largest remainders, at least one
/// row for every non-empty stratum when `k` allows. A total at or under `k` keeps everything;
/// above it, the quotas add up to exactly `k`, however many strata there are.
pub fn proportional_quotas(counts: &BTreeMap<String, u64>, k: usize) -> BTreeMap<String, usize> {
    let total: u64 = counts.values().sum();
    if total <= k as u64 {
        return counts
            .iter()
            .map(|(s, &n)| (s.clone(), n as usize))
            .collect();
    }
    let mut quotas: BTreeMap<String, usize> = BTreeMap::new();
    let mut remainders = Vec::new();
    for (stratum, &n) in counts {
        let exact = n as f64 * k as f64 / total as f64;
        let floor = (exact.floor() as usize)
            .max(usize::from(n > 0))
            .min(n as usize);
        quotas.insert(stratum.clone(), floor);
        remainders.push((exact - exact.floor(), stratum.clone(), n as usize));
    }
    // The one-row minimum can overshoot `k` (many small strata): take rows back from the
    // largest quotas, then, with more strata than `k`, drop the smallest strata's single rows.
    let mut excess = quotas.values().sum::<usize>().saturating_sub(k);
    while excess > 0 {
        let largest = quotas
            .iter()
            .filter(|(_, q)| **q > 1)
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(s, _)| s.clone());
        let victim = largest.or_else(|| {
            counts
                .iter()
                .filter(|(s, _)| quotas.get(*s).is_some_and(|q| *q > 0))
                .min_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                .map(|(s, _)| s.clone())
        });
        let Some(victim) = victim else { break };
        if let Some(q) = quotas.get_mut(&victim) {
            *q -= 1;
        }
        excess -= 1;
    }
    // Hand out what the floors left, largest remainder first (ties by name: deterministic).
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut left = k.saturating_sub(quotas.values().sum());
    for (_, stratum, n) in remainders {
        if left == 0 {
            break;
        }
        if let Some(q) = quotas.get_mut(&stratum)
            && *q < n
        {
            *q += 1;
            left -= 1;
        }
    }
    quotas
}

/// What a sample is, for model cards and summaries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleInfo {
    /// Rows kept.
    pub rows: u64,
    /// Rows there were.
    pub of: u64,
    pub seed: u64,
    /// What the sample is stratified by (`type`), or `none` for a uniform sample.
    pub stratified_by: String,
}

/// A seeded sample of at most `k` rows, stratified: see the module documentation.
pub struct StratifiedSample<T> {
    k: usize,
    seed: u64,
    /// Per stratum, its `k` best rows (no stratum can need more than `k`).
    strata: BTreeMap<String, BottomK<T>>,
}

impl<T> StratifiedSample<T> {
    pub fn new(k: usize, seed: u64) -> Self {
        Self {
            k,
            seed,
            strata: BTreeMap::new(),
        }
    }

    pub fn offer(&mut self, stratum: &str, id: &str, item: T) {
        let priority = priority(self.seed, id);
        if !self.strata.contains_key(stratum) {
            self.strata
                .insert(stratum.to_string(), BottomK::new(self.k));
        }
        if let Some(rows) = self.strata.get_mut(stratum) {
            rows.offer(priority, item);
        }
    }

    /// The sample (stratum by stratum, smallest priority first) and what it is.
    pub fn finish(self) -> (Vec<T>, SampleInfo) {
        let counts: BTreeMap<String, u64> = self
            .strata
            .iter()
            .map(|(s, rows)| (s.clone(), rows.seen()))
            .collect();
        let quotas = proportional_quotas(&counts, self.k);
        let of = counts.values().sum();
        let mut kept = Vec::new();
        for (stratum, rows) in self.strata {
            let quota = quotas.get(&stratum).copied().unwrap_or(0);
            kept.extend(rows.truncated(quota));
        }
        let info = SampleInfo {
            rows: kept.len() as u64,
            of,
            seed: self.seed,
            stratified_by: "type".into(),
        };
        (kept, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn bottom_k_keeps_the_smallest_priorities_whatever_the_order() {
        let all = ids(1000);
        let mut forward = BottomK::new(50);
        let mut backward = BottomK::new(50);
        for id in &all {
            forward.offer(priority(7, id), id.clone());
        }
        for id in all.iter().rev() {
            backward.offer(priority(7, id), id.clone());
        }
        let mut expected: Vec<&String> = all.iter().collect();
        expected.sort_by_key(|id| priority(7, id));
        let expected: Vec<String> = expected.into_iter().take(50).cloned().collect();
        assert_eq!(forward.into_sorted(), expected);
        assert_eq!(backward.into_sorted(), expected);
        // Another seed, another sample.
        let mut other = BottomK::new(50);
        for id in &all {
            other.offer(priority(8, id), id.clone());
        }
        assert_ne!(other.into_sorted(), expected);
    }

    #[test]
    fn quotas_follow_the_strata_and_add_up() {
        let counts: BTreeMap<String, u64> = [
            ("Incident", 600),
            ("Request", 300),
            ("Change", 99),
            ("Problem", 1),
        ]
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
        let q = proportional_quotas(&counts, 100);
        assert_eq!(q.values().sum::<usize>(), 100);
        assert_eq!(q["Incident"], 60);
        assert_eq!(q["Request"], 30);
        assert_eq!(q["Problem"], 1, "a tiny class keeps a row");
        assert!(q["Change"] >= 9);
        // Under the limit, everything.
        let q = proportional_quotas(&counts, 5000);
        assert_eq!(q["Incident"], 600);
        assert_eq!(q.values().sum::<usize>(), 1000);
    }

    /// Defect (issue 23): the one-row minimum per stratum made the quotas add up to more than
    /// `k` when there were many small strata, or more strata than `k`.
    #[test]
    fn quotas_never_exceed_k_however_many_strata() {
        let many_small: BTreeMap<String, u64> = std::iter::once(("big".to_string(), 10_000))
            .chain((0..50).map(|i| (format!("tiny{i:02}"), 1)))
            .collect();
        let q = proportional_quotas(&many_small, 100);
        assert_eq!(q.values().sum::<usize>(), 100, "{q:?}");
        assert!(
            q.iter()
                .filter(|(s, _)| s.starts_with("tiny"))
                .all(|(_, n)| *n == 1)
        );
        assert_eq!(q["big"], 50);

        let more_than_k: BTreeMap<String, u64> =
            (0..150).map(|i| (format!("s{i:03}"), 1 + i % 3)).collect();
        let q = proportional_quotas(&more_than_k, 100);
        assert_eq!(q.values().sum::<usize>(), 100, "{q:?}");
        assert!(q.values().all(|n| *n <= 1));
        // The strata left out are the smallest ones.
        let kept_min = more_than_k
            .iter()
            .filter(|(s, _)| q[*s] == 1)
            .map(|(_, n)| *n)
            .min();
        let dropped_max = more_than_k
            .iter()
            .filter(|(s, _)| q[*s] == 0)
            .map(|(_, n)| *n)
            .max();
        assert!(kept_min >= dropped_max, "{kept_min:?} {dropped_max:?}");

        let mut s = StratifiedSample::new(10, 1);
        for i in 0..40 {
            s.offer(&format!("class{i}"), &format!("t{i}"), i);
        }
        let (rows, info) = s.finish();
        assert_eq!((rows.len(), info.rows), (10, 10));
    }

    #[test]
    fn a_stratified_sample_is_seeded_bounded_and_keeps_the_class_shares() {
        let sample = |seed: u64| {
            let mut s = StratifiedSample::new(200, seed);
            for (i, id) in ids(2000).iter().enumerate() {
                let class = if i % 4 == 0 { "Request" } else { "Incident" };
                s.offer(class, id, (class, id.clone()));
            }
            s.finish()
        };
        let (rows, info) = sample(3);
        assert_eq!(rows.len(), 200);
        assert_eq!((info.rows, info.of, info.seed), (200, 2000, 3));
        let requests = rows.iter().filter(|(c, _)| *c == "Request").count();
        assert_eq!(
            requests, 50,
            "a quarter of the run, a quarter of the sample"
        );
        assert_eq!(sample(3).0, rows, "same seed, same sample");
        assert_ne!(sample(4).0, rows);
    }
}
