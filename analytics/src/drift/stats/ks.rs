//! Kolmogorov–Smirnov two-sample test: the statistic, and scipy's exact and asymptotic p-values.

use super::*;

/// scipy's `method="auto"` computes the exact two-sample p-value while both samples have at most
/// this many values (`MAX_AUTO_N` in `scipy/stats/_stats_py.py`), and the asymptotic one beyond.
pub const KS_MAX_EXACT_N: usize = 10_000;

/// How the p-value of a [`KsTest`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    /// Exact: the share of lattice paths that leave the band `|x/n1 − y/n2| < D`.
    Exact,
    /// The one-sample law [`kstwo_sf`] at `n = round(n1·n2 / (n1 + n2))`.
    Asymptotic,
}

/// The result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// `D = sup |F_a(x) − F_b(x)|`, the largest gap between the two empirical CDFs.
    pub statistic: f64,
    /// Probability of a gap at least `D` if both samples came from one continuous distribution.
    pub p_value: f64,
    pub method: KsMethod,
}

/// Two-sample Kolmogorov–Smirnov test, two-sided, exactly as `scipy.stats.ks_2samp(a, b)`.
///
/// **Statistic.** With `F_a`, `F_b` the empirical CDFs, evaluated at every observed value (ties
/// count fully: `F_a(x) = #{aᵢ ≤ x} / n1`),
///
/// ```text
///   D = max( max_x (F_a(x) − F_b(x)),  max_x (F_b(x) − F_a(x)) )
/// ```
///
/// **p-value** (scipy's `method="auto"`):
///
/// * If `max(n1, n2) ≤ 10,000` ([`KS_MAX_EXACT_N`]), **exact**. With `g = gcd(n1, n2)` and
///   `L = n1·n2/g`, `D` is a multiple of `1/L`: `h = round(D·L)` and the reported statistic
///   becomes `h / L`. The p-value is the share of the `C(n1+n2, n1)` monotone lattice paths from
///   `(0, 0)` to `(n1, n2)` that touch the band edge `|x/n1 − y/n2| ≥ h/L` (Hodges 1958), computed
///   for equal sizes by an alternating binomial series and otherwise by the column-by-column
///   recursion for `1 − p` of Viehmann (2021), as scipy does. Should that ever fail numerically
///   scipy falls back to the asymptotic branch, and so does this.
/// * Otherwise **asymptotic**: `p = kstwo.sf(D, round(n1·n2/(n1+n2)))`, the one-sample law
///   ([`kstwo_sf`]) at the effective sample size (rounded half to even, as `numpy.round`).
///
/// Evidently's `ks` test is this p-value, with drift when `p ≤ threshold` (0.05).
///
/// Inputs need not be sorted. They may hold infinities, but not NaN; either sample being empty is
/// an error (scipy raises too).
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsTest, StatsError> {
    let a = sorted_sample(a, "first")?;
    let b = sorted_sample(b, "second")?;
    let (n1, n2) = (a.len(), b.len());
    let d = ks_statistic(&a, &b);

    if n1.max(n2) <= KS_MAX_EXACT_N {
        let g = gcd(n1 as u64, n2 as u64);
        let lcm = (n1 as u64 / g) * n2 as u64;
        let h = (d * lcm as f64).round_ties_even() as i64;
        let d_exact = h as f64 / lcm as f64;
        if h == 0 {
            return Ok(KsTest {
                statistic: d_exact,
                p_value: 1.0,
                method: KsMethod::Exact,
            });
        }
        let p = if n1 == n2 {
            prob_outside_square(n1 as i64, h)
        } else {
            outer_prob_inside_method(n1 as i64, n2 as i64, g as i64, h)
        };
        if let Some(p) = p.filter(|p| (0.0..=1.0).contains(p)) {
            return Ok(KsTest {
                statistic: d_exact,
                p_value: p,
                method: KsMethod::Exact,
            });
        }
        // scipy warns and switches to the asymptotic branch, keeping the rounded statistic.
        return Ok(asymptotic(n1, n2, d_exact));
    }
    Ok(asymptotic(n1, n2, d))
}

