//! `ticketflow generate`: reproducible synthetic tickets (for the demo and load tests).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ticketflow_text::synth::GenOptions;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of tickets.
    #[arg(long, default_value_t = 1_000)]
    pub rows: u64,
    /// Seed; the same seed always gives the same file.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output CSV (columns: id, subject, body, type, queue, priority, language).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Share of tickets that exactly repeat an earlier one (same text and fields, their own id),
    /// as real exports do; between 0 and 1.
    #[arg(long, default_value_t = GenOptions::DEFAULT_REPEAT_SHARE)]
    pub repeat_share: f64,
    /// Short tickets (a subject and one sentence with a detail; about 60 % of the characters):
    /// load tests that must bound the embedder's time. Texts stay distinct.
    #[arg(long)]
    pub short: bool,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.repeat_share) {
        anyhow::bail!(
            "--repeat-share must be between 0 and 1, got {}",
            args.repeat_share
        );
    }
    let options = GenOptions {
        repeat_share: args.repeat_share,
        short: args.short,
    };
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    ticketflow_text::synth::write_csv_with(
        std::io::BufWriter::new(file),
        args.seed,
        args.rows,
        &options,
    )
    .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "generated {} tickets into {}",
        args.rows,
        args.output.display()
    );
    Ok(())
}
