//! The law of the one-sided Smirnov statistic (`scipy.special.smirnov`), which
//! [`kstwo_sf`](super::kstwo_sf) uses in its tails, ported from xsf's `kolmogorov.h`.

use super::float::{clip01, ldexp};

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
pub(super) fn mod_nx(n: f64, x: f64) -> (i64, f64) {
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
pub(super) fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (s, err)
}

/// A double-double divided by a double, to double-double precision.
pub(super) fn dd_div((hi, lo): (f64, f64), d: f64) -> (f64, f64) {
    let q = hi / d;
    // hi − q·d exactly, then the low part.
    let r = (-q).mul_add(d, hi) + lo;
    (q, r / d)
}

/// A positive number as `mantissa · 2^exponent` with the mantissa in `[0.5, 1)`: products of
/// many factors that would over- or underflow `f64` on the way (binomial coefficients of
/// 200,000, powers like `0.01^5000`) stay representable until the final [`to_f64`](Self::to_f64).
#[derive(Clone, Copy, Debug)]
pub(super) struct Scaled {
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
pub(super) fn frexp(x: f64) -> (f64, i64) {
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
pub(super) fn pow_scaled((hi, lo): (f64, f64), m: u64) -> Scaled {
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
pub(super) struct Compensated {
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
