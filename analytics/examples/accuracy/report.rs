//! The JSON results of a full run (`--out`), and the Markdown introduction.

use serde::Serialize;
use ticketflow_analytics::classify::{TrainConfig, TrainReport};

use crate::args::Args;
use crate::grid::Grid;
use crate::holdout::{HeldOut, Holdout, Misclassified};
use crate::measure::{MIN_ROUTED, Row, TARGET_PRECISION};
use crate::sweep::{SeedCheck, Sweep, SweepRow};
use crate::unseen::UnseenResult;

#[derive(Serialize)]
pub struct Results {
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

/// Everything a full run measured, section by section.
pub struct Sections {
    pub labelled_rows: usize,
    pub default_config: TrainConfig,
    pub previous_default_config: TrainConfig,
    pub grid: Option<Grid>,
    pub sweep: Option<Sweep>,
    pub held: HeldOut,
    pub unseen: Option<UnseenResult>,
    pub seconds: f64,
}

impl Results {
    pub fn new(args: &Args, s: Sections) -> Results {
        let (cross_validation, knn_macro_f1) =
            s.grid.map_or((Vec::new(), None), |g| (g.rows, Some(g.knn)));
        let (sweep, sweep_best, seed_checks) =
            s.sweep.map_or((Vec::new(), None, Vec::new()), |w| {
                (w.steps, Some(w.best), w.seed_checks)
            });
        let held = s.held;
        Results {
            data: args.data_name.clone(),
            embeddings: args.embeddings_name.clone(),
            labelled_rows: s.labelled_rows,
            seed: args.seed,
            folds: args.folds,
            target_precision: TARGET_PRECISION,
            min_routed: MIN_ROUTED,
            cross_validation,
            knn_macro_f1,
            sweep,
            sweep_best,
            seed_checks,
            default_config: s.default_config,
            previous_default_config: s.previous_default_config,
            holdout_train_rows: held.train_rows,
            train_and_select: held.report,
            train_and_select_seconds: held.select_seconds,
            holdout: held.holdout,
            model_json_bytes: held.json_bytes,
            model_msgpack_bytes: held.msgpack_bytes,
            most_confused: held.most_confused,
            misclassified_examples: held.misclassified,
            unseen: s.unseen,
            seconds: s.seconds,
        }
    }
}

/// The report's title and what its numbers mean.
pub fn print_intro(args: &Args, labelled_rows: usize) {
    println!(
        "# Ticket-type classifier accuracy\n\n{} labelled tickets from `{}`; embeddings `{}`; seed {}; {} folds. \
         Coverage is the share of tickets routed at the lowest top-probability threshold whose \
         routed tickets reach weighted precision {TARGET_PRECISION} (at least {MIN_ROUTED} routed); \
         calibrated numbers use cross-fitted temperature scaling.\n",
        labelled_rows, args.data_name, args.embeddings_name, args.seed, args.folds
    );
}
