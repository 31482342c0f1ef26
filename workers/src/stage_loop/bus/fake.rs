//! An in-memory JetStream, just faithful enough for the stage loop's tests.
//!
//! It models what the loop relies on, and nothing else:
//!
//! - **A work queue with a delivery counter.** Each message is ready, in flight, acked or
//!   terminated. Pulling one marks it in flight and counts a delivery, as JetStream's
//!   `delivered` does; after `max_attempts + 1` deliveries it is not delivered again (the
//!   consumer's `max_deliver`).
//! - **NAK with a delay** makes the message ready again after the delay; **ack wait**
//!   redelivers a message in flight that nobody answered for `ack_wait`, and an in-progress ack
//!   restarts that clock.
//! - **Message-id de-duplication**: a publish whose `Nats-Msg-Id` was seen before is reported
//!   as a duplicate and not stored.
//! - **Progress with compare-and-set**: every record has a revision; an update that read an old
//!   revision retries, so two loops on one fake really race.
//!
//! All of it runs on tokio's clock (`tokio::time::Instant`, `sleep_until`), so under
//! `#[tokio::test(start_paused = true)]` a 30 s NAK delay passes as soon as every task is
//! idle, and the [`Event`] log records *when* things happened exactly. Two loops can share
//! one fake: it is a cloneable handle on shared state.
//!
//! Faults are injected by name: [`FakeBus::lose_next_ack`] (the ack never reaches the server),
//! [`FakeBus::push_redelivered`] (a message whose earlier deliveries all crashed).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use ticketflow_connectors::nats::{BusError, ConsumerSettings, Published};
use ticketflow_schemas::{DeadLetter, Routed, RunCompleted, RunProgress, Stage};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::StageBus;

/// What happened to a message, and when (time since the fake was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Delivered for the n-th time.
    Delivered(u32),
    Acked,
    Nak(Duration),
    Progress,
    Term,
}

/// A publish as the stream saw it.
#[derive(Debug, Clone)]
pub struct Publish {
    pub subject: String,
    pub msg_id: String,
    pub payload: Bytes,
    /// Dropped by de-duplication.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready(Instant),
    InFlight { deadline: Instant },
    Acked,
    Termed,
}

struct Queued {
    subject: String,
    payload: Bytes,
    delivered: u32,
    state: State,
}

struct Inner {
    start: Instant,
    settings: ConsumerSettings,
    /// The stage's stream, by sequence (from 1).
    queue: BTreeMap<u64, Queued>,
    published: Vec<Publish>,
    ids: HashSet<String>,
    /// Run id -> (revision, record).
    progress: BTreeMap<String, (u64, RunProgress)>,
    /// Finishes per (run, shard, stage): the shard records.
    finishes: BTreeMap<(String, u32, Stage), u32>,
    /// Updates that changed `completed_at_ms`.
    completion_stamps: u32,
    events: Vec<Event>,
    lose_ack: HashSet<u64>,
    /// Consumer requests still to fail (transiently) before one succeeds.
    consumer_failures: u32,
}

impl Inner {
    fn log(&mut self, seq: u64, kind: Kind) {
        let at = Instant::now() - self.start;
        self.events.push(Event { at, seq, kind });
    }

    fn deliverable(&self, q: &Queued) -> bool {
        q.delivered <= self.settings.max_attempts
    }

    /// When `q` is next up for delivery, if ever.
    fn due_at(&self, q: &Queued) -> Option<Instant> {
        if !self.deliverable(q) {
            return None;
        }
        match q.state {
            State::Ready(at) => Some(at),
            State::InFlight { deadline } => Some(deadline),
            State::Acked | State::Termed => None,
        }
    }
}

