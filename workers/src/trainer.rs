//! Trainer: runs once per completed run.
//!
//! - **Labelled run** (tickets carry `type`): trains a challenger and lets the registry's gate
//!   compare it with the data set's `latest` on the same rows ([`ticketflow_lifecycle::training`]).
//! - **Inference run** (no labels): production (the data set's `latest`) classifies every
//!   ticket: `runs/<run>/predictions.csv`, and `predicted_type`, `auto` and `auto_reason` in
//!   Chroma. They are written after the drift check, because a drifted run is not routed.
//!
//! **Routing that keeps its promise.** Production's routing figures count only tickets it never
//! trained on. When this run drifted from the reference (dataset or embedding drift), automatic
//! routing of the data set is suspended (`datasets/<ds>/routing.json`): every prediction keeps
//! its probabilities, `auto` is false with the reason, until an operator resumes it
//! (`ticketflow routing resume`) or a model trained on the new data is promoted.
//!
//! Either way it writes the run's feature table (production's and out-of-fold predictions kept
//! apart), its drift report against the data set's reference ([`ticketflow_lifecycle::run_artifacts`]), its
//! profile, and its summary as `runs/<run>/result.json` ([`ticketflow_lifecycle::summary`]). It is idempotent: a
//! redelivered `runs.completed` for a run already trained is acknowledged without new work. A
//! training failure (say, too few labelled rows) is recorded in the result rather than retried,
//! because retrying cannot add rows.
//!
//! # Bounded memory
//!
//! A run is read a shard at a time, never whole. What needs many tickets at once gets at most
//! `max_rows` (`--train-max-rows`) of them, as a seeded sample by ticket id
//! ([`ticketflow_analytics::sample`]): training (stratified by type; the model card records the
//! sample), the drift statistics of both runs, and the profile. Per ticket it keeps only
//! production's probabilities and the id and row for `predictions.csv`; the feature table is
//! written as the shards go by.

use bytes::Bytes;
use std::collections::HashMap;
use ticketflow_connectors::chroma::ChromaClient;
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};

use ticketflow_analytics::classify::{Example, Predictions, TrainConfig, predictions_csv};
use ticketflow_analytics::drift::feature_table::{FeatureCsv, FeatureRow, feature_row};
use ticketflow_analytics::drift::report_page::render_drift_report;
use ticketflow_analytics::drift::{DriftOptions, EmbeddingDriftOptions};
use ticketflow_schemas::Dataset;
use ticketflow_schemas::{RunCompleted, RunManifest, Stage};

use crate::now_ms;
use crate::stage_loop::{Processed, StageError, StageWorker};
use ticketflow_lifecycle::registry::{
    GateVerdict, QualityGate, Registry, RegistryError, RoutingState,
};
use ticketflow_lifecycle::run_artifacts::{
    DriftSide, RunShards, UniformSample, drift_report, labelled_sample, run_embeddings_sample,
    run_features_sample,
};
use ticketflow_lifecycle::run_metrics::{TRAINER_JOB, run_metrics};
use ticketflow_lifecycle::run_profile::write_run_profile;
use ticketflow_lifecycle::summary::{DriftSummary, PredictionSummary, RoutingSummary, summarise};
use ticketflow_lifecycle::training::{load_champion, train_run};

