//! The object store: where shard files, tensors, models and reports live.
//!
//! Messages between stages carry *references* (keys), not megabytes of data (the claim-check
//! pattern): the coordinator writes `runs/{run}/raw/shard-00000.jsonl`, publishes a small
//! message naming it, and the cleaner reads it back from here. One [`Store`] type serves both
//! deployments:
//!
//! - `file:///dir` on one machine (`make demo`, tests): object_store's `LocalFileSystem`;
//! - `s3://bucket/prefix` on many: AWS S3 or any S3-compatible server (MinIO, moto).
//!
//! The store offers only what the pipeline needs (put, get, exists, list, delete of whole
//! objects), with keys decided in one place, [`keys`].
//!
//! # Why this is safe under at-least-once delivery
//!
//! A shard may be processed twice (a worker dies after writing but before acking). That is
//! harmless because:
//!
//! - keys are deterministic, so the second attempt overwrites the first instead of adding a
//!   duplicate;
//! - a `put` is atomic for readers: S3 publishes an object only once fully uploaded, and the
//!   file backend writes to a temporary file and renames it into place, so a reader sees the
//!   old object, the new one, or nothing, never half a file;
//! - the file backend fsyncs before `put` returns, so an object that a later message points to
//!   survives a crash of the machine, as it would on S3;
//! - `delete` of a missing key succeeds, so a retried clean-up does not fail.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), ticketflow_connectors::store::StoreError> {
//! use ticketflow_connectors::store::{keys, Store, StoreConfig};
//!
//! let store = Store::open(&StoreConfig::new("file:///var/lib/ticketflow"))?;
//! let key = keys::raw_shard("r1", 0);
//! store.put(&key, bytes::Bytes::from_static(b"{}\n")).await?;
//! assert_eq!(store.get(&key).await?, bytes::Bytes::from_static(b"{}\n"));
//! assert_eq!(store.list(&keys::run_prefix("r1")).await?, vec![key]);
//! # Ok(()) }
//! ```

mod conditional;
mod config;
mod error;
pub mod keys;
mod upload;

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

pub use conditional::{Expected, ObjectVersion};
pub use config::{S3Options, S3Retry, StoreConfig};
pub use error::{Op, StoreError};
pub use upload::Upload;

use crate::redact::redact_url;
use config::{Location, process_env};

/// A handle to the object store. Cheap to clone (an `Arc` inside) and shareable between tasks.
///
/// Every key is relative to the store's root: the directory of a `file://` store, or the
/// prefix of an `s3://bucket/prefix` store. Keys are `/`-separated and validated on every call
/// (no empty segments, no `.`/`..`, no leading `/`); see [`keys`] for the layout.
#[derive(Clone)]
pub struct Store {
    /// The backend: `LocalFileSystem` or `AmazonS3`.
    inner: Arc<dyn ObjectStore>,
    /// Prepended to every key (`prefix` of `s3://bucket/prefix`; empty for files, whose root
    /// is the directory itself).
    prefix: Path,
    /// [`Store::describe`], computed once. Contains no secrets.
    description: Arc<str>,
    /// The directory of a `file://` store (`None` for S3): conditional writes lock in it.
    local_root: Option<Arc<std::path::Path>>,
    /// Size of the parts [`Store::upload`] sends ([`DEFAULT_PART_BYTES`] unless set).
    part_bytes: usize,
}

/// Parts of an upload: S3's smallest part (every part but the last must reach 5 MiB).
pub const DEFAULT_PART_BYTES: usize = 5 * 1024 * 1024;

/// Shows [`Store::describe`] only; the backend (and its credentials) stay out of `Debug`.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&self.description).finish()
    }
}

