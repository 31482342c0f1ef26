//! The few things the stage loop asks of its message bus, as a trait.
//!
//! The loop needs surprisingly little from JetStream:
//!
//! | the loop wants to | trait method | NATS does it with |
//! | --- | --- | --- |
//! | open its stage's durable consumer | [`StageBus::consumer`] | `get_or_create_consumer` |
//! | take the next message, or hear that there is none | [`StageConsumer::next`] | a pull of one message that expires after 5 s |
//! | say "done" | [`Delivery::ack`] | `+ACK`, waiting for the server to confirm |
//! | say "hand it back, try again in N s" | [`Delivery::nak`] | `-NAK {"delay": N}` |
//! | say "still working on it" | [`InProgress::send`] | `+WPI` on the reply subject |
//! | say "never deliver this again" | [`Delivery::term`] | `+TERM` |
//! | send the next stage its message | [`StageBus::publish_downstream`] | publish with `Nats-Msg-Id` |
//! | ask whether a shard was counted before | [`StageBus::shard_finishes`] | KV get of the shard's record |
//! | count the shard in the run's progress | [`StageBus::update_progress`] | KV compare-and-set |
//! | record the shard's finish | [`StageBus::record_finish`] | KV compare-and-set of the shard's record |
//! | check every shard really is final | [`StageBus::finished_shards`] | one ordered consumer over the shard records |
//! | announce the run complete | [`StageBus::publish_completion`] | publish `runs.completed` |
//! | give up on a message | [`StageBus::publish_dead_letter`] | publish on `tf.dlq.<stage>` |
//! | report its backlog | [`StageBus::consumer_backlog`] | consumer info |
//!
//! Keeping the list this short is the point. Everything the loop *decides* (ack, hold, NAK,
//! dead-letter) is a pure function in [`super::decision`]; everything it *does* goes through
//! these traits. So the loop can be run against an in-memory JetStream (`bus/fake.rs`, tests
//! only) under tokio's paused clock, where a five-minute outage takes microseconds and every
//! delay can be asserted to the millisecond. The NATS implementation (`bus/nats.rs`) is a thin
//! adapter over [`Bus`](ticketflow_connectors::nats::Bus) and
//! [`async_nats::jetstream::Message`], with no logic of its own.
//!
//! The methods return `impl Future + Send`, the same style as
//! [`StageWorker`](super::StageWorker): no boxing, no `async-trait`, and a loop generic over
//! the bus is still a future that can be spawned.

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use ticketflow_connectors::nats::{BusError, ConsumerSettings, Published};
use ticketflow_schemas::{DeadLetter, RunCompleted, RunProgress, Stage};

use super::ErrorSource;

