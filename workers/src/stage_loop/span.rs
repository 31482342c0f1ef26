//! The `shard` span each message is handled in.

use ticketflow_schemas::Stage;

/// The span of one message's handling. Every log line of it carries the run, the shard and the
/// stage; with tracing on it is a child of the span that published the message (the
/// coordinator's run, the previous stage's shard, or the last indexer's shard for the
/// trainer), so a run is one trace.
///
/// Counts are recorded as `i64`: tracing-opentelemetry exports unsigned integers as strings.
pub(super) fn message_span(stage: Stage, delivered: u32) -> tracing::Span {
    tracing::info_span!(
        "shard",
        otel.name = span_name(stage),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        %stage,
        run_id = tracing::field::Empty,
        shard_id = tracing::field::Empty,
        delivered = i64::from(delivered),
        tickets = tracing::field::Empty,
    )
}

/// What a stage's span is called in a trace view.
fn span_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Cleaner => "cleaner shard",
        Stage::Embedder => "embedder shard",
        Stage::Indexer => "indexer shard",
        Stage::Trainer => "trainer run",
    }
}