impl Store {
    /// Open the store `cfg` describes.
    ///
    /// - `file://` and plain paths: the directory is created if missing.
    /// - `s3://`: credentials come **only** from the standard environment variables
    ///   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or the web-identity
    ///   / container / instance-metadata providers object_store finds from `AWS_*`), as
    ///   `AmazonS3Builder::from_env` reads them. They are never logged. Options set in
    ///   [`S3Options`] override the corresponding `AWS_*` variables. Requests are retried per
    ///   [`S3Retry`] (by default 5 retries with bounded backoff, within 30 s).
    ///
    /// Opening does no network I/O: a wrong endpoint or missing bucket shows up on the first
    /// operation. It does blocking filesystem calls for `file://`, so call it at start-up.
    pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        Store::open_with_env(cfg, process_env())
    }

    /// [`open`](Store::open), with the `AWS_*` variables taken from `env` instead of the
    /// process environment. Variables not starting with `AWS_` are ignored.
    ///
    /// Tests use it to pass credentials for a local server without `std::env::set_var`, which
    /// would race with other tests running in parallel threads.
    pub fn open_with_env<I, K, V>(cfg: &StoreConfig, env: I) -> Result<Store, StoreError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        match Location::parse(&cfg.url)? {
            Location::File { dir } => open_file(dir),
            Location::S3 { bucket, prefix } => open_s3(&bucket, &prefix, &cfg.s3, env),
        }
    }

    /// The same store with parts of `bytes` for [`Store::upload`]. S3 refuses parts below
    /// 5 MiB (but the last), so that is an error there; a `file://` store takes any size.
    /// Smaller parts bound an upload's memory more tightly; tests use them to see a small
    /// object sent in several parts.
    pub fn with_part_bytes(mut self, bytes: usize) -> Result<Store, StoreError> {
        let reason = if bytes == 0 {
            Some("must be positive")
        } else if self.local_root.is_none() && bytes < DEFAULT_PART_BYTES {
            Some("S3 parts must be at least 5 MiB (5242880 bytes)")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(StoreError::InvalidPartSize {
                store: self.describe(),
                bytes,
                reason: reason.to_string(),
            });
        }
        self.part_bytes = bytes;
        Ok(self)
    }

    /// The same store with its backend wrapped by `layer`, e.g. one that counts or throttles
    /// requests (object_store's `ThrottledStore`, or a test's recorder). Keys, prefix and
    /// errors behave as before; the layer sees the full object paths.
    pub fn layered(
        mut self,
        layer: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Store {
        self.inner = layer(self.inner);
        self
    }

    /// A human-readable description for logs and errors, e.g.
    /// `s3://bucket/prefix (endpoint http://127.0.0.1:9000)` or `file:///var/lib/ticketflow`.
    /// Never contains credentials.
    pub fn describe(&self) -> String {
        self.description.to_string()
    }

    /// Write `bytes` under `key`, replacing any existing object. Readers see the old or the new
    /// object, never a partial one.
    ///
    /// One request; S3 accepts up to 5 GB that way, far above a shard.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        observed(Op::Put, async {
            let path = self.object_path(Op::Put, key)?;
            let len = bytes.len();
            self.inner
                .put(&path, PutPayload::from_bytes(bytes))
                .await
                .map_err(|e| self.backend(Op::Put, key, e))?;
            tracing::debug!(store = %self.description, key, bytes = len, "stored object");
            Ok(())
        })
        .await
    }

    /// Read the whole object at `key`. A missing object is [`StoreError::NotFound`].
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        observed(Op::Get, async {
            let result = self.start_get(key).await?;
            // The body streams separately; a connection lost here is a transient error too.
            result
                .bytes()
                .await
                .map_err(|e| self.backend(Op::Get, key, e))
        })
        .await
    }

    /// Stream the object at `key` into the local file `dest` (created or truncated), chunk by
    /// chunk, so an input of any size costs no more memory than one chunk. Returns the bytes
    /// written. A missing object is [`StoreError::NotFound`]; a local write failure is
    /// [`StoreError::Local`].
    pub async fn download(&self, key: &str, dest: &std::path::Path) -> Result<u64, StoreError> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        observed(Op::Get, async {
            let result = self.start_get(key).await?;
            let local = |source: std::io::Error| StoreError::Local {
                path: dest.to_path_buf(),
                source,
            };
            let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
            let mut stream = result.into_stream();
            let mut written = 0_u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| self.backend(Op::Get, key, e))?;
                file.write_all(&chunk).await.map_err(local)?;
                written += chunk.len() as u64;
            }
            file.flush().await.map_err(local)?;
            tracing::debug!(store = %self.description, key, bytes = written, "downloaded object");
            Ok(written)
        })
        .await
    }

    /// Issue the GET for `key`: the response head, with the body still to be read.
    async fn start_get(&self, key: &str) -> Result<object_store::GetResult, StoreError> {
        let path = self.object_path(Op::Get, key)?;
        self.inner
            .get(&path)
            .await
            .map_err(|e| self.backend(Op::Get, key, e))
    }

    /// Whether an object exists at `key` (a metadata request; no body is transferred).
    ///
    /// S3 answers a HEAD on a missing bucket with a bare 404, so that is `false` too.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        observed(Op::Exists, async {
            let path = self.object_path(Op::Exists, key)?;
            match self.inner.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.backend(Op::Exists, key, e)),
            }
        })
        .await
    }

    /// Every key under `prefix`, at any depth, relative to the store root, sorted.
    ///
    /// The prefix matches whole segments: `runs/r1` and `runs/r1/` both list `runs/r1/...`
    /// but not `runs/r10/...`. `""` lists the whole store.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        observed(Op::List, async {
            keys::check_prefix(prefix)
                .map_err(|reason| self.invalid_key(Op::List, prefix, reason))?;
            let path = self
                .join(prefix)
                .map_err(|r| self.invalid_key(Op::List, prefix, r))?;
            let root = (path.parts_count() > 0).then_some(&path);
            let metas: Vec<_> = self
                .inner
                .list(root)
                .try_collect()
                .await
                .map_err(|e| self.backend(Op::List, prefix, e))?;
            let mut keys: Vec<String> = metas
                .iter()
                .filter_map(|meta| {
                    let parts = meta.location.prefix_match(&self.prefix)?;
                    Some(
                        parts
                            .map(|p| p.as_ref().to_string())
                            .collect::<Vec<_>>()
                            .join("/"),
                    )
                })
                .collect();
            keys.sort_unstable();
            Ok(keys)
        })
        .await
    }

    /// Delete the object at `key`. Deleting a missing object succeeds (idempotent clean-up).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        observed(Op::Delete, async {
            let path = self.object_path(Op::Delete, key)?;
            match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.backend(Op::Delete, key, e)),
            }
        })
        .await
    }

    /// Validate `key` and turn it into the backend path (store prefix + key).
    fn object_path(&self, op: Op, key: &str) -> Result<Path, StoreError> {
        keys::check_key(key).map_err(|reason| self.invalid_key(op, key, reason))?;
        self.join(key)
            .map_err(|reason| self.invalid_key(op, key, reason))
    }

    /// `self.prefix` followed by the segments of an already checked key or prefix.
    fn join(&self, key: &str) -> Result<Path, String> {
        // Path::parse is object_store's own check (it refuses what `check_key` refuses, and
        // more if object_store ever gets stricter).
        let key = Path::parse(key).map_err(|e| e.to_string())?;
        Ok(self.prefix.parts().chain(key.parts()).collect())
    }

    fn invalid_key(&self, op: Op, key: &str, reason: String) -> StoreError {
        StoreError::InvalidKey {
            op,
            key: key.to_string(),
            store: self.describe(),
            reason,
        }
    }

    /// Wrap a backend error with the operation, the key and the store, and classify it.
    ///
    /// "Not found" is [`StoreError::NotFound`] only when reading an object; on a write it means
    /// the bucket itself is missing, a configuration error better reported with its cause.
    fn backend(&self, op: Op, key: &str, source: object_store::Error) -> StoreError {
        if let (Op::Get, object_store::Error::NotFound { .. }) = (op, &source) {
            return StoreError::NotFound {
                op,
                key: key.to_string(),
                store: self.describe(),
            };
        }
        StoreError::Backend {
            op,
            key: key.to_string(),
            store: self.describe(),
            transient: error::is_transient(&source),
            source,
        }
    }
}

