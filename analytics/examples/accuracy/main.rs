//! Accuracy experiment for the ticket-type classifier: which features, which lexical settings and
//! regularisation, how well calibrated, and how many tickets can be routed at 0.85 precision.
//!
//! ```text
//! cargo run --release -p ticketflow-analytics --example accuracy -- \
//!     --data ../shared/data/tickets_dev.csv --embeddings var/bench/dev.npy \
//!     [--seed 13] [--folds 5] [--out var/bench/accuracy.json] [--threads N] [--l2 X] \
//!     [--no-grid] [--no-sweep] [--try SPEC]...
//! ```
//!
//! Relative paths are taken from the workspace root (where that command is typed) whatever the
//! current directory (see `args.rs`).
//!
//! The experiment does not embed: it reads a matrix made by
//! `ticketflow embed --input FILE --output X.npy`, whose side file `X.rows.csv`
//! (`index,row,id`) says which input row each matrix row is. Tickets are aligned by row number and
//! their ids are checked, so a matrix made from another file is refused rather than misused.
//!
//! What it measures, all with seeded stratified k-fold cross-validation on **all** labelled rows
//! unless said otherwise:
//!
//! 1. **Feature sets** (skipped by `--no-grid`): each feature set × model (the forest only on
//!    dense feature sets) with the trainer's default settings, plus the classic baseline, TF-IDF
//!    of the cleaned tokens' word 1–2-grams + logistic regression, and a kNN vote on the
//!    embeddings.
//! 2. **The default sweep** (skipped by `--no-sweep`): embeddings+metadata+lexical with logistic
//!    regression, starting from the previous default and changing one axis at a time, keeping the
//!    best value of each axis before moving to the next (coordinate search): lexical source
//!    (cleaned tokens vs the raw lower-cased text with stop words), term weighting (sublinear or
//!    raw TF, IDF on or off), `min_df`, word n-gram length, character n-gram range, and the L2
//!    penalty. "Best" is the higher mean macro-F1; equal at three decimals, the higher coverage
//!    at 0.85 precision (calibrated). The sweep's winner is compared with `TrainConfig::default()`,
//!    which should be it, and both are re-run at two other seeds.
//! 3. **Held out**: the default is trained the way the trainer does it (`train_and_select` on a
//!    stratified 80%) and evaluated once on the other 20%, next to the previous default and the
//!    baseline fitted on the same 80%. The full report (per class, confusion matrix, reliability)
//!    is printed, with the most confused pair of types and a few held-out tickets it got wrong.
//!
//! For every cross-validated configuration the out-of-fold predictions (each row predicted by
//! the model that did not see it) also give:
//!
//! - **calibration**: expected calibration error (ECE, 10 bins) and log-loss of the raw
//!   probabilities, and after temperature scaling (`classify::fit_temperature`). The temperature
//!   is *cross-fitted*: each fold's predictions are scaled with a T fitted on the other folds'
//!   out-of-fold predictions, so no row is calibrated with a T that saw it. The T column is the
//!   one fitted on all out-of-fold predictions (what a trainer would ship).
//! - **coverage at 0.85 precision**: the share of tickets whose top-class probability clears the
//!   lowest threshold at which the routed tickets reach weighted precision 0.85
//!   (`classify::choose_threshold`, at least 50 routed), on the raw and on the calibrated
//!   probabilities. This threshold is chosen on the same predictions it is scored on, so it is
//!   a slightly optimistic estimate; the held-out section instead picks it on the 80%'s
//!   out-of-fold predictions and applies it, unchanged, to the 20%.
//!
//! 4. **Experiments** (`--try SPEC`, repeatable; then nothing else runs): cross-validation of
//!    `TrainConfig::default()` with the overrides of each SPEC, comma-separated `path=value`
//!    pairs over the config's JSON (`logistic.l2=3e-5,neighbours.weight=2`; values are JSON, or
//!    plain strings), plus `model=rf`. `default` or an empty SPEC is the default itself. Each
//!    gives one row of the feature-set table. With `--holdout-splits N`, each is also fitted
//!    and scored on the held-out 20% of the N id-hash splits of `make bench-routing` (salt
//!    `bench-routing-{i}`), fitted on the rows the trainer fits its model on there (the other
//!    80% less the trainer's own id-hash held-out part): the `macro_f1` of `routing.json`, one
//!    fit per split instead of a whole `train_and_select`. `--reference FILE` (the JSON of
//!    `scripts/reference_tfidf_lr.py`) adds the scikit-learn reference's per-split differences.
//!
//! Results go to stdout as Markdown and to `--out` as JSON. Missing data or embeddings skip the
//! run with a message (exit code 0), so it also works on machines without the data.
//!
//! Layout: `args.rs` (command line), `data.rs` (loading, JSON output), `configs.rs` (the compared
//! configurations, `--try` specs), `measure.rs` (one cross-validated row), `grid.rs` (1),
//! `sweep.rs` (2), `holdout.rs` and `routing.rs` (3), `unseen.rs` (`--unseen`), `experiments.rs`
//! (4), `report.rs` (the JSON results).

