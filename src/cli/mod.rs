//! Command-line surface: one typed config (flags with `TICKETFLOW_*` environment fallbacks) and
//! one module per command.

mod clean;
mod drift;
mod embed;
mod features;
mod generate;
mod nats_secrets;
mod predict;
mod profile;
mod progress;
mod routing;
mod run;
mod runs;
mod search;
mod services;
mod streams;
mod train;
mod vectors;
mod worker;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ticketflow_embed::{EmbeddingModelConfig, Precision};
use ticketflow_text::dataset::{DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES, LoadOptions};
use ticketflow_text::text::EmbedInput;

/// ticketflow: support-ticket NLP pipeline — clean, embed (all-MiniLM-L6-v2 on ONNX Runtime),
/// index, classify, watch drift.
#[derive(Debug, Parser)]
#[command(name = "ticketflow", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Embed tickets into a float32 .npy matrix [rows, 384], in input row order.
    Embed(embed::EmbedArgs),
    /// Load and prepare tickets (language, cleaned tokens, embedder text) as JSON lines.
    Clean(clean::CleanArgs),
    /// Write reproducible synthetic tickets (for demos and load tests; no real data shipped).
    Generate(generate::GenerateArgs),
    /// Coordinator: validate and shard an input, record the run, queue its shards.
    Run(run::RunArgs),
    /// Run one pipeline stage (cleaner, embedder, indexer, trainer) as a worker.
    Worker(worker::WorkerArgs),
    /// Inspect runs: `runs list`, `runs show ID`.
    Runs(runs::RunsArgs),
    /// JetStream streams and KV buckets: `streams show`, `streams update` (replica counts).
    Streams(streams::StreamsArgs),
    /// A private CA, server and client certificates and an NKey user for a NATS server that
    /// requires TLS and authentication on one host (docker-compose's `nats-secrets` service).
    NatsSecrets(nats_secrets::NatsSecretsArgs),
    /// Nearest tickets to a text, from Chroma.
    Search(search::SearchArgs),
    /// Train, evaluate and register a ticket-type classifier from a completed labelled run.
    Train(train::TrainCommand),
    /// Classify tickets in a file with a registered model (`latest` by default).
    Predict(predict::PredictArgs),
    /// Automatic routing of a data set: `routing status`, `routing suspend`, `routing resume`.
    Routing(routing::RoutingArgs),
    /// Export a run's per-ticket feature table (the input of the drift statistics) as CSV.
    Features(features::FeaturesArgs),
    /// Compare two runs or feature tables: report.html + report.json with Evidently's tests.
    Drift(drift::DriftArgs),
    /// The embedders' reusable vectors: `vectors gc` deletes old models' and unused ones.
    Vectors(vectors::VectorsArgs),
    /// Exploratory profile of a ticket export: distributions, lengths, missing values, duplicates, over-long tickets (HTML + JSON).
    Profile(profile::ProfileArgs),
}

/// Options shared by every command that reads an export.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Ticket export to read: CSV with a header, or JSONL (by extension .jsonl/.ndjson).
    #[arg(long, short)]
    pub input: PathBuf,
    /// Column with ticket ids; by default `id` or `ticket_id` when present, else a content hash.
    #[arg(long, env = "TICKETFLOW_ID_COLUMN")]
    pub id_column: Option<String>,
    /// Rows with any field longer than this many bytes are quarantined.
    #[arg(long, env = "TICKETFLOW_MAX_FIELD_BYTES", default_value_t = DEFAULT_MAX_FIELD_BYTES)]
    pub max_field_bytes: usize,
    /// No record may be longer than this many bytes (at least --max-field-bytes; an unclosed
    /// CSV quote would read the rest of the file into one): a longer CSV record stops the load,
    /// a longer JSON line is quarantined.
    #[arg(long, env = "TICKETFLOW_MAX_RECORD_BYTES", default_value_t = DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// Where quarantined rows go (JSON lines); default: next to the output, `.quarantine.jsonl`.
    #[arg(long)]
    pub quarantine: Option<PathBuf>,
}

impl InputArgs {
    /// Writes the quarantined rows to `--quarantine`, or next to `output` as
    /// `<stem>.quarantine.jsonl`, and says so when there are any.
    pub fn write_quarantine(
        &self,
        output: &std::path::Path,
        rows: &[ticketflow_text::dataset::Quarantined],
    ) -> anyhow::Result<PathBuf> {
        let path = self
            .quarantine
            .clone()
            .unwrap_or_else(|| side_file(output, "quarantine.jsonl"));
        ticketflow_text::dataset::write_quarantine(&path, rows)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        if !rows.is_empty() {
            tracing::warn!(count = rows.len(), file = %path.display(), "rows quarantined");
        }
        Ok(path)
    }

    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            id_column: self.id_column.clone(),
            max_field_bytes: self.max_field_bytes,
            max_record_bytes: self.max_record_bytes,
            format: None,
        }
    }
}

/// Where `make setup` exports the model.
const DEFAULT_MODEL_DIR: &str = "var/models/all-minilm-l6-v2";

/// The model directory alone, for commands that need only its tokenizer (token counts of the
/// profile): the same `--model-dir` as the embedder's.
#[derive(Debug, Clone, Args)]
pub struct TokenizerArgs {
    /// Directory holding the model's tokenizer.json (made by `make setup`), for token counts.
    #[arg(long, env = "TICKETFLOW_MODEL_DIR", default_value = DEFAULT_MODEL_DIR)]
    pub model_dir: PathBuf,
}

