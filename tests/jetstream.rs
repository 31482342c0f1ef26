//! The JetStream transport on a real nats-server: what `Bus` promises about publishing.

mod support;

use bytes::Bytes;
use support::nats_cluster::{Host, NatsCluster};
use support::{LoneNats, Nats};
use ticketflow_connectors::nats::{Bus, BusError, NatsConfig};

fn bus(nats: &Nats, rt: &tokio::runtime::Runtime) -> Bus {
    rt.block_on(Bus::connect(&NatsConfig::new(nats.url.clone())))
        .expect("bus")
}

/// Connects on `rt`, which must outlive the bus (its connection runs there).
fn connect(
    rt: &tokio::runtime::Runtime,
    url: &str,
    replicas: usize,
    update: bool,
) -> Result<Bus, BusError> {
    rt.block_on(Bus::connect(&NatsConfig {
        replicas,
        update_replicas: update,
        ..NatsConfig::new(url)
    }))
}

/// Every stream and bucket the topology makes: one per stage, the dead letters, three KV buckets
/// (run manifests, run progress, shard records).
const STREAMS: usize = 4 + 1 + 3;

/// On a 3-node cluster: a first install with one replica; asking for three is refused with
/// every stream named and the fix; `update` moves them to three in place, queued messages
/// kept; after that, three is simply what they have.
#[test]
fn replicas_are_applied_checked_and_updated_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(cluster) = NatsCluster::start(dir.path(), vec![Host::loopback(); 3]) else {
        return;
    };
    let url = cluster.url();
    let rt = support::runtime();

    let first = connect(&rt, &url, 1, false).expect("one replica");
    assert_eq!(first.topology().streams.len(), STREAMS);
    assert!(first.topology().streams.iter().all(|s| s.replicas == 1));
    // The first publish to streams just created on a cluster: Bus::publish waits out the moment
    // in which a server has not learnt of them yet ("no stream found for given subject").
    let queued = rt
        .block_on(first.publish_bytes(
            ticketflow_schemas::topology::RAW.subject,
            Bytes::from_static(b"queued before the update"),
            "r.raw.0",
            None,
        ))
        .expect("publish");
    assert!(!queued.duplicate);

    let Err(err) = connect(&rt, &url, 3, false) else {
        panic!("a silent mismatch");
    };
    match &err {
        BusError::Replicas { wanted, found } => {
            assert_eq!(*wanted, 3);
            assert_eq!(found.len(), STREAMS, "{err}");
        }
        other => panic!("expected a replica mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("ticketflow streams update") && msg.contains("TF_RAW has 1"),
        "{msg}"
    );

    let updated = connect(&rt, &url, 3, true).expect("update in place");
    assert_eq!(updated.topology().updated.len(), STREAMS);
    let again = connect(&rt, &url, 3, false).expect("three is what they have now");
    assert!(again.topology().updated.is_empty());
    // As the servers see it: three copies, and the queued message is still there.
    let (replicas, messages) = rt.block_on(async {
        let mut raw = again
            .jetstream()
            .get_stream("TF_RAW")
            .await
            .expect("stream");
        let info = raw.info().await.expect("info");
        (info.config.num_replicas, info.state.messages)
    });
    assert_eq!(replicas, 3);
    assert_eq!(messages, 1, "the update lost the queued message");
}

/// One server cannot keep three copies: creating streams with three replicas fails, and says
/// what to set.
#[test]
fn more_replicas_than_servers_is_a_clear_error() {
    let Some(s) = LoneNats::start() else {
        return;
    };
    let Err(err) = connect(&s.rt, &s.nats.url, 3, false) else {
        panic!("three copies on one server");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("TICKETFLOW_JETSTREAM_REPLICAS") && msg.contains("3 servers"),
        "{msg}"
    );
}

/// A republish under the same id is reported as a duplicate, and where a repeat is impossible
/// (a redrive's id carries a new generation) a duplicate is an error: JetStream dropped the
/// message, and saying "sent" would lose it.
#[test]
fn duplicates_are_reported_and_refused_where_a_repeat_is_impossible() {
    let Some(s) = LoneNats::start() else {
        return;
    };
    let rt = &s.rt;
    let bus = bus(&s.nats, rt);
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
