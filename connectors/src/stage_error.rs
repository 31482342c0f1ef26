//! Why a stage could not process a message, and whether trying again can help.
//!
//! The stage workers return it, and so does the model lifecycle they call (training, a run read
//! back), which is why it lives here, beside [`Retryable`], rather than in either of them.

use crate::nats::BusError;
use crate::retry::Retryable;

/// An error a stage keeps as the cause of its own (for logs that show the whole chain).
pub type ErrorSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a stage could not process a message.
///
/// Whether to retry is decided once, where the error is made: the connectors' errors know
/// whether they are transient ([`Retryable`]), and the `From` conversions below ask them
/// through [`StageError::from_retryable`], so every stage classifies an object-store, Chroma,
/// registry or NATS failure the same way, variant by variant.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A dependency is unavailable (object store, Chroma, NATS): retry with backoff.
    #[error("{message}")]
    Transient {
        message: String,
        #[source]
        source: Option<ErrorSource>,
    },
    /// The input itself is bad (corrupt shard file, wrong shape): retrying will not help, but
    /// we still retry up to the limit in case the cause was a half-written object.
    #[error("{message}")]
    Permanent {
        message: String,
        #[source]
        source: Option<ErrorSource>,
    },
}

impl StageError {
    pub fn transient(message: impl Into<String>) -> Self {
        StageError::Transient {
            message: message.into(),
            source: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        StageError::Permanent {
            message: message.into(),
            source: None,
        }
    }

    /// Wraps `source`, transient or not as it says, with its message.
    pub fn classified(
        source: impl std::error::Error + Send + Sync + 'static,
        transient: bool,
    ) -> Self {
        let message = source.to_string();
        let source = Some(Box::new(source) as ErrorSource);
        if transient {
            StageError::Transient { message, source }
        } else {
            StageError::Permanent { message, source }
        }
    }

    /// A permanent error about `context` (what was being done, to what), keeping `source`
    /// for logs that show the whole chain. The message is `context: source`.
    pub fn permanent_from(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StageError::Permanent {
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// [`permanent_from`](Self::permanent_from) for an outage: retried with backoff.
    pub fn transient_from(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StageError::Transient {
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, StageError::Transient { .. })
    }
}

impl StageError {
    /// A connector's error, transient or permanent as it says itself ([`Retryable`]), kept as
    /// the source for logs that show the whole chain.
    pub fn from_retryable(e: impl Retryable + Send + Sync + 'static) -> Self {
        let transient = e.is_transient();
        StageError::classified(e, transient)
    }
}

/// NATS failures: an outage is retried; refused credentials, a bad message or a missing run
/// are not (they fail the same way every time).
impl From<BusError> for StageError {
    fn from(e: BusError) -> Self {
        StageError::from_retryable(e)
    }
}

/// Transient object-store failures are retried with backoff; the rest count against the
/// shard's attempts too (a missing object may still be in flight from a slow writer).
impl From<crate::store::StoreError> for StageError {
    fn from(e: crate::store::StoreError) -> Self {
        StageError::from_retryable(e)
    }
}

impl From<crate::chroma::ChromaError> for StageError {
    fn from(e: crate::chroma::ChromaError) -> Self {
        StageError::from_retryable(e)
    }
}
