//! The statistics behind the column drift tests, as scipy and Evidently compute them.
//!
//! Evidently's data-drift tests are thin wrappers around scipy. To give the same verdicts on the
//! same tables, this module re-implements the scipy routines they call, following scipy's own
//! algorithms and branch points rather than textbook formulas, and is checked against values that
//! scipy itself produced (`tests/fixtures/drift/scipy.json`, from
//! `scripts/make_drift_fixtures.py`) to 1e-9 relative:
//!
//! | here | scipy / Evidently |
//! | --- | --- |
//! | [`ks_2samp`] | `scipy.stats.ks_2samp(a, b)` (two-sided, `method="auto"`) |
//! | [`kstwo_sf`] | `scipy.stats.kstwo.sf(x, n)`, the law of the one-sample KS statistic |
//! | [`chi_square`] | Evidently's `chisquare` test: `scipy.stats.chisquare` with expected counts from the reference |
//! | [`proportions_z_test`] | Evidently's `z` test: two proportions, pooled variance |
//! | [`wasserstein_distance`] | `scipy.stats.wasserstein_distance(u, v)` |
//! | [`wasserstein_distance_norm`] | Evidently's `wasserstein`: the distance over the reference's standard deviation |
//! | [`jensen_shannon_distance`] | `scipy.spatial.distance.jensenshannon(p, q)` (natural logarithm) |
//! | [`sturges_bin_edges`], [`histogram`] | `numpy.histogram_bin_edges(x, "sturges")`, `numpy.histogram(x, edges)` |
//!
//! Everything here is a pure function of its inputs. Inputs are plain slices; missing values are
//! the caller's business ([`columns`](super::columns) drops them the way Evidently does), and a
//! NaN reaching these functions is an error rather than a silently poisoned p-value.

