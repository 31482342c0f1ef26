//! Section 3: the default trained the way the trainer does it (`train_and_select` on a stratified
//! 80%) and evaluated once on the other 20%, next to the previous default and the baseline fitted
//! on the same 80%.

use std::time::Instant;

use serde::Serialize;
use ticketflow_analytics::classify::{
    Classifier, Evaluation, Example, ModelKind, ThresholdChoice, TrainConfig, TrainReport,
    apply_temperature, choose_threshold, cross_validate_oof, evaluate, fit_temperature,
    stratified_split, train_and_select,
};
use ticketflow_schemas::Ticket;

use crate::configs::{baseline, without_neighbours};
use crate::data::{Labelled, class_index, select};
use crate::measure::{MIN_ROUTED, TARGET_PRECISION};

/// One model fitted on the 80% and scored on the 20%, with its routing threshold chosen on the
/// 80%'s out-of-fold predictions.
#[derive(Serialize)]
pub struct Holdout {
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
pub struct Misclassified {
    row: u64,
    truth: String,
    predicted: String,
    confidence: f32,
    text: String,
}

/// What the held-out section measured.
pub struct HeldOut {
    pub report: TrainReport,
    pub select_seconds: f64,
    pub train_rows: usize,
    pub holdout: Vec<Holdout>,
    pub json_bytes: usize,
    pub msgpack_bytes: usize,
    pub most_confused: Option<(String, String, u64)>,
    pub misclassified: Vec<Misclassified>,
    /// The default model's predictions on the 20%, and the true classes.
    pub test_probs: Vec<Vec<f32>>,
    pub test_truth: Vec<usize>,
}

/// The stratified 80/20 split of `train_and_select`.
struct Split<'a> {
    labels: &'a [String],
    train_x: Vec<Example>,
    train_y: Vec<String>,
    test: Vec<usize>,
    test_x: Vec<Example>,
}

impl Split<'_> {
    /// `model`'s predictions on the 20% and the true class indices.
    fn predict(&self, model: &Classifier) -> (Vec<Vec<f32>>, Vec<usize>) {
        let probs = model.predict_proba_batch(&self.test_x);
        let truth = self
            .test
            .iter()
            .map(|&i| class_index(model, &self.labels[i]))
            .collect();
        (probs, truth)
    }

    fn fit(&self, cfg: &TrainConfig) -> Result<Classifier, String> {
        Classifier::fit(
            &self.train_x,
            &self.train_y,
            ModelKind::LogisticRegression,
            cfg,
        )
        .map_err(|e| e.to_string())
    }
}

/// Runs and prints the held-out section for the default `cfg` (see the header of `main.rs`).
pub fn run(data: &Labelled, cfg: &TrainConfig, previous: &TrainConfig) -> Result<HeldOut, String> {
    let (examples, labels) = (&data.examples, &data.labels);
    let select_started = Instant::now();
    let (model, report) = train_and_select(examples, labels, cfg).map_err(|e| e.to_string())?;
    let select_seconds = select_started.elapsed().as_secs_f64();
    let (train, test) = stratified_split(labels, cfg.test_fraction, cfg.seed);
    let split = Split {
        labels,
        train_x: select(examples, &train),
        train_y: select(labels, &train),
        test_x: select(examples, &test),
        test,
    };
    let (probs, truth) = split.predict(&model);
    // What the registry will store: the fitted classifier, serialised.
    let json_bytes = serde_json::to_vec(&model).map_or(0, |v| v.len());
    let msgpack_bytes = rmp_serde::to_vec_named(&model).map_or(0, |v| v.len());
    print_selection(cfg, &report, select_seconds, json_bytes, msgpack_bytes);
    println!("{}", report.holdout.to_markdown());
    let examples = Examples {
        model: &model,
        probs: &probs,
        truth: &truth,
        test: &split.test,
        tickets: &data.tickets,
    };
    let (most_confused, misclassified) = most_confused(&report.holdout, &examples);
    let holdout = compare(&split, &model, cfg, previous)?;
    print_comparison(&holdout);
    Ok(HeldOut {
        report,
        select_seconds,
        train_rows: train.len(),
        holdout,
        json_bytes,
        msgpack_bytes,
        most_confused,
        misclassified,
        test_probs: probs,
        test_truth: truth,
    })
}

/// Prints what `train_and_select` did and the model's serialised sizes.
fn print_selection(
    cfg: &TrainConfig,
    report: &TrainReport,
    select_seconds: f64,
    json_bytes: usize,
    msgpack_bytes: usize,
) {
    let candidates = report
        .cv
        .iter()
        .map(|c| {
            format!(
                "{} {:.3} ± {:.3}",
                c.kind.abbreviation(),
                c.mean_macro_f1,
                c.std_macro_f1
            )
        })
        .chain(report.skipped.iter().map(|s| format!("skipped {s}")))
        .collect::<Vec<_>>()
        .join("; ");
    println!(
        "## Held-out evaluation of the default\n\n`train_and_select` with `TrainConfig::default()` (features {}): stratified 80/20 split (seed {}); {}-fold CV \
         of the candidates on the {} training tickets ({}); the best, **{}**, refitted on them \
         ({:.1}s) and evaluated once on the other {} tickets: tickets from the same source that it \
         never saw. Whole call: {select_seconds:.1}s. (The settings themselves were chosen by the \
         cross-validation above, which saw all rows, these included.)\n",
        cfg.features,
        cfg.seed,
        cfg.folds,
        report.train_rows,
        candidates,
        report.chosen.abbreviation(),
        report.refit_seconds,
        report.test_rows,
    );
    println!(
        "Serialised model: {:.1} MB as JSON, {:.1} MB as MessagePack.\n",
        json_bytes as f64 / 1e6,
        msgpack_bytes as f64 / 1e6
    );
}

