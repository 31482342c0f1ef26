//! Records the stages store in the object store.

use serde::{Deserialize, Serialize};

use crate::envelope::Message;

/// One ticket after the cleaner: what the embedder embeds and what the indexer stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanTicket {
    pub id: String,
    /// Row in the run's input file.
    pub row: u64,
    /// The text the embedder sees (see `--embed-input`), also stored as the Chroma document.
    pub text: String,
    /// Cleaned tokens (lowercased, no punctuation or stop words) for statistics and lexical
    /// features.
    pub tokens: Vec<String>,
    pub language: Option<String>,
    /// `given`, `detected` or `unknown`.
    pub language_source: String,
    #[serde(rename = "type")]
    pub ticket_type: Option<String>,
    pub queue: Option<String>,
    pub priority: Option<String>,
    pub has_subject: bool,
    pub placeholder_count: u32,
}

/// A cleaned shard as stored at `keys::clean_shard(run, shard)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanShardFile {
    pub run_id: String,
    pub shard: u32,
    pub tickets: Vec<CleanTicket>,
}

impl Message for CleanShardFile {
    const KIND: &'static str = "clean_shard";
}
