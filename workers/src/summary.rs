//! What a finished run's `result.json` holds: the run, its model or predictions, its drift
//! verdict. Built by the trainer, printed by `ticketflow run --wait` and `runs show`, pushed as
//! metrics by [`crate::run_metrics`].

use serde::Serialize;
use ticketflow_ml::classify::{ClassMetrics, Predictions, RoutingReport};
use ticketflow_schemas::{ReuseCounts, RunManifest, RunProgress, Stage};

use crate::now_ms;
use crate::registry::{ChampionComparison, GateVerdict};

/// What `result.json` holds for a run.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub input: String,
    pub status: String,
    pub tickets_accepted: u64,
    pub tickets_quarantined: u64,
    pub tickets_indexed: u64,
    /// Vectors reused by content and embedded; Chroma records written and left unchanged.
    pub reuse: ReuseCounts,
    pub shard_count: u32,
    pub dead_shards: Vec<DeadShardSummary>,
    pub busy_seconds: BusySeconds,
    pub wall_seconds: f64,
    /// Training outcome (labelled runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
    /// Prediction outcome (inference runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<PredictionSummary>,
    /// Drift against the reference run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSummary>,
    /// What production (the data set's `latest` before the run) routed automatically on this
    /// run, labelled or not; `None` when the data set had no model yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_routing: Option<RoutingSummary>,
    /// Store key of the exploratory profile (`profile.html`; `profile.json` beside it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_html: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DriftSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set when the data set had no reference run yet: nothing was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub reference: Option<String>,
    pub dataset_drift: bool,
    pub drift_share: f64,
    pub drifted_columns: Vec<String>,
    /// Every column tested, with its verdict (for the per-column drift metric).
    pub columns: Vec<ColumnVerdict>,
    pub embedding_auc: Option<f64>,
    pub embedding_drift: bool,
    pub prediction_drift: bool,
    pub report_html: Option<String>,
    pub report_json: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ColumnVerdict {
    pub column: String,
    pub test: ticketflow_ml::drift::StatTest,
    pub statistic: f64,
    pub drifted: bool,
}

impl DriftSummary {
    pub fn failed(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::no_reference()
        }
    }

    /// The first run of a data set: there is nothing to compare it with yet.
    pub fn no_reference() -> Self {
        Self {
            error: None,
            note: Some(
                "no reference yet: the first model this data set promotes makes its run the reference"
                    .into(),
            ),
            reference: None,
            dataset_drift: false,
            drift_share: 0.0,
            drifted_columns: vec![],
            columns: vec![],
            embedding_auc: None,
            embedding_drift: false,
            prediction_drift: false,
            report_html: None,
            report_json: None,
        }
    }
}

/// Auto-routing in a run summary: the threshold and, for inference runs, what it routed.
#[derive(Debug, Serialize)]
pub struct RoutingSummary {
    pub threshold: Option<f32>,
    pub target_precision: Option<f64>,
    /// Share of the run's tickets routed automatically.
    pub coverage: f64,
    pub routed: usize,
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

#[derive(Debug, Serialize)]
pub struct ModelSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted_precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<GateVerdict>,
    /// The new model against the previous `latest` on the same rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub champion: Option<ChampionComparison>,
    /// The auto-routing threshold with its out-of-fold and held-out coverage and precision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingReport>,
    /// Held-out precision, recall and F1 per class.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_class: Vec<ClassMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Set when the model was trained on a sample of the run's labelled tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<ticketflow_ml::sample::SampleInfo>,
}

#[derive(Debug, Serialize)]
pub struct PredictionSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_run: Option<String>,
    pub predicted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub counts: Vec<(String, usize)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingSummary>,
}

impl ModelSummary {
    pub fn failed(error: String) -> Self {
        Self {
            error: Some(error),
            model: None,
            features: None,
            accuracy: None,
            macro_f1: None,
            weighted_precision: None,
            verdict: None,
            champion: None,
            routing: None,
            per_class: Vec::new(),
            card: None,
            sample: None,
        }
    }
}

impl RoutingSummary {
    /// Coverage of a model's routing over the tickets it predicted.
    pub fn of(predictions: &Predictions) -> Self {
        let routed = predictions.routed();
        RoutingSummary {
            threshold: predictions.threshold,
            target_precision: predictions.target_precision,
            coverage: routed as f64 / predictions.probs.len().max(1) as f64,
            routed,
        }
    }
}

pub fn summarise(manifest: &RunManifest, p: &RunProgress) -> RunSummary {
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
        reuse: p.reuse,
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
            cleaner: secs(p.busy_ms_of(Stage::Cleaner)),
            embedder: secs(p.busy_ms_of(Stage::Embedder)),
            indexer: secs(p.busy_ms_of(Stage::Indexer)),
        },
        wall_seconds: secs(
            p.completed_at_ms
                .unwrap_or_else(now_ms)
                .saturating_sub(p.started_at_ms),
        ),
        model: None,
        predictions: None,
        drift: None,
        production_routing: None,
        profile_html: None,
    }
}
