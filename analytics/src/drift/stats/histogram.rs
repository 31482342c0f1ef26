//! Histograms as numpy builds them (Sturges bin edges, counts per bin).

use std::cmp::Ordering;

use super::*;

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
