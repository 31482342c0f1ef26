//! Run state kept in JetStream KV: the manifest the coordinator writes once, and the progress
//! record every stage updates with compare-and-set.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::envelope::Message;

/// Pipeline stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Cleaner,
    Embedder,
    Indexer,
    Trainer,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Cleaner,
        Stage::Embedder,
        Stage::Indexer,
        Stage::Trainer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Cleaner => "cleaner",
            Stage::Embedder => "embedder",
            Stage::Indexer => "indexer",
            Stage::Trainer => "trainer",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown stage {s:?}; expected one of cleaner, embedder, indexer, trainer")
            })
    }
}

/// What the coordinator recorded about a run. Written once (create-if-absent), so two
/// coordinators racing on the same run id cannot both publish it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunManifest {
    pub run_id: String,
    /// Where the input came from, as given.
    pub input: String,
    /// BLAKE3 of the input bytes: the same input always maps to the same default run id.
    pub input_digest: String,
    pub created_at_ms: u64,
    pub shard_size: u32,
    pub shard_count: u32,
    pub tickets: u64,
    pub quarantined: u64,
    pub quarantine_key: Option<String>,
    /// Whether tickets carry a `type` label (training run) or not (inference run).
    pub labelled: bool,
    /// `normalized` or `cleaned`: what the embedder sees.
    pub embed_input: String,
    /// The data set this run belongs to (see [`Dataset`]). Models, `latest` and the drift
    /// reference are kept per data set, so one data set's runs never judge another's.
    #[serde(default = "default_dataset")]
    pub dataset: String,
}

fn default_dataset() -> String {
    DEFAULT_DATASET.to_string()
}

/// The data set a run belongs to when none is named.
pub const DEFAULT_DATASET: &str = "default";

/// A data-set name: 1–64 characters of lower-case ASCII letters, digits, `-`, `_` and `.`,
/// starting with a letter or digit. Names become parts of object-store keys, so nothing else is
/// allowed (no `/`, no `..`).
///
/// ```
/// use ticketflow_schemas::Dataset;
///
/// assert_eq!(Dataset::parse("support-emails").unwrap().as_str(), "support-emails");
/// assert!(Dataset::parse("../etc").is_err());
/// assert!(Dataset::parse("Demo").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Dataset(String);

impl Dataset {
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.len() > 64 || !first_ok || !name.chars().all(ok_char) {
            return Err(format!(
                "invalid data-set name {name:?}: use 1-64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
            ));
        }
        Ok(Dataset(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_DATASET
    }
}

impl Default for Dataset {
    fn default() -> Self {
        Dataset(DEFAULT_DATASET.to_string())
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataset::parse(s)
    }
}

impl TryFrom<String> for Dataset {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Dataset::parse(&s)
    }
}

impl From<Dataset> for String {
    fn from(d: Dataset) -> String {
        d.0
    }
}

impl RunManifest {
    /// The run's data set; a stored manifest with an unreadable name counts as the default.
    pub fn dataset(&self) -> Dataset {
        Dataset::parse(&self.dataset).unwrap_or_default()
    }
}

impl Message for RunManifest {
    const KIND: &'static str = "run_manifest";
}

/// How many shards each shard stage has finished: three counters, the same 15 bytes or so at
/// any shard count. Which shards they were lives in each shard's own record
/// ([`ShardRecord`], KV `tf_shards`), where one write costs the same at any size.
///
/// A shard is counted when its stage first records it; a replica that dies between counting a
/// shard and recording it in the shard's record counts it again on redelivery. So a count can
/// run ahead of the truth, never behind it, and the run is declared complete only when a scan
/// of the shard records agrees ([`RunProgress::counts_say_final`], then `completed_at_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StageCounts {
    pub cleaned: u32,
    pub embedded: u32,
    pub indexed: u32,
}

/// Why a shard was given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadShard {
    pub stage: Stage,
    pub reason: String,
}

