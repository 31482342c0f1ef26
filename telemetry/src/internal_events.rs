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
            for error_type in ["transient", "permanent"] {
                METRICS
                    .loop_errors
                    .with_label_values(&[self.stage, operation, error_type]);
            }
        }
        if self.stage == "embedder" {
            for operation in ["lookup", "keep"] {
                for error_type in ["transient", "permanent"] {
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

/// A message failed and was handed back to JetStream for a later attempt.
pub struct ShardRetried<'a> {
    pub stage: &'a str,
    pub delivered: u32,
    pub retry_in: Duration,
    pub duration: Duration,
    pub error: &'a dyn std::fmt::Display,
}

impl ShardRetried<'_> {
    pub fn emit(self) {
        METRICS
            .shards_processed
            .with_label_values(&[self.stage, "retried"])
            .inc();
        METRICS
            .stage_duration
            .with_label_values(&[self.stage])
            .observe(self.duration.as_secs_f64());
        tracing::warn!(
            stage = self.stage,
            delivered = self.delivered,
            retry_in_s = self.retry_in.as_secs_f32(),
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
}

impl ShardDeadLettered<'_> {
    pub fn emit(self) {
        METRICS
            .shards_processed
            .with_label_values(&[self.stage, "dead_lettered"])
            .inc();
        METRICS.dead_lettered.with_label_values(&[self.stage]).inc();
        tracing::error!(
            stage = self.stage,
            run_id = ?self.run_id,
            shard = ?self.shard,
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

/// One shard's vectors: how many were found by content and how many the model made.
pub struct VectorsReused {
    pub reused: u64,
    pub embedded: u64,
}

impl VectorsReused {
    pub fn emit(self) {
        METRICS
            .vectors
            .with_label_values(&["reused"])
            .inc_by(self.reused);
        METRICS
            .vectors
            .with_label_values(&["embedded"])
            .inc_by(self.embedded);
        tracing::debug!(
            reused = self.reused,
            embedded = self.embedded,
            "shard vectors: reused by content, embedded by the model"
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
        METRICS
            .records
            .with_label_values(&["written"])
            .inc_by(self.written);
        METRICS
            .records
            .with_label_values(&["unchanged"])
            .inc_by(self.unchanged);
        tracing::debug!(
            written = self.written,
            unchanged = self.unchanged,
            "shard records: written to Chroma, unchanged"
        );
    }
}

/// The `error_type` label of failure counters, Vector's convention.
fn error_type(transient: bool) -> &'static str {
    if transient { "transient" } else { "permanent" }
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
    pub failed: bool,
}

impl ObjectStoreRequest<'_> {
    pub fn emit(self) {
        METRICS
            .store_duration
            .with_label_values(&[self.operation])
            .observe(self.duration.as_secs_f64());
        // Touched on success too, so the error series exists (at 0) for every operation used.
        let errors = METRICS.store_errors.with_label_values(&[self.operation]);
        if self.failed {
            errors.inc();
        }
    }
}

/// One Chroma HTTP request. Failures are counted here; the caller logs them with context.
pub struct ChromaRequest<'a> {
    pub operation: &'a str,
    pub duration: Duration,
    pub failed: bool,
}

impl ChromaRequest<'_> {
    pub fn emit(self) {
        METRICS
            .chroma_duration
            .with_label_values(&[self.operation])
            .observe(self.duration.as_secs_f64());
        // Touched on success too, so the error series exists (at 0) for every operation used.
        let errors = METRICS.chroma_errors.with_label_values(&[self.operation]);
        if self.failed {
            errors.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_guard_returns_the_gauge_to_zero_and_counts_redeliveries() {
        let stage = "test-in-flight";
        let gauge = METRICS.in_flight.with_label_values(&[stage]);
        let redeliveries = METRICS.redeliveries.with_label_values(&[stage]);
        let guard = ShardReceived {
            stage,
            delivered: 2,
        }
        .emit();
        assert_eq!(gauge.get(), 1);
        assert_eq!(redeliveries.get(), 1);
        drop(guard);
        assert_eq!(gauge.get(), 0);
        let _g = ShardReceived {
            stage,
            delivered: 1,
        }
        .emit();
        assert_eq!(
            redeliveries.get(),
            1,
            "a first delivery is not a redelivery"
        );
    }

    #[test]
    fn dead_letter_counts_in_both_families() {
        let stage = "test-dead";
        ShardDeadLettered {
            stage,
            run_id: Some("r1"),
            shard: Some(3),
            reason: "corrupt",
        }
        .emit();
        assert_eq!(METRICS.dead_lettered.with_label_values(&[stage]).get(), 1);
        assert_eq!(
            METRICS
                .shards_processed
                .with_label_values(&[stage, "dead_lettered"])
                .get(),
            1
        );
    }
}
