//! Indexer: vectors + prepared tickets in, Chroma records out.
//!
//! Upserts are keyed by ticket id, so a redelivered shard rewrites the same records instead of
//! adding copies. Metadata carries what search filters on (type, queue, priority, language) and
//! where the record came from (run, shard, row, and the embedding precision, so fp32 and int8
//! vectors can be told apart and filtered).

use serde_json::{Map, Value};
use ticketflow_connectors::chroma::{ChromaClient, VectorRecord};
use ticketflow_connectors::store::Store;
use ticketflow_schemas::{CleanShardFile, CleanTicket, EmbeddedShard, Stage};

use crate::stage_loop::{Processed, StageError, StageWorker};
use crate::tensors;

pub struct Indexer {
    pub store: Store,
    pub chroma: ChromaClient,
}

/// The Chroma record of one ticket.
pub fn record(
    run_id: &str,
    shard: u32,
    precision: &str,
    ticket: CleanTicket,
    embedding: Vec<f32>,
) -> VectorRecord {
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
    put("run_id", Some(run_id.to_string()));
    put("embedding_precision", Some(precision.to_string()));
    metadata.insert("shard".into(), Value::from(shard));
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
            .map(|(t, v)| record(&msg.run_id, msg.shard, &msg.precision, t, v.to_vec()))
            .collect();
        self.chroma.upsert(&records).await?;
        Ok(Processed {
            tickets: n,
            downstream: None,
        })
    }
}
