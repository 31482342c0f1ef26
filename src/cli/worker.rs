//! `ticketflow worker <stage>`: one stage, one process. Run as many replicas as you like.

use std::time::Duration;

use clap::{Args, Subcommand};
use ticketflow_connectors::nats::ConsumerSettings;
use ticketflow_embed::EmbeddingModel;
use ticketflow_schemas::Stage;
use ticketflow_workers::{Shutdown, cleaner, embedder, indexer, run_stage, trainer};

use super::services::{PushArgs, ServiceArgs, TelemetryArgs, runtime};
use super::{ModelArgs, in_range};

/// `worker <stage>`: each stage takes the shared connection and consumer settings plus its own
/// flags, and no other stage's.
#[derive(Debug, Args)]
#[command(subcommand_value_name = "STAGE")]
pub struct WorkerArgs {
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub enum Role {
    /// Raw tickets in, prepared tickets (language, tokens, embedder text) out.
    Cleaner(CleanerArgs),
    /// Prepared tickets in, vectors out (the ONNX embedding model).
    Embedder(EmbedderArgs),
    /// Vectors and prepared tickets in, Chroma records out.
    Indexer(IndexerArgs),
    /// Once per completed run: train and gate a model (labelled run) or classify (unlabelled),
    /// drift check, profile.
    Trainer(TrainerArgs),
}

/// Settings every stage takes: where the services are, where metrics are served, and how the
/// stage's JetStream consumer redelivers and retries.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// Seconds without an ack before JetStream redelivers a shard (in-progress acks extend it);
    /// at least 1.
    #[arg(long, env = "TICKETFLOW_ACK_WAIT_SECS", default_value_t = 30)]
    pub ack_wait_secs: u64,
    /// Attempts per shard before it goes to the dead-letter stream; at least 1.
    #[arg(long, env = "TICKETFLOW_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: u32,
    /// Seconds a shard is held and retried in place while a dependency (NATS, object store,
    /// Chroma) is unavailable, before it counts as a failed attempt.
    #[arg(long, env = "TICKETFLOW_TRANSIENT_HOLD_SECS", default_value_t = 300)]
    pub transient_hold_secs: u64,
}

#[derive(Debug, Args)]
pub struct CleanerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct EmbedderArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Reuse the vector of a text embedded before with the same model and precision (kept in
    /// the object store under `vectors/`), so a run over a cumulative export embeds only new
    /// texts. `false` embeds every text and keeps nothing.
    #[arg(long, env = "TICKETFLOW_REUSE_VECTORS", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub reuse_vectors: bool,
}

#[derive(Debug, Args)]
pub struct IndexerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TrainerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub push: PushArgs,
    /// For the run profile's token counts.
    #[command(flatten)]
    pub tokenizer: super::TokenizerArgs,
    /// Training and quality-gate settings.
    #[command(flatten)]
    pub train: super::train::TrainArgs,
}

impl WorkerArgs {
    pub fn stage(&self) -> Stage {
        match self.role {
            Role::Cleaner(_) => Stage::Cleaner,
            Role::Embedder(_) => Stage::Embedder,
            Role::Indexer(_) => Stage::Indexer,
            Role::Trainer(_) => Stage::Trainer,
        }
    }

    pub fn common(&self) -> &CommonArgs {
        match &self.role {
            Role::Cleaner(a) => &a.common,
            Role::Embedder(a) => &a.common,
            Role::Indexer(a) => &a.common,
            Role::Trainer(a) => &a.common,
        }
    }
}

