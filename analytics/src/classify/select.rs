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
use super::familiarity::Familiarity;
use super::routing::{choose_certified_threshold, clopper_pearson_lower, routed_at};
use super::split::{stratified_kfold, stratified_split};
use super::{
    Classifier, ClassifyError, Dataset, Example, FeatureSet, ModelKind, Routing, TrainConfig,
};

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

/// A cross-validation with its out-of-fold predictions: every row predicted once, by the model
/// of the fold that held it out. These are honest predictions for all rows, what calibration
/// and threshold choice need.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CrossValidation {
    pub report: CandidateReport,
    /// Class labels; probability vectors and `truth` follow this order.
    pub classes: Vec<String>,
    /// `probs[i]`: row `i`'s predicted distribution over `classes`.
    pub probs: Vec<Vec<f32>>,
    /// `truth[i]`: row `i`'s class index.
    pub truth: Vec<usize>,
    /// `fold[i]`: the fold that held row `i` out.
    pub fold: Vec<usize>,
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
    /// The auto-routing threshold, chosen on the chosen model's out-of-fold predictions of the
    /// train part, and how it did on the held-out part.
    pub routing: RoutingReport,
    /// Which rows went where; indices into the examples given to [`train_and_select`]. Not
    /// serialised: the trainer uses it to score the current `latest` on the very same rows.
    #[serde(skip)]
    pub split: SplitRows,
    /// Class probabilities of every example from a model that never saw it: the chosen
    /// candidate's cross-validation fold for train rows, the refitted model for held-out rows.
    /// In [`Classifier::classes`] order. Not serialised (one vector per ticket).
    #[serde(skip)]
    pub out_of_fold: Vec<Vec<f32>>,
}

/// Rows of a [`train_and_select`] call: the train part, the held-out part, and the test rows of
/// each cross-validation fold (which together are the train part).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitRows {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    pub folds: Vec<Vec<usize>>,
}

/// The routing threshold and what it gives.
///
/// Precision is the share of routed tickets whose predicted type is right (models trained
/// before the guarantee recorded weighted precision here, and no `confidence`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RoutingReport {
    pub target_precision: f64,
    /// The confidence of the guarantee: the routed tickets' precision is at least the target
    /// with this probability (see [`choose_certified_threshold`]); `None` on older models,
    /// whose threshold was a point estimate.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// The lowest threshold certified on the held-out tickets with the model that ships; `None`
    /// when none could be (everything goes to people).
    pub threshold: Option<f32>,
    /// The threshold certified on the held-out tickets (the one shipped), and the one the same
    /// test gives on the train part's out-of-fold predictions (reported for comparison).
    #[serde(default)]
    pub holdout_threshold: Option<f32>,
    #[serde(default)]
    pub oof_threshold: Option<f32>,
    /// The threshold applied to the out-of-fold predictions of the train part (the fold
    /// models, for comparison; older models chose their threshold there).
    pub oof_coverage: f64,
    pub oof_precision: f64,
    #[serde(default)]
    pub oof_routed: usize,
    /// The one-sided Clopper–Pearson lower bound on `holdout_precision` at `confidence`: the
    /// guarantee.
    #[serde(default)]
    pub lower_bound: Option<f64>,
    /// On the held-out part, where the threshold is certified with the model that ships
    /// (tickets it never saw), with the per-ticket familiarity checks applied as in production.
    pub holdout_coverage: f64,
    pub holdout_precision: f64,
    pub holdout_routed: usize,
    /// Held-out tickets the figures stand on.
    #[serde(default)]
    pub holdout_rows: usize,
    /// Held-out tickets held back as unlike the training data (whatever their confidence).
    #[serde(default)]
    pub holdout_held: usize,
}

impl RoutingReport {
    /// What the classifier stores of it.
    pub fn routing(&self) -> Routing {
        Routing {
            threshold: self.threshold,
            target_precision: self.target_precision,
            confidence: self.confidence,
            oof_coverage: self.oof_coverage,
            oof_precision: self.oof_precision,
            lower_bound: self.lower_bound,
        }
    }
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
    let (train, test) = stratified_split(labels, cfg.test_fraction, cfg.seed);
    select_on(examples, labels, train, test, cfg)
}

