//! From [`Example`]s to the numeric rows the models train on.
//!
//! A row has a **dense** part and a **sparse** part:
//!
//! ```text
//!   dense:  [ embedding (384) | metadata one-hot (~20) | neighbours (4) ]   every column stored
//!   sparse: [ word n-grams | character n-grams ]             (column, value) pairs, ~1–2k of
//!                                                            ~100k columns per row
//! ```
//!
//! Each block that is switched on by the [`FeatureSet`] has unit length (the embedding already is;
//! see [`metadata`](super::metadata) and [`lexical`](super::lexical) for the others), so one L2
//! penalty treats the blocks alike. The neighbour block (the nearest training ticket of each
//! class, see [`neighbours`](super::neighbours)) comes with the embeddings when
//! [`NeighbourConfig::enabled`] is on; its scale is a setting.
//!
//! The [`Featurizer`] is *fitted*: metadata vocabularies and lexical IDF come from the training
//! rows only (looking at test rows would leak information into the evaluation), and it is
//! serialised inside the classifier so prediction featurises exactly as training did.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::lexical::{LexicalConfig, LexicalEncoder, NgramCounts, count_example};
use super::metadata::MetadataEncoder;
#[cfg(doc)]
use super::neighbours::NeighbourConfig;
use super::neighbours::NeighbourEncoder;
use super::{ClassifyError, Example, TrainConfig};

/// Which feature blocks a classifier uses.
///
/// Written as names joined by `+` (`"embeddings+lexical"`), in the fixed order embeddings,
/// metadata, lexical:
///
/// ```
/// use ticketflow_analytics::classify::FeatureSet;
///
/// let f = FeatureSet::parse("lexical + Embeddings").unwrap();
/// assert_eq!(f.name(), "embeddings+lexical");
/// assert!(FeatureSet::parse("embeddings+colour").is_err());
/// ```
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FeatureSet {
    /// The 384-d MiniLM sentence embedding.
    pub embeddings: bool,
    /// One-hot queue, priority and language.
    pub metadata: bool,
    /// Hashed word and character n-grams, TF-IDF weighted.
    pub lexical: bool,
}

impl FeatureSet {
    /// Embeddings, metadata and lexical n-grams together, with logistic regression: the best mean
    /// macro-F1 in the 5-fold comparison on `tickets_dev.csv`, with the default lexical and L2
    /// settings: 0.791 ± 0.010 at seed 13 and 0.782 ± 0.018 at seed 7 (the previous default,
    /// the same blocks over the cleaned tokens, gave 0.778 / 0.770). `metadata+lexical` is
    /// within noise of it (0.790 ± 0.013) and needs no embedder; lexical alone gives 0.777,
    /// embeddings alone 0.714. With the embeddings come their neighbour features
    /// ([`NeighbourConfig`], on by default) and, at a quarter scale ([`BlockWeights`]), the
    /// vector itself: 0.807 at seed 13. See `analytics/examples/accuracy` and `docs/accuracy.md`.
    pub const DEFAULT: FeatureSet = FeatureSet {
        embeddings: true,
        metadata: true,
        lexical: true,
    };

    /// The feature sets the accuracy experiment compares.
    pub const COMPARED: [FeatureSet; 6] = [
        FeatureSet::new(true, false, false),
        FeatureSet::new(false, false, true),
        FeatureSet::new(true, true, false),
        FeatureSet::new(true, false, true),
        FeatureSet::new(true, true, true),
        FeatureSet::new(false, true, true),
    ];

    pub const fn new(embeddings: bool, metadata: bool, lexical: bool) -> Self {
        FeatureSet {
            embeddings,
            metadata,
            lexical,
        }
    }

    /// `"embeddings+metadata+lexical"`-style name; `"none"` when empty.
    pub fn name(&self) -> String {
        let parts: Vec<&str> = [
            (self.embeddings, "embeddings"),
            (self.metadata, "metadata"),
            (self.lexical, "lexical"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|&(_, name)| name)
        .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join("+")
        }
    }

    /// Parses names joined by `+` (or `,`), case-insensitive, in any order.
    pub fn parse(s: &str) -> Result<Self, ClassifyError> {
        let mut set = FeatureSet::new(false, false, false);
        for part in s.split(['+', ',']) {
            match part.trim().to_ascii_lowercase().as_str() {
                "embeddings" | "embedding" => set.embeddings = true,
                "metadata" => set.metadata = true,
                "lexical" => set.lexical = true,
                _ => return Err(ClassifyError::UnknownFeature(part.trim().to_owned())),
            }
        }
        Ok(set)
    }

