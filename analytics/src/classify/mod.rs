//! The ticket-type classifier: features, models, model selection and evaluation.
//!
//! Given tickets with a known type (Incident, Request, Problem, Change), this module learns to
//! predict the type of new ones, and measures how well it does. It is plain library code: the
//! trainer worker, the model registry, `ticketflow predict` and the accuracy experiment all call
//! the same functions.
//!
//! # The pieces
//!
//! An [`Example`] is what the classifier knows about one ticket: its MiniLM embedding, its
//! normalised text and cleaned tokens (from [`text::prepare`](ticketflow_text::text::prepare))
//! and three categorical fields. A [`FeatureSet`] chooses which of these the model sees:
//!
//! | block | what | shape |
//! | --- | --- | --- |
//! | `embeddings` | the 384-d sentence vector | dense |
//! | `metadata` | one-hot queue, priority, language (+ an *other* column each) | dense, ~20 |
//! | `lexical` | hashed word 1–2-grams and character 2–5-grams of the lower-cased text, TF-IDF | sparse, ~100k |
//!
//! Two model kinds ([`ModelKind`]) are available: multinomial **logistic regression** (our own,
//! since it must take sparse input and class weights; see [`logistic`]) and a **random forest**
//! (smartcore trees, dense features only; see [`forest`]).
//!
//! # Training and selecting
//!
//! [`train_and_select`] is the whole recipe in one call, and what the trainer runs:
//!
//! 1. a seeded [stratified split](stratified_split) holds out 20% of the rows as a test set;
//! 2. every candidate model is scored by [stratified k-fold](stratified_kfold) cross-validation on
//!    the other 80%: its mean macro-F1 over the folds;
//! 3. the best candidate is refitted on the whole 80% and [evaluated](evaluate) once on the
//!    held-out 20%: tickets from the same source that it never saw during fitting or selection.
//!
//! ```
//! use ticketflow_analytics::classify::{Example, FeatureSet, ModelKind, TrainConfig, train_and_select};
//!
//! // Two kinds of ticket, told apart by their words.
//! let mut examples = Vec::new();
//! let mut labels = Vec::new();
//! for i in 0..40 {
//!     let (words, label) = if i % 2 == 0 {
//!         (["server", "down", "outage"], "Incident")
//!     } else {
//!         (["please", "add", "licence"], "Request")
//!     };
//!     examples.push(Example::from_tokens(words.iter().map(|w| w.to_string()).collect()));
//!     labels.push(label.to_string());
//! }
//! let cfg = TrainConfig {
//!     features: FeatureSet::parse("lexical")?,
//!     candidates: vec![ModelKind::LogisticRegression],
//!     ..TrainConfig::default()
//! };
//! let (model, report) = train_and_select(&examples, &labels, &cfg)?;
//! assert_eq!(report.holdout.accuracy, 1.0);
//!
//! let (class, probability) = model.predict(&Example::from_tokens(vec!["outage".into()]));
//! assert_eq!(model.classes[class], "Incident");
//! assert!(probability > 0.5);
//! # Ok::<(), ticketflow_analytics::classify::ClassifyError>(())
//! ```
//!
//! # Calibration and routing
//!
//! The out-of-fold predictions of a cross-validation ([`cross_validate_oof`]) are honest
//! predictions for every training row. Two things are fitted on them:
//!
//! - a **temperature** ([`fit_temperature`], [`apply_temperature`]) that rescales the
//!   probabilities so a ticket predicted with 0.8 is right about 80% of the time;
//! - a **routing threshold** ([`choose_threshold`], [`precision_coverage_curve`]): the lowest
//!   top-class probability above which the routed tickets still reach a target weighted
//!   precision, such as 0.85, so the rest can go to a person.
//!
//! # Prediction never fails
//!
//! A fitted [`Classifier`] predicts for any [`Example`]: a missing subject (fewer tokens), no
//! tokens at all, an unknown language or a queue it never saw all still give a distribution over
//! the classes (unknown values fall in an *other* column with no learned weight). An embedding
//! of the wrong length is treated as missing; callers that prefer an error use
//! [`Classifier::check`].
//!
//! A fitted classifier is plain serde data (the featuriser's vocabularies and IDF, and the model's
//! parameters), so it round-trips through JSON or MessagePack and predicts identically afterwards.

