//! `ticketflow runs redrive RUN`: after an operator fixed what killed a run's dead shards (a
//! corrupt shard file, a bug, a dependency that was down for too long), send them through the
//! pipeline again.
//!
//! For each dead shard of the run, the dead-letter stream still holds the original message and
//! the subject it came from. Redrive, in this order:
//!
//! 1. bumps the run's redrive generation and moves the shards from `dead` to `redriving` (so
//!    the run is running again, and a completion published by a fast worker cannot be lost);
//! 2. publishes each original message back to its subject, under a message id that carries the
//!    generation (JetStream would otherwise drop it as a duplicate of the first attempt);
//! 3. takes the published shards out of `redriving`;
//! 4. deletes those dead letters.
//!
//! A redrive cut short between 1 and 3 (a crash, a lost connection) leaves its shards in
//! `redriving`, never nowhere: the next `runs redrive` sends them again under the same
//! generation, and JetStream's de-duplication drops a message that did go out.
//!
//! When the redriven shards finish, the run completes again with a new `runs.completed`, and the
//! trainer records a new result. A shard whose dead letter is gone (expired) stays dead.

use bytes::Bytes;
use ticketflow_connectors::nats::{Bus, BusError, DEAD_LETTER_STREAM};
use ticketflow_schemas::topology::redrive_msg_id;
use ticketflow_schemas::{DeadLetter, DeadShard, Stage};

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("run {0} not found")]
    RunNotFound(String),
    #[error("reading the dead-letter stream: {0}")]
    DeadLetters(String),
    /// Only from a test's fail point: the redrive stopped after taking its shards out of
    /// `dead`; running it again sends them.
    #[error("redrive interrupted after taking the shards out of dead; run it again")]
    Interrupted,
}

/// What a redrive did.
#[derive(Debug, Default)]
pub struct RedriveOutcome {
    /// Shards sent again, with the stage that had given up on them.
    pub redriven: Vec<(u32, Stage)>,
    /// Dead shards without a dead letter (expired from the stream): still dead.
    pub missing: Vec<u32>,
    pub generation: u32,
}

struct Letter {
    seq: u64,
    shard: u32,
    letter: DeadLetter,
}

pub async fn redrive(bus: &Bus, run_id: &str) -> Result<RedriveOutcome, RedriveError> {
    let progress = bus
        .progress(run_id)
        .await?
        .ok_or_else(|| RedriveError::RunNotFound(run_id.to_string()))?;
    if progress.dead.is_empty() && progress.redriving.is_empty() {
        return Ok(RedriveOutcome {
            generation: progress.redrives,
            ..Default::default()
        });
    }
    // Shards an earlier redrive took out of `dead` without knowing they were sent, then the
    // dead ones.
    let mut wanted = progress.redriving.clone();
    wanted.extend(progress.dead.clone());
    let letters = dead_letters_of(bus, run_id, &wanted).await?;
    let missing: Vec<u32> = progress
        .dead
        .keys()
        .copied()
        .filter(|s| !letters.iter().any(|l| l.shard == *s))
        .collect();
    if letters.is_empty() {
        return Ok(RedriveOutcome {
            missing,
            generation: progress.redrives,
            ..Default::default()
        });
    }

    // 1. Out of `dead`, into `redriving` and a new generation: the run is running again. A
    //    redrive that only resumes an interrupted one keeps its generation (same message ids).
    let shards: Vec<u32> = letters.iter().map(|l| l.shard).collect();
    let ((), updated) = bus
        .update_progress(run_id, |p| {
            let newly_dead: Vec<u32> = shards
                .iter()
                .copied()
                .filter(|s| p.dead.contains_key(s))
                .collect();
            if newly_dead.is_empty() {
                return;
            }
            p.redrives += 1;
            for s in newly_dead {
                if let Some(d) = p.dead.remove(&s) {
                    p.redriving.insert(s, d);
                }
            }
            p.completed_at_ms = None;
            p.completion_published = false;
            p.trained_at_ms = None;
        })
        .await?;
    let generation = updated.redrives;
    // Tests cut a redrive short here, where a crash leaves shards neither dead nor sent.
    fail::fail_point!("redrive::shards_taken", |_| Err(RedriveError::Interrupted));

    // 2. The original messages, back to their subjects.
    let mut redriven = Vec::new();
    for l in &letters {
        let stage = l.letter.stage;
        let msg_id = redrive_msg_id(run_id, stage, l.shard, generation);
        // A duplicate is a message an interrupted redrive of this generation did send.
        let published = bus
            .publish_bytes(
                &l.letter.subject,
                Bytes::from(l.letter.payload.clone()),
                &msg_id,
                None,
            )
            .await;
        if let Err(e) = published {
            // Put back what was not sent, so the run says why it is incomplete.
            let _ = bus
                .update_progress(run_id, |p| {
                    let unsent: Vec<u32> = p
                        .redriving
                        .keys()
                        .copied()
                        .filter(|s| !redriven.iter().any(|(r, _)| r == s))
                        .collect();
                    for s in unsent {
                        if let Some(d) = p.redriving.remove(&s) {
                            p.dead.insert(s, d);
                        }
                    }
                })
                .await;
            return Err(e.into());
        }
        tracing::info!(run_id, shard = l.shard, %stage, "shard re-driven");
        redriven.push((l.shard, stage));
    }

    // 3. Sent: no longer in between.
    bus.update_progress(run_id, |p| {
        for (s, _) in &redriven {
            p.redriving.remove(s);
        }
    })
    .await?;

    // 4. The letters are handled; a failed delete only leaves history behind.
    if let Ok(stream) = bus.jetstream().get_stream(DEAD_LETTER_STREAM).await {
        for l in &letters {
            if let Err(e) = stream.delete_message(l.seq).await {
                tracing::warn!(seq = l.seq, error = %e, "could not delete a re-driven dead letter");
            }
        }
    }
    Ok(RedriveOutcome {
        redriven,
        missing,
        generation,
    })
}

/// The newest dead letter of each dead shard of `run_id`.
async fn dead_letters_of(
    bus: &Bus,
    run_id: &str,
    dead: &std::collections::BTreeMap<u32, DeadShard>,
) -> Result<Vec<Letter>, RedriveError> {
    let err = |e: String| RedriveError::DeadLetters(e);
    let mut stream = bus
        .jetstream()
        .get_stream(DEAD_LETTER_STREAM)
        .await
        .map_err(|e| err(e.to_string()))?;
    let info = stream.info().await.map_err(|e| err(e.to_string()))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut found: Vec<Letter> = Vec::new();
    if info.state.messages == 0 {
        return Ok(found);
    }
    for seq in first..=last {
        // Deleted sequences answer "not found": skip them.
        let Ok(raw) = stream.get_raw_message(seq).await else {
            continue;
        };
        let Ok(letter) = ticketflow_schemas::decode::<DeadLetter>(&raw.payload) else {
            continue;
        };
        let (Some(run), Some(shard)) = (&letter.run_id, letter.shard) else {
            continue;
        };
        if run != run_id || !dead.contains_key(&shard) {
            continue;
        }
        found.retain(|l| l.shard != shard);
        found.push(Letter { seq, shard, letter });
    }
    Ok(found)
}
