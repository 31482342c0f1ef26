//! Clients for the services ticketflow talks to, each wrapped to the few operations the pipeline
//! needs, with errors that say which service failed and how.
//!
//! - [`store`]: the object store (`file://` for one machine, `s3://` for many) holding shard
//!   files, tensors, models and reports under deterministic keys.
//! - [`chroma`]: the Chroma 1.x vector store (v2 HTTP API).
//! - [`nats`]: the JetStream topology (streams, consumers, run-state KV buckets).
//!
//! Every connector's error says whether retrying can help ([`retry::Retryable`]), and becomes a
//! [`stage_error::StageError`], transient or permanent as it says.

pub mod chroma;
pub mod nats;
pub mod redact;
pub mod retry;
pub mod secret;
pub mod stage_error;
pub mod store;
#[cfg(test)]
mod test_metrics;
