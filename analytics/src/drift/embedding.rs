//! Drift of the embeddings themselves: can a model tell the two runs apart?
//!
//! Column statistics see only what someone thought to put in a column. The sentence embeddings
//! carry everything the encoder noticed — topic, language, register, templates — so comparing
//! them catches shifts no column names. Two complementary measures:
//!
//! **Domain classifier** ([`domain_classifier_auc`]). Label reference rows 0 and current rows 1,
//! split both stratified 50/50 (seeded), fit a logistic regression on one half and score the other
//! by ROC AUC ([`roc_auc`]). If the runs come from one distribution no classifier can beat chance
//! on held-out rows: AUC ≈ 0.5. The embeddings have drifted when the AUC exceeds 0.55
//! (Evidently's default for its embedding "model" method). The AUC reads as "the probability that
//! a random current ticket looks more current than a random reference ticket", which makes it easy
//! to explain; being measured on held-out rows, it is not fooled by the classifier memorising
//! noise in 384 dimensions.
//!
//! **Maximum mean discrepancy** ([`mmd_permutation_test`]). With an RBF kernel
//! `k(x, y) = exp(−‖x − y‖² / 2σ²)`, the squared MMD is the distance between the two samples'
//! kernel mean embeddings; its unbiased estimate is
//!
//! ```text
//!   MMD²_u = Σ_{i≠j} k(xᵢ, xⱼ) / m(m−1) + Σ_{i≠j} k(yᵢ, yⱼ) / n(n−1) − 2 Σ_{i,j} k(xᵢ, yⱼ) / mn
//! ```
//!
//! which is 0 in expectation when both come from one distribution. The bandwidth follows the
//! median heuristic (`σ²` = median squared distance between pooled rows) and the p-value comes
//! from permutations: shuffle the pooled rows into two groups of the original sizes many times
//! (seeded) and count how often the shuffled MMD² reaches the observed one. It needs no model and
//! no split, and complements the AUC with a significance level. Its cost is quadratic in the rows,
//! so each side is subsampled (seeded) to at most [`EmbeddingDriftOptions::mmd_max_rows`].
//!
//! Both are deterministic functions of the inputs and the seed.

use serde::{Deserialize, Serialize};

use super::EmbeddingDrift;
use crate::classify::{
    BlockWeights, Classifier, ClassifyError, Example, FeatureSet, LogisticConfig, ModelKind,
    NeighbourConfig, TrainConfig, stratified_split,
};

/// How [`embedding_drift`] runs. `Default` is the documented behaviour; missing fields
/// deserialise to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingDriftOptions {
    /// Drift when the domain classifier's held-out ROC AUC is above this.
    pub auc_threshold: f64,
    /// Rows per side the domain classifier uses at most (seeded subsample); 0 uses all.
    pub classifier_max_rows: usize,
    /// Rows per side the MMD uses at most (seeded subsample); the cost is quadratic in it.
    pub mmd_max_rows: usize,
    /// Permutations for the MMD p-value; 0 skips the MMD (reported as NaN).
    pub permutations: usize,
    /// The domain classifier's regularisation and optimiser settings.
    pub logistic: LogisticConfig,
}

impl Default for EmbeddingDriftOptions {
    fn default() -> Self {
        EmbeddingDriftOptions {
            auc_threshold: 0.55,
            classifier_max_rows: 5000,
            mmd_max_rows: 1000,
            permutations: 200,
            logistic: LogisticConfig::default(),
        }
    }
}

