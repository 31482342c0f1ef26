//! Reading a finished run back from the object store: its tickets with their vectors and its
//! feature table; and the drift report between two runs. Shared by the trainer and
//! `ticketflow drift` / `ticketflow features`, so both compute the same report.
//!
//! A run can be larger than memory, so it is read a shard at a time ([`RunShards`]); what must
//! see many tickets at once (training, the drift statistics) sees a seeded sample of at most
//! `max_rows` of them ([`ticketflow_analytics::sample`]).

use ticketflow_analytics::drift::compare::compare;
use ticketflow_analytics::drift::feature_table::{FeatureRow, read_csv_bytes};
use ticketflow_analytics::drift::{
    DriftOptions, DriftReport, EmbeddingDriftOptions, embedding_drift,
};
use ticketflow_analytics::sample::{BottomK, SampleInfo, StratifiedSample, priority};
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{CleanShardFile, CleanTicket, RunManifest, RunProgress};

use crate::tensors;
use ticketflow_connectors::stage_error::StageError;

/// Seeds the embedding-drift domain classifier, so the same two runs always give the same report.
pub const EMBEDDING_DRIFT_SEED: u64 = 13;

/// Seeds every sample of a run (training, drift, profile): the same run gives the same sample.
pub const SAMPLE_SEED: u64 = 20_251_205;

/// The embedded shards of a run, read one at a time. Shards that died before the embedder
/// finished them are skipped (they have no tensor). Read from a complete run.
pub struct RunShards<'a> {
    store: &'a Store,
    run_id: String,
    shards: Vec<u32>,
}

impl<'a> RunShards<'a> {
    pub fn new(store: &'a Store, manifest: &RunManifest, progress: &RunProgress) -> Self {
        Self {
            store,
            run_id: manifest.run_id.clone(),
            shards: (0..manifest.shard_count)
                .filter(|&s| progress.has_embeddings(s))
                .collect(),
        }
    }

    pub fn shards(&self) -> &[u32] {
        &self.shards
    }

    /// One shard's prepared tickets.
    pub async fn tickets(&self, shard: u32) -> Result<Vec<CleanTicket>, StageError> {
        let clean = self
            .store
            .get(&keys::clean_shard(&self.run_id, shard))
            .await?;
        let file: CleanShardFile = ticketflow_schemas::decode(&clean)
            .map_err(|e| StageError::permanent_from(format!("shard {shard}"), e))?;
        Ok(file.tickets)
    }

    /// One shard's tickets with their vectors.
    pub async fn with_vectors(
        &self,
        shard: u32,
    ) -> Result<Vec<(CleanTicket, Vec<f32>)>, StageError> {
        let tickets = self.tickets(shard).await?;
        let npy = self
            .store
            .get(&keys::embeddings(&self.run_id, shard))
            .await?;
        let vectors = tensors::from_npy(&npy).map_err(StageError::permanent)?;
        if vectors.nrows() != tickets.len() {
            return Err(StageError::permanent(format!(
                "shard {shard}: {} vectors for {} tickets",
                vectors.nrows(),
                tickets.len()
            )));
        }
        Ok(tickets
            .into_iter()
            .zip(vectors.rows())
            .map(|(t, v)| (t, v.to_vec()))
            .collect())
    }
}

/// Every ticket of a run with its vector, from the cleaned shards and tensors. Dead shards are
/// skipped (they have no tensor). Holds the whole run, so it is only called on runs known to
/// be small; everything else reads through [`RunShards`] and the samples.
async fn load_run_tickets(
    store: &Store,
    manifest: &RunManifest,
    progress: &RunProgress,
) -> Result<Vec<(CleanTicket, Vec<f32>)>, StageError> {
    let shards = RunShards::new(store, manifest, progress);
    let mut out = Vec::with_capacity(manifest.tickets as usize);
    for &shard in shards.shards() {
        out.extend(shards.with_vectors(shard).await?);
    }
    Ok(out)
}