/// Where a run stands. Stages update it with compare-and-set on the KV revision, so concurrent
/// replicas never lose each other's updates, and exactly one of them sees the run become
/// complete.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunProgress {
    pub run_id: String,
    pub shard_count: u32,
    /// Shards finished per stage, as counters (see [`StageCounts`]): the record every shard
    /// update rewrites stays the same size at any shard count.
    #[serde(default)]
    pub done: StageCounts,
    /// Shards given up on. Failures only: a healthy run keeps this empty, whatever its size.
    pub dead: BTreeMap<u32, DeadShard>,
    /// Dead shards a redrive took out of `dead` and is sending again, until it knows they are
    /// published: a redrive cut short between the two leaves them here (not lost between
    /// "dead" and "in flight"), and the next `runs redrive` sends them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redriving: BTreeMap<u32, DeadShard>,
    pub tickets_indexed: u64,
    /// Sum of per-shard processing time per stage (cleaner, embedder, indexer), milliseconds.
    /// Read and add through [`busy_ms_of`](Self::busy_ms_of) and [`add_busy_ms`](Self::add_busy_ms),
    /// which know which slot is which stage; the array form is what is stored in KV.
    pub busy_ms: [u64; 3],
    pub started_at_ms: u64,
    /// Set by the coordinator once every shard task is published; a coordinator rerun on a run
    /// without it republishes (de-duplicated by message id) instead of leaving the run stuck.
    pub published: bool,
    /// When the last shard became final (indexed or dead), as verified against the shard
    /// records: set once, by the update that first sees every shard final.
    pub completed_at_ms: Option<u64>,
    /// Set once `runs.completed` is acknowledged by JetStream.
    pub completion_published: bool,
    /// How many times a trainer started on this run (1 in a healthy run).
    pub train_attempts: u32,
    /// Times the trainer *finished* the run (recorded its result). `train_attempts` also counts
    /// attempts cut short by an outage and retried; more than one finish per completion is work
    /// done twice, which the fault tests' audit counts.
    #[serde(default)]
    pub trainings: u32,
    /// Set by the trainer when it has recorded the run's result.
    pub trained_at_ms: Option<u64>,
    /// How many times an operator re-drove dead shards (`ticketflow runs redrive`). Part of the
    /// message ids of the re-driven work and of the new `runs.completed`, so JetStream's
    /// de-duplication does not drop them as repeats of the first attempt.
    #[serde(default)]
    pub redrives: u32,
    /// Precisions (`fp32`, `int8`) of the embedders that made this run's vectors, recorded as
    /// shards are indexed. One value in a healthy run; a model card records it, and models
    /// trained on vectors of another precision are not compared row for row.
    #[serde(default)]
    pub embedding_precisions: BTreeSet<String>,
    /// What an incremental run saved: vectors reused instead of embedded, Chroma records left
    /// as they were instead of written. Each shard counted once.
    #[serde(default)]
    pub reuse: ReuseCounts,
}

/// One shard's own record, apart from its run's progress (KV `tf_shards`, key `<run>.<shard>`):
/// what a shard update writes here costs the same at any shard count, where an entry per shard
/// in [`RunProgress`] made every update rewrite a record growing with the run (61 KB at 5,000
/// shards, NATS's 1 MiB limit near 85,000).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardRecord {
    /// How many times each stage finished the shard (published its output and recorded it).
    /// Once is the rule; more is work done again after a redelivery, which the fault tests'
    /// audit counts (a done *set* would hide it).
    #[serde(default)]
    pub finishes: BTreeMap<Stage, u32>,
}

impl ShardRecord {
    /// How many times `stage` finished the shard (0: not yet).
    pub fn finishes_of(&self, stage: Stage) -> u32 {
        self.finishes.get(&stage).copied().unwrap_or(0)
    }
}

impl Message for ShardRecord {
    const KIND: &'static str = "shard_record";
}

/// Work an incremental run did and did not do, for one shard or summed over a run.
///
/// A cumulative daily export repeats most of yesterday's tickets: the embedder reuses the
/// vector of a text it has embedded before with the same model and precision, and the indexer
/// leaves a Chroma record alone when its text and metadata are what Chroma already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseCounts {
    /// Tickets whose vector was found by content and reused.
    pub vectors_reused: u64,
    /// Tickets the model embedded.
    pub vectors_embedded: u64,
    /// Chroma records the indexer wrote (new, or changed in text or metadata).
    pub records_written: u64,
    /// Chroma records already holding the same text and metadata, not written again.
    pub records_unchanged: u64,
    /// Object-store requests the embedder's reuse lookups made: the vector cache's manifest,
    /// index runs and recent segments, and the vector files of hits. Divided by the shards
    /// embedded it is the lookup cost per shard, which stays flat as the cache grows
    /// (`ticketflow_workers::vector_cache`). 0 in records written before it was counted.
    #[serde(default)]
    pub lookup_requests: u64,
}

