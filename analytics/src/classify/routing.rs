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
    /// Routed tickets whose predicted type is right: `correct / routed` is the plain precision
    /// of the routed tickets, the share a help desk sees routed correctly.
    #[serde(default)]
    pub correct: usize,
}

impl CurvePoint {
    /// Share of the routed tickets whose predicted type is right (0 when none is routed).
    pub fn accuracy(&self) -> f64 {
        if self.routed == 0 {
            0.0
        } else {
            self.correct as f64 / self.routed as f64
        }
    }
}

/// The threshold [`choose_threshold`] picked and what it gives on the rows it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    pub threshold: f32,
    pub coverage: f64,
    /// Weighted precision ([`choose_threshold`]) or plain precision, the share routed right
    /// ([`choose_certified_threshold`]), of the routed tickets.
    pub precision: f64,
    pub routed: usize,
    /// The one-sided Clopper–Pearson lower bound on the plain precision at the chosen
    /// confidence ([`choose_certified_threshold`]); `None` from [`choose_threshold`].
    #[serde(default)]
    pub lower_bound: Option<f64>,
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
            correct: correct.iter().sum::<u64>() as usize,
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
            lower_bound: None,
        })
}

/// `P(X ≥ correct)` for `X ~ Binomial(n, p)`: the one-sided p-value of "precision is below
/// `p`" after seeing `correct` of `n` routed tickets right. Small means the data make a
/// precision below `p` implausible.
pub fn binomial_upper_tail(correct: usize, n: usize, p: f64) -> f64 {
    if correct == 0 || p >= 1.0 {
        return 1.0;
    }
    if correct > n || p <= 0.0 {
        return 0.0;
    }
    // P(X ≥ k) = I_p(k, n − k + 1), the regularised incomplete beta function.
    statrs::function::beta::beta_reg(correct as f64, (n - correct + 1) as f64, p)
}

