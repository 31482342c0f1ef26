//! Building a [`DriftReport`] from two feature tables.
//!
//! Which columns are compared, and how:
//!
//! - **data drift**: `char_count`, `word_count`, `placeholder_share` (numeric), `language`,
//!   `queue`, `priority` (categorical) and `has_subject` (binary), each with Evidently's default
//!   test for its kind and the reference size;
//! - **prediction drift**: `predicted_type`, when both sides have predictions;
//! - **target drift**: `label`, when both sides have labels;
//! - **quality**: accuracy, per-class metrics and confusion of the predictions against the
//!   labels on each side, when both sides have both;
//! - **coverage**: the share of tickets production routed automatically, per side.
//!
//! A side's predictions are production's (`predicted_type`) when it has them, else the run's own
//! out-of-fold ones (`oof_predicted_type`, the first run of a data set); the report names which
//! ([`PredictionSources`]). The current run's out-of-fold quality is reported beside
//! production's as `challenger_quality`. In-sample predictions never enter the report.
//!
//! Embedding drift is computed by the caller (it needs the vectors, not the table) and passed in.

use super::feature_table::FeatureRow;
use super::{
    ColumnDrift, ColumnValues, CoverageChange, DriftOptions, DriftReport, EmbeddingDrift,
    PredictionSource, PredictionSources, QualityComparison, column_drift, dataset_drift,
};
use crate::classify::{Evaluation, evaluate};

/// The data-drift columns, in report order.
pub const DATA_COLUMNS: [&str; 7] = [
    "char_count",
    "word_count",
    "placeholder_share",
    "language",
    "queue",
    "priority",
    "has_subject",
];

fn values(rows: &[FeatureRow], column: &str) -> ColumnValues {
    let num = |f: fn(&FeatureRow) -> f64| ColumnValues::Numeric(rows.iter().map(f).collect());
    let cat =
        |f: fn(&FeatureRow) -> String| ColumnValues::Categorical(rows.iter().map(f).collect());
    match column {
        "char_count" => num(|r| r.char_count),
        "word_count" => num(|r| r.word_count),
        "placeholder_share" => num(|r| r.placeholder_share),
        "language" => cat(|r| r.language.clone()),
        "queue" => cat(|r| r.queue.clone()),
        "priority" => cat(|r| r.priority.clone()),
        "has_subject" => cat(|r| r.has_subject.to_string()),
        "predicted_type" => cat(|r| r.predicted_type.clone()),
        _ => cat(|r| r.label.clone()),
    }
}

/// Compares one column; a column that cannot be tested (empty on a side) is left out of the
/// report with a log line rather than failing the whole report.
fn compare_column(
    name: &str,
    reference: &[FeatureRow],
    current: &[FeatureRow],
    opts: &DriftOptions,
) -> Option<ColumnDrift> {
    match column_drift(name, &values(reference, name), &values(current, name), opts) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(column = name, error = %e, "column left out of the drift report");
            None
        }
    }
}

fn all_have(rows: &[FeatureRow], f: impl Fn(&FeatureRow) -> bool) -> bool {
    !rows.is_empty() && rows.iter().all(f)
}

/// Quality of the predictions against the labels, as an [`Evaluation`]. The top class gets the
/// stored probability; the rest is spread evenly (only the top-class confidence is kept in the
/// feature table).
pub fn prediction_quality(rows: &[FeatureRow], classes: &[String]) -> Evaluation {
    let k = classes.len().max(1);
    let index = |c: &str| classes.iter().position(|x| x == c).unwrap_or(usize::MAX);
    let truth: Vec<usize> = rows.iter().map(|r| index(&r.label)).collect();
    let probs: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| {
            let p = r.predicted_probability.unwrap_or(1.0).clamp(0.0, 1.0) as f32;
            let rest = if k > 1 {
                (1.0 - p) / (k - 1) as f32
            } else {
                0.0
            };
            let mut v = vec![rest; k];
            if let Some(slot) = v.get_mut(index(&r.predicted_type)) {
                *slot = p;
            }
            v
        })
        .collect();
    evaluate(classes, &truth, &probs)
}

/// A side's rows with `predicted_type` set from the source the report uses, and that source;
/// `None` when the side has neither production nor out-of-fold predictions on every row.
fn with_predictions(rows: &[FeatureRow]) -> Option<(Vec<FeatureRow>, PredictionSource)> {
    if all_have(rows, |r| !r.predicted_type.is_empty()) {
        return Some((rows.to_vec(), PredictionSource::Production));
    }
    if all_have(rows, |r| !r.oof_predicted_type.is_empty()) {
        let rows = rows
            .iter()
            .map(|r| FeatureRow {
                predicted_type: r.oof_predicted_type.clone(),
                predicted_probability: r.oof_probability,
                ..r.clone()
            })
            .collect();
        return Some((rows, PredictionSource::OutOfFold));
    }
    None
}