    /// True when no block is switched on.
    pub fn is_empty(&self) -> bool {
        !(self.embeddings || self.metadata || self.lexical)
    }

    /// True when some dense block (embeddings or metadata) is on.
    pub fn has_dense(&self) -> bool {
        self.embeddings || self.metadata
    }
}

impl Default for FeatureSet {
    fn default() -> Self {
        FeatureSet::DEFAULT
    }
}

impl fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for FeatureSet {
    type Err = ClassifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FeatureSet::parse(s)
    }
}

/// Scale of each block in the model's input. Each block has unit length before scaling, and one
/// L2 penalty covers all weights, so a block scaled up is in effect penalised less: its scale says
/// how much the model may lean on it.
///
/// `Default` is all 1, what every model stored before the weights existed was fitted with;
/// [`TrainConfig::default`] trains with the embeddings at 0.25 (chosen on the dev data: the
/// neighbour block carries most of what the embeddings add, and the full 384-d vector then adds
/// more variance than signal: 5-fold CV 0.799 → 0.807, held-out splits 0.776 → 0.785; 0 and
/// 0.5 are within 0.004 of 0.25, the lexical block at 1.5 or metadata at 0.5 or 2 are not
/// better).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(default)]
pub struct BlockWeights {
    pub embeddings: f32,
    pub metadata: f32,
    pub lexical: f32,
}

impl Default for BlockWeights {
    /// All 1: what every model stored before the weights existed was fitted with.
    fn default() -> Self {
        Self {
            embeddings: 1.0,
            metadata: 1.0,
            lexical: 1.0,
        }
    }
}

/// A batch of featurised rows: dense row-major values and sparse rows in CSR form.
#[derive(Clone, Debug, Default)]
pub(crate) struct FeatureRows {
    pub n_rows: usize,
    pub dense_dim: usize,
    /// `n_rows × dense_dim`, row-major.
    pub dense: Vec<f32>,
    /// Row `i`'s sparse entries are `indptr[i]..indptr[i + 1]` of `indices`/`values`.
    pub indptr: Vec<usize>,
    /// Sparse column, counted from 0 (the model places them after the dense columns).
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl FeatureRows {
    /// Row `i`: its dense values, sparse columns and sparse values.
    pub fn row(&self, i: usize) -> (&[f32], &[u32], &[f32]) {
        let dense = &self.dense[i * self.dense_dim..(i + 1) * self.dense_dim];
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (dense, &self.indices[a..b], &self.values[a..b])
    }
}

/// Raw per-example inputs to featurisation that do not depend on fitting: the n-gram counts.
/// Computed once per example and shared by every cross-validation fold.
pub(crate) fn precompute(
    examples: &[Example],
    features: FeatureSet,
    lexical: &LexicalConfig,
) -> Vec<NgramCounts> {
    if features.lexical {
        examples.iter().map(|e| count_example(e, lexical)).collect()
    } else {
        Vec::new()
    }
}

/// The fitted featuriser, stored inside the classifier.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct Featurizer {
    pub features: FeatureSet,
    /// Embedding length seen in training; 0 when embeddings are off.
    pub embedding_dim: usize,
    pub metadata: Option<MetadataEncoder>,
    pub lexical: Option<LexicalEncoder>,
    /// The nearest training ticket of each class; `None` when off, and on models stored before
    /// it existed.
    #[serde(default)]
    pub neighbours: Option<NeighbourEncoder>,
    /// Block scales (all 1 on models stored before they existed).
    #[serde(default)]
    pub weights: BlockWeights,
}

