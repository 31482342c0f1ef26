//! Model selection: cross-validate the candidates, refit the best, evaluate it once on held-out
//! data.
//!
//! The held-out test part is touched exactly once, after the choice is made. Choosing by
//! cross-validation on the training part keeps the test score an honest estimate: had we picked
//! the model with the best *test* score, that score would be optimistic by construction.
//!
//! Folds are independent, so they are fitted on several threads; each fold is deterministic, so
//! the report is the same whatever the thread count (apart from the timings).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::eval::{Evaluation, evaluate};
use super::split::{stratified_kfold, stratified_split};
use super::{Classifier, ClassifyError, Dataset, Example, FeatureSet, ModelKind, TrainConfig};

/// Cross-validation scores of one candidate model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CandidateReport {
    pub kind: ModelKind,
    /// Macro-F1 of each fold, in fold order.
    pub fold_macro_f1: Vec<f64>,
    pub mean_macro_f1: f64,
    /// Population standard deviation over folds.
    pub std_macro_f1: f64,
    pub mean_accuracy: f64,
    pub mean_weighted_precision: f64,
    /// Wall-clock seconds for all folds (fit + predict).
    pub seconds: f64,
}

/// What [`train_and_select`] did and how the chosen model scored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrainReport {
    pub chosen: ModelKind,
    pub features: FeatureSet,
    /// One entry per candidate that was cross-validated, in candidate order.
    pub cv: Vec<CandidateReport>,
    /// Candidates left out, with the reason (a forest cannot use lexical features).
    pub skipped: Vec<String>,
    /// The chosen model, refitted on the whole train part, scored on the held-out part.
    pub holdout: Evaluation,
    pub train_rows: usize,
    pub test_rows: usize,
    pub split_seed: u64,
    /// Seconds to refit the chosen model on the train part.
    pub refit_seconds: f64,
}

/// Seeded stratified train/test split; k-fold CV on the train part for every candidate; the best
/// by mean macro-F1 is refit on the whole train part, evaluated on the held-out test part, and
/// returned.
///
/// Ties go to the earlier candidate in `cfg.candidates`. Candidates that cannot use
/// `cfg.features` are skipped and named in [`TrainReport::skipped`].
pub fn train_and_select(
    examples: &[Example],
    labels: &[String],
    cfg: &TrainConfig,
) -> Result<(Classifier, TrainReport), ClassifyError> {
    validate(cfg)?;
    let data = Dataset::new(examples, labels, cfg)?;
    let (train, test) = stratified_split(labels, cfg.test_fraction, cfg.seed);
    if train.is_empty() || test.is_empty() {
        return Err(ClassifyError::InvalidConfig(format!(
            "{} rows are too few for a {:.0}% test split",
            labels.len(),
            cfg.test_fraction * 100.0
        )));
    }
    let (candidates, skipped) = usable_candidates(cfg);
    if candidates.is_empty() {
        return Err(ClassifyError::NoCandidates(cfg.features));
    }

    let mut cv = Vec::with_capacity(candidates.len());
    for &kind in &candidates {
        cv.push(cross_validate_rows(&data, &train, kind, cfg)?);
    }
    let best = cv.iter().enumerate().fold(0, |best, (i, c)| {
        if c.mean_macro_f1 > cv[best].mean_macro_f1 {
            i
        } else {
            best
        }
    });
    let chosen = cv[best].kind;

    let started = Instant::now();
    let model = data.fit(&train, chosen, cfg, cfg.worker_threads())?;
    let refit_seconds = started.elapsed().as_secs_f64();
    let holdout = score(&data, &model, &test);
    let report = TrainReport {
        chosen,
        features: cfg.features,
        cv,
        skipped,
        holdout,
        train_rows: train.len(),
        test_rows: test.len(),
        split_seed: cfg.seed,
        refit_seconds,
    };
    Ok((model, report))
}

/// Stratified k-fold cross-validation of one model kind on *all* the given rows (no held-out
/// part): the comparison the accuracy benchmark makes between feature sets and models.
pub fn cross_validate(
    examples: &[Example],
    labels: &[String],
    kind: ModelKind,
    cfg: &TrainConfig,
) -> Result<CandidateReport, ClassifyError> {
    validate(cfg)?;
    let data = Dataset::new(examples, labels, cfg)?;
    let rows: Vec<usize> = (0..examples.len()).collect();
    cross_validate_rows(&data, &rows, kind, cfg)
}

