//! Scoring predictions: per-class metrics, averages, the confusion matrix and calibration.
//!
//! [`evaluate`] takes the true class of each row and the predicted probabilities, and computes
//! everything a model report needs in one pass. The definitions follow scikit-learn's
//! `classification_report`, so numbers can be cross-checked there:
//!
//! - **precision** of class *c*: of the rows predicted *c*, the share that are *c*;
//!   **recall**: of the rows that are *c*, the share predicted *c*; **F1**: their harmonic mean.
//!   A ratio with a zero denominator is 0 (scikit-learn's `zero_division=0`).
//! - **macro** average: the plain mean over classes, so a rare class counts as much as a common
//!   one. Macro-F1 is the headline number because ticket types are imbalanced and the rare ones
//!   (Change) are the ones a majority-class model silently drops.
//! - **weighted** average: the mean weighted by support (the number of true rows per class).
//! - **calibration**: rows are binned by their top-class probability (10 equal-width bins over
//!   `[0, 1]`); a calibrated model is right about 70% of the time when it says 0.7. The expected
//!   calibration error (ECE) is the row-weighted mean gap `|accuracy − confidence|` over bins.
//!
//! ```
//! use ticketflow_analytics::classify::evaluate;
//!
//! let classes = vec!["Change".to_string(), "Incident".to_string()];
//! let eval = evaluate(&classes, &[0, 1, 1], &[vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4]]);
//! assert_eq!(eval.confusion, vec![vec![1, 0], vec![1, 1]]);
//! assert!((eval.accuracy - 2.0 / 3.0).abs() < 1e-12);
//! println!("{}", eval.to_markdown());
//! ```

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Number of equal-width confidence bins in [`Evaluation::calibration`].
pub const CALIBRATION_BINS: usize = 10;

/// Precision, recall, F1 and support of one class.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose true class this is.
    pub support: u64,
}

/// An average of the per-class metrics (macro or support-weighted).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Averages {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One confidence bin of the reliability table: the rows whose top-class probability falls in
/// `[lower, upper)` (the last bin includes 1.0).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: u64,
    /// Mean top-class probability of the rows in the bin (0 when empty).
    pub mean_confidence: f64,
    /// Share of the rows in the bin whose top class was right (0 when empty).
    pub accuracy: f64,
}

/// Everything measured about a set of predictions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Class labels; the index into this list is the class index used everywhere else.
    pub classes: Vec<String>,
    pub accuracy: f64,
    /// One entry per class, in `classes` order.
    pub per_class: Vec<ClassMetrics>,
    pub macro_avg: Averages,
    pub weighted_avg: Averages,
    /// `confusion[true][predicted]` row counts.
    pub confusion: Vec<Vec<u64>>,
    /// [`CALIBRATION_BINS`] bins of the top-class probability, lowest first.
    pub calibration: Vec<CalibrationBin>,
    pub expected_calibration_error: f64,
    /// Rows evaluated.
    pub rows: usize,
}

/// Scores predictions against the truth.
///
/// `truth[i]` is row *i*'s class index and `probs[i]` its predicted distribution over `classes`;
/// the predicted class is the most probable one (the first on ties). Rows whose true class index
/// is out of range, or whose probability vector has the wrong length, are skipped rather than
/// trusted: they cannot be scored, and `rows` reports how many were.
pub fn evaluate(classes: &[String], truth: &[usize], probs: &[Vec<f32>]) -> Evaluation {
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    let mut bins = vec![(0u64, 0f64, 0u64); CALIBRATION_BINS]; // (count, Σ confidence, correct)
    let mut rows = 0usize;
    for (&t, p) in truth.iter().zip(probs) {
        if t >= k || p.len() != k {
            continue;
        }
        let (predicted, confidence) = argmax(p);
        confusion[t][predicted] += 1;
        let confidence = f64::from(confidence).clamp(0.0, 1.0);
        let bin = ((confidence * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += confidence;
        bins[bin].2 += u64::from(predicted == t);
        rows += 1;
    }

    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            ClassMetrics {
                label: classes[c].clone(),
                precision,
                recall,
                f1: ratio(2.0 * precision * recall, precision + recall),
                support,
            }
        })
        .collect();

    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    let calibration: Vec<CalibrationBin> = bins
        .iter()
        .enumerate()
        .map(|(i, &(count, confidence_sum, right))| CalibrationBin {
            lower: i as f64 / CALIBRATION_BINS as f64,
            upper: (i + 1) as f64 / CALIBRATION_BINS as f64,
            count,
            mean_confidence: ratio(confidence_sum, count as f64),
            accuracy: ratio(right as f64, count as f64),
        })
        .collect();
    let expected_calibration_error = calibration
        .iter()
        .map(|b| b.count as f64 * (b.accuracy - b.mean_confidence).abs())
        .sum::<f64>()
        / (rows.max(1) as f64);

    Evaluation {
        classes: classes.to_vec(),
        accuracy: ratio(correct as f64, rows as f64),
        macro_avg: average(&per_class, |_| 1.0),
        weighted_avg: average(&per_class, |m| m.support as f64),
        per_class,
        confusion,
        calibration,
        expected_calibration_error,
        rows,
    }
}

