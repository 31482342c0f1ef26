//! Reading a finished run back from the object store: its tickets with their vectors and its
//! feature table; and the drift report between two runs. Shared by the trainer and
//! `ticketflow drift` / `ticketflow features`, so both compute the same report.

use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_ml::drift::compare::compare;
use ticketflow_ml::drift::feature_table::{FeatureRow, read_csv_bytes};
use ticketflow_ml::drift::{DriftOptions, DriftReport, EmbeddingDriftOptions, embedding_drift};
use ticketflow_schemas::{CleanShardFile, CleanTicket, RunManifest, RunProgress};

use crate::stage_loop::StageError;
use crate::tensors;

/// Seeds the embedding-drift domain classifier, so the same two runs always give the same report.
pub const EMBEDDING_DRIFT_SEED: u64 = 13;

/// Every ticket of a run with its vector, from the cleaned shards and tensors. Dead shards are
/// skipped (they have no tensor).
pub async fn load_run_tickets(
    store: &Store,
    manifest: &RunManifest,
    progress: &RunProgress,
) -> Result<Vec<(CleanTicket, Vec<f32>)>, StageError> {
    let mut out = Vec::with_capacity(manifest.tickets as usize);
    for shard in 0..manifest.shard_count {
        if !progress.embedded.contains(shard) {
            continue;
        }
        let clean = store
            .get(&keys::clean_shard(&manifest.run_id, shard))
            .await?;
        let npy = store
            .get(&keys::embeddings(&manifest.run_id, shard))
            .await?;
        let file: CleanShardFile = ticketflow_schemas::decode(&clean)
            .map_err(|e| StageError::permanent(format!("shard {shard}: {e}")))?;
        let vectors = tensors::from_npy(&npy).map_err(StageError::permanent)?;
        if vectors.nrows() != file.tickets.len() {
            return Err(StageError::permanent(format!(
                "shard {shard}: {} vectors for {} tickets",
                vectors.nrows(),
                file.tickets.len()
            )));
        }
        for (t, v) in file.tickets.into_iter().zip(vectors.rows()) {
            out.push((t, v.to_vec()));
        }
    }
    Ok(out)
}

/// A run's feature table (`runs/<run>/features.csv`).
pub async fn run_features(store: &Store, run_id: &str) -> Result<Vec<FeatureRow>, StageError> {
    let bytes = store.get(&keys::features(run_id)).await?;
    read_csv_bytes(&bytes[..])
        .map_err(|e| StageError::permanent(format!("features of run {run_id}: {e}")))
}

/// A run's vectors, in ticket order; empty when the run's state is gone from KV.
pub async fn run_embeddings(
    store: &Store,
    bus: &Bus,
    run_id: &str,
) -> Result<Vec<Vec<f32>>, StageError> {
    match (bus.manifest(run_id).await?, bus.progress(run_id).await?) {
        (Some(m), Some(p)) => Ok(load_run_tickets(store, &m, &p)
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// One side of a drift comparison: a name, its feature rows, its vectors (empty for a bare CSV).
pub struct DriftSide {
    pub name: String,
    pub rows: Vec<FeatureRow>,
    pub embeddings: Vec<Vec<f32>>,
}

/// The drift report of `current` against `reference`: column tests on the feature tables, and
/// embedding drift when both sides have vectors (left out, with a warning, when it cannot be
/// computed). CPU-bound: call it on a blocking thread from async code.
pub fn drift_report(
    reference: &DriftSide,
    current: &DriftSide,
    opts: &DriftOptions,
    now_ms: u64,
) -> DriftReport {
    let embedding = if reference.embeddings.is_empty() || current.embeddings.is_empty() {
        None
    } else {
        embedding_drift(
            &reference.embeddings,
            &current.embeddings,
            EMBEDDING_DRIFT_SEED,
            &EmbeddingDriftOptions::default(),
        )
        .map_err(|e| tracing::warn!(error = %e, "embedding drift left out"))
        .ok()
    };
    compare(
        &reference.name,
        &reference.rows,
        &current.name,
        &current.rows,
        embedding,
        opts,
        now_ms,
    )
}
