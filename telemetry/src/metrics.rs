//! Every Prometheus metric a long-running ticketflow process exposes, in one registry.
//!
//! Names follow Prometheus conventions: `ticketflow_<thing>_<unit>`, `_total` for counters,
//! `_seconds` for durations, base units only. Labels are bounded sets (stage, outcome,
//! operation); run and shard ids go into logs and traces, never into worker metric labels,
//! because every new label value is a new time series.
//!
//! Metrics are registered once, lazily, in [`registry`]. Code does not touch them directly:
//! it emits an event from [`crate::internal_events`], which logs and counts in one place.
//!
//! The dashboards and alert rules in `monitoring/` are written against these names; the
//! `tests/monitoring.rs` contract list must change with them.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Shard and stage durations: from a few milliseconds (cleaner, small shard) to minutes (a
/// 500-ticket shard through the embedder on one core takes ~7 s; the trainer longer).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Calls to the object store and Chroma: milliseconds normally, seconds when degraded.
const CALL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Tickets per model batch (the default batch size is 32).
const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// From a small run's record to NATS's default 1 MiB payload limit, by fours.
const RECORD_BYTES_BUCKETS: &[f64] =
    &[256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0];

/// The process's registry. Process metrics (CPU, RSS, open fds) are included on Linux.
pub fn registry() -> &'static Registry {
    &METRICS.registry
}

