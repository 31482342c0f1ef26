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
//! Each message is handled inside its own `shard` span (`run_id`, `shard_id`, `stage`,
//! `tickets`). With tracing on, that span continues the trace whose context the message's
//! headers carry, and everything it publishes carries the span on (see
//! `ticketflow_telemetry::trace_context`).

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::jetstream::{AckKind, Message as JsMessage};
use bytes::Bytes;
use futures::StreamExt;
use ticketflow_connectors::nats::{Bus, BusError, ConsumerSettings};
use ticketflow_schemas::{ReuseCounts, Routed, RunCompleted, Stage};
use ticketflow_telemetry::internal_events::{
    ConsumerBacklog, ShardProcessed, ShardReceived, ShardRetried, StageLoopFailed, WorkerStarted,
};
use tracing::Instrument;

use crate::now_ms;

/// What a stage made of one message.
#[derive(Debug)]
pub struct Processed {
    /// Tickets in the shard, for progress and logs.
    pub tickets: u32,
    /// The message for the next stage, if there is one.
    pub downstream: Option<Downstream>,
    /// Work saved or done on the shard (vectors reused, records left alone), added to the run's
    /// progress once per shard.
    pub counts: ReuseCounts,
}

/// The next stage's message, encoded, with the subject and message id it names itself
/// (see [`ticketflow_schemas::topology`]).
#[derive(Debug)]
pub struct Downstream {
    pub subject: &'static str,
    pub payload: Bytes,
    pub msg_id: String,
}

impl Downstream {
    pub fn new<T: Routed>(msg: &T) -> Result<Self, StageError> {
        let payload =
            ticketflow_schemas::encode(msg).map_err(|e| StageError::permanent(e.to_string()))?;
        Ok(Self {
            subject: msg.subject(),
            payload: Bytes::from(payload),
            msg_id: msg.msg_id(),
        })
    }
}

/// One stage's work on one message. The input names its run and (per-shard messages) its
/// shard through [`Routed`], which is all the loop needs to keep the run's progress.
pub trait StageWorker: Send + Sync + 'static {
    const STAGE: Stage;
    type Input: Routed + Send + 'static;

    /// The precision of the vectors `input` carries, when it carries vectors; recorded in the
    /// run's progress so the model card can say what its features came from.
    fn embedding_precision(_input: &Self::Input) -> Option<&str> {
        None
    }

    fn process(
        &self,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Processed, StageError>> + Send;
}

pub use decision::backoff;

/// Runs `worker` until `shutdown` triggers. Returns the number of messages handled.
pub async fn run_stage<W: StageWorker>(
    bus: Bus,
    settings: ConsumerSettings,
    worker: W,
    shutdown: Shutdown,
) -> Result<u64, BusError> {
    let stage = W::STAGE;
    let consumer = bus.consumer(stage, settings).await?;
    let mut stop = shutdown.subscribe();
    let mut handled = 0_u64;
    let _poller = BacklogPoller::start(bus.clone(), stage);
    WorkerStarted {
        stage: stage.as_str(),
    }
    .emit();
    while !shutdown.is_triggered() {
        let batch = consumer
            .batch()
            .max_messages(1)
            .expires(Duration::from_secs(5))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                loop_failed(stage, "pull", true, "pulling again in 1 s", &e);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let next = tokio::select! {
            next = batch.next() => next,
            _ = stop.changed() => break,
        };
        match next {
            None => continue, // the pull expired with nothing to do
            Some(Err(e)) => {
                loop_failed(stage, "receive", true, "pulling again", &*e);
                continue;
            }
            Some(Ok(msg)) => {
                handle(&bus, settings, &worker, msg, &shutdown).await;
                handled += 1;
            }
        }
    }
    tracing::info!(%stage, handled, "worker stopped");
    Ok(handled)
}

