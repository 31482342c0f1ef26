//! Scaling the embedder while a run is going, on the real stack (nats-server, Chroma, worker
//! processes): what an operator (or KEDA) does to clear a backlog, then to shrink back.
//!
//! One run of 40 shards goes through four changes of the embedder Deployment:
//!
//! 1. **Scale up.** A second replica started mid-run takes shards at once: the shards it
//!    finishes are first deliveries (no waiting for an ack timeout or a rebalance), it starts
//!    while most of the run is still queued, and its first shard is done while the run is far
//!    from over. The stage loop pulls one message at a time from the shared durable consumer, so
//!    nothing is pre-assigned to the first replica.
//! 2. **Scale down, gracefully.** SIGTERM to the first replica while it holds a shard: it
//!    finishes that shard, acknowledges it and exits.
//! 3. **A crash.** `kill -9` to the second replica while it holds a shard: the shard comes back
//!    after the ack wait (5 s here).
//! 4. **Scale up again.** A third replica finishes the run.
//!
//! The run must then pass the fault tests' audit: complete, Chroma holding exactly the input's
//! ids, every shard finished once by every stage (one extra finish allowed: the crash may land
//! between a shard's finish and its acknowledgement).

mod support;

use std::time::{Duration, Instant};

use support::audit::{Expect, audit, input_ids};
use support::{Proc, RunWorkers, Stack, http_get, wait_until};

const SHARDS: u64 = 40;
const SHARD_SIZE: u64 = 100;

/// `shard done` lines in a worker's log: the shards it finished.
fn shards_done(proc: &Proc) -> usize {
    std::fs::read_to_string(&proc.log)
        .unwrap_or_default()
        .matches("shard done")
        .count()
}

/// Whether the worker is inside a shard right now (its `ticketflow_shards_in_flight`).
fn holds_a_shard(proc: &Proc) -> bool {
    let Some(port) = proc.metrics_port else {
        return false;
    };
    http_get(port, "/metrics").is_some_and(|(_, body)| {
        body.lines().any(|l| {
            l.strip_prefix("ticketflow_shards_in_flight{stage=\"embedder\"}")
                .and_then(|v| v.trim().parse::<f64>().ok())
                == Some(1.0)
        })
    })
}

fn worker<'a>(stack: &'a mut Stack, name: &str) -> &'a mut Proc {
    stack
        .workers
        .iter_mut()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no worker {name}"))
}

fn embedded(stack: &Stack, run_id: &str) -> u64 {
    stack
        .env
        .show(run_id)
        .and_then(|v| v["shards"]["embedded"].as_u64())
        .unwrap_or(0)
}

#[test]
fn embedders_added_and_removed_mid_run_take_shards_at_once_and_lose_nothing() {
    let ack_wait = vec![("TICKETFLOW_ACK_WAIT_SECS".to_string(), "5".to_string())];
    let Some(mut stack) = Stack::start("scale_out", 1, SHARDS * SHARD_SIZE, 17, ack_wait, |dir| {
        format!("file://{}", dir.join("store").display())
    }) else {
        return;
    };
    let run_id = stack.submit(SHARD_SIZE as u32);
    stack.wait_for(
        &run_id,
        "two shards embedded",
        Duration::from_secs(180),
        |v| v["shards"]["embedded"].as_u64().unwrap_or(0) >= 2,
    );

    // 1. Scale up: a second replica, started mid-run.
    let added = stack
        .env
        .worker("embedder", "embedder-1", stack.dir.path(), &[]);
    stack.workers.push(added);
    let embedded_at_start = embedded(&stack, &run_id);
    let left_at_start = SHARDS - embedded_at_start;
    assert!(
        left_at_start >= SHARDS / 2,
        "the run was mostly queued: {left_at_start} left"
    );
    wait_until(
        "the added replica to finish a shard",
        Duration::from_secs(120),
        || shards_done(worker(&mut stack, "embedder-1")) >= 1,
    );
    let embedded_at_first = embedded(&stack, &run_id);
    assert!(
        embedded_at_first < SHARDS - 4,
        "the added replica's first shard came late: {embedded_at_first} of {SHARDS} already embedded"
    );

    // 2. Scale down: SIGTERM to the first replica inside a shard.
    wait_until(
        "embedder-0 to hold a shard",
        Duration::from_secs(120),
        || holds_a_shard(worker(&mut stack, "embedder-0")),
    );
    let first = worker(&mut stack, "embedder-0");
    let done_before = shards_done(first);
    assert!(
        first.terminate(Duration::from_secs(60)),
        "embedder-0 exits on SIGTERM"
    );
    assert_eq!(
        shards_done(first),
        done_before + 1,
        "embedder-0 finished the shard in hand before exiting:\n{}",
        first.log_tail()
    );

    // 3. A crash: kill -9 to the second replica inside a shard.
    wait_until(
        "embedder-1 to hold a shard",
        Duration::from_secs(120),
        || holds_a_shard(worker(&mut stack, "embedder-1")),
    );
    let second = worker(&mut stack, "embedder-1");
    second.kill();
    let by_added = shards_done(second);
    // Its shards went straight to it: none was a redelivery of embedder-0's.
    assert!(
        !std::fs::read_to_string(&second.log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("shard done") && !l.contains("\"delivered\":1")),
        "the added replica only redid shards:\n{}",
        second.log_tail()
    );

    // 4. Scale up again; the run must complete with nothing lost.
    let third = stack
        .env
        .worker("embedder", "embedder-2", stack.dir.path(), &[]);
    stack.workers.push(third);
    let restarted = Instant::now();
    let v = stack.wait_for(&run_id, "completion", Duration::from_secs(300), |v| {
        v["status"] != "running" && v["status"] != "indexed" && v["trained"] == true
    });
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["tickets_indexed"], stack.tickets, "{v}");
    let expect = Expect {
        trainer_runs: 1,
        extra_finishes: 1,
    };
    audit(
        &v,
        &stack.chroma.url,
        &stack.collection,
        &input_ids(&stack.input),
    )
    .assert_meets(expect, "scale out and in mid-run");
    eprintln!(
        "scale-out: the added replica finished its first shard with {embedded_at_first} of \
         {SHARDS} embedded, {by_added} shards before its kill; run complete {:.1}s after the \
         third replica started",
        restarted.elapsed().as_secs_f64()
    );
}
