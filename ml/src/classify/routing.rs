//! Precision-targeted auto-routing: which tickets the model may route without a person.
//!
//! On these labels no model is right often enough on *every* ticket (Incident and Problem
//! overlap), but a support team only needs high precision on the tickets it routes without human
//! review. The classifier's top-class probability ranks tickets by confidence; routing the most
//! confident ones first, precision falls as coverage grows. This module walks that curve.
//!
//! - [`precision_coverage_curve`]: for every distinct confidence, the share of tickets at or above
//!   it (coverage) and their weighted precision.
//! - [`choose_threshold`]: the lowest confidence whose routed tickets still reach a target
//!   precision, i.e. the most coverage at that precision.
//!
//! The threshold must be chosen on **out-of-fold** predictions (each ticket scored by a model
//! that never saw it): on the rows a model was fitted on it is over-confident, and a threshold
//! chosen there routes far more tickets than it should. The trainer chooses it on the
//! cross-validation folds and reports how it holds up on the held-out rows.
//!
//! **Weighted precision** is scikit-learn's `precision_score(average="weighted")` over the routed
//! tickets: per predicted class, the share of its routed tickets that are right, weighted by how
//! many routed tickets truly belong to that class. The curve is built in one pass after one
//! sort, updating per-class counts incrementally, so it costs O(n log n + n·k).

use serde::{Deserialize, Serialize};

use super::eval::argmax;

/// One point of the precision-coverage curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Tickets whose top-class probability is at least this are routed.
    pub threshold: f32,
    /// Share of all tickets routed.
    pub coverage: f64,
    /// Weighted precision of the routed tickets.
    pub precision: f64,
    /// Number of tickets routed.
    pub routed: usize,
}

/// The threshold [`choose_threshold`] picked and what it gives on the rows it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    pub threshold: f32,
    pub coverage: f64,
    pub precision: f64,
    pub routed: usize,
}

/// The precision-coverage curve, from the most confident ticket down: one point per distinct
/// top-class probability (tickets with equal confidence are routed together). `probs[i]` is the
/// class distribution of ticket `i`, `truth[i]` its true class index. Non-finite probabilities
/// count as 0 (never routed before a finite one).
pub fn precision_coverage_curve(probs: &[Vec<f32>], truth: &[usize]) -> Vec<CurvePoint> {
    let n = probs.len().min(truth.len());
    if n == 0 {
        return Vec::new();
    }
    let k = probs
        .iter()
        .map(Vec::len)
        .chain(truth.iter().map(|&t| t + 1))
        .max()
        .unwrap_or(0);
    let mut order: Vec<(f32, usize, usize)> = (0..n)
        .map(|i| {
            let (class, p) = argmax(&probs[i]);
            (if p.is_finite() { p } else { 0.0 }, class, truth[i])
        })
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));

    // Per class: routed tickets predicted as it, routed tickets that truly are it, and the
    // correct ones. `sum` is Σ_c support_c · precision_c over the classes seen so far.
    let (mut predicted, mut support, mut correct) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    let term = |c: usize, predicted: &[u64], support: &[u64], correct: &[u64]| {
        if predicted[c] == 0 {
            0.0
        } else {
            support[c] as f64 * correct[c] as f64 / predicted[c] as f64
        }
    };
    let mut sum = 0.0;
    let mut curve = Vec::new();
    let mut i = 0;
    while i < n {
        let threshold = order[i].0;
        while i < n && order[i].0 == threshold {
            let (_, pred, true_class) = order[i];
            // Only the terms of the predicted and the true class change.
            sum -= term(pred, &predicted, &support, &correct);
            if true_class != pred {
                sum -= term(true_class, &predicted, &support, &correct);
            }
            predicted[pred] += 1;
            support[true_class] += 1;
            if pred == true_class {
                correct[pred] += 1;
            }
            sum += term(pred, &predicted, &support, &correct);
            if true_class != pred {
                sum += term(true_class, &predicted, &support, &correct);
            }
            i += 1;
        }
        curve.push(CurvePoint {
            threshold,
            coverage: i as f64 / n as f64,
            precision: sum / i as f64,
            routed: i,
        });
    }
    curve
}

/// The lowest confidence threshold at which the routed tickets reach `target_precision`, with at
/// least `min_rows` of them routed (a handful of lucky tickets is no evidence); `None` when no
/// threshold does.
pub fn choose_threshold(
    probs: &[Vec<f32>],
    truth: &[usize],
    target_precision: f64,
    min_rows: usize,
) -> Option<ThresholdChoice> {
    precision_coverage_curve(probs, truth)
        .into_iter()
        .filter(|p| p.routed >= min_rows.max(1) && p.precision >= target_precision)
        .max_by_key(|p| p.routed)
        .map(|p| ThresholdChoice {
            threshold: p.threshold,
            coverage: p.coverage,
            precision: p.precision,
            routed: p.routed,
        })
}

