//! The distributions a drift report draws for a column: a shared-edges histogram of a numeric
//! column, the top categories (and `other`) of a categorical one, as shares of each side.

use std::collections::HashMap;

use super::{Clean, DriftOptions, OTHER_LABEL, count};
use crate::drift::stats;
use crate::drift::{ColumnKind, Distribution};

pub(super) fn distribution(
    kind: ColumnKind,
    reference: &Clean,
    current: &Clean,
    opts: &DriftOptions,
) -> Distribution {
    match (kind, reference, current) {
        (ColumnKind::Numeric, Clean::Numeric(r), Clean::Numeric(c)) => {
            numeric_distribution(r, c, opts.histogram_bins.max(1))
        }
        _ => categorical_distribution(reference, current, opts.top_categories.max(1)),
    }
}

fn shares(counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter().map(|c| c / total).collect()
    } else {
        vec![0.0; counts.len()]
    }
}

/// Shared equal-width bins over both sides' range. Integer data gets integer bins labelled by
/// their inclusive range ("12–40"); other data `bins` bins between min and max.
pub(super) fn numeric_distribution(
    reference: &[f64],
    current: &[f64],
    bins: usize,
) -> Distribution {
    let all = reference.iter().chain(current);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
        (lo.min(x), hi.max(x))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return Distribution {
            labels: Vec::new(),
            reference: Vec::new(),
            current: Vec::new(),
        };
    }
    let integers = reference.iter().chain(current).all(|x| x.fract() == 0.0) && hi - lo < 1e15;
    let (labels, bin_of): (Vec<String>, Box<dyn Fn(f64) -> usize>) = if lo == hi {
        (vec![format_number(lo)], Box::new(|_| 0))
    } else if integers {
        let width = ((hi - lo + 1.0) / bins as f64).ceil().max(1.0);
        let n = ((hi - lo + 1.0) / width).ceil() as usize;
        let labels = (0..n)
            .map(|i| {
                let a = lo + i as f64 * width;
                let b = (a + width - 1.0).min(hi);
                if a == b {
                    format_number(a)
                } else {
                    format!("{}–{}", format_number(a), format_number(b))
                }
            })
            .collect();
        (
            labels,
            Box::new(move |x| (((x - lo) / width).floor() as usize).min(n - 1)),
        )
    } else {
        let edges = stats::linspace(lo, hi, bins + 1);
        let width = (hi - lo) / bins as f64;
        let decimals = decimals_for(width);
        let labels = edges
            .windows(2)
            .map(|w| format!("{:.*}–{:.*}", decimals, w[0], decimals, w[1]))
            .collect();
        (
            labels,
            Box::new(move |x| (((x - lo) / width).floor() as usize).min(bins - 1)),
        )
    };
    let mut rc = vec![0.0; labels.len()];
    let mut cc = vec![0.0; labels.len()];
    for &x in reference {
        rc[bin_of(x)] += 1.0;
    }
    for &x in current {
        cc[bin_of(x)] += 1.0;
    }
    Distribution {
        labels,
        reference: shares(&rc),
        current: shares(&cc),
    }
}

/// Categories over both sides, most frequent first (by the larger of the two shares; numeric
/// categories in value order), the first `top` shown and the rest summed as "other".
fn categorical_distribution(reference: &Clean, current: &Clean, top: usize) -> Distribution {
    let counts = count(reference, current);
    let rs = shares(&counts.reference);
    let cs = shares(&counts.current);
    let mut order: Vec<usize> = (0..counts.keys.len()).collect();
    let numeric = matches!(reference, Clean::Numeric(_));
    if !numeric {
        order.sort_by(|&a, &b| {
            let (fa, fb) = (rs[a].max(cs[a]), rs[b].max(cs[b]));
            fb.total_cmp(&fa)
                .then_with(|| counts.keys[a].cmp(&counts.keys[b]))
        });
    }
    let mut labels = Vec::new();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for &i in order.iter().take(top) {
        labels.push(counts.keys[i].label());
        r.push(rs[i]);
        c.push(cs[i]);
    }
    if order.len() > top {
        let rest = &order[top..];
        let taken: HashMap<&str, ()> = labels.iter().map(|l| (l.as_str(), ())).collect();
        let label = if taken.contains_key(OTHER_LABEL) {
            format!("{OTHER_LABEL} (rest)")
        } else {
            OTHER_LABEL.to_owned()
        };
        labels.push(label);
        r.push(rest.iter().map(|&i| rs[i]).sum());
        c.push(rest.iter().map(|&i| cs[i]).sum());
    }
    Distribution {
        labels,
        reference: r,
        current: c,
    }
}

/// Decimals that tell bins of this width apart (0 for widths ≥ 1, up to 6).
fn decimals_for(width: f64) -> usize {
    if width.is_nan() || width <= 0.0 || width >= 1.0 {
        0
    } else {
        ((-width.log10()).ceil() as usize).min(6)
    }
}

/// A short label for a number: integers without decimals, others with up to 4 significant
/// decimals, trailing zeros trimmed.
pub(super) fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        format!("{x:e}")
    } else {
        s.to_owned()
    }
}