fn validate(cfg: &TrainConfig) -> Result<(), ClassifyError> {
    if cfg.folds < 2 {
        return Err(ClassifyError::InvalidConfig(format!(
            "folds must be at least 2, got {}",
            cfg.folds
        )));
    }
    if !(cfg.test_fraction > 0.0 && cfg.test_fraction < 1.0) {
        return Err(ClassifyError::InvalidConfig(format!(
            "test_fraction must be strictly between 0 and 1, got {}",
            cfg.test_fraction
        )));
    }
    if cfg.features.is_empty() {
        return Err(ClassifyError::EmptyFeatureSet);
    }
    Ok(())
}

fn usable_candidates(cfg: &TrainConfig) -> (Vec<ModelKind>, Vec<String>) {
    let mut usable = Vec::new();
    let mut skipped = Vec::new();
    for &kind in &cfg.candidates {
        if usable.contains(&kind) {
            continue;
        } else if kind.supports(cfg.features) {
            usable.push(kind);
        } else {
            skipped.push(format!(
                "{kind}: does not support the feature set {} (dense features only)",
                cfg.features
            ));
        }
    }
    (usable, skipped)
}

/// k-fold CV restricted to `rows` of `data`; folds run in parallel.
fn cross_validate_rows(
    data: &Dataset<'_>,
    rows: &[usize],
    kind: ModelKind,
    cfg: &TrainConfig,
) -> Result<CandidateReport, ClassifyError> {
    let started = Instant::now();
    let labels: Vec<String> = rows
        .iter()
        .map(|&r| data.classes[data.y[r]].clone())
        .collect();
    // Folds index into `rows`; map them back to dataset rows.
    let folds: Vec<(Vec<usize>, Vec<usize>)> = stratified_kfold(&labels, cfg.folds, cfg.seed)
        .into_iter()
        .map(|(train, test)| {
            (
                train.iter().map(|&i| rows[i]).collect(),
                test.iter().map(|&i| rows[i]).collect(),
            )
        })
        .collect();
    if folds
        .iter()
        .any(|(train, test)| train.is_empty() || test.is_empty())
    {
        return Err(ClassifyError::InvalidConfig(format!(
            "{} rows are too few for {} folds",
            rows.len(),
            cfg.folds
        )));
    }

    let threads = cfg.worker_threads();
    // More workers than folds would idle; spare cores go to each fold's forest instead.
    let workers = threads.clamp(1, folds.len());
    let per_fold_threads = (threads / workers).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Evaluation, ClassifyError>>>> =
        Mutex::new(vec![None; folds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let f = next.fetch_add(1, Ordering::Relaxed);
                    let Some((train, test)) = folds.get(f) else {
                        break;
                    };
                    let outcome = data
                        .fit(train, kind, cfg, per_fold_threads)
                        .map(|model| score(data, &model, test));
                    if let Ok(mut slots) = results.lock() {
                        slots[f] = Some(outcome);
                    }
                }
            });
        }
    });
    let slots = results.into_inner().unwrap_or_default();
    let mut evaluations = Vec::with_capacity(folds.len());
    for slot in slots {
        match slot {
            Some(outcome) => evaluations.push(outcome?),
            None => {
                return Err(ClassifyError::InvalidConfig(
                    "a cross-validation worker panicked".into(),
                ));
            }
        }
    }

    let f1: Vec<f64> = evaluations.iter().map(|e| e.macro_avg.f1).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let mean_f1 = mean(&f1);
    let variance = f1.iter().map(|v| (v - mean_f1).powi(2)).sum::<f64>() / f1.len().max(1) as f64;
    let accuracy: Vec<f64> = evaluations.iter().map(|e| e.accuracy).collect();
    let precision: Vec<f64> = evaluations
        .iter()
        .map(|e| e.weighted_avg.precision)
        .collect();
    Ok(CandidateReport {
        kind,
        mean_macro_f1: mean_f1,
        std_macro_f1: variance.sqrt(),
        mean_accuracy: mean(&accuracy),
        mean_weighted_precision: mean(&precision),
        fold_macro_f1: f1,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Evaluates `model` on `rows` of `data`.
pub(crate) fn score(data: &Dataset<'_>, model: &Classifier, rows: &[usize]) -> Evaluation {
    let probs = predict_rows(data, model, rows);
    let truth: Vec<usize> = rows.iter().map(|&r| data.y[r]).collect();
    evaluate(&data.classes, &truth, &probs)
}

/// Predictions for `rows` of `data`, reusing its precomputed n-gram counts.
pub(crate) fn predict_rows(
    data: &Dataset<'_>,
    model: &Classifier,
    rows: &[usize],
) -> Vec<Vec<f32>> {
    let x = model
        .featurizer
        .transform(data.examples, Some(&data.counts), rows);
    model.predict_rows(&x)
}