impl ReuseCounts {
    pub fn add(&mut self, other: &ReuseCounts) {
        self.vectors_reused += other.vectors_reused;
        self.vectors_embedded += other.vectors_embedded;
        self.records_written += other.records_written;
        self.records_unchanged += other.records_unchanged;
        self.lookup_requests += other.lookup_requests;
    }
}

/// Milliseconds since the Unix epoch: the clock of every timestamp in run state (`*_at_ms`).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Message for RunProgress {
    const KIND: &'static str = "run_progress";
}

/// Coarse status of a run, derived from its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every shard indexed; waiting for the trainer.
    Indexed,
    /// Every shard indexed or dead, at least one dead.
    CompletedWithErrors,
    Completed,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Running => "running",
            RunStatus::Indexed => "indexed",
            RunStatus::CompletedWithErrors => "completed-with-errors",
            RunStatus::Completed => "completed",
        })
    }
}

impl RunProgress {
    pub fn new(run_id: &str, shard_count: u32, now_ms: u64) -> Self {
        Self {
            run_id: run_id.to_string(),
            shard_count,
            started_at_ms: now_ms,
            ..Self::default()
        }
    }

    /// The `busy_ms` slot of a shard stage; the trainer works per run and has none.
    fn busy_slot(stage: Stage) -> Option<usize> {
        match stage {
            Stage::Cleaner => Some(0),
            Stage::Embedder => Some(1),
            Stage::Indexer => Some(2),
            Stage::Trainer => None,
        }
    }

    /// Milliseconds a shard stage spent on this run's shards, summed (0 for the trainer).
    pub fn busy_ms_of(&self, stage: Stage) -> u64 {
        Self::busy_slot(stage).map_or(0, |slot| self.busy_ms[slot])
    }

    /// Adds a shard's processing time to its stage's total (nothing for the trainer).
    pub fn add_busy_ms(&mut self, stage: Stage, ms: u64) {
        if let Some(slot) = Self::busy_slot(stage) {
            self.busy_ms[slot] += ms;
        }
    }

    fn count_slot(&mut self, stage: Stage) -> Option<&mut u32> {
        match stage {
            Stage::Cleaner => Some(&mut self.done.cleaned),
            Stage::Embedder => Some(&mut self.done.embedded),
            Stage::Indexer => Some(&mut self.done.indexed),
            Stage::Trainer => None,
        }
    }

    /// Counts one more shard finished by `stage` (nothing for the trainer, which works per run).
    pub fn count_done(&mut self, stage: Stage) {
        if let Some(n) = self.count_slot(stage) {
            *n = n.saturating_add(1);
        }
    }

    /// Shards `stage` has finished, at most the shard count (a count may run ahead after a
    /// crash, see [`StageCounts`]); 0 for the trainer.
    pub fn done_count(&self, stage: Stage) -> u32 {
        let n = match stage {
            Stage::Cleaner => self.done.cleaned,
            Stage::Embedder => self.done.embedded,
            Stage::Indexer => self.done.indexed,
            Stage::Trainer => 0,
        };
        n.min(self.shard_count)
    }

    /// True when the counters say every shard is indexed or dead: the moment to verify it
    /// against the shard records (counts may run ahead, never behind) and then complete the run.
    pub fn counts_say_final(&self) -> bool {
        self.redriving.is_empty()
            && u64::from(self.done.indexed) + self.dead.len() as u64 >= u64::from(self.shard_count)
    }

    /// True when every shard is indexed or dead, given the indexer's finished shards as read
    /// from the shard records (sorted or not): the verification behind `completed_at_ms`.
    pub fn every_shard_final(&self, indexed: &[u32]) -> bool {
        if !self.redriving.is_empty() {
            return false;
        }
        let mut seen = vec![false; self.shard_count as usize];
        for &s in indexed.iter().chain(self.dead.keys()) {
            if let Some(slot) = seen.get_mut(s as usize) {
                *slot = true;
            }
        }
        seen.iter().all(|&s| s)
    }

    /// True once the run is complete: every shard indexed or dead, verified.
    pub fn all_shards_final(&self) -> bool {
        self.completed_at_ms.is_some()
    }

    /// Whether `shard` has a tensor: every shard that did not die before the embedder finished.
    /// Meaningful once the run is complete (what the trainer and drift read).
    pub fn has_embeddings(&self, shard: u32) -> bool {
        self.dead
            .get(&shard)
            .is_none_or(|dead| dead.stage == Stage::Indexer)
    }