/// The rows whose predictions come from a model that never trained on them, and how many were
/// left out: production's rows marked `production_trained`; out-of-fold rows are all unseen.
fn unseen_by_model(rows: &[FeatureRow], source: PredictionSource) -> (Vec<FeatureRow>, usize) {
    if source == PredictionSource::OutOfFold {
        return (rows.to_vec(), 0);
    }
    let unseen: Vec<FeatureRow> = rows
        .iter()
        .filter(|r| r.production_trained != Some(true))
        .cloned()
        .collect();
    let excluded = rows.len() - unseen.len();
    (unseen, excluded)
}

/// Share of rows routed automatically, over the rows that say, leaving out tickets production
/// trained on (it is over-confident on them).
fn coverage(rows: &[FeatureRow]) -> Option<f64> {
    let said: Vec<bool> = rows
        .iter()
        .filter(|r| r.production_trained != Some(true))
        .filter_map(|r| r.auto)
        .collect();
    (!said.is_empty()).then(|| said.iter().filter(|&&a| a).count() as f64 / said.len() as f64)
}

fn class_list<'a>(rows: impl Iterator<Item = &'a FeatureRow>) -> Vec<String> {
    let mut classes: Vec<String> = rows
        .flat_map(|r| [r.label.clone(), r.predicted_type.clone()])
        .filter(|c| !c.is_empty())
        .collect();
    classes.sort();
    classes.dedup();
    classes
}

/// The whole report.
pub fn compare(
    reference_name: &str,
    reference: &[FeatureRow],
    current_name: &str,
    current: &[FeatureRow],
    embedding: Option<EmbeddingDrift>,
    opts: &DriftOptions,
    now_ms: u64,
) -> DriftReport {
    let columns: Vec<ColumnDrift> = DATA_COLUMNS
        .iter()
        .filter_map(|c| compare_column(c, reference, current, opts))
        .collect();
    let dataset = dataset_drift(&columns, opts.drift_share);
    fn labelled(r: &FeatureRow) -> bool {
        !r.label.is_empty()
    }
    let target = (all_have(reference, labelled) && all_have(current, labelled))
        .then(|| compare_column("label", reference, current, opts))
        .flatten();
    let sides = with_predictions(reference).zip(with_predictions(current));
    let prediction = sides
        .as_ref()
        .and_then(|((r, _), (c, _))| compare_column("predicted_type", r, c, opts));
    let predictions = sides.as_ref().map(|((_, r), (_, c))| PredictionSources {
        reference: *r,
        current: *c,
    });
    let quality = sides
        .as_ref()
        .filter(|((r, _), (c, _))| all_have(r, labelled) && all_have(c, labelled))
        .and_then(|((r, rs), (c, cs))| {
            // Production's own training tickets are in-sample: never part of its quality.
            let (r_unseen, r_excluded) = unseen_by_model(r, *rs);
            let (c_unseen, c_excluded) = unseen_by_model(c, *cs);
            if r_unseen.is_empty() || c_unseen.is_empty() {
                return None;
            }
            let classes = class_list(r_unseen.iter().chain(&c_unseen));
            Some(QualityComparison {
                reference: prediction_quality(&r_unseen, &classes),
                current: prediction_quality(&c_unseen, &classes),
                reference_rows: r_unseen.len(),
                current_rows: c_unseen.len(),
                reference_excluded: r_excluded,
                current_excluded: c_excluded,
            })
        });
    // The run's own out-of-fold quality, beside production's (when production's is shown).
    let challenger_quality = (predictions.map(|p| p.current) == Some(PredictionSource::Production))
        .then(|| with_oof_only(current))
        .flatten()
        .filter(|rows| all_have(rows, labelled))
        .map(|rows| prediction_quality(&rows, &class_list(rows.iter())));
    let coverage = coverage(reference)
        .zip(coverage(current))
        .map(|(reference, current)| CoverageChange { reference, current });
    DriftReport {
        reference: reference_name.to_string(),
        current: current_name.to_string(),
        generated_at_ms: now_ms,
        reference_rows: reference.len(),
        current_rows: current.len(),
        dataset,
        columns,
        embedding,
        prediction,
        target,
        quality,
        predictions,
        challenger_quality,
        coverage,
    }
}

/// The rows with their out-of-fold predictions in place of production's, when every row has one.
fn with_oof_only(rows: &[FeatureRow]) -> Option<Vec<FeatureRow>> {
    let cleared: Vec<FeatureRow> = rows
        .iter()
        .map(|r| FeatureRow {
            predicted_type: String::new(),
            ..r.clone()
        })
        .collect();
    with_predictions(&cleared).map(|(rows, _)| rows)
}