/// Coverage and weighted precision of routing the tickets at or above `threshold` (`None`: route
/// nothing). Used to check a threshold on rows it was not chosen on.
pub fn routed_at(probs: &[Vec<f32>], truth: &[usize], threshold: Option<f32>) -> CurvePoint {
    let empty = CurvePoint {
        threshold: threshold.unwrap_or(f32::NAN),
        coverage: 0.0,
        precision: 0.0,
        routed: 0,
    };
    let Some(t) = threshold else { return empty };
    precision_coverage_curve(probs, truth)
        .into_iter()
        .take_while(|p| p.threshold >= t)
        .last()
        .map_or(empty, |p| CurvePoint { threshold: t, ..p })
}

/// At most `max_points` points of a curve, evenly spaced in coverage (the first and last kept),
/// for plots and tables.
pub fn thin_curve(curve: &[CurvePoint], max_points: usize) -> Vec<CurvePoint> {
    if curve.len() <= max_points || max_points < 2 {
        return curve.to_vec();
    }
    let mut out = Vec::with_capacity(max_points);
    let mut next = 0.0;
    let step = 1.0 / (max_points - 1) as f64;
    for (i, p) in curve.iter().enumerate() {
        if p.coverage >= next || i + 1 == curve.len() {
            out.push(*p);
            next = p.coverage + step;
        }
    }
    out
}