mod args;
mod configs;
mod data;
mod experiments;
mod grid;
mod holdout;
mod measure;
mod report;
mod routing;
mod sweep;
mod unseen;

use std::process::ExitCode;
use std::time::Instant;

use args::{Args, parse_args};
use configs::previous_default;
use data::{Labelled, load, write_json};
use report::{Results, Sections};
use ticketflow_analytics::classify::TrainConfig;
use unseen::{Defaults, Unseen};

fn main() -> ExitCode {
    let args = parse_args();
    if !inputs_exist(&args) {
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("accuracy experiment failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the data, the embeddings and their row map exist; says what is missing if not.
fn inputs_exist(args: &Args) -> bool {
    let rows_csv = args.embeddings.with_extension("rows.csv");
    for (what, path) in [
        ("data", &args.data),
        ("embeddings", &args.embeddings),
        ("row map", &rows_csv),
    ] {
        if !path.exists() {
            println!(
                "accuracy experiment skipped: {what} file {} not found.\n\
                 It needs the dev data (../shared/data/) and its embeddings, made once with\n  \
                 target/release/ticketflow embed --input ../shared/data/tickets_dev.csv --output var/bench/dev.npy",
                path.display()
            );
            return false;
        }
    }
    true
}

/// `--try`, or else every section in order, then the JSON results.
fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let data = load(&args.data, &args.embeddings)?;
    if !args.tries.is_empty() {
        return experiments::run(args, &data);
    }
    report::print_intro(args, data.labels.len());
    let base = configs::base(args);
    let previous = previous_default(&base);
    let grid = if args.grid {
        Some(grid::run(args, &data, &base)?)
    } else {
        None
    };
    let sweep = if args.sweep {
        Some(sweep::run(&data, args.seed, &previous, &base)?)
    } else {
        None
    };
    let held = holdout::run(&data, &base, &previous)?;
    routing::print_shipped(&held, &base);
    routing::print_curve(&held, &args.out)?;
    let unseen = unseen(args, &data, &held, &base, &previous)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("\nTotal {seconds:.0}s.");
    let sections = Sections {
        labelled_rows: data.labels.len(),
        default_config: base,
        previous_default_config: previous,
        grid,
        sweep,
        held,
        unseen,
        seconds,
    };
    write_json(&args.out, &Results::new(args, sections))?;
    println!("JSON written to {}", args.out_name);
    Ok(())
}

/// The `--unseen` section, when asked for.
fn unseen(
    args: &Args,
    data: &Labelled,
    held: &holdout::HeldOut,
    base: &TrainConfig,
    previous: &TrainConfig,
) -> Result<Option<unseen::UnseenResult>, String> {
    let Some((file, npy, name)) = &args.unseen else {
        return Ok(None);
    };
    let file = Unseen {
        data: file,
        embeddings: npy,
        name,
    };
    let defaults = Defaults {
        chosen: held.report.chosen,
        cfg: base,
        previous,
    };
    unseen::run(data, &file, &defaults).map(Some)
}
