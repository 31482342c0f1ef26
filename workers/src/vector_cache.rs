//! Vectors found by content: how the embedder pays only for tickets it has not embedded before.
//!
//! A daily run over a cumulative export repeats most of yesterday's tickets. A vector depends
//! only on the embedder's input text, the model ([`EmbeddingModel::digest`]: graph, tokenizer,
//! truncation) and the precision, so a text embedded once can take its vector from there.
//!
//! # Where the vectors live
//!
//! In the object store, beside the run tensors, in one *space* per model and precision,
//! `vectors/{model digest}-{precision}/` ([`layout`] lists every object). The vectors are
//! immutable content-addressed *segments*, one per shard that had new texts: `{segment}.npy`
//! (the model's float32 rows as it made them) and `{segment}.hashes` (their texts' BLAKE3
//! hashes, 32 bytes a row). Every embedder replica already reads and writes the store, and it
//! outlives restarts: no new service, nothing to keep consistent between replicas. The `.npy`
//! is never re-encoded, so a reused vector is byte for byte the one made the first time.
//! Chroma could not promise that: it returns vectors as JSON decimals, and a cosine collection
//! renormalises them. A NATS KV index would put 1.5 KB per ticket, times the replicas, into
//! JetStream's file store.
//!
//! # Finding them without listing the history
//!
//! A space gains a segment per shard, every day, for ever. Listing it before each shard (as
//! this module once did) cost a request per 1,000 keys: 20 at 10,000 segments, plus one GET
//! per segment for a new process. So a space also holds an **index**:
//!
//! - `index/{run}.run`: a few immutable *index runs*, each the sorted text hashes of many
//!   segments with their segment and row (format in [`layout`]);
//! - `manifest.json`: which runs make the index, oldest first (a later run wins);
//! - `recent/{segment}`: an empty marker per segment no run holds yet, written after the
//!   segment's `.hashes`.
//!
//! Before a shard, [`VectorCache::lookup`] lists `recent/` (one page: compaction keeps it short),
//! reads the manifest, reads the runs and recent `.hashes` this process has not seen (after a
//! compaction, or on a cold start), then GETs one `.npy` per segment holding some of the
//! shard's texts. Listing before reading the manifest closes the one gap a compaction could
//! open: a marker is deleted only after a manifest holding its segment is written, so a
//! segment missing from the listing is in the manifest read after it.
//!
//! Requests per shard, warm: 2 + the segments other replicas wrote since + one per segment of
//! hits; cold: add ≤ [`MAX_RUNS`] runs and ≤ [`COMPACT_AFTER`] recent segments. None of it
//! grows with the number of segments (`tests/vector_space.rs` measures 10 against 10,000).
//! The count is reported per shard as [`Lookup::requests`], summed into the run
//! (`ReuseCounts::lookup_requests`) and exported as
//! `ticketflow_embedder_vector_lookup_requests_total{part}`.
//!
//! # Compaction
//!
//! After writing a segment, an embedder that saw [`COMPACT_AFTER`] recent segments (or a space
//! without a manifest: one written before manifests existed is indexed from a single listing)
//! folds them into a new run (`vector_cache/compaction.rs`): write the run under its content's name, replace
//! the manifest by compare-and-set, then delete the markers it took in. Racing compactors are
//! safe: a loser's manifest write fails and it deletes nothing; a segment written during a
//! compaction keeps its marker for the next one. The worst a race costs is a run file no
//! manifest names (gc removes it) or, for one shard, a miss that embeds a text again.
//!
//! # Recorded use, and what is safe to delete
//!
//! `keep` writes, per shard, `used/{day}/{id}`: the segments the shard took vectors from or
//! wrote, except those this process already recorded that day (so about one small object per
//! shard, and none for a repeated shard). `ticketflow vectors gc` reads the last N days of
//! them to find segments no run used ([`gc`]).
//!
//! Deleting **anything** here is safe in the sense that matters: a vector that cannot be found
//! or read is a miss, embedded again, never an error or a wrong vector. Deleting a whole space
//! (an old model's) costs nothing unless that model comes back. Deleting a segment costs
//! re-embedding its texts if they come back; `gc` also takes it out of the index, so no
//! process tries to read it. The `recent/` markers and the manifest should not be deleted
//! by hand (their segments would be misses until the next gc re-indexes them).
//!
//! Memory: a 16-byte key and an 8-byte location per known text, about 50 MB at a million.
//!
//! [`EmbeddingModel::digest`]: ticketflow_embed::EmbeddingModel::digest