/// A self-contained SVG plot of precision against coverage, with the target precision as a
/// dashed line and the chosen threshold as a dot: the picture of how much a team can route
/// automatically at which precision.
pub fn curve_svg(curve: &[CurvePoint], target_precision: f64, threshold: Option<f32>) -> String {
    use std::fmt::Write;
    const W: f64 = 480.0;
    const H: f64 = 300.0;
    const LEFT: f64 = 52.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 16.0;
    const RIGHT: f64 = 16.0;
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    // Precision axis from 0.5 (or lower when the curve goes there) to 1.
    let low = curve
        .iter()
        .map(|p| p.precision)
        .fold(0.5_f64, f64::min)
        .clamp(0.0, 0.5);
    let x = |coverage: f64| LEFT + coverage.clamp(0.0, 1.0) * pw;
    let y = |precision: f64| TOP + (1.0 - (precision.clamp(low, 1.0) - low) / (1.0 - low)) * ph;
    let mut svg = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11"><rect width="{W}" height="{H}" fill="#fff"/>"##
    );
    for i in 0..=5 {
        let c = f64::from(i) / 5.0;
        let p = low + (1.0 - low) * f64::from(i) / 5.0;
        let _ = write!(
            svg,
            r##"<line x1="{:.1}" y1="{TOP}" x2="{:.1}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{c:.1}</text><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{p:.2}</text>"##,
            x(c),
            x(c),
            TOP + ph,
            x(c),
            TOP + ph + 14.0,
            y(p),
            LEFT + pw,
            y(p),
            LEFT - 4.0,
            y(p) + 4.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">coverage (share of tickets routed automatically)</text><text x="12" y="{:.1}" text-anchor="middle" transform="rotate(-90 12 {:.1})">weighted precision</text>"##,
        LEFT + pw / 2.0,
        H - 6.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#c0392b" stroke-dasharray="5,4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#c0392b">target {target_precision:.2}</text>"##,
        y(target_precision),
        LEFT + pw,
        y(target_precision),
        LEFT + pw - 2.0,
        y(target_precision) - 4.0
    );
    let points: Vec<String> = thin_curve(curve, 200)
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.coverage), y(p.precision)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#2c6fbb" stroke-width="2" points="{}"/>"##,
        points.join(" ")
    );
    if let Some(t) = threshold
        && let Some(p) = curve.iter().take_while(|p| p.threshold >= t).last()
    {
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#c0392b"/><text x="{:.1}" y="{:.1}">threshold {t:.3}: coverage {:.2}</text>"##,
            x(p.coverage),
            y(p.precision),
            x(p.coverage) + 6.0,
            y(p.precision) + 14.0,
            p.coverage
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot_ish(class: usize, p: f32, k: usize) -> Vec<f32> {
        let rest = (1.0 - p) / (k - 1) as f32;
        let mut v = vec![rest; k];
        v[class] = p;
        v
    }

    /// Six tickets, two classes, hand-checked:
    ///
    /// | conf | pred | true |  routed so far: weighted precision
    /// | 0.9  | 0    | 0    |  1 of 1 right → 1.0
    /// | 0.8  | 1    | 1    |  2 of 2 → 1.0
    /// | 0.7  | 0    | 1    |  class 0: 1/2 right, support 1; class 1: 1/1, support 2 → (1·0.5 + 2·1)/3
    /// | 0.6  | 1    | 1    |  class 0: 1/2, s 1; class 1: 2/2, s 3 → (0.5 + 3)/4
    /// | 0.55 | 0    | 0    |  class 0: 2/3, s 2; class 1: 2/2, s 3 → (4/3 + 3)/5
    /// | 0.52 | 1    | 0    |  class 0: 2/3, s 3; class 1: 2/3, s 3 → (2 + 2)/6
    fn example() -> (Vec<Vec<f32>>, Vec<usize>) {
        let rows = [
            (0.9, 0, 0),
            (0.8, 1, 1),
            (0.7, 0, 1),
            (0.6, 1, 1),
            (0.55, 0, 0),
            (0.52, 1, 0),
        ];
        // Shuffled, so the sort matters.
        let order = [3, 0, 5, 1, 4, 2];
        let probs = order
            .iter()
            .map(|&i| one_hot_ish(rows[i].1, rows[i].0, 2))
            .collect();
        let truth = order.iter().map(|&i| rows[i].2).collect();
        (probs, truth)
    }

    #[test]
    fn curve_matches_the_hand_computed_weighted_precision() {
        let (probs, truth) = example();
        let curve = precision_coverage_curve(&probs, &truth);
        let expected = [
            1.0,
            1.0,
            (0.5 + 2.0) / 3.0,
            3.5 / 4.0,
            (4.0 / 3.0 + 3.0) / 5.0,
            4.0 / 6.0,
        ];
        assert_eq!(curve.len(), 6);
        for (point, want) in curve.iter().zip(expected) {
            assert!(
                (point.precision - want).abs() < 1e-12,
                "{point:?} vs {want}"
            );
        }
        assert_eq!(curve[2].routed, 3);
        assert!((curve[2].coverage - 0.5).abs() < 1e-12);
        assert!((curve[0].threshold - 0.9).abs() < 1e-6);
    }

    #[test]
    fn threshold_is_the_lowest_that_reaches_the_target() {
        let (probs, truth) = example();
        // 0.85 is reached at 0.9, 0.8, 0.6 (0.875) and 0.55 (0.867), not at 0.7 (0.833) nor at
        // 0.52: the lowest qualifying threshold is 0.55, though precision dips on the way.
        let choice = choose_threshold(&probs, &truth, 0.85, 1).expect("reachable");
        assert!((choice.threshold - 0.55).abs() < 1e-6, "{choice:?}");
        assert_eq!(choice.routed, 5);
        assert!((choice.coverage - 5.0 / 6.0).abs() < 1e-12);
        // At 0.87 only the first two and 0.6 qualify.
        let strict = choose_threshold(&probs, &truth, 0.87, 1).expect("reachable");
        assert!((strict.threshold - 0.6).abs() < 1e-6, "{strict:?}");
        // A minimum of 6 routed tickets cannot be met at 0.85.
        assert_eq!(choose_threshold(&probs, &truth, 0.85, 6), None);
        // Nothing reaches a precision above 1.
        assert_eq!(choose_threshold(&probs, &truth, 1.01, 1), None);
        // A target everyone meets routes everything.
        assert_eq!(
            choose_threshold(&probs, &truth, 0.0, 1).map(|c| c.routed),
            Some(6)
        );
    }

    #[test]
    fn ties_are_routed_together_and_nan_goes_last() {
        let probs = vec![
            vec![0.7, 0.3],
            vec![0.3, 0.7],
            vec![f32::NAN, 0.1],
            vec![0.7, 0.3],
        ];
        let truth = vec![0, 1, 0, 1];
        let curve = precision_coverage_curve(&probs, &truth);
        assert_eq!(curve.len(), 2, "{curve:?}");
        assert_eq!(curve[0].routed, 3);
        assert_eq!(curve[1].routed, 4);
    }

    #[test]
    fn routed_at_applies_a_threshold_chosen_elsewhere() {
        let (probs, truth) = example();
        let at = routed_at(&probs, &truth, Some(0.75));
        assert_eq!(at.routed, 2);
        assert!((at.precision - 1.0).abs() < 1e-12);
        assert_eq!(routed_at(&probs, &truth, None).routed, 0);
        assert_eq!(routed_at(&probs, &truth, Some(0.95)).routed, 0);
    }

    #[test]
    fn the_plot_marks_the_threshold_and_the_target() {
        let (probs, truth) = example();
        let curve = precision_coverage_curve(&probs, &truth);
        let svg = curve_svg(&curve, 0.85, Some(0.55));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("target 0.85"));
        assert!(svg.contains("threshold 0.550: coverage 0.83"), "{svg}");
        assert!(!curve_svg(&curve, 0.85, None).contains("<circle"));
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let (probs, truth) = example();
        let curve = precision_coverage_curve(&probs, &truth);
        let thin = thin_curve(&curve, 3);
        assert!(thin.len() <= 4 && thin.len() >= 2, "{thin:?}");
        assert_eq!(thin.first(), curve.first());
        assert_eq!(thin.last(), curve.last());
    }
}
