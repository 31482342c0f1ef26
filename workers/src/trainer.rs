//! Trainer: runs once per completed run.
//!
//! Until the classifier lands, it records the run's summary (tickets, shards, dead shards,
//! per-stage busy time, wall time) as `runs/<run>/result.json`. It is idempotent: a
//! redelivered `runs.completed` for a run already trained is acknowledged without new work.

use bytes::Bytes;
use serde::Serialize;
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{RunCompleted, RunProgress, Stage};

use crate::now_ms;
use crate::stage_loop::{Processed, StageError, StageWorker};
use crate::store_error;

pub struct Trainer {
    pub store: Store,
    pub bus: Bus,
}

/// What `result.json` holds for a run.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub input: String,
    pub status: String,
    pub tickets_accepted: u64,
    pub tickets_quarantined: u64,
    pub tickets_indexed: u64,
    pub shard_count: u32,
    pub dead_shards: Vec<DeadShardSummary>,
    pub busy_seconds: BusySeconds,
    pub wall_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct DeadShardSummary {
    pub shard: u32,
    pub stage: Stage,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct BusySeconds {
    pub cleaner: f64,
    pub embedder: f64,
    pub indexer: f64,
}

impl StageWorker for Trainer {
    const STAGE: Stage = Stage::Trainer;
    type Input = RunCompleted;

    async fn process(&self, event: &RunCompleted) -> Result<Processed, StageError> {
        let run_id = &event.run_id;
        let (already, _) = self
            .bus
            .update_progress(run_id, |p| {
                let already = p.trained_at_ms.is_some();
                if !already {
                    p.train_attempts += 1;
                }
                already
            })
            .await?;
        if already {
            tracing::info!(run_id, "run already trained; nothing to do");
            return Ok(Processed {
                tickets: 0,
                downstream: None,
            });
        }
        let manifest = self
            .bus
            .manifest(run_id)
            .await?
            .ok_or_else(|| StageError::Permanent(format!("run {run_id} has no manifest")))?;
        let progress = self
            .bus
            .progress(run_id)
            .await?
            .ok_or_else(|| StageError::Permanent(format!("run {run_id} has no progress")))?;
        let summary = summarise(&manifest, &progress);
        let json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| StageError::Permanent(e.to_string()))?;
        self.store
            .put(&keys::run_result(run_id), Bytes::from(json))
            .await
            .map_err(store_error)?;
        self.bus
            .update_progress(run_id, |p| {
                p.trained_at_ms.get_or_insert_with(now_ms);
            })
            .await?;
        tracing::info!(
            run_id,
            tickets = progress.tickets_indexed,
            "run result recorded"
        );
        Ok(Processed {
            tickets: progress.tickets_indexed as u32,
            downstream: None,
        })
    }
}

pub fn summarise(manifest: &ticketflow_schemas::RunManifest, p: &RunProgress) -> RunSummary {
    let secs = |ms: u64| ms as f64 / 1000.0;
    RunSummary {
        run_id: manifest.run_id.clone(),
        input: manifest.input.clone(),
        status: if p.dead.is_empty() {
            "completed".into()
        } else {
            "completed-with-errors".into()
        },
        tickets_accepted: manifest.tickets,
        tickets_quarantined: manifest.quarantined,
        tickets_indexed: p.tickets_indexed,
        shard_count: manifest.shard_count,
        dead_shards: p
            .dead
            .iter()
            .map(|(shard, d)| DeadShardSummary {
                shard: *shard,
                stage: d.stage,
                reason: d.reason.clone(),
            })
            .collect(),
        busy_seconds: BusySeconds {
            cleaner: secs(p.busy_ms[0]),
            embedder: secs(p.busy_ms[1]),
            indexer: secs(p.busy_ms[2]),
        },
        wall_seconds: secs(
            p.completed_at_ms
                .unwrap_or_else(now_ms)
                .saturating_sub(p.started_at_ms),
        ),
    }
}