/// The span of one message's handling. Every log line of it carries the run, the shard and the
/// stage; with tracing on it is a child of the span that published the message (the
/// coordinator's run, the previous stage's shard, or the last indexer's shard for the
/// trainer), so a run is one trace.
///
/// Counts are recorded as `i64`: tracing-opentelemetry exports unsigned integers as strings.
fn message_span(stage: Stage, delivered: u32) -> tracing::Span {
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

async fn handle<W: StageWorker>(
    bus: &Bus,
    settings: ConsumerSettings,
    worker: &W,
    msg: JsMessage,
    shutdown: &Shutdown,
) {
    let delivered = msg
        .info()
        .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
        .unwrap_or(1);
    // Messages are pulled one at a time, so the span is made here, per message, and its parent
    // comes from the message's own headers.
    let span = message_span(W::STAGE, delivered);
    ticketflow_telemetry::trace_context::set_parent_from_headers(&span, msg.headers.as_ref());
    handle_in_span(bus, settings, worker, &msg, delivered, &span, shutdown)
        .instrument(span.clone())
        .await;
}

async fn handle_in_span<W: StageWorker>(
    bus: &Bus,
    settings: ConsumerSettings,
    worker: &W,
    msg: &JsMessage,
    delivered: u32,
    span: &tracing::Span,
    shutdown: &Shutdown,
) {
    let stage = W::STAGE;
    let subject = msg.subject.to_string();
    let _in_flight = ShardReceived {
        stage: stage.as_str(),
        delivered,
    }
    .emit();
    let started = Instant::now();
    let decoded: Result<W::Input, _> = ticketflow_schemas::decode(&msg.payload);
    if let Ok(input) = &decoded {
        span.record("run_id", input.run_id());
        if let Some(shard) = input.shard() {
            span.record("shard_id", i64::from(shard));
        }
    }
    let delivery = Delivery {
        msg,
        subject: &subject,
        delivered,
        started,
        shutdown,
    };

    // A delivery past the limit means earlier attempts crashed or timed out without a verdict.
    if let Some(Decision::DeadLetter(reason)) = decision::on_arrival(delivered, &settings) {
        span.record("otel.status_code", "error");
        dead_letter::<W>(bus, msg, &subject, delivered, &reason).await;
        return;
    }

    match decoded {
        Ok(input) => process_one(bus, settings, worker, &delivery, input).await,
        Err(e) => {
            let error = StageError::permanent(e.to_string());
            fail::<W>(bus, &delivery, settings, error).await;
        }
    }
}

/// One delivery of a message: what the retry and dead-letter decisions need to know about it.
#[derive(Clone, Copy)]
struct Delivery<'a> {
    msg: &'a JsMessage,
    subject: &'a str,
    /// JetStream's delivery count, 1 the first time.
    delivered: u32,
    started: Instant,
    /// A shard held through a dependency outage is released at once on shutdown.
    shutdown: &'a Shutdown,
}

async fn process_one<W: StageWorker>(
    bus: &Bus,
    settings: ConsumerSettings,
    worker: &W,
    delivery: &Delivery<'_>,
    input: W::Input,
) {
    let stage = W::STAGE;
    let (msg, started) = (delivery.msg, delivery.started);
    // In-progress acks keep the shard ours while it is processed and while it waits out an
    // outage below.
    let keepalive = keep_alive(msg, settings.ack_wait);
    let mut waits = 0_u32;
    let outcome = loop {
        let attempt = Instant::now();
        let result = match worker.process(&input).await {
            Ok(processed) => finish::<W>(bus, &input, stage, processed, started).await,
            Err(e) => Err(e),
        };
        // A dependency is down: keep the shard and try again here, with growing pauses,
        // rather than hand it back (which would burn its attempts, and let the next shard
        // hit the same outage at once).
        let state = DeliveryState {
            delivered: delivery.delivered,
            held: started.elapsed(),
            waits,
            shutting_down: delivery.shutdown.is_triggered(),
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
                    delivered: delivery.delivered,
                    retry_in: pause,
                    duration: attempt.elapsed(),
                    error: &e,
                }
                .emit();
                let mut stop = delivery.shutdown.subscribe();
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
            if let Err(e) = msg.double_ack().await {
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
            fail::<W>(bus, delivery, settings, e).await;
        }
    }
}

