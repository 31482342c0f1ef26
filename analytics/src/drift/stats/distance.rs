//! Distances between distributions: Wasserstein (plain and normed) and Jensen–Shannon.

use super::*;

/// First Wasserstein (earth mover's) distance between two samples:
/// `scipy.stats.wasserstein_distance(u, v)`.
///
/// For one-dimensional samples it is the area between the empirical CDFs,
///
/// ```text
///   W₁(u, v) = ∫ |F_u(x) − F_v(x)| dx = Σ_i |F_u(xᵢ) − F_v(xᵢ)| · (xᵢ₊₁ − xᵢ)
/// ```
///
/// over the sorted pooled values `xᵢ`, in the units of the data. Infinite values give an infinite
/// or NaN distance, as in scipy; NaN is rejected.
pub fn wasserstein_distance(u: &[f64], v: &[f64]) -> Result<f64, StatsError> {
    let u = sorted_sample(u, "first")?;
    let v = sorted_sample(v, "second")?;
    let mut all: Vec<f64> = u.iter().chain(&v).copied().collect();
    all.sort_by(f64::total_cmp);
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut iu, mut iv) = (0usize, 0usize);
    let mut total = 0.0;
    for w in all.windows(2) {
        let (x, next) = (w[0], w[1]);
        // searchsorted(side="right"): values ≤ x.
        while iu < u.len() && u[iu] <= x {
            iu += 1;
        }
        while iv < v.len() && v[iv] <= x {
            iv += 1;
        }
        let delta = next - x;
        if delta != 0.0 {
            total += (iu as f64 / nu - iv as f64 / nv).abs() * delta;
        }
    }
    Ok(total)
}

/// Evidently's floor on the reference's standard deviation in [`wasserstein_distance_norm`].
pub const WASSERSTEIN_MIN_STD: f64 = 0.001;

/// Wasserstein distance in units of the reference's spread: Evidently's `wasserstein` test.
///
/// ```text
///   W_norm = W₁(reference, current) / max(σ_ref, 0.001)
/// ```
///
/// `σ_ref` is the *population* standard deviation (`numpy.std`, `ddof = 0`). The floor keeps a
/// constant reference from dividing by zero: then any shift of the current data by `δ` reads as
/// `1000·δ`. Evidently flags drift at `W_norm ≥ 0.1`, a shift of a tenth of a standard deviation.
pub fn wasserstein_distance_norm(reference: &[f64], current: &[f64]) -> Result<f64, StatsError> {
    let distance = wasserstein_distance(reference, current)?;
    Ok(distance / population_std(reference).max(WASSERSTEIN_MIN_STD))
}

/// Population standard deviation, `sqrt(mean((x − mean)²))` (two passes, like numpy).
pub fn population_std(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// Jensen–Shannon distance between two discrete distributions:
/// `scipy.spatial.distance.jensenshannon(p, q)` with its default natural logarithm.
///
/// `p` and `q` are aligned weights (counts or shares of the same categories or bins); each is
/// normalised to sum to 1. With `m = (p + q)/2`,
///
/// ```text
///   JS(p, q) = √( (KL(p‖m) + KL(q‖m)) / 2 ),     KL(p‖m) = Σ pᵢ ln(pᵢ/mᵢ)   (0·ln 0 = 0)
/// ```
///
/// It is symmetric, 0 for identical distributions and at most `√ln 2 ≈ 0.833` for disjoint ones.
/// Evidently calls it with `base=None` (natural log), so its default drift threshold of 0.1 is on
/// this scale; a zero share needs no smoothing here (unlike PSI or KL), and Evidently adds none.
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> Result<f64, StatsError> {
    let (sp, sq) = aligned_totals(p, q)?;
    let rel_entr = |x: f64, y: f64| if x > 0.0 { x * (x / y).ln() } else { 0.0 };
    let mut left = 0.0;
    let mut right = 0.0;
    for (&pi, &qi) in p.iter().zip(q) {
        let (pi, qi) = (pi / sp, qi / sq);
        let m = (pi + qi) / 2.0;
        left += rel_entr(pi, m);
        right += rel_entr(qi, m);
    }
    Ok(((left + right) / 2.0).max(0.0).sqrt())
}
