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
//! Files: `ks.rs` (the two-sample test), `kstwo.rs` (the law of its statistic), `smirnov.rs`
//! (its one-sided tails), `float.rs` (floating-point helpers they share), `chi2.rs` (chi-square
//! and the Z-test), `distance.rs` (Wasserstein, Jensen–Shannon), `histogram.rs`.
//!
//! Everything here is a pure function of its inputs. Inputs are plain slices; missing values are
//! the caller's business ([`columns`](super::columns) drops them the way Evidently does), and a
//! NaN reaching these functions is an error rather than a silently poisoned p-value.

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

mod chi2;
mod distance;
mod float;
mod histogram;
mod ks;
mod kstwo;
mod smirnov;

pub use chi2::*;
pub use distance::*;
pub use histogram::*;
pub use ks::*;
pub use kstwo::*;
pub use smirnov::*;

#[cfg(test)]
mod tests;
