//! What a model is and how good it is ([`ModelCard`]), and the data set's pointer files:
//! `latest.json` ([`Latest`]), `reference.json` ([`Reference`]) and `routing.json`
//! ([`RoutingState`]).

use serde::{Deserialize, Serialize};
use ticketflow_analytics::classify::{Evaluation, RoutingReport, SplitRule, TrainConfig};
use ticketflow_analytics::sample::SampleInfo;
use ticketflow_schemas::Dataset;

use super::gate::{ChampionComparison, GateVerdict, Lineage, QualityGate};

/// Identifies the embedding model the classifier's features came from; a classifier is only
/// valid on vectors of the same model.
pub const EMBEDDING_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// `models/reference.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub run_id: String,
    pub set_at_ms: u64,
}

/// `models/latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    /// The model's id (its folder under `models/`): the training run's id, or the id given to
    /// `ticketflow train --model-id` for a retrain.
    pub run_id: String,
    /// The run the model was trained on, when it differs from `run_id` (a retrain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run: Option<String>,
    pub macro_f1: f64,
    pub promoted_at_ms: u64,
    #[serde(default)]
    pub dataset: Dataset,
}

/// What a model is, where it came from and how good it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// The model's id (its folder under `models/`).
    pub run_id: String,
    /// The run whose tickets it was trained on (the same as `run_id` unless retrained by hand).
    #[serde(default)]
    pub training_run: String,
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
    /// `fp32` or `int8`: the precision of the vectors it was trained on.
    #[serde(default = "fp32")]
    pub embedding_precision: String,
    pub embed_input: String,
    /// The data set whose `latest` it may become.
    #[serde(default)]
    pub dataset: Dataset,
    pub feature_set: String,
    pub model: String,
    pub train_config: TrainConfig,
    pub cross_validation: serde_json::Value,
    pub holdout: HoldoutSummary,
    pub gate: QualityGate,
    pub verdict: GateVerdict,
    /// The challenger against the previous `latest` on the same rows; `None` for the first
    /// model of a data set.
    #[serde(default)]
    pub champion: Option<ChampionComparison>,
    /// The auto-routing threshold and its coverage and precision (out-of-fold and held-out).
    #[serde(default)]
    pub routing: Option<RoutingReport>,
    /// Set when the run had more labelled tickets than the trainer's `--train-max-rows`: the
    /// model was trained and evaluated on this seeded sample, stratified by type, and
    /// `rows_total` counts the sample.
    #[serde(default)]
    pub sample: Option<SampleInfo>,
    /// How tickets were split into trained on and held out; `None` on models trained with a
    /// seeded split by position (before roles were stable across runs).
    #[serde(default)]
    pub split: Option<SplitRule>,
    /// The tickets the model was fitted on, stored beside it; `None` on older models.
    #[serde(default)]
    pub trained_on: Option<TrainedOn>,
}

/// Where a model's training ids are and what they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedOn {
    pub tickets: usize,
    /// BLAKE3 of `trained_ids.bin`.
    pub digest: String,
    /// Store key of `trained_ids.bin`.
    pub key: String,
}

/// `datasets/<dataset>/routing.json`: whether automatic routing is suspended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingState {
    pub suspended: bool,
    /// Why it was suspended or resumed.
    pub reason: String,
    /// The run whose drift suspended it, or the model whose promotion resumed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `drift`, `operator` or `promotion`.
    pub by: String,
    pub changed_at_ms: u64,
}

impl RoutingState {
    /// The reason as predictions show it: `<reason> (run <id>)`.
    pub fn suspension(&self) -> Option<String> {
        self.suspended.then(|| match &self.run_id {
            Some(run) => format!("{} (run {run})", self.reason),
            None => self.reason.clone(),
        })
    }
}

fn fp32() -> String {
    "fp32".into()
}

impl ModelCard {
    /// What must match for this model to be compared with another row for row.
    pub fn lineage(&self) -> Lineage<'_> {
        Lineage {
            embedding_model: &self.embedding_model,
            embedding_precision: &self.embedding_precision,
            embed_input: &self.embed_input,
            classes: &self.classes,
        }
    }
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
