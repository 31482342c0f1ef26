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
//!   labels on each side, when both sides have both.
//!
//! Embedding drift is computed by the caller (it needs the vectors, not the table) and passed in.

use super::features::FeatureRow;
use super::{
    ColumnDrift, ColumnValues, DriftOptions, DriftReport, EmbeddingDrift, QualityComparison,
    column_drift, dataset_drift,
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
    fn predicted(r: &FeatureRow) -> bool {
        !r.predicted_type.is_empty()
    }
    fn labelled(r: &FeatureRow) -> bool {
        !r.label.is_empty()
    }
    let prediction = (all_have(reference, predicted) && all_have(current, predicted))
        .then(|| compare_column("predicted_type", reference, current, opts))
        .flatten();
    let target = (all_have(reference, labelled) && all_have(current, labelled))
        .then(|| compare_column("label", reference, current, opts))
        .flatten();
    let both = |r: &FeatureRow| predicted(r) && labelled(r);
    let quality = (all_have(reference, both) && all_have(current, both)).then(|| {
        let mut classes: Vec<String> = reference
            .iter()
            .chain(current)
            .flat_map(|r| [r.label.clone(), r.predicted_type.clone()])
            .collect();
        classes.sort();
        classes.dedup();
        QualityComparison {
            reference: prediction_quality(reference, &classes),
            current: prediction_quality(current, &classes),
        }
    });
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
    }
}
