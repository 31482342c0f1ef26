//! The real stage loop ([`run_stage_on`]) against an in-memory JetStream ([`FakeBus`]), on
//! tokio's paused clock.
//!
//! With `start_paused = true` the clock only moves when every task is waiting, and then jumps
//! straight to the next timer. So a test that waits out a 60 s outage takes microseconds, and
//! the times in the fake's event log are exact: "NAKed at 61 s with a 1 s delay", not "at some
//! point". The worker is scripted ([`Scripted`]): per shard, a list of outcomes to return, in
//! order, then success.
//!
//! Each test reads as a timeline of one message: `(time, what happened)`.

use std::collections::BTreeMap;
use std::time::Duration;

use ticketflow_schemas::{DeadLetter, DeadShard, RunCompleted, Stage};

use super::bus::fake::{FakeBus, Kind};
use super::*;

mod harness;

use harness::*;

#[tokio::test(start_paused = true)]
async fn an_outage_is_held_in_place_with_growing_pauses_and_costs_no_delivery() {
    let settings = settings(3, 3, 300);
    let bus = bus(settings, 1);
    let worker = Scripted::new().failing(0, Step::Transient, 3);
    let seq = bus.push(&shard(0, 1));
    assert_eq!(one_replica_until_done(&bus, settings, &worker).await, [1]);

    // Retried here after 1, 2 and 4 s; one delivery, acked on the fourth try.
    assert_eq!(worker.calls_of(0), [0, 1, 3, 7].map(secs));
    assert_eq!(
        timeline(&bus, seq),
        [(secs(0), Kind::Delivered(1)), (secs(7), Kind::Acked)]
    );
    // Meanwhile, an in-progress ack every second (a third of the 3 s ack wait).
    let progress: Vec<Duration> = bus
        .history(seq)
        .into_iter()
        .filter(|h| h.1 == Kind::Progress)
        .map(|h| h.0)
        .collect();
    assert_eq!(progress[..6], [1, 2, 3, 4, 5, 6].map(secs));
    assert_eq!(completions(&bus).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_naked_redelivered_then_dead_lettered_with_its_reason() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 2);
    let worker = Scripted::new().failing(0, Step::Permanent, 10);
    let bad = shard(0, 2);
    let seq = bus.push(&bad);
    bus.push(&shard(1, 2));
    one_replica_until_done(&bus, settings, &worker).await;

    // NAKed after a second twice (no in-place hold for bad input), dead on the third delivery.
    assert_eq!(worker.calls_of(0), [0, 1, 2].map(secs));
    assert_eq!(timeline(&bus, seq), naked_twice_then_dead_lettered());
    let reason = "attempt 3 of 3: corrupt shard file";
    let letters: Vec<DeadLetter> = bus.kept(Stage::Indexer.dead_letter_subject());
    let expected = DeadLetter {
        run_id: Some(RUN.into()),
        shard: Some(0),
        stage: Stage::Indexer,
        subject: Stage::Indexer.input().subject.into(),
        deliveries: 3,
        stream_sequence: seq,
        redrive: 0,
        reason: reason.into(),
        payload: ticketflow_schemas::encode(&bad).expect("encodes"),
    };
    assert_eq!(letters, [expected]);
    let progress = bus.progress_of(RUN).expect("the run exists");
    let dead = DeadShard {
        stage: Stage::Indexer,
        reason: reason.into(),
    };
    assert_eq!(progress.dead, BTreeMap::from([(0, dead)]));
    // The dead shard is final: the run completes, with errors that name it.
    let [done] = &completions(&bus)[..] else {
        panic!("one runs.completed expected");
    };
    assert_eq!(
        (done.dead_shards.clone(), done.tickets_indexed),
        (vec![0], 11)
    );
}

#[tokio::test(start_paused = true)]
async fn a_delivery_past_the_limit_is_dead_lettered_before_any_attempt() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 1);
    let worker = Scripted::new();
    // Three deliveries already, each ending in a crash: no verdict, no attempt left.
    let seq = bus.push_redelivered(&shard(0, 1), 3);
    one_replica_until_done(&bus, settings, &worker).await;

    assert!(worker.calls_of(0).is_empty(), "no attempt");
    assert_eq!(
        timeline(&bus, seq),
        [(secs(0), Kind::Delivered(4)), (secs(0), Kind::Term)]
    );
    let letters: Vec<DeadLetter> = bus.kept(Stage::Indexer.dead_letter_subject());
    let [letter] = &letters[..] else {
        panic!("one dead letter expected, got {letters:?}");
    };
    assert_eq!((letter.shard, letter.deliveries), (Some(0), 4));
    assert!(
        letter.reason.contains("within 3 deliveries"),
        "{}",
        letter.reason
    );
    let progress = bus.progress_of(RUN).expect("the run exists");
    assert!(progress.dead.contains_key(&0));
}

