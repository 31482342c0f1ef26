//! [`RegistryError`]: what went wrong reading or writing the registry, and whether trying
//! again can help.

use ticketflow_connectors::stage_error::StageError;
use ticketflow_connectors::store::StoreError;
use ticketflow_schemas::Dataset;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no model of data set {dataset:?} has passed the quality gate yet: train on a labelled run of it first (`ticketflow run --dataset {dataset}` on labelled tickets)"
    )]
    NoLatest { dataset: Dataset },
    #[error("model {run_id} not found in the registry")]
    NotFound { run_id: String },
    #[error("model {key} is unreadable: {detail}")]
    Corrupt { key: String, detail: String },
    /// The id already holds another model: model ids are written once.
    #[error("model {model_id} already holds another model; a retrain is registered under a new id")]
    ModelExists { model_id: String },
    /// Another trainer moved the data set's `latest` while this model was judged against the
    /// one before: promoting it would skip the comparison with the new one. Nothing was moved;
    /// judging again (the trainer retries) compares it with the new `latest`.
    #[error(
        "the latest model of data set {dataset:?} moved from {} to {} while model {model_id} was judged; not promoted (judge it again against the new latest)",
        judged_against.as_deref().unwrap_or("(none)"),
        now.as_deref().unwrap_or("(changed)")
    )]
    LatestMoved {
        dataset: Dataset,
        model_id: String,
        judged_against: Option<String>,
        now: Option<String>,
    },
}

impl RegistryError {
    /// Outages of the store, and a `latest` that moved (judging again is the fix).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Store(e) => e.is_transient(),
            RegistryError::LatestMoved { .. } => true,
            RegistryError::NoLatest { .. }
            | RegistryError::NotFound { .. }
            | RegistryError::Corrupt { .. }
            | RegistryError::ModelExists { .. } => false,
        }
    }
}

impl ticketflow_connectors::retry::Retryable for RegistryError {
    fn is_transient(&self) -> bool {
        RegistryError::is_transient(self)
    }
}

impl From<RegistryError> for StageError {
    fn from(e: RegistryError) -> Self {
        StageError::from_retryable(e)
    }
}
