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
use ticketflow_lifecycle::tensors;

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

/// Whether Chroma's `stored` metadata already says what `new` says. A key Chroma does not
/// hold and a key `new` sets to null both mean "absent".
pub fn unchanged(stored: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    let value = |m: &Map<String, Value>, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
    CONTENT_KEYS
        .iter()
        .all(|k| value(stored, k) == value(new, k))
}

/// BLAKE3 of a record's document, 32 hex digits.
fn text_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
}

/// The Chroma record of one ticket.
///
/// Chroma *merges* the metadata of an upsert into what it holds: a key left out keeps its old
/// value. So every content key the ticket does not have is sent as an explicit null, which
/// removes it; otherwise a queue that became empty, or the model digest of an older embedder,
/// would stay in Chroma and make the record look unchanged (or changed) forever.
pub fn record(msg: &EmbeddedShard, ticket: CleanTicket, embedding: Vec<f32>) -> VectorRecord {
    let mut metadata = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        let value = v
            .filter(|v| !v.is_empty())
            .map_or(Value::Null, Value::String);
        metadata.insert(k.to_string(), value);
    };
    put("type", ticket.ticket_type);
    put("queue", ticket.queue);
    put("priority", ticket.priority);
    put("language", ticket.language);
    put("run_id", Some(msg.run_id.clone()));
    put("embedding_precision", Some(msg.precision.clone()));
    put("embedding_model", Some(msg.model_digest.clone()));
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
        let file: CleanShardFile = ticketflow_schemas::decode(&clean).map_err(|e| {
            StageError::permanent_from(format!("cleaned shard {}", msg.clean_key), e)
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(model_digest: &str) -> EmbeddedShard {
        EmbeddedShard {
            run_id: "run-1".into(),
            shard: 3,
            shard_count: 4,
            clean_key: "runs/run-1/clean/3".into(),
            embeddings_key: "runs/run-1/embeddings/3.npy".into(),
            tickets: 1,
            dim: 3,
            precision: "fp32".into(),
            model_digest: model_digest.into(),
            vectors_reused: 0,
        }
    }

    fn ticket(queue: Option<&str>) -> CleanTicket {
        CleanTicket {
            id: "t1".into(),
            row: 1,
            text: "VPN down".into(),
            tokens: vec!["vpn".into(), "down".into()],
            language: Some("en".into()),
            language_source: "given".into(),
            ticket_type: Some("Incident".into()),
            queue: queue.map(str::to_string),
            priority: None,
            has_subject: true,
            placeholder_count: 0,
        }
    }

    /// Defect (issue 23): absent values were left out of the upsert, and Chroma merges
    /// metadata, so a queue that became empty kept its old value; `unchanged` then compared
    /// `Some` with `None` and rewrote the record every day without fixing it; an upsert with an
    /// empty model digest left another model's `embedding_model` in place.
    #[test]
    fn absent_content_keys_are_sent_as_null_and_compare_as_absent() {
        let before = record(&shard("m1"), ticket(Some("IT")), vec![0.0; 3]).metadata;
        let after = record(&shard(""), ticket(None), vec![0.0; 3]).metadata;
        for key in ["queue", "priority", "embedding_model"] {
            assert_eq!(
                after.get(key),
                Some(&Value::Null),
                "{key} is removed, not kept"
            );
        }
        assert!(!unchanged(&before, &after), "the emptied queue is a change");
        // What Chroma holds after that upsert: the null keys gone.
        let stored: Map<String, Value> = after
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(
            unchanged(&stored, &after),
            "written once, the record is unchanged on the next day"
        );
    }
}
