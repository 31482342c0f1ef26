//! The command line (clap): options, defaults and how relative paths are resolved.

use std::path::{Path, PathBuf};

use clap::Parser;
use ticketflow_analytics::classify::FeatureSet;

/// Cross-validated accuracy of the ticket-type classifier (docs/accuracy.md). Relative paths
/// are resolved from the workspace root.
#[derive(Debug, Parser)]
#[command(name = "accuracy")]
pub struct Args {
    /// Labelled tickets.
    #[arg(long = "data", default_value = "../shared/data/tickets_dev.csv")]
    pub data_name: String,
    /// `.npy` from `ticketflow embed` on the same file.
    #[arg(long = "embeddings", default_value = "var/bench/dev.npy")]
    pub embeddings_name: String,
    /// JSON results.
    #[arg(long = "out", default_value = "var/bench/accuracy.json")]
    pub out_name: String,
    /// `--data`, `--embeddings` and `--out` resolved from the workspace root.
    #[arg(skip)]
    pub data: PathBuf,
    #[arg(skip)]
    pub embeddings: PathBuf,
    #[arg(skip)]
    pub out: PathBuf,
    /// Split and fold seed.
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Worker threads (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Override the logistic-regression L2 penalty (feature-set grid only).
    #[arg(long)]
    pub l2: Option<f64>,
    /// Grid: run only this feature set (repeatable; e.g. embeddings+lexical).
    #[arg(long, value_parser = parse_feature_set)]
    pub only: Vec<FeatureSet>,
    /// Skip the feature-set grid and the kNN vote.
    #[arg(long = "no-grid", action = clap::ArgAction::SetFalse)]
    pub grid: bool,
    /// Skip the default sweep and its seed check.
    #[arg(long = "no-sweep", action = clap::ArgAction::SetFalse)]
    pub sweep: bool,
    /// Also train on all rows and test on this other labelled file: CSV NPY.
    #[arg(long = "unseen", num_args = 2, value_names = ["CSV", "NPY"])]
    unseen_names: Vec<String>,
    /// `--unseen` resolved: (file, embeddings, the file as given).
    #[arg(skip)]
    pub unseen: Option<(PathBuf, PathBuf, String)>,
    /// Only cross-validate the default with these overrides (repeatable), e.g.
    /// 'logistic.l2=3e-5,neighbours.enabled=false,model=lr'.
    #[arg(long = "try")]
    pub tries: Vec<String>,
    /// With --try: also score each on the N held-out id-hash splits of bench-routing.
    #[arg(long, default_value_t = 0)]
    pub holdout_splits: u64,
    /// With --holdout-splits: compare with scripts/reference_tfidf_lr.py's JSON.
    #[arg(long, value_parser = parse_path)]
    pub reference: Option<PathBuf>,
}

/// The workspace root, fixed at build time, so relative paths mean the same whatever directory
/// the example is started from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `path` as given if absolute, else taken from the workspace root.
fn resolve(path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        workspace_root().join(path)
    }
}

fn parse_path(value: &str) -> Result<PathBuf, String> {
    Ok(resolve(value))
}

fn parse_feature_set(value: &str) -> Result<FeatureSet, String> {
    FeatureSet::parse(value).map_err(|e| e.to_string())
}

/// The process's arguments, paths resolved; exits with clap's message on bad input or `--help`.
pub fn parse_args() -> Args {
    let mut args = Args::parse();
    args.data = resolve(&args.data_name);
    args.embeddings = resolve(&args.embeddings_name);
    args.out = resolve(&args.out_name);
    if let [name, npy] = args.unseen_names.as_slice() {
        args.unseen = Some((resolve(name), resolve(npy), name.clone()));
    }
    args
}