/// The registry in Prometheus' text exposition format, as served on `/metrics`.
pub fn render() -> String {
    let mut out = Vec::new();
    let families = registry().gather();
    // Encoding into a Vec cannot fail for the text format except on invalid metric data,
    // which our own registrations cannot produce.
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(error = %e, "encoding metrics failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) struct Metrics {
    registry: Registry,
    pub build_info: IntGaugeVec,
    pub worker_info: IntGaugeVec,
    pub shards_processed: IntCounterVec,
    pub tickets_processed: IntCounterVec,
    pub stage_duration: HistogramVec,
    pub redeliveries: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub shard_failures: IntCounterVec,
    pub in_flight: IntGaugeVec,
    pub consumer_pending: IntGaugeVec,
    pub consumer_ack_pending: IntGaugeVec,
    pub embedding_batch_duration: Histogram,
    pub embedding_batch_size: Histogram,
    pub progress_record_bytes: Histogram,
    pub vectors: IntCounterVec,
    pub records: IntCounterVec,
    pub routing_suspensions: IntCounterVec,
    pub vector_cache_errors: IntCounterVec,
    pub loop_errors: IntCounterVec,
    pub store_duration: HistogramVec,
    pub store_errors: IntCounterVec,
    pub chroma_duration: HistogramVec,
    pub chroma_errors: IntCounterVec,
    pub up_since: Gauge,
}

pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let m = Metrics {
            build_info: int_gauge(
                "ticketflow_build_info",
                "Always 1; the labels say which build is running.",
                &["version"],
            ),
            worker_info: int_gauge(
                "ticketflow_worker_info",
                "Always 1 per worker process; count by stage for replicas.",
                &["stage"],
            ),
            shards_processed: counter(
                "ticketflow_shards_processed_total",
                "Messages a stage finished handling, by outcome (ok, retried, dead_lettered).",
                &["stage", "outcome"],
            ),
            tickets_processed: counter(
                "ticketflow_tickets_processed_total",
                "Tickets in the shards a stage processed successfully.",
                &["stage"],
            ),
            stage_duration: histogram(
                "ticketflow_stage_duration_seconds",
                "Time a stage spent on one message, success or not.",
                &["stage"],
                DURATION_BUCKETS,
            ),
            redeliveries: counter(
                "ticketflow_shard_redeliveries_total",
                "Messages received again after a failure, crash or ack timeout.",
                &["stage"],
            ),
            dead_lettered: counter(
                "ticketflow_shards_dead_lettered_total",
                "Messages given up on and published to the dead-letter stream.",
                &["stage"],
            ),
            shard_failures: counter(
                "ticketflow_shard_failures_total",
                "Failed attempts at a message, by stage and error_type (transient, permanent): \
                 each retried or dead-lettered outcome of ticketflow_shards_processed_total \
                 that had an error, classified by the error itself. Messages dead-lettered on \
                 arrival (earlier deliveries crashed or timed out) are not attempts.",
                &["stage", "error_type"],
            ),
            in_flight: int_gauge(
                "ticketflow_shards_in_flight",
                "Messages this process is working on right now.",
                &["stage"],
            ),
            consumer_pending: int_gauge(
                "ticketflow_consumer_pending_messages",
                "Messages waiting in the stage's JetStream consumer (same value from every replica).",
                &["stage"],
            ),
            consumer_ack_pending: int_gauge(
                "ticketflow_consumer_ack_pending_messages",
                "Messages delivered to some replica and not yet acknowledged.",
                &["stage"],
            ),
            embedding_batch_duration: plain_histogram(
                "ticketflow_embedding_batch_duration_seconds",
                "Tokenisation plus ONNX Runtime inference for one model batch.",
                DURATION_BUCKETS,
            ),
            embedding_batch_size: plain_histogram(
                "ticketflow_embedding_batch_size",
                "Tickets per model batch.",
                BATCH_SIZE_BUCKETS,
            ),
            progress_record_bytes: plain_histogram(
                "ticketflow_run_progress_record_bytes",
                "Size of the run progress record each shard update rewrites (JetStream KV \
                 tf_progress, compare-and-set): counters, the same at any shard count.",
                RECORD_BYTES_BUCKETS,
            ),
            vectors: counter(
                "ticketflow_embedder_vectors_total",
                "Vectors the embedder produced, by source: `reused` (found by content, made by an \
                 earlier run) or `embedded` (the model ran).",
                &["source"],
            ),
            records: counter(
                "ticketflow_indexer_records_total",
                "Chroma records of indexed tickets, by outcome: `written` (new or changed) or \
                 `unchanged` (same text and metadata already in Chroma; not written).",
                &["outcome"],
            ),
            loop_errors: counter(
                "ticketflow_stage_loop_errors_total",
                "Failures of the stage loop's own JetStream calls, by stage, operation (pull, \
                 receive, ack, nak, term, dead_letter, dead_shard, completion) and error_type \
                 (transient, permanent); each is recovered (retried, redelivered) but counted.",
                &["stage", "operation", "error_type"],
            ),
            vector_cache_errors: counter(
                "ticketflow_embedder_vector_cache_errors_total",
                "Vector-cache calls that failed, by operation (lookup, keep) and error_type \
                 (transient, permanent); the shard embedded its texts without reuse.",
                &["operation", "error_type"],
            ),
            routing_suspensions: counter(
                "ticketflow_routing_suspensions_total",
                "Times the trainer suspended automatic routing of a data set because a run \
                 drifted from its reference.",
                &["dataset"],
            ),
            store_duration: histogram(
                "ticketflow_object_store_request_duration_seconds",
                "Object-store requests, by operation (get, put, list, delete, exists).",
                &["operation"],
                CALL_BUCKETS,
            ),
            store_errors: counter(
                "ticketflow_object_store_errors_total",
                "Object-store requests that failed, by operation and error_type (transient, permanent).",
                &["operation", "error_type"],
            ),
            chroma_duration: histogram(
                "ticketflow_chroma_request_duration_seconds",
                "Chroma HTTP requests, by operation.",
                &["operation"],
                CALL_BUCKETS,
            ),
            chroma_errors: counter(
                "ticketflow_chroma_errors_total",
                "Chroma requests that failed, by operation and error_type (transient, permanent).",
                &["operation", "error_type"],
            ),
            up_since: Gauge::with_opts(Opts::new(
                "ticketflow_start_time_seconds",
                "When this process started, in seconds since the Unix epoch.",
            ))
            .expect("valid metric options"),
            registry,
        };
        m.register_all();
        m
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.build_info.clone()),
            Box::new(self.worker_info.clone()),
            Box::new(self.shards_processed.clone()),
            Box::new(self.tickets_processed.clone()),
            Box::new(self.stage_duration.clone()),
            Box::new(self.redeliveries.clone()),
            Box::new(self.dead_lettered.clone()),
            Box::new(self.shard_failures.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.consumer_pending.clone()),
            Box::new(self.consumer_ack_pending.clone()),
            Box::new(self.embedding_batch_duration.clone()),
            Box::new(self.embedding_batch_size.clone()),
            Box::new(self.progress_record_bytes.clone()),
            Box::new(self.vectors.clone()),
            Box::new(self.records.clone()),
            Box::new(self.routing_suspensions.clone()),
            Box::new(self.vector_cache_errors.clone()),
            Box::new(self.loop_errors.clone()),
            Box::new(self.store_duration.clone()),
            Box::new(self.store_errors.clone()),
            Box::new(self.chroma_duration.clone()),
            Box::new(self.chroma_errors.clone()),
            Box::new(self.up_since.clone()),
        ];
        for c in collectors {
            // Names are fixed at compile time and unique; a clash is a programming error.
            self.registry.register(c).expect("unique metric names");
        }
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            let _ = self.registry.register(Box::new(process));
        }
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.up_since.set(now);
    }
}

// The constructors below only fail on invalid names or label sets, which are literals here.

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric options")
}

fn int_gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric options")
}

fn histogram(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid metric options")
}

fn plain_histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("valid metric options")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_renders_with_conventional_names() {
        // Touch one series of every labelled family so it shows up in the exposition.
        crate::internal_events::WorkerStarted { stage: "embedder" }.emit();
        let text = render();
        assert!(text.contains("ticketflow_build_info{version=\""), "{text}");
        assert!(text.contains("ticketflow_worker_info{stage=\"embedder\"} 1"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE ticketflow_")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            match kind {
                "counter" => assert!(name.ends_with("_total"), "{name}"),
                // A base unit (Prometheus naming: seconds, bytes) or a count (`_size`).
                "histogram" => assert!(
                    ["_seconds", "_bytes", "_size"]
                        .iter()
                        .any(|unit| name.ends_with(unit)),
                    "{name}"
                ),
                _ => assert!(!name.ends_with("_total"), "{name}"),
            }
        }
    }
}