/// Why embedding drift could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbeddingDriftError {
    #[error("the {side} side has {rows} embeddings; at least 2 are needed")]
    TooFewRows { side: &'static str, rows: usize },
    #[error("{side} embedding {row} has length {found}, expected {expected}")]
    DimensionMismatch {
        side: &'static str,
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("{side} embedding {row} is empty or has a non-finite value")]
    InvalidEmbedding { side: &'static str, row: usize },
    #[error("domain classifier: {0}")]
    Classifier(#[from] ClassifyError),
}

/// Compares reference and current embeddings (one row per ticket, all of one length): the domain
/// classifier's held-out ROC AUC decides drift, the MMD² and its permutation p-value are reported
/// alongside. See the [module docs](self).
pub fn embedding_drift(
    reference: &[Vec<f32>],
    current: &[Vec<f32>],
    seed: u64,
    opts: &EmbeddingDriftOptions,
) -> Result<EmbeddingDrift, EmbeddingDriftError> {
    validate(reference, current)?;
    let auc = domain_classifier_auc(reference, current, seed, opts)?;
    let (mmd, mmd_p_value) = if opts.permutations > 0 {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x6d6d_645f_7365_6564);
        let x = subsample(reference, opts.mmd_max_rows, &mut rng);
        let y = subsample(current, opts.mmd_max_rows, &mut rng);
        let test = mmd_permutation_test(&x, &y, opts.permutations, rng.u64(..));
        (test.mmd2, test.p_value)
    } else {
        (f64::NAN, f64::NAN)
    };
    Ok(EmbeddingDrift {
        reference_rows: reference.len(),
        current_rows: current.len(),
        domain_classifier_auc: auc,
        auc_threshold: opts.auc_threshold,
        drifted: auc > opts.auc_threshold,
        mmd,
        mmd_p_value,
        permutations: opts.permutations,
    })
}

fn validate(reference: &[Vec<f32>], current: &[Vec<f32>]) -> Result<(), EmbeddingDriftError> {
    for (side, rows) in [("reference", reference), ("current", current)] {
        if rows.len() < 2 {
            return Err(EmbeddingDriftError::TooFewRows {
                side,
                rows: rows.len(),
            });
        }
    }
    let expected = reference[0].len();
    for (side, rows) in [("reference", reference), ("current", current)] {
        for (row, e) in rows.iter().enumerate() {
            if e.is_empty() || e.iter().any(|v| !v.is_finite()) {
                return Err(EmbeddingDriftError::InvalidEmbedding { side, row });
            }
            if e.len() != expected {
                return Err(EmbeddingDriftError::DimensionMismatch {
                    side,
                    row,
                    expected,
                    found: e.len(),
                });
            }
        }
    }
    Ok(())
}

/// At most `max` rows (all when `max` is 0 or not exceeded), a seeded uniform sample without
/// replacement, kept in input order.
fn subsample<'a>(rows: &'a [Vec<f32>], max: usize, rng: &mut fastrand::Rng) -> Vec<&'a [f32]> {
    if max == 0 || rows.len() <= max {
        return rows.iter().map(Vec::as_slice).collect();
    }
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    rng.shuffle(&mut idx);
    idx.truncate(max);
    idx.sort_unstable();
    idx.into_iter().map(|i| rows[i].as_slice()).collect()
}

const REFERENCE: &str = "reference";
const CURRENT: &str = "current";

/// Held-out ROC AUC of a logistic regression telling current (positive) from reference rows.
///
/// Rows are labelled by side, split stratified 50/50 with `seed`
/// ([`stratified_split`]), the classifier (our softmax
/// regression on the embedding block alone, balanced class weights) is fitted on one half, and
/// the other half is scored: AUC of `P(current)` by [`roc_auc`]. Each side is first subsampled to
/// `opts.classifier_max_rows`.
pub fn domain_classifier_auc(
    reference: &[Vec<f32>],
    current: &[Vec<f32>],
    seed: u64,
    opts: &EmbeddingDriftOptions,
) -> Result<f64, EmbeddingDriftError> {
    validate(reference, current)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let r = subsample(reference, opts.classifier_max_rows, &mut rng);
    let c = subsample(current, opts.classifier_max_rows, &mut rng);
    let examples: Vec<Example> = r
        .iter()
        .chain(&c)
        .map(|e| Example {
            embedding: e.to_vec(),
            ..Example::default()
        })
        .collect();
    let labels: Vec<String> = std::iter::repeat_n(REFERENCE, r.len())
        .chain(std::iter::repeat_n(CURRENT, c.len()))
        .map(str::to_owned)
        .collect();
    let (train, test) = stratified_split(&labels, 0.5, seed);
    let pick = |rows: &[usize]| -> (Vec<Example>, Vec<String>) {
        rows.iter()
            .map(|&i| (examples[i].clone(), labels[i].clone()))
            .unzip()
    };
    let (train_x, train_y) = pick(&train);
    let (test_x, test_y) = pick(&test);
    let cfg = TrainConfig {
        features: FeatureSet::new(true, false, false),
        candidates: vec![ModelKind::LogisticRegression],
        class_weight_balanced: true,
        logistic: opts.logistic.clone(),
        seed,
        // The training rows' neighbour features leave themselves out and the test rows' do
        // not, which a domain classifier learns: two identical runs would look drifted (AUC
        // 0.87). The plain embedding, at full scale, is what this test compares.
        neighbours: NeighbourConfig::off(),
        block_weights: BlockWeights::default(),
        ..TrainConfig::default()
    };
    let model = Classifier::fit(&train_x, &train_y, ModelKind::LogisticRegression, &cfg)?;
    let current_class = model
        .classes
        .iter()
        .position(|c| c == CURRENT)
        .ok_or(ClassifyError::TooFewClasses { found: 1 })?;
    let scores: Vec<f64> = model
        .predict_proba_batch(&test_x)
        .iter()
        .map(|p| p.get(current_class).copied().map_or(f64::NAN, f64::from))
        .collect();
    let positive: Vec<bool> = test_y.iter().map(|l| l == CURRENT).collect();
    Ok(roc_auc(&scores, &positive).unwrap_or(f64::NAN))
}

