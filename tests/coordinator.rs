//! The coordinator against a real nats-server and a `file://` store seen through a recording
//! layer (`ticketflow_testkit::store_recorder`): how it writes shards, not only what it writes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::LoneNats;
use ticketflow_connectors::nats::{Bus, NatsConfig};
use ticketflow_connectors::store::{Store, StoreConfig, keys};
use ticketflow_coordinator::{SHARD_PUTS_IN_FLIGHT, SubmitOptions, submit};
use ticketflow_schemas::Dataset;
use ticketflow_testkit::store_recorder::{Recorder, StoreLog};
use ticketflow_text::dataset::LoadOptions;
use ticketflow_text::text::EmbedInput;

/// Shard files go to the store several at a time while the input is read, never more than the
/// bound: with 40 ms per `PUT`, 40 shards one by one would wait 1.6 s on the store alone.
#[test]
fn shards_are_written_several_at_a_time_within_the_bound() {
    let Some(s) = LoneNats::start() else {
        return;
    };
    let input = support::generate_tickets(s.dir.path(), 2_000, 7);
    let log = Arc::new(StoreLog::default());
    let store = Store::open(&StoreConfig::new(format!(
        "file://{}",
        s.dir.path().join("store").display()
    )))
    .expect("store")
    .layered(|inner| {
        Recorder::new(inner, &log)
            .with_put_delay(Duration::from_millis(40))
            .into_dyn()
    });
    let bus =
        s.rt.block_on(Bus::connect(&NatsConfig::new(s.nats.url.clone())))
            .expect("bus");
    let opts = SubmitOptions {
        input: input.display().to_string(),
        input_s3: Default::default(),
        shard_size: 50,
        run_id: None,
        embed_input: EmbedInput::Normalized,
        load: LoadOptions::default(),
        dataset: Dataset::default(),
    };
    let outcome = s.rt.block_on(submit(&bus, &store, &opts)).expect("submit");

    assert_eq!((outcome.shard_count, outcome.tickets), (40, 2_000));
    let most = log.most_puts_in_flight();
    assert!(
        (2..=SHARD_PUTS_IN_FLIGHT).contains(&most),
        "{most} shard PUTs at once; expected several, at most {SHARD_PUTS_IN_FLIGHT}"
    );
    // Every shard is there, whole: 50 tickets, one JSON line each.
    for shard in 0..outcome.shard_count {
        let key = keys::raw_shard(&outcome.run_id, shard);
        let bytes = s.rt.block_on(store.get(&key)).expect("shard");
        assert_eq!(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            50
        );
    }
    // Published once per shard, and the run knows it.
    let progress =
        s.rt.block_on(bus.progress(&outcome.run_id))
            .expect("progress")
            .expect("recorded");
    assert!(progress.published);
    assert_eq!(
        s.rt.block_on(bus.backlog(ticketflow_schemas::Stage::Cleaner))
            .expect("backlog"),
        40
    );
}
