//! Observability for every ticketflow process, kept out of the stage logic:
//!
//! - [`metrics`]: the Prometheus registry and every metric family, named by convention;
//! - [`internal_events`]: one type per observable event, emitting its log line and its metrics
//!   together (the pattern of Vector's `internal_events`);
//! - [`server`]: `/metrics`, `/healthz` and `/readyz` for long-running processes;
//! - [`push`]: batch results (a run's model quality and drift, the coordinator's run) to a
//!   Pushgateway;
//! - [`subscriber`]: [`init`], called once at the top of `main`, installs logs and traces;
//! - [`logs`]: JSON lines (containers, files) or text (terminals) on stderr;
//! - [`traces`]: `tracing` spans exported over OTLP/HTTP, on only when `OTEL_*` names an
//!   endpoint;
//! - [`trace_context`]: W3C `traceparent` in NATS headers, so a run is one trace across the
//!   coordinator and every worker.

pub mod internal_events;
pub mod logs;
pub mod metrics;
pub mod push;
pub mod server;
pub mod subscriber;
pub mod trace_context;
pub mod traces;

pub use push::{BatchMetrics, Pushgateway};
pub use server::{Readiness, serve};
pub use subscriber::{InitOptions, TelemetryGuard, init};

/// What the unit tests of several modules share.
#[cfg(test)]
mod test_support {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    /// An in-memory log sink, to read back what a subscriber wrote.
    #[derive(Clone, Default)]
    pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }
}
