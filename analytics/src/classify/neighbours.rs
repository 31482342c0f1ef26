//! Neighbour features: how close a ticket is to the nearest training ticket of each type.
//!
//! The dev data is full of paraphrases: the same ticket told again in other words, with the same
//! type. 667 of its 3,553 tickets have another ticket at cosine similarity ≥ 0.9 of their MiniLM
//! embedding, and that neighbour has the same type 98% of the time (63% below 0.8). A linear
//! model over the embedding cannot say "copy the type of the ticket that is almost this one"; a
//! nearest-neighbour lookup can, and a plain k-nearest-neighbour vote is weak everywhere else
//! (0.613 macro-F1). So the lookup is offered to the model as features, and the model learns how
//! far to trust it:
//!
//! ```text
//!   nearest[c] = β · exp((max_{j: y_j = c} cos(x, x_j) − 1) / τ)     for each class c
//! ```
//!
//! over the training tickets `j` (the **memory**, kept in the fitted featuriser). With τ = 0.05 a
//! neighbour at 0.95 gives 0.37β, one at 0.85 gives 0.05β, one at 0.7 nothing to speak of.
//! Optionally a similarity-weighted vote of the `k` nearest tickets is added, with the same
//! kernel: `vote[c] = β · Σ_{j ∈ top k, y_j = c} exp((cos(x, x_j) − 1) / τ)`.
//!
//! **No label leaks into its own features.** A training ticket is always its own nearest
//! neighbour, at similarity 1, with its own label: features built that way would teach the model
//! to copy a label that a new ticket never has. So when the featuriser transforms the rows it was
//! fitted on, each row leaves itself out (leave-one-out); rows it was not fitted on (a fold's test
//! rows, new tickets) see the whole memory. The training rows' features are then distributed like
//! a new ticket's, with one neighbour fewer out of thousands.
//!
//! **Memory.** The training embeddings are stored quantised to 8 bits per component with one
//! scale per vector (384 bytes + 4 instead of 1,536 per ticket; the cosine moves by about 1e-3,
//! far below τ), and serialised as bytes. 50,000 training tickets take 19 MB.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How the neighbour features are built (see the [module docs](self)).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct NeighbourConfig {
    /// Adds the features when the embeddings are in the feature set.
    pub enabled: bool,
    /// Kernel width τ on the cosine similarity.
    pub temperature: f32,
    /// Scale β of the block (the L2 penalty weighs features by their scale).
    pub weight: f32,
    /// Neighbours in the optional vote; 0 leaves the vote out.
    pub vote_k: usize,
    /// Most training tickets kept in the memory. Every prediction scans the whole memory
    /// (`max_memory × 384` multiply-adds, about 0.2 ms a ticket on one core at 5,000), so a
    /// larger training set keeps an evenly spaced subset of its rows: the trainer's pass over a
    /// 1M-ticket run then costs a bounded, known amount more, whatever the training sample.
    pub max_memory: usize,
}

impl Default for NeighbourConfig {
    /// Chosen on the dev data (`analytics/examples/accuracy --try`, 5-fold CV at seed 13 and the 20
    /// held-out splits of `make bench-routing`): the block lifts macro-F1 from 0.791 to 0.799
    /// and routing coverage at 0.85 precision from 76.5% to 83.5% with the embeddings at full
    /// scale (0.807 with them at 0.25, [`TrainConfig`](super::TrainConfig)'s default). τ
    /// 0.03–0.1, β 0.5–5 and a 5- or 10-vote all land within 0.005 of it. The dev file's
    /// training sets (≤ 3,553 tickets) fit in the memory whole.
    fn default() -> Self {
        Self {
            enabled: true,
            temperature: 0.05,
            weight: 1.0,
            vote_k: 0,
            max_memory: 5_000,
        }
    }
}

impl NeighbourConfig {
    /// The configuration that adds nothing.
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// The fitted neighbour featuriser: the training embeddings (quantised) and their classes.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct NeighbourEncoder {
    pub config: NeighbourConfig,
    n_classes: usize,
    dim: usize,
    /// `memory[j * dim..(j + 1) * dim]`: training embedding `j`, as `round(v / scale[j])`.
    #[serde(with = "bytes")]
    memory: Vec<i8>,
    scale: Vec<f32>,
    class: Vec<u16>,
    /// Dataset row of each memory entry → its position, for leave-one-out on the rows the
    /// encoder was fitted on. Not serialised: a stored model only ever sees new tickets.
    #[serde(skip)]
    fitted_rows: HashMap<usize, usize>,
    /// `memory` widened to f32 once, on first use: the scan then runs about twice as fast
    /// (10 rather than 5.5 G multiply-adds a second on one core of the dev machine). Never
    /// serialised; 4 bytes per value while the model is in memory.
    #[serde(skip)]
    widened: OnceLock<Vec<f32>>,
}

