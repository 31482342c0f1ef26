//! Tests of [`super::upsert`]'s concurrent batches against a real Chroma server.
//!
//! The server is started as the connector's integration tests start it (`chroma run` on a free
//! loopback port with a fresh data directory, `tests/support/chroma.rs`); one server serves the
//! tests below, each on its own collection. Without the binary they skip, unless
//! `TICKETFLOW_REQUIRE_SERVICES=1`.
//!
//! A tiny batch size (5 records) turns a hundred records into twenty-odd batches, so a bound
//! of 3 is exercised many times over, and the client's own count of requests in flight
//! ([`ChromaClient::requests_in_flight_peak`]) shows it is never passed.

#[path = "../../tests/support/chroma.rs"]
mod chroma_support;

use std::collections::BTreeSet;

use serde_json::{Map, json};
use ticketflow_testkit::Requirement;
use tokio::sync::OnceCell;

use super::*;
use chroma_support::{ChromaServer, chroma_binary};

const DIM: usize = 16;
const BATCH: usize = 5;
const BOUND: usize = 3;

static SERVER: OnceCell<Result<Option<ChromaServer>, String>> = OnceCell::const_new();

/// The shared server, or `None` (test skipped) when the binary is missing and services are
/// not required.
async fn server() -> Option<&'static ChromaServer> {
    let started = SERVER
        .get_or_init(|| async {
            let Some(bin) = chroma_binary() else {
                let msg = "chroma binary not found (var/bin/chroma or $TICKETFLOW_CHROMA_BIN): \
                           run make setup";
                if Requirement::Services.is_required() {
                    return Err(msg.to_owned());
                }
                Requirement::Services.missing(msg);
                return Ok(None);
            };
            ChromaServer::start(&bin).await.map(Some)
        })
        .await;
    match started {
        Ok(server) => server.as_ref(),
        Err(e) => panic!("cannot start chroma: {e}"),
    }
}

async fn connect(server: &ChromaServer, collection: &str, concurrent: usize) -> ChromaClient {
    let cfg = ChromaConfig {
        max_batch_size: Some(BATCH),
        concurrent_batches: concurrent,
        ..ChromaConfig::new(&server.url, collection)
    };
    ChromaClient::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("connect to {collection}: {e}"))
}

