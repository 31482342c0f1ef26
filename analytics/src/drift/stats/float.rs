//! Floating-point helpers the ports of scipy's routines share: clamping a probability, and
//! powers of two beyond `f64`'s exponent range.

pub(super) fn clip01(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

pub(super) const E128: i32 = 128;
pub(super) const EP128: f64 = 3.402_823_669_209_385e38; // 2^128
pub(super) const EM128: f64 = 2.938_735_877_055_719e-39; // 2^-128

/// `x · 2^e`, also when `2^e` alone would overflow or underflow.
pub(super) fn ldexp(mut x: f64, mut e: i32) -> f64 {
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