impl CommonArgs {
    /// Redelivery and retry settings of the stage's JetStream consumer.
    pub fn consumer_settings(&self) -> anyhow::Result<ConsumerSettings> {
        Ok(ConsumerSettings {
            ack_wait: Duration::from_secs(in_range(
                "--ack-wait-secs",
                "TICKETFLOW_ACK_WAIT_SECS",
                self.ack_wait_secs,
                1..,
            )?),
            max_attempts: in_range(
                "--max-attempts",
                "TICKETFLOW_MAX_ATTEMPTS",
                self.max_attempts,
                1..,
            )?,
            transient_hold: Duration::from_secs(self.transient_hold_secs),
        })
    }
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let stage = args.stage();
    // Out-of-range settings fail the process before it loads a model or connects to anything.
    let settings = args.common().consumer_settings()?;
    let trainer_config = match &args.role {
        Role::Trainer(t) => Some((t.train.config()?, t.push.pushgateway()?)),
        _ => None,
    };
    // The embedder loads its model before anything else, so a bad model path or ONNX Runtime
    // library fails the process at start, not on the first shard.
    let model = match &args.role {
        Role::Embedder(e) => {
            let model = EmbeddingModel::new(&e.model.embedding_model_config()?)?;
            tracing::info!(precision = %model.precision(), digest = model.digest(), model = %model.model_path().display(), reuse_vectors = e.reuse_vectors, "embedding model loaded");
            Some(model)
        }
        _ => None,
    };
    let rt = runtime()?;
    rt.block_on(async move {
        let common = args.common();
        // Settings that need no server are checked first, so a typo fails at once instead of
        // after waiting for NATS.
        let store = common.services.store()?;
        let needs_chroma = matches!(stage, Stage::Indexer | Stage::Trainer);
        if needs_chroma {
            common.services.chroma_config()?;
        }
        let bus = common.services.bus(true).await?;
        let chroma = if needs_chroma {
            Some(common.services.chroma().await?)
        } else {
            None
        };
        let readiness = readiness(&bus, &store, chroma.as_ref());
        ticketflow_telemetry::serve(common.telemetry.metrics_addr, readiness).await?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        tracing::info!(stage = %stage, store = %store.describe(), nats = %common.services.nats_url_redacted(), "starting worker");
        match &args.role {
            Role::Cleaner(_) => {
                run_stage(bus, settings, cleaner::Cleaner { store }, shutdown).await?;
            }
            Role::Embedder(e) => {
                let model = model.ok_or_else(|| anyhow::anyhow!("embedder model not loaded"))?;
                let embedder = if e.reuse_vectors {
                    embedder::Embedder::new(store, model)
                } else {
                    embedder::Embedder::without_reuse(store, model)
                };
                run_stage(bus, settings, embedder, shutdown).await?;
            }
            Role::Indexer(_) => {
                let chroma = chroma.ok_or_else(|| anyhow::anyhow!("no Chroma client"))?;
                run_stage(bus, settings, indexer::Indexer { store, chroma }, shutdown).await?;
            }
            Role::Trainer(t) => {
                let ((train, gate), pushgateway) = trainer_config
                    .ok_or_else(|| anyhow::anyhow!("trainer settings not checked"))?;
                let worker = trainer::Trainer {
                    store,
                    bus: bus.clone(),
                    chroma,
                    train,
                    gate,
                    max_rows: t.train.max_rows,
                    model_dir: Some(t.tokenizer.model_dir.clone()),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Cli, Command};
    use super::Role;

    /// `ticketflow worker ARGS…` parsed (clap must accept it: the range checks come after).
    fn worker(args: &[&str]) -> super::WorkerArgs {
        let argv = [&["ticketflow", "worker"][..], args].concat();
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Worker(args) => args,
            other => panic!("not a worker: {other:?}"),
        }
    }

    /// The error of a setting out of its range, which must name the flag and its variable.
    fn rejected(result: anyhow::Result<impl std::fmt::Debug>, flag: &str, env: &str) -> String {
        let err = format!("{:#}", result.expect_err("out of range value accepted"));
        assert!(err.contains(flag) && err.contains(env), "{err}");
        err
    }

    #[test]
    fn zero_ack_wait_and_attempts_are_rejected_not_raised_to_one() {
        let err = rejected(
            worker(&["cleaner", "--ack-wait-secs", "0"])
                .common()
                .consumer_settings(),
            "--ack-wait-secs",
            "TICKETFLOW_ACK_WAIT_SECS",
        );
        assert!(err.contains("at least 1 (got 0)"), "{err}");
        rejected(
            worker(&["indexer", "--max-attempts", "0"])
                .common()
                .consumer_settings(),
            "--max-attempts",
            "TICKETFLOW_MAX_ATTEMPTS",
        );
        let ok = worker(&["cleaner", "--ack-wait-secs", "1", "--max-attempts", "1"])
            .common()
            .consumer_settings()
            .expect("1 is in range");
        assert_eq!((ok.ack_wait.as_secs(), ok.max_attempts), (1, 1));
    }

    fn embedder(args: &[&str]) -> super::EmbedderArgs {
        match worker(&[&["embedder"][..], args].concat()).role {
            Role::Embedder(args) => args,
            other => panic!("not the embedder: {other:?}"),
        }
    }

    fn trainer(args: &[&str]) -> super::TrainerArgs {
        match worker(&[&["trainer"][..], args].concat()).role {
            Role::Trainer(args) => args,
            other => panic!("not the trainer: {other:?}"),
        }
    }

    #[test]
    fn zero_batch_size_is_rejected() {
        let err = rejected(
            embedder(&["--batch-size", "0"])
                .model
                .embedding_model_config(),
            "--batch-size",
            "TICKETFLOW_BATCH_SIZE",
        );
        assert!(err.contains("(got 0)"), "{err}");
    }

    #[test]
    fn trainer_limits_out_of_range_are_rejected() {
        rejected(
            trainer(&["--train-max-rows", "0"]).train.config(),
            "--train-max-rows",
            "TICKETFLOW_TRAIN_MAX_ROWS",
        );
        for bad in ["0", "1.5", "NaN"] {
            let err = rejected(
                trainer(&["--target-precision", bad]).train.config(),
                "--target-precision",
                "TICKETFLOW_TARGET_PRECISION",
            );
            assert!(err.contains("must be in (0, 1]"), "{err}");
        }
        for bad in ["0", "1", "2"] {
            rejected(
                trainer(&["--routing-confidence", bad]).train.config(),
                "--routing-confidence",
                "TICKETFLOW_ROUTING_CONFIDENCE",
            );
        }
        trainer(&["--target-precision", "1", "--train-max-rows", "1"])
            .train
            .config()
            .expect("in range");
    }

    /// Each stage takes its own flags and the shared ones, and rejects another stage's.
    #[test]
    fn a_stage_rejects_another_stages_flags() {
        let shared = ["--nats-url", "nats://n:4222", "--max-attempts", "3"];
        for stage in ["cleaner", "embedder", "indexer", "trainer"] {
            let argv = [&["ticketflow", "worker", stage][..], &shared[..]].concat();
            let args = Cli::try_parse_from(argv).expect("shared flags");
            let Command::Worker(args) = args.command else {
                panic!("not a worker")
            };
            assert_eq!(args.stage().as_str(), stage);
            assert_eq!(args.common().max_attempts, 3);
        }
        embedder(&[
            "--threads",
            "2",
            "--batch-size",
            "8",
            "--reuse-vectors",
            "false",
        ]);
        trainer(&["--model-dir", "m", "--pushgateway-url", "http://p:9091"]);
        trainer(&["--features", "embeddings", "--train-max-rows", "10"]);
        for (stage, flag, value) in [
            ("cleaner", "--batch-size", "8"),
            ("indexer", "--model-dir", "m"),
            ("trainer", "--reuse-vectors", "false"),
            ("trainer", "--threads", "2"),
            ("embedder", "--target-precision", "0.9"),
            ("cleaner", "--pushgateway-url", "http://p:9091"),
        ] {
            let err = Cli::try_parse_from(["ticketflow", "worker", stage, flag, value])
                .expect_err("another stage's flag accepted");
            assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument, "{err}");
            assert!(err.to_string().contains(flag), "{err}");
        }
    }
}
