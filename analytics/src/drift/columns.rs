//! Column drift: which test a column gets, its verdict, and the dataset verdict, as Evidently's
//! `DataDriftPreset` decides them by default.
//!
//! # From a column to a verdict
//!
//! 1. **Missing values are dropped** on each side separately: NaN and ±∞ in numeric columns
//!    (Evidently replaces infinities with NaN, then `dropna()`s), empty strings in categorical ones
//!    (our representation of a missing category). What is left must be non-empty on both sides.
//! 2. **The kind** ([`detect_kind`]) comes from the values' type and the number of distinct values
//!    over both sides together (`n`):
//!    numeric with `n > 5` is [`Numeric`](ColumnKind::Numeric), anything with `n ≤ 2` is
//!    [`Binary`](ColumnKind::Binary), the rest is [`Categorical`](ColumnKind::Categorical) — so a
//!    numeric column with 3–5 distinct values (an attachment count) is tested like categories.
//! 3. **The test** ([`default_test`]) depends on the kind and on the size of the (cleaned)
//!    reference: up to 1,000 rows, p-value tests (KS, chi-square, Z) at 0.05; beyond, distances
//!    (normed Wasserstein, Jensen–Shannon) at 0.1, because with thousands of rows p-values flag
//!    differences too small to matter. [`DriftOptions::columns`] overrides test and threshold per
//!    column.
//! 4. **The verdict** ([`is_drift`]): p-value tests drift when `p < threshold` (KS: `p ≤`, as in
//!    Evidently), distances when `distance ≥ threshold`.
//!
//! The dataset drifts when the share of drifted columns reaches [`DriftOptions::drift_share`]
//! (0.5): [`dataset_drift`].
//!
//! ```
//! use ticketflow_analytics::drift::{ColumnKind, ColumnValues, DriftOptions, StatTest, column_drift};
//!
//! let reference = ColumnValues::Categorical(
//!     ["en", "de", "en", "en", "de", "en"].iter().map(|s| s.to_string()).collect(),
//! );
//! let current = ColumnValues::Categorical(
//!     ["en", "fr", "fr", "es", "de", "fr"].iter().map(|s| s.to_string()).collect(),
//! );
//! let drift = column_drift("language", &reference, &current, &DriftOptions::default())?;
//! assert_eq!(drift.kind, ColumnKind::Categorical);
//! assert_eq!(drift.test, StatTest::ChiSquare);
//! assert!(drift.drifted); // French and Spanish never occur in the reference: p = 0
//! # Ok::<(), ticketflow_analytics::drift::ColumnDriftError>(())
//! ```
//!
//! # Differences from Evidently
//!
//! * Evidently takes a column's type from its dtype (and, when inferring, treats integer columns
//!   with ≤ 10 distinct values as categorical). Here the caller chooses by building
//!   [`ColumnValues::Numeric`] or [`ColumnValues::Categorical`]; the 5- and 2-value rules above
//!   are applied the same way afterwards.
//! * The Z-test p-value is computed without Evidently's loss of precision in the far tail (see
//!   [`proportions_z_test`](super::stats::proportions_z_test)); verdicts are unaffected.
//! * Evidently refuses KS or Wasserstein on a categorical column and chi-square or Z on a
//!   numeric one when asked explicitly; here only the first is refused (a numeric column's
//!   values can always be counted as categories).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{self, StatsError};
use super::{ColumnDrift, ColumnKind, DatasetDrift, StatTest};

/// Above this many (non-missing) reference rows, columns are compared by distances instead of
/// p-values (Evidently's rule).
pub const LARGE_REFERENCE_ROWS: usize = 1000;
/// Numeric columns with at most this many distinct values (both sides together) are tested as
/// categories.
pub const MAX_CATEGORICAL_NUMERIC_VALUES: usize = 5;
/// For the Jensen–Shannon distance on a numeric column, Evidently bins (Sturges) only when the
/// reference has more than this many distinct values, and counts values otherwise.
pub const JS_BINNING_MIN_DISTINCT: usize = 20;
/// Label of the bucket that gathers categories beyond [`DriftOptions::top_categories`].
pub const OTHER_LABEL: &str = "other";

/// One column's values on one side. Missing values are `NaN` (numeric) or `""` (categorical).
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    Numeric(Vec<f64>),
    Categorical(Vec<String>),
}

