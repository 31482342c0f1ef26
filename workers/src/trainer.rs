//! Trainer: runs once per completed run.
//!
//! - **Labelled run** (tickets carry `type`): trains and evaluates the ticket-type classifier on
//!   the run's embeddings and cleaned tokens, registers the model with its card and evaluation,
//!   and moves `models/latest.json` if the quality gate passes.
//! - **Inference run** (no labels): classifies every ticket with the `latest` model, writes
//!   `runs/<run>/predictions.csv` and sets `predicted_type` in Chroma.
//!
//! Either way it records the run's summary as `runs/<run>/result.json`. It is idempotent: a
//! redelivered `runs.completed` for a run already trained is acknowledged without new work. A
//! training failure (say, too few labelled rows) is recorded in the result rather than retried,
//! because retrying cannot add rows.

use std::io::Write;

use bytes::Bytes;
use serde::Serialize;
use ticketflow_connectors::chroma::ChromaClient;
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_ml::classify::routing::precision_coverage_curve;
use ticketflow_ml::classify::{
    ClassMetrics, Classifier, Example, RoutingReport, TrainConfig, argmax, train_and_select,
};
use ticketflow_ml::drift::compare::compare;
use ticketflow_ml::drift::features::{
    FeatureRow, RowPrediction, feature_row, read_csv_bytes as read_feature_csv,
    write_csv as write_feature_csv,
};
use ticketflow_ml::drift::html::render_drift_report;
use ticketflow_ml::drift::{DriftOptions, EmbeddingDriftOptions, embedding_drift};
use ticketflow_schemas::{
    CleanShardFile, CleanTicket, RunCompleted, RunManifest, RunProgress, Stage,
};

use crate::now_ms;
use crate::registry::{
    Champion, ChampionComparison, EMBEDDING_MODEL_ID, GateVerdict, Lineage, QualityGate,
    Registration, Registry, RegistryError,
};
use crate::run_metrics::{TRAINER_JOB, run_metrics};
use crate::run_profile::write_run_profile;
use crate::stage_loop::{Processed, StageError, StageWorker};
use crate::{store_error, tensors};

