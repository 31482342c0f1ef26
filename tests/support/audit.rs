//! The audit every fault test ends with, built so that a duplicate or a loss changes its
//! verdict:
//!
//! - **Chroma holds exactly the input's ids** for the run: not a count (upserts keyed by ticket
//!   id would hide a duplicate behind the right number), but the set of ids, compared with the
//!   ids in the input file: each one missing is a loss, each one extra a stray.
//! - **Every stage finished every shard the expected number of times**, as the run's progress
//!   counts it (`finishes`, incremented on every finish, unlike the done sets, which would hide a
//!   second one). More than once is work done again after a redelivery: not a loss, but a
//!   duplicate the scenario must account for.
//! - **The trainer ran the expected number of times**: finished the run and recorded its result
//!   (`trainings`; `train_attempts` also counts attempts cut short by an outage and retried).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};

/// What a scenario may see beyond "everything exactly once".
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Times the trainer finished the run (1, or more after redrives).
    pub trainer_runs: u64,
    /// Shard finishes beyond one per stage and shard that the scenario can cause (a worker
    /// killed between finishing and acknowledging redoes its shard). 0 for most.
    pub extra_finishes: u64,
}

impl Expect {
    pub const EXACTLY_ONCE: Expect = Expect {
        trainer_runs: 1,
        extra_finishes: 0,
    };
}

/// What the audit counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Input ids not in Chroma.
    pub lost: Vec<String>,
    /// Ids in Chroma for the run that are not in the input.
    pub stray: Vec<String>,
    /// Shard finishes beyond one per stage and shard, summed over the stages.
    pub duplicate_finishes: u64,
    /// (stage, shard) pairs with no finish at all.
    pub unfinished: Vec<(String, u32)>,
    pub trainer_runs: u64,
    /// Trainer starts, including those cut short by an outage and retried (reported, not judged).
    pub trainer_attempts: u64,
}

/// The ids in column `id` of a CSV input.
pub fn input_ids(path: &Path) -> BTreeSet<String> {
    let mut reader = csv::Reader::from_path(path).expect("input");
    let headers = reader.headers().expect("header").clone();
    let column = headers
        .iter()
        .position(|h| h == "id")
        .expect("an id column");
    reader
        .records()
        .map(|r| r.expect("record")[column].to_string())
        .collect()
}

/// Audits `run_id` from `runs show --json` (`show`) and the Chroma collection.
pub fn audit(
    show: &Value,
    chroma_url: &str,
    collection: &str,
    expected_ids: &BTreeSet<String>,
) -> Audit {
    let run_id = show["manifest"]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    let rt = super::runtime();
    let in_chroma: BTreeSet<String> = rt.block_on(async {
        let client = ChromaClient::connect(&ChromaConfig::new(chroma_url, collection))
            .await
            .expect("chroma");
        client
            .get_where(
                serde_json::json!({ "run_id": run_id }),
                10 * expected_ids.len() + 10,
            )
            .await
            .expect("the run's records")
            .into_iter()
            .map(|r| r.id)
            .collect()
    });
    let shard_count = show["shards"]["total"].as_u64().expect("shard count") as u32;
    let mut duplicate_finishes = 0;
    let mut unfinished = Vec::new();
    for stage in ["cleaner", "embedder", "indexer"] {
        for shard in 0..shard_count {
            let n = show["finishes"][stage][shard.to_string()]
                .as_u64()
                .unwrap_or(0);
            if n == 0 {
                unfinished.push((stage.to_string(), shard));
            }
            duplicate_finishes += n.saturating_sub(1);
        }
    }
    Audit {
        lost: expected_ids.difference(&in_chroma).cloned().collect(),
        stray: in_chroma.difference(expected_ids).cloned().collect(),
        duplicate_finishes,
        unfinished,
        trainer_runs: show["trainings"].as_u64().unwrap_or(0),
        trainer_attempts: show["train_attempts"].as_u64().unwrap_or(0),
    }
}

impl Audit {
    /// Fails the test unless nothing was lost or stray, every shard finished, and duplicates and
    /// trainer runs are what `expect` allows. Prints the counts (docs/reliability.md quotes them).
    #[track_caller]
    pub fn assert_meets(&self, expect: Expect, scenario: &str) {
        eprintln!(
            "audit [{scenario}]: lost {}, stray {}, unfinished {}, duplicate finishes {}, trainer runs {} ({} started)",
            self.lost.len(),
            self.stray.len(),
            self.unfinished.len(),
            self.duplicate_finishes,
            self.trainer_runs,
            self.trainer_attempts
        );
        assert!(self.lost.is_empty(), "{scenario}: lost {:?}", self.lost);
        assert!(self.stray.is_empty(), "{scenario}: stray {:?}", self.stray);
        assert!(
            self.unfinished.is_empty(),
            "{scenario}: never finished {:?}",
            self.unfinished
        );
        assert!(
            self.duplicate_finishes <= expect.extra_finishes,
            "{scenario}: {} shard(s) finished again, {} allowed",
            self.duplicate_finishes,
            expect.extra_finishes
        );
        assert_eq!(
            self.trainer_runs, expect.trainer_runs,
            "{scenario}: the trainer ran {} time(s)",
            self.trainer_runs
        );
    }
}