mod calibrate;
mod eval;
pub mod familiarity;
mod features;
pub mod forest;
mod lbfgs;
mod lexical;
pub mod logistic;
pub mod membership;
mod metadata;
pub mod neighbours;
pub mod predictions;
pub mod routing;
mod select;
mod split;
mod training_data;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ticketflow_schemas::Ticket;

pub use calibrate::{apply_temperature, fit_temperature, log_loss};
pub use eval::{
    Averages, CALIBRATION_BINS, CalibrationBin, ClassMetrics, Evaluation, argmax, evaluate,
};
pub use familiarity::{Familiarity, FamiliarityConfig, Hold};
pub use features::{BlockWeights, FeatureSet};
pub use forest::ForestConfig;
pub use lexical::{LexicalConfig, LexicalSource};
pub use logistic::LogisticConfig;
pub use membership::{SplitRule, TicketSet};
pub use neighbours::NeighbourConfig;
pub use predictions::{Predictions, predictions_csv};
pub use routing::{
    CurvePoint, ThresholdChoice, choose_certified_threshold, choose_threshold,
    precision_coverage_curve,
};
pub use select::{
    CandidateReport, CrossValidation, RoutingReport, SplitRows, TrainReport, cross_validate,
    cross_validate_oof, train_and_select, train_and_select_held_out,
};
pub use split::{stratified_kfold, stratified_split};

pub(crate) use training_data::Dataset;

use features::{FeatureRows, Featurizer};
use forest::Forest;
use logistic::SoftmaxRegression;

/// What the classifier knows about one ticket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Example {
    /// The ticket's sentence embedding (384-d MiniLM, L2-normalised); may be empty when the
    /// feature set does not use embeddings.
    pub embedding: Vec<f32>,
    /// Cleaned tokens, as [`PreparedText::tokens`](ticketflow_text::text::PreparedText::tokens).
    pub tokens: Vec<String>,
    /// The ticket's text with case and stop words kept: subject and body, lightly normalised
    /// ([`PreparedText::normalized`](ticketflow_text::text::PreparedText::normalized), the pipeline's
    /// `CleanTicket::text`). The lexical features read it when
    /// [`LexicalConfig::source`] is [`LexicalSource::Text`] (the default); empty (as in examples
    /// stored before it existed) falls back to `tokens`. Fill it at prediction exactly as at
    /// training: a model fitted on text but shown only tokens sees other n-grams.
    #[serde(default)]
    pub text: String,
    pub queue: Option<String>,
    pub priority: Option<String>,
    /// ISO 639-1 code, as [`PreparedText::language`](ticketflow_text::text::PreparedText::language).
    pub language: Option<String>,
}

impl Example {
    /// An example with tokens only (handy for lexical models and tests).
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        Example {
            tokens,
            ..Example::default()
        }
    }

    /// The classifier's view of a ticket the pipeline's cleaner prepared. Its text is what the
    /// embedder saw (the normalised ticket by default), as `ticketflow predict` gives it, so
    /// lexical features are built the same way at training and at prediction time.
    pub fn from_clean_ticket(t: &ticketflow_schemas::CleanTicket, embedding: Vec<f32>) -> Self {
        Example {
            embedding,
            text: t.text.clone(),
            tokens: t.tokens.clone(),
            queue: t.queue.clone(),
            priority: t.priority.clone(),
            language: t.language.clone(),
        }
    }

    /// Builds the example for a ticket: prepares its text (normalised text, tokens, language
    /// settled as [`text::prepare`](ticketflow_text::text::prepare) does) and attaches its embedding.
    pub fn from_ticket(ticket: &Ticket, embedding: Vec<f32>) -> Self {
        let prepared = ticketflow_text::text::prepare(
            &ticket.subject,
            &ticket.body,
            ticket.language.as_deref(),
        );
        Example {
            embedding,
            tokens: prepared.tokens,
            text: prepared.normalized,
            queue: ticket.queue.clone(),
            priority: ticket.priority.clone(),
            language: prepared.language,
        }
    }
}