pub(super) fn asymptotic(n1: usize, n2: usize, d: f64) -> KsTest {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even();
    let p = if en >= 1.0 {
        kstwo_sf(en as u64, d)
    } else {
        f64::NAN
    };
    KsTest {
        statistic: d,
        p_value: p.clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    }
}

/// Copies, rejects NaN and emptiness, turns −0.0 into 0.0 (so sorting groups equal values) and
/// sorts ascending.
pub(super) fn sorted_sample(values: &[f64], which: &'static str) -> Result<Vec<f64>, StatsError> {
    if values.is_empty() {
        return Err(StatsError::EmptySample(which));
    }
    if values.iter().any(|v| v.is_nan()) {
        return Err(StatsError::NaN(which));
    }
    let mut v: Vec<f64> = values.iter().map(|x| x + 0.0).collect();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// `D` between two sorted samples, with scipy's arithmetic: each CDF value is `count / n` and the
/// difference of two such quotients, so the result is bit-identical to scipy's.
pub(super) fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut max_diff = f64::NEG_INFINITY;
    let mut min_diff = f64::INFINITY;
    while i < a.len() || j < b.len() {
        // The next distinct value of either sample; advance both past it.
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff { min_s } else { max_diff }
}

pub(super) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `P(D ≥ h/n)` for two samples of equal size `n` (scipy's `_compute_prob_outside_square`).
///
/// The reflection principle gives `2·Σ_{k≥1} (−1)^{k−1} C(2n, n−kh) / C(2n, n)`; each ratio is a
/// product of `h` simple factors, and the alternating sum is evaluated Horner-style from the
/// innermost term to avoid cancellation.
pub(super) fn prob_outside_square(n: i64, h: i64) -> Option<f64> {
    let mut p = 0.0f64;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0f64;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    Some(2.0 * p)
}

/// `P(D ≥ h/lcm)` for unequal sizes (scipy's `_compute_outer_prob_inside_method`).
///
/// Walks the lattice one column `x = i` at a time, keeping only the window of rows `y` still
/// inside the band `|n·x/g − m·y/g| < h`. Each cell holds the share of paths from the origin that
/// have *left* the band by then, normalised so that the recursion
/// `A(i, j) = (i·A(i−1, j) + j·A(i, j−1)) / (i + j)` stays within `[0, 1]` (Viehmann 2021). The
/// answer is the last cell. `None` marks an index that would leave the buffer, which scipy's
/// algorithm never does; the caller then falls back to the asymptotic branch.
pub(super) fn outer_prob_inside_method(m: i64, n: i64, g: i64, h: i64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let mg = m / g;
    let ng = n / g;
    let (mut minj, mut maxj) = (0i64, ((h as f64 / mg as f64).ceil() as i64).min(n + 1));
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1);
    let mut a = vec![1.0f64; usize::try_from(len_a).ok()?];
    a.get_mut(0..usize::try_from(maxj).ok()?)?.fill(0.0);
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        minj = ((((ng * i - h) as f64 / mg as f64).floor() as i64) + 1).max(0);
        minj = minj.min(n);
        maxj = (((ng * i + h) as f64 / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let prev = *a.get(usize::try_from(jj + minj - lastminj).ok()?)?;
            val = (prev * i as f64 + val * j as f64) / (i + j) as f64;
            *a.get_mut(usize::try_from(jj).ok()?)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            // numpy slicing clips at the end of the buffer.
            let start = usize::try_from(maxj - minj).ok()?.min(a.len());
            let end = usize::try_from(maxj - minj + (lastlen - curlen))
                .ok()?
                .min(a.len());
            a[start..end].fill(1.0);
        }
    }
    a.get(usize::try_from(maxj - minj - 1).ok()?).copied()
}
