//! `ticketflow vectors gc`: deletes the reusable vectors nothing needs any more.
//!
//! The embedders keep every vector they make under `vectors/{model digest}-{precision}/` so a
//! later run can reuse it (`ticketflow_workers::vector_cache`). Nothing there is ever needed for
//! correctness (a missing vector is embedded again), so gc trades storage for re-embedding:
//!
//! - `--keep-model DIGEST[-PRECISION]` (repeatable) and/or `--keep-current` (the model the
//!   embedder's settings load: `TICKETFLOW_MODEL_DIR`, `TICKETFLOW_PRECISION`, ...): every
//!   other model's space is deleted whole;
//! - `--unused-days N`: in the spaces kept, segments no shard used in the last N days go.
//!
//! `--dry-run` prints what would go. Run it when no deployment of an old model still embeds
//! (its space would only come back), e.g. as a weekly job after the daily run.

use clap::{Args, Subcommand};
use ticketflow_embed::EmbeddingModel;
use ticketflow_workers::vector_cache::Day;
use ticketflow_workers::vector_cache::gc::{GcReport, GcRules, GcStep, SpaceAction, gc};

use super::ModelArgs;
use super::progress::Progress;
use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct VectorsArgs {
    #[command(subcommand)]
    pub command: VectorsCommand,
}

#[derive(Debug, Subcommand)]
pub enum VectorsCommand {
    /// Delete other models' vector spaces and segments unused for N days.
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep this model's space: its digest (the embedder logs it at start, "embedding model
    /// loaded") or DIGEST-PRECISION. Repeatable. Other models' spaces are deleted.
    #[arg(long = "keep-model", value_name = "DIGEST")]
    pub keep_models: Vec<String>,
    /// Keep the space of the model the embedder settings load (--model-dir, --precision, ...;
    /// the same TICKETFLOW_* variables as the embedder). Loads the model to compute its digest.
    #[arg(long)]
    pub keep_current: bool,
    /// In the spaces kept, delete segments no shard used (read a vector from, or wrote) in the
    /// last N days, today included. Needs N days of recorded use; younger spaces lose nothing.
    #[arg(long, value_name = "N")]
    pub unused_days: Option<u32>,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The day to count from, YYYY-MM-DD (UTC); default today.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
    #[command(flatten)]
    pub services: ServiceArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: VectorsArgs) -> anyhow::Result<()> {
    match args.command {
        VectorsCommand::Gc(gc_args) => run_gc(gc_args),
    }
}

fn run_gc(args: GcArgs) -> anyhow::Result<()> {
    let today = match &args.today {
        Some(day) => day
            .parse::<Day>()
            .map_err(|e| anyhow::anyhow!("--today: {e}"))?,
        None => Day::today(),
    };
    let mut keep_models = args.keep_models.clone();
    if args.keep_current {
        let model = EmbeddingModel::new(&args.model.embedding_model_config()?).map_err(|e| {
            anyhow::anyhow!("--keep-current: loading the embedder's model to find its digest: {e}")
        })?;
        let current = format!("{}-{}", model.digest(), model.precision());
        eprintln!("keeping the current model's space: vectors/{current}");
        keep_models.push(current);
    }
    let rules = GcRules {
        keep_models,
        unused_days: args.unused_days,
        dry_run: args.dry_run,
        today,
    };
    let store = args.services.store()?;
    let report = runtime()?.block_on(async move {
        let mut bar: Option<Progress> = None;
        let mut progress = |step: GcStep<'_>| match step {
            GcStep::Space { space } => tracing::info!(space, "vector space"),
            GcStep::Begin { what, total } => bar = Some(Progress::new(total, what)),
            GcStep::Advance(n) => {
                if let Some(bar) = &mut bar {
                    bar.inc(n as usize);
                }
            }
            GcStep::End => {
                if let Some(bar) = bar.take() {
                    bar.finish();
                }
            }
        };
        gc(&store, &rules, &mut progress).await
    });
    let report =
        report.map_err(|e| anyhow::anyhow!("vectors gc on {}: {e}", args.services.store))?;
    print_report(&report, &args.services.store);
    Ok(())
}

fn print_report(report: &GcReport, store: &str) {
    if report.spaces.is_empty() {
        println!("no vector spaces under {store}/vectors: nothing to do");
        return;
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut objects = 0;
    for s in &report.spaces {
        objects += s.objects_deleted;
        let what = match s.action {
            SpaceAction::Deleted => format!(
                "other model: {verb} the whole space ({} objects, {} segments)",
                s.objects_deleted, s.segments
            ),
            SpaceAction::Pruned => format!(
                "kept; {} segments, {verb} {} unused ({} objects with markers, index runs and old use records)",
                s.segments, s.segments_deleted, s.objects_deleted
            ),
            SpaceAction::Kept => "kept as it is".to_string(),
        };
        println!("{:<36} {what}", s.space);
        for note in &s.notes {
            println!("{:<36}   note: {note}", "");
        }
    }
    if report.dry_run {
        println!("dry run: nothing deleted; without --dry-run, {objects} objects would go");
    } else {
        println!("{objects} objects deleted");
    }
}
