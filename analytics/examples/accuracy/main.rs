//! Accuracy benchmark of the ticket-type classifier: which features, which lexical settings and
//! regularisation, how well calibrated, and how many tickets can be routed at 0.85 precision.
//!
//! ```text
//! cargo bench -p ticketflow-analytics --bench accuracy -- \
//!     --data ../shared/data/tickets_dev.csv --embeddings var/bench/dev.npy \
//!     [--seed 13] [--folds 5] [--out var/bench/accuracy.json] [--threads N] [--l2 X] \
//!     [--no-grid] [--no-sweep] [--try SPEC]...
//! ```
//!
//! Relative paths are taken from the workspace root (where that command is typed), although
//! cargo runs benches from `analytics/`.
//!
//! The benchmark does not embed: it reads a matrix made by
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
//! benchmark with a message (exit code 0), so `cargo bench` works on machines without the data.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;
use ticketflow_analytics::classify::routing::{curve_svg, precision_coverage_curve, routed_at};
use ticketflow_analytics::classify::{
    BlockWeights, CandidateReport, Classifier, CrossValidation, Evaluation, Example, FeatureSet,
    LexicalConfig, LexicalSource, LogisticConfig, ModelKind, NeighbourConfig, SplitRule,
    ThresholdChoice, TrainConfig, TrainReport, apply_temperature, choose_threshold,
    cross_validate_oof, evaluate, fit_temperature, log_loss, stratified_kfold, stratified_split,
    train_and_select,
};
use ticketflow_analytics::embedded::load_embedded;
use ticketflow_schemas::Ticket;

const USAGE: &str = "\
usage: cargo bench -p ticketflow-analytics --bench accuracy -- [options]
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

/// Weighted precision the routing threshold must reach.
const TARGET_PRECISION: f64 = 0.85;
/// Fewest tickets a threshold may route: fewer would owe their precision to luck.
const MIN_ROUTED: usize = 50;
/// Seeds the sweep's winner and the previous default are re-run at, besides `--seed`.
const CHECK_SEEDS: [u64; 2] = [7, 21];

struct Args {
    data: PathBuf,
    embeddings: PathBuf,
    /// `--data`, `--embeddings` and `--out` as given, for the report.
    data_name: String,
    embeddings_name: String,
    out_name: String,
    out: PathBuf,
    seed: u64,
    folds: usize,
    threads: usize,
    l2: Option<f64>,
    only: Vec<FeatureSet>,
    grid: bool,
    sweep: bool,
    /// Another labelled file (and its embeddings) to test the full-data model on.
    unseen: Option<(PathBuf, PathBuf, String)>,
    /// `--try` specs: when given, only these are cross-validated.
    tries: Vec<String>,
    /// `--holdout-splits`: bench-routing's id-hash splits each `--try` is also scored on.
    holdout_splits: u64,
    /// The scikit-learn reference's JSON, to compare per split.
    reference: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse_args() -> Result<Args, String> {
    let root = workspace_root();
    let resolve = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { root.join(p) }
    };
    let mut args = Args {
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
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            // cargo passes --bench to harness = false targets.
            "--bench" => {}
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
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--folds" => args.folds = value()?.parse().map_err(|e| format!("--folds: {e}"))?,
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?
            }
            "--l2" => args.l2 = Some(value()?.parse().map_err(|e| format!("--l2: {e}"))?),
            "--only" => args
                .only
                .push(FeatureSet::parse(&value()?).map_err(|e| format!("--only: {e}"))?),
            "--no-grid" => args.grid = false,
            "--no-sweep" => args.sweep = false,
            "--try" => args.tries.push(value()?),
            "--holdout-splits" => {
                args.holdout_splits = value()?
                    .parse()
                    .map_err(|e| format!("--holdout-splits: {e}"))?
            }
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
    }
    Ok(args)
}

/// Calibration and routing numbers of one configuration's out-of-fold predictions.
#[derive(Serialize, Clone)]
struct Calibration {
    /// T fitted on all out-of-fold predictions.
    temperature: f64,
    /// The cross-fitted T of each fold (fitted on the other folds).
    fold_temperatures: Vec<f64>,
    ece_raw: f64,
    ece_calibrated: f64,
    log_loss_raw: f64,
    log_loss_calibrated: f64,
    coverage_raw: Option<ThresholdChoice>,
    coverage_calibrated: Option<ThresholdChoice>,
}

/// One cross-validated configuration.
#[derive(Serialize, Clone)]
struct Row {
    name: String,
    features: String,
    model: ModelKind,
    note: Option<&'static str>,
    #[serde(flatten)]
    cv: CandidateReport,
    calibration: Calibration,
}

impl Row {
    /// Calibrated coverage at the target precision (0 when unreachable).
    fn coverage(&self) -> f64 {
        self.calibration
            .coverage_calibrated
            .map_or(0.0, |c| c.coverage)
    }

    /// The sweep's order: mean macro-F1 at the three decimals reported, then coverage.
    fn beats(&self, other: &Row) -> bool {
        let f1 = |r: &Row| (r.cv.mean_macro_f1 * 1000.0).round() as i64;
        f1(self) > f1(other) || (f1(self) == f1(other) && self.coverage() > other.coverage())
    }
}

/// One step of the default sweep.
#[derive(Serialize)]
struct SweepRow {
    axis: &'static str,
    value: String,
    lexical: LexicalConfig,
    l2: f64,
    /// Whether this value was kept as the axis's best.
    kept: bool,
    #[serde(flatten)]
    row: Row,
}

#[derive(Serialize)]
struct SeedCheck {
    seed: u64,
    previous_default: f64,
    previous_default_std: f64,
    default: f64,
    default_std: f64,
}

