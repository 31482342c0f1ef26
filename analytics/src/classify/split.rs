//! Seeded, stratified ways of cutting a labelled set into parts.
//!
//! Ticket types are imbalanced (in the dev data Change is a tenth of the rows, Incident well over a
//! third). A purely random 80/20 split can leave a rare class thin or absent in the test part, and
//! then its F1 is noise. *Stratifying* splits each class on its own, so every part keeps the
//! class proportions of the whole.
//!
//! Both functions are pure functions of `(labels, parameters, seed)`: the same call gives the same
//! indices on every machine, which is what lets a training report say "split seed 13" and mean it.
//! Classes are visited in sorted label order and each is shuffled with one seeded
//! [`fastrand::Rng`], so the result does not depend on the order rows happen to arrive in beyond
//! their positions.
//!
//! ```
//! use ticketflow_analytics::classify::{stratified_kfold, stratified_split};
//!
//! let labels: Vec<String> = ["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"]
//!     .iter().map(|s| s.to_string()).collect();
//! let (train, test) = stratified_split(&labels, 0.5, 7);
//! assert_eq!((train.len(), test.len()), (5, 5));
//! assert_eq!(test.iter().filter(|&&i| labels[i] == "a").count(), 2);
//!
//! let folds = stratified_kfold(&labels, 2, 7);
//! assert_eq!(folds.len(), 2);
//! ```

use std::collections::BTreeMap;

/// Splits row indices into `(train, test)`, class by class.
///
/// Each class with `n` rows puts `round(n × test_fraction)` of them in the test part, but never all
/// of them and never none: a class with at least 2 rows appears in both parts. A class with a
/// single row goes to train (a model cannot predict a class it never saw). `test_fraction` is
/// clamped to `[0, 1]`. Both lists are sorted.
pub fn stratified_split(
    labels: &[String],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if test_fraction.is_finite() {
        test_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut train = Vec::with_capacity(labels.len());
    let mut test = Vec::new();
    for mut rows in rows_by_class(labels).into_values() {
        rng.shuffle(&mut rows);
        let n = rows.len();
        let n_test = if n >= 2 {
            // Rounding alone would give a 3-row class no test row at 0.1.
            ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Cuts row indices into `k` stratified folds and returns, for each fold, `(train, test)`: the
/// fold itself as `test` and all other rows as `train`.
///
/// Every index is in exactly one fold's `test`. Within a class, shuffled rows are dealt to the
/// folds in turn, and each class starts dealing where the previous class stopped, so fold sizes
/// differ by at most one overall. `k` below 2 is treated as 2; with fewer rows than folds some
/// folds are empty (callers that need every fold populated check `labels.len() >= k`).
pub fn stratified_kfold(labels: &[String], k: usize, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    let k = k.max(2);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut fold_of = vec![0usize; labels.len()];
    let mut next = 0usize;
    for mut rows in rows_by_class(labels).into_values() {
        rng.shuffle(&mut rows);
        for row in rows {
            fold_of[row] = next;
            next = (next + 1) % k;
        }
    }
    (0..k)
        .map(|fold| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..labels.len()).partition(|&row| fold_of[row] == fold);
            (train, test)
        })
        .collect()
}

/// Row indices per label, labels in sorted order (so iteration order is seed-stable).
fn rows_by_class(labels: &[String]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_class: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (row, label) in labels.iter().enumerate() {
        by_class.entry(label.as_str()).or_default().push(row);
    }
    by_class
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 rows: 60 "big", 30 "mid", 10 "rare", interleaved.
    fn labels() -> Vec<String> {
        (0..100)
            .map(|i| match i % 10 {
                0 => "rare",
                1..=3 => "mid",
                _ => "big",
            })
            .map(str::to_owned)
            .collect()
    }

    fn count(labels: &[String], rows: &[usize], class: &str) -> usize {
        rows.iter().filter(|&&i| labels[i] == class).count()
    }

    #[test]
    fn split_is_reproducible_and_seed_dependent() {
        let labels = labels();
        let split = |seed| stratified_split(&labels, 0.2, seed);
        assert_eq!(split(13), split(13));
        assert_ne!(split(13).1, split(14).1);
    }

    #[test]
    fn split_keeps_class_proportions_and_partitions_the_rows() {
        let labels = labels();
        let (train, test) = stratified_split(&labels, 0.2, 3);
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(count(&labels, &test, "big"), 12);
        assert_eq!(count(&labels, &test, "mid"), 6);
        assert_eq!(count(&labels, &test, "rare"), 2);
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn small_classes_land_in_both_parts_and_singletons_in_train() {
        let labels: Vec<String> = ["a", "a", "b", "b", "b", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (train, test) = stratified_split(&labels, 0.01, 1);
        for class in ["a", "b"] {
            assert_eq!(count(&labels, &test, class), 1, "{class} in test");
            assert!(count(&labels, &train, class) >= 1, "{class} in train");
        }
        assert_eq!(count(&labels, &train, "c"), 1);
        let (train, test) = stratified_split(&labels, 0.99, 1);
        assert_eq!(
            count(&labels, &train, "b"),
            1,
            "never the whole class in test"
        );
        assert_eq!(test.len() + train.len(), labels.len());
    }

    #[test]
    fn kfold_covers_each_index_exactly_once_in_test() {
        let labels = labels();
        let folds = stratified_kfold(&labels, 5, 9);
        assert_eq!(folds.len(), 5);
        let mut seen = vec![0; labels.len()];
        for (train, test) in &folds {
            assert_eq!(train.len() + test.len(), labels.len());
            assert!(train.iter().all(|i| !test.contains(i)));
            assert_eq!(test.len(), 20);
            assert_eq!(count(&labels, test, "rare"), 2, "stratified");
            for &i in test {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn kfold_is_reproducible_and_seed_dependent() {
        let labels = labels();
        let kfold = |seed| stratified_kfold(&labels, 5, seed);
        assert_eq!(kfold(9), kfold(9));
        assert_ne!(kfold(9), kfold(10));
    }
}
