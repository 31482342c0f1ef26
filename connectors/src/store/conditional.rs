//! Compare-and-set on one object: read it with its version, write it only if nobody else wrote
//! it since. What keeps two trainers from both moving a data set's `latest` when each was judged
//! against the same champion.
//!
//! - **S3** does it natively: the version is the object's ETag, and the write carries
//!   `If-Match` (or `If-None-Match: *` when the object must not exist yet). object_store sends
//!   both (`PutMode::Update` / `PutMode::Create`).
//! - **Files**: object_store's local store has no `PutMode::Update`, so the check is ours: the
//!   version is the content's BLAKE3 hash, and read-compare-write happens under an exclusive
//!   `flock` on the object's directory, which every conditional writer of that directory takes.
//!   That serialises writers on one host (the only place a `file://` store is shared).

use bytes::Bytes;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};

use super::{Op, Store, StoreError};

/// An object's version as the store reports it: compare, never interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion(String);

/// What a conditional write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// No object at the key.
    Absent,
    /// The object exactly as read with this version.
    Version(ObjectVersion),
}

impl Store {
    /// The object at `key` with its version, or `None` when there is none.
    pub async fn get_versioned(
        &self,
        key: &str,
    ) -> Result<Option<(Bytes, ObjectVersion)>, StoreError> {
        let result = match self.start_get(key).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let e_tag = result.meta.e_tag.clone();
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.backend(Op::Get, key, e))?;
        let version = match (&self.local_root, e_tag) {
            (None, Some(tag)) => ObjectVersion(tag),
            // Files: the content itself, as `put_if` compares it under the lock.
            _ => content_version(&bytes),
        };
        Ok(Some((bytes, version)))
    }

    /// Writes `bytes` at `key` only if the object is still as `expected`; otherwise
    /// [`StoreError::Conflict`] and nothing is written.
    pub async fn put_if(
        &self,
        key: &str,
        bytes: Bytes,
        expected: &Expected,
    ) -> Result<(), StoreError> {
        let path = self.object_path(Op::Put, key)?;
        let conflict = || StoreError::Conflict {
            key: key.to_string(),
            store: self.describe(),
        };
        match &self.local_root {
            None => {
                let mode = match expected {
                    Expected::Absent => PutMode::Create,
                    Expected::Version(v) => PutMode::Update(UpdateVersion {
                        e_tag: Some(v.0.clone()),
                        version: None,
                    }),
                };
                let opts = PutOptions {
                    mode,
                    ..PutOptions::default()
                };
                match self
                    .inner
                    .put_opts(&path, PutPayload::from_bytes(bytes), opts)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(
                        object_store::Error::Precondition { .. }
                        | object_store::Error::AlreadyExists { .. },
                    ) => Err(conflict()),
                    Err(e) => Err(self.backend(Op::Put, key, e)),
                }
            }
            Some(root) => {
                let dir = match key.rsplit_once('/') {
                    Some((parent, _)) => root.join(parent),
                    None => root.to_path_buf(),
                };
                // Waiting for the lock blocks a thread: not one of the runtime's, whose tasks
                // (the holder's among them) must keep running.
                let locking = dir.clone();
                let lock = tokio::task::spawn_blocking(move || lock_dir(&locking))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|locked| locked)
                    .map_err(|source| StoreError::Local {
                        path: dir.clone(),
                        source,
                    })?;
                let current = self.get_versioned(key).await?;
                let unchanged = match (expected, &current) {
                    (Expected::Absent, None) => true,
                    (Expected::Version(v), Some((_, now))) => v == now,
                    _ => false,
                };
                let written = if unchanged {
                    self.put(key, bytes).await
                } else {
                    Err(conflict())
                };
                drop(lock);
                written
            }
        }
    }
}

fn content_version(bytes: &[u8]) -> ObjectVersion {
    ObjectVersion(blake3::hash(bytes).to_hex().to_string())
}

/// An exclusive `flock` on `dir` (created if missing), released when the file is dropped.
fn lock_dir(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    let handle = std::fs::File::open(dir)?;
    handle.lock()?;
    Ok(handle)
}