/// [`train_and_select`] with the held-out rows given: `held_out[i]` says whether example `i` is
/// kept out of fitting, selection and threshold choice. The trainer passes the roles of a
/// [`SplitRule`](super::membership::SplitRule), so a ticket held out in one run stays held out
/// in the next (cumulative exports), where a seeded split by position would not.
pub fn train_and_select_held_out(
    examples: &[Example],
    labels: &[String],
    held_out: &[bool],
    cfg: &TrainConfig,
) -> Result<(Classifier, TrainReport), ClassifyError> {
    validate(cfg)?;
    if held_out.len() != labels.len() {
        return Err(ClassifyError::LengthMismatch {
            examples: held_out.len(),
            labels: labels.len(),
        });
    }
    let (test, train): (Vec<usize>, Vec<usize>) = (0..labels.len()).partition(|&i| held_out[i]);
    select_on(examples, labels, train, test, cfg)
}

fn select_on(
    examples: &[Example],
    labels: &[String],
    train: Vec<usize>,
    test: Vec<usize>,
    cfg: &TrainConfig,
) -> Result<(Classifier, TrainReport), ClassifyError> {
    let data = Dataset::new(examples, labels, cfg)?;
    if train.is_empty() || test.is_empty() {
        return Err(ClassifyError::InvalidConfig(format!(
            "{} rows are too few to hold out {:.0}%: {} train, {} held out",
            labels.len(),
            cfg.test_fraction * 100.0,
            train.len(),
            test.len()
        )));
    }
    let (candidates, skipped) = usable_candidates(cfg);
    if candidates.is_empty() {
        return Err(ClassifyError::NoCandidates(cfg.features));
    }

    let mut cv = Vec::with_capacity(candidates.len());
    let mut oof_by_candidate = Vec::with_capacity(candidates.len());
    let mut folds = Vec::new();
    for &kind in &candidates {
        let cross = cross_validate_rows(&data, &train, kind, cfg)?;
        cv.push(cross.report.clone());
        if folds.is_empty() {
            // Every candidate uses the same seeded folds: keep them once, as dataset rows.
            folds = vec![Vec::new(); cfg.folds];
            for (position, &fold) in cross.fold.iter().enumerate() {
                folds[fold].push(train[position]);
            }
        }
        oof_by_candidate.push(cross.probs);
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
    let mut model = data.fit(&train, chosen, cfg, cfg.worker_threads())?;
    let refit_seconds = started.elapsed().as_secs_f64();
    let test_probs = predict_rows(&data, &model, &test);
    let test_truth: Vec<usize> = test.iter().map(|&r| data.y[r]).collect();
    let holdout = evaluate(&data.classes, &test_truth, &test_probs);

    // Every row's out-of-sample prediction: CV folds for the train part, the refit for the rest.
    let mut out_of_fold = vec![Vec::new(); examples.len()];
    for (&row, p) in train.iter().zip(oof_by_candidate.swap_remove(best)) {
        out_of_fold[row] = p;
    }
    for (&row, p) in test.iter().zip(&test_probs) {
        out_of_fold[row] = p.clone();
    }
    // The threshold is certified on the held-out tickets with the model that ships: they are
    // the only tickets that model never saw, so they are exchangeable with tomorrow's. (The
    // fold models' out-of-fold predictions alone are from weaker fits, trained on less data,
    // and the refit is more confident than they are.) Tickets unlike the training data are
    // held back first, as in production.
    let familiarity = Familiarity::fit(examples, &train, &test, &cfg.familiarity);
    let held: Vec<bool> = test
        .iter()
        .map(|&r| familiarity.check(&examples[r]).is_some())
        .collect();
    let (calibration_probs, calibration_truth): (Vec<Vec<f32>>, Vec<usize>) = test_probs
        .iter()
        .zip(&test_truth)
        .zip(&held)
        .filter(|(_, held)| !**held)
        .map(|((p, &t), _)| (p.clone(), t))
        .unzip();
    let on_holdout = choose_certified_threshold(
        &calibration_probs,
        &calibration_truth,
        cfg.target_precision,
        cfg.routing_confidence,
        cfg.routing_min_rows,
    )
    .map(|c| c.threshold);
    // The same test on the train part's out-of-fold predictions (a larger sample from weaker
    // fits), reported beside it: requiring both cost 2 points of coverage in the bench and
    // protected nothing at 0.99 confidence (20 of 20 splits either way).
    let train_probs: Vec<Vec<f32>> = train.iter().map(|&r| out_of_fold[r].clone()).collect();
    let train_truth: Vec<usize> = train.iter().map(|&r| data.y[r]).collect();
    let on_oof = choose_certified_threshold(
        &train_probs,
        &train_truth,
        cfg.target_precision,
        cfg.routing_confidence,
        cfg.routing_min_rows,
    )
    .map(|c| c.threshold);
    let threshold = on_holdout;
    let at_holdout = routed_at(&calibration_probs, &calibration_truth, threshold);
    let at_oof = routed_at(&train_probs, &train_truth, threshold);
    let routing = RoutingReport {
        target_precision: cfg.target_precision,
        confidence: Some(cfg.routing_confidence),
        threshold,
        holdout_threshold: on_holdout,
        oof_threshold: on_oof,
        oof_coverage: at_oof.coverage,
        oof_precision: at_oof.accuracy(),
        oof_routed: at_oof.routed,
        lower_bound: threshold.map(|_| {
            clopper_pearson_lower(
                at_holdout.correct,
                at_holdout.routed,
                cfg.routing_confidence,
            )
        }),
        holdout_coverage: at_holdout.routed as f64 / test.len().max(1) as f64,
        holdout_precision: at_holdout.accuracy(),
        holdout_routed: at_holdout.routed,
        holdout_rows: test.len(),
        holdout_held: held.iter().filter(|&&h| h).count(),
    };
    model.routing = Some(routing.routing());
    model.familiarity = Some(familiarity);
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
        routing,
        split: SplitRows {
            train: train.clone(),
            test: test.clone(),
            folds,
        },
        out_of_fold,
    };
    Ok((model, report))
}

