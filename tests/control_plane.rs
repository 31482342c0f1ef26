//! The control plane's cost per shard, on a real nats-server: the real stage loop
//! (`run_stage`) with a worker that does no work, so all that is measured is what the loop
//! writes to JetStream for each shard.
//!
//! Two runs of the same 24 shards: one that says it has 100 shards, one that says a million.
//! Before the counters, the run's progress record held a bit (then an entry) per shard, and
//! every shard update rewrote it whole: 375 KB per update at a million shards.

mod support;

use std::time::Duration;

use support::LoneNats;
use ticketflow_connectors::nats::{Bus, ConsumerSettings, NatsConfig};
use ticketflow_schemas::{EmbeddedShard, ReuseCounts, RunProgress, Stage};
use ticketflow_workers::stage_loop::{Processed, Shutdown, StageError, StageWorker, run_stage};

/// Shards each run processes.
const SHARDS_DONE: u32 = 24;

/// An indexer that indexes nothing: the loop around it is the real one.
struct NoWork;

impl StageWorker for NoWork {
    const STAGE: Stage = Stage::Indexer;
    type Input = EmbeddedShard;

    async fn process(&self, input: &EmbeddedShard) -> Result<Processed, StageError> {
        Ok(Processed {
            tickets: input.tickets,
            downstream: None,
            counts: ReuseCounts::default(),
        })
    }
}

fn shard(run_id: &str, shard: u32, shard_count: u32) -> EmbeddedShard {
    EmbeddedShard {
        run_id: run_id.into(),
        shard,
        shard_count,
        clean_key: format!("runs/{run_id}/clean/{shard}"),
        embeddings_key: format!("runs/{run_id}/embeddings/{shard}.npy"),
        tickets: 500,
        dim: 384,
        precision: "int8".into(),
        model_digest: String::new(),
        vectors_reused: 0,
    }
}

/// Records a run of `shard_count` shards, as the coordinator does, and queues the first
/// `queued` of them for the indexer.
async fn queue(bus: &Bus, run_id: &str, shard_count: u32, queued: u32) {
    bus.create_progress(&RunProgress::new(run_id, shard_count, 0))
        .await
        .expect("progress");
    for n in 0..queued {
        let _ = bus
            .publish_routed(&shard(run_id, n, shard_count), None)
            .await
            .expect("publish");
    }
}

/// Bytes the server has received from its clients (`/varz` `in_bytes`).
fn server_in_bytes(monitor_port: u16) -> u64 {
    let (_, body) = support::http_get(monitor_port, "/varz").expect("varz");
    let varz: serde_json::Value = serde_json::from_str(&body).expect("varz is JSON");
    varz["in_bytes"].as_u64().expect("in_bytes")
}

/// What one run of `SHARDS_DONE` shards cost: the progress record's size at the end, and the
/// bytes clients sent the server per shard while the loop worked.
struct Cost {
    record_bytes: usize,
    in_bytes_per_shard: u64,
}

fn run_shards(s: &LoneNats, bus: &Bus, run_id: &str, shard_count: u32) -> Cost {
    s.rt.block_on(async {
        queue(bus, run_id, shard_count, SHARDS_DONE).await;
        let before = server_in_bytes(s.nats.monitor_port);
        let shutdown = Shutdown::new();
        let settings = ConsumerSettings {
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        };
        let worker = tokio::spawn(run_stage(bus.clone(), settings, NoWork, shutdown.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let p = bus.progress(run_id).await.expect("read").expect("exists");
            if p.done_count(Stage::Indexer) == SHARDS_DONE {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "stuck: {p:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.trigger();
        worker.await.expect("join").expect("the loop ends cleanly");
        let after = server_in_bytes(s.nats.monitor_port);
        let progress = bus.progress(run_id).await.expect("read").expect("exists");
        assert_eq!(progress.completed_at_ms, None, "not every shard is done");
        let records = bus.shard_records(run_id).await.expect("scan");
        assert_eq!(records.len(), SHARDS_DONE as usize);
        assert!(records.values().all(|r| r.finishes_of(Stage::Indexer) == 1));
        Cost {
            record_bytes: ticketflow_schemas::encode(&progress).expect("encode").len(),
            in_bytes_per_shard: (after - before) / u64::from(SHARDS_DONE),
        }
    })
}

/// The record every shard update rewrites stays small at a million shards, and a shard update
/// sends the server the same bytes whether the run has a hundred shards or a million.
#[test]
fn a_shard_update_costs_the_same_at_a_hundred_shards_and_at_a_million() {
    let Some(s) = LoneNats::start() else {
        return;
    };
    let bus =
        s.rt.block_on(Bus::connect(&NatsConfig::new(s.nats.url.clone())))
            .expect("bus");
    let small = run_shards(&s, &bus, "run-small", 100);
    let large = run_shards(&s, &bus, "run-large", 1_000_000);
    eprintln!(
        "progress record: {} bytes at 100 shards, {} at 1,000,000; sent per shard update: {} and {} bytes",
        small.record_bytes, large.record_bytes, small.in_bytes_per_shard, large.in_bytes_per_shard
    );
    assert!(
        large.record_bytes < 16 * 1024,
        "{} bytes rewritten on every shard update of a million-shard run",
        large.record_bytes
    );
    // Only the widths of the numbers differ (a shard count of 1,000,000 takes 4 more bytes).
    assert!(
        large.record_bytes <= small.record_bytes + 16,
        "{} bytes at a million shards against {} at a hundred",
        large.record_bytes,
        small.record_bytes
    );
    assert!(
        large.in_bytes_per_shard <= small.in_bytes_per_shard + 64,
        "{} bytes sent per shard update at a million shards against {} at a hundred",
        large.in_bytes_per_shard,
        small.in_bytes_per_shard
    );
}

/// The verifying scan at the end of a run reads every shard record, and only the last
/// finish completes the run: 300 shards, processed by two loops at once.
#[test]
fn the_run_completes_once_its_last_shard_is_recorded() {
    let Some(s) = LoneNats::start() else {
        return;
    };
    let bus =
        s.rt.block_on(Bus::connect(&NatsConfig::new(s.nats.url.clone())))
            .expect("bus");
    let shards = 300;
    s.rt.block_on(async {
        let run_id = "run-whole";
        queue(&bus, run_id, shards, shards).await;
        let shutdown = Shutdown::new();
        let loops: Vec<_> = (0..2)
            .map(|_| {
                tokio::spawn(run_stage(
                    bus.clone(),
                    ConsumerSettings::default(),
                    NoWork,
                    shutdown.clone(),
                ))
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let progress = loop {
            let p = bus.progress(run_id).await.expect("read").expect("exists");
            if p.completion_published {
                break p;
            }
            assert!(tokio::time::Instant::now() < deadline, "stuck: {p:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        shutdown.trigger();
        for l in loops {
            l.await.expect("join").expect("the loop ends cleanly");
        }
        assert_eq!(progress.done_count(Stage::Indexer), shards);
        assert_eq!(progress.tickets_indexed, u64::from(shards) * 500);
        let indexed = bus
            .finished_shards(run_id, Stage::Indexer)
            .await
            .expect("scan");
        assert_eq!(indexed, (0..shards).collect::<Vec<_>>());
        assert_eq!(
            bus.backlog(Stage::Trainer).await.expect("backlog"),
            1,
            "one runs.completed"
        );
    });
}
