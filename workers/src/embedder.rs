//! Embedder: prepared tickets in, a `.npy` tensor out.
//!
//! Texts embedded before by the same model and precision take their vector from the
//! [`VectorCache`] (on by default; `--reuse-vectors false` turns it off); the model embeds the
//! rest, and keeps their vectors there for later runs. The model runs on a blocking thread
//! (ONNX Runtime parallelises inside each call); the async side keeps sending in-progress acks
//! meanwhile. One embedder per process: scale with replicas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use ndarray::Array2;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_embed::{EMBEDDING_DIM, EmbeddingModel, Precision};
use ticketflow_schemas::{CleanShardFile, CleanedShard, EmbeddedShard, ReuseCounts, Stage};
use ticketflow_telemetry::internal_events::{
    EmbeddingBatch, VectorCacheFailed, VectorLookup, VectorsReused,
};

use crate::stage_loop::{Downstream, Processed, StageError, StageWorker};
use crate::vector_cache::{Lookup, TextHash, VectorCache, text_hash};
use ticketflow_lifecycle::tensors;

pub struct Embedder {
    store: Store,
    model: Arc<Mutex<EmbeddingModel>>,
    /// The model's precision and digest, stamped on every shard it embeds (fixed for the
    /// process).
    precision: Precision,
    digest: String,
    cache: Option<VectorCache>,
}

impl Embedder {
    /// An embedder that reuses vectors by content (see [`VectorCache`]).
    pub fn new(store: Store, model: EmbeddingModel) -> Self {
        let cache = VectorCache::new(
            store.clone(),
            model.digest(),
            model.precision().as_str(),
            EMBEDDING_DIM,
        );
        let mut embedder = Self::without_reuse(store, model);
        embedder.cache = Some(cache);
        embedder
    }

    /// An embedder that embeds every text and keeps nothing for reuse.
    pub fn without_reuse(store: Store, model: EmbeddingModel) -> Self {
        Self {
            store,
            precision: model.precision(),
            digest: model.digest().to_string(),
            model: Arc::new(Mutex::new(model)),
            cache: None,
        }
    }
}

/// Which texts of a shard the model must embed: the first of each distinct text without a
/// vector found by content.
struct Plan {
    hashes: Vec<TextHash>,
    found: Vec<Option<Vec<f32>>>,
    /// Positions (into the shard) to embed.
    todo: Vec<usize>,
    /// Object-store requests the lookup made.
    lookup_requests: u64,
    /// Segments that served a vector (recorded as used when the shard's vectors are kept).
    used: Vec<String>,
}

impl Plan {
    fn everything(n: usize) -> Self {
        Self {
            hashes: Vec::new(),
            found: vec![None; n],
            todo: (0..n).collect(),
            lookup_requests: 0,
            used: Vec::new(),
        }
    }

    /// The texts the cache has no vector for; all of them when the cache cannot be asked.
    /// Reuse saves work and is never worth failing a shard over: a cache failure is warned
    /// about, counted, and the shard embeds everything.
    async fn with_cache(cache: &VectorCache, texts: &[String]) -> Self {
        let hashes: Vec<TextHash> = texts.iter().map(|t| text_hash(t)).collect();
        let lookup = match cache.lookup(&hashes).await {
            Ok(lookup) => {
                VectorLookup {
                    texts: hashes.len() as u64,
                    found: lookup.found.iter().filter(|f| f.is_some()).count() as u64,
                    index_requests: lookup.index_requests,
                    vector_requests: lookup.vector_requests,
                }
                .emit();
                lookup
            }
            Err(e) => {
                VectorCacheFailed {
                    operation: "lookup",
                    transient: e.is_transient(),
                    error: &e,
                }
                .emit();
                Lookup {
                    found: vec![None; texts.len()],
                    ..Lookup::default()
                }
            }
        };
        let lookup_requests = lookup.requests();
        let found = lookup.found;
        let mut first = HashMap::new();
        let todo = (0..texts.len())
            .filter(|&i| found[i].is_none() && *first.entry(hashes[i]).or_insert(i) == i)
            .collect();
        Self {
            hashes,
            found,
            todo,
            lookup_requests,
            used: lookup.used,
        }
    }

    /// The shard's matrix: found vectors, and the model's rows for the rest (a repeated text
    /// takes the row of its first occurrence).
    fn assemble(self, embedded: &Array2<f32>) -> Result<Array2<f32>, StageError> {
        let row_of: HashMap<TextHash, usize> = self
            .todo
            .iter()
            .enumerate()
            .map(|(row, &i)| (self.hashes[i], row))
            .collect();
        let mut out = Array2::zeros((self.found.len(), EMBEDDING_DIM));
        for (i, found) in self.found.into_iter().enumerate() {
            match found {
                Some(v) => out.row_mut(i).assign(&ndarray::ArrayView1::from(&v)),
                None => {
                    let row = row_of.get(&self.hashes[i]).ok_or_else(|| {
                        StageError::permanent(format!("no vector for ticket {i} of the shard"))
                    })?;
                    out.row_mut(i).assign(&embedded.row(*row));
                }
            }
        }
        Ok(out)
    }
}

