//! The loop every stage worker runs.
//!
//! For each message:
//!
//! 1. Pull **one** message from the stage's durable consumer. Replicas pull independently, so N
//!    replicas share a backlog.
//! 2. Decode it. While the stage works on it, send an in-progress ack every third of the ack
//!    wait, so a long shard is not redelivered to another replica while this one is working.
//! 3. On success:
//!    - publish the downstream message (with a deterministic `Nats-Msg-Id`, so a republish after
//!      a crash is dropped as a duplicate);
//!    - mark the shard done in the run's progress (compare-and-set);
//!    - publish `runs.completed` if this was the last shard;
//!    - acknowledge the message, and only then.
//! 4. On a *transient* failure (a dependency is down: NATS, object store, Chroma), keep the
//!    message and try again in place after 1, 2, 4 … 30 s, for up to the transient hold (5 min
//!    by default). The worker pulls nothing else meanwhile, so an outage causes a few retries,
//!    not a hot loop, and costs the shard no attempts.
//! 5. On any other failure (or when the hold runs out, or on shutdown), NAK with a growing
//!    delay: that is a failed attempt. On the last allowed attempt, publish the message to the
//!    dead-letter stream with the reason, record the shard as dead, and terminate the message. A
//!    dead shard still counts as final, so the run completes, *with errors* that name it;
//!    `ticketflow runs redrive` sends it again once its cause is fixed.
//!
//! Every effect is idempotent (deterministic object keys, upserts keyed by ticket id,
//! de-duplicated publishes, set-based progress), so at-least-once delivery gives
//! effectively-once results.
//!
//! On SIGTERM the loop stops pulling, finishes the shard in hand (or releases one that is
//! waiting out an outage), and returns. A message that is
//! never acknowledged is redelivered after the ack wait, so nothing is lost.
//!
//! The loop is split by concern, each file small enough to read in one sitting:
//!
//! | file | what |
//! | --- | --- |
//! | this one | the loop: pull, decode, attempt, hold, answer |
//! | `worker.rs` | [`StageWorker`], what each stage implements |
//! | [`decision`] | what to do with a delivery, as a pure function (ack, hold, NAK, dead-letter) |
//! | [`bus`] | the narrow trait the loop talks to, and its NATS implementation |
//! | `progress.rs` | the downstream message, the run's progress, the one `runs.completed` |
//! | `dead_letter.rs` | giving up on a message |
//! | `background.rs` | in-progress acks and the backlog gauges |
//! | `span.rs` | the `shard` span a message is handled in |
//! | `shutdown.rs` | [`Shutdown`]; [`StageError`] (transient or not) is `ticketflow_connectors::stage_error`'s, shared with the model lifecycle |
//!
//! [`run_stage`] runs on NATS; [`run_stage_on`] runs on any [`StageBus`], which is how
//! `loop_tests.rs` drives the real loop against an in-memory JetStream under tokio's paused
//! clock: redelivery, backoff, dead-lettering and "the run completes once", with no server.
//!
//! Each message is handled inside its own `shard` span (`run_id`, `shard_id`, `stage`,
//! `tickets`). With tracing on, that span continues the trace whose context the message's
//! headers carry, and everything it publishes carries the span on (see
//! `ticketflow_telemetry::trace_context`).

use std::time::Duration;

use ticketflow_connectors::nats::{Bus, BusError, ConsumerSettings};
use ticketflow_schemas::{Routed, Stage};
use ticketflow_telemetry::internal_events::{
    ErrorType, ShardProcessed, ShardReceived, ShardRetried, StageLoopFailed, WorkerStarted,
};
use tokio::time::Instant;
use tracing::Instrument;

pub use decision::backoff;

/// Runs `worker` on NATS until `shutdown` triggers. Returns the number of messages handled.
pub async fn run_stage<W: StageWorker>(
    bus: Bus,
    settings: ConsumerSettings,
    worker: W,
    shutdown: Shutdown,
) -> Result<u64, BusError> {
    run_stage_on(bus, settings, worker, shutdown).await
}