/// Area under the ROC curve of `scores` for the labels `positive`, exactly.
///
/// AUC is the probability that a random positive scores above a random negative, ties counting
/// one half — the Mann–Whitney U statistic over `n₊·n₋`. With all scores ranked ascending and tied
/// scores given the mean of their ranks (midranks),
///
/// ```text
///   AUC = (Σ_{positives} rank − n₊(n₊ + 1)/2) / (n₊ · n₋)
/// ```
///
/// which equals scikit-learn's `roc_auc_score` (trapezoids over the ROC curve) including ties.
/// `None` without both a positive and a negative, or with a NaN score.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    if scores.len() != positive.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let midrank = (i + j + 2) as f64 / 2.0;
        let tied_positives = order[i..=j].iter().filter(|&&k| positive[k]).count();
        rank_sum += midrank * tied_positives as f64;
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// The result of [`mmd_permutation_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdTest {
    /// Unbiased MMD² estimate (can be slightly negative when there is no difference).
    pub mmd2: f64,
    /// `(1 + #{permutations with MMD² ≥ observed}) / (1 + permutations)`.
    pub p_value: f64,
    /// σ of the RBF kernel: the square root of the median squared pairwise distance.
    pub bandwidth: f64,
}

/// Unbiased MMD² between `x` and `y` with an RBF kernel of median-heuristic bandwidth, and its
/// permutation p-value over `permutations` seeded shuffles. Rows must share one length; each side
/// needs at least 2 rows (otherwise the result is NaN).
pub fn mmd_permutation_test(x: &[&[f32]], y: &[&[f32]], permutations: usize, seed: u64) -> MmdTest {
    let (m, n) = (x.len(), y.len());
    if m < 2 || n < 2 {
        return MmdTest {
            mmd2: f64::NAN,
            p_value: f64::NAN,
            bandwidth: f64::NAN,
        };
    }
    let rows: Vec<&[f32]> = x.iter().chain(y).copied().collect();
    let total = rows.len();
    // Pairwise squared distances, then the kernel in place.
    let mut k = vec![0.0f64; total * total];
    for i in 0..total {
        for j in (i + 1)..total {
            let d = squared_distance(rows[i], rows[j]);
            k[i * total + j] = d;
            k[j * total + i] = d;
        }
    }
    let mut upper: Vec<f64> = (0..total)
        .flat_map(|i| ((i + 1)..total).map(move |j| (i, j)))
        .map(|(i, j)| k[i * total + j])
        .collect();
    let mid = upper.len() / 2;
    let median = if upper.is_empty() {
        0.0
    } else {
        *upper.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    let mean = upper.iter().sum::<f64>() / upper.len().max(1) as f64;
    drop(upper);
    // All rows identical in the median pair: fall back to the mean, then to 1.
    let sigma2 = if median > 0.0 {
        median
    } else if mean > 0.0 {
        mean
    } else {
        1.0
    };
    for i in 0..total {
        for j in 0..total {
            let v = &mut k[i * total + j];
            *v = if i == j {
                0.0
            } else {
                (-*v / (2.0 * sigma2)).exp()
            };
        }
    }

    // With s the 0/1 indicator of group X and a = K·s (diagonal zeroed):
    //   Σ_XX = Σ_{i∈X} aᵢ,  Σ_XY = Σ_{i∈Y} aᵢ,  Σ_YY = Σ K − Σ_XX − 2 Σ_XY.
    let sum_all: f64 = k.iter().sum();
    let (mf, nf) = (m as f64, n as f64);
    let statistic = |in_x: &[bool]| -> f64 {
        let s: Vec<f64> = in_x.iter().map(|&b| f64::from(u8::from(b))).collect();
        let (mut xx, mut xy) = (0.0, 0.0);
        for i in 0..total {
            let row = &k[i * total..(i + 1) * total];
            let a: f64 = row.iter().zip(&s).map(|(kv, sv)| kv * sv).sum();
            if in_x[i] {
                xx += a;
            } else {
                xy += a;
            }
        }
        let yy = sum_all - xx - 2.0 * xy;
        xx / (mf * (mf - 1.0)) + yy / (nf * (nf - 1.0)) - 2.0 * xy / (mf * nf)
    };
    let mut labels: Vec<bool> = (0..total).map(|i| i < m).collect();
    let observed = statistic(&labels);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at_least = 0usize;
    for _ in 0..permutations {
        rng.shuffle(&mut labels);
        if statistic(&labels) >= observed {
            at_least += 1;
        }
    }
    MmdTest {
        mmd2: observed,
        p_value: (1 + at_least) as f64 / (1 + permutations) as f64,
        bandwidth: sigma2.sqrt(),
    }
}

/// `‖a − b‖²`, eight lanes at a time so the compiler vectorises it.
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
    f64::from(acc.iter().sum::<f32>() + tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit-length rows around a few cluster centres, like sentence embeddings of a few topics.
    /// `shift` moves every row along one fixed direction before normalising.
    fn embeddings(rng: &mut fastrand::Rng, rows: usize, dim: usize, shift: f32) -> Vec<Vec<f32>> {
        let mut centre_rng = fastrand::Rng::with_seed(99);
        let centres: Vec<Vec<f32>> = (0..5)
            .map(|_| (0..dim).map(|_| centre_rng.f32() * 2.0 - 1.0).collect())
            .collect();
        let direction: Vec<f32> = (0..dim)
            .map(|d| if d % 7 == 0 { 1.0 } else { 0.0 })
            .collect();
        (0..rows)
            .map(|_| {
                let c = &centres[rng.usize(..centres.len())];
                let mut v: Vec<f32> = c
                    .iter()
                    .zip(&direction)
                    .map(|(x, d)| x + 1.5 * (rng.f32() * 2.0 - 1.0) + shift * d)
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    #[test]
    fn drift_roc_auc_is_exact_with_ties() {
        // Perfect separation, reversed, and chance.
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(
            roc_auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]),
            Some(0.5)
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[f64::NAN, 0.2], &[true, false]), None);
        // Against brute force over all pairs, with many ties.
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..50 {
            let n = rng.usize(2..40);
            let scores: Vec<f64> = (0..n).map(|_| f64::from(rng.u8(0..6)) / 5.0).collect();
            let positive: Vec<bool> = (0..n).map(|_| rng.bool()).collect();
            let (mut wins, mut pairs) = (0.0, 0.0);
            for i in 0..n {
                for j in 0..n {
                    if positive[i] && !positive[j] {
                        pairs += 1.0;
                        wins += match scores[i].total_cmp(&scores[j]) {
                            std::cmp::Ordering::Greater => 1.0,
                            std::cmp::Ordering::Equal => 0.5,
                            std::cmp::Ordering::Less => 0.0,
                        };
                    }
                }
            }
            let expected = if pairs > 0.0 {
                Some(wins / pairs)
            } else {
                None
            };
            let got = roc_auc(&scores, &positive);
            match (got, expected) {
                (Some(g), Some(e)) => assert!((g - e).abs() < 1e-12, "{g} vs {e}"),
                (g, e) => assert_eq!(g, e),
            }
        }
        // scikit-learn: roc_auc_score([0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.4]) == 0.75
        // (4.5 of 6 pairs won; the 0.4 vs 0.4 tie counts one half).
        let auc = roc_auc(
            &[0.1, 0.4, 0.35, 0.8, 0.4],
            &[false, false, true, true, true],
        );
        assert!((auc.unwrap() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn drift_embeddings_same_distribution_do_not_drift() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut all = embeddings(&mut rng, 2000, 64, 0.0);
        rng.shuffle(&mut all);
        let current = all.split_off(1000);
        let d = embedding_drift(&all, &current, 7, &EmbeddingDriftOptions::default()).unwrap();
        assert!(
            (d.domain_classifier_auc - 0.5).abs() < 0.08,
            "AUC {}",
            d.domain_classifier_auc
        );
        assert!(!d.drifted);
        assert!(d.mmd_p_value > 0.01, "MMD p {}", d.mmd_p_value);
        assert!(d.mmd.abs() < 0.01);
        assert_eq!(
            (d.reference_rows, d.current_rows, d.permutations),
            (1000, 1000, 200)
        );
    }

    #[test]
    fn drift_embeddings_shifted_drift() {
        let mut rng = fastrand::Rng::with_seed(2);
        let reference = embeddings(&mut rng, 600, 64, 0.0);
        let current = embeddings(&mut rng, 500, 64, 0.6);
        let d =
            embedding_drift(&reference, &current, 7, &EmbeddingDriftOptions::default()).unwrap();
        assert!(
            d.domain_classifier_auc > 0.8,
            "AUC {}",
            d.domain_classifier_auc
        );
        assert!(d.drifted);
        assert!(d.mmd_p_value < 0.05, "MMD p {}", d.mmd_p_value);
        assert!(d.mmd > 0.0);
        // Deterministic for a seed.
        let again =
            embedding_drift(&reference, &current, 7, &EmbeddingDriftOptions::default()).unwrap();
        assert_eq!(d, again);
    }

    #[test]
    fn drift_mmd_subsamples_and_handles_identical_rows() {
        let same = vec![vec![0.5f32; 8]; 10];
        let rows: Vec<&[f32]> = same.iter().map(Vec::as_slice).collect();
        let t = mmd_permutation_test(&rows[..5], &rows[5..], 20, 1);
        assert_eq!(t.mmd2, 0.0);
        assert_eq!(t.p_value, 1.0);
        let mut rng = fastrand::Rng::with_seed(3);
        let many = embeddings(&mut rng, 50, 16, 0.0);
        assert_eq!(subsample(&many, 20, &mut rng).len(), 20);
        assert_eq!(subsample(&many, 0, &mut rng).len(), 50);
    }

    #[test]
    fn drift_embedding_input_errors() {
        let opts = EmbeddingDriftOptions::default();
        let one = vec![vec![1.0f32, 0.0]];
        let two = vec![vec![1.0f32, 0.0], vec![0.0, 1.0]];
        assert!(matches!(
            embedding_drift(&one, &two, 1, &opts),
            Err(EmbeddingDriftError::TooFewRows {
                side: "reference",
                ..
            })
        ));
        let bad = vec![vec![1.0f32, 0.0], vec![0.0, 1.0, 0.0]];
        assert!(matches!(
            embedding_drift(&two, &bad, 1, &opts),
            Err(EmbeddingDriftError::DimensionMismatch {
                side: "current",
                row: 1,
                ..
            })
        ));
        let nan = vec![vec![1.0f32, f32::NAN], vec![0.0, 1.0]];
        assert!(matches!(
            embedding_drift(&nan, &two, 1, &opts),
            Err(EmbeddingDriftError::InvalidEmbedding { .. })
        ));
    }

    /// The production size: 3,500 × 384 per side. Run with `--ignored` in release to time it.
    #[test]
    #[ignore = "timing check; run in release with --ignored"]
    fn drift_embedding_full_size_timing() {
        let mut rng = fastrand::Rng::with_seed(4);
        let reference = embeddings(&mut rng, 3500, 384, 0.0);
        let current = embeddings(&mut rng, 3500, 384, 0.1);
        let start = std::time::Instant::now();
        let d =
            embedding_drift(&reference, &current, 7, &EmbeddingDriftOptions::default()).unwrap();
        eprintln!("{d:?} in {:?}", start.elapsed());
    }
}
