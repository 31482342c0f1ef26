//! One type per observable event, in the manner of Vector's `internal_events`: emitting an
//! event writes its log line *and* updates its metrics, so the two never disagree and call
//! sites stay one line long.
//!
//! ```
//! use std::time::Duration;
//! use ticketflow_telemetry::internal_events::EmbeddingBatch;
//!
//! EmbeddingBatch { size: 32, duration: Duration::from_millis(410) }.emit();
//! ```

use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec};

use crate::metrics::METRICS;

/// A worker process joined its stage.
pub struct WorkerStarted<'a> {
    pub stage: &'a str,
}

impl WorkerStarted<'_> {
    pub fn emit(self) {
        METRICS.worker_info.with_label_values(&[self.stage]).set(1);
        // Create this stage's series at zero, so "no failures yet" reads as 0 rather than as
        // no data on dashboards, and increase() sees the first failure.
        for outcome in ["ok", "retried", "dead_lettered"] {
            METRICS
                .shards_processed
                .with_label_values(&[self.stage, outcome]);
        }
        METRICS.tickets_processed.with_label_values(&[self.stage]);
        for operation in [
            "pull",
            "receive",
            "ack",
            "nak",
            "term",
            "dead_letter",
            "dead_shard",
            "completion",
        ] {
            for error_type in ErrorType::LABELS {
                METRICS
                    .loop_errors
                    .with_label_values(&[self.stage, operation, error_type]);
            }
        }
        for error_type in ErrorType::LABELS {
            METRICS
                .shard_failures
                .with_label_values(&[self.stage, error_type]);
        }
        if self.stage == "embedder" {
            for part in ["index", "vectors"] {
                VECTOR_LOOKUP_REQUESTS.with_label_values(&[part]);
            }
            for operation in ["lookup", "keep"] {
                for error_type in ErrorType::LABELS {
                    METRICS
                        .vector_cache_errors
                        .with_label_values(&[operation, error_type]);
                }
            }
        }
        METRICS.redeliveries.with_label_values(&[self.stage]);
        METRICS.dead_lettered.with_label_values(&[self.stage]);
        METRICS.in_flight.with_label_values(&[self.stage]);
        tracing::info!(stage = self.stage, "worker ready");
    }
}

/// A message arrived; the returned guard counts it as in flight until dropped.
pub struct ShardReceived<'a> {
    pub stage: &'a str,
    /// Delivery count from JetStream: 1 the first time.
    pub delivered: u32,
}

impl ShardReceived<'_> {
    #[must_use = "the shard counts as in flight until the guard is dropped"]
    pub fn emit(self) -> InFlight {
        if self.delivered > 1 {
            METRICS.redeliveries.with_label_values(&[self.stage]).inc();
            tracing::info!(
                stage = self.stage,
                delivered = self.delivered,
                "shard redelivered"
            );
        }
        let gauge = METRICS.in_flight.with_label_values(&[self.stage]);
        gauge.inc();
        InFlight(gauge)
    }
}

/// Decrements the in-flight gauge when the message is settled, however that happens.
pub struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A stage finished a message and acknowledged it.
pub struct ShardProcessed<'a> {
    pub stage: &'a str,
    pub tickets: u32,
    pub duration: Duration,
}

impl ShardProcessed<'_> {
    pub fn emit(self) {
        METRICS
            .shards_processed
            .with_label_values(&[self.stage, "ok"])
            .inc();
        METRICS
            .tickets_processed
            .with_label_values(&[self.stage])
            .inc_by(u64::from(self.tickets));
        METRICS
            .stage_duration
            .with_label_values(&[self.stage])
            .observe(self.duration.as_secs_f64());
        tracing::info!(
            tickets = self.tickets,
            ms = self.duration.as_millis() as u64,
            "shard done"
        );
    }
}

/// An attempt at a message failed and it will be tried again: here after a pause (a
/// dependency is down), or handed back to JetStream for a later delivery.
pub struct ShardRetried<'a> {
    pub stage: &'a str,
    pub delivered: u32,
    pub retry_in: Duration,
    pub duration: Duration,
    /// The error's own retry decision (`StageError::is_transient`).
    pub transient: bool,
    pub error: &'a dyn std::fmt::Display,
}