/// The model, even after a panic on an earlier shard left its lock poisoned. Refusing it (as
/// `lock()` does) would dead-letter every later shard on this replica while `/readyz` stays
/// green. The model keeps nothing between calls that a half-finished one could spoil: its
/// input buffers are rewritten by every batch.
fn lock_model(model: &Mutex<EmbeddingModel>) -> MutexGuard<'_, EmbeddingModel> {
    model.lock().unwrap_or_else(|poisoned| {
        tracing::warn!("an earlier shard panicked while embedding; the model is used again");
        model.clear_poison();
        poisoned.into_inner()
    })
}

impl StageWorker for Embedder {
    const STAGE: Stage = Stage::Embedder;
    type Input = CleanedShard;

    async fn process(&self, msg: &CleanedShard) -> Result<Processed, StageError> {
        let bytes = self.store.get(&msg.clean_key).await?;
        let file: CleanShardFile = ticketflow_schemas::decode(&bytes).map_err(|e| {
            StageError::permanent_from(format!("cleaned shard {}", msg.clean_key), e)
        })?;
        let texts: Vec<String> = file.tickets.into_iter().map(|t| t.text).collect();
        let n = texts.len() as u32;
        let plan = match &self.cache {
            Some(cache) => Plan::with_cache(cache, &texts).await,
            None => Plan::everything(texts.len()),
        };
        let to_embed: Vec<String> = plan.todo.iter().map(|&i| texts[i].clone()).collect();
        let model = Arc::clone(&self.model);
        let embedded = tokio::task::spawn_blocking(move || -> Result<Array2<f32>, StageError> {
            if to_embed.is_empty() {
                return Ok(Array2::zeros((0, EMBEDDING_DIM)));
            }
            let refs: Vec<&str> = to_embed.iter().map(String::as_str).collect();
            let mut model = lock_model(&model);
            // Tests make the model call panic here (workers/tests/embedder_panic.rs).
            fail::fail_point!("embedder::embed");
            // The first batch's time also covers tokenising the shard, which happens up front.
            let mut batch_started = std::time::Instant::now();
            let vectors = model
                .embed_with_progress(&refs, |size| {
                    EmbeddingBatch {
                        size,
                        duration: batch_started.elapsed(),
                    }
                    .emit();
                    batch_started = std::time::Instant::now();
                })
                .map_err(|e| StageError::permanent_from("embedding", e))?;
            Ok(vectors)
        })
        .await
        .map_err(|e| {
            // A panic is about this shard (its text, a bug), not an outage: it counts as an
            // attempt, and after the last one the shard is dead-lettered, not retried forever.
            if e.is_panic() {
                StageError::permanent_from("the embedder panicked on this shard", e)
            } else {
                StageError::transient_from("embedding task", e)
            }
        })??;
        let counts = ReuseCounts {
            vectors_embedded: plan.todo.len() as u64,
            vectors_reused: u64::from(n) - plan.todo.len() as u64,
            lookup_requests: plan.lookup_requests,
            ..ReuseCounts::default()
        };
        if let Some(cache) = &self.cache {
            let kept: Vec<TextHash> = plan.todo.iter().map(|&i| plan.hashes[i]).collect();
            if let Err(e) = cache.keep(&kept, &embedded, &plan.used).await {
                VectorCacheFailed {
                    operation: "keep",
                    transient: e.is_transient(),
                    error: &e,
                }
                .emit();
            }
        }
        let vectors = if self.cache.is_some() {
            plan.assemble(&embedded)?
        } else {
            embedded
        };
        VectorsReused {
            reused: counts.vectors_reused,
            embedded: counts.vectors_embedded,
        }
        .emit();
        let npy = tensors::to_npy(&vectors).map_err(StageError::permanent)?;
        let embeddings_key = keys::embeddings(&msg.run_id, msg.shard);
        self.store.put(&embeddings_key, Bytes::from(npy)).await?;
        let next = EmbeddedShard {
            run_id: msg.run_id.clone(),
            shard: msg.shard,
            shard_count: msg.shard_count,
            clean_key: msg.clean_key.clone(),
            embeddings_key,
            tickets: n,
            dim: EMBEDDING_DIM as u32,
            precision: self.precision.to_string(),
            model_digest: self.digest.clone(),
            vectors_reused: counts.vectors_reused as u32,
        };
        Ok(Processed {
            tickets: n,
            downstream: Some(Downstream::new(&next)?),
            counts,
        })
    }
}
