//! Giving up on a message: the dead-letter stream, the run's progress, then no more deliveries.

use std::time::Duration;

use ticketflow_schemas::{DeadLetter, DeadShard, Routed};
use ticketflow_telemetry::internal_events::{ErrorType, ShardDeadLettered};

use super::progress::complete_if_final;
use super::{Delivery, StageBus, StageWorker, loop_failed};

/// Gives up on a message: dead-letter stream, progress, then terminate redelivery.
/// `last_error` classifies the failed attempt that gave up; `None` on arrival (no attempt).
pub(super) async fn dead_letter<W: StageWorker, B: StageBus, D: Delivery>(
    bus: &B,
    msg: &D,
    delivered: u32,
    reason: &str,
    last_error: Option<ErrorType>,
) {
    let stage = W::STAGE;
    let decoded: Option<W::Input> = ticketflow_schemas::decode(msg.payload()).ok();
    let run_id = decoded.as_ref().map(|m| m.run_id().to_string());
    let shard = decoded.as_ref().and_then(|m| m.shard());
    // The letter's id carries the run's redrive generation: without it, a shard redriven and
    // dead again within JetStream's de-duplication window would be dropped as a repeat.
    let redrive = match &run_id {
        Some(run) => bus.progress(run).await.map(|p| p.map_or(0, |p| p.redrives)),
        None => Ok(0),
    };
    let published = match redrive {
        Ok(redrive) => {
            let letter = DeadLetter {
                run_id: run_id.clone(),
                shard,
                stage,
                subject: msg.subject().to_string(),
                deliveries: u64::from(delivered),
                stream_sequence: msg.stream_sequence(),
                redrive,
                reason: reason.to_string(),
                payload: msg.payload().to_vec(),
            };
            // A duplicate is this generation's letter, published before a crash: kept once.
            bus.publish_dead_letter(&letter).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = published {
        // Without the dead letter recorded, keep the message: NAK so it comes back later.
        loop_failed(
            stage,
            "dead_letter",
            e.is_transient(),
            "keeping the message (NAK, back in 30 s)",
            &e,
        );
        let _ = msg.nak(Duration::from_secs(30)).await;
        return;
    }
    if let (Some(run), Some(shard)) = (&run_id, shard) {
        let dead = DeadShard {
            stage,
            reason: reason.to_string(),
        };
        match bus
            .update_progress(run, |p| {
                p.dead.entry(shard).or_insert_with(|| dead.clone());
            })
            .await
        {
            Ok(_) => {
                if let Err(e) = complete_if_final(bus, run).await {
                    loop_failed(
                        stage,
                        "completion",
                        e.is_transient(),
                        "the next shard to finish publishes it",
                        &e,
                    );
                }
            }
            Err(e) => loop_failed(
                stage,
                "dead_shard",
                e.is_transient(),
                "the run will not know this shard is dead until it is redelivered",
                &e,
            ),
        }
    }
    ShardDeadLettered {
        stage: stage.as_str(),
        run_id: run_id.as_deref(),
        shard,
        reason,
        last_error,
    }
    .emit();
    if let Err(e) = msg.term().await {
        loop_failed(stage, "term", true, "JetStream may deliver it again", &*e);
    }
}