impl ShardRetried<'_> {
    pub fn emit(self) {
        let error_type = error_type(self.transient);
        METRICS
            .shards_processed
            .with_label_values(&[self.stage, "retried"])
            .inc();
        METRICS
            .shard_failures
            .with_label_values(&[self.stage, error_type])
            .inc();
        METRICS
            .stage_duration
            .with_label_values(&[self.stage])
            .observe(self.duration.as_secs_f64());
        tracing::warn!(
            stage = self.stage,
            delivered = self.delivered,
            retry_in_s = self.retry_in.as_secs_f32(),
            error_type,
            error = %self.error,
            "shard failed; will retry"
        );
    }
}

/// A message was given up on and published to the dead-letter stream.
pub struct ShardDeadLettered<'a> {
    pub stage: &'a str,
    pub run_id: Option<&'a str>,
    pub shard: Option<u32>,
    pub reason: &'a str,
    /// The error of the attempt that gave up, as the error classifies itself; `None` when the
    /// message was dead-lettered on arrival, before any attempt (earlier deliveries crashed or
    /// timed out without a verdict, so there is no error to classify).
    pub last_error: Option<ErrorType>,
}

impl ShardDeadLettered<'_> {
    pub fn emit(self) {
        METRICS
            .shards_processed
            .with_label_values(&[self.stage, "dead_lettered"])
            .inc();
        METRICS.dead_lettered.with_label_values(&[self.stage]).inc();
        if let Some(last_error) = self.last_error {
            METRICS
                .shard_failures
                .with_label_values(&[self.stage, last_error.as_str()])
                .inc();
        }
        tracing::error!(
            stage = self.stage,
            run_id = ?self.run_id,
            shard = ?self.shard,
            error_type = self.last_error.map(ErrorType::as_str),
            reason = self.reason,
            "dead-lettered"
        );
    }
}

/// The stage's consumer backlog, polled from JetStream.
pub struct ConsumerBacklog<'a> {
    pub stage: &'a str,
    pub pending: u64,
    pub ack_pending: u64,
}

impl ConsumerBacklog<'_> {
    pub fn emit(self) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        METRICS
            .consumer_pending
            .with_label_values(&[self.stage])
            .set(clamp(self.pending));
        METRICS
            .consumer_ack_pending
            .with_label_values(&[self.stage])
            .set(clamp(self.ack_pending));
        tracing::trace!(
            stage = self.stage,
            pending = self.pending,
            ack_pending = self.ack_pending,
            "consumer backlog"
        );
    }
}

/// One model batch through the tokenizer and ONNX Runtime.
pub struct EmbeddingBatch {
    pub size: usize,
    pub duration: Duration,
}

impl EmbeddingBatch {
    pub fn emit(self) {
        METRICS.embedding_batch_size.observe(self.size as f64);
        METRICS
            .embedding_batch_duration
            .observe(self.duration.as_secs_f64());
        tracing::trace!(
            size = self.size,
            ms = self.duration.as_millis() as u64,
            "embedding batch"
        );
    }
}

/// A run's progress record was rewritten (compare-and-set), at this size.
pub struct ProgressRecordWritten<'a> {
    pub run_id: &'a str,
    pub bytes: usize,
}

impl ProgressRecordWritten<'_> {
    pub fn emit(self) {
        METRICS.progress_record_bytes.observe(self.bytes as f64);
        tracing::trace!(
            run_id = self.run_id,
            bytes = self.bytes,
            "run progress record written"
        );
    }
}

/// One shard's vectors: how many were found by content and how many the model made.
pub struct VectorsReused {
    pub reused: u64,
    pub embedded: u64,
}

impl VectorsReused {
    pub fn emit(self) {
        inc_each(
            &METRICS.vectors,
            [("reused", self.reused), ("embedded", self.embedded)],
        );
        tracing::debug!(
            reused = self.reused,
            embedded = self.embedded,
            "shard vectors: reused by content, embedded by the model"
        );
    }
}

