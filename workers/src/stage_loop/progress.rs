//! After a stage has done its work on a shard: the downstream message, the run's progress, and
//! the one `runs.completed` per run.
//!
//! The run's progress record is rewritten by every shard update, so it holds only counters and
//! stays the same size at any shard count; which shards are done lives in each shard's own
//! record (KV `tf_shards`). A shard's finish, in this order:
//!
//! 1. the downstream message, under a deterministic message id (JetStream keeps one copy);
//! 2. the shard's record is read: a stage that finished it before has counted it already;
//! 3. if not, the run's counters, busy time, tickets and reuse counts are added (compare-and-set);
//! 4. the shard's record counts one more finish (compare-and-set). After 3 and not before, so a
//!    retry after a failed 3 is not a second finish in the audit;
//! 5. for the indexer: the run's progress is read again, and when its counters say every shard
//!    is indexed or dead, the shard records are scanned to confirm it; then `completed_at_ms` is
//!    set once and `runs.completed` published once.
//!
//! Every step is safe to repeat. A replica that dies between 3 and 4 counts the shard again on
//! redelivery: a counter can run ahead of the truth, never behind it (4 comes after 3). That is
//! why step 5 never trusts the counters alone; the scan costs O(shards) but runs once or twice a
//! run, at its end, while steps 2-4 cost the same at any shard count.
//!
//! `runs.completed` has a fixed message id per redrive generation, and `completion_published`
//! stops later updates from even trying.

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
        let run_id = input.run_id();
        let busy = started.elapsed().as_millis() as u64;
        let tickets = u64::from(processed.tickets);
        let counts = processed.counts;
        let precision = W::embedding_precision(input).map(str::to_string);
        if bus.shard_finishes(run_id, shard, stage).await? == 0 {
            bus.update_progress(run_id, |p| {
                p.count_done(stage);
                p.add_busy_ms(stage, busy);
                if stage == Stage::Indexer {
                    p.tickets_indexed += tickets;
                }
                p.reuse.add(&counts);
                if let Some(precision) = &precision {
                    p.embedding_precisions.insert(precision.clone());
                }
            })
            .await?;
        }
        bus.record_finish(run_id, shard, stage).await?;
        if stage == Stage::Indexer {
            complete_if_final(bus, run_id).await?;
        }
    }
    Ok(processed.tickets)
}

/// Completes the run if every shard is indexed or dead: when the counters say so, a scan of the
/// shard records confirms it (counters may run ahead, see the module doc), then
/// `completed_at_ms` is stamped once and `runs.completed` published.
pub(super) async fn complete_if_final<B: StageBus>(bus: &B, run_id: &str) -> Result<(), BusError> {
    let Some(mut progress) = bus.progress(run_id).await? else {
        return Ok(());
    };
    if progress.completed_at_ms.is_none() && progress.counts_say_final() {
        let indexed = bus.finished_shards(run_id, Stage::Indexer).await?;
        if !progress.every_shard_final(&indexed) {
            // A count ran ahead: the shard still missing completes the run when it finishes.
            tracing::info!(run_id, "counters say complete, shard records do not yet");
            return Ok(());
        }
        // Checked again on the record being written: a redrive may have taken shards back.
        (_, progress) = bus
            .update_progress(run_id, |p| {
                if p.completed_at_ms.is_none() && p.every_shard_final(&indexed) {
                    p.completed_at_ms = Some(now_ms());
                }
            })
            .await?;
    }
    publish_completion_if_due(bus, &progress).await
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
