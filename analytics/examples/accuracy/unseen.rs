//! `--unseen`: the default, the previous default and the baseline trained on every dev row and
//! tested on another labelled file from the same source.

use std::path::Path;

use serde::Serialize;
use ticketflow_analytics::classify::{Classifier, Evaluation, ModelKind, TrainConfig, evaluate};

use crate::configs::{baseline, with_l2, with_source, without_neighbours};
use crate::data::{Labelled, class_index, load};
use ticketflow_analytics::classify::LexicalSource;

#[derive(Serialize)]
pub struct UnseenResult {
    file: String,
    rows: usize,
    default: Evaluation,
    previous_default: Evaluation,
    baseline: Evaluation,
}

/// The `--unseen` file, named as given.
pub struct Unseen<'a> {
    pub data: &'a Path,
    pub embeddings: &'a Path,
    pub name: &'a str,
}

/// The defaults being compared: the chosen model kind and configuration, and the previous default.
pub struct Defaults<'a> {
    pub chosen: ModelKind,
    pub cfg: &'a TrainConfig,
    pub previous: &'a TrainConfig,
}

fn fit(data: &Labelled, kind: ModelKind, cfg: &TrainConfig) -> Result<Classifier, String> {
    Classifier::fit(&data.examples, &data.labels, kind, cfg).map_err(|e| e.to_string())
}

/// The default with one setting put back: which change moves the score on the unseen file.
fn variants(cfg: &TrainConfig) -> [(&'static str, TrainConfig); 3] {
    [
        (
            "default without the neighbour block (embeddings at full scale)",
            without_neighbours(cfg),
        ),
        ("default with λ = 1e-4", with_l2(cfg, 1e-4)),
        (
            "default on the cleaned tokens",
            with_source(cfg, LexicalSource::Tokens),
        ),
    ]
}

/// Trains on all of `data`, tests on the `--unseen` file and prints the comparison.
pub fn run(data: &Labelled, file: &Unseen, d: &Defaults) -> Result<UnseenResult, String> {
    let other = load(file.data, file.embeddings)?;
    let test_on = |model: &Classifier| {
        let probs = model.predict_proba_batch(&other.examples);
        let truth: Vec<usize> = other.labels.iter().map(|l| class_index(model, l)).collect();
        evaluate(&model.classes, &truth, &probs)
    };
    let lr = ModelKind::LogisticRegression;
    let default = test_on(&fit(data, d.chosen, d.cfg)?);
    let base = test_on(&fit(data, lr, &baseline(d.cfg))?);
    let previous = test_on(&fit(data, lr, d.previous)?);
    let mut variant_rows = Vec::new();
    for (variant, cfg) in variants(d.cfg) {
        variant_rows.push((variant.to_owned(), test_on(&fit(data, lr, &cfg)?)));
    }
    let mut rows = vec![
        (
            format!("default ({} {})", d.cfg.features, d.chosen.abbreviation()),
            &default,
        ),
        ("previous default".to_owned(), &previous),
        ("baseline: TF-IDF words 1–2 + LR".to_owned(), &base),
    ];
    rows.extend(variant_rows.iter().map(|(n, e)| (n.clone(), e)));
    print_table(data.labels.len(), file.name, other.labels.len(), &rows);
    Ok(UnseenResult {
        file: file.name.to_owned(),
        rows: other.labels.len(),
        default,
        previous_default: previous,
        baseline: base,
    })
}

fn print_table(trained: usize, name: &str, tested: usize, rows: &[(String, &Evaluation)]) {
    println!(
        "\n## Trained on all {trained} rows, tested on `{name}` ({tested} labelled tickets it never saw)\n\n| model | macro-F1 | accuracy | weighted precision |\n| --- | ---: | ---: | ---: |",
    );
    for (model_name, e) in rows {
        println!(
            "| {model_name} | {:.3} | {:.3} | {:.3} |",
            e.macro_avg.f1, e.accuracy, e.weighted_avg.precision
        );
    }
}