mod compaction;
pub mod gc;
mod index;
pub mod layout;
mod requests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use bytes::Bytes;
use ndarray::Array2;
use ticketflow_connectors::store::{Store, StoreError, keys};
use ticketflow_lifecycle::tensors;

pub use compaction::{COMPACT_AFTER, MAX_RUNS};
pub use layout::Day;

use compaction::{Outcome, read_manifest, read_many_hashes, read_run, recent_segments};
use index::Index;
use layout::{content_name, recent_key, segment_key, used_key};
use requests::Counted;

/// BLAKE3 of the embedder's input text: the content a vector is found by.
pub type TextHash = [u8; 32];

pub fn text_hash(text: &str) -> TextHash {
    blake3::hash(text.as_bytes()).into()
}

/// The vectors one embedding model made, by text hash, in the object store.
pub struct VectorCache {
    store: Store,
    space: String,
    dim: usize,
    /// The day usage is recorded under; `None`: today, by the clock.
    day: Option<Day>,
    index: tokio::sync::Mutex<Index>,
}

/// What a lookup found for a shard, and what it cost.
#[derive(Debug, Default)]
pub struct Lookup {
    /// The vectors already made, by position; `None` where there is none.
    pub found: Vec<Option<Vec<f32>>>,
    /// Requests for the index: the `recent/` listing, the manifest, runs and recent segments
    /// this process had not read.
    pub index_requests: u64,
    /// Requests for vectors: one GET per segment holding some of the shard's texts.
    pub vector_requests: u64,
    /// The segments that served a vector: `keep` records them as used today.
    pub used: Vec<String>,
}

impl Lookup {
    /// Every object-store request the lookup made (listings counted per 1,000-key page).
    pub fn requests(&self) -> u64 {
        self.index_requests + self.vector_requests
    }
}

impl VectorCache {
    pub fn new(store: Store, model_digest: &str, precision: &str, dim: usize) -> Self {
        Self {
            store,
            space: keys::vector_space(model_digest, precision),
            dim,
            day: None,
            index: tokio::sync::Mutex::new(Index::default()),
        }
    }

    /// The same cache recording use under `day` instead of today (tests, replays of old days).
    pub fn on_day(mut self, day: Day) -> Self {
        self.day = Some(day);
        self
    }

    /// The store prefix of this model's vectors.
    pub fn space(&self) -> &str {
        &self.space
    }

    fn today(&self) -> Day {
        self.day.unwrap_or_else(Day::today)
    }

