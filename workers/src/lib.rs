//! Stage workers, one file per stage, in the manner of Quickwit's indexing actors:
//!
//! | file | consumes | does | produces |
//! | --- | --- | --- | --- |
//! | [`cleaner`] | `tf.shards.raw` | text preparation | cleaned shard file, `tf.shards.clean` |
//! | [`embedder`] | `tf.shards.clean` | all-MiniLM-L6-v2 embeddings of texts not embedded before ([`vector_cache`]) | `.npy` tensor, `tf.shards.embedded` |
//! | [`indexer`] | `tf.shards.embedded` | Chroma upsert keyed by ticket id, of new or changed records | shard marked indexed |
//! | [`trainer`] | `tf.runs.completed` | trains + registers a classifier (labelled runs) or predicts (inference runs) | model in the registry (`ticketflow_lifecycle::registry`), `runs/<run>/result.json` |
//!
//! The model lifecycle the trainer drives (training, the registry and its gate, a run read
//! back, `result.json` and its metrics) is `ticketflow-lifecycle`, shared with the CLI; the
//! stages' `.npy` tensors are its [`tensors`](ticketflow_lifecycle::tensors) format.
//!
//! [`stage_loop`] is what they share: pulling one shard at a time, in-progress acks on long
//! shards, bounded redelivery with backoff, the dead-letter stream, progress bookkeeping, the
//! single `runs.completed` per run, and draining on SIGTERM. A stage file only says how to turn
//! its input into its output, and that in turn is plain library code from `ticketflow-text`,
//! `ticketflow-embed` and `ticketflow-analytics`.

pub mod cleaner;
pub mod embedder;
pub mod indexer;
pub mod stage_loop;
pub mod trainer;
pub mod vector_cache;

pub use stage_loop::{Processed, Shutdown, StageError, StageWorker, run_stage};

pub use ticketflow_schemas::now_ms;