impl ColumnValues {
    /// Rows, missing ones included.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.len(),
            ColumnValues::Categorical(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows whose value is present: finite numbers, non-empty strings.
    pub fn present(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.iter().filter(|x| x.is_finite()).count(),
            ColumnValues::Categorical(v) => v.iter().filter(|s| !s.is_empty()).count(),
        }
    }
}

/// Per-column overrides of the default test and threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnOptions {
    pub test: Option<StatTest>,
    pub threshold: Option<f64>,
}

/// How columns are tested and the dataset judged. `Default` is Evidently's defaults; missing
/// fields deserialise to them.
///
/// ```
/// use ticketflow_analytics::drift::{DriftOptions, StatTest};
///
/// let opts: DriftOptions = serde_json::from_str(
///     r#"{"columns": {"char_count": {"test": "wasserstein", "threshold": 0.2}}}"#,
/// )?;
/// assert_eq!(opts.columns["char_count"].test, Some(StatTest::Wasserstein));
/// assert_eq!(opts.drift_share, 0.5);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftOptions {
    /// The dataset drifts when at least this share of columns drifts.
    pub drift_share: f64,
    /// Overrides by column name.
    pub columns: BTreeMap<String, ColumnOptions>,
    /// Bins of the numeric histograms in [`ColumnDrift::distribution`] (display only).
    pub histogram_bins: usize,
    /// Categories shown in [`ColumnDrift::distribution`]; the rest are summed as "other".
    pub top_categories: usize,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            drift_share: 0.5,
            columns: BTreeMap::new(),
            histogram_bins: 10,
            top_categories: 20,
        }
    }
}

/// Why a column could not be tested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColumnDriftError {
    #[error("column {column:?} has no non-missing values in the {side} data")]
    Empty { column: String, side: &'static str },
    #[error("column {column:?} is numeric on one side and categorical on the other")]
    KindMismatch { column: String },
    #[error("column {column:?}: {test:?} needs numeric values")]
    UnsupportedTest { column: String, test: StatTest },
    #[error("column {column:?}: invalid threshold {threshold}")]
    InvalidThreshold { column: String, threshold: f64 },
    #[error("column {column:?}: {source}")]
    Stats {
        column: String,
        #[source]
        source: StatsError,
    },
}

/// A column with missing values removed.
enum Clean {
    Numeric(Vec<f64>),
    Categorical(Vec<String>),
}

impl Clean {
    fn from(values: &ColumnValues) -> Self {
        match values {
            // `+ 0.0` turns −0.0 into 0.0, so equal numbers have one key.
            ColumnValues::Numeric(v) => Clean::Numeric(
                v.iter()
                    .filter(|x| x.is_finite())
                    .map(|x| x + 0.0)
                    .collect(),
            ),
            ColumnValues::Categorical(v) => {
                Clean::Categorical(v.iter().filter(|s| !s.is_empty()).cloned().collect())
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Clean::Numeric(v) => v.len(),
            Clean::Categorical(v) => v.len(),
        }
    }
}

/// A category key: numbers compare numerically (as Evidently's sorted keys do), strings
/// lexicographically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key<'a> {
    Number(OrderedF64),
    Text(&'a str),
}

/// `f64` with a total order, for finite non-NaN keys.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedF64(f64);

impl Eq for OrderedF64 {}

impl std::hash::Hash for OrderedF64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl PartialOrd for OrderedF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Key<'_> {
    fn label(&self) -> String {
        match self {
            Key::Number(x) => distribution::format_number(x.0),
            Key::Text(s) => (*s).to_owned(),
        }
    }
}

/// Counts per category over the union of both sides, in key order.
struct Counts<'a> {
    keys: Vec<Key<'a>>,
    reference: Vec<f64>,
    current: Vec<f64>,
}