impl Featurizer {
    /// Fits on the training rows `rows` of `examples` (`counts` from [`precompute`]; `y` the
    /// class index of every example, of `n_classes`, which the neighbour block remembers).
    ///
    /// Fails when embeddings are requested but a training row has none, a different length, or a
    /// non-finite value: training on silently zeroed vectors would teach the model nonsense.
    pub fn fit(
        examples: &[Example],
        counts: &[NgramCounts],
        rows: &[usize],
        (y, n_classes): (&[usize], usize),
        cfg: &TrainConfig,
    ) -> Result<Self, ClassifyError> {
        let (features, lexical) = (cfg.features, &cfg.lexical);
        if features.is_empty() {
            return Err(ClassifyError::EmptyFeatureSet);
        }
        let mut embedding_dim = 0;
        if features.embeddings {
            embedding_dim = rows
                .first()
                .and_then(|&r| examples.get(r))
                .map_or(0, |e| e.embedding.len());
            if embedding_dim == 0 {
                return Err(ClassifyError::MissingEmbedding {
                    row: rows.first().copied().unwrap_or(0),
                });
            }
            for &r in rows {
                let e = &examples[r].embedding;
                if e.len() != embedding_dim {
                    return Err(ClassifyError::EmbeddingLength {
                        row: r,
                        expected: embedding_dim,
                        found: e.len(),
                    });
                }
                if e.iter().any(|v| !v.is_finite()) {
                    return Err(ClassifyError::NonFiniteEmbedding { row: r });
                }
            }
        }
        let metadata = features
            .metadata
            .then(|| MetadataEncoder::fit(rows.iter().map(|&r| &examples[r])));
        let lexical = if features.lexical {
            let docs: Vec<&NgramCounts> = rows.iter().filter_map(|&r| counts.get(r)).collect();
            Some(LexicalEncoder::fit(&docs, lexical))
        } else {
            None
        };
        let neighbours = (features.embeddings && cfg.neighbours.enabled).then(|| {
            NeighbourEncoder::fit(
                |r| examples[r].embedding.clone(),
                rows,
                y,
                n_classes,
                embedding_dim,
                &cfg.neighbours,
            )
        });
        Ok(Featurizer {
            features,
            embedding_dim,
            metadata,
            lexical,
            neighbours,
            weights: cfg.block_weights,
        })
    }

    pub fn dense_dim(&self) -> usize {
        self.embedding_dim
            + self.metadata.as_ref().map_or(0, MetadataEncoder::width)
            + self.neighbours.as_ref().map_or(0, NeighbourEncoder::width)
    }

    pub fn sparse_dim(&self) -> usize {
        self.lexical.as_ref().map_or(0, LexicalEncoder::width)
    }

    /// Featurises `rows` of `examples`, using precomputed `counts` when given (training) or
    /// counting n-grams on the fly (prediction).
    ///
    /// With `counts` given, `examples` must be the very slice the featuriser was fitted on (the
    /// training [`Dataset`](super::Dataset)'s): a row it was fitted on then leaves itself out of
    /// its neighbour features, so no training row sees its own label. Without, every example is
    /// a new ticket.
    pub fn transform(
        &self,
        examples: &[Example],
        counts: Option<&[NgramCounts]>,
        rows: &[usize],
    ) -> FeatureRows {
        let dense_dim = self.dense_dim();
        let mut out = FeatureRows {
            n_rows: rows.len(),
            dense_dim,
            dense: vec![0.0; rows.len() * dense_dim],
            indptr: Vec::with_capacity(rows.len() + 1),
            indices: Vec::new(),
            values: Vec::new(),
        };
        out.indptr.push(0);
        for (i, &r) in rows.iter().enumerate() {
            let example = &examples[r];
            let dense = &mut out.dense[i * dense_dim..(i + 1) * dense_dim];
            self.fill_dense(example, counts.is_some().then_some(r), dense);
            if let Some(lexical) = &self.lexical {
                let sparse = match counts.and_then(|c| c.get(r)) {
                    Some(c) => lexical.transform(c),
                    None => lexical.transform(&count_example(example, &lexical.config)),
                };
                for (col, v) in sparse {
                    out.indices.push(col);
                    out.values.push(v * self.weights.lexical);
                }
            }
            out.indptr.push(out.indices.len());
        }
        out
    }

    fn fill_dense(&self, example: &Example, row: Option<usize>, dense: &mut [f32]) {
        let (emb, rest) = dense.split_at_mut(self.embedding_dim);
        let meta_width = self.metadata.as_ref().map_or(0, MetadataEncoder::width);
        let (meta, near) = rest.split_at_mut(meta_width);
        // Prediction must not fail: an embedding of the wrong length is treated as missing
        // (zeros), and non-finite values as 0. `Classifier::check` reports both to callers
        // that prefer an error.
        let w = self.weights;
        if example.embedding.len() == self.embedding_dim {
            for (d, &v) in emb.iter_mut().zip(&example.embedding) {
                *d = if v.is_finite() { v * w.embeddings } else { 0.0 };
            }
        }
        if let Some(metadata) = &self.metadata {
            metadata.encode(example, meta);
            meta.iter_mut().for_each(|v| *v *= w.metadata);
        }
        if let Some(neighbours) = &self.neighbours {
            neighbours.encode(&example.embedding, row, near);
        }
    }
}
