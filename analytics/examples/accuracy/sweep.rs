//! Section 2: the default sweep (a coordinate search from the previous default), its winner,
//! and the winner against the previous default at other seeds.

use serde::Serialize;
use ticketflow_analytics::classify::{LexicalConfig, LexicalSource, TrainConfig};

use crate::data::Labelled;
use crate::measure::{Row, TABLE_HEADER, TABLE_RULE, TARGET_PRECISION, cells, measure_lr};

/// Seeds the sweep's winner and the previous default are re-run at, besides `--seed`.
const CHECK_SEEDS: [u64; 2] = [7, 21];

/// One step of the default sweep.
#[derive(Serialize)]
pub struct SweepRow {
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
pub struct SeedCheck {
    seed: u64,
    previous_default: f64,
    previous_default_std: f64,
    default: f64,
    default_std: f64,
}

/// What the sweep section measured.
pub struct Sweep {
    pub steps: Vec<SweepRow>,
    pub best: TrainConfig,
    pub seed_checks: Vec<SeedCheck>,
}

/// One axis of the sweep: its name and the configurations along it (from the current best).
type Axis = (&'static str, Vec<(String, TrainConfig)>);

/// A value of an axis: `from` with its lexical settings changed by `f`.
fn lexical(
    from: &TrainConfig,
    name: &str,
    f: impl Fn(&mut LexicalConfig),
) -> (String, TrainConfig) {
    let mut cfg = from.clone();
    f(&mut cfg.lexical);
    (name.to_owned(), cfg)
}

/// The lexical source and term-weighting axes.
fn weighting_axes(from: &TrainConfig) -> [Axis; 2] {
    let weighting = |sublinear: bool, idf: bool| {
        move |l: &mut LexicalConfig| {
            l.sublinear_tf = sublinear;
            l.idf = idf
        }
    };
    [
        (
            "lexical source",
            vec![
                lexical(from, "cleaned tokens", |l| l.source = LexicalSource::Tokens),
                lexical(from, "raw lower-cased text", |l| {
                    l.source = LexicalSource::Text
                }),
            ],
        ),
        (
            "term weighting",
            vec![
                lexical(from, "sublinear TF × IDF", weighting(true, true)),
                lexical(from, "raw TF × IDF", weighting(false, true)),
                lexical(from, "sublinear TF, no IDF", weighting(true, false)),
            ],
        ),
    ]
}

/// The axes in the order they are searched, built from `from` (the best so far).
fn axes(from: &TrainConfig) -> Vec<Axis> {
    let min_df = (1..=3)
        .map(|d| lexical(from, &d.to_string(), |l| l.min_df = d))
        .collect();
    let words = (1..=3)
        .map(|n| lexical(from, &format!("1–{n}"), |l| l.word_ngram_max = n))
        .collect();
    let chars = [None, Some((2, 4)), Some((3, 5)), Some((2, 5)), Some((3, 6))]
        .into_iter()
        .map(|range| {
            let name = range.map_or("none".to_owned(), |(a, b)| format!("{a}–{b}"));
            lexical(from, &name, |l| l.char_ngrams = range)
        })
        .collect();
    let l2 = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
        .into_iter()
        .map(|l2| {
            let mut cfg = from.clone();
            cfg.logistic.l2 = l2;
            (format!("{l2:e}"), cfg)
        })
        .collect();
    let mut axes = Vec::from(weighting_axes(from));
    axes.extend([
        ("min_df", min_df),
        ("word n-grams", words),
        ("character n-grams", chars),
        ("L2 penalty λ", l2),
    ]);
    axes
}

/// Configurations already cross-validated, so that a value equal to the best so far is not
/// measured twice.
struct Measured<'a> {
    data: &'a Labelled,
    rows: Vec<(TrainConfig, Row)>,
}

impl Measured<'_> {
    fn get(&mut self, name: &str, cfg: &TrainConfig) -> Result<Row, String> {
        if let Some((_, row)) = self.rows.iter().find(|(c, _)| c == cfg) {
            return Ok(row.clone());
        }
        let row = measure_lr(self.data, name, cfg)?;
        self.rows.push((cfg.clone(), row.clone()));
        Ok(row)
    }
}