/// The learning algorithm behind a [`Classifier`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Multinomial (softmax) logistic regression, L2-regularised; any feature set.
    LogisticRegression,
    /// Random forest on the dense blocks; feature sets without `lexical` only.
    RandomForest,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::LogisticRegression, ModelKind::RandomForest];

    /// `"logistic_regression"` or `"random_forest"`, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::LogisticRegression => "logistic_regression",
            ModelKind::RandomForest => "random_forest",
        }
    }

    /// Short name for tables: `LR`, `RF`.
    pub fn abbreviation(self) -> &'static str {
        match self {
            ModelKind::LogisticRegression => "LR",
            ModelKind::RandomForest => "RF",
        }
    }

    /// Parses the serialised name, or the abbreviations `lr` / `rf`, case-insensitive.
    pub fn parse(s: &str) -> Result<Self, ClassifyError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "logistic_regression" | "lr" | "logreg" => Ok(ModelKind::LogisticRegression),
            "random_forest" | "rf" => Ok(ModelKind::RandomForest),
            _ => Err(ClassifyError::UnknownModel(s.to_owned())),
        }
    }

    /// Whether this model can use `features` (random forests take no lexical features).
    pub fn supports(self, features: FeatureSet) -> bool {
        match self {
            ModelKind::LogisticRegression => !features.is_empty(),
            ModelKind::RandomForest => features.has_dense() && !features.lexical,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = ClassifyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::parse(s)
    }
}

/// Everything that decides how a classifier is trained and selected.
///
/// `Default` is the configuration chosen on the dev data (see `analytics/examples/accuracy`).
/// Missing fields deserialise to their defaults, so stored configs stay readable as fields are
/// added.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct TrainConfig {
    pub features: FeatureSet,
    /// Seeds the train/test split, the folds and the forests' bootstraps.
    pub seed: u64,
    /// Share of rows held out for the final evaluation.
    pub test_fraction: f64,
    /// Cross-validation folds for model selection (at least 2).
    pub folds: usize,
    /// Weight classes by `n / (k · count)`, so each class counts as much in the loss (logistic
    /// regression) or the bootstrap (random forest) whatever its size.
    pub class_weight_balanced: bool,
    /// Models compared by cross-validation; those that do not support `features` are skipped.
    pub candidates: Vec<ModelKind>,
    pub logistic: LogisticConfig,
    pub forest: ForestConfig,
    pub lexical: LexicalConfig,
    /// The nearest training ticket of each class as features, with the embeddings (see
    /// [`neighbours`]).
    pub neighbours: NeighbourConfig,
    /// Scale of the embedding, metadata and lexical blocks (see [`BlockWeights`]).
    pub block_weights: BlockWeights,
    /// Worker threads for cross-validation folds and forest trees; 0 uses all cores. Results do
    /// not depend on it.
    pub threads: usize,
    /// Precision the auto-routed tickets must reach (the share routed right); the threshold
    /// is the lowest one certified on out-of-fold predictions (see [`routing`]).
    pub target_precision: f64,
    /// The probability with which the routed tickets' precision is at least the target: the
    /// threshold's Clopper–Pearson lower bound must reach the target at this confidence.
    /// 0.99 on the mean is about 0.95 that a later batch as large as the held-out part is at
    /// the target too (the calibration and the batch each carry sampling error: z = 1.645 × √2
    /// ≈ 2.33); at 0.95, 4 of 14 bench splits missed the target on such a batch.
    pub routing_confidence: f64,
    /// Which tickets are too unlike the training data to be routed automatically.
    pub familiarity: FamiliarityConfig,
    /// Fewest out-of-fold tickets a threshold must route to count as evidence (the accuracy
    /// benchmark measures coverage with the same minimum).
    pub routing_min_rows: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            features: FeatureSet::DEFAULT,
            seed: 13,
            test_fraction: 0.2,
            folds: 5,
            class_weight_balanced: true,
            candidates: ModelKind::ALL.to_vec(),
            logistic: LogisticConfig::default(),
            forest: ForestConfig::default(),
            lexical: LexicalConfig::default(),
            neighbours: NeighbourConfig::default(),
            // With the neighbour block on, the embeddings at a quarter scale: 5-fold CV 0.807
            // (0.799 at full scale, 0.791 without the block; docs/accuracy.md).
            block_weights: BlockWeights {
                embeddings: 0.25,
                ..BlockWeights::default()
            },
            threads: 0,
            target_precision: 0.85,
            routing_confidence: 0.99,
            familiarity: FamiliarityConfig::default(),
            routing_min_rows: 50,
        }
    }
}