#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_the_hold_becomes_a_failed_attempt() {
    let settings = settings(30, 3, 60);
    let bus = bus(settings, 1);
    let worker = Scripted::new().failing(0, Step::Transient, 7);
    let seq = bus.push(&shard(0, 1));
    one_replica_until_done(&bus, settings, &worker).await;

    // Held 1+2+4+8+16+30 s; the attempt at 61 s is past the 60 s hold: NAK, back in 1 s,
    // and the second delivery succeeds.
    assert_eq!(worker.calls_of(0), [0, 1, 3, 7, 15, 31, 61, 62].map(secs));
    assert_eq!(
        timeline(&bus, seq),
        [
            (secs(0), Kind::Delivered(1)),
            (secs(61), Kind::Nak(secs(1))),
            (secs(62), Kind::Delivered(2)),
            (secs(62), Kind::Acked),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_a_held_shard_at_once() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 1);
    let worker = Scripted::new().failing(0, Step::Transient, 100);
    let seq = bus.push(&shard(0, 1));
    let shutdown = Shutdown::new();
    let loops = vec![replica(&bus, settings, &worker, &shutdown)];
    // At 10 s the shard is 3 s into an 8 s pause (after tries at 0, 1, 3 and 7 s).
    tokio::time::sleep(secs(10)).await;
    assert_eq!(stop(&shutdown, loops).await, [1]);

    assert_eq!(
        worker.start.elapsed(),
        secs(10),
        "stopped without waiting out the pause"
    );
    assert_eq!(worker.calls_of(0), [0, 1, 3, 7, 10].map(secs));
    assert_eq!(
        timeline(&bus, seq),
        [
            (secs(0), Kind::Delivered(1)),
            (secs(10), Kind::Nak(secs(1)))
        ]
    );
    assert_eq!(bus.unanswered(), 1, "handed back, not dead");
    assert_eq!(
        bus.kept::<DeadLetter>(Stage::Indexer.dead_letter_subject()),
        []
    );
}

#[tokio::test(start_paused = true)]
async fn in_progress_acks_keep_a_long_shard_from_the_other_replica() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 1);
    let mut worker = Scripted::new();
    worker.work = secs(100);
    let seq = bus.push(&shard(0, 1));
    let shutdown = Shutdown::new();
    let loops = vec![
        replica(&bus, settings, &worker, &shutdown),
        replica(&bus, settings, &worker, &shutdown),
    ];
    settle(&bus, run_done).await;
    let mut handled = stop(&shutdown, loops).await;
    handled.sort();
    assert_eq!(handled, [0, 1]);

    // 100 s of work under a 30 s ack wait, and still one delivery.
    assert_eq!(worker.calls_of(0), [secs(0)]);
    assert_eq!(
        timeline(&bus, seq),
        [(secs(0), Kind::Delivered(1)), (secs(100), Kind::Acked)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_run_completes_once_across_replicas_retries_and_a_redelivery() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 4);
    let mut worker = Scripted::new().failing(1, Step::Permanent, 1);
    worker.work = secs(2);
    let seqs: Vec<u64> = (0..4).map(|s| bus.push(&shard(s, 4))).collect();
    // Shard 2's ack never reaches the server: the ack wait hands it out again.
    bus.lose_next_ack(seqs[2]);
    let shutdown = Shutdown::new();
    let loops = vec![
        replica(&bus, settings, &worker, &shutdown),
        replica(&bus, settings, &worker, &shutdown),
    ];
    settle(&bus, run_done).await;
    let handled = stop(&shutdown, loops).await;

    // 4 shards + shard 1's retry + shard 2's redelivery, shared by both replicas.
    assert_eq!(handled.iter().sum::<u64>(), 6);
    assert!(handled.iter().all(|&n| n > 0), "{handled:?}");
    assert_eq!(
        timeline(&bus, seqs[2]),
        [
            (secs(2), Kind::Delivered(1)),
            (secs(32), Kind::Delivered(2)),
            (secs(34), Kind::Acked)
        ]
    );

    // One runs.completed, and no second try: the redelivered shard saw it published.
    let completed_subject = Stage::Trainer.input().subject;
    assert_eq!(bus.publishes(completed_subject).len(), 1);
    let expected = RunCompleted {
        run_id: RUN.into(),
        shard_count: 4,
        tickets_indexed: 10 + 11 + 12 + 13,
        dead_shards: vec![],
        redrives: 0,
    };
    assert_eq!(completions(&bus), [expected]);
    let progress = bus.progress_of(RUN).expect("the run exists");
    assert_eq!(bus.completion_stamps(), 1, "completed_at_ms is set once");
    assert_eq!(
        progress.tickets_indexed, 46,
        "the redelivered shard is not counted twice"
    );
    assert_eq!(progress.done_count(Stage::Indexer), 4);
    assert_eq!(
        bus.finishes_of(RUN, Stage::Indexer),
        BTreeMap::from([(0, 1), (1, 1), (2, 2), (3, 1)])
    );

    // The redelivery republished shard 2's output under the same id: JetStream kept one.
    let out = bus.publishes(OUT);
    let dropped: Vec<&str> = out
        .iter()
        .filter(|p| p.duplicate)
        .map(|p| p.msg_id.as_str())
        .collect();
    assert_eq!((out.len(), dropped), (5, vec!["run-1.out.2"]));
}