/// Index and value of the largest probability; the first wins ties, and NaN never wins.
pub fn argmax(p: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in p.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    if best.1 == f32::NEG_INFINITY {
        (0, 0.0)
    } else {
        best
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

fn average(per_class: &[ClassMetrics], weight: impl Fn(&ClassMetrics) -> f64) -> Averages {
    let total: f64 = per_class.iter().map(&weight).sum();
    let mean = |metric: fn(&ClassMetrics) -> f64| {
        ratio(per_class.iter().map(|m| weight(m) * metric(m)).sum(), total)
    };
    Averages {
        precision: mean(|m| m.precision),
        recall: mean(|m| m.recall),
        f1: mean(|m| m.f1),
    }
}

impl Evaluation {
    /// The most confused pair of distinct classes: `(a, b, rows)` where `rows` counts *a*
    /// predicted as *b* plus *b* predicted as *a*. `None` when there are no errors.
    pub fn most_confused_pair(&self) -> Option<(usize, usize, u64)> {
        let k = self.confusion.len();
        let mut best = None;
        for a in 0..k {
            for b in a + 1..k {
                let n = self.confusion[a][b] + self.confusion[b][a];
                if n > 0 && best.is_none_or(|(_, _, m)| n > m) {
                    best = Some((a, b, n));
                }
            }
        }
        best
    }

    /// A readable report: summary, per-class table, confusion matrix and reliability table, as
    /// GitHub-flavoured Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(
            md,
            "**{} rows** · accuracy **{:.3}** · macro-F1 **{:.3}** · weighted-F1 {:.3} · ECE {:.3}\n",
            self.rows,
            self.accuracy,
            self.macro_avg.f1,
            self.weighted_avg.f1,
            self.expected_calibration_error
        );

        md.push_str(
            "| class | precision | recall | F1 | support |\n| --- | ---: | ---: | ---: | ---: |\n",
        );
        for m in &self.per_class {
            let _ = writeln!(
                md,
                "| {} | {:.3} | {:.3} | {:.3} | {} |",
                m.label, m.precision, m.recall, m.f1, m.support
            );
        }
        for (name, avg) in [
            ("macro avg", &self.macro_avg),
            ("weighted avg", &self.weighted_avg),
        ] {
            let _ = writeln!(
                md,
                "| *{name}* | {:.3} | {:.3} | {:.3} | {} |",
                avg.precision, avg.recall, avg.f1, self.rows
            );
        }

        md.push_str(
            "\nConfusion matrix (rows: true class, columns: predicted):\n\n| true \\ predicted |",
        );
        for c in &self.classes {
            let _ = write!(md, " {c} |");
        }
        md.push_str("\n| --- |");
        md.push_str(&" ---: |".repeat(self.classes.len()));
        md.push('\n');
        for (label, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(md, "| **{label}** |");
            for n in row {
                let _ = write!(md, " {n} |");
            }
            md.push('\n');
        }

        md.push_str("\nReliability (top-class probability bins; empty bins omitted):\n\n");
        md.push_str(
            "| confidence | rows | mean confidence | accuracy |\n| --- | ---: | ---: | ---: |\n",
        );
        for b in self.calibration.iter().filter(|b| b.count > 0) {
            let _ = writeln!(
                md,
                "| {:.1}–{:.1} | {} | {:.3} | {:.3} |",
                b.lower, b.upper, b.count, b.mean_confidence, b.accuracy
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["A", "B", "C"].iter().map(|s| s.to_string()).collect()
    }

    /// A one-hot-ish distribution that predicts `class` with probability `p`.
    fn predict(class: usize, p: f32) -> Vec<f32> {
        let rest = (1.0 - p) / 2.0;
        (0..3).map(|c| if c == class { p } else { rest }).collect()
    }

    /// Ten predictions, worked out by hand:
    ///
    /// ```text
    /// true:      A A A A B B B C C C
    /// predicted: A A B C B B A C C B
    /// ```
    ///
    /// Confusion `[true][pred]`: A → [2,1,1], B → [1,2,0], C → [0,1,2]; 6 of 10 right.
    /// A: P = 2/3 (pred A: 2 right of 3), R = 2/4, F1 = 2·(2/3)(1/2)/(2/3+1/2) = 4/7.
    /// B: P = 2/4, R = 2/3, F1 = 4/7. C: P = 2/3 (pred C: 3), R = 2/3, F1 = 2/3.
    fn ten() -> Evaluation {
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1];
        let probs: Vec<Vec<f32>> = predicted.iter().map(|&c| predict(c, 0.6)).collect();
        evaluate(&classes(), &truth, &probs)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn confusion_matrix_and_accuracy_match_the_hand_count() {
        let e = ten();
        assert_eq!(
            e.confusion,
            vec![vec![2, 1, 1], vec![1, 2, 0], vec![0, 1, 2]]
        );
        assert_eq!(e.rows, 10);
        assert!(close(e.accuracy, 0.6));
    }

    #[test]
    fn per_class_and_averages_match_the_hand_computation() {
        let e = ten();
        let expected = [
            ("A", 2.0 / 3.0, 0.5, 4.0 / 7.0, 4),
            ("B", 0.5, 2.0 / 3.0, 4.0 / 7.0, 3),
            ("C", 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 3),
        ];
        for (m, (label, p, r, f1, support)) in e.per_class.iter().zip(expected) {
            assert_eq!(m.label, label);
            assert!(close(m.precision, p), "{label} precision {}", m.precision);
            assert!(close(m.recall, r), "{label} recall {}", m.recall);
            assert!(close(m.f1, f1), "{label} f1 {}", m.f1);
            assert_eq!(m.support, support);
        }
        assert!(close(
            e.macro_avg.f1,
            (4.0 / 7.0 + 4.0 / 7.0 + 2.0 / 3.0) / 3.0
        ));
        assert!(close(
            e.macro_avg.precision,
            (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 3.0
        ));
        assert!(
            close(e.weighted_avg.recall, 0.6),
            "weighted recall is accuracy"
        );
        assert!(close(
            e.weighted_avg.precision,
            (4.0 * 2.0 / 3.0 + 3.0 * 0.5 + 3.0 * 2.0 / 3.0) / 10.0
        ));
        assert_eq!(e.most_confused_pair(), Some((0, 1, 2)));
    }

    #[test]
    fn a_class_never_predicted_has_zero_precision_not_nan() {
        let e = evaluate(
            &classes(),
            &[0, 1, 2],
            &[predict(0, 0.9), predict(0, 0.9), predict(0, 0.9)],
        );
        assert_eq!(e.per_class[1].precision, 0.0);
        assert_eq!(e.per_class[1].f1, 0.0);
        assert!(e.macro_avg.f1.is_finite());
    }

    #[test]
    fn calibration_bins_count_confidence_and_accuracy() {
        // Four rows at 0.95 (3 right), two at 0.55 (1 right), one at exactly 1.0 (right).
        let truth = [0, 0, 0, 1, 0, 1, 2];
        let probs = vec![
            predict(0, 0.95),
            predict(0, 0.95),
            predict(0, 0.95),
            predict(0, 0.95),
            predict(0, 0.55),
            predict(0, 0.55),
            vec![0.0, 0.0, 1.0],
        ];
        let e = evaluate(&classes(), &truth, &probs);
        assert_eq!(e.calibration.len(), CALIBRATION_BINS);
        let b5 = &e.calibration[5];
        assert!(close(b5.lower, 0.5) && close(b5.upper, 0.6));
        assert_eq!(b5.count, 2);
        assert!((b5.mean_confidence - 0.55).abs() < 1e-6);
        assert!(close(b5.accuracy, 0.5));
        let b9 = &e.calibration[9];
        assert_eq!(b9.count, 5, "1.0 falls in the last bin");
        assert!(close(b9.accuracy, 0.8));
        assert!((b9.mean_confidence - (4.0 * 0.95 + 1.0) / 5.0).abs() < 1e-6);
        let empty = &e.calibration[0];
        assert_eq!(
            (empty.count, empty.accuracy, empty.mean_confidence),
            (0, 0.0, 0.0)
        );
        let ece = (2.0 * (0.5f64 - 0.55).abs() + 5.0 * (0.8f64 - 0.96).abs()) / 7.0;
        assert!((e.expected_calibration_error - ece).abs() < 1e-6);
    }

    #[test]
    fn unscorable_rows_are_skipped() {
        let e = evaluate(
            &classes(),
            &[0, 7, 1],
            &[predict(0, 0.9), predict(0, 0.9), vec![1.0]],
        );
        assert_eq!(e.rows, 1);
        assert!(close(e.accuracy, 1.0));
    }

    #[test]
    fn markdown_has_the_tables() {
        let md = ten().to_markdown();
        assert!(md.contains("accuracy **0.600**"), "{md}");
        assert!(md.contains("| A | 0.667 | 0.500 | 0.571 | 4 |"), "{md}");
        assert!(md.contains("| **A** | 2 | 1 | 1 |"), "{md}");
        assert!(md.contains("| 0.6–0.7 | 10 | 0.600 | 0.600 |"), "{md}");
    }
}
