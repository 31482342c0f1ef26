//! A failing vector cache must cost reuse, never the shard (issue 23, defect 4).
//!
//! Reuse saves work; the embedder's own module says it is never worth failing a shard over.
//! Yet a store error under `vectors/` that is not transient (a bucket policy that allows
//! `runs/` only; here, a file standing where the `vectors/` folder should be) failed every
//! embedder shard, which then went to the dead-letter stream. Now the embedder warns, counts
//! the failure and embeds.

mod support;

use bytes::Bytes;
use ticketflow_connectors::store::{Store, StoreConfig, keys};
use ticketflow_embed::EmbeddingModel;
use ticketflow_schemas::{CleanShardFile, CleanTicket, CleanedShard};
use ticketflow_workers::StageWorker;
use ticketflow_workers::embedder::Embedder;

fn ticket(id: &str, text: &str) -> CleanTicket {
    support::clean_ticket(id, text)
}

#[tokio::test(flavor = "current_thread")]
async fn a_cache_that_cannot_be_read_or_written_costs_reuse_not_the_shard() {
    let Some(cfg) = support::model_config() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing can be listed, read or written under vectors/: a file stands where its folder
    // would be, so every store call there fails with a permanent error.
    std::fs::write(dir.path().join("vectors"), b"not a folder").expect("block vectors/");
    let store = Store::open(&StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .expect("store");
    let probe = store.put("vectors/probe", Bytes::from_static(b"x")).await;
    let error = probe.expect_err("writes under vectors/ fail");
    assert!(!error.is_transient(), "a permanent store error: {error}");

    let file = CleanShardFile {
        run_id: "r1".into(),
        shard: 0,
        tickets: vec![
            ticket("a", "The VPN drops every five minutes."),
            ticket("b", "Please reset my password."),
            ticket("c", "The VPN drops every five minutes."),
        ],
    };
    let clean_key = keys::clean_shard("r1", 0);
    store
        .put(
            &clean_key,
            Bytes::from(ticketflow_schemas::encode(&file).expect("encode")),
        )
        .await
        .expect("put shard");
    let stage = Embedder::new(store.clone(), EmbeddingModel::new(&cfg).expect("model"));
    let processed = stage
        .process(&CleanedShard {
            run_id: "r1".into(),
            shard: 0,
            shard_count: 1,
            clean_key,
            tickets: 3,
        })
        .await
        .expect("the shard is embedded without the cache");
    assert_eq!(processed.tickets, 3);
    assert_eq!(
        processed.counts.vectors_embedded, 2,
        "repeats still embedded once"
    );
    let npy = store
        .get(&keys::embeddings("r1", 0))
        .await
        .expect("the vectors are written");
    assert!(!npy.is_empty());
}