/// Equal when they featurise alike: the caches and the training-time row map are left out, so a
/// model equals its own serialised copy.
impl PartialEq for NeighbourEncoder {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.config,
            self.n_classes,
            self.dim,
            &self.memory,
            &self.scale,
            &self.class,
        ) == (
            &other.config,
            other.n_classes,
            other.dim,
            &other.memory,
            &other.scale,
            &other.class,
        )
    }
}

impl NeighbourEncoder {
    /// Remembers the embeddings of `rows` (all of length `dim`, checked by the caller) and their
    /// class indices `y[row]`.
    pub fn fit(
        embeddings: impl Fn(usize) -> Vec<f32>,
        rows: &[usize],
        y: &[usize],
        n_classes: usize,
        dim: usize,
        config: &NeighbourConfig,
    ) -> Self {
        let rows = &memory_rows(rows, config.max_memory);
        let mut memory = Vec::with_capacity(rows.len() * dim);
        let mut scale = Vec::with_capacity(rows.len());
        for &r in rows {
            let v = embeddings(r);
            let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            memory.extend(v.iter().map(|x| (x / s).round().clamp(-127.0, 127.0) as i8));
            scale.push(s);
        }
        NeighbourEncoder {
            config: config.clone(),
            n_classes,
            dim,
            memory,
            scale,
            class: rows.iter().map(|&r| y[r] as u16).collect(),
            fitted_rows: rows.iter().enumerate().map(|(j, &r)| (r, j)).collect(),
            widened: OnceLock::new(),
        }
    }

    /// Columns: the per-class nearest similarity, then the vote when `vote_k > 0`.
    pub fn width(&self) -> usize {
        self.n_classes * if self.config.vote_k > 0 { 2 } else { 1 }
    }

    /// Writes the features of an embedding into `out` (`width()` columns, zeroed by the
    /// caller). `row` is the query's dataset row when it may be one the encoder was fitted on,
    /// so that it leaves itself out. An embedding of the wrong length gives no features.
    pub fn encode(&self, embedding: &[f32], row: Option<usize>, out: &mut [f32]) {
        if embedding.len() != self.dim || self.dim == 0 {
            return;
        }
        let query: Vec<f32> = embedding
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.0 })
            .collect();
        let skip = row.and_then(|r| self.fitted_rows.get(&r).copied());
        let k = self.n_classes;
        let mut nearest = vec![f32::NEG_INFINITY; k];
        let mut top: Vec<(f32, usize)> = Vec::with_capacity(self.config.vote_k + 1);
        let memory = self
            .widened
            .get_or_init(|| self.memory.iter().map(|&v| f32::from(v)).collect());
        for (j, stored) in memory.chunks_exact(self.dim).enumerate() {
            if Some(j) == skip {
                continue;
            }
            let s = dot(&query, stored) * self.scale[j];
            let c = usize::from(self.class[j]);
            if s > nearest[c] {
                nearest[c] = s;
            }
            if self.config.vote_k > 0 {
                push_top(&mut top, (s, c), self.config.vote_k);
            }
        }
        let tau = self.config.temperature.max(1e-4);
        let beta = self.config.weight;
        let kernel = |s: f32| beta * ((s.min(1.0) - 1.0) / tau).exp();
        for (o, &s) in out.iter_mut().zip(&nearest) {
            if s.is_finite() {
                *o = kernel(s);
            }
        }
        if self.config.vote_k > 0 {
            for &(s, c) in &top {
                if let Some(o) = out.get_mut(k + c) {
                    *o += kernel(s);
                }
            }
        }
    }
}

/// At most `max` of `rows`, evenly spaced (all of them when they fit). The caller's rows are a
/// seeded sample or fold in no particular order of type, so every type keeps about its share.
fn memory_rows(rows: &[usize], max: usize) -> Vec<usize> {
    let max = max.max(1);
    if rows.len() <= max {
        return rows.to_vec();
    }
    (0..max).map(|i| rows[i * rows.len() / max]).collect()
}

/// Keeps `top` the `k` largest similarities seen, in descending order.
fn push_top(top: &mut Vec<(f32, usize)>, item: (f32, usize), k: usize) {
    if top.len() == k && top.last().is_some_and(|last| last.0 >= item.0) {
        return;
    }
    let at = top.partition_point(|t| t.0 >= item.0);
    top.insert(at, item);
    top.truncate(k);
}

