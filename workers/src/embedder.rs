//! Embedder: prepared tickets in, a `.npy` tensor out.
//!
//! The model runs on a blocking thread (ONNX Runtime parallelises inside each call); the async
//! side keeps sending in-progress acks meanwhile. One embedder per process: scale with replicas.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_ml::embed::{EMBEDDING_DIM, EmbeddingModel, Precision};
use ticketflow_schemas::{CleanShardFile, CleanedShard, EmbeddedShard, Stage};
use ticketflow_telemetry::internal_events::EmbeddingBatch;

use crate::stage_loop::{Downstream, Processed, StageError, StageWorker};
use crate::tensors;

pub struct Embedder {
    store: Store,
    model: Arc<Mutex<EmbeddingModel>>,
    /// The model's precision, stamped on every shard it embeds (fixed for the process).
    precision: Precision,
}

impl Embedder {
    pub fn new(store: Store, model: EmbeddingModel) -> Self {
        Self {
            store,
            precision: model.precision(),
            model: Arc::new(Mutex::new(model)),
        }
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
        let file: CleanShardFile = ticketflow_schemas::decode(&bytes)
            .map_err(|e| StageError::permanent(format!("cleaned shard {}: {e}", msg.clean_key)))?;
        let texts: Vec<String> = file.tickets.into_iter().map(|t| t.text).collect();
        let n = texts.len() as u32;
        let model = Arc::clone(&self.model);
        let npy = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, StageError> {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
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
                .map_err(|e| StageError::permanent(format!("embedding: {e}")))?;
            tensors::to_npy(&vectors).map_err(StageError::permanent)
        })
        .await
        .map_err(|e| {
            // A panic is about this shard (its text, a bug), not an outage: it counts as an
            // attempt, and after the last one the shard is dead-lettered, not retried forever.
            if e.is_panic() {
                StageError::permanent(format!("the embedder panicked on this shard: {e}"))
            } else {
                StageError::transient(format!("embedding task: {e}"))
            }
        })??;
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
        };
        Ok(Processed {
            tickets: n,
            downstream: Some(Downstream::new(&next)?),
        })
    }
}
