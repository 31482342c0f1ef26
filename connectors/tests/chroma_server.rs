//! The Chroma client against a real Chroma 1.x server (`chroma run`, PyPI `chromadb`).
//!
//! One server is started for this test binary, on a free loopback port with a fresh data
//! directory; every test uses its own collection, so tests stay independent and may run in
//! parallel. The server is found at `$TICKETFLOW_CHROMA_BIN`, `var/bin/chroma` or
//! `.venv-services/bin/chroma` (what `make setup` installs). Without it the tests that need it
//! print why and pass, unless `TICKETFLOW_REQUIRE_SERVICES=1` (CI), where they fail.
//!
//! The server is stopped when its guard is dropped *or* when this test process exits, however
//! it exits: it runs under a small shell watchdog that kills it when its stdin — a pipe from
//! this process — closes. That matters because a server shared through a `static` is never
//! dropped.
//!
//! Tests that need no server (unreachable address, stalled server, token header) use plain
//! TCP listeners on 127.0.0.1.

#[path = "support/chroma.rs"]
mod chroma_support;

use std::time::{Duration, Instant};
use ticketflow_testkit::Requirement;

use chroma_support::{ChromaServer, chroma_binary, free_port};

use serde_json::{Map, Value, json};
use ticketflow_connectors::chroma::{
    ChromaClient, ChromaConfig, ChromaError, VectorRecord, parse_where,
};
use tokio::sync::OnceCell;

/// The embedding dimension of all-MiniLM-L6-v2, used for realistic payloads.
const DIM: usize = 384;
/// In a cosine collection Chroma stores vectors normalized and returns them rescaled, so a
/// component may come back one ulp off (relative error about 1.2e-7): compare within this.
const VECTOR_TOLERANCE: f32 = 1e-6;

static SERVER: OnceCell<Result<Option<ChromaServer>, String>> = OnceCell::const_new();

