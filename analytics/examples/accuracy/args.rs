//! The command line: options, defaults and how relative paths are resolved.

use std::path::{Path, PathBuf};

use ticketflow_analytics::classify::FeatureSet;

const USAGE: &str = "\
usage: cargo run --release -p ticketflow-analytics --example accuracy -- [options]
  --data FILE         labelled tickets (default ../shared/data/tickets_dev.csv)
  --embeddings FILE   .npy from `ticketflow embed` on the same file (default var/bench/dev.npy)
  --seed N            split and fold seed (default 13)
  --folds K           cross-validation folds (default 5)
  --out FILE          JSON results (default var/bench/accuracy.json)
  --threads N         worker threads (default: all cores)
  --l2 X              override the logistic-regression L2 penalty (feature-set grid only)
  --only FEATURES     grid: run only this feature set (repeatable; e.g. embeddings+lexical)
  --no-grid           skip the feature-set grid and the kNN vote
  --no-sweep          skip the default sweep and its seed check
  --unseen CSV NPY    also train on all rows and test on this other labelled file
  --try SPEC          only cross-validate the default with these overrides (repeatable), e.g.
                      'logistic.l2=3e-5,neighbours.enabled=false,model=lr'
  --holdout-splits N  with --try: also score each on the N held-out splits of bench-routing
  --reference FILE    with --holdout-splits: compare with scripts/reference_tfidf_lr.py's JSON
relative paths are resolved from the workspace root";

pub struct Args {
    pub data: PathBuf,
    pub embeddings: PathBuf,
    /// `--data`, `--embeddings` and `--out` as given, for the report.
    pub data_name: String,
    pub embeddings_name: String,
    pub out_name: String,
    pub out: PathBuf,
    pub seed: u64,
    pub folds: usize,
    pub threads: usize,
    pub l2: Option<f64>,
    pub only: Vec<FeatureSet>,
    pub grid: bool,
    pub sweep: bool,
    /// Another labelled file (and its embeddings) to test the full-data model on.
    pub unseen: Option<(PathBuf, PathBuf, String)>,
    /// `--try` specs: when given, only these are cross-validated.
    pub tries: Vec<String>,
    /// `--holdout-splits`: bench-routing's id-hash splits each `--try` is also scored on.
    pub holdout_splits: u64,
    /// The scikit-learn reference's JSON, to compare per split.
    pub reference: Option<PathBuf>,
}

/// The workspace root, fixed at build time, so relative paths mean the same whatever directory
/// the example is started from.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `path` as given if absolute, else taken from the workspace root.
fn resolve(path: String) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        workspace_root().join(path)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag}: {e}"))
}

impl Default for Args {
    fn default() -> Self {
        Args {
            data: resolve("../shared/data/tickets_dev.csv".into()),
            embeddings: resolve("var/bench/dev.npy".into()),
            data_name: "../shared/data/tickets_dev.csv".into(),
            embeddings_name: "var/bench/dev.npy".into(),
            out_name: "var/bench/accuracy.json".into(),
            out: resolve("var/bench/accuracy.json".into()),
            seed: 13,
            folds: 5,
            threads: 0,
            l2: None,
            only: Vec::new(),
            grid: true,
            sweep: true,
            unseen: None,
            tries: Vec::new(),
            holdout_splits: 0,
            reference: None,
        }
    }
}

/// The process's arguments; `Err` holds the message to print (the usage for `--help`).
pub fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        apply(&mut args, &flag, &mut value)?;
    }
    Ok(args)
}

/// Applies one flag, taking its value(s) from `value`.
fn apply(
    args: &mut Args,
    flag: &str,
    value: &mut dyn FnMut() -> Result<String, String>,
) -> Result<(), String> {
    match flag {
        "--data" => {
            args.data_name = value()?;
            args.data = resolve(args.data_name.clone());
        }
        "--embeddings" => {
            args.embeddings_name = value()?;
            args.embeddings = resolve(args.embeddings_name.clone());
        }
        "--out" => {
            args.out_name = value()?;
            args.out = resolve(args.out_name.clone());
        }
        "--seed" => args.seed = number(flag, value()?)?,
        "--folds" => args.folds = number(flag, value()?)?,
        "--threads" => args.threads = number(flag, value()?)?,
        "--l2" => args.l2 = Some(number(flag, value()?)?),
        "--only" => args
            .only
            .push(FeatureSet::parse(&value()?).map_err(|e| format!("--only: {e}"))?),
        "--no-grid" => args.grid = false,
        "--no-sweep" => args.sweep = false,
        "--try" => args.tries.push(value()?),
        "--holdout-splits" => args.holdout_splits = number(flag, value()?)?,
        "--reference" => args.reference = Some(resolve(value()?)),
        "--unseen" => {
            let name = value()?;
            let data = resolve(name.clone());
            let npy = resolve(value()?);
            args.unseen = Some((data, npy, name));
        }
        "-h" | "--help" => return Err(USAGE.to_owned()),
        other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
    }
    Ok(())
}
