//! What the loop tests run on: a scripted indexer, the messages and settings they use, and
//! helpers to start replicas, wait for the fake to settle and read a message's timeline.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ticketflow_connectors::nats::{BusError, ConsumerSettings};
use ticketflow_schemas::{EmbeddedShard, ReuseCounts, RunCompleted, RunProgress, Stage};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stage_loop::bus::fake::{FakeBus, Kind};
use crate::stage_loop::{Downstream, Processed, Shutdown, StageError, StageWorker, run_stage_on};

pub(super) const RUN: &str = "run-1";
/// Where the scripted worker sends its downstream messages.
pub(super) const OUT: &str = "tf.test.out";

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(super) fn settings(ack_wait: u64, max_attempts: u32, transient_hold: u64) -> ConsumerSettings {
    ConsumerSettings {
        ack_wait: secs(ack_wait),
        max_attempts,
        transient_hold: secs(transient_hold),
    }
}

pub(super) fn shard(shard: u32, shard_count: u32) -> EmbeddedShard {
    EmbeddedShard {
        run_id: RUN.into(),
        shard,
        shard_count,
        clean_key: format!("runs/{RUN}/clean/{shard}"),
        embeddings_key: format!("runs/{RUN}/embeddings/{shard}.npy"),
        tickets: 10 + shard,
        dim: 384,
        precision: "fp32".into(),
        model_digest: String::new(),
        vectors_reused: 0,
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    Transient,
    Permanent,
}

/// An indexer whose outcomes are scripted per shard; it records when it was called.
#[derive(Clone)]
pub(super) struct Scripted {
    pub(super) start: Instant,
    /// How long each attempt takes.
    pub(super) work: Duration,
    steps: Arc<Mutex<BTreeMap<u32, VecDeque<Step>>>>,
    pub(super) calls: Arc<Mutex<Vec<(u32, Duration)>>>,
}

impl Scripted {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            work: Duration::ZERO,
            steps: Arc::default(),
            calls: Arc::default(),
        }
    }

    pub(super) fn failing(self, shard: u32, step: Step, times: usize) -> Self {
        let mut steps = self.steps.lock().expect("test lock");
        steps.entry(shard).or_default().extend([step].repeat(times));
        drop(steps);
        self
    }

    /// When shard `shard` was attempted.
    pub(super) fn calls_of(&self, shard: u32) -> Vec<Duration> {
        let calls = self.calls.lock().expect("test lock");
        calls.iter().filter(|c| c.0 == shard).map(|c| c.1).collect()
    }
}

impl StageWorker for Scripted {
    const STAGE: Stage = Stage::Indexer;
    type Input = EmbeddedShard;

    fn embedding_precision(input: &EmbeddedShard) -> Option<&str> {
        Some(&input.precision)
    }

    async fn process(&self, input: &EmbeddedShard) -> Result<Processed, StageError> {
        let at = self.start.elapsed();
        self.calls
            .lock()
            .expect("test lock")
            .push((input.shard, at));
        tokio::time::sleep(self.work).await;
        let mut steps = self.steps.lock().expect("test lock");
        let step = steps.get_mut(&input.shard).and_then(VecDeque::pop_front);
        drop(steps);
        match step {
            Some(Step::Transient) => Err(StageError::transient("chroma unavailable")),
            Some(Step::Permanent) => Err(StageError::permanent("corrupt shard file")),
            None => Ok(Processed {
                tickets: input.tickets,
                downstream: Some(Downstream {
                    subject: OUT,
                    payload: Bytes::from(format!("shard {}", input.shard)),
                    msg_id: format!("{}.out.{}", input.run_id, input.shard),
                }),
                counts: ReuseCounts::default(),
            }),
        }
    }
}

/// A bus with the run's progress record, as the coordinator leaves it.
pub(super) fn bus(settings: ConsumerSettings, shard_count: u32) -> FakeBus {
    let bus = FakeBus::new(settings);
    bus.create_progress(RunProgress::new(RUN, shard_count, 0));
    bus
}

pub(super) fn replica(
    bus: &FakeBus,
    settings: ConsumerSettings,
    worker: &Scripted,
    shutdown: &Shutdown,
) -> JoinHandle<Result<u64, BusError>> {
    let run = run_stage_on(bus.clone(), settings, worker.clone(), shutdown.clone());
    tokio::spawn(run)
}

/// Waits (on the paused clock) until `done` holds; fails after an hour of fake time.
pub(super) async fn settle(bus: &FakeBus, done: impl Fn(&FakeBus) -> bool) {
    let waited = tokio::time::timeout(secs(3600), bus.wait_until(done)).await;
    assert!(waited.is_ok(), "never settled: {:#?}", bus.events());
}

/// Everything settled: every message answered and the run's completion published.
pub(super) fn run_done(bus: &FakeBus) -> bool {
    bus.unanswered() == 0 && bus.progress_of(RUN).is_some_and(|p| p.completion_published)
}

/// One replica of `worker` until the run is done, then stopped; how many messages it handled.
pub(super) async fn one_replica_until_done(
    bus: &FakeBus,
    settings: ConsumerSettings,
    worker: &Scripted,
) -> Vec<u64> {
    let shutdown = Shutdown::new();
    let loops = vec![replica(bus, settings, worker, &shutdown)];
    settle(bus, run_done).await;
    stop(&shutdown, loops).await
}

/// Stops the replicas; returns how many messages each handled.
pub(super) async fn stop(
    shutdown: &Shutdown,
    replicas: Vec<JoinHandle<Result<u64, BusError>>>,
) -> Vec<u64> {
    shutdown.trigger();
    let mut handled = Vec::new();
    for replica in replicas {
        let result = replica.await.expect("the loop does not panic");
        handled.push(result.expect("the loop ends cleanly"));
    }
    handled
}

/// The timeline of a message that cannot succeed, with 3 attempts: delivered, NAKed for a
/// second, twice; terminated on the third delivery.
pub(super) fn naked_twice_then_dead_lettered() -> Vec<(Duration, Kind)> {
    vec![
        (secs(0), Kind::Delivered(1)),
        (secs(0), Kind::Nak(secs(1))),
        (secs(1), Kind::Delivered(2)),
        (secs(1), Kind::Nak(secs(1))),
        (secs(2), Kind::Delivered(3)),
        (secs(2), Kind::Term),
    ]
}

/// A message's timeline without its in-progress acks.
pub(super) fn timeline(bus: &FakeBus, seq: u64) -> Vec<(Duration, Kind)> {
    let mut history = bus.history(seq);
    history.retain(|(_, kind)| *kind != Kind::Progress);
    history
}

pub(super) fn completions(bus: &FakeBus) -> Vec<RunCompleted> {
    bus.kept(Stage::Trainer.input().subject)
}
