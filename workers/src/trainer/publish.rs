//! An inference run's predictions published: `runs/<run>/predictions.csv`, and the changed
//! ones into Chroma.

use bytes::Bytes;
use ticketflow_analytics::classify::{Predictions, predictions_csv};
use ticketflow_connectors::store::keys;
use ticketflow_lifecycle::registry::RegistryError;
use ticketflow_lifecycle::run::result::{PredictionSummary, RoutingSummary};
use ticketflow_schemas::RunManifest;

use super::Trainer;
use crate::stage_loop::StageError;

/// Chroma metadata for production's prediction of ticket `i`; `None` when it predicted none.
fn prediction_metadata(
    p: &Predictions,
    i: usize,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let row = p.row(i)?;
    let mut m = serde_json::Map::new();
    m.insert("predicted_type".into(), row.class.into());
    m.insert(
        "predicted_probability".into(),
        f64::from(row.probability).into(),
    );
    m.insert("auto".into(), row.auto.into());
    m.insert("auto_reason".into(), row.reason.to_string().into());
    m.insert("predicted_by".into(), p.model_run.clone().into());
    Some(m)
}

/// Tickets per Chroma read and write when an inference run's predictions are stored.
const CHROMA_BATCH: usize = 500;

impl Trainer {
    /// An inference run: production's predictions to `runs/<run>/predictions.csv` and into
    /// Chroma (`predicted_type`, `predicted_probability`, `auto`, `auto_reason`,
    /// `predicted_by`), a batch at a time; only predictions that changed are written, so a daily
    /// run over a cumulative export with the same production model rewrites nothing.
    pub(super) async fn publish_predictions(
        &self,
        manifest: &RunManifest,
        ids: &[String],
        rows: &[u64],
        production: Option<&Predictions>,
    ) -> Result<PredictionSummary, StageError> {
        let Some(production) = production else {
            let error = RegistryError::NoLatest {
                dataset: manifest.dataset(),
            };
            return Ok(PredictionSummary {
                error: Some(error.to_string()),
                model_run: None,
                predicted: 0,
                file: None,
                counts: vec![],
                routing: None,
            });
        };
        let csv = predictions_csv(production, ids, rows)
            .map_err(|e| StageError::permanent_from("writing predictions", e))?;
        let key = keys::predictions(&manifest.run_id);
        self.store.put(&key, Bytes::from(csv)).await?;
        if let Some(chroma) = &self.chroma {
            for start in (0..ids.len()).step_by(CHROMA_BATCH) {
                let end = (start + CHROMA_BATCH).min(ids.len());
                let stored = chroma.metadata_of(&ids[start..end]).await?;
                let (changed_ids, changed): (Vec<String>, Vec<_>) = (start..end)
                    .filter_map(|i| Some((ids[i].clone(), prediction_metadata(production, i)?)))
                    .filter(|(id, new)| {
                        !stored
                            .get(id)
                            .is_some_and(|old| new.iter().all(|(k, v)| old.get(k) == Some(v)))
                    })
                    .unzip();
                if !changed_ids.is_empty() {
                    chroma.update_metadata(&changed_ids, &changed).await?;
                }
            }
        }
        let mut counts: Vec<(String, usize)> = production
            .classes
            .iter()
            .map(|c| {
                let n = (0..ids.len())
                    .filter(|&i| production.row(i).is_some_and(|p| p.class == c))
                    .count();
                (c.clone(), n)
            })
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        Ok(PredictionSummary {
            error: None,
            model_run: Some(production.model_run.clone()),
            predicted: ids.len(),
            file: Some(key),
            counts,
            routing: Some(RoutingSummary::of(production, &[], &[])),
        })
    }
}