/// A deterministic vector for `seed` (xorshift), components in [-1, 1).
fn vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut next = ticketflow_testkit::xorshift(seed + 1);
    (0..dim)
        .map(|_| (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

fn record(i: usize, version: u64) -> VectorRecord {
    VectorRecord {
        id: format!("r-{i:04}"),
        embedding: vector(i as u64, DIM),
        document: format!("record {i} version {version}"),
        metadata: Map::from_iter([("version".to_owned(), json!(version))]),
    }
}

fn id_set(records: &[VectorRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test]
async fn concurrent_batches_write_every_record_once_and_stay_within_the_bound() {
    let Some(server) = server().await else { return };
    let client = connect(server, "concurrent-batches", BOUND).await;
    assert_eq!(client.concurrent_batches(), BOUND);

    // 103 ids in 21 batches of 5, plus a repeat of r-0007 whose last record must win.
    let mut records: Vec<VectorRecord> = (0..103).map(|i| record(i, 1)).collect();
    records.push(VectorRecord {
        document: "r-0007, the last one".into(),
        ..record(7, 1)
    });
    client.reset_requests_in_flight_peak();
    let counts = client.upsert_counted(&records).await.expect("first upsert");
    let peak = client.requests_in_flight_peak();
    assert!(
        (2..=BOUND).contains(&peak),
        "requests in flight peaked at {peak}: batches must overlap, up to {BOUND}"
    );
    assert_eq!(
        counts,
        UpsertCounts {
            vectors_written: 103,
            vectors_unchanged: 0
        }
    );
    assert_eq!(client.count().await.expect("count"), 103);
    let wanted = id_set(&records);
    let ids: Vec<String> = wanted.iter().cloned().collect();
    let stored = client.get(&ids).await.expect("get");
    assert_eq!(id_set(&stored), wanted, "every id, no other");
    for s in &stored {
        let want = records
            .iter()
            .rev()
            .find(|r| r.id == s.id)
            .expect("known id");
        assert_eq!(s.document, want.document, "{}", s.id);
    }

    // Again with every fourth vector changed: the others are recognised as unchanged batch by
    // batch (document and metadata only), as without concurrency.
    let again: Vec<VectorRecord> = (0..103)
        .map(|i| VectorRecord {
            embedding: if i % 4 == 0 {
                vector(10_000 + i as u64, DIM)
            } else {
                vector(i as u64, DIM)
            },
            ..record(i, 2)
        })
        .collect();
    client.reset_requests_in_flight_peak();
    let counts = client.upsert_counted(&again).await.expect("second upsert");
    assert!(client.requests_in_flight_peak() <= BOUND);
    assert_eq!(
        counts,
        UpsertCounts {
            vectors_written: 26,
            vectors_unchanged: 77
        }
    );
    assert_eq!(client.count().await.expect("count"), 103);
    let stored = client.get(&ids).await.expect("get again");
    assert_eq!(id_set(&stored), wanted);
    for (s, want) in stored.iter().zip(&again) {
        assert_eq!(s.id, want.id);
        assert_eq!(s.document, want.document);
        assert!(same_vector(&s.embedding, &want.embedding), "{}", s.id);
    }

    // A bound of 1 is today's behaviour: one request at a time.
    let sequential = connect(server, "concurrent-batches", 1).await;
    let counts = sequential.upsert_counted(&again).await.expect("sequential");
    assert_eq!(sequential.requests_in_flight_peak(), 1);
    assert_eq!(counts.vectors_unchanged, 103);
}

#[tokio::test]
async fn a_failing_batch_ends_the_call_with_its_own_typed_error() {
    let Some(server) = server().await else { return };
    let client = connect(server, "concurrent-batches-error", BOUND).await;
    client
        .upsert(&[record(0, 1)])
        .await
        .expect("fix the dimension");
    // Every batch of these is refused by the server (the collection's dimension is 16).
    let wrong: Vec<VectorRecord> = (1..40)
        .map(|i| VectorRecord {
            embedding: vector(i as u64, DIM / 2),
            ..record(i, 1)
        })
        .collect();
    let err = client.upsert(&wrong).await.expect_err("wrong dimension");
    assert!(
        matches!(&err, ChromaError::Http { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient(), "a bad request is not retried");
    assert!(client.requests_in_flight_peak() <= BOUND);
    assert_eq!(client.count().await.expect("count"), 1);
}

#[tokio::test]
async fn zero_concurrent_batches_is_refused_before_any_request() {
    let cfg = ChromaConfig {
        concurrent_batches: 0,
        // Nothing listens on port 9: a request would fail as Unreachable, not as Config.
        ..ChromaConfig::new("http://127.0.0.1:9", "x")
    };
    let err = ChromaClient::connect(&cfg).await.expect_err("zero");
    assert!(matches!(&err, ChromaError::Config(m) if m.contains("concurrent_batches")));
}

/// Compiles only if an upsert can be awaited inside a `Send` future for any borrow of the
/// client and records, as the workers' `async_trait` stages need (a stream of closures once
/// broke that: "implementation of `FnOnce` is not general enough").
#[test]
fn upsert_futures_are_send_for_any_borrow() {
    fn send<T: Send>(_: T) {}
    fn boxed<'a>(
        client: &'a ChromaClient,
        records: &'a [VectorRecord],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), ChromaError>> + Send + 'a>> {
        Box::pin(async move {
            client.upsert(records).await?;
            client.upsert_counted(records).await.map(|_| ())
        })
    }
    send(boxed);
}