/// One shard's vector-reuse lookup: what it found, and the object-store requests it made, by
/// part (S3 requests: a listing counts a request per 1,000 keys).
///
/// - `index`: the `recent/` listing, the manifest, and the index runs and recent segments the
///   process had not read. Flat however many segments the space holds; a jump means the index
///   is not being compacted (see the embedder's warnings).
/// - `vectors`: one GET per segment holding some of the shard's texts.
///
/// Per shard: `rate(ticketflow_embedder_vector_lookup_requests_total)` over the embedder's
/// `rate(ticketflow_shards_processed_total)`.
pub struct VectorLookup {
    pub texts: u64,
    pub found: u64,
    pub index_requests: u64,
    pub vector_requests: u64,
}

/// `ticketflow_embedder_vector_lookup_requests_total{part}`, registered in the process registry
/// on first use (the embedder's [`WorkerStarted`] creates its series at zero).
static VECTOR_LOOKUP_REQUESTS: std::sync::LazyLock<IntCounterVec> =
    std::sync::LazyLock::new(|| {
        let counter = IntCounterVec::new(
            prometheus::Opts::new(
                "ticketflow_embedder_vector_lookup_requests_total",
                "Object-store requests of the embedder's vector-reuse lookups, by part: `index` \
             (recent listing, manifest, unread index runs and recent segments; flat as the \
             vector space grows) and `vectors` (one GET per segment holding hits).",
            ),
            &["part"],
        )
        .expect("valid metric options");
        if let Err(e) = crate::metrics::registry().register(Box::new(counter.clone())) {
            tracing::error!(error = %e, "vector lookup metric not registered");
        }
        counter
    });

impl VectorLookup {
    pub fn emit(self) {
        inc_each(
            &VECTOR_LOOKUP_REQUESTS,
            [
                ("index", self.index_requests),
                ("vectors", self.vector_requests),
            ],
        );
        tracing::debug!(
            texts = self.texts,
            found = self.found,
            index_requests = self.index_requests,
            vector_requests = self.vector_requests,
            "vector lookup: texts found by content, object-store requests made"
        );
    }
}

/// One shard's Chroma records: written, or left alone because Chroma holds them already.
pub struct RecordsIndexed {
    pub written: u64,
    pub unchanged: u64,
}

impl RecordsIndexed {
    pub fn emit(self) {
        inc_each(
            &METRICS.records,
            [("written", self.written), ("unchanged", self.unchanged)],
        );
        tracing::debug!(
            written = self.written,
            unchanged = self.unchanged,
            "shard records: written to Chroma, unchanged"
        );
    }
}

/// The `error_type` label of failure counters, Vector's convention: whether the same call may
/// succeed later. It is never guessed here: callers pass the failed error's own answer
/// (`ticketflow_connectors::retry::Retryable::is_transient`, `StageError::is_transient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A dependency is unavailable or busy; retrying may succeed.
    Transient,
    /// The request, input or configuration is wrong; retrying fails the same way.
    Permanent,
}

impl ErrorType {
    /// Every label value, to create the series at zero.
    pub const LABELS: [&'static str; 2] = ["transient", "permanent"];

    /// From an error's `is_transient()`.
    pub fn of(transient: bool) -> Self {
        if transient {
            ErrorType::Transient
        } else {
            ErrorType::Permanent
        }
    }

    /// The label value: `transient` or `permanent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Transient => "transient",
            ErrorType::Permanent => "permanent",
        }
    }
}

fn error_type(transient: bool) -> &'static str {
    ErrorType::of(transient).as_str()
}

/// One of the stage loop's own calls to JetStream failed: pulling or receiving a message,
/// acknowledging it (ack, NAK, term), publishing a dead letter or a run's completion, or
/// recording a dead shard. The loop recovers from each (it retries, or JetStream redelivers),
/// so each is a log line and a count, per operation.
pub struct StageLoopFailed<'a> {
    pub stage: &'a str,
    /// `pull`, `receive`, `ack`, `nak`, `term`, `dead_letter`, `dead_shard` or `completion`.
    pub operation: &'a str,
    pub transient: bool,
    /// What the loop does about it, for the log line.
    pub recovery: &'a str,
    pub error: &'a dyn std::error::Error,
}

impl StageLoopFailed<'_> {
    pub fn emit(self) {
        let error_type = error_type(self.transient);
        METRICS
            .loop_errors
            .with_label_values(&[self.stage, self.operation, error_type])
            .inc();
        tracing::warn!(
            stage = self.stage,
            operation = self.operation,
            error_type,
            error = %self.error,
            "{} failed; {}",
            self.operation,
            self.recovery
        );
    }
}