/// [`run_stage`] on any [`StageBus`]: NATS in production, an in-memory JetStream in tests.
pub async fn run_stage_on<W: StageWorker, B: StageBus>(
    bus: B,
    settings: ConsumerSettings,
    worker: W,
    shutdown: Shutdown,
) -> Result<u64, BusError> {
    let stage = W::STAGE;
    let Some(mut consumer) = open_consumer(&bus, stage, settings, &shutdown).await? else {
        return Ok(0);
    };
    let mut stop = shutdown.subscribe();
    let mut handled = 0_u64;
    let _poller = BacklogPoller::start(bus.clone(), stage);
    WorkerStarted {
        stage: stage.as_str(),
    }
    .emit();
    while !shutdown.is_triggered() {
        let next = tokio::select! {
            next = consumer.next() => next,
            _ = stop.changed() => break,
        };
        match next {
            Ok(None) => continue, // the pull expired with nothing to do
            Err(PullError::Request(e)) => {
                loop_failed(stage, "pull", true, "pulling again in 1 s", &*e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(PullError::Receive(e)) => {
                loop_failed(stage, "receive", true, "pulling again", &*e);
            }
            Ok(Some(msg)) => {
                handle(&bus, settings, &worker, msg, &shutdown).await;
                handled += 1;
            }
        }
    }
    tracing::info!(%stage, handled, "worker stopped");
    Ok(handled)
}

async fn handle<W: StageWorker, B: StageBus, D: Delivery>(
    bus: &B,
    settings: ConsumerSettings,
    worker: &W,
    msg: D,
    shutdown: &Shutdown,
) {
    let delivered = msg.delivered();
    // Messages are pulled one at a time, so the span is made here, per message, and its parent
    // comes from the message's own headers.
    let span = message_span(W::STAGE, delivered);
    ticketflow_telemetry::trace_context::set_parent_from_headers(&span, msg.headers());
    handle_in_span(bus, settings, worker, &msg, delivered, &span, shutdown)
        .instrument(span.clone())
        .await;
}

async fn handle_in_span<W: StageWorker, B: StageBus, D: Delivery>(
    bus: &B,
    settings: ConsumerSettings,
    worker: &W,
    msg: &D,
    delivered: u32,
    span: &tracing::Span,
    shutdown: &Shutdown,
) {
    let stage = W::STAGE;
    let _in_flight = ShardReceived {
        stage: stage.as_str(),
        delivered,
    }
    .emit();
    let started = Instant::now();
    let decoded: Result<W::Input, _> = ticketflow_schemas::decode(msg.payload());
    if let Ok(input) = &decoded {
        span.record("run_id", input.run_id());
        if let Some(shard) = input.shard() {
            span.record("shard_id", i64::from(shard));
        }
    }
    let in_hand = InHand {
        msg,
        delivered,
        started,
        shutdown,
    };

    // A delivery past the limit means earlier attempts crashed or timed out without a verdict.
    if let Some(Decision::DeadLetter(reason)) = decision::on_arrival(delivered, &settings) {
        span.record("otel.status_code", "error");
        dead_letter::<W, B, D>(bus, msg, delivered, &reason, None).await;
        return;
    }

    match decoded {
        Ok(input) => process_one(bus, settings, worker, &in_hand, input).await,
        Err(e) => {
            let error = StageError::permanent(e.to_string());
            fail::<W, B, D>(bus, &in_hand, settings, error).await;
        }
    }
}

/// The delivery in hand: what the retry and dead-letter decisions need to know about it.
struct InHand<'a, D> {
    msg: &'a D,
    /// JetStream's delivery count, 1 the first time.
    delivered: u32,
    /// When it was received (tokio's clock, so tests can pause it).
    started: Instant,
    /// A shard held through a dependency outage is released at once on shutdown.
    shutdown: &'a Shutdown,
}

async fn process_one<W: StageWorker, B: StageBus, D: Delivery>(
    bus: &B,
    settings: ConsumerSettings,
    worker: &W,
    in_hand: &InHand<'_, D>,
    input: W::Input,
) {
    let stage = W::STAGE;
    let (msg, started) = (in_hand.msg, in_hand.started);
    // In-progress acks keep the shard ours while it is processed and while it waits out an
    // outage below.
    let keepalive = keep_alive(msg.in_progress(), settings.ack_wait);
    let mut waits = 0_u32;
    let outcome = loop {
        let attempt = Instant::now();
        let result = match worker.process(&input).await {
            Ok(processed) => progress::finish::<W, B>(bus, &input, processed, started).await,
            Err(e) => Err(e),
        };
        // A dependency is down: keep the shard and try again here, with growing pauses,
        // rather than hand it back (which would burn its attempts, and let the next shard
        // hit the same outage at once).
        let state = DeliveryState {
            delivered: in_hand.delivered,
            held: started.elapsed(),
            waits,
            shutting_down: in_hand.shutdown.is_triggered(),
        };
        let hold = match &result {
            Err(e) => decision::after_attempt(
                Attempt::Failed {
                    transient: e.is_transient(),
                },
                "",
                state,
                &settings,
            ),
            Ok(_) => Decision::Ack,
        };
        match (result, hold) {
            (Err(e), Decision::Hold(pause)) => {
                waits += 1;
                ShardRetried {
                    stage: stage.as_str(),
                    delivered: in_hand.delivered,
                    retry_in: pause,
                    duration: attempt.elapsed(),
                    transient: e.is_transient(),
                    error: &e,
                }
                .emit();
                let mut stop = in_hand.shutdown.subscribe();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
            }
            (other, _) => break other,
        }
    };
    drop(keepalive);
    match outcome {
        Ok(tickets) => {
            tracing::Span::current().record("tickets", i64::from(tickets));
            if let Err(e) = msg.ack().await {
                // The effects are idempotent: a redelivery will redo them harmlessly.
                loop_failed(
                    stage,
                    "ack",
                    true,
                    "the shard may be redelivered (its effects are idempotent)",
                    &*e,
                );
            }
            ShardProcessed {
                stage: stage.as_str(),
                tickets,
                duration: started.elapsed(),
            }
            .emit();
        }
        Err(e) => {
            fail::<W, B, D>(bus, in_hand, settings, e).await;
        }
    }
}

async fn fail<W: StageWorker, B: StageBus, D: Delivery>(
    bus: &B,
    in_hand: &InHand<'_, D>,
    settings: ConsumerSettings,
    error: StageError,
) {
    let (msg, delivered, started) = (in_hand.msg, in_hand.delivered, in_hand.started);
    // The message's span (the caller's) ends in error; a later delivery gets its own span.
    tracing::Span::current().record("otel.status_code", "error");
    // Held as long as allowed (or shutting down): hand it back, or give up.
    let state = DeliveryState {
        delivered,
        held: settings.transient_hold,
        waits: 0,
        shutting_down: true,
    };
    let attempt = Attempt::Failed {
        transient: error.is_transient(),
    };
    let delay = match decision::after_attempt(attempt, &error.to_string(), state, &settings) {
        Decision::DeadLetter(reason) => {
            let last_error = ErrorType::of(error.is_transient());
            dead_letter::<W, B, D>(bus, msg, delivered, &reason, Some(last_error)).await;
            return;
        }
        Decision::Nak(delay) => delay,
        // Not reachable with the state above; a second is the safe choice.
        Decision::Ack | Decision::Hold(_) => Duration::from_secs(1),
    };
    ShardRetried {
        stage: W::STAGE.as_str(),
        delivered,
        retry_in: delay,
        duration: started.elapsed(),
        transient: error.is_transient(),
        error: &error,
    }
    .emit();
    if let Err(e) = msg.nak(delay).await {
        loop_failed(W::STAGE, "nak", true, "the ack wait will redeliver", &*e);
    }
}

/// The stage's consumer, waiting out transient errors (a JetStream meta-leader election times
/// the request out; a worker that exited on it would leave its stage unserved until a restart)
/// with the loop's backoff, until shutdown (`None`). A permanent error (refused credentials,
/// bad settings) is returned at once.
async fn open_consumer<B: StageBus>(
    bus: &B,
    stage: Stage,
    settings: ConsumerSettings,
    shutdown: &Shutdown,
) -> Result<Option<B::Consumer>, BusError> {
    let mut stop = shutdown.subscribe();
    let mut attempt = 0;
    loop {
        match bus.consumer(stage, settings).await {
            Ok(consumer) => return Ok(Some(consumer)),
            Err(e) if e.is_transient() => {
                attempt += 1;
                let pause = decision::backoff(attempt);
                loop_failed(stage, "consumer", true, "trying again", &e);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return Ok(None),
                }
                if shutdown.is_triggered() {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Counts and logs a failure of the loop's own JetStream calls ([`StageLoopFailed`]).
fn loop_failed(
    stage: Stage,
    operation: &str,
    transient: bool,
    recovery: &str,
    error: &(dyn std::error::Error + 'static),
) {
    StageLoopFailed {
        stage: stage.as_str(),
        operation,
        transient,
        recovery,
        error,
    }
    .emit();
}

mod background;
pub mod bus;
mod dead_letter;
pub mod decision;
mod progress;
mod shutdown;
mod span;
mod worker;

use background::{BacklogPoller, keep_alive};
pub use bus::{Delivery, InProgress, PullError, StageBus, StageConsumer};
use dead_letter::dead_letter;
pub use progress::publish_completion_if_due;
pub use shutdown::Shutdown;
use span::message_span;
pub use ticketflow_connectors::stage_error::{ErrorSource, StageError};
pub use worker::{Downstream, Processed, StageWorker};

use decision::{Attempt, Decision, DeliveryState};

#[cfg(test)]
mod loop_tests;
#[cfg(test)]
mod tests;
