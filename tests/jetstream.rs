//! The JetStream transport on a real nats-server: what `Bus` promises about publishing.

mod support;

use bytes::Bytes;
use support::Nats;
use ticketflow_connectors::nats::{Bus, BusError, NatsConfig};

fn bus(nats: &Nats, rt: &tokio::runtime::Runtime) -> Bus {
    rt.block_on(Bus::connect(&NatsConfig {
        url: nats.url.clone(),
        wait_for_server: false,
    }))
    .expect("bus")
}

/// A republish under the same id is reported as a duplicate, and where a repeat is impossible
/// (a redrive's id carries a new generation) a duplicate is an error: JetStream dropped the
/// message, and saying "sent" would lose it.
#[test]
fn duplicates_are_reported_and_refused_where_a_repeat_is_impossible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(nats) = Nats::start(dir.path()) else {
        return;
    };
    let rt = support::runtime();
    let bus = bus(&nats, &rt);
    let subject = ticketflow_schemas::topology::RAW.subject;
    let payload = || Bytes::from_static(b"x");
    let first = rt
        .block_on(bus.publish_bytes(subject, payload(), "r.raw.0", None))
        .expect("first publish");
    assert!(!first.duplicate);
    let again = rt
        .block_on(bus.publish_bytes(subject, payload(), "r.raw.0", None))
        .expect("republish");
    assert!(again.duplicate, "the republish was not reported");
    assert_eq!(again.sequence, first.sequence, "it names the kept message");

    let fresh = rt
        .block_on(bus.publish_new_bytes(subject, payload(), "r.cleaner.0.redrive1"))
        .expect("a new id is kept");
    assert!(!fresh.duplicate);
    let err = rt
        .block_on(bus.publish_new_bytes(subject, payload(), "r.cleaner.0.redrive1"))
        .expect_err("a repeated redrive id is a loss");
    assert!(
        matches!(err, BusError::UnexpectedDuplicate { ref msg_id, .. } if msg_id == "r.cleaner.0.redrive1"),
        "{err}"
    );
}
