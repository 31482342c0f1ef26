//! Trainer: runs once per completed run.
//!
//! - **Labelled run** (tickets carry `type`): trains a challenger and lets the registry's gate
//!   compare it with the data set's `latest` on the same rows
//!   ([`ticketflow_lifecycle::training`]).
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
//! apart), its drift report against the data set's reference
//! ([`ticketflow_lifecycle::run::read`]), its profile, and its summary as
//! `runs/<run>/result.json` ([`ticketflow_lifecycle::run::result`]). It is idempotent: a redelivered
//! `runs.completed` for a run already trained is acknowledged without new work. A training
//! failure (say, too few labelled rows) is recorded in the result rather than retried, because
//! retrying cannot add rows.
//!
//! This file is the stage's `process`; beside it, `trainer/run_pass.rs` (the one pass over the
//! run's shards), `trainer/drift.rs` (the drift report and the routing suspension it brings) and
//! `trainer/publish.rs` (an inference run's predictions to the store and Chroma).
//!
//! # Bounded memory
//!
//! A run is read a shard at a time, never whole. What needs many tickets at once gets at most
//! `max_rows` (`--train-max-rows`) of them, as a seeded sample by ticket id
//! ([`ticketflow_analytics::sample`]): training (stratified by type; the model card records the
//! sample), the drift statistics of both runs, and the profile. Per ticket it keeps only
//! production's probabilities and the id and row for `predictions.csv`; the feature table is
//! written as the shards go by.

use std::collections::HashMap;

use bytes::Bytes;
use ticketflow_analytics::classify::{Predictions, TrainConfig};
use ticketflow_connectors::chroma::ChromaClient;
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_lifecycle::registry::{GateVerdict, QualityGate, Registry};
use ticketflow_lifecycle::run::metrics::{TRAINER_JOB, run_metrics};
use ticketflow_lifecycle::run::profile::write_run_profile;
use ticketflow_lifecycle::run::read::{RunShards, labelled_sample};
use ticketflow_lifecycle::run::result::{DriftSummary, RoutingSummary, summarise};
use ticketflow_lifecycle::training::{load_champion, train_run};
use ticketflow_schemas::{RunCompleted, Stage};

use crate::now_ms;
use crate::stage_loop::{Processed, StageError, StageWorker};

mod drift;
mod publish;
mod run_pass;

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
        let mut pass = run_pass::stream_run(
            &self.store,
            self.max_rows,
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