/// A directory on the local filesystem, created if missing.
fn open_file(dir: std::path::PathBuf) -> Result<Store, StoreError> {
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let absolute = std::fs::canonicalize(&dir).map_err(|source| StoreError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let description = format!("file://{}", absolute.display());
    let fs = LocalFileSystem::new_with_prefix(&absolute)
        .map_err(|source| StoreError::Open {
            store: description.clone(),
            source,
        })?
        // Remove directories emptied by `delete`, so deleting a run leaves no husk behind.
        .with_automatic_cleanup(true)
        // Durable before `put` returns, like S3: a message pointing at the object may be
        // published right after.
        .with_fsync(true);
    Ok(Store {
        inner: Arc::new(fs),
        prefix: Path::default(),
        description: description.into(),
        local_root: Some(absolute.into()),
        part_bytes: DEFAULT_PART_BYTES,
    })
}

/// A bucket (and prefix) on S3 or an S3-compatible server.
fn open_s3<I, K, V>(
    bucket: &str,
    prefix: &str,
    opts: &S3Options,
    env: I,
) -> Result<Store, StoreError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let location = if prefix.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{prefix}")
    };

    // Our timeouts first, so that the environment may still override them...
    let retry = &opts.retry;
    let mut builder = AmazonS3Builder::new()
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: retry.init_backoff,
                max_backoff: retry.max_backoff,
                base: 2.0,
            },
            max_retries: retry.max_retries,
            retry_timeout: retry.retry_timeout,
        })
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            format!("{}ms", retry.connect_timeout.as_millis()),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            format!("{}ms", retry.request_timeout.as_millis()),
        );
    // ...then every AWS_* variable object_store knows, exactly as `AmazonS3Builder::from_env`
    // does (credentials included; they go straight into the builder and nowhere else)...
    for (key, value) in env {
        let key = key.as_ref();
        if !key.starts_with("AWS_") {
            continue;
        }
        if let Ok(config_key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(config_key, value.as_ref());
        }
    }
    // ...then the explicit options, which win.
    if let Some(endpoint) = &opts.endpoint {
        // Set the S3-specific key too: object_store prefers it over the generic one, and it may
        // have come from AWS_ENDPOINT_URL_S3.
        builder = builder
            .with_endpoint(endpoint)
            .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
    }
    if let Some(region) = &opts.region {
        builder = builder.with_region(region);
    }
    if opts.path_style {
        builder = builder.with_virtual_hosted_style_request(false);
    }
    if opts.allow_http {
        builder = builder.with_allow_http(true);
    }

    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    let description = match endpoint {
        Some(endpoint) => format!("{location} (endpoint {})", redact_url(&endpoint)),
        None => location,
    };

    let s3 = builder
        .with_bucket_name(bucket)
        .build()
        .map_err(|source| StoreError::Open {
            store: description.clone(),
            source,
        })?;
    let prefix = Path::parse(prefix).map_err(|source| StoreError::Open {
        store: description.clone(),
        source: source.into(),
    })?;
    tracing::debug!(store = %description, "opened object store");
    Ok(Store {
        inner: Arc::new(s3),
        prefix,
        description: description.into(),
        local_root: None,
        part_bytes: DEFAULT_PART_BYTES,
    })
}

