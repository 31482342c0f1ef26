//! Vectors found by content: how the embedder pays only for tickets it has not embedded before.
//!
//! A daily run over a cumulative export repeats most of yesterday's tickets. A vector depends
//! only on the embedder's input text, the model ([`EmbeddingModel::digest`]: graph, tokenizer,
//! truncation) and the precision, so a text embedded once can take its vector from there.
//!
//! # Where the index lives
//!
//! In the object store, beside the run tensors, as immutable content-addressed segments:
//!
//! ```text
//! vectors/{model digest}-{precision}/{segment}.npy     the vectors one shard's new texts got
//! vectors/{model digest}-{precision}/{segment}.hashes  their texts' BLAKE3 hashes, 32 bytes a row
//! ```
//!
//! - Every embedder replica already reads and writes the store, and it outlives restarts and
//!   redeployments: no new service, nothing to keep consistent between replicas. Two replicas
//!   that embed the same new text at once both write a segment; either vector serves.
//! - A segment is named by the hash of its hashes, so a redelivered shard rewrites the same
//!   segment instead of adding one. The `.hashes` file is written after the `.npy`: a segment
//!   whose hashes can be read is complete.
//! - The `.npy` holds the model's float32 output as it was, so a reused vector is byte for
//!   byte the one made the first time. Chroma could not promise that: it returns vectors as
//!   JSON decimals, and a cosine collection renormalises them (a float step off, see
//!   `same_vector`). A NATS KV index would put 1.5 KB per ticket, times the replicas, into
//!   JetStream's file store.
//!
//! Each embedder lists its space before a shard, reads the `.hashes` of segments it has not
//! seen yet (16 KB per 500 tickets) into memory, and fetches `.npy` files only for hits.
//! Memory: a 16-byte key and an 8-byte location per known text, about 50 MB at a million.
//! Deleting the `vectors/` prefix is safe at any time: the next run embeds everything again.
//!
//! [`EmbeddingModel::digest`]: ticketflow_embed::EmbeddingModel::digest

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use ndarray::Array2;
use ticketflow_connectors::store::{Store, StoreError, keys};

use ticketflow_lifecycle::tensors;

/// BLAKE3 of the embedder's input text: the content a vector is found by.
pub type TextHash = [u8; 32];

pub fn text_hash(text: &str) -> TextHash {
    blake3::hash(text.as_bytes()).into()
}

/// The in-memory key: the first 16 bytes of the hash (a collision among a billion texts has a
/// probability near 10⁻²¹).
fn short(hash: &TextHash) -> u128 {
    let mut head = [0u8; 16];
    head.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(head)
}

/// The vectors one embedding model made, by text hash, in the object store.
pub struct VectorCache {
    store: Store,
    space: String,
    dim: usize,
    index: tokio::sync::Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// Segment names; a position here is a segment's number in `rows`.
    segments: Vec<String>,
    known: HashSet<String>,
    /// Text hash → (segment number, row).
    rows: HashMap<u128, (u32, u32)>,
}

impl Index {
    /// A segment found in the store; one already known (read before, or found unreadable) is
    /// not read again.
    fn add(&mut self, segment: &str, hashes: &[TextHash]) {
        if self.known.contains(segment) {
            return;
        }
        self.serve(segment, hashes);
    }

    /// A segment this process has just written: complete, so it serves its texts even if an
    /// earlier copy of it was found unreadable. The newest segment that holds a text serves
    /// it: after a segment is lost, the texts embedded again land in a new one, which must
    /// take over.
    fn serve(&mut self, segment: &str, hashes: &[TextHash]) {
        let number = match self.segments.iter().position(|s| s == segment) {
            Some(n) => n as u32,
            None => {
                self.segments.push(segment.to_string());
                (self.segments.len() - 1) as u32
            }
        };
        self.known.insert(segment.to_string());
        for (row, hash) in hashes.iter().enumerate() {
            self.rows.insert(short(hash), (number, row as u32));
        }
    }

    /// Stops serving texts from a segment that is gone or unreadable: they become misses, are
    /// embedded again and kept in a new segment. It stays known, so listing the store does not
    /// bring its (still readable) hashes back.
    fn forget(&mut self, number: u32) {
        self.rows.retain(|_, (segment, _)| *segment != number);
    }
}

