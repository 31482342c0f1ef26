//! The model lifecycle: what happens to a run after its shards are embedded, and to the models
//! trained on it. Used by the trainer stage (`ticketflow-workers`) and by the CLI (`ticketflow
//! train`, `predict`, `drift`, `routing`, `runs`), so both train, judge and report the same way.
//!
//! - [`registry`]: models in the object store and which one is `latest`: storage, the quality
//!   gate, the model card and the evaluation page, in separate modules.
//! - [`training`]: a labelled run's challenger trained, judged against the champion on the same
//!   rows, and registered.
//! - [`run_artifacts`]: a finished run read back a shard at a time (tickets, vectors, feature
//!   table, samples), and the drift report between two runs.
//! - [`tensors`]: the shard tensors' `.npy` format, written by the embedder, read back here.
//! - [`summary`]: a finished run's `result.json`; [`run_metrics`]: the same as Pushgateway
//!   metrics; [`run_profile`]: the exploratory profile of its input.
//!
//! Errors are [`StageError`](ticketflow_connectors::stage_error::StageError)s, transient or
//! permanent, so the trainer stage retries them as it does its own.

pub mod registry;
pub mod run_artifacts;
pub mod run_metrics;
pub mod run_profile;
pub mod summary;
pub mod tensors;
pub mod training;