/// Times one store operation and counts its failure, transient or permanent as the error says
/// ([`StoreError::is_transient`], which `Retryable` also answers with), for the object-store
/// metrics.
async fn observed<T>(
    op: Op,
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    use ticketflow_telemetry::internal_events::{ErrorType, ObjectStoreRequest};
    let started = std::time::Instant::now();
    let result = work.await;
    ObjectStoreRequest {
        operation: op.as_str(),
        duration: started.elapsed(),
        failed: result
            .as_ref()
            .err()
            .map(|e| ErrorType::of(e.is_transient())),
    }
    .emit();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_clone_send_sync() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Store>();
    }

    #[test]
    fn explicit_options_override_the_environment() {
        let cfg = StoreConfig {
            url: "s3://bkt/p".into(),
            s3: S3Options {
                endpoint: Some("http://127.0.0.1:1".into()),
                ..S3Options::default()
            },
        };
        let env = [
            ("AWS_ENDPOINT_URL_S3", "http://elsewhere:9"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        let store = Store::open_with_env(&cfg, env);
        assert_eq!(
            store.map(|s| s.describe()).ok().as_deref(),
            Some("s3://bkt/p (endpoint http://127.0.0.1:1)")
        );
    }

    #[test]
    fn bad_environment_values_are_open_errors() {
        let env = [
            ("AWS_ALLOW_HTTP", "sometimes"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
        ];
        let err = Store::open_with_env(&StoreConfig::new("s3://bkt"), env);
        assert!(matches!(err, Err(StoreError::Open { .. })), "{err:?}");
    }

    #[tokio::test]
    async fn a_failed_request_is_counted_as_transient_or_permanent_as_its_error_says() {
        let errors = |error_type| {
            crate::test_metrics::counter(
                "ticketflow_object_store_errors_total",
                &[("operation", "delete"), ("error_type", error_type)],
            )
            .unwrap_or(0.0)
        };
        let before = (errors("transient"), errors("permanent"));
        let backend = |transient| StoreError::Backend {
            op: Op::Delete,
            key: "k".into(),
            store: "test".into(),
            transient,
            source: object_store::Error::Generic {
                store: "test",
                source: "refused".into(),
            },
        };
        let _ = observed(Op::Delete, async { Err::<(), _>(backend(true)) }).await;
        let _ = observed(Op::Delete, async { Err::<(), _>(backend(false)) }).await;
        let _ = observed(Op::Delete, async { Ok::<_, StoreError>(()) }).await;
        assert_eq!(
            (errors("transient"), errors("permanent")),
            (before.0 + 1.0, before.1 + 1.0)
        );
    }
}
