//! Temperature scaling: one number that makes predicted probabilities mean what they say.
//!
//! A classifier's top probability is only useful as a routing threshold ("send tickets above 0.8
//! straight to their queue") when a prediction made with 0.8 is right about 80% of the time.
//! Regularised logistic regression is usually close, but not exactly: a strong L2 penalty shrinks
//! the scores (under-confident), a weak one lets them grow (over-confident).
//!
//! **Temperature scaling** (Guo et al., *On Calibration of Modern Neural Networks*, 2017) fixes
//! this with a single parameter `T > 0`. The scores are divided by `T` before the softmax:
//!
//! ```text
//!   p_T = softmax(log p / T)        (log p equals the scores up to a constant, which softmax ignores)
//! ```
//!
//! `T > 1` flattens the distribution, `T < 1` sharpens it, `T = 1` changes nothing. The *ranking*
//! of the classes within a row never changes, so accuracy and F1 stay exactly as they were; only
//! the confidence moves.
//!
//! `T` is fitted by minimising the negative log-likelihood of the true classes on predictions the
//! model made for rows it did **not** train on (out-of-fold predictions from cross-validation):
//! fitted on training-set predictions, which are over-confident by construction, it would only
//! learn to trust the model more.
//!
//! ```
//! use ticketflow_analytics::classify::{apply_temperature, fit_temperature};
//!
//! // Says 0.9 every time but is right only 3 times in 4: over-confident.
//! let probs = vec![vec![0.9f32, 0.1]; 4];
//! let truth = [0, 0, 0, 1];
//! let t = fit_temperature(&probs, &truth);
//! assert!((t - 2.0).abs() < 1e-3);
//! let calibrated = apply_temperature(&probs[0], t);
//! assert!((calibrated[0] - 0.75).abs() < 1e-3);
//! ```

/// Smallest probability whose logarithm is taken: keeps `log 0` finite so one confident mistake
/// weighs a lot but not infinitely.
const MIN_PROBABILITY: f64 = 1e-12;

/// Search range of `ln T`: T from e^-5 ≈ 0.007 to e^5 ≈ 148, far beyond any sane model.
const LOG_T_RANGE: (f64, f64) = (-5.0, 5.0);

