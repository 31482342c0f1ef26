//! `ticketflow features --run ID --out features.csv`: a run's per-ticket feature table, the
//! input of the drift statistics, as CSV so anyone can recompute them elsewhere.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ticketflow_connectors::store::keys;

use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// A run the trainer has finished (see `ticketflow runs list`).
    #[arg(long)]
    pub run: String,
    /// Where to write the CSV.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub services: ServiceArgs,
}

pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let store = args.services.store()?;
    let key = keys::features(&args.run);
    let bytes = runtime()?.block_on(store.get(&key)).with_context(|| {
        format!(
            "run {} has no feature table at {key} in {} (has the trainer finished it?)",
            args.run,
            store.describe()
        )
    })?;
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let rows = bytes
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    println!(
        "wrote {rows} feature rows of run {} to {}",
        args.run,
        args.out.display()
    );
    Ok(())
}