impl VectorCache {
    pub fn new(store: Store, model_digest: &str, precision: &str, dim: usize) -> Self {
        Self {
            store,
            space: keys::vector_space(model_digest, precision),
            dim,
            index: tokio::sync::Mutex::new(Index::default()),
        }
    }

    /// The store prefix of this model's vectors.
    pub fn space(&self) -> &str {
        &self.space
    }

    /// The vectors already made for `hashes`, by position; `None` where there is none.
    ///
    /// A store outage is an error (the shard is retried). A segment that has gone or cannot be
    /// read is only a miss: those texts are embedded again.
    pub async fn lookup(&self, hashes: &[TextHash]) -> Result<Vec<Option<Vec<f32>>>, StoreError> {
        let mut index = self.index.lock().await;
        self.refresh(&mut index).await?;
        let mut by_segment: HashMap<u32, Vec<(usize, u32)>> = HashMap::new();
        for (position, hash) in hashes.iter().enumerate() {
            if let Some(&(segment, row)) = index.rows.get(&short(hash)) {
                by_segment.entry(segment).or_default().push((position, row));
            }
        }
        let mut found = vec![None; hashes.len()];
        let mut lost = Vec::new();
        for (segment, wanted) in by_segment {
            let name = &index.segments[segment as usize];
            let key = keys::vector_segment(&self.space, name, "npy");
            let vectors = match self.store.get(&key).await {
                Ok(bytes) => tensors::from_npy(&bytes),
                Err(e) if e.is_not_found() => Err("gone".to_string()),
                Err(e) => return Err(e),
            };
            match vectors {
                Ok(v) if v.ncols() == self.dim => {
                    for (position, row) in wanted {
                        let row = row as usize;
                        if row < v.nrows() {
                            found[position] = Some(v.row(row).to_vec());
                        }
                    }
                }
                Ok(v) => {
                    tracing::warn!(%key, dim = v.ncols(), "vector segment of the wrong width; embedding again");
                    lost.push(segment);
                }
                Err(e) => {
                    tracing::warn!(%key, error = %e, "vector segment unreadable; embedding again");
                    lost.push(segment);
                }
            }
        }
        for segment in lost {
            index.forget(segment);
        }
        Ok(found)
    }

    /// Keeps the vectors of texts just embedded (`hashes[i]` ↔ row `i`) as one segment.
    pub async fn keep(&self, hashes: &[TextHash], vectors: &Array2<f32>) -> Result<(), StoreError> {
        if hashes.is_empty() || hashes.len() != vectors.nrows() {
            return Ok(());
        }
        let mut all = Vec::with_capacity(hashes.len() * 32);
        for h in hashes {
            all.extend_from_slice(h);
        }
        let segment = blake3::hash(&all).to_hex()[..32].to_string();
        let npy = match tensors::to_npy(vectors) {
            Ok(npy) => npy,
            // Reuse saves work; it is never worth failing a shard over.
            Err(e) => {
                tracing::warn!(error = %e, "vectors not kept for reuse");
                return Ok(());
            }
        };
        // Vectors first: a segment whose hashes exist is complete.
        self.store
            .put(
                &keys::vector_segment(&self.space, &segment, "npy"),
                Bytes::from(npy),
            )
            .await?;
        self.store
            .put(
                &keys::vector_segment(&self.space, &segment, "hashes"),
                Bytes::from(all),
            )
            .await?;
        self.index.lock().await.serve(&segment, hashes);
        Ok(())
    }

