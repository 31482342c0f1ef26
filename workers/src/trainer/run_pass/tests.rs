//! The pass writes the feature table while it reads the run (defect 9 of issue 23: it used to
//! hold the whole table and `put` it once at the end). A recording layer in front of a real
//! `file://` store (`ticketflow_testkit::store_recorder`) logs every request in order; the test
//! reads that log.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use ndarray::Array2;
use ticketflow_connectors::store::{Store, StoreConfig, keys};
use ticketflow_lifecycle::run::read::RunShards;
use ticketflow_lifecycle::tensors;
use ticketflow_schemas::{CleanShardFile, CleanTicket, RunManifest, RunProgress};
use ticketflow_testkit::store_recorder::{Recorder, Request, StoreLog};

use super::stream_run;

const SHARDS: u32 = 8;
const PER_SHARD: u32 = 300;
const PART_BYTES: usize = 16 * 1024;

fn ticket(shard: u32, i: u32) -> CleanTicket {
    CleanTicket {
        id: format!("t-{shard}-{i}"),
        row: u64::from(shard * PER_SHARD + i),
        text: "printer on floor three does not print".into(),
        tokens: vec!["printer".into(), "floor".into(), "print".into()],
        language: Some("en".into()),
        language_source: "given".into(),
        ticket_type: Some(
            if i.is_multiple_of(2) {
                "Incident"
            } else {
                "Request"
            }
            .into(),
        ),
        queue: Some("IT Support".into()),
        priority: Some("high".into()),
        has_subject: true,
        placeholder_count: 0,
    }
}

/// A run of [`SHARDS`] embedded shards in `store`, as the cleaner and embedder leave it.
async fn write_run(store: &Store) -> (RunManifest, RunProgress) {
    let run_id = "r-stream";
    let progress = RunProgress::new(run_id, SHARDS, 0);
    for shard in 0..SHARDS {
        let tickets: Vec<CleanTicket> = (0..PER_SHARD).map(|i| ticket(shard, i)).collect();
        let file = CleanShardFile {
            run_id: run_id.into(),
            shard,
            tickets,
        };
        let bytes = ticketflow_schemas::encode(&file).expect("encode");
        store
            .put(&keys::clean_shard(run_id, shard), Bytes::from(bytes))
            .await
            .expect("put shard");
        let vectors = Array2::from_shape_fn((PER_SHARD as usize, 4), |(r, c)| (r + c) as f32);
        let npy = tensors::to_npy(&vectors).expect("npy");
        store
            .put(&keys::embeddings(run_id, shard), Bytes::from(npy))
            .await
            .expect("put vectors");
    }
    let manifest = RunManifest {
        run_id: run_id.into(),
        input: "generated".into(),
        input_digest: String::new(),
        created_at_ms: 0,
        shard_size: PER_SHARD,
        shard_count: SHARDS,
        tickets: u64::from(SHARDS * PER_SHARD),
        quarantined: 0,
        quarantine_key: None,
        labelled: true,
        embed_input: "normalized".into(),
        dataset: "default".into(),
    };
    (manifest, progress)
}

#[tokio::test]
async fn the_feature_table_goes_out_in_parts_while_the_run_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(StoreLog::default());
    let plain = Store::open(&StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .expect("store");
    let (manifest, progress) = write_run(&plain).await;
    let store = plain
        .with_part_bytes(PART_BYTES)
        .expect("part size")
        .layered(|inner| Recorder::new(inner, &log).into_dyn());

    let shards = RunShards::new(&store, &manifest, &progress);
    let pass = stream_run(&store, 100, &manifest, &shards, None, &HashMap::new(), None)
        .await
        .expect("pass");
    assert_eq!(pass.ids.len(), (SHARDS * PER_SHARD) as usize);

    let log = log.requests();
    let features = keys::features(&manifest.run_id);
    assert!(
        !log.iter()
            .any(|r| matches!(r, Request::Put(key, _) if key.ends_with(&features))),
        "the feature table must not be sent whole in one request"
    );
    // Where each shard's vectors were read, and where parts were sent.
    let read_at: Vec<usize> = (0..SHARDS)
        .map(|s| {
            let key = keys::embeddings(&manifest.run_id, s);
            log.iter()
                .position(|r| matches!(r, Request::Get(k) if k.ends_with(&key)))
                .expect("every shard is read")
        })
        .collect();
    let parts: Vec<(usize, usize)> = log
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Request::Part(bytes) => Some((i, *bytes)),
            _ => None,
        })
        .collect();
    let table_bytes: usize = parts.iter().map(|(_, b)| b).sum();
    assert!(
        table_bytes > 4 * PART_BYTES,
        "the table is several parts long: {table_bytes} bytes"
    );
    assert!(
        parts.iter().all(|(_, b)| *b <= PART_BYTES),
        "no part is larger than the part size: {parts:?}"
    );
    // Memory holds at most about one shard's rows plus a part: by the time the last shard is
    // read, the rows of all the shards before it have gone out, but for the unfilled part.
    let sent_before_last: usize = parts
        .iter()
        .filter(|(i, _)| *i < read_at[SHARDS as usize - 1])
        .map(|(_, b)| b)
        .sum();
    let written_before_last = table_bytes / SHARDS as usize * (SHARDS as usize - 1);
    assert!(
        sent_before_last + PART_BYTES >= written_before_last,
        "only {sent_before_last} of {table_bytes} bytes were sent before the last shard was read \
         (parts at {parts:?}, shards read at {read_at:?}): the table is being held in memory"
    );
    assert_eq!(log.last(), Some(&Request::Complete), "completed last");

    // And the table is whole: one header, every ticket once, in run order.
    let csv = store.get(&features).await.expect("table");
    let text = String::from_utf8(csv.to_vec()).expect("utf-8");
    let mut lines = text.lines();
    assert!(lines.next().expect("header").starts_with("id,"));
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap_or("")).collect();
    assert_eq!(ids, pass.ids.iter().map(String::as_str).collect::<Vec<_>>());
}
