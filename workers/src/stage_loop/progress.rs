//! After a stage has done its work on a shard: the downstream message, the run's progress, and
//! the one `runs.completed` per run.
//!
//! Each step is safe to repeat, which is what lets the loop treat "done twice" (a redelivery
//! after a lost ack, two replicas on one message) as harmless:
//!
//! - the downstream message carries a deterministic message id, so JetStream keeps one copy;
//! - the shard goes into a *set* of done shards, and its tickets, time and reuse counts are only
//!   added when it enters the set (a repeat is still counted, in the shard's own record
//!   (`tf_shards`), for the audit);
//! - `completed_at_ms` is set once, by whichever update first sees every shard final;
//! - `runs.completed` has a fixed message id per redrive generation, and
//!   `completion_published` stops later updates from even trying.

use tokio::time::Instant;

use ticketflow_connectors::nats::BusError;
use ticketflow_schemas::{Routed, RunCompleted, RunProgress, Stage};

use super::{Processed, StageBus, StageError, StageWorker};
use crate::now_ms;

/// Publishes the shard's downstream message and records it in the run's progress; returns the
/// shard's ticket count. `started` is when the delivery was received, for the stage's busy time.
pub(super) async fn finish<W: StageWorker, B: StageBus>(
    bus: &B,
    input: &W::Input,
    processed: Processed,
    started: Instant,
) -> Result<u32, StageError> {
    let stage = W::STAGE;
    if let Some(down) = &processed.downstream {
        // A duplicate is this shard's output published before a crash or a retry: expected.
        let _ = bus
            .publish_downstream(down.subject, down.payload.clone(), &down.msg_id)
            .await?;
    }
    if let Some(shard) = input.shard() {
        let busy = started.elapsed().as_millis() as u64;
        let tickets = u64::from(processed.tickets);
        let counts = processed.counts;
        let precision = W::embedding_precision(input).map(str::to_string);
        let (_, progress) = bus
            .update_progress(input.run_id(), |p| {
                let newly = p.done_set_mut(stage).is_some_and(|set| set.insert(shard));
                if newly {
                    p.add_busy_ms(stage, busy);
                    if stage == Stage::Indexer {
                        p.tickets_indexed += tickets;
                    }
                    p.reuse.add(&counts);
                    if let Some(precision) = &precision {
                        p.embedding_precisions.insert(precision.clone());
                    }
                }
                mark_completed_if_final(p);
            })
            .await?;
        // The audit's count, in the shard's own record (the run's record then grows by bits per
        // shard, not bytes), once the finish is recorded: a retry after a failed update above
        // is not a second finish.
        bus.record_finish(input.run_id(), shard, stage).await?;
        publish_completion_if_due(bus, &progress).await?;
    }
    Ok(processed.tickets)
}

/// Stamps the moment the last shard became final (indexed or dead), once.
pub(super) fn mark_completed_if_final(p: &mut RunProgress) {
    if p.completed_at_ms.is_none() && p.all_shards_final() {
        p.completed_at_ms = Some(now_ms());
    }
}

/// Publishes `runs.completed` when every shard is final and nobody has confirmed publishing it
/// yet. Several replicas may get here at once; the fixed message id lets JetStream keep one.
pub async fn publish_completion_if_due<B: StageBus>(
    bus: &B,
    progress: &RunProgress,
) -> Result<(), BusError> {
    if !progress.all_shards_final() || progress.completion_published {
        return Ok(());
    }
    let event = RunCompleted {
        run_id: progress.run_id.clone(),
        shard_count: progress.shard_count,
        tickets_indexed: progress.tickets_indexed,
        dead_shards: progress.dead.keys().copied().collect(),
        redrives: progress.redrives,
    };
    // A duplicate is another replica's completion of the same generation: expected.
    let _ = bus.publish_completion(&event).await?;
    bus.update_progress(&progress.run_id, |p| p.completion_published = true)
        .await?;
    tracing::info!(
        run_id = %progress.run_id,
        dead = event.dead_shards.len(),
        "run complete: published runs.completed"
    );
    Ok(())
}
