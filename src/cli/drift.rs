//! `ticketflow drift`: compare two runs (or two feature tables) and write the report.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ticketflow_analytics::drift::DriftOptions;
use ticketflow_analytics::drift::feature_table::read_csv;
use ticketflow_analytics::drift::report_page::render_drift_report;
use ticketflow_connectors::store::keys;
use ticketflow_lifecycle::run::read::{DriftSide, drift_report, run_embeddings, run_features};

use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// A finished run id, or a feature-table CSV (as `ticketflow features` writes).
    #[arg(long)]
    pub reference: String,
    /// A finished run id, or a feature-table CSV.
    #[arg(long)]
    pub current: String,
    /// Directory for report.html and report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Per-column test/threshold overrides and the dataset share, as JSON
    /// (e.g. `{"drift_share": 0.5, "columns": {"char_count": {"threshold": 0.2}}}`).
    #[arg(long)]
    pub options: Option<PathBuf>,
    #[command(flatten)]
    pub services: ServiceArgs,
}

/// One side: a feature-table CSV, or a finished run (its table and its vectors).
async fn side(spec: &str, services: &ServiceArgs) -> anyhow::Result<DriftSide> {
    let path = Path::new(spec);
    if path.is_file() {
        return Ok(DriftSide {
            name: spec.to_string(),
            rows: read_csv(path)?,
            embeddings: Vec::new(),
        });
    }
    let store = services.store()?;
    if !store.exists(&keys::features(spec)).await? {
        anyhow::bail!(
            "{spec:?} is neither a file nor a run with a feature table in {}",
            store.describe()
        );
    }
    let bus = services.bus(false).await?;
    Ok(DriftSide {
        name: spec.to_string(),
        rows: run_features(&store, spec).await?,
        embeddings: run_embeddings(&store, &bus, spec).await?,
    })
}

pub fn run(args: DriftArgs) -> anyhow::Result<()> {
    let opts: DriftOptions = match &args.options {
        Some(p) => serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}: not valid drift options", p.display()))?,
        None => DriftOptions::default(),
    };
    let rt = runtime()?;
    let (reference, current) = rt.block_on(async {
        anyhow::Ok((
            side(&args.reference, &args.services).await?,
            side(&args.current, &args.services).await?,
        ))
    })?;
    let report = drift_report(&reference, &current, &opts, ticketflow_workers::now_ms());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("report.html"), render_drift_report(&report))?;
    let drifted: Vec<&str> = report
        .columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.column.as_str())
        .collect();
    println!(
        "{}: {} of {} columns drifted{}{}; report in {}",
        if report.dataset.drifted {
            "DATASET DRIFT"
        } else {
            "no dataset drift"
        },
        report.dataset.drifted_columns,
        report.dataset.columns,
        if drifted.is_empty() {
            String::new()
        } else {
            format!(" ({})", drifted.join(", "))
        },
        report.embedding.as_ref().map_or(String::new(), |e| format!(
            ", embedding AUC {:.3}",
            e.domain_classifier_auc
        )),
        args.out.display()
    );
    Ok(())
}