impl TrainConfig {
    /// `threads`, with 0 resolved to the machine's parallelism.
    pub fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// Why training (or parsing a name) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassifyError {
    #[error("unknown feature block {0:?}: expected embeddings, metadata or lexical joined by '+'")]
    UnknownFeature(String),
    #[error("the feature set is empty")]
    EmptyFeatureSet,
    #[error("unknown model kind {0:?}: expected logistic_regression or random_forest")]
    UnknownModel(String),
    #[error("no training examples")]
    NoExamples,
    #[error("{examples} examples but {labels} labels")]
    LengthMismatch { examples: usize, labels: usize },
    #[error("need at least two classes to train a classifier, found {found}")]
    TooFewClasses { found: usize },
    #[error("example {row} has no embedding, but the feature set uses embeddings")]
    MissingEmbedding { row: usize },
    #[error("example {row} has an embedding of length {found}, expected {expected}")]
    EmbeddingLength {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("example {row} has a non-finite embedding value")]
    NonFiniteEmbedding { row: usize },
    #[error("{kind} cannot use the feature set {features}")]
    UnsupportedFeatures {
        kind: ModelKind,
        features: FeatureSet,
    },
    #[error("no training rows with positive weight")]
    NoTrainingRows,
    #[error("the training loss became non-finite")]
    NonFiniteLoss,
    #[error("random forest: {0}")]
    Forest(String),
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    #[error("no candidate model supports the feature set {0}")]
    NoCandidates(FeatureSet),
}

/// The fitted model behind a [`Classifier`].
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Model {
    LogisticRegression(SoftmaxRegression),
    RandomForest(Forest),
}

/// A fitted ticket-type classifier: featuriser and model, ready to predict and to serialise.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Classifier {
    /// Class labels, sorted; probability vectors follow this order.
    pub classes: Vec<String>,
    pub kind: ModelKind,
    pub features: FeatureSet,
    featurizer: Featurizer,
    model: Model,
    /// Which predictions may be routed without a person; `None` on models trained before
    /// routing existed (they route nothing).
    #[serde(default)]
    pub routing: Option<Routing>,
    /// What the training tickets were like, to hold back tickets unlike them; `None` on models
    /// trained before it existed (only the threshold applies).
    #[serde(default)]
    pub familiarity: Option<Familiarity>,
}

/// The confidence threshold for automatic routing, chosen at training time on out-of-fold
/// predictions, and what it gave there.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Routing {
    /// Tickets whose top-class probability is at least this are routed automatically; `None`
    /// when no threshold reached the target precision (everything goes to people).
    pub threshold: Option<f32>,
    pub target_precision: f64,
    /// Confidence of the guarantee; `None` on models whose threshold was a point estimate.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Coverage and precision at the threshold on the out-of-fold predictions.
    pub oof_coverage: f64,
    pub oof_precision: f64,
    /// Clopper–Pearson lower bound at `confidence` on the precision of the held-out tickets
    /// the threshold was certified on.
    #[serde(default)]
    pub lower_bound: Option<f64>,
}