    /// Reads the hashes of segments this process has not seen yet.
    async fn refresh(&self, index: &mut Index) -> Result<(), StoreError> {
        let listed = self.store.list(&self.space).await?;
        for key in listed {
            let Some(segment) = key
                .strip_prefix(&self.space)
                .and_then(|k| k.strip_prefix('/'))
                .and_then(|k| k.strip_suffix(".hashes"))
            else {
                continue;
            };
            if index.known.contains(segment) {
                continue;
            }
            let bytes = match self.store.get(&key).await {
                Ok(bytes) => bytes,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            if bytes.len() % 32 != 0 {
                tracing::warn!(%key, bytes = bytes.len(), "vector hashes not in 32-byte rows; ignored");
                continue;
            }
            let hashes: Vec<TextHash> = bytes
                .chunks_exact(32)
                .filter_map(|c| c.try_into().ok())
                .collect();
            index.add(segment, &hashes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketflow_connectors::store::StoreConfig;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(&StoreConfig::new(format!("file://{}", dir.display()))).expect("store")
    }

    fn vectors(rows: &[f32]) -> Array2<f32> {
        Array2::from_shape_fn((rows.len(), 3), |(i, j)| rows[i] + j as f32 / 10.0)
    }

    #[tokio::test]
    async fn kept_vectors_are_found_byte_for_byte_by_another_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hashes: Vec<TextHash> = ["a", "b", "c"].iter().map(|t| text_hash(t)).collect();
        let made = vectors(&[1.0 / 3.0, 2.0 / 7.0, -0.1]);
        let first = VectorCache::new(store(dir.path()), "m1", "fp32", 3);
        first.keep(&hashes, &made).await.expect("keep");

        // A new process (another replica, or after a restart) finds them through the store.
        let second = VectorCache::new(store(dir.path()), "m1", "fp32", 3);
        let asked = [text_hash("c"), text_hash("new"), text_hash("a")];
        let found = second.lookup(&asked).await.expect("lookup");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            found[0].as_deref().map(bits),
            Some(bits(&made.row(2).to_vec()))
        );
        assert!(found[1].is_none());
        assert_eq!(
            found[2].as_deref().map(bits),
            Some(bits(&made.row(0).to_vec()))
        );

        // Another model or precision has its own space.
        for (model, precision) in [("m2", "fp32"), ("m1", "int8")] {
            let other = VectorCache::new(store(dir.path()), model, precision, 3);
            let found = other.lookup(&asked).await.expect("lookup");
            assert!(found.iter().all(Option::is_none), "{model} {precision}");
        }
    }

    /// Defect (issue 23): after a segment was corrupted, its texts stayed mapped to it (the
    /// index kept the first segment that held a text and never forgot one), so they were
    /// embedded again on every shard until the process restarted, although a new segment held
    /// them.
    #[tokio::test]
    async fn texts_of_a_corrupted_segment_are_found_again_once_kept_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
        let xy = [text_hash("x"), text_hash("y")];
        cache.keep(&xy, &vectors(&[1.0, 2.0])).await.expect("keep");
        let npy = store(dir.path())
            .list(cache.space())
            .await
            .expect("list")
            .into_iter()
            .find(|k| k.ends_with(".npy"))
            .expect("npy");
        store(dir.path())
            .put(&npy, Bytes::from_static(b"not an npy file"))
            .await
            .expect("corrupt");
        let found = cache
            .lookup(&xy)
            .await
            .expect("a corrupt segment is a miss");
        assert!(found.iter().all(Option::is_none));
        // The next shard embeds x and y again, with a new text z: another segment.
        let xyz = [text_hash("x"), text_hash("y"), text_hash("z")];
        cache
            .keep(&xyz, &vectors(&[1.0, 2.0, 3.0]))
            .await
            .expect("keep anew");
        let found = cache.lookup(&xy).await.expect("lookup");
        assert!(
            found.iter().all(Option::is_some),
            "the same process finds x and y in the new segment"
        );
    }

    #[tokio::test]
    async fn a_repeated_segment_is_one_segment_and_a_lost_one_is_a_miss() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
        let hashes = [text_hash("x"), text_hash("y")];
        cache
            .keep(&hashes, &vectors(&[1.0, 2.0]))
            .await
            .expect("keep");
        cache
            .keep(&hashes, &vectors(&[1.0, 2.0]))
            .await
            .expect("keep again");
        let keys = store(dir.path()).list(cache.space()).await.expect("list");
        assert_eq!(keys.len(), 2, "{keys:?}");

        let npy = keys.iter().find(|k| k.ends_with(".npy")).expect("npy");
        store(dir.path()).delete(npy).await.expect("delete");
        let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
        let found = fresh
            .lookup(&hashes)
            .await
            .expect("a lost segment is no error");
        assert!(found.iter().all(Option::is_none));
    }
}
