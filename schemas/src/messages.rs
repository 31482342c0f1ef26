//! Messages between stages. Each names its run and shard and carries object-store keys, never
//! the data itself.

use serde::{Deserialize, Serialize};

use crate::envelope::Message;
use crate::run::Stage;

/// coordinator -> cleaner: a shard of raw tickets is ready at `raw_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTask {
    pub run_id: String,
    pub shard: u32,
    pub shard_count: u32,
    /// JSON lines of [`Ticket`](crate::Ticket)s.
    pub raw_key: String,
    pub tickets: u32,
    /// `normalized` or `cleaned`: which text the cleaner hands to the embedder.
    pub embed_input: String,
}

impl Message for ShardTask {
    const KIND: &'static str = "shard_task";
}

/// cleaner -> embedder: the prepared tickets of a shard are at `clean_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanedShard {
    pub run_id: String,
    pub shard: u32,
    pub shard_count: u32,
    /// A [`CleanShardFile`](crate::CleanShardFile).
    pub clean_key: String,
    pub tickets: u32,
}

impl Message for CleanedShard {
    const KIND: &'static str = "cleaned_shard";
}

/// embedder -> indexer: the shard's vectors are at `embeddings_key`, row `i` belonging to ticket
/// `i` of the cleaned shard at `clean_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedShard {
    pub run_id: String,
    pub shard: u32,
    pub shard_count: u32,
    pub clean_key: String,
    /// float32 `.npy`, shape `[tickets, dim]`.
    pub embeddings_key: String,
    pub tickets: u32,
    pub dim: u32,
    /// The model precision that made the vectors (`fp32` or `int8`): int8 vectors sit a little
    /// apart from fp32 ones (median cosine 0.994), so the indexer records it with every vector.
    /// Messages from before the field existed were fp32.
    #[serde(default = "default_precision")]
    pub precision: String,
    /// The digest of the model that made the vectors (`EmbeddingModel::digest` in ticketflow-embed;
    /// empty in messages from before the field): the indexer records it with every vector.
    #[serde(default)]
    pub model_digest: String,
    /// Of `tickets`, how many vectors were reused from earlier runs instead of embedded.
    #[serde(default)]
    pub vectors_reused: u32,
}

fn default_precision() -> String {
    "fp32".to_string()
}

impl Message for EmbeddedShard {
    const KIND: &'static str = "embedded_shard";
}

/// Published once per run, when every shard is indexed or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCompleted {
    pub run_id: String,
    pub shard_count: u32,
    pub tickets_indexed: u64,
    /// Shards that ended in the dead-letter stream; non-empty means completed-with-errors.
    pub dead_shards: Vec<u32>,
    /// The run's redrive generation when it completed (0 = first attempt): part of the
    /// message id, so the completion of a redriven run is not dropped as a repeat.
    #[serde(default)]
    pub redrives: u32,
}

impl Message for RunCompleted {
    const KIND: &'static str = "run_completed";
}

/// A message a stage gave up on, with why. Published on the dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Unknown when the message itself could not be decoded.
    pub run_id: Option<String>,
    pub shard: Option<u32>,
    pub stage: Stage,
    /// Subject the message was consumed from, so a redrive can publish it back.
    pub subject: String,
    pub deliveries: u64,
    /// The message's sequence in its stage's stream: names a letter whose run is unknown.
    #[serde(default)]
    pub stream_sequence: u64,
    /// The run's redrive generation when the stage gave up (0 = first attempt): part of the
    /// letter's message id, so a shard redriven and dead again is recorded again instead of
    /// being dropped as a repeat of its first letter.
    #[serde(default)]
    pub redrive: u32,
    pub reason: String,
    /// The original message bytes, untouched (MessagePack binary, not an array of integers).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

impl Message for DeadLetter {
    const KIND: &'static str = "dead_letter";
}