/// The one-sided Clopper–Pearson lower confidence bound on a proportion: the smallest `p` that
/// `correct` successes in `n` trials do not rule out at `confidence` (e.g. 0.95). 0 when
/// nothing was right.
pub fn clopper_pearson_lower(correct: usize, n: usize, confidence: f64) -> f64 {
    if n == 0 || correct == 0 {
        return 0.0;
    }
    let alpha = 1.0 - confidence;
    // The tail grows with p: bisect for the p where it equals alpha.
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if binomial_upper_tail(correct, n, mid) < alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The lowest confidence threshold whose routed tickets are right at least `target_precision`
/// of the time **with `confidence`**, judged on out-of-fold predictions.
///
/// Each candidate threshold `t` is a hypothesis test of "the precision of tickets at or above
/// `t` is below the target": its p-value is the binomial tail of what was seen
/// ([`binomial_upper_tail`]; rejecting at level `1 − confidence` is the same as the one-sided
/// Clopper–Pearson lower bound reaching the target). Thresholds are tested from the most
/// confident down, starting where at least `min_rows` tickets are routed, and testing stops at
/// the first that fails: *fixed-sequence testing*, which controls the chance of certifying any
/// threshold whose true precision is below the target at `1 − confidence` however many
/// thresholds are tried. This is Learn-then-Test (Angelopoulos, Bates, Candès, Jordan and Lei,
/// 2021, "Learn then Test: Calibrating Predictive Algorithms to Achieve Risk Control") with
/// binomial p-values. The guarantee holds for new tickets exchangeable with the calibration
/// ones: same source, no drift (which is why drifted batches and unfamiliar tickets are not
/// routed at all; see [`super::familiarity`]).
///
/// Precision here is plain: routed tickets whose predicted type is right, over routed tickets.
/// `None` when not even the first threshold passes (everything goes to people).
pub fn choose_certified_threshold(
    probs: &[Vec<f32>],
    truth: &[usize],
    target_precision: f64,
    confidence: f64,
    min_rows: usize,
) -> Option<ThresholdChoice> {
    let alpha = 1.0 - confidence;
    let mut chosen = None;
    for p in precision_coverage_curve(probs, truth)
        .into_iter()
        .filter(|p| p.routed >= min_rows.max(1))
    {
        if binomial_upper_tail(p.correct, p.routed, target_precision) > alpha {
            break;
        }
        chosen = Some(ThresholdChoice {
            threshold: p.threshold,
            coverage: p.coverage,
            precision: p.accuracy(),
            routed: p.routed,
            lower_bound: Some(clopper_pearson_lower(p.correct, p.routed, confidence)),
        });
    }
    chosen
}

/// Coverage and weighted precision of routing the tickets at or above `threshold` (`None`: route
/// nothing). Used to check a threshold on rows it was not chosen on.
pub fn routed_at(probs: &[Vec<f32>], truth: &[usize], threshold: Option<f32>) -> CurvePoint {
    let empty = CurvePoint {
        threshold: threshold.unwrap_or(f32::NAN),
        coverage: 0.0,
        precision: 0.0,
        routed: 0,
        correct: 0,
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
    fn the_curve_counts_the_routed_tickets_that_are_right() {
        let (probs, truth) = example();
        let curve = precision_coverage_curve(&probs, &truth);
        let correct: Vec<usize> = curve.iter().map(|p| p.correct).collect();
        assert_eq!(correct, [1, 2, 2, 3, 4, 4]);
        assert!((curve[2].accuracy() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn binomial_tail_and_clopper_pearson_match_known_values() {
        // P(X >= 19 | 19, 0.85) = 0.85^19.
        assert!((binomial_upper_tail(19, 19, 0.85) - 0.85_f64.powi(19)).abs() < 1e-12);
        // P(X >= 1 | 2, 0.5) = 0.75.
        assert!((binomial_upper_tail(1, 2, 0.5) - 0.75).abs() < 1e-12);
        assert_eq!(binomial_upper_tail(0, 10, 0.5), 1.0);
        // All n right: the lower bound is alpha^(1/n) (0.05^(1/10) = 0.7411).
        let lb = clopper_pearson_lower(10, 10, 0.95);
        assert!((lb - 0.05_f64.powf(0.1)).abs() < 1e-9, "{lb}");
        // 90 of 100: scipy.stats.beta.ppf(0.05, 90, 11) = 0.8363.
        let lb = clopper_pearson_lower(90, 100, 0.95);
        assert!((lb - 0.8363).abs() < 5e-4, "{lb}");
        assert!(clopper_pearson_lower(90, 100, 0.99) < lb);
    }

    /// Tickets whose confidence is the probability of being right: the point-estimate
    /// threshold lands where precision is the target on *these* tickets, the certified one
    /// higher (less coverage), with a lower bound at or above the target.
    #[test]
    fn the_certified_threshold_keeps_a_margin_for_sampling_error() {
        let mut rng = fastrand::Rng::with_seed(5);
        let n = 4_000;
        let mut probs = Vec::with_capacity(n);
        let mut truth = Vec::with_capacity(n);
        for _ in 0..n {
            let p = 0.5 + 0.5 * rng.f32();
            probs.push(one_hot_ish(0, p, 2));
            truth.push(usize::from(rng.f32() >= p));
        }
        // The point estimate of plain precision: the most coverage whose precision, as seen,
        // is at the target.
        let point = precision_coverage_curve(&probs, &truth)
            .into_iter()
            .filter(|p| p.routed >= 50 && p.accuracy() >= 0.85)
            .max_by_key(|p| p.routed)
            .expect("point");
        let certified =
            choose_certified_threshold(&probs, &truth, 0.85, 0.95, 50).expect("certified");
        assert!(
            certified.threshold > point.threshold,
            "{certified:?} {point:?}"
        );
        assert!(certified.routed < point.routed);
        let lb = certified.lower_bound.expect("bound");
        assert!(lb >= 0.85 && lb < certified.precision, "{certified:?}");
        // A target nobody can certify routes nothing.
        assert_eq!(
            choose_certified_threshold(&probs, &truth, 0.999, 0.95, 50),
            None
        );
    }

    /// Fixed-sequence testing stops at the first failure: a confident block that is wrong
    /// stops the sequence even though a lower threshold would pass again.
    #[test]
    fn testing_stops_at_the_first_threshold_that_fails() {
        let mut probs = Vec::new();
        let mut truth = Vec::new();
        let mut push = |p: f32, right: bool| {
            probs.push(one_hot_ish(0, p, 2));
            truth.push(usize::from(!right));
        };
        for i in 0..100 {
            push(0.99 - i as f32 * 1e-4, true); // 100 right
        }
        for i in 0..60 {
            push(0.90 - i as f32 * 1e-4, false); // 60 wrong
        }
        for i in 0..2_000 {
            push(0.80 - i as f32 * 1e-5, true); // many right again
        }
        let c = choose_certified_threshold(&probs, &truth, 0.85, 0.95, 50).expect("top block");
        assert!(c.routed <= 115, "{c:?}");
        assert!(c.threshold > 0.89);
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