/// Re-softmaxes one probability vector at temperature `t`.
///
/// `t` must be positive and finite; anything else returns `p` unchanged (as does an empty `p`).
/// Zero probabilities stay (near) zero.
pub fn apply_temperature(p: &[f32], t: f64) -> Vec<f32> {
    if !(t.is_finite() && t > 0.0) || p.is_empty() {
        return p.to_vec();
    }
    let scaled: Vec<f64> = p
        .iter()
        .map(|&v| f64::from(v).max(MIN_PROBABILITY).ln() / t)
        .collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scaled.iter().map(|&z| (z - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    exp.iter().map(|&e| (e / total) as f32).collect()
}

/// Mean negative log-likelihood of the true classes (natural log): the "log-loss".
///
/// Rows whose true class is out of range for their probability vector are skipped; 0 when no row
/// is left.
pub fn log_loss(probs: &[Vec<f32>], truth: &[usize]) -> f64 {
    let mut total = 0.0;
    let mut rows = 0usize;
    for (p, &t) in probs.iter().zip(truth) {
        if let Some(&pt) = p.get(t) {
            total -= f64::from(pt).max(MIN_PROBABILITY).ln();
            rows += 1;
        }
    }
    if rows == 0 { 0.0 } else { total / rows as f64 }
}

/// The temperature `T > 0` that minimises the log-loss of `apply_temperature(p, T)` over the
/// rows (`truth[i]` is row `i`'s class index into `probs[i]`).
///
/// Returns 1 (no change) when there is nothing to fit: no usable rows, or predictions whose
/// loss does not depend on `T` (all uniform). The search is over `ln T` in `[-5, 5]`: a coarse grid first, then golden-section
/// refinement around the best grid point. The loss is convex in `1/T`, so it has a single
/// minimum on the grid's bracket, and the search cannot wander off on a flat or noisy stretch.
pub fn fit_temperature(probs: &[Vec<f32>], truth: &[usize]) -> f64 {
    // Per row: the log-probabilities (the scores up to a constant) and the true class.
    let rows: Vec<(Vec<f64>, usize)> = probs
        .iter()
        .zip(truth)
        .filter(|(p, t)| **t < p.len() && p.iter().all(|v| v.is_finite()))
        .map(|(p, &t)| {
            let logs = p
                .iter()
                .map(|&v| f64::from(v).max(MIN_PROBABILITY).ln())
                .collect();
            (logs, t)
        })
        .collect();
    if rows.is_empty() {
        return 1.0;
    }
    let loss = |log_t: f64| -> f64 {
        let inv_t = (-log_t).exp();
        let mut total = 0.0;
        for (logs, t) in &rows {
            let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = logs
                .iter()
                .map(|&z| ((z - max) * inv_t).exp())
                .sum::<f64>()
                .ln();
            total += lse - (logs[*t] - max) * inv_t;
        }
        total / rows.len() as f64
    };

    let (lo, hi) = LOG_T_RANGE;
    const GRID: usize = 40;
    let step = (hi - lo) / GRID as f64;
    let grid: Vec<(f64, f64)> = (0..=GRID)
        .map(|i| {
            let x = lo + step * i as f64;
            (x, loss(x))
        })
        .collect();
    let best = grid
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
        .map_or(GRID / 2, |(i, _)| i);
    // Golden-section search on the bracket of the best grid point's neighbours.
    let (mut a, mut b) = (grid[best.saturating_sub(1)].0, grid[(best + 1).min(GRID)].0);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (loss(c), loss(d));
    for _ in 0..60 {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = loss(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = loss(d);
        }
        if b - a < 1e-9 {
            break;
        }
    }
    let log_t = (a + b) / 2.0;
    // A loss flat everywhere (all rows certain and right) carries no information about T.
    if !log_t.is_finite() || (grid[0].1 - grid[GRID].1).abs() < 1e-15 {
        1.0
    } else {
        log_t.exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_temperature() {
        // Binary, every row [0.9, 0.1], right 75% of the time. softmax(z / T) for the logit gap
        // ln 9 gives 0.75 exactly when ln 9 / T = ln 3, i.e. T = 2: the NLL minimum.
        let probs = vec![vec![0.9f32, 0.1]; 400];
        let truth: Vec<usize> = (0..400).map(|i| usize::from(i % 4 == 3)).collect();
        let t = fit_temperature(&probs, &truth);
        assert!((t - 2.0).abs() < 1e-4, "T = {t}");
        let calibrated: Vec<Vec<f32>> = probs.iter().map(|p| apply_temperature(p, t)).collect();
        assert!((calibrated[0][0] - 0.75).abs() < 1e-4);
        assert!(log_loss(&calibrated, &truth) < log_loss(&probs, &truth));
    }

    #[test]
    fn recovers_the_temperature_that_generated_the_labels() {
        // Rows with random 4-class scores z; labels drawn from softmax(z / 0.5); the model
        // reports softmax(z). The right temperature is 0.5 (the model is under-confident).
        let mut rng = fastrand::Rng::with_seed(7);
        let true_t = 0.5;
        let (mut probs, mut truth) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let z: Vec<f32> = (0..4).map(|_| rng.f32() * 2.0).collect();
            let reported = apply_temperature(&softmax(&z), 1.0);
            let generating = apply_temperature(&reported, true_t);
            let u = rng.f32();
            let mut acc = 0.0;
            let mut label = 3;
            for (c, &p) in generating.iter().enumerate() {
                acc += p;
                if u < acc {
                    label = c;
                    break;
                }
            }
            probs.push(reported);
            truth.push(label);
        }
        let t = fit_temperature(&probs, &truth);
        assert!((t - true_t).abs() < 0.05, "T = {t}");
    }

    fn softmax(z: &[f32]) -> Vec<f32> {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    #[test]
    fn temperature_keeps_the_ranking_and_moves_the_confidence() {
        let p = [0.7f32, 0.2, 0.1];
        assert_eq!(apply_temperature(&p, 1.0), p.to_vec());
        let flat = apply_temperature(&p, 3.0);
        let sharp = apply_temperature(&p, 0.5);
        for q in [&flat, &sharp] {
            assert!((q.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(q[0] > q[1] && q[1] > q[2]);
        }
        assert!(flat[0] < 0.7 && sharp[0] > 0.7);
        // T = 0.5 squares the odds: 0.49 / (0.49 + 0.04 + 0.01).
        assert!((sharp[0] - 0.49 / 0.54).abs() < 1e-5);
        // Invalid temperatures change nothing.
        assert_eq!(apply_temperature(&p, 0.0), p.to_vec());
        assert_eq!(apply_temperature(&p, f64::NAN), p.to_vec());
    }

    #[test]
    fn nothing_to_fit_gives_one() {
        assert_eq!(fit_temperature(&[], &[]), 1.0);
        // Out-of-range truth only.
        assert_eq!(fit_temperature(&[vec![0.5, 0.5]], &[7]), 1.0);
    }

    #[test]
    fn log_loss_of_known_predictions() {
        let probs = vec![vec![0.5f32, 0.5], vec![0.25, 0.75]];
        let expected = -(0.5f64.ln() + 0.75f64.ln()) / 2.0;
        assert!((log_loss(&probs, &[0, 1]) - expected).abs() < 1e-7);
    }
}