async fn finish<W: StageWorker>(
    bus: &Bus,
    input: &W::Input,
    stage: Stage,
    processed: Processed,
    started: Instant,
) -> Result<u32, StageError> {
    if let Some(down) = &processed.downstream {
        // A duplicate is this shard's output published before a crash or a retry: expected.
        let _ = bus
            .publish_bytes(down.subject, down.payload.clone(), &down.msg_id, None)
            .await?;
    }
    if let Some(shard) = input.shard() {
        let busy = started.elapsed().as_millis() as u64;
        let tickets = u64::from(processed.tickets);
        let (_, progress) = bus
            .update_progress(input.run_id(), |p| {
                *p.finishes
                    .entry(stage)
                    .or_default()
                    .entry(shard)
                    .or_default() += 1;
                let newly = p.done_set_mut(stage).is_some_and(|set| set.insert(shard));
                if newly {
                    p.add_busy_ms(stage, busy);
                    if stage == Stage::Indexer {
                        p.tickets_indexed += tickets;
                    }
                    p.reuse.add(&processed.counts);
                    if let Some(precision) = W::embedding_precision(input) {
                        p.embedding_precisions.insert(precision.to_string());
                    }
                }
                mark_completed_if_final(p);
            })
            .await?;
        publish_completion_if_due(bus, &progress).await?;
    }
    Ok(processed.tickets)
}

fn mark_completed_if_final(p: &mut ticketflow_schemas::RunProgress) {
    if p.completed_at_ms.is_none() && p.all_shards_final() {
        p.completed_at_ms = Some(now_ms());
    }
}

/// Publishes `runs.completed` when every shard is final and nobody has confirmed publishing it
/// yet. Several replicas may get here at once; the fixed message id lets JetStream keep one.
pub async fn publish_completion_if_due(
    bus: &Bus,
    progress: &ticketflow_schemas::RunProgress,
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
    let _ = bus.publish_routed(&event, None).await?;
    bus.update_progress(&progress.run_id, |p| p.completion_published = true)
        .await?;
    tracing::info!(
        run_id = %progress.run_id,
        dead = event.dead_shards.len(),
        "run complete: published runs.completed"
    );
    Ok(())
}

/// Sends in-progress acks until dropped.
fn keep_alive(msg: &JsMessage, ack_wait: Duration) -> KeepAlive {
    let period = (ack_wait / 3).max(Duration::from_millis(200));
    let ack_subject = msg.reply.clone();
    let client = msg.context.client();
    let handle = tokio::spawn(async move {
        let Some(reply) = ack_subject else { return };
        let mut tick = tokio::time::interval(period);
        tick.tick().await; // the first tick fires at once
        loop {
            tick.tick().await;
            if client
                .publish(reply.clone(), Bytes::from(AckKind::Progress))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    KeepAlive(handle)
}

struct KeepAlive(tokio::task::JoinHandle<()>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn fail<W: StageWorker>(
    bus: &Bus,
    delivery: &Delivery<'_>,
    settings: ConsumerSettings,
    error: StageError,
) {
    let Delivery {
        msg,
        subject,
        delivered,
        started,
        ..
    } = *delivery;
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
            dead_letter::<W>(bus, msg, subject, delivered, &reason).await;
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
        error: &error,
    }
    .emit();
    if let Err(e) = msg.ack_with(AckKind::Nak(Some(delay))).await {
        loop_failed(W::STAGE, "nak", true, "the ack wait will redeliver", &*e);
    }
}

/// Polls the stage consumer's backlog into the `ticketflow_consumer_*` gauges every few
/// seconds, for dashboards and the backlog alerts (and what KEDA scales the embedder on).
struct BacklogPoller(tokio::task::JoinHandle<()>);

impl BacklogPoller {
    const PERIOD: Duration = Duration::from_secs(5);

    fn start(bus: Bus, stage: Stage) -> Self {
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Self::PERIOD);
            loop {
                tick.tick().await;
                match bus.consumer_backlog(stage).await {
                    Ok((pending, ack_pending)) => ConsumerBacklog {
                        stage: stage.as_str(),
                        pending,
                        ack_pending,
                    }
                    .emit(),
                    Err(e) => tracing::debug!(%stage, error = %e, "backlog poll failed"),
                }
            }
        }))
    }
}

impl Drop for BacklogPoller {
    fn drop(&mut self) {
        self.0.abort();
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

mod dead_letter;
pub mod decision;
mod error;
mod shutdown;

use dead_letter::dead_letter;
pub use error::{ErrorSource, StageError};
pub use shutdown::Shutdown;

use decision::{Attempt, Decision, DeliveryState};

#[cfg(test)]
mod tests;
