//! The model lifecycle: what happens to a run after its shards are embedded, and to the models
//! trained on it. Used by the trainer stage (`ticketflow-workers`) and by the CLI (`ticketflow
//! train`, `predict`, `drift`, `routing`, `runs`), so both train, judge and report the same way.
//!
//! - [`registry`]: models in the object store and which one is `latest`: storage, the quality
//!   gate, the model card and the evaluation page, in separate modules.
//! - [`training`]: a labelled run's challenger trained, judged against the champion on the same
//!   rows, and registered.
//! - [`run`]: a finished run: [`run::read`] (read back a shard at a time: tickets, vectors,
//!   feature table, samples; the drift report between two runs), [`run::result`] (its
//!   `result.json`), [`run::metrics`] (the same as Pushgateway metrics), [`run::profile`] (the
//!   exploratory profile of its input).
//! - [`tensors`]: the shard tensors' `.npy` format, written by the embedder, read back here.
//!
//! Errors are [`StageError`](ticketflow_connectors::stage_error::StageError)s, transient or
//! permanent, so the trainer stage retries them as it does its own.

pub mod registry;
pub mod run;
pub mod tensors;
pub mod training;