pub struct Trainer {
    pub store: Store,
    pub bus: Bus,
    /// For inference runs: where `predicted_type` is written.
    pub chroma: Option<ChromaClient>,
    pub train: TrainConfig,
    pub gate: QualityGate,
    /// The model directory, for the profile's token counts (its `tokenizer.json`).
    pub model_dir: Option<std::path::PathBuf>,
    /// Where each run's metrics are pushed; `None` = no push.
    pub pushgateway: Option<ticketflow_telemetry::Pushgateway>,
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
    fn failed(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::no_reference()
        }
    }

    /// The first run of a data set: there is nothing to compare it with yet.
    fn no_reference() -> Self {
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
            .await
            .map_err(store_error)?;
        let npy = store
            .get(&keys::embeddings(&manifest.run_id, shard))
            .await
            .map_err(store_error)?;
        let file: CleanShardFile = ticketflow_schemas::decode(&clean)
            .map_err(|e| StageError::Permanent(format!("shard {shard}: {e}")))?;
        let vectors = tensors::from_npy(&npy).map_err(StageError::Permanent)?;
        if vectors.nrows() != file.tickets.len() {
            return Err(StageError::Permanent(format!(
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

/// The classifier's view of a cleaned ticket. Its text is what the embedder saw (the normalised
/// ticket by default), as `ticketflow predict` gives it, so lexical features are built the same
/// way at training and at prediction time.
pub fn example(t: &CleanTicket, embedding: Vec<f32>) -> Example {
    Example {
        embedding,
        text: t.text.clone(),
        tokens: t.tokens.clone(),
        queue: t.queue.clone(),
        priority: t.priority.clone(),
        language: t.language.clone(),
    }
}

/// A model's class probabilities for every ticket of a run, with the model's classes: what
/// production predicted, or the run's own out-of-fold predictions.
pub struct Predictions {
    pub model_run: String,
    pub classes: Vec<String>,
    /// One entry per ticket; `None` for a ticket the model did not predict (an unlabelled
    /// ticket in a labelled run has no out-of-fold prediction).
    pub probs: Vec<Option<Vec<f32>>>,
    /// The routing threshold of the model, if it has one, and the precision it was chosen for.
    pub threshold: Option<f32>,
    pub target_precision: Option<f64>,
}

impl Predictions {
    /// `classifier` (run `model_run`) on every example.
    pub fn of(classifier: &Classifier, model_run: &str, examples: &[Example]) -> Self {
        Predictions {
            model_run: model_run.to_string(),
            classes: classifier.classes.clone(),
            probs: classifier
                .predict_proba_batch(examples)
                .into_iter()
                .map(Some)
                .collect(),
            threshold: classifier.routing.as_ref().and_then(|r| r.threshold),
            target_precision: classifier.routing.as_ref().map(|r| r.target_precision),
        }
    }

    /// Ticket `i`'s top class, its probability and whether it is routed automatically.
    pub fn row(&self, i: usize) -> Option<RowPrediction<'_>> {
        let p = self.probs.get(i)?.as_ref()?;
        let (best, probability) = argmax(p);
        Some(RowPrediction {
            class: self.classes.get(best)?.as_str(),
            probability,
            auto: self.threshold.is_some_and(|t| probability >= t),
        })
    }

    /// Coverage of the model's routing over these tickets.
    pub fn routing_summary(&self) -> RoutingSummary {
        let routed = self.routed();
        RoutingSummary {
            threshold: self.threshold,
            target_precision: self.target_precision,
            coverage: routed as f64 / self.probs.len().max(1) as f64,
            routed,
        }
    }

    /// Tickets routed automatically.
    pub fn routed(&self) -> usize {
        (0..self.probs.len())
            .filter(|&i| self.row(i).is_some_and(|r| r.auto))
            .count()
    }
}

/// The run's embedding precision for the model card: `fp32` or `int8`, `mixed(…)` when shards
/// were embedded at several precisions, `fp32` for runs recorded before precision was.
pub fn run_precision(progress: &RunProgress) -> String {
    match progress.embedding_precisions.len() {
        0 => "fp32".to_string(),
        1 => progress
            .embedding_precisions
            .iter()
            .next()
            .cloned()
            .unwrap_or_default(),
        _ => format!(
            "mixed({})",
            progress
                .embedding_precisions
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("+")
        ),
    }
}

fn registry_error(e: RegistryError) -> StageError {
    if e.is_transient() {
        StageError::Transient(e.to_string())
    } else {
        StageError::Permanent(e.to_string())
    }
}

/// The data set's `latest` before this run, to predict with and to compare a new model with. A
/// missing or unreadable model is logged and treated as none (the run still gets its own
/// results); an outage of the store is retried.
pub async fn load_champion(
    store: &Store,
    dataset: &ticketflow_schemas::Dataset,
) -> Result<Option<Champion>, StageError> {
    match Registry::new(store.clone()).champion(dataset).await {
        Ok(found) => Ok(found),
        Err(e) if e.is_transient() => Err(registry_error(e)),
        Err(e) => {
            tracing::warn!(%dataset, error = %e, "the data set's latest model is unusable; continuing without it");
            Ok(None)
        }
    }
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
        let tickets = load_run_tickets(&self.store, &manifest, &progress).await?;
        let mut summary = summarise(&manifest, &progress);
        let dataset = manifest.dataset();
        // Both resolved before training: a model this run promotes must neither judge its own
        // run's predictions nor make the run its own reference.
        let champion = load_champion(&self.store, &dataset).await?;
        let reference = Registry::new(self.store.clone())
            .reference(&dataset)
            .await
            .map_err(registry_error)?
            .filter(|r| r != run_id);
        let examples: Vec<Example> = tickets.iter().map(|(t, v)| example(t, v.clone())).collect();
        // What production predicted: the `latest` model from before this run.
        let production = champion
            .as_ref()
            .map(|c| Predictions::of(&c.classifier, &c.run_id, &examples));
        summary.production_routing = production.as_ref().map(|p| p.routing_summary());
        let mut out_of_fold = None;
        if manifest.labelled {
            let outcome = train_run(
                &self.store,
                run_id,
                &manifest,
                &progress,
                &tickets,
                &self.train,
                self.gate,
                champion.as_ref(),
            )
            .await?;
            summary.model = Some(outcome.summary);
            out_of_fold = outcome.out_of_fold;
        } else {
            summary.predictions = Some(
                self.publish_predictions(&manifest, &tickets, production.as_ref())
                    .await?,
            );
        }
        let features = feature_table(&tickets, production.as_ref(), out_of_fold.as_ref());
        let mut csv = Vec::new();
        write_feature_csv(&mut csv, &features)
            .map_err(|e| StageError::Permanent(format!("feature table: {e}")))?;
        self.store
            .put(&keys::features(run_id), Bytes::from(csv))
            .await
            .map_err(store_error)?;
        summary.drift = Some(match &reference {
            None => {
                tracing::info!(run_id, %dataset, "no drift reference yet for this data set");
                DriftSummary::no_reference()
            }
            Some(reference) => match self.drift(&manifest, reference, &tickets, &features).await {
                Ok(d) => d,
                Err(StageError::Transient(e)) => return Err(StageError::Transient(e)),
                Err(StageError::Permanent(e)) => {
                    tracing::error!(run_id, error = %e, "drift report failed");
                    DriftSummary::failed(e)
                }
            },
        });
        match write_run_profile(&self.store, &manifest, &progress, self.model_dir.clone()).await {
            Ok(_) => summary.profile_html = Some(keys::profile(run_id, "html")),
            Err(StageError::Transient(e)) => return Err(StageError::Transient(e)),
            Err(StageError::Permanent(e)) => {
                tracing::error!(run_id, error = %e, "profile failed");
            }
        }
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
        if let Some(gateway) = &self.pushgateway {
            let metrics = run_metrics(&summary, now_ms() as f64 / 1000.0);
            // The run's results are safe in the store; a failed push costs only the dashboards.
            if let Err(e) = gateway.push(TRAINER_JOB, &metrics).await {
                tracing::warn!(run_id, error = %e, "pushing run metrics failed");
            }
        }
        Ok(Processed {
            tickets: u32::try_from(progress.tickets_indexed).unwrap_or(u32::MAX),
            downstream: None,
        })
    }
}

/// What [`train_run`] made of a labelled run.
pub struct TrainOutcome {
    pub summary: ModelSummary,
    pub classifier: Option<Classifier>,
    /// The new model's out-of-fold predictions, one per ticket of the run (unlabelled tickets
    /// have none); `None` when training failed.
    pub out_of_fold: Option<Predictions>,
}

/// Trains, evaluates and registers a classifier on a run's labelled tickets as model `model_id`
/// (the run id for the trainer's own model), comparing it with `champion` (the data set's
/// `latest` before the run) on the same rows. Shared by the trainer worker and `ticketflow
/// train`.
#[allow(clippy::too_many_arguments)]
pub async fn train_run(
    store: &Store,
    model_id: &str,
    manifest: &RunManifest,
    progress: &RunProgress,
    tickets: &[(CleanTicket, Vec<f32>)],
    train: &TrainConfig,
    gate: QualityGate,
    champion: Option<&Champion>,
) -> Result<TrainOutcome, StageError> {
    // Which ticket each labelled example is, to hand out-of-fold predictions back to tickets.
    let mut ticket_of = Vec::with_capacity(tickets.len());
    let mut examples = Vec::with_capacity(tickets.len());
    let mut labels = Vec::with_capacity(tickets.len());
    for (i, (t, v)) in tickets.iter().enumerate() {
        if let Some(label) = &t.ticket_type {
            ticket_of.push(i);
            examples.push(example(t, v.clone()));
            labels.push(label.clone());
        }
    }
    let config = train.clone();
    let trained = tokio::task::spawn_blocking(move || {
        let result = train_and_select(&examples, &labels, &config);
        (result, examples, labels, config)
    })
    .await
    .map_err(|e| StageError::Transient(format!("training task: {e}")))?;
    let (result, examples, labels, config) = trained;
    let (classifier, report) = match result {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!(run_id = %manifest.run_id, error = %e, "training failed");
            return Ok(TrainOutcome {
                summary: ModelSummary::failed(e.to_string()),
                classifier: None,
                out_of_fold: None,
            });
        }
    };
    let precision = run_precision(progress);
    let lineage = Lineage {
        embedding_model: EMBEDDING_MODEL_ID,
        embedding_precision: &precision,
        embed_input: &manifest.embed_input,
        classes: &classifier.classes,
    };
    // A model is never compared with itself (a re-registration of the same model id).
    let comparison = champion
        .filter(|c| c.run_id != model_id)
        .map(|c| c.compare(&lineage, &report, &examples, &labels));
    let train_truth: Vec<usize> = report
        .split
        .train
        .iter()
        .map(|&r| {
            classifier
                .classes
                .iter()
                .position(|c| *c == labels[r])
                .unwrap_or(0)
        })
        .collect();
    let train_probs: Vec<Vec<f32>> = report
        .split
        .train
        .iter()
        .map(|&r| report.out_of_fold[r].clone())
        .collect();
    let curve = precision_coverage_curve(&train_probs, &train_truth);
    let dataset = manifest.dataset();
    let card = Registry::new(store.clone())
        .register(
            &classifier,
            Registration {
                run_id: &manifest.run_id,
                model_id,
                dataset: &dataset,
                input: &manifest.input,
                data_digest: &manifest.input_digest,
                embed_input: &manifest.embed_input,
                embedding_precision: &precision,
                labels: &labels,
                config: &config,
                report: &report,
                champion: comparison,
                curve: &curve,
                now_ms: now_ms(),
            },
            gate,
        )
        .await
        .map_err(registry_error)?;
    tracing::info!(
        run_id = %manifest.run_id,
        macro_f1 = card.holdout.macro_f1,
        verdict = ?card.verdict,
        "model trained"
    );
    let mut oof_probs = vec![None; tickets.len()];
    for (example_row, probs) in report.out_of_fold.iter().enumerate() {
        if let Some(&ticket) = ticket_of.get(example_row) {
            oof_probs[ticket] = Some(probs.clone());
        }
    }
    let out_of_fold = Predictions {
        model_run: manifest.run_id.clone(),
        classes: classifier.classes.clone(),
        probs: oof_probs,
        threshold: report.routing.threshold,
        target_precision: Some(report.routing.target_precision),
    };
    let summary = ModelSummary {
        error: None,
        model: Some(card.model.clone()),
        features: Some(card.feature_set.clone()),
        accuracy: Some(card.holdout.accuracy),
        macro_f1: Some(card.holdout.macro_f1),
        weighted_precision: Some(card.holdout.weighted_precision),
        verdict: Some(card.verdict.clone()),
        champion: card.champion.clone(),
        routing: Some(report.routing.clone()),
        per_class: report.holdout.per_class.clone(),
        card: Some(keys::model_card(model_id)),
    };
    Ok(TrainOutcome {
        summary,
        classifier: Some(classifier),
        out_of_fold: Some(out_of_fold),
    })
}

/// The run's per-ticket feature table (see [`ticketflow_ml::drift::features`]): production's
/// predictions and the run's own out-of-fold ones, side by side.
pub fn feature_table(
    tickets: &[(CleanTicket, Vec<f32>)],
    production: Option<&Predictions>,
    out_of_fold: Option<&Predictions>,
) -> Vec<FeatureRow> {
    tickets
        .iter()
        .enumerate()
        .map(|(i, (t, _))| {
            feature_row(
                t,
                production.and_then(|p| p.row(i)),
                out_of_fold.and_then(|p| p.row(i)),
            )
        })
        .collect()
}

impl Trainer {
    /// Compares this run with `reference` (the one an operator set, else the run behind the data
    /// set's `latest` before this run trained) and stores `runs/<run>/drift/report.{json,html}`.
    async fn drift(
        &self,
        manifest: &RunManifest,
        reference: &str,
        tickets: &[(CleanTicket, Vec<f32>)],
        features: &[FeatureRow],
    ) -> Result<DriftSummary, StageError> {
        let run_id = &manifest.run_id;
        let reference = reference.to_string();
        let current_embeddings: Vec<Vec<f32>> = tickets.iter().map(|(_, v)| v.clone()).collect();
        let (ref_features, ref_embeddings) = {
            let bytes = self
                .store
                .get(&keys::features(&reference))
                .await
                .map_err(store_error)?;
            let rows = read_feature_csv(&bytes[..])
                .map_err(|e| StageError::Permanent(format!("reference features: {e}")))?;
            let m = self.bus.manifest(&reference).await?;
            let p = self.bus.progress(&reference).await?;
            let embeddings = match (m, p) {
                (Some(m), Some(p)) => load_run_tickets(&self.store, &m, &p)
                    .await?
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
                _ => Vec::new(),
            };
            (rows, embeddings)
        };
        let current = features.to_vec();
        let (ref_name, cur_name) = (reference.clone(), run_id.clone());
        let report = tokio::task::spawn_blocking(move || {
            let embedding = if ref_embeddings.is_empty() || current_embeddings.is_empty() {
                None
            } else {
                embedding_drift(
                    &ref_embeddings,
                    &current_embeddings,
                    13,
                    &EmbeddingDriftOptions::default(),
                )
                .map_err(|e| tracing::warn!(error = %e, "embedding drift left out"))
                .ok()
            };
            compare(
                &ref_name,
                &ref_features,
                &cur_name,
                &current,
                embedding,
                &DriftOptions::default(),
                now_ms(),
            )
        })
        .await
        .map_err(|e| StageError::Transient(format!("drift task: {e}")))?;
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| StageError::Permanent(e.to_string()))?;
        let html = render_drift_report(&report);
        let (json_key, html_key) = (
            keys::drift_report(run_id, "json"),
            keys::drift_report(run_id, "html"),
        );
        self.store
            .put(&json_key, Bytes::from(json))
            .await
            .map_err(store_error)?;
        self.store
            .put(&html_key, Bytes::from(html.into_bytes()))
            .await
            .map_err(store_error)?;
        Ok(DriftSummary {
            error: None,
            note: None,
            reference: Some(reference),
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
            report_html: Some(html_key),
            report_json: Some(json_key),
        })
    }

    /// An inference run: production's predictions to `runs/<run>/predictions.csv` and into
    /// Chroma (`predicted_type`, `predicted_probability`, `auto`, `predicted_by`).
    async fn publish_predictions(
        &self,
        manifest: &RunManifest,
        tickets: &[(CleanTicket, Vec<f32>)],
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
        let ids: Vec<String> = tickets.iter().map(|(t, _)| t.id.clone()).collect();
        let rows: Vec<u64> = tickets.iter().map(|(t, _)| t.row).collect();
        let csv = predictions_csv(production, &ids, &rows)
            .map_err(|e| StageError::Permanent(format!("writing predictions: {e}")))?;
        let key = keys::predictions(&manifest.run_id);
        self.store
            .put(&key, Bytes::from(csv))
            .await
            .map_err(store_error)?;
        if let Some(chroma) = &self.chroma {
            let metadatas: Vec<serde_json::Map<String, serde_json::Value>> = (0..tickets.len())
                .filter_map(|i| production.row(i))
                .map(|p| {
                    let mut m = serde_json::Map::new();
                    m.insert("predicted_type".into(), p.class.into());
                    m.insert(
                        "predicted_probability".into(),
                        f64::from(p.probability).into(),
                    );
                    m.insert("auto".into(), p.auto.into());
                    m.insert("predicted_by".into(), production.model_run.clone().into());
                    m
                })
                .collect();
            chroma
                .update_metadata(&ids, &metadatas)
                .await
                .map_err(|e| StageError::Transient(format!("chroma: {e}")))?;
        }
        let mut counts: Vec<(String, usize)> = production
            .classes
            .iter()
            .map(|c| {
                let n = (0..tickets.len())
                    .filter(|&i| production.row(i).is_some_and(|p| p.class == c))
                    .count();
                (c.clone(), n)
            })
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        Ok(PredictionSummary {
            error: None,
            model_run: Some(production.model_run.clone()),
            predicted: tickets.len(),
            file: Some(key),
            counts,
            routing: Some(production.routing_summary()),
        })
    }
}

impl ModelSummary {
    fn failed(error: String) -> Self {
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
        }
    }
}

