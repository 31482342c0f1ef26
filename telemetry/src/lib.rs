//! Observability for every ticketflow process, kept out of the stage logic:
//!
//! - [`metrics`]: the Prometheus registry and every metric family, named by convention;
//! - [`internal_events`]: one type per observable event, emitting its log line and its metrics
//!   together (the pattern of Vector's `internal_events`);
//! - [`server`]: `/metrics`, `/healthz` and `/readyz` for long-running processes;
//! - [`push`]: batch results (a run's model quality and drift, the coordinator's run) to a
//!   Pushgateway.

pub mod internal_events;
pub mod metrics;
pub mod push;
pub mod server;

pub use push::{BatchMetrics, Pushgateway};
pub use server::{Readiness, serve};
