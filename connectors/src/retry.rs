//! Whether a failure is worth retrying, asked the same way of every connector's error.
//!
//! A stage decides per message: retry later (a dependency is down), or count the attempt
//! against the shard and, past the limit, dead-letter it (the input or the setup is wrong).
//! That decision belongs to the error, made where the error is made, by the code that knows
//! what it means: an HTTP 503 from Chroma, a refused NATS credential, a missing object. Each
//! connector's error type implements [`Retryable`] variant by variant, and the workers turn any
//! of them into a stage error through one constructor that asks it (Quickwit's `Retryable` is
//! the model).

/// An error that knows whether the same call may succeed later.
pub trait Retryable: std::error::Error {
    /// `true`: a dependency is unavailable or busy (unreachable, timeout, 5xx, a leader
    /// election); retrying with backoff may succeed. `false`: the request, the input or the
    /// configuration is wrong; the same call will fail the same way.
    fn is_transient(&self) -> bool;
}

impl Retryable for crate::store::StoreError {
    fn is_transient(&self) -> bool {
        crate::store::StoreError::is_transient(self)
    }
}

impl Retryable for crate::chroma::ChromaError {
    fn is_transient(&self) -> bool {
        crate::chroma::ChromaError::is_transient(self)
    }
}

impl Retryable for crate::nats::BusError {
    fn is_transient(&self) -> bool {
        crate::nats::BusError::is_transient(self)
    }
}