use std::cmp::Ordering;

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("the {0} sample is empty")]
    EmptySample(&'static str),
    #[error("the {0} sample contains NaN")]
    NaN(&'static str),
    #[error("the {0} counts or shares contain a negative or non-finite value")]
    InvalidWeights(&'static str),
    #[error("the {0} counts or shares sum to zero")]
    ZeroTotal(&'static str),
    #[error("reference has {reference} categories but current has {current}; they must be aligned")]
    LengthMismatch { reference: usize, current: usize },
    #[error("{successes} successes out of {trials} trials in the {which} sample")]
    InvalidProportion {
        which: &'static str,
        successes: u64,
        trials: u64,
    },
}

// ---------------------------------------------------------------------------------------------
// Kolmogorov–Smirnov
// ---------------------------------------------------------------------------------------------

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

fn asymptotic(n1: usize, n2: usize, d: f64) -> KsTest {
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
fn sorted_sample(values: &[f64], which: &'static str) -> Result<Vec<f64>, StatsError> {
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
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
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

fn gcd(mut a: u64, mut b: u64) -> u64 {
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
fn prob_outside_square(n: i64, h: i64) -> Option<f64> {
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
fn outer_prob_inside_method(m: i64, n: i64, g: i64, h: i64) -> Option<f64> {
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

/// Survival function `P(D_n ≥ x)` of the two-sided one-sample Kolmogorov–Smirnov statistic
/// `D_n = sup |F_n − F|` for a sample of size `n`: `scipy.stats.kstwo.sf(x, n)`.
///
/// scipy follows Simard & L'Ecuyer (2011) and picks, by `n` and `n·x²`, among:
///
/// * closed forms at the ends (`n·x ≤ 1`: Ruben–Gambino `n!/nⁿ·(2nx − 1)ⁿ`; `n·x ≥ n − 1`:
///   `2(1 − x)ⁿ`);
/// * `x ≥ 0.5` or a far tail: `2·smirnov(n, x)`, twice the exact one-sided probability (the two
///   one-sided events cannot both happen);
/// * small `n·x²`: Durbin's matrix method (the `k`-th diagonal entry of `Hⁿ`, Marsaglia–Tsang–
///   Wang), or Pomeranz's recursion (`n ≤ 140`);
/// * large `n` with moderate `n·x²`: the Pelz–Good asymptotic series.
///
/// Each branch is ported from `scipy/stats/_ksstats.py` and `xsf/cephes/kolmogorov.h`.
pub fn kstwo_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |p, i| p * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip01(1.0 - clip01(cdf));
    }
    if t >= nf - 1.0 {
        return clip01(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        return clip01(2.0 * smirnov_sf(n, x));
    }
    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754693 {
            return clip01(1.0 - durbin_matrix_cdf(n, x));
        }
        if nxsquared <= 4.0 {
            return clip01(1.0 - pomeranz_cdf(n, x));
        }
        return clip01(2.0 * smirnov_sf(n, x));
    }
    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return clip01(2.0 * smirnov_sf(n, x));
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_matrix_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    clip01(1.0 - cdf)
}

fn clip01(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

const E128: i32 = 128;
const EP128: f64 = 3.402_823_669_209_385e38; // 2^128
const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// `x · 2^e`, also when `2^e` alone would overflow or underflow.
fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e > 1000 {
        x *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= 2f64.powi(-1000);
        e += 1000;
    }
    x * 2f64.powi(e)
}

/// `ln(n! / nⁿ)` by Stirling's series with the `n·ln n` removed up front (scipy's
/// `_log_nfactorial_div_n_pow_n`).
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // B_{2j} / (2j (2j − 1)) for j = 8 down to 1, B the Bernoulli numbers.
    const STIRLING: [f64; 8] = [
        -3617.0 / 122_400.0,
        1.0 / 156.0,
        -691.0 / 360_360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = STIRLING.iter().fold(0.0, |acc, &c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * poly
}

/// `P(D_n ≤ d)` by Durbin's matrix method, as Marsaglia, Tsang & Wang (2003) evaluate it.
///
/// Write `n·d = k − h` with integer `k` and `0 ≤ h < 1`; then `P(D_n ≤ d) = n!/nⁿ · (Hⁿ)[k, k]`
/// for a `(2k−1)×(2k−1)` matrix `H` built from powers of `h` and inverse factorials. `Hⁿ` comes
/// from repeated squaring, rescaling by `2^128` whenever the tracked entry grows large.
fn durbin_matrix_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;

    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powi(j as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0f64;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;

    let mut hm = Matrix::zeros(m);
    for i in 1..m {
        for r in (i - 1)..m {
            hm.set(r, i, w[r - (i - 1)]);
        }
    }
    for (r, &vr) in v.iter().enumerate() {
        hm.set(r, 0, vr);
    }
    for c in 0..m {
        hm.set(m - 1, c, v[m - 1 - c]);
    }

    let mut hpwr = Matrix::identity(m);
    let mut nn = n;
    let mut expnt: i32 = 0;
    let mut h_expnt: i32 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            hpwr = hpwr.matmul(&hm);
            expnt += h_expnt;
        }
        hm = hm.matmul(&hm);
        h_expnt *= 2;
        if hm.get(k - 1, k - 1).abs() > EP128 {
            hm.scale(1.0 / EP128);
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = hpwr.get(k - 1, k - 1);
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < EM128 {
            p *= EP128;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p = ldexp(p, expnt);
    }
    clip01(p)
}

/// A small dense row-major square matrix, just enough for [`durbin_matrix_cdf`].
struct Matrix {
    n: usize,
    data: Vec<f64>,
}

impl Matrix {
    fn zeros(n: usize) -> Self {
        Matrix {
            n,
            data: vec![0.0; n * n],
        }
    }

    fn identity(n: usize) -> Self {
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            m.set(i, i, 1.0);
        }
        m
    }

    fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.n + c]
    }

    fn set(&mut self, r: usize, c: usize, v: f64) {
        self.data[r * self.n + c] = v;
    }

    fn scale(&mut self, s: f64) {
        self.data.iter_mut().for_each(|v| *v *= s);
    }

    fn matmul(&self, other: &Matrix) -> Matrix {
        let n = self.n;
        let mut out = Matrix::zeros(n);
        for r in 0..n {
            let row = &self.data[r * n..(r + 1) * n];
            let out_row = &mut out.data[r * n..(r + 1) * n];
            for (kk, &a) in row.iter().enumerate() {
                if a == 0.0 {
                    continue;
                }
                let other_row = &other.data[kk * n..(kk + 1) * n];
                for (o, &b) in out_row.iter_mut().zip(other_row) {
                    *o += a * b;
                }
            }
        }
        out
    }
}

/// Row limits of Pomeranz's recursion (scipy's `_pomeranz_compute_j1j2`).
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `P(D_n ≤ x)` by Pomeranz's (1974) recursion, as scipy's `_kolmogn_Pomeranz`.
///
/// Each of the `2n + 1` steps convolves the current row with (scaled) Poisson probabilities of one
/// of three rates; only a short band of each row is non-zero, and rows are rescaled by `2^128`
/// before they underflow. The answer is `n!` times the last entry.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let n = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0f64; npwrs];
    let mut twogpower = vec![1.0f64; npwrs];
    let mut onem2gpower = vec![1.0f64; npwrs];
    let (g_over_n, two_g_over_n, one_minus_two_g_over_n) =
        (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * g_over_n / m as f64;
        twogpower[m] = twogpower[m - 1] * two_g_over_n / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m as f64;
    }

    let mut v0 = vec![0.0f64; npwrs];
    let mut v1 = vec![0.0f64; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt: i32 = 0;
    let (mut j1, _) = pomeranz_j1j2(0, n, ll, ceilf, roundf);
    for i in 1..(2 * n + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let (nj1, j2) = pomeranz_j1j2(i, n, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * n + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let a = numpy_slice(&v0, k1 - v0s, k1 - v0s + ln2);
            let b = numpy_slice(pwrs, 0, ln2);
            let conv = convolve_full(a, b);
            let conv_start = j1 - k1;
            let conv_len = j2 - j1 + 1;
            let src = numpy_slice(&conv, conv_start, conv_start + conv_len);
            let len = src.len().min(v1.len());
            v1[..len].copy_from_slice(&src[..len]);
            let max = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < max && max < EM128 {
                v1.iter_mut().for_each(|v| *v *= EP128);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = usize::try_from(n - v1s)
        .ok()
        .and_then(|i| v1.get(i).copied())
        .unwrap_or(0.0);
    for m in 1..=n {
        if ans.abs() > EP128 {
            ans *= EM128;
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans = ldexp(ans, expnt);
    }
    clip01(ans)
}

/// `v[start..end]` with numpy's clipping of out-of-range bounds (non-negative starts only).
fn numpy_slice(v: &[f64], start: i64, end: i64) -> &[f64] {
    let len = v.len() as i64;
    let s = start.clamp(0, len) as usize;
    let e = end.clamp(0, len) as usize;
    if s >= e { &[] } else { &v[s..e] }
}

/// `numpy.convolve(a, b)` in its default "full" mode.
fn convolve_full(a: &[f64], b: &[f64]) -> Vec<f64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, &x) in a.iter().enumerate() {
        for (j, &y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

/// `P(D_n ≤ x)` by the Pelz–Good (1976) series: Li-Chien and Korolyuk's expansion
/// `K₀(z) + K₁(z)/√n + K₂(z)/n + K₃(z)/n^{3/2}` at `z = x√n`, each `Kᵢ` rewritten with Jacobi
/// theta identities into sums over `q^{(2k−1)²}` that converge fast for small `z`.
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let sqrt2pi = (2.0 * PI).sqrt();
    let z = nf.sqrt() * x;
    let (zsquared, zthree, zfour, zsix) = (z.powi(2), z.powi(3), z.powi(4), z.powi(6));

    let qlog = -pi2 / 8.0 / zsquared;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();

    let k1a = -zsquared;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * zsix + 2.0 * zfour;
    let k2b = (2.0 * zfour - 5.0 * zsquared) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * zsquared) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * zsquared) / 64.0;
    let k3c = pi4 * (-60.0 * zsquared + 212.0 * zfour) / 16.0;
    let k3b = pi2 * (135.0 * zfour - 96.0 * zsix) / 4.0;
    let k3a = -30.0 * zsix - 90.0 * z.powi(8);

    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (msquared, mfour, msix) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf((8 * kk) as f64);
        let coeffs = [
            1.0,
            k1a + k1b * msquared,
            k2a + k2b * msquared + k2c * mfour,
            k3a + k3b * msquared + k3c * mfour + k3d * msix,
        ];
        for (ki, c) in k.iter_mut().zip(coeffs) {
            *ki = *ki * qpower + c;
        }
    }
    let denominators = [z, 6.0 * zfour, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (ki, d) in k.iter_mut().zip(denominators) {
        *ki = *ki * q * sqrt2pi / d;
    }

    let q = (-pi2 / 2.0 / zsquared).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let mut k2extra = 0.0;
    let mut k3extra = 0.0;
    for kk in (1..=maxk).rev() {
        let ksq = (kk * kk) as f64;
        let qp = q.powf(ksq);
        let kspi = PI * kk as f64;
        k2extra += ksq * qp;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * zthree);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * zsix);
    k.iter()
        .enumerate()
        .map(|(i, ki)| ki / nf.powf(i as f64 / 2.0))
        .sum()
}

/// Survival function of the one-sided Smirnov statistic, `P(D_n⁺ ≥ x)`:
/// `scipy.special.smirnov(n, x)` (cephes/xsf `kolmogorov.h`).
///
/// The Birnbaum–Tingey formula
///
/// ```text
///   P(D_n⁺ ≥ x) = x · Σ_{v=0}^{⌊n(1−x)⌋} C(n, v) (1 − x − v/n)^{n−v} (x + v/n)^{v−1}
/// ```
///
/// has only positive terms, so it sums accurately, but its factors over- and underflow `f64`
/// and the powers amplify any rounding in their bases `n`-fold. As in xsf, the bases are formed
/// without cancellation in double-double precision (`n·x` is split exactly into `⌊n·x⌋ + α`, so
/// `1 − x − v/n = (n − v − ⌊nx⌋ − α)/n`), powers are taken of the high part with a first-order
/// correction for the low part, and every factor is carried as mantissa × 2^exponent until the
/// term is formed. Terms are summed with compensation. The branches (small `x`, tiny tails,
/// `n > 10⁶`, the short alternating "upper" sum for `1/n < x < 3/n`) and the early stop follow
/// xsf. Agreement with scipy is ~1e-14 relative.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    const MINLOG: f64 = -7.083_964_185_322_641e2;
    if n == 0 || !(0.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    let n = n as i64;
    let (nxfl, alpha) = mod_nx(nf, x);
    let mut n1mxfl = n - nxfl - i64::from(alpha != 0.0);
    let mut n1mxceil = n - nxfl;
    if alpha == 0.0 {
        n1mxfl -= 1;
        n1mxceil += 1;
    }
    let one_plus_x = two_sum(1.0, x);
    let one_minus_x = two_sum(1.0, -x);

    // x <= 1/n: only the first term.
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        let t = pow_scaled(one_plus_x, (n - 1) as u64).to_f64();
        return clip01(1.0 - x * t);
    }
    if -2.0 * nf * x * x < MINLOG {
        return 0.0;
    }
    if nxfl >= n - 1 {
        return clip01(pow_scaled(one_minus_x, n as u64).to_f64());
    }
    if n > 1_000_000 {
        let logp = -(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf;
        let sf = if logp < -std::f64::consts::LN_2 {
            logp.exp()
        } else {
            1.0 - (-logp.exp_m1())
        };
        return clip01(sf);
    }

    let n_upper_terms = n - n1mxceil + 1;
    let use_upper =
        (n_upper_terms <= 1 && x < 0.5) || (n >= 10 && n_upper_terms <= 3 && x <= 0.5 / nf.sqrt());

    // A_v = C(n, v) (1 − x − v/n)^(n−v) (x + v/n)^(v−1), the lower sum from v = 0 up, the upper
    // (whose bases 1 − x − v/n are negative) from v = n down.
    let (start, step, n_terms, first) = if use_upper {
        (
            n,
            -1i64,
            n - n1mxceil + 1,
            pow_scaled(one_plus_x, (n - 1) as u64),
        )
    } else {
        let t2 = pow_scaled(one_minus_x, n as u64);
        (0, 1i64, n1mxfl + 1, t2.mul(Scaled::new(1.0 / x)))
    };
    let mut sum = Compensated::new(first.to_f64());
    // C(n, j) as mantissa × 2^exponent, updated by (n − j)/(j + 1) per step as xsf does.
    let mut binomial = Scaled::new(nf);
    let vmid = n / 2;
    for j in 1..n_terms {
        let v = start + j * step;
        let t2x = dd_div(two_sum((n - v - nxfl) as f64, -alpha), nf); // 1 − x − v/n
        let t1x = dd_div(two_sum((nxfl + v) as f64, alpha), nf); // x + v/n
        let negative = t2x.0 < 0.0 && (n - v) % 2 == 1;
        let t2_abs = if t2x.0 < 0.0 { (-t2x.0, -t2x.1) } else { t2x };
        let t2 = pow_scaled(t2_abs, (n - v) as u64);
        let t1 = pow_scaled(t1x, (v - 1) as u64);
        let mut aj = binomial.mul(t1).mul(t2).to_f64();
        if negative {
            aj = -aj;
        }
        if aj.is_finite() && aj != 0.0 {
            sum.add(aj);
        }
        if aj != 0.0 {
            if 4.0 * (n_terms - j) as f64 * aj.abs() < f64::EPSILON * sum.value()
                && j != n_terms - 1
            {
                break;
            }
        } else if j > vmid {
            break;
        }
        binomial = binomial.mul(Scaled::new((n - j) as f64 / (j + 1) as f64));
    }
    let prob = x * sum.value();
    if use_upper {
        clip01(1.0 - prob)
    } else {
        clip01(prob)
    }
}

/// `n·x = ⌊n·x⌋ + α` computed exactly (the product's rounding error recovered with a fused
/// multiply-add), with `α ∈ [0, 1)`: xsf's `modNX`.
fn mod_nx(n: f64, x: f64) -> (i64, f64) {
    let hi = n * x;
    let lo = n.mul_add(x, -hi);
    let fl = hi.floor();
    let (mut nxfl, mut alpha) = if fl == hi {
        if lo < 0.0 {
            (fl - 1.0, 1.0 + lo)
        } else {
            (fl, lo)
        }
    } else {
        (fl, (hi - fl) + lo)
    };
    if alpha >= 1.0 {
        nxfl += 1.0;
        alpha = 0.0;
    }
    (nxfl as i64, alpha)
}

/// `a + b` as an unevaluated double-double `(hi, lo)` with `hi + lo` exact (Knuth's two-sum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (s, err)
}

/// A double-double divided by a double, to double-double precision.
fn dd_div((hi, lo): (f64, f64), d: f64) -> (f64, f64) {
    let q = hi / d;
    // hi − q·d exactly, then the low part.
    let r = (-q).mul_add(d, hi) + lo;
    (q, r / d)
}

/// A positive number as `mantissa · 2^exponent` with the mantissa in `[0.5, 1)`: products of
/// many factors that would over- or underflow `f64` on the way (binomial coefficients of
/// 200,000, powers like `0.01^5000`) stay representable until the final [`to_f64`](Self::to_f64).
#[derive(Clone, Copy, Debug)]
struct Scaled {
    mantissa: f64,
    exponent: i64,
}

impl Scaled {
    fn new(x: f64) -> Self {
        let (mantissa, exponent) = frexp(x);
        Scaled { mantissa, exponent }
    }

    fn mul(self, other: Scaled) -> Scaled {
        let (mantissa, e) = frexp(self.mantissa * other.mantissa);
        Scaled {
            mantissa,
            exponent: self.exponent + other.exponent + e,
        }
    }

    /// Rounds to `f64`, underflowing to 0 and overflowing to infinity like ordinary arithmetic.
    fn to_f64(self) -> f64 {
        if self.mantissa == 0.0 {
            return 0.0;
        }
        ldexp(self.mantissa, self.exponent.clamp(-1100, 1100) as i32)
    }
}

/// `x = m · 2^e` with `|m| ∈ [0.5, 1)` (C's `frexp`); `(0, 0)` for zero, non-finite unchanged.
fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, adjust) = if x.abs() < f64::MIN_POSITIVE {
        (x * 2f64.powi(64), -64)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let mantissa = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (mantissa, biased - 1022 + adjust)
}

/// `(hi + lo)^m` for a positive double-double base, as xsf's `pow_D`/`pow2Scaled_D`: `hi^m` from
/// `pow` on the mantissa in chunks small enough not to underflow, times `(1 + lo/hi)^m`.
fn pow_scaled((hi, lo): (f64, f64), m: u64) -> Scaled {
    if m == 0 {
        return Scaled::new(1.0);
    }
    if hi == 0.0 {
        return Scaled::new(0.0);
    }
    let (mant, e) = frexp(hi);
    // mant ∈ [0.5, 1): mant^chunk stays above 2^-960.
    let chunk = ((960.0 / -mant.log2()).floor() as u64).clamp(1, m);
    let piece = Scaled::new(mant.powf(chunk as f64));
    let mut result = Scaled::new(mant.powf((m % chunk) as f64));
    // piece^(m / chunk) by binary exponentiation.
    let (mut base, mut q) = (piece, m / chunk);
    while q > 0 {
        if q & 1 == 1 {
            result = result.mul(base);
        }
        base = base.mul(base);
        q >>= 1;
    }
    result.exponent += e * m as i64;
    let correction = (m as f64 * (lo / hi).ln_1p()).exp();
    result.mul(Scaled::new(correction))
}

/// Neumaier's compensated sum: the rounding error of every addition is carried separately.
struct Compensated {
    sum: f64,
    compensation: f64,
}

impl Compensated {
    fn new(first: f64) -> Self {
        Compensated {
            sum: first,
            compensation: 0.0,
        }
    }

    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

// ---------------------------------------------------------------------------------------------
// Chi-square and the Z-test
// ---------------------------------------------------------------------------------------------

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
    if reference.len() != current.len() {
        return Err(StatsError::LengthMismatch {
            reference: reference.len(),
            current: current.len(),
        });
    }
    check_weights(reference, "reference")?;
    check_weights(current, "current")?;
    let n_ref: f64 = reference.iter().sum();
    let n_cur: f64 = current.iter().sum();
    if n_ref <= 0.0 {
        return Err(StatsError::ZeroTotal("reference"));
    }
    if n_cur <= 0.0 {
        return Err(StatsError::ZeroTotal("current"));
    }
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

// ---------------------------------------------------------------------------------------------
// Distances
// ---------------------------------------------------------------------------------------------

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
    if p.len() != q.len() {
        return Err(StatsError::LengthMismatch {
            reference: p.len(),
            current: q.len(),
        });
    }
    check_weights(p, "reference")?;
    check_weights(q, "current")?;
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if sp <= 0.0 {
        return Err(StatsError::ZeroTotal("reference"));
    }
    if sq <= 0.0 {
        return Err(StatsError::ZeroTotal("current"));
    }
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

// ---------------------------------------------------------------------------------------------
// Histograms
// ---------------------------------------------------------------------------------------------

/// `numpy.histogram_bin_edges(values, bins="sturges")`: equal-width bins over `[min, max]`.
///
/// Sturges' rule asks for a bin width of `(max − min) / (log₂ n + 1)`; numpy turns that into
/// `ceil((max − min) / width)` bins and spaces the edges with `linspace` (the last edge is `max`
/// exactly). A constant sample gets one bin `[v − 0.5, v + 0.5]`. Evidently uses this to bin
/// numeric columns with more than 20 distinct values for the Jensen–Shannon distance.
pub fn sturges_bin_edges(values: &[f64]) -> Result<Vec<f64>, StatsError> {
    let sorted = sorted_sample(values, "binned")?;
    let (mut lo, mut hi) = (sorted[0], sorted[sorted.len() - 1]);
    let ptp = hi - lo;
    let n_bins = if ptp > 0.0 {
        let width = ptp / ((sorted.len() as f64).log2() + 1.0);
        ((hi - lo) / width).ceil().max(1.0) as usize
    } else {
        lo -= 0.5;
        hi += 0.5;
        1
    };
    Ok(linspace(lo, hi, n_bins + 1))
}

/// `numpy.linspace(start, stop, num)`: `start + i·step`, with the last point set to `stop`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
            v[num - 1] = stop;
            v
        }
    }
}

/// `numpy.histogram(values, edges)[0]`: counts per bin `[eᵢ, eᵢ₊₁)`, the last bin closed
/// `[e_{k−1}, e_k]`; values outside the edges (and NaN) are not counted. `edges` must be sorted.
pub fn histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; bins];
    if bins == 0 {
        return counts;
    }
    let (first, last) = (edges[0], edges[bins]);
    for &v in values {
        if !(v >= first && v <= last) {
            continue;
        }
        // The number of edges ≤ v, minus one, is the bin; v == last goes in the last bin.
        let idx = edges.partition_point(|e| e.total_cmp(&v) != Ordering::Greater);
        counts[idx.saturating_sub(1).min(bins - 1)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests;
