//! `ticketflow run`: the coordinator. Queues a run and exits (CronJob-friendly), or with
//! `--wait` follows it to the end and prints a summary.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ticketflow_connectors::store::keys;
use ticketflow_coordinator::{SubmitOptions, follow, submit};
use ticketflow_schemas::{Dataset, RunProgress, RunStatus, Stage};
use ticketflow_text::text::EmbedInput;

use super::runs::print_summary;
use super::services::{PushArgs, ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Ticket export: a local CSV/JSONL path or `s3://bucket/key`.
    #[arg(long, short)]
    pub input: String,
    /// Tickets per shard (the unit of work, retry and parallelism).
    #[arg(long, env = "TICKETFLOW_SHARD_SIZE", default_value_t = 500)]
    pub shard_size: u32,
    /// Run id; by default derived from the input's content, so reruns are no-ops.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Follow the run until the trainer finishes, then print a summary.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up when the run makes no progress for this many seconds.
    #[arg(long, default_value_t = 300)]
    pub stall_timeout_secs: u64,
    /// Which text the embedder sees: normalized or cleaned.
    #[arg(long, env = "TICKETFLOW_EMBED_INPUT", default_value_t = EmbedInput::default())]
    pub embed_input: EmbedInput,
    /// Column with ticket ids; default `id`/`ticket_id`, else a content hash.
    #[arg(long, env = "TICKETFLOW_ID_COLUMN")]
    pub id_column: Option<String>,
    /// Rows with a field longer than this many bytes are quarantined.
    #[arg(long, env = "TICKETFLOW_MAX_FIELD_BYTES", default_value_t = ticketflow_text::dataset::DEFAULT_MAX_FIELD_BYTES)]
    pub max_field_bytes: usize,
    /// No record may be longer than this many bytes: bounds the coordinator's memory against an
    /// unclosed CSV quote (a longer CSV record stops the run, a longer JSON line is quarantined).
    #[arg(long, env = "TICKETFLOW_MAX_RECORD_BYTES", default_value_t = ticketflow_text::dataset::DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,
    /// The data set this export belongs to. Models, `latest` and the drift reference are kept
    /// per data set: `make demo` puts its synthetic tickets in `demo`, so they never judge or
    /// serve your own data.
    #[arg(long, env = "TICKETFLOW_DATASET", default_value_t = Dataset::default())]
    pub dataset: Dataset,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub push: PushArgs,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let pushgateway = args.push.pushgateway()?;
    let rt = runtime()?;
    rt.block_on(async move {
        let started = std::time::Instant::now();
        let bus = args.services.bus(false).await?;
        let store = args.services.store()?;
        let opts = SubmitOptions {
            input: args.input.clone(),
            input_s3: args.services.s3.options(),
            shard_size: args.shard_size,
            run_id: args.run_id.clone(),
            embed_input: args.embed_input,
            load: ticketflow_text::dataset::LoadOptions {
                id_column: args.id_column.clone(),
                max_field_bytes: args.max_field_bytes,
                max_record_bytes: args.max_record_bytes,
                format: None,
            },
            dataset: args.dataset.clone(),
        };
        let outcome = submit(&bus, &store, &opts).await?;
        if let Some(gateway) = &pushgateway {
            push_submission(gateway, &outcome, started.elapsed()).await;
        }
        if outcome.published {
            println!(
                "run {} queued: {} tickets in {} shards ({} quarantined: {})",
                outcome.run_id,
                outcome.tickets,
                outcome.shard_count,
                outcome.quarantined,
                keys::quarantine(&outcome.run_id)
            );
        } else {
            println!(
                "run {} already exists for this input ({} tickets, {} shards): nothing to do",
                outcome.run_id, outcome.tickets, outcome.shard_count
            );
        }
        if !args.wait {
            return Ok(());
        }
        let mut bars = Bars::new(outcome.shard_count);
        let progress = follow(
            &bus,
            &outcome.run_id,
            Duration::from_secs(args.stall_timeout_secs),
            |p| bars.update(p),
        )
        .await?;
        bars.finish();
        print_summary(&bus, &store, &args.services, &outcome.run_id).await?;
        if progress.status() == RunStatus::CompletedWithErrors {
            anyhow::bail!(
                "run {} completed with errors: {} dead shard(s) (see `ticketflow runs show {}`)",
                outcome.run_id,
                progress.dead.len(),
                outcome.run_id
            );
        }
        Ok(())
    })
}

/// One bar per stage on a terminal; a log line per change elsewhere.
struct Bars {
    multi: Option<(MultiProgress, [ProgressBar; 3])>,
}

impl Bars {
    fn new(shards: u32) -> Self {
        let multi = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::new();
            let style = ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} shards")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            let make = |name: &str| {
                let bar = multi.add(ProgressBar::new(u64::from(shards)));
                bar.set_style(style.clone());
                bar.set_prefix(name.to_string());
                bar
            };
            let bars = [make("cleaned"), make("embedded"), make("indexed")];
            (multi, bars)
        });
        Self { multi }
    }

    fn update(&mut self, p: &RunProgress) {
        let counts = [Stage::Cleaner, Stage::Embedder, Stage::Indexer].map(|st| p.done_count(st));
        match &self.multi {
            Some((_, bars)) => {
                for (bar, n) in bars.iter().zip(counts) {
                    bar.set_position(n as u64);
                }
            }
            None => tracing::info!(
                run_id = %p.run_id,
                cleaned = counts[0],
                embedded = counts[1],
                indexed = counts[2],
                dead = p.dead.len(),
                shards = p.shard_count,
                "progress"
            ),
        }
    }

    fn finish(&self) {
        if let Some((multi, bars)) = &self.multi {
            for bar in bars {
                bar.finish();
            }
            let _ = multi.clear();
        }
    }
}

/// The coordinator is a batch job (a CronJob in production): its numbers go to the Pushgateway.
async fn push_submission(
    gateway: &ticketflow_telemetry::Pushgateway,
    outcome: &ticketflow_coordinator::SubmitOutcome,
    took: Duration,
) {
    let mut m = ticketflow_telemetry::BatchMetrics::new();
    let run = [("run_id", outcome.run_id.as_str())];
    m.gauge(
        "ticketflow_coordinator_run_shards",
        "Shards in the run the coordinator submitted.",
        &run,
        f64::from(outcome.shard_count),
    );
    m.gauge(
        "ticketflow_coordinator_run_tickets",
        "Tickets accepted into the run.",
        &run,
        outcome.tickets as f64,
    );
    m.gauge(
        "ticketflow_coordinator_duration_seconds",
        "Time to read, validate, shard and queue the input.",
        &run,
        took.as_secs_f64(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    m.gauge(
        "ticketflow_coordinator_last_success_timestamp_seconds",
        "When the coordinator last submitted a run successfully.",
        &[],
        now,
    );
    if let Err(e) = gateway.push("ticketflow_coordinator", &m).await {
        tracing::warn!(error = %e, "pushing coordinator metrics failed");
    }
}
