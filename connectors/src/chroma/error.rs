//! Why a Chroma call failed, and whether trying again may help.

use std::time::Duration;

use reqwest::StatusCode;

use super::*;

/// What went wrong talking to Chroma, split by whether trying again later can help.
///
/// [`is_transient`](ChromaError::is_transient) is the question a worker asks: a transient error
/// (server down, timeout, overload, a 5xx) means "redeliver this shard later"; a permanent one
/// (bad request, wrong dimension, bad data, bad config) means retrying would fail the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChromaError {
    /// The configuration cannot work (malformed URL, token with invalid characters, …).
    #[error("invalid Chroma configuration: {0}")]
    Config(String),
    /// No connection could be made: refused, DNS failure, unreachable network.
    #[error("Chroma at {url} is unreachable during {op} (is the server running?): {source}")]
    Unreachable {
        /// The server's base URL, without credentials.
        url: String,
        /// The operation that was attempted.
        op: &'static str,
        /// The underlying connection error.
        #[source]
        source: BoxError,
    },
    /// The request did not complete within the configured timeout.
    #[error("Chroma {op} timed out after {timeout:?}")]
    Timeout {
        /// The operation that was attempted.
        op: &'static str,
        /// The limit that was exceeded.
        timeout: Duration,
    },
    /// The connection failed mid-request (reset, closed early, broken body).
    #[error("Chroma {op} failed in transit: {source}")]
    Transport {
        /// The operation that was attempted.
        op: &'static str,
        /// The underlying I/O error.
        #[source]
        source: BoxError,
    },
    /// The server answered with an error status. Transient for 408, 429 and 5xx.
    #[error("Chroma {op} failed with HTTP {status} ({kind}): {message}")]
    Http {
        /// The operation that was attempted.
        op: &'static str,
        /// The HTTP status code.
        status: u16,
        /// Chroma's error class, e.g. `InvalidArgumentError`, `NotFoundError`.
        kind: String,
        /// Chroma's message, or the start of the body if it was not Chroma's JSON.
        message: String,
    },
    /// The server answered 2xx with a body this client cannot read.
    #[error("Chroma {op} returned an unexpected response: {detail}")]
    Protocol {
        /// The operation that was attempted.
        op: &'static str,
        /// What did not fit.
        detail: String,
    },
    /// The caller's data cannot be sent (mismatched lengths, NaN in an embedding, …).
    #[error("invalid input to Chroma {op}: {detail}")]
    InvalidInput {
        /// The operation that was attempted.
        op: &'static str,
        /// What is wrong, naming the record where possible.
        detail: String,
    },
    /// The collection already exists with another distance function; its distances would not
    /// mean what the pipeline assumes, and Chroma cannot change it in place.
    #[error(
        "collection {collection:?} uses distance space {found:?}, not \"cosine\"; \
         delete it or choose another collection name"
    )]
    SpaceMismatch {
        /// The collection name.
        collection: String,
        /// The space it was created with.
        found: String,
    },
    /// A command-line filter could not be parsed (see [`parse_where`]).
    #[error("invalid filter {expr:?}: {reason}")]
    Where {
        /// The condition as written.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The token file could not be read, or is empty.
    #[error("the Chroma token: {0}")]
    TokenFile(#[from] crate::secret::SecretError),
}

impl ChromaError {
    /// Whether the same call may succeed later: unreachable server, timeout, broken
    /// connection, or HTTP 408, 429 or 5xx. Everything else is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            ChromaError::Unreachable { .. }
            | ChromaError::Timeout { .. }
            | ChromaError::Transport { .. } => true,
            ChromaError::Http { status, .. } => {
                *status == 408 || *status == 429 || (500..600).contains(status)
            }
            ChromaError::Config(_)
            | ChromaError::Protocol { .. }
            | ChromaError::InvalidInput { .. }
            | ChromaError::SpaceMismatch { .. }
            | ChromaError::Where { .. }
            | ChromaError::TokenFile(_) => false,
        }
    }

    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ChromaError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Builds the error for a non-2xx answer from Chroma's `{"error", "message"}` body if it has
/// one, else from the start of whatever it sent.
pub(super) fn http_error(op: &'static str, status: StatusCode, body: &[u8]) -> ChromaError {
    let (kind, message) = match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            status.canonical_reason().unwrap_or("unknown").to_owned(),
            snippet(body),
        ),
    };
    ChromaError::Http {
        op,
        status: status.as_u16(),
        kind,
        message,
    }
}

/// The first few hundred characters of a body, for error messages.
pub(super) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