/// The embedder's vector cache failed (a lookup or keeping new vectors): the shard goes on
/// without reuse, so this is a warning and a count, never a failed shard.
pub struct VectorCacheFailed<'a> {
    /// `lookup` or `keep`.
    pub operation: &'a str,
    pub transient: bool,
    pub error: &'a dyn std::error::Error,
}

impl VectorCacheFailed<'_> {
    pub fn emit(self) {
        let error_type = error_type(self.transient);
        METRICS
            .vector_cache_errors
            .with_label_values(&[self.operation, error_type])
            .inc();
        tracing::warn!(
            operation = self.operation,
            error_type,
            error = %self.error,
            "vector cache failed; embedding without reuse"
        );
    }
}

/// The trainer checked a data set's routing against a run's drift verdict. The data set's
/// suspension counter exists from then on, at 0 until a suspension: a dashboard shows "0"
/// rather than no data, and `increase()` sees the first suspension (a series born at 1 has
/// no increase to see).
pub struct RoutingChecked<'a> {
    pub dataset: &'a str,
    pub run_id: &'a str,
}

impl RoutingChecked<'_> {
    pub fn emit(self) {
        METRICS
            .routing_suspensions
            .with_label_values(&[self.dataset]);
        tracing::debug!(
            dataset = self.dataset,
            run_id = self.run_id,
            "routing checked against the run's drift"
        );
    }
}

/// The trainer suspended automatic routing of a data set: a run drifted from its reference.
pub struct RoutingSuspended<'a> {
    pub dataset: &'a str,
    pub run_id: &'a str,
    pub reason: &'a str,
}

impl RoutingSuspended<'_> {
    pub fn emit(self) {
        METRICS
            .routing_suspensions
            .with_label_values(&[self.dataset])
            .inc();
        tracing::warn!(
            dataset = self.dataset,
            run_id = self.run_id,
            reason = self.reason,
            "automatic routing suspended: predictions go to people until it is resumed"
        );
    }
}

/// One object-store request. Failures are counted here; the caller logs them with context.
pub struct ObjectStoreRequest<'a> {
    pub operation: &'a str,
    pub duration: Duration,
    /// `None` when it succeeded; else the error's own retry decision (its `Retryable`).
    pub failed: Option<ErrorType>,
}

impl ObjectStoreRequest<'_> {
    pub fn emit(self) {
        observe_request(
            &METRICS.store_duration,
            &METRICS.store_errors,
            self.operation,
            self.duration,
            self.failed,
        );
    }
}

/// One Chroma HTTP request. Failures are counted here; the caller logs them with context.
pub struct ChromaRequest<'a> {
    pub operation: &'a str,
    pub duration: Duration,
    /// `None` when it succeeded; else the error's own retry decision (its `Retryable`).
    pub failed: Option<ErrorType>,
}

impl ChromaRequest<'_> {
    pub fn emit(self) {
        observe_request(
            &METRICS.chroma_duration,
            &METRICS.chroma_errors,
            self.operation,
            self.duration,
            self.failed,
        );
    }
}

/// Adds each count to the series of `counter` labelled with its name.
fn inc_each<const N: usize>(counter: &IntCounterVec, counts: [(&str, u64); N]) {
    for (label, n) in counts {
        counter.with_label_values(&[label]).inc_by(n);
    }
}

/// A request to a backend (object store, Chroma): its duration, and its failure by error type.
/// Both error types are touched on success too, so the error series exist (at 0) for every
/// operation used.
fn observe_request(
    durations: &HistogramVec,
    errors: &IntCounterVec,
    operation: &str,
    duration: Duration,
    failed: Option<ErrorType>,
) {
    durations
        .with_label_values(&[operation])
        .observe(duration.as_secs_f64());
    for error_type in ErrorType::LABELS {
        errors.with_label_values(&[operation, error_type]);
    }
    if let Some(failed) = failed {
        errors
            .with_label_values(&[operation, failed.as_str()])
            .inc();
    }
}

#[cfg(test)]
mod tests;
