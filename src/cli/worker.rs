//! `ticketflow worker <stage>`: one stage, one process. Run as many replicas as you like.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use ticketflow_connectors::nats::ConsumerSettings;
use ticketflow_ml::embed::Embedder as Model;
use ticketflow_schemas::Stage;
use ticketflow_workers::{Shutdown, cleaner, embedder, indexer, run_stage, trainer};

use super::ModelArgs;
use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// cleaner, embedder, indexer or trainer.
    pub stage: Stage,
    #[command(flatten)]
    pub services: ServiceArgs,
    /// Seconds without an ack before JetStream redelivers a shard (in-progress acks extend it).
    #[arg(long, env = "TICKETFLOW_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Attempts per shard before it goes to the dead-letter stream.
    #[arg(long, env = "TICKETFLOW_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Trainer only: training and quality-gate settings.
    #[command(flatten)]
    pub train: super::train::TrainArgs,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    // The embedder loads its model before anything else, so a bad model path or ONNX Runtime
    // library fails the process at start, not on the first shard.
    let model = match args.stage {
        Stage::Embedder => Some(Arc::new(Mutex::new(Model::new(
            &args.model.embedder_config(),
        )?))),
        _ => None,
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let settings = ConsumerSettings {
            ack_wait: Duration::from_secs(args.ack_wait_secs.max(1)),
            max_attempts: args.max_attempts.max(1),
        };
        let bus = args.services.bus(true).await?;
        let store = args.services.store()?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        tracing::info!(stage = %args.stage, store = %store.describe(), nats = %args.services.nats_url, "starting worker");
        match args.stage {
            Stage::Cleaner => {
                run_stage(bus, settings, cleaner::Cleaner { store }, shutdown).await?;
            }
            Stage::Embedder => {
                let model = model.ok_or_else(|| anyhow::anyhow!("embedder model not loaded"))?;
                run_stage(bus, settings, embedder::Embedder { store, model }, shutdown).await?;
            }
            Stage::Indexer => {
                let chroma = args.services.chroma().await?;
                run_stage(bus, settings, indexer::Indexer { store, chroma }, shutdown).await?;
            }
            Stage::Trainer => {
                let (train, gate) = args.train.config()?;
                let worker = trainer::Trainer {
                    store,
                    bus: bus.clone(),
                    chroma: Some(args.services.chroma().await?),
                    train,
                    gate,
                };
                run_stage(bus, settings, worker, shutdown).await?;
            }
        }
        Ok(())
    })
}