    pub fn status(&self) -> RunStatus {
        if !self.all_shards_final() {
            RunStatus::Running
        } else if !self.dead.is_empty() {
            RunStatus::CompletedWithErrors
        } else if self.trained_at_ms.is_some() {
            RunStatus::Completed
        } else {
            RunStatus::Indexed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn busy_time_is_kept_per_shard_stage() {
        let mut p = RunProgress::new("r", 2, 0);
        p.add_busy_ms(Stage::Embedder, 40);
        p.add_busy_ms(Stage::Embedder, 2);
        p.add_busy_ms(Stage::Cleaner, 5);
        p.add_busy_ms(Stage::Trainer, 1_000);
        assert_eq!(p.busy_ms_of(Stage::Embedder), 42);
        assert_eq!(p.busy_ms_of(Stage::Cleaner), 5);
        assert_eq!(p.busy_ms_of(Stage::Indexer), 0);
        assert_eq!(
            p.busy_ms_of(Stage::Trainer),
            0,
            "the trainer has no shard time"
        );
        assert_eq!(p.busy_ms, [5, 42, 0], "the stored form is unchanged");
    }

    #[test]
    fn counts_say_final_only_as_a_hint_that_the_scan_confirms() {
        let mut p = RunProgress::new("r", 3, 1);
        assert_eq!(p.status(), RunStatus::Running);
        for _ in 0..3 {
            p.count_done(Stage::Cleaner);
        }
        p.count_done(Stage::Indexer);
        p.count_done(Stage::Indexer);
        assert_eq!(p.done_count(Stage::Cleaner), 3);
        assert!(!p.counts_say_final());
        p.dead.insert(
            2,
            DeadShard {
                stage: Stage::Embedder,
                reason: "corrupt".into(),
            },
        );
        assert!(p.counts_say_final());
        assert!(
            !p.every_shard_final(&[0]),
            "a count ahead of the records is not completion"
        );
        assert!(p.every_shard_final(&[1, 0]));
        assert_eq!(p.status(), RunStatus::Running, "not until it is verified");
        p.completed_at_ms = Some(5);
        assert_eq!(p.status(), RunStatus::CompletedWithErrors);
        assert!(p.has_embeddings(0) && !p.has_embeddings(2));
        // A count that ran ahead is shown as at most the shard count.
        for _ in 0..5 {
            p.count_done(Stage::Indexer);
        }
        assert_eq!(p.done_count(Stage::Indexer), 3);
        p.redriving.insert(2, p.dead.remove(&2).expect("dead"));
        assert!(
            !p.every_shard_final(&[0, 1]),
            "a redriven shard is not final"
        );
        let back: RunProgress = decode(&encode(&p).expect("encode")).expect("decode");
        assert_eq!(back, p);
    }

    #[test]
    fn every_wire_type_round_trips() {
        let manifest = RunManifest {
            run_id: "r".into(),
            input: "file.csv".into(),
            input_digest: "abc".into(),
            created_at_ms: 5,
            shard_size: 500,
            shard_count: 2,
            tickets: 900,
            quarantined: 3,
            quarantine_key: Some("runs/r/quarantine.jsonl".into()),
            labelled: true,
            embed_input: "normalized".into(),
            dataset: "support".into(),
        };
        assert_eq!(
            decode::<RunManifest>(&encode(&manifest).expect("e")).expect("d"),
            manifest
        );
        let dl = crate::DeadLetter {
            run_id: None,
            shard: None,
            stage: Stage::Cleaner,
            subject: "tf.raw".into(),
            deliveries: 5,
            stream_sequence: 17,
            redrive: 0,
            reason: "undecodable".into(),
            payload: vec![0, 159, 146, 150],
        };
        assert_eq!(
            decode::<crate::DeadLetter>(&encode(&dl).expect("e")).expect("d"),
            dl
        );
        let file = crate::CleanShardFile {
            run_id: "r".into(),
            shard: 0,
            tickets: vec![crate::CleanTicket {
                id: "t".into(),
                row: 1,
                text: "VPN down".into(),
                tokens: vec!["vpn".into()],
                language: Some("en".into()),
                language_source: "given".into(),
                ticket_type: Some("Incident".into()),
                queue: None,
                priority: None,
                has_subject: true,
                placeholder_count: 0,
            }],
        };
        assert_eq!(
            decode::<crate::CleanShardFile>(&encode(&file).expect("e")).expect("d"),
            file
        );
        for st in Stage::ALL {
            assert_eq!(st.as_str().parse::<Stage>(), Ok(st));
        }
        assert!("nope".parse::<Stage>().is_err());
    }
}