/// Stratified k-fold cross-validation of one model kind on *all* the given rows (no held-out
/// part): the comparison the accuracy experiment makes between feature sets and models.
pub fn cross_validate(
    examples: &[Example],
    labels: &[String],
    kind: ModelKind,
    cfg: &TrainConfig,
) -> Result<CandidateReport, ClassifyError> {
    cross_validate_oof(examples, labels, kind, cfg).map(|cv| cv.report)
}

/// [`cross_validate`], keeping the out-of-fold predictions (indexed like `examples`).
pub fn cross_validate_oof(
    examples: &[Example],
    labels: &[String],
    kind: ModelKind,
    cfg: &TrainConfig,
) -> Result<CrossValidation, ClassifyError> {
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
    if !(cfg.routing_confidence > 0.0 && cfg.routing_confidence < 1.0) {
        return Err(ClassifyError::InvalidConfig(format!(
            "routing_confidence must be strictly between 0 and 1, got {}",
            cfg.routing_confidence
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

/// k-fold CV restricted to `rows` of `data`; folds run in parallel. The out-of-fold
/// predictions are indexed like `rows`.
fn cross_validate_rows(
    data: &Dataset<'_>,
    rows: &[usize],
    kind: ModelKind,
    cfg: &TrainConfig,
) -> Result<CrossValidation, ClassifyError> {
    let started = Instant::now();
    let labels: Vec<String> = rows
        .iter()
        .map(|&r| data.classes[data.y[r]].clone())
        .collect();
    // Folds index into `rows`; map them back to dataset rows (keeping the positions, for the
    // out-of-fold predictions).
    let positions = stratified_kfold(&labels, cfg.folds, cfg.seed);
    let folds: Vec<(Vec<usize>, Vec<usize>)> = positions
        .iter()
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
    type FoldOutcome = Result<(Evaluation, Vec<Vec<f32>>), ClassifyError>;
    let results: Mutex<Vec<Option<FoldOutcome>>> = Mutex::new(vec![None; folds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let f = next.fetch_add(1, Ordering::Relaxed);
                    let Some((train, test)) = folds.get(f) else {
                        break;
                    };
                    let outcome = data.fit(train, kind, cfg, per_fold_threads).map(|model| {
                        let probs = predict_rows(data, &model, test);
                        let truth: Vec<usize> = test.iter().map(|&r| data.y[r]).collect();
                        (evaluate(&data.classes, &truth, &probs), probs)
                    });
                    if let Ok(mut slots) = results.lock() {
                        slots[f] = Some(outcome);
                    }
                }
            });
        }
    });
    let slots = results.into_inner().unwrap_or_default();
    let mut evaluations = Vec::with_capacity(folds.len());
    let mut oof = vec![Vec::new(); rows.len()];
    let mut fold_of = vec![0; rows.len()];
    for (f, slot) in slots.into_iter().enumerate() {
        match slot {
            Some(outcome) => {
                let (evaluation, probs) = outcome?;
                for (&position, p) in positions[f].1.iter().zip(probs) {
                    oof[position] = p;
                    fold_of[position] = f;
                }
                evaluations.push(evaluation);
            }
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
    Ok(CrossValidation {
        report: CandidateReport {
            kind,
            mean_macro_f1: mean_f1,
            std_macro_f1: variance.sqrt(),
            mean_accuracy: mean(&accuracy),
            mean_weighted_precision: mean(&precision),
            fold_macro_f1: f1,
            seconds: started.elapsed().as_secs_f64(),
        },
        classes: data.classes.clone(),
        probs: oof,
        truth: rows.iter().map(|&r| data.y[r]).collect(),
        fold: fold_of,
    })
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
