//! What a finished run's `result.json` holds: the run, its model or predictions, its drift
//! verdict. Built by the trainer, printed by `ticketflow run --wait` and `runs show`, pushed as
//! metrics by [`crate::run::metrics`].

use serde::Serialize;
use ticketflow_analytics::classify::{ClassMetrics, Predictions, RoutingReport};
use ticketflow_schemas::{ReuseCounts, RunManifest, RunProgress, Stage};

use crate::registry::{ChampionComparison, GateVerdict};
use ticketflow_schemas::now_ms;

/// What `result.json` holds for a run.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    /// The data set the run belongs to (its `latest`, reference and routing state).
    pub dataset: String,
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
    pub test: ticketflow_analytics::drift::StatTest,
    pub statistic: f64,
    pub drifted: bool,
}

impl DriftSummary {
    /// The verdicts of a drift report against `reference`, with where the report was stored.
    pub fn of_report(
        report: &ticketflow_analytics::drift::DriftReport,
        reference: &str,
        report_html: Option<String>,
        report_json: Option<String>,
    ) -> Self {
        Self {
            error: None,
            note: None,
            reference: Some(reference.to_string()),
            dataset_drift: report.dataset.drifted,
            drift_share: report.dataset.share,
            drifted_columns: report
                .columns
                .iter()
                .filter(|c| c.drifted)
                .map(|c| c.column.clone())
                .collect(),
            columns: report
                .columns
                .iter()
                .map(|c| ColumnVerdict {
                    column: c.column.clone(),
                    test: c.test,
                    statistic: c.statistic,
                    drifted: c.drifted,
                })
                .collect(),
            embedding_auc: report.embedding.as_ref().map(|e| e.domain_classifier_auc),
            embedding_drift: report.embedding.as_ref().is_some_and(|e| e.drifted),
            prediction_drift: report.prediction.as_ref().is_some_and(|p| p.drifted),
            report_html,
            report_json,
        }
    }

    /// Why automatic routing must stop for this batch: dataset or embedding drift against the
    /// reference, in words; `None` when neither fired (or the check failed).
    pub fn suspension_reason(&self) -> Option<String> {
        if self.error.is_some() || !(self.dataset_drift || self.embedding_drift) {
            return None;
        }
        let mut what = Vec::new();
        if self.dataset_drift {
            what.push(format!(
                "dataset drift ({:.0} % of columns: {})",
                self.drift_share * 100.0,
                self.drifted_columns.join(", ")
            ));
        }
        if self.embedding_drift {
            what.push(format!(
                "embedding drift (AUC {:.2})",
                self.embedding_auc.unwrap_or(f64::NAN)
            ));
        }
        Some(format!(
            "{} against reference {}",
            what.join(" and "),
            self.reference.as_deref().unwrap_or("?")
        ))
    }

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

/// Production's auto-routing on a run: the threshold and what it routed, counted only on
/// tickets production never trained on (a cumulative export repeats its training tickets, on
/// which it is over-confident and right by memory).
#[derive(Debug, Serialize)]
pub struct RoutingSummary {
    pub threshold: Option<f32>,
    pub target_precision: Option<f64>,
    /// Tickets the figures stand on: those production did not train on.
    pub tickets: usize,
    /// Tickets left out because production trained on them.
    pub excluded_trained: usize,
    /// Share of `tickets` routed automatically.
    pub coverage: f64,
    pub routed: usize,
    /// Tickets held back as unlike production's training data (language, distance).
    pub held: usize,
    /// Why routing was suspended for the run (drift, an operator); `None` when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<String>,
    /// Labelled runs: the share of routed tickets whose type is right, and on how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labelled_routed: Option<usize>,
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
    pub sample: Option<ticketflow_analytics::sample::SampleInfo>,
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
    /// A model's routing over the tickets it predicted: `trained[i]` says whether the model
    /// trained on ticket `i` (left out), `labels[i]` its type when known (empty: unlabelled).
    pub fn of(predictions: &Predictions, trained: &[bool], labels: &[Option<String>]) -> Self {
        let (mut tickets, mut routed, mut held) = (0usize, 0usize, 0usize);
        let (mut labelled_routed, mut right) = (0usize, 0usize);
        for i in 0..predictions.probs.len() {
            if trained.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(row) = predictions.row(i) else {
                continue;
            };
            tickets += 1;
            if matches!(
                row.reason,
                ticketflow_analytics::classify::predictions::AutoReason::Held(_)
            ) {
                held += 1;
            }
            if !row.auto {
                continue;
            }
            routed += 1;
            if let Some(Some(label)) = labels.get(i) {
                labelled_routed += 1;
                right += usize::from(label == row.class);
            }
        }
        let predicted = (0..predictions.probs.len())
            .filter(|&i| predictions.probs[i].is_some())
            .count();
        RoutingSummary {
            threshold: predictions.threshold,
            target_precision: predictions.target_precision,
            tickets,
            excluded_trained: predicted - tickets,
            coverage: routed as f64 / tickets.max(1) as f64,
            routed,
            held,
            suspended: predictions.suspended.clone(),
            precision: (labelled_routed > 0).then(|| right as f64 / labelled_routed as f64),
            labelled_routed: (labelled_routed > 0).then_some(labelled_routed),
        }
    }
}

pub fn summarise(manifest: &RunManifest, p: &RunProgress) -> RunSummary {
    let secs = |ms: u64| ms as f64 / 1000.0;
    RunSummary {
        run_id: manifest.run_id.clone(),
        dataset: manifest.dataset().as_str().to_string(),
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
