//! [`StageBus`] on NATS JetStream: each method is one call to [`Bus`] or to the message.
//!
//! Nothing here decides anything; if a line grows an `if`, it belongs in the loop.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{AckKind, Message as JsMessage};
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::StreamExt;
use ticketflow_connectors::nats::{Bus, BusError, ConsumerSettings, Published};
use ticketflow_schemas::{DeadLetter, RunCompleted, RunProgress, Stage};

use super::{Delivery, InProgress, PullError, StageBus, StageConsumer};
use crate::stage_loop::ErrorSource;

/// How long one pull waits for a message before coming back empty, so the loop notices a
/// shutdown between pulls.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

impl StageBus for Bus {
    type Consumer = PullConsumer;

    async fn consumer(
        &self,
        stage: Stage,
        settings: ConsumerSettings,
    ) -> Result<PullConsumer, BusError> {
        Bus::consumer(self, stage, settings).await
    }

    async fn publish_downstream(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: &str,
    ) -> Result<Published, BusError> {
        self.publish_bytes(subject, payload, msg_id, None).await
    }

    async fn publish_completion(&self, event: &RunCompleted) -> Result<Published, BusError> {
        self.publish_routed(event, None).await
    }

    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<Published, BusError> {
        self.publish(letter.subject(), letter, &letter.msg_id(), None)
            .await
    }

    async fn progress(&self, run_id: &str) -> Result<Option<RunProgress>, BusError> {
        Bus::progress(self, run_id).await
    }

    async fn update_progress<R, F>(
        &self,
        run_id: &str,
        change: F,
    ) -> Result<(R, RunProgress), BusError>
    where
        R: Send,
        F: FnMut(&mut RunProgress) -> R + Send,
    {
        Bus::update_progress(self, run_id, change).await
    }

    async fn shard_finishes(
        &self,
        run_id: &str,
        shard: u32,
        stage: Stage,
    ) -> Result<u32, BusError> {
        let record = self.shard_record(run_id, shard).await?;
        Ok(record.map_or(0, |r| r.finishes_of(stage)))
    }

    async fn finished_shards(&self, run_id: &str, stage: Stage) -> Result<Vec<u32>, BusError> {
        Bus::finished_shards(self, run_id, stage).await
    }

    async fn record_finish(&self, run_id: &str, shard: u32, stage: Stage) -> Result<u32, BusError> {
        Bus::record_finish(self, run_id, shard, stage).await
    }

    async fn consumer_backlog(&self, stage: Stage) -> Result<(u64, u64), BusError> {
        Bus::consumer_backlog(self, stage).await
    }
}

impl StageConsumer for PullConsumer {
    type Delivery = JsMessage;

    /// One message per pull: replicas share the backlog instead of one buffering it.
    async fn next(&mut self) -> Result<Option<JsMessage>, PullError> {
        let mut batch = self
            .batch()
            .max_messages(1)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| PullError::Request(Box::new(e)))?;
        match batch.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(PullError::Receive(e)),
            Some(Ok(msg)) => Ok(Some(msg)),
        }
    }
}

impl Delivery for JsMessage {
    type InProgress = ProgressAck;

    fn payload(&self) -> &[u8] {
        &self.message.payload
    }

    fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    fn delivered(&self) -> u32 {
        self.info()
            .map(|i| u32::try_from(i.delivered).unwrap_or(u32::MAX))
            .unwrap_or(1)
    }

    fn stream_sequence(&self) -> u64 {
        self.info().map(|i| i.stream_sequence).unwrap_or(0)
    }

    fn headers(&self) -> Option<&HeaderMap> {
        self.message.headers.as_ref()
    }

    async fn ack(&self) -> Result<(), ErrorSource> {
        self.double_ack().await
    }

    async fn nak(&self, delay: Duration) -> Result<(), ErrorSource> {
        self.ack_with(AckKind::Nak(Some(delay))).await
    }

    async fn term(&self) -> Result<(), ErrorSource> {
        self.ack_with(AckKind::Term).await
    }

    fn in_progress(&self) -> Option<ProgressAck> {
        let reply = self.message.reply.clone()?;
        Some(ProgressAck {
            client: self.context.client(),
            reply,
        })
    }
}

/// `+WPI` on the message's reply subject, sent with a client of its own (no borrow of the
/// message), so the keep-alive task can outlive a borrow.
pub struct ProgressAck {
    client: Client,
    reply: Subject,
}

impl InProgress for ProgressAck {
    async fn send(&self) -> Result<(), ErrorSource> {
        self.client
            .publish(self.reply.clone(), Bytes::from(AckKind::Progress))
            .await
            .map_err(|e| Box::new(e) as ErrorSource)
    }
}
