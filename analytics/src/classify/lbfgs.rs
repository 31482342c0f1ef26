//! A small L-BFGS minimiser for smooth convex objectives.
//!
//! L-BFGS is gradient descent that remembers the last few steps and uses them to estimate the
//! curvature, so each step is close to a Newton step without ever forming a Hessian. On a smooth,
//! strongly convex problem such as L2-regularised softmax regression it needs a few hundred
//! full passes over the data where plain gradient descent needs thousands, and it has no learning
//! rate to tune. It is also fully deterministic, unlike mini-batch methods.
//!
//! This is the textbook algorithm (Nocedal & Wright, *Numerical Optimization*, Alg. 7.4 and 7.5)
//! with a backtracking line search on the Armijo condition. A step whose curvature pair fails
//! `sᵀy > 0` is not remembered, which keeps the implicit Hessian positive definite.

use std::collections::VecDeque;

/// Stopping rules and memory.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Correction pairs kept.
    pub memory: usize,
    pub max_iterations: usize,
    /// Stop when the largest gradient component is below this.
    pub gradient_tolerance: f64,
    /// Stop when an iteration improves the objective by less than this, relative to its size.
    pub relative_tolerance: f64,
}

/// Where the minimiser stopped.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub x: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// The objective returned a non-finite value at the starting point or along every step tried.
#[derive(Debug)]
pub(crate) struct NonFinite;

/// Minimises `f` from `x0`. `f(x, grad)` returns the value at `x` and writes the gradient.
pub(crate) fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: Vec<f64>,
    options: &Options,
) -> Result<Outcome, NonFinite> {
    let n = x0.len();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut value = f(&x, &mut g);
    if !value.is_finite() {
        return Err(NonFinite);
    }
    let mut history: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(options.memory);
    let mut direction = vec![0.0; n];
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];

    for iteration in 0..options.max_iterations {
        if max_abs(&g) <= options.gradient_tolerance {
            return Ok(Outcome {
                x,
                value,
                iterations: iteration,
                converged: true,
            });
        }
        two_loop(&g, &history, &mut direction);
        let mut slope = dot(&g, &direction);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            for (d, gi) in direction.iter_mut().zip(&g) {
                *d = -gi;
            }
            slope = dot(&g, &direction);
        }
        // Without history the direction is the raw gradient, whose scale is arbitrary; a first
        // step of unit length in x is a safer guess than a step of length ‖g‖.
        let mut step = if history.is_empty() {
            1.0 / norm(&direction).max(1e-12)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..40 {
            for ((xn, xi), d) in x_new.iter_mut().zip(&x).zip(&direction) {
                *xn = xi + step * d;
            }
            let v = f(&x_new, &mut g_new);
            if v.is_finite() && v <= value + 1e-4 * step * slope {
                accepted = Some(v);
                break;
            }
            step *= 0.5;
        }
        let Some(new_value) = accepted else {
            // No step decreases the objective: we are at the optimum to machine precision.
            return Ok(Outcome {
                x,
                value,
                iterations: iteration,
                converged: true,
            });
        };

        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-10 * norm(&s) * norm(&y) {
            if history.len() == options.memory {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        let improvement = value - new_value;
        value = new_value;
        if improvement <= options.relative_tolerance * value.abs().max(1.0) {
            return Ok(Outcome {
                x,
                value,
                iterations: iteration + 1,
                converged: true,
            });
        }
    }
    Ok(Outcome {
        x,
        value,
        iterations: options.max_iterations,
        converged: false,
    })
}

/// `direction = −H·g`, with H the L-BFGS inverse-Hessian estimate from `history`.
fn two_loop(g: &[f64], history: &VecDeque<(Vec<f64>, Vec<f64>, f64)>, direction: &mut [f64]) {
    direction.copy_from_slice(g);
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let alpha = rho * dot(s, direction);
        axpy(-alpha, y, direction);
        alphas.push(alpha);
    }
    if let Some((s, y, _)) = history.back() {
        // Initial Hessian scale γ = sᵀy / yᵀy (N&W eq. 7.20).
        let gamma = dot(s, y) / dot(y, y).max(f64::MIN_POSITIVE);
        direction.iter_mut().for_each(|d| *d *= gamma);
    }
    for ((s, y, rho), alpha) in history.iter().zip(alphas.iter().rev()) {
        let beta = rho * dot(y, direction);
        axpy(alpha - beta, s, direction);
    }
    direction.iter_mut().for_each(|d| *d = -*d);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            memory: 5,
            max_iterations: 200,
            gradient_tolerance: 1e-8,
            relative_tolerance: 0.0,
        }
    }

    #[test]
    fn minimises_an_ill_conditioned_quadratic() {
        // f = Σ c_i (x_i − i)², condition number 1e4.
        let c = [1.0, 10.0, 100.0, 1000.0, 10000.0];
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                let d = x[i] - i as f64;
                v += c[i] * d * d;
                g[i] = 2.0 * c[i] * d;
            }
            v
        };
        let out = minimize(f, vec![0.0; 5], &options()).unwrap();
        assert!(out.converged);
        for (i, xi) in out.x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-6, "x[{i}] = {xi}");
        }
    }

    #[test]
    fn minimises_rosenbrock() {
        let f = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let out = minimize(f, vec![-1.2, 1.0], &options()).unwrap();
        assert!(
            (out.x[0] - 1.0).abs() < 1e-4 && (out.x[1] - 1.0).abs() < 1e-4,
            "{:?}",
            out.x
        );
    }

    #[test]
    fn rejects_a_non_finite_start() {
        assert!(minimize(|_, _| f64::NAN, vec![0.0], &options()).is_err());
    }
}