/// The index of the best row (the first of equals).
fn best_index(rows: &[(String, TrainConfig, Row)]) -> usize {
    let mut kept = 0;
    for (i, (_, _, row)) in rows.iter().enumerate() {
        if row.beats(&rows[kept].2) {
            kept = i;
        }
    }
    kept
}

/// Measures and prints one axis, appends its steps, and moves `best` to its best value.
fn search_axis(
    measured: &mut Measured,
    (axis, values): Axis,
    best: &mut (TrainConfig, Row),
    steps: &mut Vec<SweepRow>,
) -> Result<(), String> {
    let mut axis_rows = Vec::new();
    for (value, cfg) in values {
        let row = measured.get(&format!("{axis}: {value}"), &cfg)?;
        axis_rows.push((value, cfg, row));
    }
    let kept = best_index(&axis_rows);
    for (i, (value, cfg, row)) in axis_rows.into_iter().enumerate() {
        let value_cell = if i == kept {
            format!("**{value}**")
        } else {
            value.clone()
        };
        println!("| {axis} | {value_cell} {}", cells(&row));
        if i == kept {
            *best = (cfg.clone(), row.clone());
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
    Ok(())
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
    let mut measured = Measured {
        data,
        rows: Vec::new(),
    };
    let mut steps = Vec::new();
    let mut best = (start.clone(), measured.get("previous default", start)?);
    println!("| start | previous default {}", cells(&best.1));
    // Axes are built from the best so far, so each is rebuilt after the previous one settles.
    for axis_index in 0..axes(start).len() {
        let axis = axes(&best.0).swap_remove(axis_index);
        search_axis(&mut measured, axis, &mut best, &mut steps)?;
    }
    Ok((steps, best.0, best.1))
}

/// Prints the sweep's winner and whether it is `base` (the default).
fn print_winner(best_cfg: &TrainConfig, best_row: &Row, base: &TrainConfig) {
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
}

/// The previous default and the default re-run at [`CHECK_SEEDS`] other than `seed`, printed.
fn seed_checks(
    data: &Labelled,
    seed: u64,
    previous: &TrainConfig,
    base: &TrainConfig,
) -> Result<Vec<SeedCheck>, String> {
    println!(
        "Previous default vs `TrainConfig::default()` at other seeds (macro-F1, mean ± sd):\n"
    );
    println!("| seed | previous default | default |\n| ---: | ---: | ---: |");
    let mut checks = Vec::new();
    for seed in CHECK_SEEDS.into_iter().filter(|&s| s != seed) {
        let at = |cfg: &TrainConfig| TrainConfig {
            seed,
            ..cfg.clone()
        };
        let old = measure_lr(data, "previous default", &at(previous))?;
        let new = measure_lr(data, "default", &at(base))?;
        println!(
            "| {seed} | {:.3} ± {:.3} | {:.3} ± {:.3} |",
            old.cv.mean_macro_f1, old.cv.std_macro_f1, new.cv.mean_macro_f1, new.cv.std_macro_f1
        );
        checks.push(SeedCheck {
            seed,
            previous_default: old.cv.mean_macro_f1,
            previous_default_std: old.cv.std_macro_f1,
            default: new.cv.mean_macro_f1,
            default_std: new.cv.std_macro_f1,
        });
    }
    println!();
    Ok(checks)
}

/// Runs and prints the sweep section: the sweep from `previous`, its winner, the seed checks.
pub fn run(
    data: &Labelled,
    seed: u64,
    previous: &TrainConfig,
    base: &TrainConfig,
) -> Result<Sweep, String> {
    let (steps, best_cfg, best_row) = sweep(data, previous)?;
    print_winner(&best_cfg, &best_row, base);
    let seed_checks = seed_checks(data, seed, previous, base)?;
    Ok(Sweep {
        steps,
        best: best_cfg,
        seed_checks,
    })
}