fn count<'a>(reference: &'a Clean, current: &'a Clean) -> Counts<'a> {
    let mut map: BTreeMap<Key<'a>, (f64, f64)> = BTreeMap::new();
    let mut add = |side: &'a Clean, slot: usize| match side {
        Clean::Numeric(v) => {
            for &x in v {
                let e = map.entry(Key::Number(OrderedF64(x))).or_default();
                if slot == 0 { e.0 += 1.0 } else { e.1 += 1.0 }
            }
        }
        Clean::Categorical(v) => {
            for s in v {
                let e = map.entry(Key::Text(s)).or_default();
                if slot == 0 { e.0 += 1.0 } else { e.1 += 1.0 }
            }
        }
    };
    add(reference, 0);
    add(current, 1);
    let mut counts = Counts {
        keys: Vec::with_capacity(map.len()),
        reference: Vec::with_capacity(map.len()),
        current: Vec::with_capacity(map.len()),
    };
    for (k, (r, c)) in map {
        counts.keys.push(k);
        counts.reference.push(r);
        counts.current.push(c);
    }
    counts
}

fn distinct_numbers(values: &[f64]) -> usize {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

/// The kind Evidently's default test choice implies, from the non-missing values of both sides:
/// see the [module docs](self). `None` when the two sides are of different types.
pub fn detect_kind(reference: &ColumnValues, current: &ColumnValues) -> Option<ColumnKind> {
    let (r, c) = (Clean::from(reference), Clean::from(current));
    kind_of(&r, &c)
}

fn kind_of(reference: &Clean, current: &Clean) -> Option<ColumnKind> {
    match (reference, current) {
        (Clean::Numeric(r), Clean::Numeric(c)) => {
            let all: Vec<f64> = r.iter().chain(c).copied().collect();
            let n = distinct_numbers(&all);
            Some(if n <= 2 {
                ColumnKind::Binary
            } else if n <= MAX_CATEGORICAL_NUMERIC_VALUES {
                ColumnKind::Categorical
            } else {
                ColumnKind::Numeric
            })
        }
        (Clean::Categorical(r), Clean::Categorical(c)) => {
            let mut distinct: Vec<&String> = r.iter().chain(c).collect();
            distinct.sort_unstable();
            distinct.dedup();
            Some(if distinct.len() <= 2 {
                ColumnKind::Binary
            } else {
                ColumnKind::Categorical
            })
        }
        _ => None,
    }
}

/// Evidently's default test for a column of `kind` whose reference has `reference_rows`
/// non-missing values.
pub fn default_test(kind: ColumnKind, reference_rows: usize) -> StatTest {
    match (kind, reference_rows <= LARGE_REFERENCE_ROWS) {
        (ColumnKind::Numeric, true) => StatTest::KolmogorovSmirnov,
        (ColumnKind::Categorical, true) => StatTest::ChiSquare,
        (ColumnKind::Binary, true) => StatTest::ZTest,
        (ColumnKind::Numeric, false) => StatTest::Wasserstein,
        (ColumnKind::Categorical | ColumnKind::Binary, false) => StatTest::JensenShannon,
    }
}

/// Evidently's default threshold of each test: 0.05 for p-values, 0.1 for distances.
pub fn default_threshold(test: StatTest) -> f64 {
    if test.is_p_value() { 0.05 } else { 0.1 }
}

/// Whether `statistic` means drift at `threshold`, with Evidently's comparisons: KS
/// `p ≤ threshold`; chi-square and Z `p < threshold`; distances `d ≥ threshold`. A NaN statistic
/// never means drift.
pub fn is_drift(test: StatTest, statistic: f64, threshold: f64) -> bool {
    match test {
        StatTest::KolmogorovSmirnov => statistic <= threshold,
        StatTest::ChiSquare | StatTest::ZTest => statistic < threshold,
        StatTest::Wasserstein | StatTest::JensenShannon => statistic >= threshold,
    }
}

/// Tests one column for drift between `reference` and `current`: chooses the kind, test and
/// threshold (Evidently's defaults unless `opts.columns[name]` overrides them), computes the
/// statistic and fills the display [`Distribution`].
pub fn column_drift(
    name: &str,
    reference: &ColumnValues,
    current: &ColumnValues,
    opts: &DriftOptions,
) -> Result<ColumnDrift, ColumnDriftError> {
    let column = || name.to_owned();
    let (r, c) = (Clean::from(reference), Clean::from(current));
    let kind =
        kind_of(&r, &c).ok_or_else(|| ColumnDriftError::KindMismatch { column: column() })?;
    if r.len() == 0 {
        return Err(ColumnDriftError::Empty {
            column: column(),
            side: "reference",
        });
    }
    if c.len() == 0 {
        return Err(ColumnDriftError::Empty {
            column: column(),
            side: "current",
        });
    }
    let overrides = opts.columns.get(name);
    let test = overrides
        .and_then(|o| o.test)
        .unwrap_or_else(|| default_test(kind, r.len()));
    let threshold = overrides
        .and_then(|o| o.threshold)
        .unwrap_or_else(|| default_threshold(test));
    if !threshold.is_finite() {
        return Err(ColumnDriftError::InvalidThreshold {
            column: column(),
            threshold,
        });
    }
    let stats_err = |source| ColumnDriftError::Stats {
        column: column(),
        source,
    };
    let statistic = match test {
        StatTest::KolmogorovSmirnov | StatTest::Wasserstein => {
            let (Clean::Numeric(rv), Clean::Numeric(cv)) = (&r, &c) else {
                return Err(ColumnDriftError::UnsupportedTest {
                    column: column(),
                    test,
                });
            };
            if test == StatTest::KolmogorovSmirnov {
                stats::ks_2samp(rv, cv).map_err(stats_err)?.p_value
            } else {
                stats::wasserstein_distance_norm(rv, cv).map_err(stats_err)?
            }
        }
        StatTest::ChiSquare => {
            let counts = count(&r, &c);
            stats::chi_square(&counts.reference, &counts.current)
                .map_err(stats_err)?
                .p_value
        }
        StatTest::ZTest => z_test(&r, &c).map_err(stats_err)?,
        StatTest::JensenShannon => jensen_shannon(&r, &c).map_err(stats_err)?,
    };
    Ok(ColumnDrift {
        column: column(),
        kind,
        test,
        statistic,
        threshold,
        drifted: is_drift(test, statistic, threshold),
        distribution: distribution::distribution(kind, &r, &c, opts),
    })
}

/// Evidently's Z-test on a column: both sides one and the same value → `p = 1`; otherwise the
/// first value in sorted order counts as 0 and every other value as 1, and the two proportions
/// of ones are compared.
fn z_test(reference: &Clean, current: &Clean) -> Result<f64, StatsError> {
    let counts = count(reference, current);
    let n_ref: f64 = counts.reference.iter().sum();
    let n_cur: f64 = counts.current.iter().sum();
    let (first_ref, first_cur) = (
        counts.reference.first().copied().unwrap_or(0.0),
        counts.current.first().copied().unwrap_or(0.0),
    );
    stats::proportions_z_test(
        (n_ref - first_ref) as u64,
        n_ref as u64,
        (n_cur - first_cur) as u64,
        n_cur as u64,
    )
    .map(|z| z.p_value)
}

/// Evidently's Jensen–Shannon test: shares per category over the union of values — or, for a
/// numeric column whose reference has more than 20 distinct values, shares per Sturges bin over
/// both sides' range — then [`stats::jensen_shannon_distance`]. No smoothing of empty bins.
fn jensen_shannon(reference: &Clean, current: &Clean) -> Result<f64, StatsError> {
    if let (Clean::Numeric(r), Clean::Numeric(c)) = (reference, current)
        && distinct_numbers(r) > JS_BINNING_MIN_DISTINCT
    {
        let all: Vec<f64> = r.iter().chain(c).copied().collect();
        let edges = stats::sturges_bin_edges(&all)?;
        let to_f64 = |counts: Vec<u64>| counts.into_iter().map(|x| x as f64).collect::<Vec<_>>();
        let rh = to_f64(stats::histogram(r, &edges));
        let ch = to_f64(stats::histogram(c, &edges));
        return stats::jensen_shannon_distance(&rh, &ch);
    }
    let counts = count(reference, current);
    stats::jensen_shannon_distance(&counts.reference, &counts.current)
}

/// The dataset verdict over tested columns: drift when `drifted / columns ≥ share_threshold`.
/// No columns means no drift (share 0).
pub fn dataset_drift(columns: &[ColumnDrift], share_threshold: f64) -> DatasetDrift {
    let drifted_columns = columns.iter().filter(|c| c.drifted).count();
    let share = if columns.is_empty() {
        0.0
    } else {
        drifted_columns as f64 / columns.len() as f64
    };
    DatasetDrift {
        columns: columns.len(),
        drifted_columns,
        share,
        threshold: share_threshold,
        drifted: !columns.is_empty() && share >= share_threshold,
    }
}

mod distribution;
#[cfg(test)]
mod tests;