/// One model fitted on the 80% and scored on the 20%, with its routing threshold chosen on the
/// 80%'s out-of-fold predictions.
#[derive(Serialize)]
struct Holdout {
    name: String,
    evaluation: Evaluation,
    /// T fitted on the 80%'s out-of-fold predictions.
    temperature: Option<f64>,
    ece_calibrated: Option<f64>,
    /// Threshold chosen on the 80%'s calibrated out-of-fold predictions.
    threshold: Option<ThresholdChoice>,
    /// That threshold applied to the calibrated held-out predictions: (coverage, weighted
    /// precision of the routed tickets).
    routed_coverage: Option<f64>,
    routed_precision: Option<f64>,
}

#[derive(Serialize)]
struct Misclassified {
    row: u64,
    truth: String,
    predicted: String,
    confidence: f32,
    text: String,
}

#[derive(Serialize)]
struct Results {
    data: String,
    embeddings: String,
    labelled_rows: usize,
    seed: u64,
    folds: usize,
    target_precision: f64,
    min_routed: usize,
    cross_validation: Vec<Row>,
    knn_macro_f1: Option<(f64, f64)>,
    sweep: Vec<SweepRow>,
    sweep_best: Option<TrainConfig>,
    seed_checks: Vec<SeedCheck>,
    default_config: TrainConfig,
    previous_default_config: TrainConfig,
    holdout_train_rows: usize,
    train_and_select: TrainReport,
    train_and_select_seconds: f64,
    holdout: Vec<Holdout>,
    model_json_bytes: usize,
    model_msgpack_bytes: usize,
    most_confused: Option<(String, String, u64)>,
    misclassified_examples: Vec<Misclassified>,
    /// Default, previous default and baseline trained on all rows, scored on `--unseen`.
    unseen: Option<UnseenResult>,
    seconds: f64,
}

