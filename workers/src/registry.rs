//! The model registry: trained classifiers in the object store, and which one is `latest`.
//!
//! ```text
//! models/<run>/model.msgpack     the Classifier (featurizer + weights), versioned envelope
//! models/<run>/card.json         what it was trained on and how well it did (ModelCard)
//! models/<run>/evaluation.json   the held-out evaluation
//! models/<run>/evaluation.md     the same, for people
//! models/latest.json             the model predictions use by default
//! ```
//!
//! `latest` moves only through the [quality gate](QualityGate): a model below the minimum
//! macro-F1, or clearly worse than the current latest, is kept and marked rejected with the
//! reason, so nobody loses the evidence and nothing bad reaches production silently.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use ticketflow_connectors::store::{Store, StoreError};
use ticketflow_ml::classify::{Classifier, Evaluation, TrainConfig, TrainReport};

/// Identifies the embedding model the classifier's features came from; a classifier is only
/// valid on vectors of the same model.
pub const EMBEDDING_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

pub fn model_key(run_id: &str) -> String {
    format!("models/{run_id}/model.msgpack")
}
pub fn card_key(run_id: &str) -> String {
    format!("models/{run_id}/card.json")
}
pub fn evaluation_key(run_id: &str) -> String {
    format!("models/{run_id}/evaluation.json")
}
pub fn evaluation_md_key(run_id: &str) -> String {
    format!("models/{run_id}/evaluation.md")
}
pub const LATEST_KEY: &str = "models/latest.json";
/// The run drift is measured against, when an operator chose one.
pub const REFERENCE_KEY: &str = "models/reference.json";

/// `models/reference.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub run_id: String,
    pub set_at_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no model has passed the quality gate yet (models/latest.json is missing): train on a labelled run first"
    )]
    NoLatest,
    #[error("model {run_id} not found in the registry")]
    NotFound { run_id: String },
    #[error("model {key} is unreadable: {detail}")]
    Corrupt { key: String, detail: String },
}

impl RegistryError {
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Store(e) if e.is_transient())
    }
}

/// Minimum quality for a model to become `latest`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct QualityGate {
    /// Absolute floor on held-out macro-F1.
    pub min_macro_f1: f64,
    /// A new model may be at most this much worse (macro-F1) than the current latest.
    pub tolerance: f64,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            min_macro_f1: 0.6,
            tolerance: 0.02,
        }
    }
}

/// The gate's decision, kept in the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum GateVerdict {
    Promoted { previous: Option<String> },
    Rejected { reason: String },
}

impl QualityGate {
    /// Decides whether a model with `macro_f1` replaces `current` (the latest pointer).
    pub fn judge(&self, macro_f1: f64, current: Option<&Latest>) -> GateVerdict {
        if macro_f1 < self.min_macro_f1 {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {macro_f1:.4} is below the minimum {:.4}",
                    self.min_macro_f1
                ),
            };
        }
        if let Some(cur) = current
            && macro_f1 < cur.macro_f1 - self.tolerance
        {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {macro_f1:.4} is worse than the current latest ({} at {:.4}) by more than {:.4}",
                    cur.run_id, cur.macro_f1, self.tolerance
                ),
            };
        }
        GateVerdict::Promoted {
            previous: current.map(|c| c.run_id.clone()),
        }
    }
}

/// `models/latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    pub run_id: String,
    pub macro_f1: f64,
    pub promoted_at_ms: u64,
}

/// What a model is, where it came from and how good it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub run_id: String,
    pub trained_at_ms: u64,
    /// BLAKE3 of the training run's input file.
    pub data_digest: String,
    pub input: String,
    pub rows_total: usize,
    pub rows_train: usize,
    pub rows_test: usize,
    pub classes: Vec<String>,
    pub class_counts: Vec<(String, usize)>,
    pub embedding_model: String,
    pub embed_input: String,
    pub feature_set: String,
    pub model: String,
    pub train_config: TrainConfig,
    pub cross_validation: serde_json::Value,
    pub holdout: HoldoutSummary,
    pub gate: QualityGate,
    pub verdict: GateVerdict,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldoutSummary {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_precision: f64,
    pub weighted_f1: f64,
    pub expected_calibration_error: f64,
}

impl HoldoutSummary {
    pub fn of(e: &Evaluation) -> Self {
        Self {
            accuracy: e.accuracy,
            macro_f1: e.macro_avg.f1,
            weighted_precision: e.weighted_avg.precision,
            weighted_f1: e.weighted_avg.f1,
            expected_calibration_error: e.expected_calibration_error,
        }
    }
}

/// The registry over a store.
#[derive(Clone)]
pub struct Registry {
    store: Store,
}

/// What [`Registry::register`] needs besides the model.
pub struct Registration<'a> {
    pub run_id: &'a str,
    pub input: &'a str,
    pub data_digest: &'a str,
    pub embed_input: &'a str,
    pub labels: &'a [String],
    pub config: &'a TrainConfig,
    pub report: &'a TrainReport,
    pub now_ms: u64,
}

