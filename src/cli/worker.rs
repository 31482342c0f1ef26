//! `ticketflow worker <stage>`: one stage, one process. Run as many replicas as you like.

use std::time::Duration;

use clap::Args;
use ticketflow_connectors::nats::ConsumerSettings;
use ticketflow_embed::EmbeddingModel;
use ticketflow_schemas::Stage;
use ticketflow_workers::{Shutdown, cleaner, embedder, indexer, run_stage, trainer};

use super::ModelArgs;
use super::services::{ServiceArgs, TelemetryArgs, runtime};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// cleaner, embedder, indexer or trainer.
    pub stage: Stage,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Seconds without an ack before JetStream redelivers a shard (in-progress acks extend it).
    #[arg(long, env = "TICKETFLOW_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Attempts per shard before it goes to the dead-letter stream.
    #[arg(long, env = "TICKETFLOW_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Seconds a shard is held and retried in place while a dependency (NATS, object store,
    /// Chroma) is unavailable, before it counts as a failed attempt.
    #[arg(long, env = "TICKETFLOW_TRANSIENT_HOLD_SECS", default_value_t = 300)]
    pub transient_hold_secs: u64,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Embedder only: reuse the vector of a text embedded before with the same model and
    /// precision (kept in the object store under `vectors/`), so a run over a cumulative export
    /// embeds only new texts. `false` embeds every text and keeps nothing.
    #[arg(long, env = "TICKETFLOW_REUSE_VECTORS", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub reuse_vectors: bool,
    /// Trainer only: training and quality-gate settings.
    #[command(flatten)]
    pub train: super::train::TrainArgs,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    // The embedder loads its model before anything else, so a bad model path or ONNX Runtime
    // library fails the process at start, not on the first shard.
    let model = match args.stage {
        Stage::Embedder => {
            let model = EmbeddingModel::new(&args.model.embedding_model_config())?;
            tracing::info!(precision = %model.precision(), digest = model.digest(), model = %model.model_path().display(), reuse_vectors = args.reuse_vectors, "embedding model loaded");
            Some(model)
        }
        _ => None,
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let settings = ConsumerSettings {
            ack_wait: Duration::from_secs(args.ack_wait_secs.max(1)),
            max_attempts: args.max_attempts.max(1),
            transient_hold: Duration::from_secs(args.transient_hold_secs),
        };
        // Settings that need no server are checked first, so a typo fails at once instead of
        // after waiting for NATS.
        let store = args.services.store()?;
        let needs_chroma = matches!(args.stage, Stage::Indexer | Stage::Trainer);
        if needs_chroma {
            args.services.chroma_config()?;
        }
        let pushgateway = args.telemetry.push.pushgateway()?;
        let bus = args.services.bus(true).await?;
        let chroma = if needs_chroma {
            Some(args.services.chroma().await?)
        } else {
            None
        };
        let readiness = readiness(&bus, &store, chroma.as_ref());
        ticketflow_telemetry::serve(args.telemetry.metrics_addr, readiness).await?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        tracing::info!(stage = %args.stage, store = %store.describe(), nats = %args.services.nats_url_redacted(), "starting worker");
        match args.stage {
            Stage::Cleaner => {
                run_stage(bus, settings, cleaner::Cleaner { store }, shutdown).await?;
            }
            Stage::Embedder => {
                let model = model.ok_or_else(|| anyhow::anyhow!("embedder model not loaded"))?;
                let embedder = if args.reuse_vectors {
                    embedder::Embedder::new(store, model)
                } else {
                    embedder::Embedder::without_reuse(store, model)
                };
                run_stage(bus, settings, embedder, shutdown).await?;
            }
            Stage::Indexer => {
                let chroma = chroma.ok_or_else(|| anyhow::anyhow!("no Chroma client"))?;
                run_stage(bus, settings, indexer::Indexer { store, chroma }, shutdown).await?;
            }
            Stage::Trainer => {
                let (train, gate) = args.train.config()?;
                let worker = trainer::Trainer {
                    store,
                    bus: bus.clone(),
                    chroma,
                    train,
                    gate,
                    max_rows: args.train.max_rows.max(1),
                    model_dir: Some(args.model.model_dir.clone()),
                    pushgateway,
                };
                run_stage(bus, settings, worker, shutdown).await?;
            }
        }
        Ok(())
    })
}

/// Ready = connected to NATS, the object store answers, and (indexer, trainer) Chroma answers.
fn readiness(
    bus: &ticketflow_connectors::nats::Bus,
    store: &ticketflow_connectors::store::Store,
    chroma: Option<&ticketflow_connectors::chroma::ChromaClient>,
) -> ticketflow_telemetry::Readiness {
    let bus = bus.clone();
    let store = store.clone();
    let mut readiness = ticketflow_telemetry::Readiness::new()
        .with_check("nats", move || {
            let connected = bus.is_connected();
            async move {
                if connected {
                    Ok(())
                } else {
                    Err("not connected (reconnecting)".to_string())
                }
            }
        })
        .with_check("object_store", move || {
            let store = store.clone();
            // A metadata request on a key that need not exist: proves credentials and reach.
            async move {
                store
                    .exists("healthz")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        });
    if let Some(chroma) = chroma {
        let chroma = chroma.clone();
        readiness = readiness.with_check("chroma", move || {
            let chroma = chroma.clone();
            async move { chroma.heartbeat().await.map_err(|e| e.to_string()) }
        });
    }
    readiness
}