/// Per-row weights: 1, or "balanced" `n / (k · count[class])` with `k` the classes present.
fn sample_weights(y: &[usize], n_classes: usize, balanced: bool) -> Vec<f64> {
    if !balanced {
        return vec![1.0; y.len()];
    }
    let mut count = vec![0usize; n_classes];
    for &c in y {
        count[c] += 1;
    }
    let present = count.iter().filter(|&&c| c > 0).count() as f64;
    let n = y.len() as f64;
    y.iter().map(|&c| n / (present * count[c] as f64)).collect()
}

impl Classifier {
    /// Fits one model of `kind` on all the given examples (no split, no selection; see
    /// [`train_and_select`] for that). Classes are the distinct `labels`, sorted.
    pub fn fit(
        examples: &[Example],
        labels: &[String],
        kind: ModelKind,
        cfg: &TrainConfig,
    ) -> Result<Classifier, ClassifyError> {
        let data = Dataset::new(examples, labels, cfg)?;
        let rows: Vec<usize> = (0..examples.len()).collect();
        data.fit(&rows, kind, cfg, cfg.worker_threads())
    }

    /// The probability of each class (in [`classes`](Self::classes) order) for one example.
    pub fn predict_proba(&self, example: &Example) -> Vec<f32> {
        self.predict_proba_batch(std::slice::from_ref(example))
            .pop()
            .unwrap_or_else(|| self.uniform())
    }

    /// The most probable class index and its probability.
    pub fn predict(&self, example: &Example) -> (usize, f32) {
        eval::argmax(&self.predict_proba(example))
    }

    /// [`predict_proba`](Self::predict_proba) for many examples at once (faster for forests).
    pub fn predict_proba_batch(&self, examples: &[Example]) -> Vec<Vec<f32>> {
        let rows: Vec<usize> = (0..examples.len()).collect();
        let x = self.featurizer.transform(examples, None, &rows);
        self.predict_rows(&x)
    }

    pub(crate) fn predict_rows(&self, x: &FeatureRows) -> Vec<Vec<f32>> {
        match &self.model {
            Model::LogisticRegression(m) => (0..x.n_rows).map(|i| m.predict_proba(x, i)).collect(),
            Model::RandomForest(f) => f.predict_proba(x),
        }
    }

    /// Reports what prediction would silently paper over: an embedding missing, of the wrong
    /// length, or with non-finite values, when the model uses embeddings. (The error's `row` is
    /// 0: there is only the one example.)
    pub fn check(&self, example: &Example) -> Result<(), ClassifyError> {
        let expected = self.featurizer.embedding_dim;
        if expected == 0 {
            return Ok(());
        }
        match example.embedding.len() {
            0 => Err(ClassifyError::MissingEmbedding { row: 0 }),
            n if n != expected => Err(ClassifyError::EmbeddingLength {
                row: 0,
                expected,
                found: n,
            }),
            _ if example.embedding.iter().any(|v| !v.is_finite()) => {
                Err(ClassifyError::NonFiniteEmbedding { row: 0 })
            }
            _ => Ok(()),
        }
    }

    /// Why `example` may not be routed automatically whatever its confidence (a language or a
    /// text unlike the training data); `None` when it may.
    pub fn hold(&self, example: &Example) -> Option<Hold> {
        self.familiarity.as_ref()?.check(example)
    }

    /// Whether a prediction with these class probabilities clears the routing threshold (the
    /// per-ticket [`hold`](Self::hold) and a batch's suspension are checked apart).
    pub fn routes(&self, probs: &[f32]) -> bool {
        let threshold = self.routing.as_ref().and_then(|r| r.threshold);
        threshold.is_some_and(|t| argmax(probs).1 >= t)
    }

    /// Embedding length the model expects; 0 when it uses no embeddings.
    pub fn embedding_dim(&self) -> usize {
        self.featurizer.embedding_dim
    }

    fn uniform(&self) -> Vec<f32> {
        vec![1.0 / self.classes.len().max(1) as f32; self.classes.len()]
    }
}