/// Model and inference settings.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Directory holding the model graphs and tokenizer.json (made by `make setup`).
    #[arg(long, env = "TICKETFLOW_MODEL_DIR", default_value = DEFAULT_MODEL_DIR)]
    pub model_dir: PathBuf,
    /// ONNX Runtime shared library (setup links the one from the onnxruntime wheel here).
    #[arg(
        long,
        env = "ORT_DYLIB_PATH",
        default_value = "var/lib/libonnxruntime.so"
    )]
    pub ort_lib: PathBuf,
    /// Model precision: `fp32` (model.fused.onnx; matches sentence-transformers) or `int8`
    /// (model.int8.onnx, dynamically quantised: about 2.2x faster on CPUs with AVX-512 VNNI,
    /// median cosine 0.994 to fp32, and batch-dependent; see docs/benchmarks.md). Vectors of
    /// different precisions should not be mixed in one index or classifier.
    #[arg(long, env = "TICKETFLOW_PRECISION", default_value_t = Precision::default())]
    pub precision: Precision,
    /// Run this ONNX file (relative to --model-dir) instead of the one --precision selects; for
    /// comparing graphs.
    #[arg(long, env = "TICKETFLOW_MODEL_FILE")]
    pub model_file: Option<PathBuf>,
    /// Texts per inference call.
    #[arg(long, env = "TICKETFLOW_BATCH_SIZE", default_value_t = 16)]
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads; 0 = one per physical core.
    #[arg(long, env = "TICKETFLOW_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Which text the embedder sees: `normalized` (lightly normalised subject + body) or
    /// `cleaned` (lowercased tokens without stop words, as the original notebook did).
    #[arg(long, env = "TICKETFLOW_EMBED_INPUT", default_value_t = EmbedInput::default())]
    pub embed_input: EmbedInput,
}

impl ModelArgs {
    pub fn embedding_model_config(&self) -> anyhow::Result<EmbeddingModelConfig> {
        Ok(EmbeddingModelConfig {
            batch_size: in_range(
                "--batch-size",
                "TICKETFLOW_BATCH_SIZE",
                self.batch_size,
                1..,
            )?,
            intra_threads: self.threads,
            precision: self.precision,
            model_file: self.model_file.clone(),
            ..EmbeddingModelConfig::new(&self.model_dir, &self.ort_lib)
        })
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Run(args) => run::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Streams(args) => streams::run(args),
        Command::NatsSecrets(args) => nats_secrets::run(args),
        Command::Search(args) => search::run(args),
        Command::Train(args) => train::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Routing(args) => routing::run(args),
        Command::Features(args) => features::run(args),
        Command::Drift(args) => drift::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Vectors(args) => vectors::run(args),
    }
}

impl Cli {
    /// The OpenTelemetry `service.name` of this process (`OTEL_SERVICE_NAME` overrides it): one
    /// per pipeline role, so a trace view shows which process did what.
    pub fn service_name(&self) -> &'static str {
        match &self.command {
            Command::Run(_) => "ticketflow-coordinator",
            Command::Worker(args) => match args.stage() {
                ticketflow_schemas::Stage::Cleaner => "ticketflow-cleaner",
                ticketflow_schemas::Stage::Embedder => "ticketflow-embedder",
                ticketflow_schemas::Stage::Indexer => "ticketflow-indexer",
                ticketflow_schemas::Stage::Trainer => "ticketflow-trainer",
            },
            _ => "ticketflow-cli",
        }
    }
}

/// Logs and traces (see `ticketflow_telemetry::subscriber`). Logs go to stderr so stdout stays
/// clean for data: JSON lines unless stderr is a terminal (`TICKETFLOW_LOG_FORMAT=json|text`
/// decides otherwise), filtered by `RUST_LOG` (default `info,ort=warn`). Spans are exported
/// over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Keep the guard until the process
/// exits: dropping it flushes the spans.
pub fn init_logging(service_name: &str) -> ticketflow_telemetry::TelemetryGuard {
    ticketflow_telemetry::init(&ticketflow_telemetry::InitOptions {
        service_name,
        service_version: env!("CARGO_PKG_VERSION"),
        default_filter: "info,ort=warn",
    })
}

/// `value` of the setting `flag` (environment variable `env`) when it lies in `range`, else an
/// error that names both, the allowed range and the value given: settings out of range are
/// rejected, never silently raised or lowered to the nearest allowed value. NaN is in no range.
pub fn in_range<T, R>(flag: &str, env: &str, value: T, range: R) -> anyhow::Result<T>
where
    T: PartialOrd + std::fmt::Display,
    R: std::ops::RangeBounds<T>,
{
    use std::ops::Bound::{Excluded, Included, Unbounded};
    if range.contains(&value) {
        return Ok(value);
    }
    let allowed = match (range.start_bound(), range.end_bound()) {
        (Included(lo), Unbounded) => format!("at least {lo}"),
        (Excluded(lo), Unbounded) => format!("greater than {lo}"),
        (Unbounded, Included(hi)) => format!("at most {hi}"),
        (Unbounded, Excluded(hi)) => format!("less than {hi}"),
        (Included(lo), Included(hi)) => format!("between {lo} and {hi}"),
        (lo, hi) => {
            let lo = match lo {
                Included(lo) => format!("[{lo}"),
                Excluded(lo) => format!("({lo}"),
                Unbounded => "(-inf".to_string(),
            };
            let hi = match hi {
                Included(hi) => format!("{hi}]"),
                Excluded(hi) => format!("{hi})"),
                Unbounded => "inf)".to_string(),
            };
            format!("in {lo}, {hi}")
        }
    };
    anyhow::bail!("{flag} ({env}) must be {allowed} (got {value})")
}

/// `out.npy` -> `out.<suffix>`, the convention for side files of an output.
pub fn side_file(output: &std::path::Path, suffix: &str) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = format!("{}.{suffix}", stem.as_deref().unwrap_or("output"));
    output.with_file_name(name)
}