    /// The vectors already made for `hashes`, by position, with the requests it took.
    ///
    /// A store outage is an error (the caller embeds without reuse). A segment or run that has
    /// gone or cannot be read is only a miss: those texts are embedded again.
    pub async fn lookup(&self, hashes: &[TextHash]) -> Result<Lookup, StoreError> {
        let mut index = self.index.lock().await;
        let mut s = Counted::new(&self.store);
        self.refresh(&mut index, &mut s).await?;
        let index_requests = s.take();
        let mut by_segment: HashMap<u32, Vec<(usize, u32)>> = HashMap::new();
        for (position, hash) in hashes.iter().enumerate() {
            if let Some((segment, row)) = index.get(hash) {
                by_segment.entry(segment).or_default().push((position, row));
            }
        }
        let mut found = vec![None; hashes.len()];
        let mut lost = Vec::new();
        let mut used = Vec::new();
        for (segment, wanted) in by_segment {
            let name = index.name(segment).to_string();
            let key = segment_key(&self.space, &name, "npy");
            let vectors = match s.get(&key).await? {
                Some(bytes) => tensors::from_npy(&bytes),
                None => Err("gone".to_string()),
            };
            match vectors {
                Ok(v) if v.ncols() == self.dim => {
                    for (position, row) in wanted {
                        let row = row as usize;
                        if row < v.nrows() {
                            found[position] = Some(v.row(row).to_vec());
                        }
                    }
                    used.push(name);
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
        Ok(Lookup {
            found,
            index_requests,
            vector_requests: s.take(),
            used,
        })
    }

    /// Keeps the vectors of texts just embedded (`hashes[i]` ↔ row `i`) as one segment,
    /// records the segments `used` (a [`Lookup::used`]) and this one as used today, and
    /// compacts when enough segments are waiting (a compaction failure is only warned about).
    pub async fn keep(
        &self,
        hashes: &[TextHash],
        vectors: &Array2<f32>,
        used: &[String],
    ) -> Result<(), StoreError> {
        let mut index = self.index.lock().await;
        let mut s = Counted::new(&self.store);
        let mut touched = used.to_vec();
        let mut segment = None;
        if !hashes.is_empty() && hashes.len() == vectors.nrows() {
            match tensors::to_npy(vectors) {
                Ok(npy) => {
                    let mut all = Vec::with_capacity(hashes.len() * 32);
                    for h in hashes {
                        all.extend_from_slice(h);
                    }
                    let name = content_name(&all);
                    touched.push(name.clone());
                    segment = Some((name, npy, all));
                }
                // Reuse saves work; it is never worth failing a shard over.
                Err(e) => tracing::warn!(error = %e, "vectors not kept for reuse"),
            }
        }
        // Use first, so gc never finds a new segment unrecorded.
        let day = self.today();
        let fresh = index.unrecorded(day, &touched);
        if !fresh.is_empty() {
            let record = fresh.join("\n") + "\n";
            let key = used_key(&self.space, day, &content_name(record.as_bytes()));
            s.put(&key, Bytes::from(record)).await?;
            index.mark_recorded(day, &fresh);
        }
        if let Some((name, npy, all)) = segment {
            // Vectors, then hashes, then the marker: each announces a complete predecessor.
            s.put(&segment_key(&self.space, &name, "npy"), Bytes::from(npy))
                .await?;
            s.put(&segment_key(&self.space, &name, "hashes"), Bytes::from(all))
                .await?;
            s.put(&recent_key(&self.space, &name), Bytes::new()).await?;
            index.serve(&name, hashes);
            index.recent += 1;
        }
        if index.compact_wait > 0 {
            index.compact_wait -= 1;
        } else if !index.has_manifest || index.recent >= COMPACT_AFTER {
            self.compact(&mut index).await;
        }
        Ok(())
    }

    /// Compacts the space (see `compaction.rs`); what this process learns it keeps.
    async fn compact(&self, index: &mut Index) {
        let now = ticketflow_schemas::now_ms();
        match compaction::compact(&self.store, &self.space, self.today(), now).await {
            Ok((outcome, requests)) => match outcome {
                Outcome::Won {
                    id,
                    run,
                    recent,
                    merged_runs,
                } => {
                    tracing::info!(space = %self.space, run = %id, segments = run.segments.len(), texts = run.rows.len(), recent, merged_runs, requests, "vector index compacted");
                    index.add_run(&id, &run);
                    index.has_manifest = true;
                    index.recent = 0;
                }
                Outcome::Lost => {
                    tracing::info!(space = %self.space, requests, "another embedder compacted the vector index first");
                    // The winner took these segments in: no reason to try again at once.
                    index.has_manifest = true;
                    index.recent = 0;
                }
                Outcome::Nothing => index.has_manifest = true,
            },
            Err(e) => {
                tracing::warn!(space = %self.space, error = %e, retry_after_shards = COMPACT_AFTER, "vector index not compacted; lookups read more recent segments until it is");
                index.compact_wait = COMPACT_AFTER;
            }
        }
    }

    /// Brings the process's index up to date: the manifest's runs and the recent segments it
    /// has not read yet.
    async fn refresh(&self, index: &mut Index, s: &mut Counted<'_>) -> Result<(), StoreError> {
        // The listing first: see "Finding them without listing the history".
        let (mut names, _) = recent_segments(s, &self.space, true).await?;
        let (manifest, _) = read_manifest(s, &self.space).await?;
        index.has_manifest = manifest.is_some();
        match &manifest {
            Some(m) => {
                for r in &m.runs {
                    if index.has_run(&r.id) {
                        continue;
                    }
                    match read_run(s, &self.space, &r.id).await? {
                        Some(run) => index.add_run(&r.id, &run),
                        None => index.mark_run(&r.id),
                    }
                }
            }
            // No index yet: the whole space is recent (one listing, until the first `keep`
            // compacts it).
            None => names = recent_segments(s, &self.space, false).await?.0,
        }
        index.recent = names.len();
        names.retain(|name| !index.knows(name));
        let read = read_many_hashes(s, &self.space, &names).await?;
        for (name, hashes) in names.iter().zip(read) {
            // A damaged or vanished one is known too, as serving nothing: not read again.
            index.add_segment(name, hashes.as_deref().unwrap_or(&[]));
        }
        Ok(())
    }
}