pub struct Trainer {
    pub store: Store,
    pub bus: Bus,
    /// For inference runs: where `predicted_type` is written.
    pub chroma: Option<ChromaClient>,
    pub train: TrainConfig,
    pub gate: QualityGate,
    /// At most this many tickets are trained on, and used for drift and the profile (seeded
    /// samples beyond it): the trainer's memory does not grow with the run.
    pub max_rows: usize,
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
        let shards = RunShards::new(&self.store, &manifest, &progress);
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
        // Out-of-fold predictions of the new model, by ticket id (sampled tickets only).
        let mut out_of_fold: HashMap<String, Vec<f32>> = HashMap::new();
        let mut oof_meta = None;
        if manifest.labelled {
            let (sample, sample_info) = labelled_sample(&shards, self.max_rows).await?;
            let outcome = train_run(
                &self.store,
                run_id,
                &manifest,
                &progress,
                &sample,
                &self.train,
                self.gate,
                &incumbent,
                sample_info,
            )
            .await?;
            summary.model = Some(outcome.summary);
            if let Some(oof) = outcome.out_of_fold {
                for ((t, _), probs) in sample.iter().zip(&oof.probs) {
                    if let Some(p) = probs {
                        out_of_fold.insert(t.id.clone(), p.clone());
                    }
                }
                oof_meta = Some(Predictions {
                    probs: Vec::new(),
                    ..oof
                });
            }
        }
        let mut pass = self
            .stream_run(
                &manifest,
                &shards,
                incumbent.champion.as_ref(),
                &out_of_fold,
                oof_meta.as_ref(),
            )
            .await?;
        summary.drift = Some(match &reference {
            None => {
                tracing::info!(run_id, %dataset, "no drift reference yet for this data set");
                DriftSummary::no_reference()
            }
            Some(reference) => match self
                .drift(&manifest, reference, pass.drift_rows, pass.drift_vectors)
                .await
            {
                Ok(d) => d,
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::error!(run_id, error = %e, "drift report failed");
                    DriftSummary::failed(e.to_string())
                }
            },
        });
        // This run's own model, if promoted, was trained on this run's data: it takes over
        // without a suspension (promotion resumes routing).
        let promoted = summary
            .model
            .as_ref()
            .is_some_and(|m| matches!(m.verdict, Some(GateVerdict::Promoted { .. })));
        let suspended = self
            .routing_suspension(&dataset, run_id, summary.drift.as_ref(), promoted)
            .await?;
        if let Some(production) = pass.production.as_mut() {
            production.suspended = suspended;
        }
        summary.production_routing = pass
            .production
            .as_ref()
            .map(|p| RoutingSummary::of(p, &pass.trained, &pass.labels));
        if !manifest.labelled {
            summary.predictions = Some(
                self.publish_predictions(
                    &manifest,
                    &pass.ids,
                    &pass.rows,
                    pass.production.as_ref(),
                )
                .await?,
            );
        }
        match write_run_profile(
            &self.store,
            &manifest,
            &progress,
            self.model_dir.clone(),
            self.max_rows,
        )
        .await
        {
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

/// Rows of each run the embedding-drift domain classifier uses: it subsamples to this anyway.
fn embedding_sample_rows() -> usize {
    EmbeddingDriftOptions::default().classifier_max_rows
}

/// What one pass over a run's shards leaves: production's predictions for every ticket, the
/// feature table as CSV, and the samples the drift statistics use.
struct RunPass {
    /// Production (the data set's `latest` before the run) on every ticket, in run order.
    production: Option<Predictions>,
    ids: Vec<String>,
    rows: Vec<u64>,
    /// Per ticket: whether production trained on it (its figures leave it out), its label.
    trained: Vec<bool>,
    labels: Vec<Option<String>>,
    drift_rows: Vec<FeatureRow>,
    drift_vectors: Vec<Vec<f32>>,
}

impl Trainer {
    /// One pass over the run, a shard at a time: production predicts each shard (and, for an
    /// inference run, its predictions go into Chroma right away), feature rows are written as
    /// CSV, and seeded samples of rows and vectors are kept for drift.
    async fn stream_run(
        &self,
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
        let mut table = self.store.upload(&keys::features(&manifest.run_id)).await?;
        let mut drift_rows = UniformSample::new(self.max_rows);
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
                let mut row =
                    feature_row(&t, shard_predictions.as_ref().and_then(|p| p.row(i)), oof);
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
        let sampled = drift_rows.seen() > self.max_rows as u64;
        if sampled {
            tracing::info!(run_id = %manifest.run_id, rows = self.max_rows, of = drift_rows.seen(), "drift on a seeded sample of the run");
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

    /// Compares this run with `reference` (the one an operator set, else the run behind the data
    /// set's `latest` before this run trained) and stores `runs/<run>/drift/report.{json,html}`.
    async fn drift(
        &self,
        manifest: &RunManifest,
        reference: &str,
        rows: Vec<FeatureRow>,
        embeddings: Vec<Vec<f32>>,
    ) -> Result<DriftSummary, StageError> {
        let run_id = &manifest.run_id;
        let reference_side = DriftSide {
            name: reference.to_string(),
            rows: run_features_sample(&self.store, reference, self.max_rows).await?,
            embeddings: run_embeddings_sample(
                &self.store,
                &self.bus,
                reference,
                embedding_sample_rows(),
            )
            .await?,
        };
        let current_side = DriftSide {
            name: run_id.clone(),
            rows,
            embeddings,
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
        .map_err(|e| StageError::transient_from("drift task", e))?;
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
        Ok(DriftSummary::of_report(
            &report,
            reference,
            Some(html_key),
            Some(json_key),
        ))
    }

    /// Whether routing is suspended for this run: the data set's stored state, updated by this
    /// run's drift verdict. A drifted run suspends it (and says why) unless this run's own model
    /// was just promoted; a suspension stays until `ticketflow routing resume` or a promotion.
    async fn routing_suspension(
        &self,
        dataset: &Dataset,
        run_id: &str,
        drift: Option<&DriftSummary>,
        promoted: bool,
    ) -> Result<Option<String>, StageError> {
        let registry = Registry::new(self.store.clone());
        let state = registry.routing_state(dataset).await?;
        if let Some(reason) = drift.and_then(DriftSummary::suspension_reason)
            && !promoted
        {
            let new = RoutingState {
                suspended: true,
                reason,
                run_id: Some(run_id.to_string()),
                by: "drift".into(),
                changed_at_ms: now_ms(),
            };
            ticketflow_telemetry::internal_events::RoutingSuspended {
                dataset: dataset.as_str(),
                run_id,
                reason: &new.reason,
            }
            .emit();
            registry.set_routing_state(dataset, &new).await?;
            return Ok(new.suspension());
        }
        Ok(state.and_then(|s| s.suspension()))
    }

    /// An inference run: production's predictions to `runs/<run>/predictions.csv` and into
    /// Chroma (`predicted_type`, `predicted_probability`, `auto`, `auto_reason`,
    /// `predicted_by`), a batch at a time; only predictions that changed are written, so a daily
    /// run over a cumulative export with the same production model rewrites nothing.
    async fn publish_predictions(
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
