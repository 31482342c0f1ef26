//! The trainer's one pass over a run's shards: production predicts each shard, the feature
//! table is written as the shards go by, and seeded samples of rows and vectors are kept for
//! drift.

use std::collections::HashMap;

use ticketflow_analytics::classify::{Example, Predictions};
use ticketflow_analytics::drift::EmbeddingDriftOptions;
use ticketflow_analytics::drift::feature_table::{FeatureCsv, FeatureRow, feature_row};
use ticketflow_connectors::store::keys;
use ticketflow_lifecycle::run::read::{RunShards, UniformSample};
use ticketflow_schemas::RunManifest;

use crate::stage_loop::StageError;
use ticketflow_connectors::store::Store;

/// Rows of each run the embedding-drift domain classifier uses: it subsamples to this anyway.
pub(super) fn embedding_sample_rows() -> usize {
    EmbeddingDriftOptions::default().classifier_max_rows
}

/// What one pass over a run's shards leaves: production's predictions for every ticket, the
/// feature table as CSV, and the samples the drift statistics use.
pub(super) struct RunPass {
    /// Production (the data set's `latest` before the run) on every ticket, in run order.
    pub(super) production: Option<Predictions>,
    pub(super) ids: Vec<String>,
    pub(super) rows: Vec<u64>,
    /// Per ticket: whether production trained on it (its figures leave it out), its label.
    pub(super) trained: Vec<bool>,
    pub(super) labels: Vec<Option<String>>,
    pub(super) drift_rows: Vec<FeatureRow>,
    pub(super) drift_vectors: Vec<Vec<f32>>,
}

/// One pass over the run, a shard at a time: production predicts each shard, its feature rows
/// go to the store as CSV before the next shard is read, and seeded samples of at most
/// `max_rows` rows (and of vectors) are kept for drift.
pub(super) async fn stream_run(
    store: &Store,
    max_rows: usize,
    manifest: &RunManifest,
    shards: &RunShards<'_>,
    champion: Option<&ticketflow_lifecycle::registry::Champion>,
    out_of_fold: &HashMap<String, Vec<f32>>,
    oof_meta: Option<&Predictions>,
) -> Result<RunPass, StageError> {
    // The champion's classes and threshold, with every shard's probabilities appended.
    let mut production = champion.map(|c| Predictions {
        probs: Vec::with_capacity(manifest.tickets as usize),
        ..Predictions::of(&c.classifier, &c.run_id, &[])
    });
    let trained_by_production = champion.and_then(|c| c.trained.as_ref());
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    let mut trained = Vec::new();
    let mut labels = Vec::new();
    // The feature table goes to the store a shard at a time, never whole in memory.
    let mut table = store.upload(&keys::features(&manifest.run_id)).await?;
    let mut drift_rows = UniformSample::new(max_rows);
    let mut drift_vectors = UniformSample::new(embedding_sample_rows());
    let csv_err = |e: csv::Error| StageError::permanent_from("feature table", e);
    for &shard in shards.shards() {
        let tickets = shards.with_vectors(shard).await?;
        let mut csv = if table.bytes() == 0 {
            FeatureCsv::new(Vec::new())
        } else {
            FeatureCsv::continued(Vec::new())
        };
        let shard_predictions = champion.map(|c| {
            let examples: Vec<Example> = tickets
                .iter()
                .map(|(t, v)| Example::from_clean_ticket(t, v.clone()))
                .collect();
            Predictions::of(&c.classifier, &c.run_id, &examples)
        });
        for (i, (t, v)) in tickets.into_iter().enumerate() {
            let oof = oof_meta.and_then(|meta| meta.judge(out_of_fold.get(&t.id)?));
            let mut row = feature_row(&t, shard_predictions.as_ref().and_then(|p| p.row(i)), oof);
            let seen = trained_by_production.is_some_and(|set| set.contains(&t.id));
            if shard_predictions.is_some() {
                row.production_trained = Some(seen);
            }
            csv.push(&row).map_err(csv_err)?;
            drift_rows.offer_with(&t.id, || row);
            drift_vectors.offer_with(&t.id, || v);
            trained.push(seen);
            labels.push(t.ticket_type.clone());
            ids.push(t.id);
            rows.push(t.row);
        }
        if let (Some(all), Some(p)) = (production.as_mut(), shard_predictions) {
            all.extend(p);
        }
        table.write(&csv.finish().map_err(csv_err)?).await?;
    }
    table.finish().await?;
    let sampled = drift_rows.seen() > max_rows as u64;
    if sampled {
        tracing::info!(run_id = %manifest.run_id, rows = max_rows, of = drift_rows.seen(), "drift on a seeded sample of the run");
    }
    Ok(RunPass {
        production,
        ids,
        rows,
        trained,
        labels,
        drift_rows: drift_rows.into_vec(),
        drift_vectors: drift_vectors.into_vec(),
    })
}

#[cfg(test)]
mod tests;
