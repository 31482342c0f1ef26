//! Indexer: vectors + prepared tickets in, Chroma records out.
//!
//! Upserts are keyed by ticket id, so a redelivered shard rewrites the same records instead of
//! adding copies. Metadata carries what search filters on (type, queue, priority, language),
//! what the vector is ([`CONTENT_KEYS`]: the text's hash, the embedding model's digest and
//! precision, so fp32 and int8 vectors can be told apart and filtered) and where the record
//! was last written from (run, shard, row).
//!
//! A record whose content keys Chroma already holds with the same values is not written at
//! all: same id and text hash, same model, same metadata. A daily run over a cumulative export
//! so writes only what is new or changed; an unchanged record keeps the `run_id` of the run
//! that last wrote it.

use std::collections::HashMap;

use serde_json::{Map, Value};
use ticketflow_connectors::chroma::{ChromaClient, VectorRecord};
use ticketflow_connectors::store::Store;
use ticketflow_schemas::{CleanShardFile, CleanTicket, EmbeddedShard, ReuseCounts, Stage};
use ticketflow_telemetry::internal_events::RecordsIndexed;

use crate::stage_loop::{Processed, StageError, StageWorker};
use crate::tensors;

pub struct Indexer {
    pub store: Store,
    pub chroma: ChromaClient,
}

/// The metadata that says what a record holds. Equal values in Chroma mean the record need
/// not be written; `run_id`, `shard` and `row` only say where it was written from.
pub const CONTENT_KEYS: [&str; 7] = [
    "text_hash",
    "embedding_model",
    "embedding_precision",
    "type",
    "queue",
    "priority",
    "language",
];

/// Whether Chroma's `stored` metadata already says what `new` says.
pub fn unchanged(stored: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    CONTENT_KEYS.iter().all(|k| stored.get(*k) == new.get(*k))
}

/// BLAKE3 of a record's document, 32 hex digits.
fn text_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// The Chroma record of one ticket.
pub fn record(msg: &EmbeddedShard, ticket: CleanTicket, embedding: Vec<f32>) -> VectorRecord {
    let mut metadata = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            metadata.insert(k.to_string(), Value::String(v));
        }
    };
    put("type", ticket.ticket_type);
    put("queue", ticket.queue);
    put("priority", ticket.priority);
    put("language", ticket.language);
    put("run_id", Some(msg.run_id.clone()));
    put("embedding_precision", Some(msg.precision.clone()));
    put(
        "embedding_model",
        Some(msg.model_digest.clone()).filter(|d| !d.is_empty()),
    );
    put("text_hash", Some(text_hash(&ticket.text)));
    metadata.insert("shard".into(), Value::from(msg.shard));
    metadata.insert("row".into(), Value::from(ticket.row));
    VectorRecord {
        id: ticket.id,
        embedding,
        document: ticket.text,
        metadata,
    }
}

impl StageWorker for Indexer {
    const STAGE: Stage = Stage::Indexer;
    type Input = EmbeddedShard;

    fn embedding_precision(input: &EmbeddedShard) -> Option<&str> {
        Some(&input.precision)
    }

    async fn process(&self, msg: &EmbeddedShard) -> Result<Processed, StageError> {
        let (clean, npy) = tokio::try_join!(
            self.store.get(&msg.clean_key),
            self.store.get(&msg.embeddings_key)
        )?;
        let file: CleanShardFile = ticketflow_schemas::decode(&clean)
            .map_err(|e| StageError::permanent(format!("cleaned shard {}: {e}", msg.clean_key)))?;
        let vectors = tensors::from_npy(&npy)
            .map_err(|e| StageError::permanent(format!("{}: {e}", msg.embeddings_key)))?;
        if vectors.nrows() != file.tickets.len() {
            return Err(StageError::permanent(format!(
                "{} has {} rows but the shard has {} tickets",
                msg.embeddings_key,
                vectors.nrows(),
                file.tickets.len()
            )));
        }
        let n = file.tickets.len() as u32;
        let records: Vec<VectorRecord> = file
            .tickets
            .into_iter()
            .zip(vectors.rows())
            .map(|(t, v)| record(msg, t, v.to_vec()))
            .collect();
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let stored: HashMap<String, Map<String, Value>> = self.chroma.metadata_of(&ids).await?;
        let to_write: Vec<VectorRecord> = records
            .into_iter()
            .filter(|r| !stored.get(&r.id).is_some_and(|s| unchanged(s, &r.metadata)))
            .collect();
        if !to_write.is_empty() {
            self.chroma.upsert(&to_write).await?;
        }
        let counts = ReuseCounts {
            records_written: to_write.len() as u64,
            records_unchanged: u64::from(n) - to_write.len() as u64,
            ..ReuseCounts::default()
        };
        RecordsIndexed {
            written: counts.records_written,
            unchanged: counts.records_unchanged,
        }
        .emit();
        Ok(Processed {
            tickets: n,
            downstream: None,
            counts,
        })
    }
}