/// A cloneable handle on one in-memory stream, consumer and progress bucket.
#[derive(Clone)]
pub struct FakeBus {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeBus {
    pub fn new(settings: ConsumerSettings) -> Self {
        let inner = Inner {
            start: Instant::now(),
            settings,
            queue: BTreeMap::new(),
            published: Vec::new(),
            ids: HashSet::new(),
            progress: BTreeMap::new(),
            finishes: BTreeMap::new(),
            completion_stamps: 0,
            events: Vec::new(),
            lose_ack: HashSet::new(),
            consumer_failures: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
            changed: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes pullers and [`wait_until`](Self::wait_until) after any change.
    fn touch(&self) {
        self.changed.notify_waiters();
    }

    /// Appends a message to the stream; returns its sequence.
    pub fn push_raw(&self, subject: &str, payload: Vec<u8>, delivered_before: u32) -> u64 {
        let mut s = self.lock();
        let seq = s.queue.keys().next_back().map_or(1, |last| last + 1);
        let queued = Queued {
            subject: subject.to_string(),
            payload: Bytes::from(payload),
            delivered: delivered_before,
            state: State::Ready(Instant::now()),
        };
        s.queue.insert(seq, queued);
        drop(s);
        self.touch();
        seq
    }

    pub fn push<T: Routed>(&self, msg: &T) -> u64 {
        self.push_redelivered(msg, 0)
    }

    /// A message already delivered `delivered_before` times without an answer (crashed workers).
    pub fn push_redelivered<T: Routed>(&self, msg: &T, delivered_before: u32) -> u64 {
        let payload = ticketflow_schemas::encode(msg).expect("test message encodes");
        self.push_raw(msg.subject(), payload, delivered_before)
    }

    /// The next ack of `seq` is lost on the way: the worker sees an error, the message stays
    /// in flight, and the ack wait redelivers it.
    pub fn lose_next_ack(&self, seq: u64) {
        self.lock().lose_ack.insert(seq);
    }

    /// The next `n` consumer requests time out, as during a JetStream leader election.
    pub fn fail_next_consumers(&self, n: u32) {
        self.lock().consumer_failures = n;
    }

    pub fn create_progress(&self, progress: RunProgress) {
        let run = progress.run_id.clone();
        self.lock().progress.insert(run, (1, progress));
    }

    /// How many times `stage` finished each shard of `run_id` (the shard records).
    pub fn finishes_of(&self, run_id: &str, stage: Stage) -> BTreeMap<u32, u32> {
        self.lock()
            .finishes
            .iter()
            .filter(|((run, _, st), _)| run == run_id && *st == stage)
            .map(|((_, shard, _), n)| (*shard, *n))
            .collect()
    }

    pub fn progress_of(&self, run_id: &str) -> Option<RunProgress> {
        self.lock().progress.get(run_id).map(|(_, p)| p.clone())
    }

    /// How many progress updates changed `completed_at_ms`: 1 for a run that completed once.
    pub fn completion_stamps(&self) -> u32 {
        self.lock().completion_stamps
    }

    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// `(time, kind)` of every event of message `seq`.
    pub fn history(&self, seq: u64) -> Vec<(Duration, Kind)> {
        let s = self.lock();
        let of_seq = s.events.iter().filter(|e| e.seq == seq);
        of_seq.map(|e| (e.at, e.kind)).collect()
    }

    /// Every publish on `subject`, duplicates included.
    pub fn publishes(&self, subject: &str) -> Vec<Publish> {
        let s = self.lock();
        let on_subject = s.published.iter().filter(|p| p.subject == subject);
        on_subject.cloned().collect()
    }

    /// The messages stored on `subject` (duplicates dropped), decoded.
    pub fn kept<T: ticketflow_schemas::Message>(&self, subject: &str) -> Vec<T> {
        let kept = self.publishes(subject).into_iter().filter(|p| !p.duplicate);
        let decode = |p: Publish| ticketflow_schemas::decode(&p.payload).expect("decodes");
        kept.map(decode).collect()
    }

    /// Messages neither acked nor terminated.
    pub fn unanswered(&self) -> usize {
        let s = self.lock();
        let open = |q: &&Queued| !matches!(q.state, State::Acked | State::Termed);
        s.queue.values().filter(open).count()
    }

    /// Returns once `done(self)` holds, checking after every change.
    pub async fn wait_until(&self, done: impl Fn(&FakeBus) -> bool) {
        loop {
            let changed = self.changed.notified();
            if done(self) {
                return;
            }
            changed.await;
        }
    }

    fn publish(&self, subject: &str, payload: Bytes, msg_id: &str) -> Published {
        let mut s = self.lock();
        let duplicate = !s.ids.insert(msg_id.to_string());
        s.published.push(Publish {
            subject: subject.to_string(),
            msg_id: msg_id.to_string(),
            payload,
            duplicate,
        });
        let sequence = s.published.len() as u64;
        drop(s);
        self.touch();
        Published {
            duplicate,
            sequence,
        }
    }

    /// Takes the first message that is due, marking it in flight.
    fn take_due(&self) -> Result<FakeDelivery, Option<Instant>> {
        let now = Instant::now();
        let mut s = self.lock();
        let due = s.queue.iter().find_map(|(seq, q)| {
            let at = s.due_at(q)?;
            (at <= now).then_some(*seq)
        });
        let Some(seq) = due else {
            let next = s.queue.values().filter_map(|q| s.due_at(q)).min();
            return Err(next);
        };
        let deadline = now + s.settings.ack_wait;
        let q = s.queue.get_mut(&seq).expect("found above");
        q.delivered += 1;
        q.state = State::InFlight { deadline };
        let delivery = FakeDelivery {
            bus: self.clone(),
            seq,
            delivered: q.delivered,
            subject: q.subject.clone(),
            payload: q.payload.clone(),
        };
        s.log(seq, Kind::Delivered(delivery.delivered));
        Ok(delivery)
    }

    /// Moves message `seq` on, if it is still in flight.
    fn answer(&self, seq: u64, kind: Kind) {
        let mut s = self.lock();
        let now = Instant::now();
        let ack_wait = s.settings.ack_wait;
        let Some(q) = s.queue.get_mut(&seq) else {
            return;
        };
        let State::InFlight { .. } = q.state else {
            return; // answered already, or redelivered and waiting: JetStream ignores it
        };
        q.state = match kind {
            Kind::Acked => State::Acked,
            Kind::Term => State::Termed,
            Kind::Nak(delay) => State::Ready(now + delay),
            Kind::Progress => State::InFlight {
                deadline: now + ack_wait,
            },
            Kind::Delivered(_) => q.state,
        };
        s.log(seq, kind);
        drop(s);
        self.touch();
    }
}

impl StageBus for FakeBus {
    type Consumer = FakeConsumer;

    async fn consumer(
        &self,
        _stage: Stage,
        _settings: ConsumerSettings,
    ) -> Result<FakeConsumer, BusError> {
        let mut inner = self.lock();
        if inner.consumer_failures > 0 {
            inner.consumer_failures -= 1;
            return Err(BusError::JetStream {
                what: "creating consumer".into(),
                detail: "timed out".into(),
            });
        }
        drop(inner);
        Ok(FakeConsumer { bus: self.clone() })
    }

    async fn publish_downstream(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: &str,
    ) -> Result<Published, BusError> {
        Ok(self.publish(subject, payload, msg_id))
    }

    async fn publish_completion(&self, event: &RunCompleted) -> Result<Published, BusError> {
        let payload = Bytes::from(ticketflow_schemas::encode(event)?);
        Ok(self.publish(event.subject(), payload, &event.msg_id()))
    }

    async fn publish_dead_letter(&self, letter: &DeadLetter) -> Result<Published, BusError> {
        let payload = Bytes::from(ticketflow_schemas::encode(letter)?);
        Ok(self.publish(letter.subject(), payload, &letter.msg_id()))
    }

    async fn progress(&self, run_id: &str) -> Result<Option<RunProgress>, BusError> {
        Ok(self.progress_of(run_id))
    }

    async fn update_progress<R, F>(
        &self,
        run_id: &str,
        mut change: F,
    ) -> Result<(R, RunProgress), BusError>
    where
        R: Send,
        F: FnMut(&mut RunProgress) -> R + Send,
    {
        let not_found = || BusError::RunNotFound {
            run_id: run_id.to_string(),
        };
        loop {
            let (revision, mut progress) = self
                .lock()
                .progress
                .get(run_id)
                .cloned()
                .ok_or_else(not_found)?;
            // Between the read and the write another replica may write: that is the race
            // compare-and-set exists for, so let it happen.
            tokio::task::yield_now().await;
            let result = change(&mut progress);
            let mut s = self.lock();
            let Some((current, stored)) = s.progress.get(run_id).cloned() else {
                return Err(not_found());
            };
            if current != revision {
                continue;
            }
            if stored.completed_at_ms != progress.completed_at_ms {
                s.completion_stamps += 1;
            }
            s.progress
                .insert(run_id.to_string(), (revision + 1, progress.clone()));
            drop(s);
            self.touch();
            return Ok((result, progress));
        }
    }

    async fn shard_finishes(
        &self,
        run_id: &str,
        shard: u32,
        stage: Stage,
    ) -> Result<u32, BusError> {
        let s = self.lock();
        let key = (run_id.to_string(), shard, stage);
        Ok(s.finishes.get(&key).copied().unwrap_or(0))
    }

    async fn finished_shards(&self, run_id: &str, stage: Stage) -> Result<Vec<u32>, BusError> {
        Ok(self.finishes_of(run_id, stage).into_keys().collect())
    }

    async fn record_finish(&self, run_id: &str, shard: u32, stage: Stage) -> Result<u32, BusError> {
        let mut s = self.lock();
        let count = s
            .finishes
            .entry((run_id.to_string(), shard, stage))
            .or_default();
        *count += 1;
        Ok(*count)
    }

    async fn consumer_backlog(&self, _stage: Stage) -> Result<(u64, u64), BusError> {
        let s = self.lock();
        let count = |f: fn(&State) -> bool| s.queue.values().filter(|q| f(&q.state)).count() as u64;
        let pending = count(|st| matches!(st, State::Ready(_)));
        let in_flight = count(|st| matches!(st, State::InFlight { .. }));
        Ok((pending, in_flight))
    }
}

mod delivery;

use delivery::{FakeConsumer, FakeDelivery};