/// The shared server, or `None` (test skipped) when the binary is missing and services are
/// not required.
async fn server() -> Option<&'static ChromaServer> {
    let started = SERVER
        .get_or_init(|| async {
            let Some(bin) = chroma_binary() else {
                let msg = "chroma binary not found (var/bin/chroma, .venv-services/bin/chroma \
                           or $TICKETFLOW_CHROMA_BIN): run make setup";
                // Reported from the caller's thread: a panic inside the OnceCell would poison
                // the other tests' wait instead of failing them with this message.
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

async fn connect(server: &ChromaServer, collection: &str, cap: Option<usize>) -> ChromaClient {
    let cfg = ChromaConfig {
        max_batch_size: cap,
        ..ChromaConfig::new(&server.url, collection)
    };
    ChromaClient::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("connect to {collection}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// A deterministic pseudo-random vector (SplitMix64), components in [-1, 1).
fn vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..dim)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const TYPES: [&str; 4] = ["Incident", "Request", "Problem", "Change"];

fn meta(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("metadata must be an object, got {other}"),
    }
}

fn ticket(i: usize, version: i64) -> VectorRecord {
    VectorRecord {
        id: format!("t-{i:05}"),
        embedding: vector(i as u64, DIM),
        document: format!("ticket {i}, version {version}"),
        metadata: meta(json!({
            "type": TYPES[i % 4],
            "language": if i.is_multiple_of(2) { "en" } else { "de" },
            "row": i,
            "version": version,
        })),
    }
}

fn ids(records: &[VectorRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn assert_vectors_close(got: &[f32], want: &[f32], id: &str) {
    assert_eq!(got.len(), want.len(), "{id}: dimension");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= VECTOR_TOLERANCE,
            "{id}[{j}]: got {g}, stored {w}"
        );
    }
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (norm(a) * norm(b))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests against the server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn connect_gets_or_creates_a_cosine_collection() {
    let Some(server) = server().await else { return };
    let cfg = ChromaConfig {
        auth_token: Some("tok-never-shown".into()),
        ..ChromaConfig::new(format!("{}/", server.url), "connect-once")
    };
    let first = ChromaClient::connect(&cfg).await.expect("first connect");
    let again = ChromaClient::connect(&cfg).await.expect("second connect");
    assert_eq!(first.collection_id(), again.collection_id());
    assert_eq!(first.count().await.expect("count"), 0);

    let described = first.describe();
    assert!(described.contains(&server.url), "{described}");
    assert!(described.contains("connect-once"), "{described}");
    assert!(!described.contains("tok-never-shown"), "{described}");
    assert!(!format!("{first:?}").contains("tok-never-shown"));

    // Without a cap the batch size is the server's own limit.
    let preflight: Value = reqwest::get(format!("{}/api/v2/pre-flight-checks", server.url))
        .await
        .expect("pre-flight")
        .json()
        .await
        .expect("pre-flight json");
    let server_max = preflight["max_batch_size"]
        .as_u64()
        .expect("max_batch_size");
    assert_eq!(first.max_batch_size() as u64, server_max);

    // The collection really is cosine: a vector and its double are at distance 0.
    let v = vector(1, 8);
    let doubled: Vec<f32> = v.iter().map(|x| x * 2.0).collect();
    first
        .upsert(&[VectorRecord {
            id: "a".into(),
            embedding: doubled,
            document: String::new(),
            metadata: Map::new(),
        }])
        .await
        .expect("upsert");
    let hits = first.query(&v, 1, None).await.expect("query");
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].distance.abs() < 1e-5,
        "distance {}",
        hits[0].distance
    );
}

#[tokio::test]
async fn an_existing_collection_with_another_space_is_refused() {
    let Some(server) = server().await else { return };
    let url = format!(
        "{}/api/v2/tenants/default_tenant/databases/default_database/collections",
        server.url
    );
    let resp = reqwest::Client::new()
        .post(url)
        .json(&json!({"name": "made-with-l2", "configuration": {"hnsw": {"space": "l2"}}}))
        .send()
        .await
        .expect("create l2 collection");
    assert!(resp.status().is_success(), "{}", resp.status());

    let err = ChromaClient::connect(&ChromaConfig::new(&server.url, "made-with-l2"))
        .await
        .expect_err("an l2 collection must be refused");
    assert!(
        matches!(&err, ChromaError::SpaceMismatch { found, .. } if found == "l2"),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn upsert_batches_counts_and_is_idempotent() {
    let Some(server) = server().await else { return };
    // The server accepts thousands per request; a cap of 1,000 makes 2,500 records 3 batches.
    let client = connect(server, "upsert-batches", Some(1000)).await;
    assert_eq!(client.max_batch_size(), 1000);

    let records: Vec<VectorRecord> = (0..2500).map(|i| ticket(i, 1)).collect();
    let t = Instant::now();
    client.upsert(&records).await.expect("upsert 2,500");
    eprintln!(
        "upserted 2,500 × {DIM}-d in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    assert_eq!(client.count().await.expect("count"), 2500);
    eprintln!("counted in {:.2} s", t.elapsed().as_secs_f64());

    // Everything comes back: vectors, documents, metadata (fetched in batches too).
    let t = Instant::now();
    let got = client.get(&ids(&records)).await.expect("get 2,500");
    eprintln!("got 2,500 back in {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(got.len(), 2500);
    for (g, r) in got.iter().zip(&records) {
        assert_eq!(g.id, r.id);
        assert_vectors_close(&g.embedding, &r.embedding, &r.id);
        assert_eq!(g.document, r.document);
        assert_eq!(g.metadata, r.metadata);
    }

    // The same ids again: no new records, new documents and metadata.
    let updated: Vec<VectorRecord> = (0..2500).map(|i| ticket(i, 2)).collect();
    let t = Instant::now();
    client.upsert(&updated).await.expect("upsert again");
    eprintln!("re-upserted 2,500 in {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(client.count().await.expect("count"), 2500);
    let sample = strings(&["t-00000", "t-01234", "t-02499"]);
    for g in client.get(&sample).await.expect("get sample") {
        assert!(g.document.ends_with("version 2"), "{}", g.document);
        assert_eq!(g.metadata["version"], json!(2));
    }

    // Changed vectors are written; a repeated id keeps its last record.
    let mut changed: Vec<VectorRecord> = (0..10)
        .map(|i| VectorRecord {
            embedding: vector(10_000 + i as u64, DIM),
            ..ticket(i, 3)
        })
        .collect();
    changed.push(VectorRecord {
        embedding: vector(20_000, DIM),
        document: "last wins".into(),
        ..ticket(0, 4)
    });
    client.upsert(&changed).await.expect("upsert changed");
    assert_eq!(client.count().await.expect("count"), 2500);
    let got = client.get(&ids(&changed[..10])).await.expect("get changed");
    assert_vectors_close(&got[0].embedding, &vector(20_000, DIM), "t-00000");
    assert_eq!(got[0].document, "last wins");
    for (g, want) in got.iter().zip(&changed).skip(1) {
        assert_vectors_close(&g.embedding, &want.embedding, &g.id);
        assert_eq!(g.metadata["version"], json!(3));
    }
    let hits = client
        .query(&vector(10_005, DIM), 1, None)
        .await
        .expect("query changed");
    assert_eq!(hits[0].id, "t-00005", "the index follows the new vector");
}

#[tokio::test]
async fn get_keeps_order_skips_unknown_ids_and_converts_metadata() {
    let Some(server) = server().await else { return };
    let client = connect(server, "get-roundtrip", None).await;
    let records = vec![
        VectorRecord {
            id: "a".into(),
            embedding: vec![1.0, 0.0, 0.0, 0.5],
            document: "first".into(),
            metadata: meta(json!({
                "type": "Incident", "priority": 3, "score": 0.75, "urgent": true,
                "tags": ["billing", "login"], "gone": null, "extra": {"k": 1}, "none": [],
            })),
        },
        VectorRecord {
            id: "b".into(),
            embedding: vec![-0.25, 3.5, 1e-3, 7.0],
            document: String::new(),
            metadata: Map::new(),
        },
    ];
    client.upsert(&records).await.expect("upsert");

    let got = client
        .get(&strings(&["b", "missing", "a", "b"]))
        .await
        .expect("get");
    assert_eq!(
        got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_vectors_close(&got[0].embedding, &records[1].embedding, "b");
    assert_vectors_close(&got[1].embedding, &records[0].embedding, "a");
    assert_eq!(got[0].document, "");
    assert!(got[0].metadata.is_empty());
    assert_eq!(got[1].document, "first");
    assert_eq!(
        Value::Object(got[1].metadata.clone()),
        json!({
            "type": "Incident", "priority": 3, "score": 0.75, "urgent": true,
            "tags": ["billing", "login"], "extra": "{\"k\":1}",
        })
    );
    assert!(client.get(&[]).await.expect("get nothing").is_empty());
}

#[tokio::test]
async fn query_returns_nearest_first_within_the_filter() {
    let Some(server) = server().await else { return };
    let client = connect(server, "query-filter", None).await;
    let records: Vec<VectorRecord> = (0..200).map(|i| ticket(i, 1)).collect();
    client.upsert(&records).await.expect("upsert");

    // Unfiltered: the record itself comes first, at distance ~0, then increasing distances.
    let probe = &records[17];
    let hits = client
        .query(&probe.embedding, 5, None)
        .await
        .expect("query");
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0].id, probe.id);
    assert!(hits[0].distance.abs() < 1e-5, "{}", hits[0].distance);
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    assert_eq!(hits[0].document.as_deref(), Some(probe.document.as_str()));
    assert_eq!(hits[0].metadata, probe.metadata);

    // Filtered: record 17 is a Request, so it must not appear; the first hit is the true
    // nearest Problem ticket (brute force over the 50 of them).
    let filter = parse_where(&strings(&["type=Problem"])).expect("parse");
    let hits = client
        .query(&probe.embedding, 10, filter)
        .await
        .expect("filtered query");
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.metadata["type"] == json!("Problem")));
    let nearest = records
        .iter()
        .filter(|r| r.metadata["type"] == json!("Problem"))
        .min_by(|a, b| {
            cosine_distance(&a.embedding, &probe.embedding)
                .total_cmp(&cosine_distance(&b.embedding, &probe.embedding))
        })
        .expect("some Problem ticket");
    assert_eq!(hits[0].id, nearest.id);
    let want = cosine_distance(&nearest.embedding, &probe.embedding);
    assert!(
        (f64::from(hits[0].distance) - want).abs() < 1e-4,
        "{} vs {want}",
        hits[0].distance
    );

    // Several conditions, with a typed (integer) comparison.
    let filter =
        parse_where(&strings(&["type=Incident", "language=en", "row>=100"])).expect("parse");
    let hits = client
        .query(&probe.embedding, 100, filter)
        .await
        .expect("and query");
    // Incident is i % 4 == 0, so always "en": rows 100, 104, ..., 196.
    assert_eq!(hits.len(), 25);
    assert!(hits.iter().all(|h| {
        h.metadata["type"] == json!("Incident") && h.metadata["row"].as_i64() >= Some(100)
    }));

    // get_where: the same filter language, with a limit.
    let de = parse_where(&strings(&["language=de"]))
        .expect("parse")
        .expect("one condition");
    let all_de = client.get_where(de.clone(), 1000).await.expect("get_where");
    assert_eq!(all_de.len(), 100);
    assert!(all_de.iter().all(|r| r.metadata["language"] == json!("de")));
    assert!(all_de.iter().all(|r| r.embedding.len() == DIM));
    assert_eq!(client.get_where(de, 7).await.expect("limited").len(), 7);
}

#[tokio::test]
async fn update_metadata_merges_sets_and_removes_keys() {
    let Some(server) = server().await else { return };
    let client = connect(server, "update-metadata", None).await;
    let records: Vec<VectorRecord> = (0..3)
        .map(|i| VectorRecord {
            id: format!("u{i}"),
            embedding: vector(100 + i, 8),
            document: format!("doc {i}"),
            metadata: meta(json!({"type": "Incident", "stale": "x"})),
        })
        .collect();
    client.upsert(&records).await.expect("upsert");

    let patch = meta(json!({"predicted_type": "Problem", "stale": null}));
    client
        .update_metadata(
            &strings(&["u0", "u1", "not-there"]),
            &[patch.clone(), patch.clone(), patch],
        )
        .await
        .expect("update");
    let got = client
        .get(&strings(&["u0", "u1", "u2"]))
        .await
        .expect("get");
    for g in &got[..2] {
        assert_eq!(
            Value::Object(g.metadata.clone()),
            json!({"type": "Incident", "predicted_type": "Problem"}),
            "{}",
            g.id
        );
        assert_eq!(
            g.document,
            format!("doc {}", &g.id[1..]),
            "document untouched"
        );
    }
    assert_eq!(got[2].metadata, records[2].metadata);
    assert_eq!(
        client.count().await.expect("count"),
        3,
        "unknown ids are not created"
    );

    // Re-indexing merges too: the prediction survives an upsert that does not name it.
    client.upsert(&records[..1]).await.expect("re-upsert");
    let again = client.get(&strings(&["u0"])).await.expect("get");
    assert_eq!(again[0].metadata["predicted_type"], json!("Problem"));

    let err = client
        .update_metadata(&strings(&["u0"]), &[])
        .await
        .expect_err("length mismatch");
    assert!(matches!(err, ChromaError::InvalidInput { .. }), "{err:?}");
}

/// What the indexer relies on to keep Chroma's metadata in step with the ticket (issue 23,
/// defect 2): an upsert *merges* metadata, so a key left out keeps its old value, and only an
/// explicit null removes it.
#[tokio::test]
async fn an_upsert_keeps_keys_it_leaves_out_and_removes_keys_it_sets_to_null() {
    let Some(server) = server().await else { return };
    let client = connect(server, "upsert-null", None).await;
    let record = |metadata: Value| VectorRecord {
        id: "n0".into(),
        embedding: vector(7, 8),
        document: "doc".into(),
        metadata: meta(metadata),
    };
    client
        .upsert(&[record(
            json!({"type": "Incident", "queue": "IT", "embedding_model": "m1"}),
        )])
        .await
        .expect("upsert");
    client
        .upsert(&[record(json!({"type": "Incident"}))])
        .await
        .expect("upsert without the keys");
    let got = client.get(&strings(&["n0"])).await.expect("get");
    assert_eq!(got[0].metadata["queue"], json!("IT"), "left out: kept");
    client
        .upsert(&[record(
            json!({"type": "Incident", "queue": null, "embedding_model": null}),
        )])
        .await
        .expect("upsert with nulls");
    let got = client.get(&strings(&["n0"])).await.expect("get");
    assert_eq!(
        Value::Object(got[0].metadata.clone()),
        json!({"type": "Incident"}),
        "null: removed"
    );
}

#[tokio::test]
async fn bad_requests_are_permanent_errors() {
    let Some(server) = server().await else { return };
    let client = connect(server, "bad-requests", None).await;
    client.upsert(&[ticket(0, 1)]).await.expect("upsert");

    // Chroma rejects two keys in one clause; that is the caller's bug, not a transient fault.
    let err = client
        .query(
            &vector(0, DIM),
            3,
            Some(json!({"type": "Incident", "language": "en"})),
        )
        .await
        .expect_err("invalid where");
    assert!(
        matches!(&err, ChromaError::Http { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());

    // The collection's dimension is fixed by its first record.
    let short = VectorRecord {
        embedding: vector(1, DIM / 2),
        ..ticket(1, 1)
    };
    let err = client.upsert(&[short]).await.expect_err("wrong dimension");
    assert!(
        matches!(&err, ChromaError::Http { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains("dimension"), "{err}");

    // NaN never leaves the process.
    let nan = VectorRecord {
        embedding: vec![f32::NAN; DIM],
        ..ticket(2, 1)
    };
    let err = client.upsert(&[nan]).await.expect_err("NaN");
    assert!(matches!(&err, ChromaError::InvalidInput { .. }), "{err:?}");
    assert_eq!(client.count().await.expect("count"), 1);
}

// ---------------------------------------------------------------------------------------------
// Failure modes that need no Chroma
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreachable_server_is_a_quick_transient_error() {
    let port = free_port(); // bound and released: nothing listens there now
    let t = Instant::now();
    let err = ChromaClient::connect(&ChromaConfig::new(format!("http://127.0.0.1:{port}"), "x"))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, ChromaError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn a_stalled_server_times_out_as_transient() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let cfg = ChromaConfig {
        request_timeout: Duration::from_millis(300),
        ..ChromaConfig::new(url, "x")
    };
    let t = Instant::now();
    let err = ChromaClient::connect(&cfg).await.expect_err("no answer");
    assert!(matches!(err, ChromaError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    holder.abort();
}

#[test]
fn parse_where_builds_chroma_filters() {
    assert_eq!(parse_where(&[]).expect("empty"), None);
    assert_eq!(
        parse_where(&strings(&["type=Incident"])).expect("one"),
        Some(json!({"type": {"$eq": "Incident"}}))
    );
    assert_eq!(
        parse_where(&strings(&["type=Incident", "language=de"])).expect("two"),
        Some(json!({"$and": [{"type": {"$eq": "Incident"}}, {"language": {"$eq": "de"}}]}))
    );
    assert_eq!(
        parse_where(&strings(&["priority>=2", "queue!=\"7\""])).expect("typed"),
        Some(json!({"$and": [{"priority": {"$gte": 2}}, {"queue": {"$ne": "7"}}]}))
    );
    for bad in ["type", "=Incident", "type=", "priority>high"] {
        let err = parse_where(&strings(&[bad])).expect_err(bad);
        assert!(matches!(err, ChromaError::Where { .. }), "{bad}: {err:?}");
        assert!(!err.is_transient());
    }
}
