//! `ticketflow train --run ID`: train and register a model from a completed run, outside the
//! queue (the trainer worker does the same for every labelled run).

use clap::Args;
use ticketflow_analytics::classify::{FeatureSet, TrainConfig};
use ticketflow_lifecycle::registry::QualityGate;
use ticketflow_lifecycle::run::read::{RunShards, labelled_sample};
use ticketflow_lifecycle::training::{load_champion, train_run};

use std::ops::Bound::{Excluded, Included};

use super::in_range;
use super::services::{ServiceArgs, runtime};

/// Training and quality-gate settings, shared with `worker trainer`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Feature set, e.g. `embeddings+lexical+metadata` (default: the measured best).
    #[arg(long, env = "TICKETFLOW_FEATURES")]
    pub features: Option<String>,
    /// Seed for the stratified split and cross-validation.
    #[arg(long, env = "TICKETFLOW_TRAIN_SEED", default_value_t = 13)]
    pub seed: u64,
    /// Minimum held-out macro-F1 for a model to become `latest`.
    #[arg(long, env = "TICKETFLOW_MIN_MACRO_F1", default_value_t = QualityGate::default().min_macro_f1)]
    pub min_macro_f1: f64,
    /// How much worse than the current `latest`, scored on the same rows, a new model may be
    /// and still replace it.
    #[arg(long, env = "TICKETFLOW_GATE_TOLERANCE", default_value_t = QualityGate::default().tolerance)]
    pub gate_tolerance: f64,
    /// Fewest held-out tickets that neither the new model nor the current `latest` trained on
    /// for the two to be compared; with fewer, the floor alone decides and the verdict says so.
    #[arg(long, env = "TICKETFLOW_GATE_MIN_COMPARE_ROWS", default_value_t = QualityGate::default().min_compare_rows)]
    pub gate_min_compare_rows: usize,
    /// Precision (share routed right) the automatically routed tickets must reach; the
    /// threshold is the lowest one certified at `--routing-confidence` on out-of-fold predictions.
    #[arg(long, env = "TICKETFLOW_TARGET_PRECISION", default_value_t = TrainConfig::default().target_precision)]
    pub target_precision: f64,
    /// Confidence of the routing guarantee: the routed tickets' precision is at least the
    /// target with this probability (one-sided Clopper–Pearson bound, Learn-then-Test).
    #[arg(long, env = "TICKETFLOW_ROUTING_CONFIDENCE", default_value_t = TrainConfig::default().routing_confidence)]
    pub routing_confidence: f64,
    /// Trainer: a run with more labelled tickets than this trains on a seeded sample of this
    /// many, stratified by type (the model card says so); its drift statistics and profile use
    /// at most this many rows too. Keeps the trainer's memory bounded whatever the run's size.
    #[arg(
        long = "train-max-rows",
        env = "TICKETFLOW_TRAIN_MAX_ROWS",
        default_value_t = 50_000
    )]
    pub max_rows: usize,
}

impl TrainArgs {
    /// The training and gate settings; an error naming the flag for a value out of its range
    /// (`--target-precision` in (0, 1], `--routing-confidence` in (0, 1), `--train-max-rows` at
    /// least 1).
    pub fn config(&self) -> anyhow::Result<(TrainConfig, QualityGate)> {
        let mut cfg = TrainConfig::default();
        if let Some(f) = &self.features {
            cfg.features = FeatureSet::parse(f)?;
        }
        cfg.seed = self.seed;
        cfg.target_precision = in_range(
            "--target-precision",
            "TICKETFLOW_TARGET_PRECISION",
            self.target_precision,
            (Excluded(0.0), Included(1.0)),
        )?;
        cfg.routing_confidence = in_range(
            "--routing-confidence",
            "TICKETFLOW_ROUTING_CONFIDENCE",
            self.routing_confidence,
            (Excluded(0.0), Excluded(1.0)),
        )?;
        in_range(
            "--train-max-rows",
            "TICKETFLOW_TRAIN_MAX_ROWS",
            self.max_rows,
            1..,
        )?;
        Ok((
            cfg,
            QualityGate {
                min_macro_f1: self.min_macro_f1,
                tolerance: self.gate_tolerance,
                min_compare_rows: self.gate_min_compare_rows,
            },
        ))
    }
}

#[derive(Debug, Args)]
pub struct TrainCommand {
    /// A completed, labelled run (see `ticketflow runs list`).
    #[arg(long)]
    pub run: String,
    /// Id of the new model (its folder under `models/`); default `<run>-retrain`. A retrain is a
    /// challenger like any other: it becomes `latest` only by beating it on the same rows.
    #[arg(long)]
    pub model_id: Option<String>,
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub services: ServiceArgs,
}

pub fn run(args: TrainCommand) -> anyhow::Result<()> {
    let (cfg, gate) = args.train.config()?;
    runtime()?.block_on(async move {
        let bus = args.services.bus(false).await?;
        let store = args.services.store()?;
        let run_id = &args.run;
        let manifest = bus.manifest(run_id).await?.ok_or_else(|| {
            anyhow::anyhow!("run {run_id} not found (see `ticketflow runs list`)")
        })?;
        let progress = bus
            .progress(run_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("run {run_id} has no progress record"))?;
        if !manifest.labelled {
            anyhow::bail!("run {run_id} has no `type` labels: nothing to train on");
        }
        let model_id = args
            .model_id
            .clone()
            .unwrap_or_else(|| format!("{run_id}-retrain"));
        if model_id.is_empty()
            || !model_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            || model_id.starts_with('.')
        {
            anyhow::bail!("--model-id {model_id:?}: use letters, digits, '-', '_' or '.'");
        }
        let incumbent = load_champion(&store, &manifest.dataset()).await?;
        if incumbent.latest.as_deref() == Some(model_id.as_str()) {
            anyhow::bail!(
                "model {model_id} is the data set's latest: retraining must not overwrite it; pick another --model-id"
            );
        }
        if model_id == *run_id {
            anyhow::bail!(
                "model {model_id} is the trainer's own model of the run; pick another --model-id"
            );
        }
        let shards = RunShards::new(&store, &manifest, &progress);
        let (tickets, sample) = labelled_sample(&shards, args.train.max_rows).await?;
        let outcome = train_run(
            &store,
            &model_id,
            &manifest,
            &progress,
            &tickets,
            &cfg,
            gate,
            &incumbent,
            sample,
        )
        .await?;
        let summary = outcome.summary;
        println!("{}", serde_json::to_string_pretty(&summary)?);
        if let Some(e) = summary.error {
            anyhow::bail!("training failed: {e}");
        }
        Ok(())
    })
}