/// The default model's held-out predictions, for picking misclassified examples.
struct Examples<'a> {
    model: &'a Classifier,
    probs: &'a [Vec<f32>],
    truth: &'a [usize],
    test: &'a [usize],
    tickets: &'a [Ticket],
}

/// The most confused pair of types and up to three held-out tickets confused between them,
/// printed.
fn most_confused(
    evaluation: &Evaluation,
    ex: &Examples,
) -> (Option<(String, String, u64)>, Vec<Misclassified>) {
    let mut misclassified = Vec::new();
    let most_confused = evaluation.most_confused_pair().map(|(a, b, n)| {
        let classes = &ex.model.classes;
        let (ca, cb) = (classes[a].clone(), classes[b].clone());
        println!("\nMost confused pair: **{ca} ↔ {cb}** ({n} held-out tickets). Examples:\n");
        for (j, p) in ex.probs.iter().enumerate() {
            let (t, predicted) = (ex.truth[j], argmax(p));
            if (t, predicted) != (a, b) && (t, predicted) != (b, a) {
                continue;
            }
            let ticket = &ex.tickets[ex.test[j]];
            let m = Misclassified {
                row: ticket.row,
                truth: classes[t].clone(),
                predicted: classes[predicted].clone(),
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
        (ca, cb, n)
    });
    (most_confused, misclassified)
}

/// The default, the default without the neighbour block, the previous default and the baseline
/// on the same split; routing thresholds chosen on the 80% only.
fn compare(
    split: &Split,
    model: &Classifier,
    cfg: &TrainConfig,
    previous: &TrainConfig,
) -> Result<Vec<Holdout>, String> {
    let baseline_cfg = baseline(cfg);
    Ok(vec![
        holdout_of(split, "default", model, cfg, true)?,
        holdout_of(
            split,
            "default without the neighbour block (embeddings at full scale)",
            &split.fit(&without_neighbours(cfg))?,
            &without_neighbours(cfg),
            true,
        )?,
        holdout_of(
            split,
            "previous default",
            &split.fit(previous)?,
            previous,
            true,
        )?,
        holdout_of(
            split,
            "baseline: TF-IDF words 1–2 + LR",
            &split.fit(&baseline_cfg)?,
            &baseline_cfg,
            false,
        )?,
    ])
}

/// `model` scored on the 20%; with `routing`, also calibrated and thresholded as chosen on the
/// 80%'s out-of-fold predictions of `cfg`.
fn holdout_of(
    split: &Split,
    name: &str,
    model: &Classifier,
    cfg: &TrainConfig,
    routing: bool,
) -> Result<Holdout, String> {
    let (probs, truth) = split.predict(model);
    let mut h = Holdout {
        name: name.to_owned(),
        evaluation: evaluate(&model.classes, &truth, &probs),
        temperature: None,
        ece_calibrated: None,
        threshold: None,
        routed_coverage: None,
        routed_precision: None,
    };
    if routing {
        route(split, &mut h, &model.classes, &probs, &truth, cfg)?;
    }
    Ok(h)
}

/// Fills in the calibration and routing columns of `h` (see [`holdout_of`]).
fn route(
    split: &Split,
    h: &mut Holdout,
    classes: &[String],
    probs: &[Vec<f32>],
    truth: &[usize],
    cfg: &TrainConfig,
) -> Result<(), String> {
    let oof = cross_validate_oof(
        &split.train_x,
        &split.train_y,
        ModelKind::LogisticRegression,
        cfg,
    )
    .map_err(|e| format!("{}: {e}", h.name))?;
    let t = fit_temperature(&oof.probs, &oof.truth);
    let oof_calibrated: Vec<Vec<f32>> = oof.probs.iter().map(|p| apply_temperature(p, t)).collect();
    let calibrated: Vec<Vec<f32>> = probs.iter().map(|p| apply_temperature(p, t)).collect();
    h.temperature = Some(t);
    h.ece_calibrated = Some(evaluate(classes, truth, &calibrated).expected_calibration_error);
    h.threshold = choose_threshold(&oof_calibrated, &oof.truth, TARGET_PRECISION, MIN_ROUTED);
    if let Some(choice) = h.threshold {
        let (routed_p, routed_t): (Vec<Vec<f32>>, Vec<usize>) = calibrated
            .iter()
            .zip(truth)
            .filter(|(p, _)| p.iter().copied().fold(0.0, f32::max) >= choice.threshold)
            .map(|(p, t)| (p.clone(), *t))
            .unzip();
        h.routed_coverage = Some(routed_t.len() as f64 / truth.len().max(1) as f64);
        h.routed_precision = Some(
            evaluate(classes, &routed_t, &routed_p)
                .weighted_avg
                .precision,
        );
    }
    Ok(())
}

fn print_comparison(holdout: &[Holdout]) {
    println!(
        "\n### Same held-out 20%, all fitted on the same 80%\n\nRouting threshold: temperature T fitted on the 80%'s \
         out-of-fold predictions, threshold chosen on them (lowest reaching weighted precision {TARGET_PRECISION}), \
         then both applied unchanged to the 20%.\n"
    );
    println!(
        "| model | macro-F1 | accuracy | weighted precision | ECE raw → cal. | T | threshold | coverage (precision) on the 20% |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for h in holdout {
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
