//! A finished run, after its shards are embedded: read back, summed up, measured, profiled.
//!
//! - [`read`]: the run read back a shard at a time (tickets, vectors, feature table), its
//!   seeded samples, and the drift report between two runs.
//! - [`result`]: what `runs/<run>/result.json` holds, printed by `ticketflow run --wait` and
//!   `runs show`.
//! - [`metrics`]: the same numbers as Pushgateway metrics, pushed once per run.
//! - [`profile`]: the exploratory profile of the run's input.

pub mod metrics;
pub mod profile;
pub mod read;
pub mod result;
