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
use ticketflow_ml::classify::{ClassMetrics, Classifier, Example, TrainConfig, train_and_select};
use ticketflow_ml::drift::compare::compare;
use ticketflow_ml::drift::features::{
    FeatureRow, feature_row, read_csv_bytes as read_feature_csv, write_csv as write_feature_csv,
};
use ticketflow_ml::drift::html::render_drift_report;
use ticketflow_ml::drift::{DriftOptions, EmbeddingDriftOptions, embedding_drift};
use ticketflow_schemas::{
    CleanShardFile, CleanTicket, RunCompleted, RunManifest, RunProgress, Stage,
};

use crate::now_ms;
use crate::registry::{GateVerdict, QualityGate, Registration, Registry};
use crate::run_metrics::{TRAINER_JOB, run_metrics};
use crate::run_profile::{profile_key, write_run_profile};
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
    /// Store key of the exploratory profile (`profile.html`; `profile.json` beside it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_html: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DriftSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

pub fn drift_report_key(run_id: &str, ext: &str) -> String {
    format!("{}drift/report.{ext}", keys::run_prefix(run_id))
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

/// The classifier's view of a cleaned ticket.
pub fn example(t: &CleanTicket, embedding: Vec<f32>) -> Example {
    Example {
        embedding,
        tokens: t.tokens.clone(),
        queue: t.queue.clone(),
        priority: t.priority.clone(),
        language: t.language.clone(),
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
        // Resolved before training: a model this run promotes must not make the run its own
        // reference.
        let reference = Registry::new(self.store.clone())
            .reference()
            .await
            .map_err(|e| StageError::Transient(e.to_string()))?
            .unwrap_or_else(|| run_id.clone());
        // Each ticket's predicted type and probability, for the feature table: from the model
        // just trained (labelled runs) or from `latest` (inference runs).
        let predictions = if manifest.labelled {
            let (model, classifier) =
                train_run(&self.store, &manifest, &tickets, &self.train, self.gate).await?;
            summary.model = Some(model);
            classifier.map(|c| predict_all(&c, &tickets))
        } else {
            let (predicted, labels) = self.predict(&manifest, &tickets).await?;
            summary.predictions = Some(predicted);
            labels
        };
        let features = feature_table(&tickets, predictions.as_deref());
        let mut csv = Vec::new();
        write_feature_csv(&mut csv, &features)
            .map_err(|e| StageError::Permanent(format!("feature table: {e}")))?;
        self.store
            .put(&features_key(run_id), Bytes::from(csv))
            .await
            .map_err(store_error)?;
        summary.drift = Some(
            match self.drift(&manifest, &reference, &tickets, &features).await {
                Ok(d) => d,
                Err(StageError::Transient(e)) => return Err(StageError::Transient(e)),
                Err(StageError::Permanent(e)) => {
                    tracing::error!(run_id, error = %e, "drift report failed");
                    DriftSummary::failed(e)
                }
            },
        );
        match write_run_profile(&self.store, &manifest, &progress, self.model_dir.clone()).await {
            Ok(_) => summary.profile_html = Some(profile_key(run_id, "html")),
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

/// Trains, evaluates and registers a classifier on a run's labelled tickets. Shared by the
/// trainer worker and `ticketflow train`.
pub async fn train_run(
    store: &Store,
    manifest: &RunManifest,
    tickets: &[(CleanTicket, Vec<f32>)],
    train: &TrainConfig,
    gate: QualityGate,
) -> Result<(ModelSummary, Option<Classifier>), StageError> {
    let (examples, labels): (Vec<Example>, Vec<String>) = tickets
        .iter()
        .filter_map(|(t, v)| {
            let label = t.ticket_type.clone()?;
            Some((example(t, v.clone()), label))
        })
        .unzip();
    let config = train.clone();
    let trained = tokio::task::spawn_blocking(move || {
        let result = train_and_select(&examples, &labels, &config);
        (result, labels, config)
    })
    .await
    .map_err(|e| StageError::Transient(format!("training task: {e}")))?;
    let (result, labels, config) = trained;
    let (classifier, report) = match result {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!(run_id = %manifest.run_id, error = %e, "training failed");
            return Ok((ModelSummary::failed(e.to_string()), None));
        }
    };
    let registry = Registry::new(store.clone());
    let card = registry
        .register(
            &classifier,
            Registration {
                run_id: &manifest.run_id,
                input: &manifest.input,
                data_digest: &manifest.input_digest,
                embed_input: &manifest.embed_input,
                labels: &labels,
                config: &config,
                report: &report,
                now_ms: now_ms(),
            },
            gate,
        )
        .await
        .map_err(|e| {
            if e.is_transient() {
                StageError::Transient(e.to_string())
            } else {
                StageError::Permanent(e.to_string())
            }
        })?;
    tracing::info!(
        run_id = %manifest.run_id,
        macro_f1 = card.holdout.macro_f1,
        verdict = ?card.verdict,
        "model trained"
    );
    let summary = ModelSummary {
        error: None,
        model: Some(card.model.clone()),
        features: Some(card.feature_set.clone()),
        accuracy: Some(card.holdout.accuracy),
        macro_f1: Some(card.holdout.macro_f1),
        weighted_precision: Some(card.holdout.weighted_precision),
        verdict: Some(card.verdict.clone()),
        per_class: report.holdout.per_class.clone(),
        card: Some(crate::registry::card_key(&manifest.run_id)),
    };
    Ok((summary, Some(classifier)))
}

/// Predicted type and its probability for every ticket.
pub fn predict_all(
    classifier: &Classifier,
    tickets: &[(CleanTicket, Vec<f32>)],
) -> Vec<(String, f32)> {
    let examples: Vec<Example> = tickets.iter().map(|(t, v)| example(t, v.clone())).collect();
    classifier
        .predict_proba_batch(&examples)
        .iter()
        .map(|p| {
            let (best, prob) = argmax(p);
            (classifier.classes[best].clone(), prob)
        })
        .collect()
}

/// The run's per-ticket feature table (see [`ticketflow_ml::drift::features`]).
pub fn feature_table(
    tickets: &[(CleanTicket, Vec<f32>)],
    predictions: Option<&[(String, f32)]>,
) -> Vec<FeatureRow> {
    tickets
        .iter()
        .enumerate()
        .map(|(i, (t, _))| {
            let p = predictions
                .and_then(|p| p.get(i))
                .map(|(c, prob)| (c.as_str(), *prob));
            feature_row(t, p)
        })
        .collect()
}

pub fn features_key(run_id: &str) -> String {
    format!("{}features.csv", keys::run_prefix(run_id))
}

impl Trainer {
    /// Compares this run with `reference` (the one an operator set, else the run behind `latest`
    /// before this run trained; a run with no reference yet is compared with itself) and stores
    /// `runs/<run>/drift/report.{json,html}`.
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
        let (ref_features, ref_embeddings) = if &reference == run_id {
            (features.to_vec(), current_embeddings.clone())
        } else {
            let bytes = self
                .store
                .get(&features_key(&reference))
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
            drift_report_key(run_id, "json"),
            drift_report_key(run_id, "html"),
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

    async fn predict(
        &self,
        manifest: &RunManifest,
        tickets: &[(CleanTicket, Vec<f32>)],
    ) -> Result<(PredictionSummary, Option<Vec<(String, f32)>>), StageError> {
        let registry = Registry::new(self.store.clone());
        let (model_run, classifier) = match registry.load("latest").await {
            Ok(found) => found,
            Err(e) if e.is_transient() => return Err(StageError::Transient(e.to_string())),
            Err(e) => {
                let summary = PredictionSummary {
                    error: Some(e.to_string()),
                    model_run: None,
                    predicted: 0,
                    file: None,
                    counts: vec![],
                };
                return Ok((summary, None));
            }
        };
        let (ids, rows, examples): (Vec<String>, Vec<u64>, Vec<Example>) = {
            let mut ids = Vec::with_capacity(tickets.len());
            let mut rows = Vec::with_capacity(tickets.len());
            let mut examples = Vec::with_capacity(tickets.len());
            for (t, v) in tickets {
                examples.push(example(t, v.clone()));
                ids.push(t.id.clone());
                rows.push(t.row);
            }
            (ids, rows, examples)
        };
        let probs = classifier.predict_proba_batch(&examples);
        let csv = predictions_csv(&classifier, &ids, &rows, &probs)
            .map_err(|e| StageError::Permanent(format!("writing predictions: {e}")))?;
        let key = predictions_key(&manifest.run_id);
        self.store
            .put(&key, Bytes::from(csv))
            .await
            .map_err(store_error)?;
        if let Some(chroma) = &self.chroma {
            let metadatas: Vec<serde_json::Map<String, serde_json::Value>> = probs
                .iter()
                .map(|p| {
                    let (best, prob) = argmax(p);
                    let mut m = serde_json::Map::new();
                    m.insert(
                        "predicted_type".into(),
                        classifier.classes[best].clone().into(),
                    );
                    m.insert("predicted_probability".into(), f64::from(prob).into());
                    m.insert("predicted_by".into(), model_run.clone().into());
                    m
                })
                .collect();
            chroma
                .update_metadata(&ids, &metadatas)
                .await
                .map_err(|e| StageError::Transient(format!("chroma: {e}")))?;
        }
        let mut counts: Vec<(String, usize)> = classifier
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), probs.iter().filter(|p| argmax(p).0 == i).count()))
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let labels = probs
            .iter()
            .map(|p| {
                let (best, prob) = argmax(p);
                (classifier.classes[best].clone(), prob)
            })
            .collect();
        let summary = PredictionSummary {
            error: None,
            model_run: Some(model_run),
            predicted: probs.len(),
            file: Some(key),
            counts,
        };
        Ok((summary, Some(labels)))
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
            per_class: Vec::new(),
            card: None,
        }
    }
}

pub fn predictions_key(run_id: &str) -> String {
    format!("{}predictions.csv", keys::run_prefix(run_id))
}

pub fn argmax(p: &[f32]) -> (usize, f32) {
    p.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, x)| if x > best.1 { (i, x) } else { best },
    )
}

/// `id,row,predicted_type,probability,p_<class>…`, one line per ticket.
pub fn predictions_csv(
    classifier: &Classifier,
    ids: &[String],
    rows: &[u64],
    probs: &[Vec<f32>],
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let mut header = vec![
            "id".to_string(),
            "row".to_string(),
            "predicted_type".to_string(),
            "probability".to_string(),
        ];
        header.extend(classifier.classes.iter().map(|c| format!("p_{c}")));
        w.write_record(&header)?;
        for ((id, row), p) in ids.iter().zip(rows).zip(probs) {
            let (best, prob) = argmax(p);
            let mut rec = vec![
                ticketflow_ml::csv_safe::neutralize(id).into_owned(),
                row.to_string(),
                classifier.classes[best].clone(),
                format!("{prob:.4}"),
            ];
            rec.extend(p.iter().map(|x| format!("{x:.4}")));
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
        profile_html: None,
    }
}