/// `id,row,predicted_type,probability,auto,p_<class>…`, one line per predicted ticket. `auto`
/// is `true` when the probability reaches the model's routing threshold.
pub fn predictions_csv(
    predictions: &Predictions,
    ids: &[String],
    rows: &[u64],
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let mut header = vec![
            "id".to_string(),
            "row".to_string(),
            "predicted_type".to_string(),
            "probability".to_string(),
            "auto".to_string(),
        ];
        header.extend(predictions.classes.iter().map(|c| format!("p_{c}")));
        w.write_record(&header)?;
        for (i, (id, row)) in ids.iter().zip(rows).enumerate() {
            let (Some(p), Some(probs)) = (predictions.row(i), predictions.probs[i].as_ref()) else {
                continue;
            };
            let mut rec = vec![
                ticketflow_ml::csv_safe::neutralize(id).into_owned(),
                row.to_string(),
                p.class.to_string(),
                format!("{:.4}", p.probability),
                p.auto.to_string(),
            ];
            rec.extend(probs.iter().map(|x| format!("{x:.4}")));
            w.write_record(&rec)?;
        }
        w.flush()?;
    }
    let _ = out.flush();
    Ok(out)
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
        model: None,
        predictions: None,
        drift: None,
        production_routing: None,
        profile_html: None,
    }
}