#[tokio::test(start_paused = true)]
async fn a_message_that_does_not_decode_is_permanent() {
    let settings = settings(30, 3, 300);
    let bus = FakeBus::new(settings);
    let worker = Scripted::new();
    let garbage = b"not a message".to_vec();
    let seq = bus.push_raw(Stage::Indexer.input().subject, garbage.clone(), 0);
    let shutdown = Shutdown::new();
    let loops = vec![replica(&bus, settings, &worker, &shutdown)];
    settle(&bus, |b| b.unanswered() == 0).await;
    stop(&shutdown, loops).await;

    // Not held like an outage, NAKed after a second like bad input, then dead.
    assert_eq!(timeline(&bus, seq), naked_twice_then_dead_lettered());
    assert!(worker.calls.lock().expect("test lock").is_empty());
    let letters: Vec<DeadLetter> = bus.kept(Stage::Indexer.dead_letter_subject());
    let [letter] = &letters[..] else {
        panic!("one dead letter expected, got {letters:?}");
    };
    // The run and shard are unknown; the sequence names the message, the bytes are kept.
    assert_eq!((&letter.run_id, letter.shard), (&None, None));
    assert_eq!((letter.stream_sequence, &letter.payload), (seq, &garbage));
    assert!(
        letter.reason.starts_with("attempt 3 of 3: "),
        "{}",
        letter.reason
    );
}

/// The record every shard update rewrites (issue 22): per-shard counts live in the shards' own
/// records, so the run's record grows by its done-bitmaps' bits per shard, not by bytes.
#[tokio::test(start_paused = true)]
async fn the_run_record_is_the_same_size_at_any_shard_count() {
    async fn record_bytes(shards: u32) -> usize {
        let settings = settings(30, 3, 300);
        let bus = bus(settings, shards);
        for s in 0..shards {
            bus.push(&shard(s, shards));
        }
        one_replica_until_done(&bus, settings, &Scripted::new()).await;
        let progress = bus.progress_of(RUN).expect("the run exists");
        assert_eq!(progress.done_count(Stage::Indexer), shards);
        assert_eq!(bus.finishes_of(RUN, Stage::Indexer).len(), shards as usize);
        ticketflow_schemas::encode(&progress)
            .expect("encodes")
            .len()
    }
    let (small, large) = (record_bytes(500).await, record_bytes(2_500).await);
    eprintln!("run record: {small} bytes at 500 shards, {large} at 2,500");
    // Counters, not a bit or an entry per shard: only the numbers' own widths differ.
    assert!(
        large <= small + 16,
        "{small} bytes at 500 shards, {large} at 2,500: the record grows with the run"
    );
}

/// A replica that dies between counting a shard and recording it counts the shard again on
/// redelivery, so the run's counter runs ahead. The run must still not complete before its
/// last shard: the scan of the shard records says no.
#[tokio::test(start_paused = true)]
async fn a_count_that_ran_ahead_does_not_complete_the_run_early() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 3);
    // Shard 0 was counted once by a replica that died before recording it.
    bus.update_progress(RUN, |p| p.count_done(Stage::Indexer))
        .await
        .expect("count");
    bus.push(&shard(0, 3));
    bus.push(&shard(1, 3));
    let shutdown = Shutdown::new();
    let loops = vec![replica(&bus, settings, &Scripted::new(), &shutdown)];
    settle(&bus, |b| b.unanswered() == 0).await;
    let progress = bus.progress_of(RUN).expect("the run exists");
    assert!(
        progress.counts_say_final(),
        "the counter ran ahead: {progress:?}"
    );
    assert_eq!(progress.completed_at_ms, None, "shard 2 is not indexed");
    assert!(completions(&bus).is_empty());

    bus.push(&shard(2, 3));
    settle(&bus, run_done).await;
    stop(&shutdown, loops).await;
    assert_eq!(completions(&bus).len(), 1);
    assert_eq!(bus.completion_stamps(), 1);
}

/// A replica that starts during a JetStream leader election gets timeouts creating its
/// consumer. It must wait them out (the loop's backoff: 1 s, then 2 s) and then work, not exit:
/// an exited worker leaves its stage unserved until something restarts it.
#[tokio::test(start_paused = true)]
async fn a_replica_waits_out_consumer_timeouts_at_start() {
    let settings = settings(30, 3, 300);
    let bus = bus(settings, 1);
    bus.fail_next_consumers(2);
    let worker = Scripted::new();
    let seq = bus.push(&shard(0, 1));
    let handled = one_replica_until_done(&bus, settings, &worker).await;
    assert_eq!(handled, [1]);
    // Delivered after the two pauses: 1 s + 2 s.
    assert_eq!(timeline(&bus, seq)[0], (secs(3), Kind::Delivered(1)));
}