/// The labelled tickets of a run with their vectors: all of them when there are at most
/// `max_rows`, else a seeded sample of `max_rows` stratified by type ([`StratifiedSample`]),
/// with what it is. Two passes: labels and ids first (cleaned shards only), then the vectors of
/// the chosen tickets, so memory holds the sample, never the run.
pub async fn labelled_sample(
    shards: &RunShards<'_>,
    max_rows: usize,
) -> Result<(Vec<(CleanTicket, Vec<f32>)>, Option<SampleInfo>), StageError> {
    let mut sample = StratifiedSample::new(max_rows, SAMPLE_SEED);
    for &shard in shards.shards() {
        for (row, t) in shards.tickets(shard).await?.into_iter().enumerate() {
            if let Some(label) = &t.ticket_type {
                sample.offer(label, &t.id, (shard, row));
            }
        }
    }
    let (chosen, info) = sample.finish();
    let sampled = info.rows < info.of;
    let mut rows_of: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (shard, row) in chosen {
        rows_of.entry(shard).or_default().push(row);
    }
    let mut out = Vec::with_capacity(info.rows as usize);
    for (shard, mut rows) in rows_of {
        // In run order, as reading the run whole gives them (training is seeded by position).
        rows.sort_unstable();
        let mut tickets: Vec<Option<_>> = shards
            .with_vectors(shard)
            .await?
            .into_iter()
            .map(Some)
            .collect();
        for row in rows {
            if let Some(ticket) = tickets.get_mut(row).and_then(Option::take) {
                out.push(ticket);
            }
        }
    }
    if sampled {
        tracing::info!(
            rows = info.rows,
            of = info.of,
            seed = info.seed,
            "training on a stratified sample of the run"
        );
    }
    Ok((out, sampled.then_some(info)))
}

/// A uniform seeded sample of at most `k` items, by ticket id (see [`ticketflow_analytics::sample`]).
pub struct UniformSample<T> {
    rows: BottomK<T>,
}

impl<T> UniformSample<T> {
    pub fn new(k: usize) -> Self {
        Self {
            rows: BottomK::new(k),
        }
    }

    pub fn offer_with(&mut self, id: &str, item: impl FnOnce() -> T) {
        self.rows.offer_with(priority(SAMPLE_SEED, id), item);
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.rows.seen()
    }

    /// The sample, in the order it was offered: a run's rows stay in run order, so a run no
    /// larger than `k` gives exactly what reading it whole gives.
    pub fn into_vec(self) -> Vec<T> {
        self.rows.into_arrival_order()
    }
}

/// A run's feature table (`runs/<run>/features.csv`).
pub async fn run_features(store: &Store, run_id: &str) -> Result<Vec<FeatureRow>, StageError> {
    let bytes = store.get(&keys::features(run_id)).await?;
    read_csv_bytes(&bytes[..])
        .map_err(|e| StageError::permanent_from(format!("features of run {run_id}"), e))
}

/// At most `max_rows` rows of a run's feature table: a seeded sample by ticket id, read row by
/// row, so a reference run of any size costs `max_rows` rows of memory.
pub async fn run_features_sample(
    store: &Store,
    run_id: &str,
    max_rows: usize,
) -> Result<Vec<FeatureRow>, StageError> {
    let bytes = store.get(&keys::features(run_id)).await?;
    let mut sample = UniformSample::new(max_rows);
    for row in csv::Reader::from_reader(&bytes[..]).deserialize::<FeatureRow>() {
        let row = row
            .map_err(|e| StageError::permanent_from(format!("features of run {run_id}"), e))?
            .restored();
        let id = row.id.clone();
        sample.offer_with(&id, || row);
    }
    Ok(sample.into_vec())
}

/// A run's vectors, in ticket order; empty when the run's state is gone from KV.
pub async fn run_embeddings(
    store: &Store,
    bus: &Bus,
    run_id: &str,
) -> Result<Vec<Vec<f32>>, StageError> {
    run_embeddings_sample(store, bus, run_id, usize::MAX).await
}

/// At most `max_rows` of a run's vectors (a seeded sample by ticket id, read a shard at a
/// time); all of them, in ticket order, when the run is not larger. Empty when the run's state
/// is gone from KV.
pub async fn run_embeddings_sample(
    store: &Store,
    bus: &Bus,
    run_id: &str,
    max_rows: usize,
) -> Result<Vec<Vec<f32>>, StageError> {
    let (Some(m), Some(p)) = (bus.manifest(run_id).await?, bus.progress(run_id).await?) else {
        return Ok(Vec::new());
    };
    if m.tickets <= max_rows as u64 {
        return Ok(load_run_tickets(store, &m, &p)
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .collect());
    }
    let shards = RunShards::new(store, &m, &p);
    let mut sample = UniformSample::new(max_rows);
    for &shard in shards.shards() {
        for (t, v) in shards.with_vectors(shard).await? {
            sample.offer_with(&t.id, || v);
        }
    }
    Ok(sample.into_vec())
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

/// [`drift_report`] with the default options, stamped now, on a blocking thread: what the
/// trainer and `ticketflow predict` run from async code.
pub async fn drift_report_now(
    reference: DriftSide,
    current: DriftSide,
) -> Result<DriftReport, StageError> {
    tokio::task::spawn_blocking(move || {
        drift_report(
            &reference,
            &current,
            &DriftOptions::default(),
            ticketflow_schemas::now_ms(),
        )
    })
    .await
    .map_err(|e| StageError::transient_from("drift task", e))
}
