//! Data, embedding and prediction drift between a reference run and a current run.
//!
//! The column tests follow Evidently's data-drift defaults, so users moving from Evidently get
//! the same verdicts on the same tables:
//!
//! | reference rows | column kind | test | drift when |
//! | --- | --- | --- | --- |
//! | ≤ 1,000 | numeric (> 5 distinct values) | Kolmogorov–Smirnov | p ≤ 0.05 |
//! | ≤ 1,000 | categorical | chi-square | p < 0.05 |
//! | ≤ 1,000 | binary | two-proportion Z-test | p < 0.05 |
//! | > 1,000 | numeric | normed Wasserstein distance | ≥ 0.1 |
//! | > 1,000 | categorical or binary | Jensen–Shannon distance | ≥ 0.1 |
//!
//! The dataset drifts when at least half of the columns drift. On top of the columns, the
//! embeddings themselves are compared (a domain classifier's ROC AUC, and maximum mean
//! discrepancy with a permutation p-value).
//!
//! This module holds the report's types; the statistics ([`stats`]), the per-ticket feature table
//! ([`feature_table`]) and the HTML page ([`report_page`]) live in submodules. (HTML *in tickets*
//! is [`ticketflow_text::text`]'s business, model features [`crate::classify`]'s.)

pub mod columns;
pub mod compare;
pub mod embedding;
pub mod feature_table;
pub mod report_page;
pub mod stats;

pub use columns::{
    ColumnDriftError, ColumnOptions, ColumnValues, DriftOptions, column_drift, dataset_drift,
    default_test, default_threshold, detect_kind, is_drift,
};
pub use embedding::{
    EmbeddingDriftError, EmbeddingDriftOptions, MmdTest, domain_classifier_auc, embedding_drift,
    mmd_permutation_test, roc_auc,
};
pub use stats::StatsError;

use serde::{Deserialize, Serialize};

/// How a column is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Numeric,
    Categorical,
    Binary,
}

/// The statistical test or distance applied to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatTest {
    /// Two-sample Kolmogorov–Smirnov; the statistic is the p-value.
    KolmogorovSmirnov,
    /// Pearson chi-square on category counts; the statistic is the p-value.
    ChiSquare,
    /// Two-proportion Z-test; the statistic is the p-value.
    ZTest,
    /// Wasserstein distance normed by the reference's standard deviation.
    Wasserstein,
    /// Jensen–Shannon distance between category shares (natural logarithm, as Evidently calls
    /// scipy with `base=None`; at most √ln 2 ≈ 0.83).
    JensenShannon,
}

impl StatTest {
    /// True when a smaller statistic means more drift (p-values), false for distances.
    pub fn is_p_value(self) -> bool {
        matches!(
            self,
            StatTest::KolmogorovSmirnov | StatTest::ChiSquare | StatTest::ZTest
        )
    }
}

/// Reference vs current shares over the same bins or categories, for the charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Bin labels ("12–40") for numeric columns, category names otherwise.
    pub labels: Vec<String>,
    /// Share of reference rows per label (sums to 1 unless empty).
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// One column's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub column: String,
    pub kind: ColumnKind,
    pub test: StatTest,
    /// p-value or distance, per [`StatTest::is_p_value`].
    pub statistic: f64,
    pub threshold: f64,
    pub drifted: bool,
    pub distribution: Distribution,
}

/// The dataset-level verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetDrift {
    pub columns: usize,
    pub drifted_columns: usize,
    pub share: f64,
    /// Dataset drift when `share >= threshold` (0.5 by default, as Evidently).
    pub threshold: f64,
    pub drifted: bool,
}

/// Drift of the embeddings themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingDrift {
    pub reference_rows: usize,
    pub current_rows: usize,
    /// ROC AUC of a classifier telling reference from current on a held-out part; 0.5 means
    /// indistinguishable.
    pub domain_classifier_auc: f64,
    pub auc_threshold: f64,
    pub drifted: bool,
    /// Squared maximum mean discrepancy (RBF kernel, median-heuristic bandwidth).
    pub mmd: f64,
    pub mmd_p_value: f64,
    pub permutations: usize,
}

/// Everything the drift report says; `report.json` is this, serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub reference: String,
    pub current: String,
    pub generated_at_ms: u64,
    pub reference_rows: usize,
    pub current_rows: usize,
    pub dataset: DatasetDrift,
    pub columns: Vec<ColumnDrift>,
    pub embedding: Option<EmbeddingDrift>,
    /// Drift of the predicted-type distribution.
    pub prediction: Option<ColumnDrift>,
    /// Drift of the label distribution, when both sides have labels.
    pub target: Option<ColumnDrift>,
    /// Classification quality of the predictions on each side, when labels exist.
    pub quality: Option<QualityComparison>,
    /// Whose predictions the prediction-drift and quality sections use, per side.
    #[serde(default)]
    pub predictions: Option<PredictionSources>,
    /// The current run's own model, out of fold, against its labels: shown beside production's
    /// quality, never instead of it.
    #[serde(default)]
    pub challenger_quality: Option<crate::classify::Evaluation>,
    /// Share of tickets production routed automatically, per side.
    #[serde(default)]
    pub coverage: Option<CoverageChange>,
}

/// Where a side's predictions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionSource {
    /// The data set's `latest` model from before the run: what production predicted.
    Production,
    /// The run's own model, each ticket predicted by a fit that never saw it. Used for a side
    /// that had no production model (the first run of a data set).
    OutOfFold,
}

impl PredictionSource {
    pub fn describe(self) -> &'static str {
        match self {
            PredictionSource::Production => "production (the latest model before the run)",
            PredictionSource::OutOfFold => "the run's own model, out of fold",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionSources {
    pub reference: PredictionSource,
    pub current: PredictionSource,
}

/// Auto-routing coverage on each side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoverageChange {
    pub reference: f64,
    pub current: f64,
}

/// Quality of each side's predictions against its labels, on tickets the predicting model never
/// trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityComparison {
    pub reference: crate::classify::Evaluation,
    pub current: crate::classify::Evaluation,
    /// Tickets each side's figures stand on.
    #[serde(default)]
    pub reference_rows: usize,
    #[serde(default)]
    pub current_rows: usize,
    /// Tickets left out because production had trained on them (in-sample predictions).
    #[serde(default)]
    pub reference_excluded: usize,
    #[serde(default)]
    pub current_excluded: usize,
}