/// A message bus a stage can run on: JetStream in production, an in-memory fake in tests.
///
/// Cloned into the backlog poller, hence `Clone + 'static`.
pub trait StageBus: Clone + Send + Sync + 'static {
    type Consumer: StageConsumer;

    /// The stage's durable consumer: every replica of a stage pulls from the same one, so they
    /// share its backlog.
    fn consumer(
        &self,
        stage: Stage,
        settings: ConsumerSettings,
    ) -> impl Future<Output = Result<Self::Consumer, BusError>> + Send;

    /// Publishes the next stage's message under `msg_id`. A message id seen before is dropped
    /// as a duplicate ([`Published::duplicate`]) rather than stored twice.
    fn publish_downstream(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: &str,
    ) -> impl Future<Output = Result<Published, BusError>> + Send;

    /// Publishes `runs.completed` under its own message id, so two replicas that both see the
    /// run complete store it once.
    fn publish_completion(
        &self,
        event: &RunCompleted,
    ) -> impl Future<Output = Result<Published, BusError>> + Send;

    /// Publishes `letter` on its stage's dead-letter subject under its own message id.
    fn publish_dead_letter(
        &self,
        letter: &DeadLetter,
    ) -> impl Future<Output = Result<Published, BusError>> + Send;

    /// The run's progress record, if the run exists.
    fn progress(
        &self,
        run_id: &str,
    ) -> impl Future<Output = Result<Option<RunProgress>, BusError>> + Send;

    /// Applies `change` to the run's progress with compare-and-set, retrying when another
    /// replica wrote in between; returns what `change` returned on the attempt that was stored,
    /// and the record as stored. `change` may run several times, so it must only compute from
    /// the record it is given.
    fn update_progress<R, F>(
        &self,
        run_id: &str,
        change: F,
    ) -> impl Future<Output = Result<(R, RunProgress), BusError>> + Send
    where
        R: Send,
        F: FnMut(&mut RunProgress) -> R + Send;

    /// How many times `stage` has finished `shard`, by the shard's own record (0: never; the
    /// shard is not counted in the run's progress yet).
    fn shard_finishes(
        &self,
        run_id: &str,
        shard: u32,
        stage: Stage,
    ) -> impl Future<Output = Result<u32, BusError>> + Send;

    /// The shards `stage` has finished, by their own records: a scan, O(shards), made when the
    /// run's counters say it is complete, to verify it.
    fn finished_shards(
        &self,
        run_id: &str,
        stage: Stage,
    ) -> impl Future<Output = Result<Vec<u32>, BusError>> + Send;

    /// Counts one more finish of `stage` on `shard` in the shard's own record; returns the
    /// count (1 unless the shard was done before: a redelivery, two replicas).
    fn record_finish(
        &self,
        run_id: &str,
        shard: u32,
        stage: Stage,
    ) -> impl Future<Output = Result<u32, BusError>> + Send;

    /// The stage consumer's `(pending, ack_pending)`, for the backlog gauges.
    fn consumer_backlog(
        &self,
        stage: Stage,
    ) -> impl Future<Output = Result<(u64, u64), BusError>> + Send;
}

/// A stage's durable consumer, pulled one message at a time.
pub trait StageConsumer: Send + 'static {
    type Delivery: Delivery;

    /// The next message, or `None` when the pull expired with nothing to do (the loop then
    /// checks for shutdown and pulls again).
    fn next(&mut self) -> impl Future<Output = Result<Option<Self::Delivery>, PullError>> + Send;
}

/// Why a pull gave nothing.
#[derive(Debug)]
pub enum PullError {
    /// The pull request itself failed (the server is unreachable): the loop waits a second.
    Request(ErrorSource),
    /// The request went out but receiving failed: the loop pulls again at once.
    Receive(ErrorSource),
}

/// One delivery of a message: what it says, and how to answer it.
///
/// Answers are sent at most once per delivery, and the loop never sends two; a real server
/// ignores an answer to a message that is no longer pending.
pub trait Delivery: Send + Sync + 'static {
    type InProgress: InProgress;

    /// The encoded message.
    fn payload(&self) -> &[u8];
    /// The subject it was published on (what a redrive publishes it back to).
    fn subject(&self) -> &str;
    /// How many times it has been delivered, this time included: 1 the first time.
    fn delivered(&self) -> u32;
    /// Its sequence in the stream, which names a message whose payload does not decode.
    fn stream_sequence(&self) -> u64;
    /// Headers, for the trace context the publisher put there.
    fn headers(&self) -> Option<&HeaderMap>;

    /// Done: never deliver it again. Returns once the server has confirmed.
    fn ack(&self) -> impl Future<Output = Result<(), ErrorSource>> + Send;
    /// Hand it back: deliver it again (to any replica) after `delay`.
    fn nak(&self, delay: Duration) -> impl Future<Output = Result<(), ErrorSource>> + Send;
    /// Given up on: never deliver it again, although it was not processed.
    fn term(&self) -> impl Future<Output = Result<(), ErrorSource>> + Send;
    /// A handle that says "still working on it", which restarts the ack wait. Owned, so a
    /// background task can send it while the loop works; `None` when the delivery cannot take
    /// one (a message without a reply subject).
    fn in_progress(&self) -> Option<Self::InProgress>;
}

/// Sends "still working on it" for one delivery (see [`Delivery::in_progress`]).
pub trait InProgress: Send + 'static {
    fn send(&self) -> impl Future<Output = Result<(), ErrorSource>> + Send;
}

#[cfg(test)]
pub(super) mod fake;
mod nats;
