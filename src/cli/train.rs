//! `ticketflow train --run ID`: train and register a model from a completed run, outside the
//! queue (the trainer worker does the same for every labelled run).

use clap::Args;
use ticketflow_ml::classify::{FeatureSet, TrainConfig};
use ticketflow_workers::registry::QualityGate;
use ticketflow_workers::trainer::{load_run_tickets, train_run};

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
    /// How much worse than the current `latest` a new model may be and still replace it.
    #[arg(long, env = "TICKETFLOW_GATE_TOLERANCE", default_value_t = QualityGate::default().tolerance)]
    pub gate_tolerance: f64,
}

impl TrainArgs {
    pub fn config(&self) -> anyhow::Result<(TrainConfig, QualityGate)> {
        let mut cfg = TrainConfig::default();
        if let Some(f) = &self.features {
            cfg.features = FeatureSet::parse(f)?;
        }
        cfg.seed = self.seed;
        Ok((
            cfg,
            QualityGate {
                min_macro_f1: self.min_macro_f1,
                tolerance: self.gate_tolerance,
            },
        ))
    }
}

#[derive(Debug, Args)]
pub struct TrainCommand {
    /// A completed, labelled run (see `ticketflow runs list`).
    #[arg(long)]
    pub run: String,
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
        let tickets = load_run_tickets(&store, &manifest, &progress).await?;
        let (summary, _) = train_run(&store, &manifest, &tickets, &cfg, gate).await?;
        println!("{}", serde_json::to_string_pretty(&summary)?);
        if let Some(e) = summary.error {
            anyhow::bail!("training failed: {e}");
        }
        Ok(())
    })
}
