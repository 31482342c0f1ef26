//! Section 1: every feature set × model with the default settings, the TF-IDF baseline and a kNN
//! vote on the embeddings.

use std::time::Instant;

use ticketflow_analytics::classify::{
    Example, FeatureSet, ModelKind, TrainConfig, evaluate, stratified_kfold,
};

use crate::args::Args;
use crate::configs::{baseline, with_l2};
use crate::data::Labelled;
use crate::measure::{Row, TABLE_HEADER, TABLE_RULE, cells, mean_sd, measure};

/// Neighbours of the kNN vote.
const KNN_K: usize = 15;

/// One grid entry: name, configuration, model, note.
type Entry = (String, TrainConfig, ModelKind, Option<&'static str>);

/// What the grid measured: a row per entry, and the kNN vote's mean ± sd macro-F1.
pub struct Grid {
    pub rows: Vec<Row>,
    pub knn: (f64, f64),
}

/// The grid's entries: the wanted feature sets × the models that support them, then the baseline
/// (unless `--only`).
fn entries(args: &Args, base: &TrainConfig) -> Vec<Entry> {
    let grid_base = match args.l2 {
        Some(l2) => with_l2(base, l2),
        None => base.clone(),
    };
    let mut grid: Vec<Entry> = Vec::new();
    let wanted = |f: &FeatureSet| args.only.is_empty() || args.only.contains(f);
    for features in FeatureSet::COMPARED.into_iter().filter(wanted) {
        for kind in ModelKind::ALL.into_iter().filter(|k| k.supports(features)) {
            let cfg = TrainConfig {
                features,
                ..grid_base.clone()
            };
            grid.push((features.name(), cfg, kind, None));
        }
    }
    if args.only.is_empty() {
        grid.push((
            "baseline: TF-IDF words 1–2".into(),
            baseline(base),
            ModelKind::LogisticRegression,
            Some("cleaned tokens, no character n-grams"),
        ));
    }
    grid
}

/// Runs and prints the grid, the kNN vote and the best feature set.
pub fn run(args: &Args, data: &Labelled, base: &TrainConfig) -> Result<Grid, String> {
    println!(
        "## Feature sets: {}-fold cross-validation on all rows, default settings\n",
        args.folds
    );
    println!("| features | model {TABLE_HEADER}");
    println!("| --- | --- {TABLE_RULE}");
    let mut rows = Vec::new();
    for (name, cfg, kind, note) in entries(args, base) {
        let row = measure(data, &name, &cfg, kind, note)?;
        println!("| {name} | {} {}", kind.abbreviation(), cells(&row));
        rows.push(row);
    }
    let knn = knn(args, data);
    print_best(&rows);
    Ok(Grid { rows, knn })
}

/// The nearest-neighbour classifier: k labelled neighbours by cosine similarity of the
/// embeddings (what a Chroma query returns), similarity-weighted vote. Brute force here gives
/// the exact neighbours; Chroma's HNSW index approximates them. Prints its row.
fn knn(args: &Args, data: &Labelled) -> (f64, f64) {
    let (examples, labels) = (&data.examples, &data.labels);
    let knn_started = Instant::now();
    let knn_folds: Vec<f64> = stratified_kfold(labels, args.folds, args.seed)
        .into_iter()
        .map(|(train, test)| knn_fold(examples, labels, &train, &test, KNN_K))
        .collect();
    let (knn_mean, knn_std) = mean_sd(&knn_folds);
    println!(
        "| embeddings | kNN (k=15, Chroma-style) | {knn_mean:.3} ± {knn_std:.3} | – | – | – | – | – | – | – | {:.0} |",
        knn_started.elapsed().as_secs_f64()
    );
    (knn_mean, knn_std)
}

fn print_best(rows: &[Row]) {
    if let Some(best) = rows
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

/// The `k` training rows most similar to `query` (dot product of the normalised embeddings).
fn nearest(examples: &[Example], train: &[usize], query: &[f32], k: usize) -> Vec<(f32, usize)> {
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
    sims.truncate(k);
    sims
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
        let mut votes = vec![0.0_f32; classes.len()];
        for (s, t) in nearest(examples, train, &examples[q].embedding, k) {
            votes[class_of(&labels[t])] += s.max(0.0);
        }
        let total: f32 = votes.iter().sum::<f32>().max(1e-12);
        probs.push(votes.iter().map(|v| v / total).collect::<Vec<f32>>());
        truth.push(class_of(&labels[q]));
    }
    evaluate(&classes, &truth, &probs).macro_avg.f1
}
