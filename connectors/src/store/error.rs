//! [`StoreError`]: what went wrong, on which key, in which store, and whether trying again
//! could help.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

use object_store::client::{HttpError, HttpErrorKind};

/// The URL forms [`StoreConfig::url`](super::StoreConfig::url) accepts, quoted in every "bad
/// URL" error.
const ACCEPTED_FORMS: &str = "file:///abs/dir, file://relative/dir (relative to the \
     working directory), a plain directory path, or s3://bucket[/prefix]";

/// The store operation that failed; part of every error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
    Exists,
    List,
    Delete,
}

impl Op {
    /// The name in messages and in the `operation` label of the store metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Exists => "exists",
            Op::List => "list",
            Op::Delete => "delete",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from the object store.
///
/// Messages read as "`<op> <key> on <store>: <cause>`", e.g.
/// `put runs/r1/raw/shard-00000.jsonl on s3://bucket/prefix: ...`, so a log line alone says
/// what failed where. `<store>` is [`Store::describe`](super::Store::describe): never a secret.
///
/// Workers decide between NAK-and-retry and dead-lettering with
/// [`is_transient`](StoreError::is_transient).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not one of the accepted forms.
    #[error("invalid store URL {url:?}: {reason}; accepted forms: {ACCEPTED_FORMS}")]
    InvalidUrl { url: String, reason: String },

    /// The local store directory could not be created.
    #[error("cannot create store directory {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// object_store refused the configuration (bad region, bad `AWS_*` value, ...).
    #[error("cannot open {store}: {source}")]
    Open {
        store: String,
        #[source]
        source: object_store::Error,
    },

    /// A key (or list prefix) that the layout does not allow, rejected before any I/O.
    #[error("{op} {key:?} on {store}: invalid key: {reason}")]
    InvalidKey {
        op: Op,
        key: String,
        store: String,
        reason: String,
    },

    /// An upload part size the backend does not accept: S3 takes parts of at least 5 MiB
    /// (all but the last).
    #[error("upload part size {bytes} bytes on {store}: {reason}")]
    InvalidPartSize {
        store: String,
        bytes: usize,
        reason: String,
    },

    /// A run id that cannot be used in keys; see [`keys::validate_run_id`](super::keys::validate_run_id).
    #[error("invalid run id {run_id:?}: {reason}")]
    InvalidRunId { run_id: String, reason: String },

    /// A local file could not be written ([`Store::download`](super::Store::download)).
    #[error("writing {}: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The object does not exist. Only [`Store::get`](super::Store::get) and
    /// [`Store::download`](super::Store::download) return this:
    /// `exists` answers `false`, `delete` succeeds, and a missing *bucket* is a
    /// [`Backend`](StoreError::Backend) error.
    #[error("{op} {key} on {store}: not found")]
    NotFound { op: Op, key: String, store: String },

    /// A conditional write ([`Store::put_if`](super::Store::put_if)) found the object changed
    /// since it was read: somebody else wrote it first. Nothing was written.
    #[error("put {key} on {store}: changed since it was read (another writer was first)")]
    Conflict { key: String, store: String },

    /// The backend failed. `transient` says whether the same call may succeed later.
    #[error("{op} {} on {store}: {source}", show_key(key))]
    Backend {
        op: Op,
        key: String,
        store: String,
        transient: bool,
        #[source]
        source: object_store::Error,
    },
}

impl StoreError {
    /// Whether retrying the same operation later could succeed: connection failures, timeouts,
    /// throttling (429) and server errors (5xx) that outlasted object_store's own retries.
    ///
    /// Permanent errors (bad key, missing object, access denied, bad configuration) will fail
    /// the same way every time; a worker should dead-letter the shard rather than redeliver it.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                transient: true,
                ..
            }
        )
    }

    /// Whether this is [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// The list prefix `""` means "everything"; say so instead of printing nothing.
fn show_key(key: &str) -> &str {
    if key.is_empty() { "(all keys)" } else { key }
}

/// Classify an object_store error as transient (worth retrying) or permanent.
///
/// object_store does not expose its own classification, so we walk the error's source chain:
///
/// - an [`HttpError`] of kind connect / request / timeout / interrupted is transient;
/// - an I/O error such as "connection reset" or "timed out" is transient;
/// - an HTTP status is only available in the text of object_store's retry error
///   ("... status code: 503 ..."); 408, 429 and 5xx except 501 are transient, and so is an
///   "error response" S3 sends inside a 200 (its `InternalError`/`SlowDown`).
///
/// Typed variants (`NotFound`, `PermissionDenied`, `Unauthenticated`, `InvalidPath`, ...) are
/// permanent by construction.
pub(crate) fn is_transient(err: &object_store::Error) -> bool {
    if !matches!(err, object_store::Error::Generic { .. }) {
        return false;
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && transient_io(io.kind())
        {
            return true;
        }
        current = e.source();
    }
    // No typed cause: fall back to the status in the message.
    let text = err.to_string();
    if let Some(status) = status_in_message(&text) {
        return status == 408 || status == 429 || (500..600).contains(&status) && status != 501;
    }
    text.contains("Server returned error response")
}

fn transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::TimedOut
            | K::Interrupted
            | K::WouldBlock
            | K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::BrokenPipe
            | K::UnexpectedEof
    )
}

/// The three digits after the first "status code: " in `text`, if any.
fn status_in_message(text: &str) -> Option<u16> {
    const NEEDLE: &str = "status code: ";
    let start = text.find(NEEDLE)? + NEEDLE.len();
    let digits = text.get(start..start + 3)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn classifies_statuses_from_the_message() {
        let status = |s: &str| {
            is_transient(&generic(&format!(
                "Error performing PUT http://x/y in 1s - Server returned non-2xx status code: {s}: body"
            )))
        };
        assert!(status("503 Service Unavailable"));
        assert!(status("500 Internal Server Error"));
        assert!(status("429 Too Many Requests"));
        assert!(!status("501 Not Implemented"));
        assert!(!status("400 Bad Request"));
        assert!(!status("403 Forbidden"));
        assert!(is_transient(&generic(
            "Server returned error response: <Code>SlowDown</Code>"
        )));
        assert!(!is_transient(&generic("something else")));
    }

    #[test]
    fn classifies_typed_causes() {
        let http = |kind| object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(kind, std::io::Error::other("x"))),
        };
        assert!(is_transient(&http(HttpErrorKind::Connect)));
        assert!(is_transient(&http(HttpErrorKind::Timeout)));
        assert!(!is_transient(&http(HttpErrorKind::Decode)));
        let io = |kind| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(kind)),
        };
        assert!(is_transient(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(!is_transient(&io(std::io::ErrorKind::PermissionDenied)));
        let not_found = object_store::Error::NotFound {
            path: "p".into(),
            source: "503 status code: 503".into(),
        };
        assert!(!is_transient(&not_found));
    }
}