#[derive(Serialize)]
struct UnseenResult {
    file: String,
    rows: usize,
    default: Evaluation,
    previous_default: Evaluation,
    baseline: Evaluation,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let rows_csv = args.embeddings.with_extension("rows.csv");
    for (what, path) in [
        ("data", &args.data),
        ("embeddings", &args.embeddings),
        ("row map", &rows_csv),
    ] {
        if !path.exists() {
            println!(
                "accuracy benchmark skipped: {what} file {} not found.\n\
                 It needs the dev data (../shared/data/) and its embeddings, made once with\n  \
                 target/release/ticketflow embed --input ../shared/data/tickets_dev.csv --output var/bench/dev.npy",
                path.display()
            );
            return ExitCode::SUCCESS;
        }
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("accuracy benchmark failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The default before the sweep (0.778 ± 0.018 at seed 13): cleaned tokens, sublinear TF-IDF,
/// `min_df` 2, word 1–2-grams, character 3–5-grams, λ = 1e-4. Written out, not taken from
/// `Default`, so the sweep starts from the same place whatever the default becomes.
fn previous_default(base: &TrainConfig) -> TrainConfig {
    TrainConfig {
        features: FeatureSet::new(true, true, true),
        lexical: LexicalConfig {
            source: LexicalSource::Tokens,
            hash_bits: 18,
            word_ngram_max: 2,
            char_ngrams: Some((3, 5)),
            min_df: 2,
            sublinear_tf: true,
            idf: true,
        },
        logistic: LogisticConfig {
            l2: 1e-4,
            ..LogisticConfig::default()
        },
        candidates: vec![ModelKind::LogisticRegression],
        neighbours: NeighbourConfig::off(),
        block_weights: BlockWeights::default(),
        ..base.clone()
    }
}

/// The default before the neighbour block (0.791 ± 0.010 at seed 13): today's lexical and L2
/// settings, no neighbour features, the embeddings at full scale.
fn without_neighbours(base: &TrainConfig) -> TrainConfig {
    TrainConfig {
        neighbours: NeighbourConfig::off(),
        block_weights: BlockWeights::default(),
        ..base.clone()
    }
}

/// The classic TF-IDF baseline: word 1–2-grams of the cleaned tokens, no characters.
fn baseline(base: &TrainConfig) -> TrainConfig {
    let previous = previous_default(base);
    TrainConfig {
        features: FeatureSet::new(false, false, true),
        lexical: LexicalConfig {
            char_ngrams: None,
            ..previous.lexical
        },
        ..previous
    }
}

const TABLE_HEADER: &str = "| macro-F1 (mean ± sd) | accuracy | weighted precision | coverage @0.85, raw | coverage @0.85, calibrated | ECE raw → cal. | log-loss raw → cal. | T | s |";
const TABLE_RULE: &str = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

/// The measured columns of a row, as in [`TABLE_HEADER`].
fn cells(row: &Row) -> String {
    let c = &row.calibration;
    let coverage = |choice: &Option<ThresholdChoice>| match choice {
        Some(choice) => format!(
            "{:.1}% (≥ {:.2})",
            100.0 * choice.coverage,
            choice.threshold
        ),
        None => "–".to_owned(),
    };
    format!(
        "| {:.3} ± {:.3} | {:.3} | {:.3} | {} | {} | {:.3} → {:.3} | {:.3} → {:.3} | {:.2} | {:.0} |",
        row.cv.mean_macro_f1,
        row.cv.std_macro_f1,
        row.cv.mean_accuracy,
        row.cv.mean_weighted_precision,
        coverage(&c.coverage_raw),
        coverage(&c.coverage_calibrated),
        c.ece_raw,
        c.ece_calibrated,
        c.log_loss_raw,
        c.log_loss_calibrated,
        c.temperature,
        row.cv.seconds
    )
}

/// Calibration and coverage of a cross-validation's out-of-fold predictions (see the header).
fn calibration(cv: &CrossValidation, folds: usize) -> Calibration {
    let mut calibrated = cv.probs.clone();
    let mut fold_temperatures = Vec::with_capacity(folds);
    for f in 0..folds {
        let (probs, truth): (Vec<Vec<f32>>, Vec<usize>) = cv
            .probs
            .iter()
            .zip(&cv.truth)
            .zip(&cv.fold)
            .filter(|(_, fold)| **fold != f)
            .map(|((p, t), _)| (p.clone(), *t))
            .unzip();
        let t = fit_temperature(&probs, &truth);
        fold_temperatures.push(t);
        for (i, p) in calibrated.iter_mut().enumerate() {
            if cv.fold[i] == f {
                *p = apply_temperature(&cv.probs[i], t);
            }
        }
    }
    let ece =
        |probs: &[Vec<f32>]| evaluate(&cv.classes, &cv.truth, probs).expected_calibration_error;
    Calibration {
        temperature: fit_temperature(&cv.probs, &cv.truth),
        fold_temperatures,
        ece_raw: ece(&cv.probs),
        ece_calibrated: ece(&calibrated),
        log_loss_raw: log_loss(&cv.probs, &cv.truth),
        log_loss_calibrated: log_loss(&calibrated, &cv.truth),
        coverage_raw: choose_threshold(&cv.probs, &cv.truth, TARGET_PRECISION, MIN_ROUTED),
        coverage_calibrated: choose_threshold(&calibrated, &cv.truth, TARGET_PRECISION, MIN_ROUTED),
    }
}

/// Cross-validates one configuration on all rows and measures its out-of-fold predictions.
fn measure(
    data: &Labelled,
    name: &str,
    cfg: &TrainConfig,
    kind: ModelKind,
    note: Option<&'static str>,
) -> Result<Row, String> {
    let cv = cross_validate_oof(&data.examples, &data.labels, kind, cfg)
        .map_err(|e| format!("{name} {kind}: {e}"))?;
    Ok(Row {
        name: name.to_owned(),
        features: cfg.features.name(),
        model: kind,
        note,
        calibration: calibration(&cv, cfg.folds),
        cv: cv.report,
    })
}

/// One axis of the sweep: its name and the configurations along it (from the current best).
type Axis = (&'static str, Vec<(String, TrainConfig)>);

fn axes(from: &TrainConfig) -> Vec<Axis> {
    let lexical = |f: &dyn Fn(&mut LexicalConfig)| {
        let mut cfg = from.clone();
        f(&mut cfg.lexical);
        cfg
    };
    vec![
        (
            "lexical source",
            vec![
                (
                    "cleaned tokens".into(),
                    lexical(&|l| l.source = LexicalSource::Tokens),
                ),
                (
                    "raw lower-cased text".into(),
                    lexical(&|l| l.source = LexicalSource::Text),
                ),
            ],
        ),
        (
            "term weighting",
            vec![
                (
                    "sublinear TF × IDF".into(),
                    lexical(&|l| {
                        l.sublinear_tf = true;
                        l.idf = true
                    }),
                ),
                (
                    "raw TF × IDF".into(),
                    lexical(&|l| {
                        l.sublinear_tf = false;
                        l.idf = true
                    }),
                ),
                (
                    "sublinear TF, no IDF".into(),
                    lexical(&|l| {
                        l.sublinear_tf = true;
                        l.idf = false
                    }),
                ),
            ],
        ),
        (
            "min_df",
            (1..=3)
                .map(|d| (d.to_string(), lexical(&|l| l.min_df = d)))
                .collect(),
        ),
        (
            "word n-grams",
            (1..=3)
                .map(|n| (format!("1–{n}"), lexical(&|l| l.word_ngram_max = n)))
                .collect(),
        ),
        (
            "character n-grams",
            [None, Some((2, 4)), Some((3, 5)), Some((2, 5)), Some((3, 6))]
                .into_iter()
                .map(|range| {
                    let name = range.map_or("none".to_owned(), |(a, b)| format!("{a}–{b}"));
                    (name, lexical(&|l| l.char_ngrams = range))
                })
                .collect(),
        ),
        (
            "L2 penalty λ",
            [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
                .into_iter()
                .map(|l2| {
                    let mut cfg = from.clone();
                    cfg.logistic.l2 = l2;
                    (format!("{l2:e}"), cfg)
                })
                .collect(),
        ),
    ]
}

/// Coordinate search from the previous default (see the header); returns the steps and the best
/// configuration with its row.
fn sweep(
    data: &Labelled,
    start: &TrainConfig,
) -> Result<(Vec<SweepRow>, TrainConfig, Row), String> {
    println!(
        "## The default sweep: embeddings+metadata+lexical, LR, one axis at a time\n\n\
         Starting from the previous default; each axis keeps its best value (**bold**) before \
         the next is tried.\n"
    );
    println!("| axis | value {TABLE_HEADER}");
    println!("| --- | --- {TABLE_RULE}");
    let mut measured: Vec<(TrainConfig, Row)> = Vec::new();
    let mut steps = Vec::new();
    let mut best_cfg = start.clone();
    let mut best_row = measure(
        data,
        "previous default",
        start,
        ModelKind::LogisticRegression,
        None,
    )?;
    measured.push((start.clone(), best_row.clone()));
    println!("| start | previous default {}", cells(&best_row));
    // Axes are built from the best so far, so each is rebuilt after the previous one settles.
    for axis_index in 0..axes(start).len() {
        let (axis, values) = axes(&best_cfg).swap_remove(axis_index);
        let mut axis_rows = Vec::new();
        for (value, cfg) in values {
            let row = match measured.iter().find(|(c, _)| *c == cfg) {
                Some((_, row)) => row.clone(),
                None => {
                    let row = measure(
                        data,
                        &format!("{axis}: {value}"),
                        &cfg,
                        ModelKind::LogisticRegression,
                        None,
                    )?;
                    measured.push((cfg.clone(), row.clone()));
                    row
                }
            };
            axis_rows.push((value, cfg, row));
        }
        let mut kept = 0;
        for (i, (_, _, row)) in axis_rows.iter().enumerate() {
            if row.beats(&axis_rows[kept].2) {
                kept = i;
            }
        }
        for (i, (value, cfg, row)) in axis_rows.into_iter().enumerate() {
            let value_cell = if i == kept {
                format!("**{value}**")
            } else {
                value.clone()
            };
            println!("| {axis} | {value_cell} {}", cells(&row));
            if i == kept {
                best_cfg = cfg.clone();
                best_row = row.clone();
            }
            steps.push(SweepRow {
                axis,
                value,
                lexical: cfg.lexical.clone(),
                l2: cfg.logistic.l2,
                kept: i == kept,
                row,
            });
        }
    }
    Ok((steps, best_cfg, best_row))
}

fn run(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let data = load(&args.data, &args.embeddings)?;
    if !args.tries.is_empty() {
        return experiments(args, &data);
    }
    let (tickets, examples, labels) = (&data.tickets, &data.examples, &data.labels);
    println!(
        "# Ticket-type classifier accuracy\n\n{} labelled tickets from `{}`; embeddings `{}`; seed {}; {} folds. \
         Coverage is the share of tickets routed at the lowest top-probability threshold whose \
         routed tickets reach weighted precision {TARGET_PRECISION} (at least {MIN_ROUTED} routed); \
         calibrated numbers use cross-fitted temperature scaling.\n",
        labels.len(),
        args.data_name,
        args.embeddings_name,
        args.seed,
        args.folds
    );

    let base = TrainConfig {
        seed: args.seed,
        folds: args.folds,
        threads: args.threads,
        ..TrainConfig::default()
    };
    let previous = previous_default(&base);
    let baseline_cfg = baseline(&base);

    // 1. Feature sets with the default settings, the TF-IDF baseline and the kNN vote.
    let mut table = Vec::new();
    let mut knn = None;
    if args.grid {
        let grid_base = match args.l2 {
            Some(l2) => TrainConfig {
                logistic: LogisticConfig {
                    l2,
                    ..base.logistic.clone()
                },
                ..base.clone()
            },
            None => base.clone(),
        };
        let mut grid: Vec<(String, TrainConfig, ModelKind, Option<&'static str>)> = Vec::new();
        let wanted = |f: &FeatureSet| args.only.is_empty() || args.only.contains(f);
        for features in FeatureSet::COMPARED.into_iter().filter(wanted) {
            for kind in ModelKind::ALL.into_iter().filter(|k| k.supports(features)) {
                grid.push((
                    features.name(),
                    TrainConfig {
                        features,
                        ..grid_base.clone()
                    },
                    kind,
                    None,
                ));
            }
        }
        if args.only.is_empty() {
            grid.push((
                "baseline: TF-IDF words 1–2".into(),
                baseline_cfg.clone(),
                ModelKind::LogisticRegression,
                Some("cleaned tokens, no character n-grams"),
            ));
        }
        println!(
            "## Feature sets: {}-fold cross-validation on all rows, default settings\n",
            args.folds
        );
        println!("| features | model {TABLE_HEADER}");
        println!("| --- | --- {TABLE_RULE}");
        for (name, cfg, kind, note) in grid {
            let row = measure(&data, &name, &cfg, kind, note)?;
            println!("| {name} | {} {}", kind.abbreviation(), cells(&row));
            table.push(row);
        }

        // The nearest-neighbour classifier: k labelled neighbours by cosine similarity of the
        // embeddings (what a Chroma query returns), similarity-weighted vote. Brute force here
        // gives the exact neighbours; Chroma's HNSW index approximates them.
        let knn_started = Instant::now();
        let knn_folds: Vec<f64> = stratified_kfold(labels, args.folds, args.seed)
            .into_iter()
            .map(|(train, test)| knn_fold(examples, labels, &train, &test, 15))
            .collect();
        let knn_mean = knn_folds.iter().sum::<f64>() / knn_folds.len().max(1) as f64;
        let knn_std = (knn_folds
            .iter()
            .map(|f| (f - knn_mean).powi(2))
            .sum::<f64>()
            / knn_folds.len().max(1) as f64)
            .sqrt();
        println!(
            "| embeddings | kNN (k=15, Chroma-style) | {knn_mean:.3} ± {knn_std:.3} | – | – | – | – | – | – | – | {:.0} |",
            knn_started.elapsed().as_secs_f64()
        );
        knn = Some((knn_mean, knn_std));
        if let Some(best) = table
            .iter()
            .filter(|row| row.note.is_none())
            .max_by(|a, b| a.cv.mean_macro_f1.total_cmp(&b.cv.mean_macro_f1))
        {
            println!(
                "\nBest feature set by mean macro-F1: **{} {}**.\n",
                best.features,
                best.model.abbreviation()
            );
        }
    }

    // 2. The default sweep, and the winner against the previous default at other seeds.
    let mut steps = Vec::new();
    let mut sweep_best = None;
    let mut seed_checks = Vec::new();
    if args.sweep {
        let (rows, best_cfg, best_row) = sweep(&data, &previous)?;
        steps = rows;
        let lexical = &best_cfg.lexical;
        println!(
            "\nSweep winner: source {}, {} TF{}, min_df {}, word 1–{}-grams, character {}-grams, λ = {:e}: \
             macro-F1 **{:.3} ± {:.3}**, coverage at {TARGET_PRECISION} precision {:.1}% (calibrated).",
            lexical.source.name(),
            if lexical.sublinear_tf {
                "sublinear"
            } else {
                "raw"
            },
            if lexical.idf { " × IDF" } else { ", no IDF" },
            lexical.min_df,
            lexical.word_ngram_max,
            lexical
                .char_ngrams
                .map_or("no".to_owned(), |(a, b)| format!("{a}–{b}")),
            best_cfg.logistic.l2,
            best_row.cv.mean_macro_f1,
            best_row.cv.std_macro_f1,
            100.0 * best_row.coverage(),
        );
        let same = best_cfg.lexical == base.lexical
            && best_cfg.logistic == base.logistic
            && best_cfg.features == base.features;
        println!(
            "{}\n",
            if same {
                "It is `TrainConfig::default()`."
            } else {
                "**It differs from `TrainConfig::default()`**: check whether the difference is within the fold sd (docs/accuracy.md explains why the default keeps λ = 1e-4)."
            }
        );
        sweep_best = Some(best_cfg);

        println!(
            "Previous default vs `TrainConfig::default()` at other seeds (macro-F1, mean ± sd):\n"
        );
        println!("| seed | previous default | default |\n| ---: | ---: | ---: |");
        for seed in CHECK_SEEDS.into_iter().filter(|&s| s != args.seed) {
            let at = |cfg: &TrainConfig| TrainConfig {
                seed,
                ..cfg.clone()
            };
            let old = measure(
                &data,
                "previous default",
                &at(&previous),
                ModelKind::LogisticRegression,
                None,
            )?;
            let new = measure(
                &data,
                "default",
                &at(&base),
                ModelKind::LogisticRegression,
                None,
            )?;
            println!(
                "| {seed} | {:.3} ± {:.3} | {:.3} ± {:.3} |",
                old.cv.mean_macro_f1,
                old.cv.std_macro_f1,
                new.cv.mean_macro_f1,
                new.cv.std_macro_f1
            );
            seed_checks.push(SeedCheck {
                seed,
                previous_default: old.cv.mean_macro_f1,
                previous_default_std: old.cv.std_macro_f1,
                default: new.cv.mean_macro_f1,
                default_std: new.cv.std_macro_f1,
            });
        }
        println!();
    }

    // 3. Held out: the default as the trainer trains it (`train_and_select` splits 80/20,
    // cross-validates every candidate model on the 80%, refits the best there and scores it
    // once on the 20%), next to the previous default and the baseline on the same split.
    let select_cfg = base.clone();
    let select_started = Instant::now();
    let (model, report) =
        train_and_select(examples, labels, &select_cfg).map_err(|e| e.to_string())?;
    let select_seconds = select_started.elapsed().as_secs_f64();
    let (train, test) = stratified_split(labels, select_cfg.test_fraction, select_cfg.seed);
    let test_x: Vec<Example> = test.iter().map(|&i| examples[i].clone()).collect();
    let probs = model.predict_proba_batch(&test_x);
    let class_index = |model: &Classifier, label: &String| {
        model
            .classes
            .iter()
            .position(|c| c == label)
            .unwrap_or(usize::MAX)
    };
    let truth: Vec<usize> = test
        .iter()
        .map(|&i| class_index(&model, &labels[i]))
        .collect();
    let evaluation = report.holdout.clone();
    // What the registry will store: the fitted classifier, serialised.
    let json_bytes = serde_json::to_vec(&model).map_or(0, |v| v.len());
    let msgpack_bytes = rmp_serde::to_vec_named(&model).map_or(0, |v| v.len());
    println!(
        "## Held-out evaluation of the default\n\n`train_and_select` with `TrainConfig::default()` (features {}): stratified 80/20 split (seed {}); {}-fold CV \
         of the candidates on the {} training tickets ({}); the best, **{}**, refitted on them \
         ({:.1}s) and evaluated once on the other {} tickets: tickets from the same source that it \
         never saw. Whole call: {select_seconds:.1}s. (The settings themselves were chosen by the \
         cross-validation above, which saw all rows, these included.)\n",
        select_cfg.features,
        select_cfg.seed,
        select_cfg.folds,
        report.train_rows,
        report
            .cv
            .iter()
            .map(|c| format!(
                "{} {:.3} ± {:.3}",
                c.kind.abbreviation(),
                c.mean_macro_f1,
                c.std_macro_f1
            ))
            .chain(report.skipped.iter().map(|s| format!("skipped {s}")))
            .collect::<Vec<_>>()
            .join("; "),
        report.chosen.abbreviation(),
        report.refit_seconds,
        report.test_rows,
    );
    println!(
        "Serialised model: {:.1} MB as JSON, {:.1} MB as MessagePack.\n",
        json_bytes as f64 / 1e6,
        msgpack_bytes as f64 / 1e6
    );
    println!("{}", evaluation.to_markdown());

    let mut misclassified = Vec::new();
    let most_confused = evaluation.most_confused_pair().map(|(a, b, n)| {
        let (ca, cb) = (model.classes[a].clone(), model.classes[b].clone());
        println!("\nMost confused pair: **{ca} ↔ {cb}** ({n} held-out tickets). Examples:\n");
        for (j, p) in probs.iter().enumerate() {
            let predicted = argmax(p);
            let t = truth[j];
            if (t, predicted) == (a, b) || (t, predicted) == (b, a) {
                let ticket = &tickets[test[j]];
                let m = Misclassified {
                    row: ticket.row,
                    truth: model.classes[t].clone(),
                    predicted: model.classes[predicted].clone(),
                    confidence: p[predicted],
                    text: excerpt(ticket, 120),
                };
                println!(
                    "- row {}: true **{}**, predicted **{}** ({:.2}): “{}”",
                    m.row, m.truth, m.predicted, m.confidence, m.text
                );
                misclassified.push(m);
                if misclassified.len() == 3 {
                    break;
                }
            }
        }
        (ca, cb, n)
    });

    // Same split for all three; routing thresholds chosen on the 80% only.
    let train_x: Vec<Example> = train.iter().map(|&i| examples[i].clone()).collect();
    let train_y: Vec<String> = train.iter().map(|&i| labels[i].clone()).collect();
    let holdout_of = |name: &str, model: &Classifier, cfg: &TrainConfig, routing: bool| {
        let probs = model.predict_proba_batch(&test_x);
        let truth: Vec<usize> = test
            .iter()
            .map(|&i| class_index(model, &labels[i]))
            .collect();
        let evaluation = evaluate(&model.classes, &truth, &probs);
        let mut h = Holdout {
            name: name.to_owned(),
            evaluation,
            temperature: None,
            ece_calibrated: None,
            threshold: None,
            routed_coverage: None,
            routed_precision: None,
        };
        if routing {
            let oof = cross_validate_oof(&train_x, &train_y, ModelKind::LogisticRegression, cfg)
                .map_err(|e| format!("{name}: {e}"))?;
            let t = fit_temperature(&oof.probs, &oof.truth);
            let oof_calibrated: Vec<Vec<f32>> =
                oof.probs.iter().map(|p| apply_temperature(p, t)).collect();
            let calibrated: Vec<Vec<f32>> = probs.iter().map(|p| apply_temperature(p, t)).collect();
            h.temperature = Some(t);
            h.ece_calibrated =
                Some(evaluate(&model.classes, &truth, &calibrated).expected_calibration_error);
            h.threshold =
                choose_threshold(&oof_calibrated, &oof.truth, TARGET_PRECISION, MIN_ROUTED);
            if let Some(choice) = h.threshold {
                let (routed_p, routed_t): (Vec<Vec<f32>>, Vec<usize>) = calibrated
                    .iter()
                    .zip(&truth)
                    .filter(|(p, _)| p.iter().copied().fold(0.0, f32::max) >= choice.threshold)
                    .map(|(p, t)| (p.clone(), *t))
                    .unzip();
                h.routed_coverage = Some(routed_t.len() as f64 / truth.len().max(1) as f64);
                h.routed_precision = Some(
                    evaluate(&model.classes, &routed_t, &routed_p)
                        .weighted_avg
                        .precision,
                );
            }
        }
        Ok::<Holdout, String>(h)
    };
    let fit = |cfg: &TrainConfig| {
        Classifier::fit(&train_x, &train_y, ModelKind::LogisticRegression, cfg)
            .map_err(|e| e.to_string())
    };
    let holdout = vec![
        holdout_of("default", &model, &select_cfg, true)?,
        holdout_of(
            "default without the neighbour block (embeddings at full scale)",
            &fit(&without_neighbours(&select_cfg))?,
            &without_neighbours(&select_cfg),
            true,
        )?,
        holdout_of("previous default", &fit(&previous)?, &previous, true)?,
        holdout_of(
            "baseline: TF-IDF words 1–2 + LR",
            &fit(&baseline_cfg)?,
            &baseline_cfg,
            false,
        )?,
    ];
    println!(
        "\n### Same held-out 20%, all fitted on the same 80%\n\nRouting threshold: temperature T fitted on the 80%'s \
         out-of-fold predictions, threshold chosen on them (lowest reaching weighted precision {TARGET_PRECISION}), \
         then both applied unchanged to the 20%.\n"
    );
    println!(
        "| model | macro-F1 | accuracy | weighted precision | ECE raw → cal. | T | threshold | coverage (precision) on the 20% |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for h in &holdout {
        let e = &h.evaluation;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} → {} | {} | {} | {} |",
            h.name,
            e.macro_avg.f1,
            e.accuracy,
            e.weighted_avg.precision,
            e.expected_calibration_error,
            h.ece_calibrated.map_or("–".into(), |v| format!("{v:.3}")),
            h.temperature.map_or("–".into(), |v| format!("{v:.2}")),
            h.threshold
                .map_or("–".into(), |c| format!("{:.2}", c.threshold)),
            match (h.routed_coverage, h.routed_precision) {
                (Some(c), Some(p)) => format!("{:.1}% ({p:.3})", 100.0 * c),
                _ => "–".into(),
            }
        );
    }

    // What the trainer ships: the threshold `train_and_select` chose on the raw out-of-fold
    // predictions of the 80%, stored in the model, checked on the 20%.
    let r = &report.routing;
    println!(
        "\n### What the trainer ships: auto-routing at {TARGET_PRECISION} weighted precision\n\n\
         `train_and_select` chooses the threshold on the raw out-of-fold predictions of the 80% \
         (at least {} routed), stores it in the model, and scores it once on the 20%.\n\n\
         | rows | threshold | coverage | weighted precision |\n| --- | ---: | ---: | ---: |",
        select_cfg.routing_min_rows
    );
    let threshold = r.threshold.map_or("none".into(), |t| format!("{t:.3}"));
    println!(
        "| out of fold, 80% (where it is chosen) | {threshold} | {:.1}% | {:.3} |",
        100.0 * r.oof_coverage,
        r.oof_precision
    );
    println!(
        "| held-out 20% ({} routed) | {threshold} | {:.1}% | {:.3} |",
        r.holdout_routed,
        100.0 * r.holdout_coverage,
        r.holdout_precision
    );
    let test_probs = model.predict_proba_batch(&test_x);
    let test_truth: Vec<usize> = test
        .iter()
        .map(|&i| class_index(&model, &labels[i]))
        .collect();
    println!(
        "\nPrecision against coverage of the default model on the held-out 20%:\n\n\
         | route when probability ≥ | coverage | weighted precision |\n| ---: | ---: | ---: |"
    );
    for t in [
        0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.0_f32,
    ] {
        let at = routed_at(&test_probs, &test_truth, Some(t));
        println!(
            "| {t:.2} | {:.1}% | {:.3} |",
            100.0 * at.coverage,
            at.precision
        );
    }
    let svg_path = args.out.with_file_name("precision-coverage.svg");
    let curve = precision_coverage_curve(&test_probs, &test_truth);
    std::fs::write(&svg_path, curve_svg(&curve, TARGET_PRECISION, r.threshold))
        .map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!(
        "\nPlot (held-out curve, shipped threshold marked): `{}`",
        svg_path.display()
    );

    // Optionally: both trained on every dev row, tested on another file from the same source.
    let mut unseen = None;
    if let Some((file, npy, name)) = &args.unseen {
        let other = load(file, npy)?;
        let test_on = |model: &Classifier| {
            let probs = model.predict_proba_batch(&other.examples);
            let truth: Vec<usize> = other.labels.iter().map(|l| class_index(model, l)).collect();
            evaluate(&model.classes, &truth, &probs)
        };
        let full = Classifier::fit(examples, labels, report.chosen, &select_cfg)
            .map_err(|e| e.to_string())?;
        let base_model = Classifier::fit(
            examples,
            labels,
            ModelKind::LogisticRegression,
            &baseline_cfg,
        )
        .map_err(|e| e.to_string())?;
        let previous_model =
            Classifier::fit(examples, labels, ModelKind::LogisticRegression, &previous)
                .map_err(|e| e.to_string())?;
        let (d, p, b) = (
            test_on(&full),
            test_on(&previous_model),
            test_on(&base_model),
        );
        // Which change moves the score on this file: the default with one setting put back.
        let mut variants = Vec::new();
        for (variant, cfg) in [
            (
                "default without the neighbour block (embeddings at full scale)",
                without_neighbours(&select_cfg),
            ),
            (
                "default with λ = 1e-4",
                TrainConfig {
                    logistic: LogisticConfig {
                        l2: 1e-4,
                        ..select_cfg.logistic.clone()
                    },
                    ..select_cfg.clone()
                },
            ),
            (
                "default on the cleaned tokens",
                TrainConfig {
                    lexical: LexicalConfig {
                        source: LexicalSource::Tokens,
                        ..select_cfg.lexical.clone()
                    },
                    ..select_cfg.clone()
                },
            ),
        ] {
            let model = Classifier::fit(examples, labels, ModelKind::LogisticRegression, &cfg)
                .map_err(|e| e.to_string())?;
            variants.push((variant.to_owned(), test_on(&model)));
        }
        println!(
            "\n## Trained on all {} rows, tested on `{name}` ({} labelled tickets it never saw)\n\n| model | macro-F1 | accuracy | weighted precision |\n| --- | ---: | ---: | ---: |",
            labels.len(),
            other.labels.len(),
        );
        for (model_name, e) in [
            (
                format!(
                    "default ({} {})",
                    select_cfg.features,
                    report.chosen.abbreviation()
                ),
                &d,
            ),
            ("previous default".to_owned(), &p),
            ("baseline: TF-IDF words 1–2 + LR".to_owned(), &b),
        ]
        .into_iter()
        .chain(variants.iter().map(|(n, e)| (n.clone(), e)))
        {
            println!(
                "| {model_name} | {:.3} | {:.3} | {:.3} |",
                e.macro_avg.f1, e.accuracy, e.weighted_avg.precision
            );
        }
        unseen = Some(UnseenResult {
            file: name.clone(),
            rows: other.labels.len(),
            default: d,
            previous_default: p,
            baseline: b,
        });
    }

    let seconds = started.elapsed().as_secs_f64();
    println!("\nTotal {seconds:.0}s.");
    let results = Results {
        data: args.data_name.clone(),
        embeddings: args.embeddings_name.clone(),
        labelled_rows: labels.len(),
        seed: args.seed,
        folds: args.folds,
        target_precision: TARGET_PRECISION,
        min_routed: MIN_ROUTED,
        cross_validation: table,
        knn_macro_f1: knn,
        sweep: steps,
        sweep_best,
        seed_checks,
        default_config: select_cfg,
        previous_default_config: previous,
        holdout_train_rows: train.len(),
        train_and_select: report,
        train_and_select_seconds: select_seconds,
        holdout,
        model_json_bytes: json_bytes,
        model_msgpack_bytes: msgpack_bytes,
        most_confused,
        misclassified_examples: misclassified,
        unseen,
        seconds,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, json).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("JSON written to {}", args.out_name);
    Ok(())
}

/// The labelled tickets, their examples and labels, index-aligned.
/// Labelled tickets with their embeddings (see [`load_embedded`]).
struct Labelled {
    tickets: Vec<Ticket>,
    examples: Vec<Example>,
    labels: Vec<String>,
}

/// Loads labelled tickets and their embeddings, aligned by input row.
fn load(data: &Path, embeddings: &Path) -> Result<Labelled, String> {
    let loaded = load_embedded(data, embeddings).map_err(|e| e.to_string())?;
    if loaded.unlabelled + loaded.unembedded + loaded.quarantined > 0 {
        println!(
            "(left out: {} unlabelled, {} without an embedding, {} quarantined by the loader)",
            loaded.unlabelled, loaded.unembedded, loaded.quarantined
        );
    }
    Ok(Labelled {
        tickets: loaded.tickets,
        examples: loaded.examples,
        labels: loaded.labels,
    })
}

/// The first most probable class, as `evaluate` counts it.
fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Subject and body on one line, cut to `max` characters.
fn excerpt(ticket: &Ticket, max: usize) -> String {
    let text = match ticket.subject.trim() {
        "" => ticket.body.clone(),
        subject => format!("{subject} — {}", ticket.body),
    };
    let flat: String = text
        .replace("\\n", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Macro-F1 of a k-nearest-neighbour vote (cosine similarity, similarity-weighted) on one fold.
fn knn_fold(
    examples: &[Example],
    labels: &[String],
    train: &[usize],
    test: &[usize],
    k: usize,
) -> f64 {
    let mut classes: Vec<String> = labels.to_vec();
    classes.sort();
    classes.dedup();
    let class_of = |l: &String| classes.iter().position(|c| c == l).unwrap_or(0);
    let mut truth = Vec::with_capacity(test.len());
    let mut probs = Vec::with_capacity(test.len());
    for &q in test {
        let query = &examples[q].embedding;
        let mut sims: Vec<(f32, usize)> = train
            .iter()
            .map(|&t| {
                let s: f32 = examples[t]
                    .embedding
                    .iter()
                    .zip(query)
                    .map(|(a, b)| a * b)
                    .sum();
                (s, t)
            })
            .collect();
        let k = k.min(sims.len());
        sims.select_nth_unstable_by(k.saturating_sub(1), |a, b| b.0.total_cmp(&a.0));
        let mut votes = vec![0.0_f32; classes.len()];
        for &(s, t) in &sims[..k] {
            votes[class_of(&labels[t])] += s.max(0.0);
        }
        let total: f32 = votes.iter().sum::<f32>().max(1e-12);
        probs.push(votes.iter().map(|v| v / total).collect::<Vec<f32>>());
        truth.push(class_of(&labels[q]));
    }
    evaluate(&classes, &truth, &probs).macro_avg.f1
}

/// `TrainConfig::default()` (with `--seed`, `--folds`, `--threads`) and the overrides of `spec`
/// (see the header), with the model kind it names (LR unless `model=rf`).
fn config_from_spec(args: &Args, spec: &str) -> Result<(TrainConfig, ModelKind), String> {
    let base = TrainConfig {
        seed: args.seed,
        folds: args.folds,
        threads: args.threads,
        ..TrainConfig::default()
    };
    let mut json = serde_json::to_value(&base).map_err(|e| e.to_string())?;
    let mut kind = ModelKind::LogisticRegression;
    // A piece without `=` belongs to the previous value (`lexical.char_ngrams=[3,5]`).
    let mut pairs: Vec<String> = Vec::new();
    for piece in spec.split(',') {
        match pairs.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pairs.push(piece.trim().to_owned()),
        }
    }
    for pair in pairs.iter().map(|p| p.trim()) {
        if pair.is_empty() || pair == "default" {
            continue;
        }
        let (path, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--try: {pair:?} is not path=value"))?;
        if path == "model" {
            kind = ModelKind::parse(value).map_err(|e| e.to_string())?;
            continue;
        }
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        let mut node = &mut json;
        for key in path.split('.') {
            node = node
                .get_mut(key)
                .ok_or_else(|| format!("--try: no setting {path:?}"))?;
        }
        *node = value;
    }
    let cfg = serde_json::from_value(json).map_err(|e| format!("--try {spec:?}: {e}"))?;
    Ok((cfg, kind))
}

/// `--try`: cross-validates each spec on all rows, one table row each, and writes them to `--out`.
fn experiments(args: &Args, data: &Labelled) -> Result<(), String> {
    println!(
        "## Experiments: {}-fold cross-validation on all {} rows, seed {}\n",
        args.folds,
        data.labels.len(),
        args.seed
    );
    println!("| overrides | model {TABLE_HEADER}");
    println!("| --- | --- {TABLE_RULE}");
    let mut rows = Vec::new();
    let mut held_out = Vec::new();
    for spec in &args.tries {
        let (cfg, kind) = config_from_spec(args, spec)?;
        let row = measure(data, spec, &cfg, kind, None)?;
        println!("| {spec} | {} {}", kind.abbreviation(), cells(&row));
        rows.push(row);
        if args.holdout_splits > 0 {
            held_out.push((spec.clone(), routing_splits(args, data, &cfg, kind)?));
        }
    }
    if !held_out.is_empty() {
        print_routing_splits(args, &held_out)?;
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::json!({ "cross_validation": rows, "holdout_splits": held_out });
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, json).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("\nJSON written to {}", args.out_name);
    Ok(())
}

/// Held-out macro-F1 of one configuration on each of bench-routing's splits (see the header):
/// fitted on the rows the trainer fits on there, scored on the split's held-out 20%.
fn routing_splits(
    args: &Args,
    data: &Labelled,
    cfg: &TrainConfig,
    kind: ModelKind,
) -> Result<Vec<f64>, String> {
    let ids: Vec<&str> = data.tickets.iter().map(|t| t.id.as_str()).collect();
    let trainer = SplitRule::default();
    let one = |split: u64| -> Result<f64, String> {
        let outer = SplitRule {
            salt: format!("bench-routing-{split}"),
            ..SplitRule::id_hash(0.2)
        };
        let (mut fit_x, mut fit_y, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for (i, id) in ids.iter().enumerate() {
            if outer.is_held_out(id) {
                test.push(i);
            } else if !trainer.is_held_out(id) {
                fit_x.push(data.examples[i].clone());
                fit_y.push(data.labels[i].clone());
            }
        }
        let model = Classifier::fit(&fit_x, &fit_y, kind, cfg).map_err(|e| e.to_string())?;
        let test_x: Vec<Example> = test.iter().map(|&i| data.examples[i].clone()).collect();
        let truth: Vec<usize> = test
            .iter()
            .map(|&i| {
                let label = &data.labels[i];
                model.classes.iter().position(|c| c == label).unwrap_or(0)
            })
            .collect();
        let probs = model.predict_proba_batch(&test_x);
        Ok(evaluate(&model.classes, &truth, &probs).macro_avg.f1)
    };
    let workers = cfg.worker_threads().clamp(1, args.holdout_splits as usize) as u64;
    let scores: Vec<Result<(u64, f64), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let one = &one;
                scope.spawn(move || {
                    (w..args.holdout_splits)
                        .step_by(workers as usize)
                        .map(|s| one(s).map(|f1| (s, f1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut by_split = vec![0.0; args.holdout_splits as usize];
    for score in scores {
        let (s, f1) = score?;
        by_split[s as usize] = f1;
    }
    Ok(by_split)
}

/// The held-out split scores of every `--try`, with the reference's when `--reference` is set.
fn print_routing_splits(args: &Args, held_out: &[(String, Vec<f64>)]) -> Result<(), String> {
    let reference: Option<Vec<f64>> = match &args.reference {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            let splits = json["splits"].as_array().cloned().unwrap_or_default();
            Some(
                splits
                    .iter()
                    .map(|s| s["macro_f1_same_rows"].as_f64().unwrap_or(f64::NAN))
                    .collect(),
            )
        }
        None => None,
    };
    println!(
        "\n## Held out: {} id-hash splits of bench-routing, fitted on the trainer's rows\n\n\
         | overrides | macro-F1 mean ± sd | min | − reference: mean | min | not worse |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |",
        args.holdout_splits
    );
    for (spec, scores) in held_out {
        let n = scores.len().max(1) as f64;
        let mean = scores.iter().sum::<f64>() / n;
        let sd = (scores.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
        let vs = reference.as_ref().map_or("| – | – | –".to_owned(), |r| {
            let d: Vec<f64> = scores.iter().zip(r).map(|(a, b)| a - b).collect();
            format!(
                "| {:+.3} | {:+.3} | {}/{}",
                d.iter().sum::<f64>() / d.len().max(1) as f64,
                d.iter().copied().fold(f64::INFINITY, f64::min),
                d.iter().filter(|v| **v >= 0.0).count(),
                d.len()
            )
        });
        println!("| {spec} | {mean:.3} ± {sd:.3} | {min:.3} {vs} |");
    }
    Ok(())
}
