//! The consumer side of [`FakeBus`]: pulls that wait for a message to be due, and the answers
//! (ack, NAK, in-progress, term) that move it on.

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use tokio::time::Instant;

use super::{FakeBus, Kind};
use crate::stage_loop::ErrorSource;
use crate::stage_loop::bus::{Delivery, InProgress, PullError, StageConsumer};

/// How long a pull waits before coming back empty, as on NATS.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The stage's consumer on a [`FakeBus`].
pub struct FakeConsumer {
    pub(super) bus: FakeBus,
}

impl StageConsumer for FakeConsumer {
    type Delivery = FakeDelivery;

    /// The first message due, waiting up to [`PULL_EXPIRES`] for one (as a NATS pull does).
    async fn next(&mut self) -> Result<Option<FakeDelivery>, PullError> {
        let expires = Instant::now() + PULL_EXPIRES;
        loop {
            // Made before looking, so a change between the look and the wait still wakes us.
            let changed = self.bus.changed.notified();
            let next_due = match self.bus.take_due() {
                Ok(delivery) => return Ok(Some(delivery)),
                Err(next_due) => next_due,
            };
            if Instant::now() >= expires {
                return Ok(None);
            }
            let wake = next_due.map_or(expires, |at| at.min(expires));
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// One delivery from a [`FakeBus`].
pub struct FakeDelivery {
    pub(super) bus: FakeBus,
    pub(super) seq: u64,
    pub(super) delivered: u32,
    pub(super) subject: String,
    pub(super) payload: Bytes,
}

impl Delivery for FakeDelivery {
    type InProgress = FakeProgress;

    fn payload(&self) -> &[u8] {
        &self.payload
    }

    fn subject(&self) -> &str {
        &self.subject
    }

    fn delivered(&self) -> u32 {
        self.delivered
    }

    fn stream_sequence(&self) -> u64 {
        self.seq
    }

    fn headers(&self) -> Option<&HeaderMap> {
        None
    }

    async fn ack(&self) -> Result<(), ErrorSource> {
        if self.bus.lock().lose_ack.remove(&self.seq) {
            return Err("ack lost: no reply from the server (fake)".into());
        }
        self.bus.answer(self.seq, Kind::Acked);
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<(), ErrorSource> {
        self.bus.answer(self.seq, Kind::Nak(delay));
        Ok(())
    }

    async fn term(&self) -> Result<(), ErrorSource> {
        self.bus.answer(self.seq, Kind::Term);
        Ok(())
    }

    fn in_progress(&self) -> Option<FakeProgress> {
        Some(FakeProgress {
            bus: self.bus.clone(),
            seq: self.seq,
        })
    }
}

/// In-progress acks for one delivery from a [`FakeBus`].
pub struct FakeProgress {
    bus: FakeBus,
    seq: u64,
}

impl InProgress for FakeProgress {
    async fn send(&self) -> Result<(), ErrorSource> {
        self.bus.answer(self.seq, Kind::Progress);
        Ok(())
    }
}
