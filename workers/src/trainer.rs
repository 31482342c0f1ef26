//! Trainer: runs once per completed run.
//!
//! - **Labelled run** (tickets carry `type`): trains a challenger and lets the registry's gate
//!   compare it with the data set's `latest` on the same rows ([`crate::training`]).
//! - **Inference run** (no labels): production (the data set's `latest`) classifies every
//!   ticket: `runs/<run>/predictions.csv`, and `predicted_type` and `auto` in Chroma.
//!
//! Either way it writes the run's feature table (production's and out-of-fold predictions kept
//! apart), its drift report against the data set's reference ([`crate::run_artifacts`]), its
//! profile, and its summary as `runs/<run>/result.json` ([`crate::summary`]). It is idempotent: a
//! redelivered `runs.completed` for a run already trained is acknowledged without new work. A
//! training failure (say, too few labelled rows) is recorded in the result rather than retried,
//! because retrying cannot add rows.

use bytes::Bytes;
use ticketflow_connectors::chroma::ChromaClient;
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_ml::classify::{Example, Predictions, TrainConfig, predictions_csv};
use ticketflow_ml::drift::DriftOptions;
use ticketflow_ml::drift::feature_table::{
    FeatureRow, feature_table, write_csv as write_feature_csv,
};
use ticketflow_ml::drift::report_page::render_drift_report;
use ticketflow_schemas::{CleanTicket, RunCompleted, RunManifest, Stage};

use crate::now_ms;
use crate::registry::{QualityGate, Registry, RegistryError};
use crate::run_artifacts::{
    DriftSide, drift_report, load_run_tickets, run_embeddings, run_features,
};
use crate::run_metrics::{TRAINER_JOB, run_metrics};
use crate::run_profile::write_run_profile;
use crate::stage_loop::{Processed, StageError, StageWorker};
use crate::summary::{ColumnVerdict, DriftSummary, PredictionSummary, RoutingSummary, summarise};
use crate::training::{load_champion, train_run};

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
                counts: Default::default(),
            });
        }
        let manifest = self
            .bus
            .manifest(run_id)
            .await?
            .ok_or_else(|| StageError::permanent(format!("run {run_id} has no manifest")))?;
        let progress = self
            .bus
            .progress(run_id)
            .await?
            .ok_or_else(|| StageError::permanent(format!("run {run_id} has no progress")))?;
        let tickets = load_run_tickets(&self.store, &manifest, &progress).await?;
        let mut summary = summarise(&manifest, &progress);
        let dataset = manifest.dataset();
        // Both resolved before training: a model this run promotes must neither judge its own
        // run's predictions nor make the run its own reference.
        let incumbent = load_champion(&self.store, &dataset).await?;
        let reference = Registry::new(self.store.clone())
            .reference(&dataset)
            .await
            .map_err(StageError::from)?
            .filter(|r| r != run_id);
        let examples: Vec<Example> = tickets
            .iter()
            .map(|(t, v)| Example::from_clean_ticket(t, v.clone()))
            .collect();
        // What production predicted: the `latest` model from before this run.
        let production = incumbent
            .champion
            .as_ref()
            .map(|c| Predictions::of(&c.classifier, &c.run_id, &examples));
        summary.production_routing = production.as_ref().map(RoutingSummary::of);
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
                &incumbent,
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
        let features = feature_table(
            tickets.iter().map(|(t, _)| t),
            production.as_ref(),
            out_of_fold.as_ref(),
        );
        let mut csv = Vec::new();
        write_feature_csv(&mut csv, &features)
            .map_err(|e| StageError::permanent(format!("feature table: {e}")))?;
        self.store
            .put(&keys::features(run_id), Bytes::from(csv))
            .await?;
        summary.drift = Some(match &reference {
            None => {
                tracing::info!(run_id, %dataset, "no drift reference yet for this data set");
                DriftSummary::no_reference()
            }
            Some(reference) => match self.drift(&manifest, reference, &tickets, &features).await {
                Ok(d) => d,
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::error!(run_id, error = %e, "drift report failed");
                    DriftSummary::failed(e.to_string())
                }
            },
        });
        match write_run_profile(&self.store, &manifest, &progress, self.model_dir.clone()).await {
            Ok(_) => summary.profile_html = Some(keys::profile(run_id, "html")),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                tracing::error!(run_id, error = %e, "profile failed");
            }
        }
        let json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| StageError::permanent(e.to_string()))?;
        self.store
            .put(&keys::run_result(run_id), Bytes::from(json))
            .await?;
        self.bus
            .update_progress(run_id, |p| {
                p.trained_at_ms.get_or_insert_with(now_ms);
                p.trainings += 1;
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
            counts: Default::default(),
        })
    }
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
        let reference_side = DriftSide {
            name: reference.to_string(),
            rows: run_features(&self.store, reference).await?,
            embeddings: run_embeddings(&self.store, &self.bus, reference).await?,
        };
        let current_side = DriftSide {
            name: run_id.clone(),
            rows: features.to_vec(),
            embeddings: tickets.iter().map(|(_, v)| v.clone()).collect(),
        };
        let report = tokio::task::spawn_blocking(move || {
            drift_report(
                &reference_side,
                &current_side,
                &DriftOptions::default(),
                now_ms(),
            )
        })
        .await
        .map_err(|e| StageError::transient(format!("drift task: {e}")))?;
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| StageError::permanent(e.to_string()))?;
        let html = render_drift_report(&report);
        let (json_key, html_key) = (
            keys::drift_report(run_id, "json"),
            keys::drift_report(run_id, "html"),
        );
        self.store.put(&json_key, Bytes::from(json)).await?;
        self.store
            .put(&html_key, Bytes::from(html.into_bytes()))
            .await?;
        Ok(DriftSummary {
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
            .map_err(|e| StageError::permanent(format!("writing predictions: {e}")))?;
        let key = keys::predictions(&manifest.run_id);
        self.store.put(&key, Bytes::from(csv)).await?;
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
            chroma.update_metadata(&ids, &metadatas).await?;
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
            routing: Some(RoutingSummary::of(production)),
        })
    }
}
