//! Chi-square goodness of fit against the reference's shares, and the two-proportion Z-test.

use super::float::clip01;
use super::*;

/// The result of [`chi_square`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquare {
    /// Pearson's `Σ (observed − expected)² / expected`; infinite when a category is new.
    pub statistic: f64,
    /// Degrees of freedom: categories − 1.
    pub dof: usize,
    pub p_value: f64,
}

/// Pearson's chi-square goodness-of-fit of the current counts against the reference shares, as
/// Evidently's `chisquare` stat test computes it.
///
/// `reference[i]` and `current[i]` are the counts of category `i` (the same category on both
/// sides: align them first, filling 0 where a side lacks a category). Evidently scales the
/// reference counts to the current total to get the expected frequencies, then calls
/// `scipy.stats.chisquare(f_obs, f_exp)`:
///
/// ```text
///   expected_i = reference_i · (Σ current / Σ reference)
///   χ² = Σ_i (current_i − expected_i)² / expected_i,     p = P(χ²_{k−1} ≥ χ²) = Q((k−1)/2, χ²/2)
/// ```
///
/// with `Q` the regularised upper incomplete gamma function and `k` the number of categories.
///
/// **Categories on one side only.** A category the current data has but the reference lacks has
/// `expected = 0`: its term is `x²/0 = ∞`, so `χ² = ∞` and `p = 0` — a new category is always
/// drift. (scipy computes exactly that, with a division-by-zero warning.) A category only the
/// reference has contributes `expected_i` and is handled normally. Categories with 0 on both
/// sides cannot come from Evidently's union of observed values; they are skipped here.
///
/// With a single category both sides are identical: `p = 1` (scipy would give NaN from zero
/// degrees of freedom; Evidently never gets there, as it sends ≤ 2 categories to the Z-test).
pub fn chi_square(reference: &[f64], current: &[f64]) -> Result<ChiSquare, StatsError> {
    let (n_ref, n_cur) = aligned_totals(reference, current)?;
    let k_norm = n_cur / n_ref;
    let mut statistic = 0.0;
    let mut k = 0usize;
    for (&r, &c) in reference.iter().zip(current) {
        if r == 0.0 && c == 0.0 {
            continue;
        }
        k += 1;
        let expected = r * k_norm;
        statistic += (c - expected).powi(2) / expected;
    }
    let dof = k.saturating_sub(1);
    let p_value = if dof == 0 {
        1.0
    } else {
        chi2_sf(statistic, dof as f64)
    };
    Ok(ChiSquare {
        statistic,
        dof,
        p_value,
    })
}

/// `P(χ²_dof ≥ x)` = `Q(dof/2, x/2)` (scipy's `chi2.sf`, cephes `chdtrc`).
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x.is_nan() || dof.is_nan() || dof <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    statrs::function::gamma::checked_gamma_ur(dof / 2.0, x / 2.0).unwrap_or(f64::NAN)
}

/// Checks that aligned counts or shares have equal lengths, no negative or non-finite value and
/// a positive sum on each side; returns the two sums `(reference, current)`.
pub(super) fn aligned_totals(reference: &[f64], current: &[f64]) -> Result<(f64, f64), StatsError> {
    if reference.len() != current.len() {
        return Err(StatsError::LengthMismatch {
            reference: reference.len(),
            current: current.len(),
        });
    }
    check_weights(reference, "reference")?;
    check_weights(current, "current")?;
    let totals: (f64, f64) = (reference.iter().sum(), current.iter().sum());
    if totals.0 <= 0.0 {
        return Err(StatsError::ZeroTotal("reference"));
    }
    if totals.1 <= 0.0 {
        return Err(StatsError::ZeroTotal("current"));
    }
    Ok(totals)
}

fn check_weights(w: &[f64], which: &'static str) -> Result<(), StatsError> {
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(StatsError::InvalidWeights(which));
    }
    Ok(())
}

/// The result of [`proportions_z_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZTest {
    /// `(p_ref − p_cur) / SE`; 0 when both sides are all successes or all failures.
    pub statistic: f64,
    pub p_value: f64,
}

/// Two-proportion Z-test with pooled variance, two-sided: Evidently's `z` stat test.
///
/// ```text
///   p₁ = s₁/n₁,  p₂ = s₂/n₂,  P = (s₁ + s₂)/(n₁ + n₂)
///   z = (p₁ − p₂) / √(P(1 − P)(1/n₁ + 1/n₂)),     p = 2·(1 − Φ(|z|))
/// ```
///
/// Evidently turns a two-valued column into successes by mapping the first value in sorted order
/// to 0 and every other value to 1 (the two-sided p-value does not depend on which is which).
/// When both sides hold one and the same value it reports `p = 1` without computing; here that is
/// the `P ∈ {0, 1}` case.
///
/// The p-value is computed as `erfc(|z|/√2)`, which equals `2·(1 − Φ(|z|))` but keeps its
/// precision in the tail: Evidently's subtraction loses relative precision below ~1e-8 and
/// returns exactly 0 once `|z| > 8.3`. The two agree to 1e-15 absolute, so verdicts are the same.
pub fn proportions_z_test(
    reference_successes: u64,
    reference_n: u64,
    current_successes: u64,
    current_n: u64,
) -> Result<ZTest, StatsError> {
    for (which, s, n) in [
        ("reference", reference_successes, reference_n),
        ("current", current_successes, current_n),
    ] {
        if n == 0 {
            return Err(StatsError::EmptySample(which));
        }
        if s > n {
            return Err(StatsError::InvalidProportion {
                which,
                successes: s,
                trials: n,
            });
        }
    }
    let (n1, n2) = (reference_n as f64, current_n as f64);
    let p1 = reference_successes as f64 / n1;
    let p2 = current_successes as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 {
        return Ok(ZTest {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = (p1 - p2) / variance.sqrt();
    let p_value = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
    Ok(ZTest {
        statistic: z,
        p_value: clip01(p_value),
    })
}