impl Registry {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn latest(&self) -> Result<Option<Latest>, RegistryError> {
        match self.store.get(LATEST_KEY).await {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| RegistryError::Corrupt {
                        key: LATEST_KEY.into(),
                        detail: e.to_string(),
                    })
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the model, its card and evaluation, runs the gate and moves `latest` if it
    /// passes. Idempotent for a run: registering again rewrites the same keys.
    pub async fn register(
        &self,
        classifier: &Classifier,
        reg: Registration<'_>,
        gate: QualityGate,
    ) -> Result<ModelCard, RegistryError> {
        let run_id = reg.run_id;
        let current = self.latest().await?;
        // A re-registration of the current latest is judged against its predecessor, not itself.
        let current = current.filter(|c| c.run_id != run_id);
        let holdout = &reg.report.holdout;
        let verdict = gate.judge(holdout.macro_avg.f1, current.as_ref());
        let mut class_counts: Vec<(String, usize)> = classifier
            .classes
            .iter()
            .map(|c| (c.clone(), reg.labels.iter().filter(|l| *l == c).count()))
            .collect();
        class_counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let card = ModelCard {
            run_id: run_id.to_string(),
            trained_at_ms: reg.now_ms,
            data_digest: reg.data_digest.to_string(),
            input: reg.input.to_string(),
            rows_total: reg.labels.len(),
            rows_train: reg.report.train_rows,
            rows_test: reg.report.test_rows,
            classes: classifier.classes.clone(),
            class_counts,
            embedding_model: EMBEDDING_MODEL_ID.to_string(),
            embed_input: reg.embed_input.to_string(),
            feature_set: classifier.features.name(),
            model: format!("{:?}", classifier.kind),
            train_config: reg.config.clone(),
            cross_validation: serde_json::to_value(&reg.report.cv).unwrap_or_default(),
            holdout: HoldoutSummary::of(holdout),
            gate,
            verdict: verdict.clone(),
        };
        let model_bytes =
            rmp_serde::to_vec_named(classifier).map_err(|e| RegistryError::Corrupt {
                key: model_key(run_id),
                detail: e.to_string(),
            })?;
        self.store
            .put(&model_key(run_id), Bytes::from(model_bytes))
            .await?;
        self.store
            .put(&evaluation_key(run_id), Bytes::from(pretty(holdout)))
            .await?;
        self.store
            .put(
                &evaluation_md_key(run_id),
                Bytes::from(holdout.to_markdown().into_bytes()),
            )
            .await?;
        self.store
            .put(&card_key(run_id), Bytes::from(pretty(&card)))
            .await?;
        if let GateVerdict::Promoted { .. } = verdict {
            let latest = Latest {
                run_id: run_id.to_string(),
                macro_f1: holdout.macro_avg.f1,
                promoted_at_ms: reg.now_ms,
            };
            self.store
                .put(LATEST_KEY, Bytes::from(pretty(&latest)))
                .await?;
        }
        Ok(card)
    }

    /// Loads a model: `latest` or a run id.
    pub async fn load(&self, which: &str) -> Result<(String, Classifier), RegistryError> {
        let run_id = if which == "latest" {
            self.latest().await?.ok_or(RegistryError::NoLatest)?.run_id
        } else {
            which.to_string()
        };
        let key = model_key(&run_id);
        let bytes = match self.store.get(&key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(RegistryError::NotFound { run_id }),
            Err(e) => return Err(e.into()),
        };
        let model = rmp_serde::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            key,
            detail: e.to_string(),
        })?;
        Ok((run_id, model))
    }

    /// Marks `run_id` as the drift reference (`ticketflow runs set-reference`).
    pub async fn set_reference(&self, run_id: &str, now_ms: u64) -> Result<(), RegistryError> {
        let r = Reference {
            run_id: run_id.to_string(),
            set_at_ms: now_ms,
        };
        self.store
            .put(REFERENCE_KEY, Bytes::from(pretty(&r)))
            .await?;
        Ok(())
    }

    /// The drift reference: the run an operator set, else the run that produced `latest`.
    pub async fn reference(&self) -> Result<Option<String>, RegistryError> {
        match self.store.get(REFERENCE_KEY).await {
            Ok(bytes) => {
                let r: Reference =
                    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                        key: REFERENCE_KEY.into(),
                        detail: e.to_string(),
                    })?;
                Ok(Some(r.run_id))
            }
            Err(e) if e.is_not_found() => Ok(self.latest().await?.map(|l| l.run_id)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn card(&self, run_id: &str) -> Result<ModelCard, RegistryError> {
        let key = card_key(run_id);
        let bytes = match self.store.get(&key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(RegistryError::NotFound {
                    run_id: run_id.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            key,
            detail: e.to_string(),
        })
    }
}

/// Pretty JSON. Our own types always serialise; should one ever fail, the stored file says so
/// instead of the worker panicking.
fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(f1: f64) -> Latest {
        Latest {
            run_id: "old".into(),
            macro_f1: f1,
            promoted_at_ms: 1,
        }
    }

    #[test]
    fn gate_keeps_latest_on_a_worse_model_and_moves_it_on_a_better_one() {
        let gate = QualityGate {
            min_macro_f1: 0.5,
            tolerance: 0.02,
        };
        assert_eq!(
            gate.judge(0.70, None),
            GateVerdict::Promoted { previous: None }
        );
        assert_eq!(
            gate.judge(0.75, Some(&latest(0.70))),
            GateVerdict::Promoted {
                previous: Some("old".into())
            }
        );
        // Within tolerance still promotes (noise between runs is not a regression).
        assert!(matches!(
            gate.judge(0.69, Some(&latest(0.70))),
            GateVerdict::Promoted { .. }
        ));
        match gate.judge(0.60, Some(&latest(0.70))) {
            GateVerdict::Rejected { reason } => assert!(reason.contains("worse than"), "{reason}"),
            other => panic!("expected rejection, got {other:?}"),
        }
        match gate.judge(0.40, None) {
            GateVerdict::Rejected { reason } => assert!(reason.contains("below the minimum")),
            other => panic!("expected rejection, got {other:?}"),
        }
    }
}
