//! Types that cross a process boundary in ticketflow.
//!
//! Everything here is plain data with serde derives. Messages on NATS and records in the object
//! store are MessagePack (rmp-serde, named fields) inside a versioned [`envelope`], so a worker
//! built from an older or newer release refuses a message it cannot read with a clear error
//! instead of misreading it.
//!
//! Messages stay small: shard bodies and tensors live in the object store, and messages carry
//! their keys (the claim-check pattern).

mod clean_shard;
pub mod envelope;
mod messages;
mod run;
mod ticket;
pub mod topology;

pub use clean_shard::{CleanShardFile, CleanTicket};
pub use envelope::{Message, SCHEMA_VERSION, SchemaError, decode, encode};
pub use messages::{CleanedShard, DeadLetter, EmbeddedShard, RunCompleted, ShardTask};
pub use run::{
    DEFAULT_DATASET, Dataset, DeadShard, ReuseCounts, RunManifest, RunProgress, RunStatus,
    ShardRecord, Stage, StageCounts, now_ms,
};
pub use ticket::Ticket;
pub use topology::{Route, Routed};
