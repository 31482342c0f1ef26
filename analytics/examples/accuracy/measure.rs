//! One cross-validated configuration: its scores, calibration and coverage, and its table cells.

use serde::Serialize;
use ticketflow_analytics::classify::{
    CandidateReport, CrossValidation, ModelKind, ThresholdChoice, TrainConfig, apply_temperature,
    choose_threshold, cross_validate_oof, evaluate, fit_temperature, log_loss,
};

use crate::data::Labelled;

/// Weighted precision the routing threshold must reach.
pub const TARGET_PRECISION: f64 = 0.85;
/// Fewest tickets a threshold may route: fewer would owe their precision to luck.
pub const MIN_ROUTED: usize = 50;

/// Calibration and routing numbers of one configuration's out-of-fold predictions.
#[derive(Serialize, Clone)]
pub struct Calibration {
    /// T fitted on all out-of-fold predictions.
    pub temperature: f64,
    /// The cross-fitted T of each fold (fitted on the other folds).
    pub fold_temperatures: Vec<f64>,
    pub ece_raw: f64,
    pub ece_calibrated: f64,
    pub log_loss_raw: f64,
    pub log_loss_calibrated: f64,
    pub coverage_raw: Option<ThresholdChoice>,
    pub coverage_calibrated: Option<ThresholdChoice>,
}

/// One cross-validated configuration.
#[derive(Serialize, Clone)]
pub struct Row {
    pub name: String,
    pub features: String,
    pub model: ModelKind,
    pub note: Option<&'static str>,
    #[serde(flatten)]
    pub cv: CandidateReport,
    pub calibration: Calibration,
}

impl Row {
    /// Calibrated coverage at the target precision (0 when unreachable).
    pub fn coverage(&self) -> f64 {
        self.calibration
            .coverage_calibrated
            .map_or(0.0, |c| c.coverage)
    }

    /// The sweep's order: mean macro-F1 at the three decimals reported, then coverage.
    pub fn beats(&self, other: &Row) -> bool {
        let f1 = |r: &Row| (r.cv.mean_macro_f1 * 1000.0).round() as i64;
        f1(self) > f1(other) || (f1(self) == f1(other) && self.coverage() > other.coverage())
    }
}

pub const TABLE_HEADER: &str = "| macro-F1 (mean ± sd) | accuracy | weighted precision | coverage @0.85, raw | coverage @0.85, calibrated | ECE raw → cal. | log-loss raw → cal. | T | s |";
pub const TABLE_RULE: &str = "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

/// The measured columns of a row, as in [`TABLE_HEADER`].
pub fn cells(row: &Row) -> String {
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

/// The out-of-fold predictions scaled with cross-fitted temperatures: each fold's with a T fitted
/// on the other folds. Returns them and the T of each fold.
fn cross_fitted(cv: &CrossValidation, folds: usize) -> (Vec<Vec<f32>>, Vec<f64>) {
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
    (calibrated, fold_temperatures)
}

/// Calibration and coverage of a cross-validation's out-of-fold predictions (see the header).
fn calibration(cv: &CrossValidation, folds: usize) -> Calibration {
    let (calibrated, fold_temperatures) = cross_fitted(cv, folds);
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
pub fn measure(
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

/// [`measure`] with logistic regression and no note.
pub fn measure_lr(data: &Labelled, name: &str, cfg: &TrainConfig) -> Result<Row, String> {
    measure(data, name, cfg, ModelKind::LogisticRegression, None)
}

/// Mean and (population) standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    (mean, sd)
}
