//! Objects written as they are produced, never held whole: a multipart upload.
//!
//! The trainer writes a run's feature table a shard at a time. At a million tickets the table is
//! over 100 MB; holding it to `put` it in one request would make the trainer's memory grow with
//! the run. An [`Upload`] sends parts as they fill (5 MiB unless [`Store::with_part_bytes`] says otherwise) (S3 multipart upload; a staging file
//! renamed into place for `file://`), with at most two parts in flight, and the object appears
//! only when [`Upload::finish`] completes it: readers never see half a table.

use object_store::{ObjectStoreExt, WriteMultipart};

use super::{Op, Store, StoreError, observed};

/// Parts in flight at once: bounds the memory of an upload to about this many parts.
const PARTS_IN_FLIGHT: usize = 2;

/// An object being written in parts ([`Store::upload`]).
pub struct Upload {
    store: Store,
    key: String,
    writer: WriteMultipart,
    bytes: u64,
}

impl Store {
    /// Starts writing `key` in parts. Nothing is visible at `key` until [`Upload::finish`];
    /// an upload dropped unfinished leaves no object.
    pub async fn upload(&self, key: &str) -> Result<Upload, StoreError> {
        let path = self.object_path(Op::Put, key)?;
        let parts = observed(Op::Put, async {
            self.inner
                .put_multipart(&path)
                .await
                .map_err(|e| self.backend(Op::Put, key, e))
        })
        .await?;
        Ok(Upload {
            store: self.clone(),
            key: key.to_string(),
            writer: WriteMultipart::new_with_chunk_size(parts, self.part_bytes),
            bytes: 0,
        })
    }
}

impl Upload {
    /// Appends `bytes`, waiting while too many parts are still being sent.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| self.store.backend(Op::Put, &self.key, e))?;
        self.writer.write(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Sends the last part and completes the object. Returns its size.
    pub async fn finish(self) -> Result<u64, StoreError> {
        let Upload {
            store,
            key,
            writer,
            bytes,
        } = self;
        observed(Op::Put, async {
            writer
                .finish()
                .await
                .map_err(|e| store.backend(Op::Put, &key, e))
        })
        .await?;
        tracing::debug!(store = %store.describe(), key, bytes, "stored object in parts");
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::StoreConfig;

    #[tokio::test]
    async fn an_upload_appears_whole_only_when_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(&StoreConfig::new(format!(
            "file://{}",
            dir.path().display()
        )))
        .expect("store");
        let mut upload = store.upload("runs/r/features.csv").await.expect("start");
        // Twelve 1 MB pieces: more than two 5 MB parts, sent while writing.
        let piece: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..12 {
            upload.write(&piece).await.expect("write");
        }
        assert!(
            !store.exists("runs/r/features.csv").await.expect("exists"),
            "nothing visible before finish"
        );
        assert_eq!(upload.finish().await.expect("finish"), 12 * 1_048_576);
        let back = store.get("runs/r/features.csv").await.expect("get");
        assert_eq!(back.len(), 12 * 1_048_576);
        assert!(back.chunks(piece.len()).all(|c| c == piece.as_slice()));
    }

    #[test]
    fn a_part_size_the_backend_refuses_is_an_error_that_says_why() {
        let s3 = crate::store::Store::open_with_env(
            &StoreConfig::new("s3://bucket/prefix"),
            [("AWS_REGION", "us-east-1")],
        )
        .expect("store");
        let err = s3
            .clone()
            .with_part_bytes(1 << 20)
            .expect_err("1 MiB on S3");
        assert!(err.to_string().contains("at least 5 MiB"), "{err}");
        assert!(s3.with_part_bytes(8 << 20).is_ok());
        let dir = tempfile::tempdir().expect("tempdir");
        let local = crate::store::Store::open(&StoreConfig::new(format!(
            "file://{}",
            dir.path().display()
        )))
        .expect("store");
        assert!(local.clone().with_part_bytes(0).is_err());
        assert!(local.with_part_bytes(4096).is_ok());
    }
}