/// `Σ a_i · b_i` with sixteen independent accumulators, so the loop vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let chunks = a.len().min(b.len()) / LANES * LANES;
    for (ca, cb) in a[..chunks]
        .chunks_exact(LANES)
        .zip(b[..chunks].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    let tail: f32 = a[chunks..]
        .iter()
        .zip(&b[chunks..])
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// `Vec<i8>` as a byte string: MessagePack `bin` (one byte per value) instead of an array of
/// integers; JSON writes it as an array of numbers either way.
mod bytes {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[i8], s: S) -> Result<S::Ok, S::Error> {
        let raw: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        s.serialize_bytes(&raw)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<i8>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte string or a sequence of bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(v.iter().map(|&x| x as i8).collect())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            self.visit_bytes(&v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(x) = seq.next_element::<u8>()? {
                out.push(x as i8);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn encoder(config: NeighbourConfig) -> (Vec<Vec<f32>>, NeighbourEncoder) {
        let memory = vec![
            unit(&[1.0, 0.0, 0.0]),
            unit(&[1.0, 0.1, 0.0]),
            unit(&[0.0, 1.0, 0.0]),
        ];
        let y = [0, 1, 1];
        let m = memory.clone();
        let enc = NeighbourEncoder::fit(|r| m[r].clone(), &[0, 1, 2], &y, 2, 3, &config);
        (memory, enc)
    }

    #[test]
    fn nearest_of_each_class_through_the_kernel() {
        let (memory, enc) = encoder(NeighbourConfig {
            weight: 1.0,
            ..NeighbourConfig::default()
        });
        assert_eq!(enc.width(), 2);
        let mut out = vec![0.0; 2];
        enc.encode(&memory[0], None, &mut out);
        // A new ticket equal to entry 0: class 0 at similarity 1, class 1 at cos ≈ 0.995.
        assert!((out[0] - 1.0).abs() < 0.01, "{out:?}");
        let expected = ((unit(&[1.0, 0.1, 0.0])[0] - 1.0) / 0.05).exp();
        assert!((out[1] - expected).abs() < 0.01, "{out:?} vs {expected}");
    }

    #[test]
    fn a_fitted_row_leaves_itself_out() {
        let (memory, enc) = encoder(NeighbourConfig {
            weight: 3.0,
            ..NeighbourConfig::default()
        });
        let mut out = vec![0.0; 2];
        enc.encode(&memory[0], Some(0), &mut out);
        assert_eq!(out[0], 0.0, "row 0 is the only class-0 ticket: {out:?}");
        assert!(out[1] > 0.0);
        // After a round trip the model no longer knows its rows: a ticket is a new ticket.
        let back: NeighbourEncoder =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&enc).unwrap()).unwrap();
        let mut again = vec![0.0; 2];
        back.encode(&memory[0], Some(0), &mut again);
        assert!(again[0] > 2.9, "{again:?}");
        let json: NeighbourEncoder =
            serde_json::from_str(&serde_json::to_string(&enc).unwrap()).unwrap();
        assert_eq!(json, enc);
        assert_eq!(back, enc);
    }

    #[test]
    fn vote_and_missing_embeddings() {
        let (memory, enc) = encoder(NeighbourConfig {
            vote_k: 2,
            weight: 1.0,
            ..NeighbourConfig::default()
        });
        assert_eq!(enc.width(), 4);
        let mut out = vec![0.0; 4];
        enc.encode(&memory[2], None, &mut out);
        // Top 2 of [0, ~0.1, 1]: entry 2 (class 1, sim 1) and entry 1 (class 1, sim ~0.1).
        assert_eq!(out[2], 0.0);
        assert!((out[3] - 1.0).abs() < 0.01, "{out:?}");
        let mut none = vec![0.0; 4];
        enc.encode(&[1.0, 0.0], None, &mut none);
        assert_eq!(none, [0.0; 4]);
    }

    /// Classifier-level checks: leave-one-out on the training rows, block weights, and models
    /// stored before either existed.
    mod in_the_classifier {
        use super::unit;
        use crate::classify::{
            BlockWeights, Classifier, Dataset, Example, FeatureSet, ModelKind, TrainConfig,
        };

        fn noise(n: usize) -> (Vec<Example>, Vec<String>) {
            let mut rng = fastrand::Rng::with_seed(3);
            let examples = (0..n)
                .map(|_| Example {
                    embedding: unit(&(0..8).map(|_| rng.f32() - 0.5).collect::<Vec<_>>()),
                    queue: Some("it".into()),
                    ..Example::default()
                })
                .collect();
            let labels = (0..n).map(|i| ["a", "b"][i % 2].to_owned()).collect();
            (examples, labels)
        }

        fn config() -> TrainConfig {
            TrainConfig {
                features: FeatureSet::parse("embeddings+metadata").unwrap(),
                neighbours: super::NeighbourConfig {
                    enabled: true,
                    ..super::NeighbourConfig::default()
                },
                block_weights: BlockWeights {
                    embeddings: 0.5,
                    metadata: 2.0,
                    lexical: 1.0,
                },
                ..TrainConfig::default()
            }
        }

        #[test]
        fn training_rows_never_see_their_own_label() {
            let (examples, labels) = noise(40);
            let cfg = config();
            let data = Dataset::new(&examples, &labels, &cfg).unwrap();
            let rows: Vec<usize> = (0..40).collect();
            let model = data
                .fit(&rows, ModelKind::LogisticRegression, &cfg, 1)
                .unwrap();
            let f = &model.featurizer;
            let (fitted, new) = (
                f.transform(&examples, Some(&data.counts), &rows),
                f.transform(&examples, None, &rows),
            );
            let beta = cfg.neighbours.weight;
            let near = f.dense_dim() - 2;
            for i in rows {
                let own = data.y[i];
                let (seen_as_fitted, _, _) = fitted.row(i);
                let (seen_as_new, _, _) = new.row(i);
                // As a new ticket it finds itself, at similarity 1 (less the 8-bit rounding of
                // so short a vector), in its own class; as a fitted row it does not.
                assert!((seen_as_new[near + own] - beta).abs() < 0.1 * beta);
                assert!(
                    seen_as_fitted[near + own] < seen_as_new[near + own] - 0.05,
                    "row {i}"
                );
                // The other blocks do not depend on it, and carry their scale.
                assert_eq!(seen_as_fitted[..near], seen_as_new[..near]);
                let e = &examples[i].embedding;
                assert!((seen_as_new[0] - 0.5 * e[0]).abs() < 1e-6);
                let meta: f32 = seen_as_new[8..near].iter().map(|v| v * v).sum();
                assert!((meta.sqrt() - 2.0).abs() < 1e-5, "{meta}");
            }
        }

        #[test]
        fn models_stored_before_neighbours_and_weights_still_load() {
            let (examples, labels) = noise(40);
            let cfg = TrainConfig {
                neighbours: super::NeighbourConfig::off(),
                block_weights: BlockWeights::default(),
                ..config()
            };
            let model =
                Classifier::fit(&examples, &labels, ModelKind::LogisticRegression, &cfg).unwrap();
            let mut json = serde_json::to_value(&model).unwrap();
            let featurizer = json["featurizer"].as_object_mut().unwrap();
            assert!(featurizer.remove("neighbours").is_some());
            assert!(featurizer.remove("weights").is_some());
            let old: Classifier = serde_json::from_value(json).unwrap();
            assert_eq!(
                old.predict_proba_batch(&examples),
                model.predict_proba_batch(&examples)
            );
        }
    }

    #[test]
    fn the_memory_is_bounded_and_evenly_spaced() {
        let rows: Vec<usize> = (100..110).collect();
        assert_eq!(memory_rows(&rows, 20), rows);
        assert_eq!(memory_rows(&rows, 5), vec![100, 102, 104, 106, 108]);
        let v = unit(&[1.0, 0.0, 0.0]);
        let enc = NeighbourEncoder::fit(
            |_| v.clone(),
            &rows,
            &[0; 110],
            1,
            3,
            &NeighbourConfig {
                max_memory: 4,
                ..NeighbourConfig::default()
            },
        );
        assert_eq!((enc.class.len(), enc.memory.len()), (4, 12));
        // A fitted row left out of the memory sees all of it; one inside leaves itself out.
        assert_eq!(enc.fitted_rows.len(), 4);
    }

    #[test]
    fn quantised_dot_is_close() {
        let mut rng = fastrand::Rng::with_seed(9);
        let a = unit(&(0..384).map(|_| rng.f32() - 0.5).collect::<Vec<_>>());
        let b = unit(&(0..384).map(|_| rng.f32() - 0.5).collect::<Vec<_>>());
        let enc = NeighbourEncoder::fit(
            |_| b.clone(),
            &[0],
            &[0],
            1,
            384,
            &NeighbourConfig::default(),
        );
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let widened: Vec<f32> = enc.memory.iter().map(|&v| f32::from(v)).collect();
        let approx = dot(&a, &widened) * enc.scale[0];
        assert!((exact - approx).abs() < 2e-3, "{exact} vs {approx}");
    }
}
