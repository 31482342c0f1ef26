//! A panic while the embedder holds its model must cost one shard, not the replica: the model
//! lock is poisoned by the panic, and refusing a poisoned lock dead-lettered every later shard
//! while `/readyz` stayed green.
//!
//! The panic comes from a fail point (`embedder::embed`, compiled in for this crate's tests
//! only), on the real model.

mod support;

use bytes::Bytes;
use ticketflow_connectors::store::{Store, StoreConfig, keys};
use ticketflow_embed::EmbeddingModel;
use ticketflow_schemas::{CleanShardFile, CleanTicket, CleanedShard};
use ticketflow_workers::embedder::Embedder;
use ticketflow_workers::{StageError, StageWorker};

fn ticket(id: &str, text: &str) -> CleanTicket {
    support::clean_ticket(id, text)
}

async fn put_shard(store: &Store, run: &str, shard: u32) -> CleanedShard {
    let file = CleanShardFile {
        run_id: run.into(),
        shard,
        tickets: vec![
            // Texts differ per shard: a text seen before would be reused, not embedded.
            ticket(
                &format!("t{shard}a"),
                &format!("The VPN drops every {} minutes.", shard + 2),
            ),
            ticket(
                &format!("t{shard}b"),
                &format!("Please reset my password for account {shard}."),
            ),
        ],
    };
    let key = keys::clean_shard(run, shard);
    let bytes = ticketflow_schemas::encode(&file).expect("encode");
    store.put(&key, Bytes::from(bytes)).await.expect("put");
    CleanedShard {
        run_id: run.into(),
        shard,
        shard_count: 3,
        clean_key: key,
        tickets: 2,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panic_costs_one_shard_not_the_replica() {
    let Some(cfg) = support::model_config() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&StoreConfig::new(format!(
        "file://{}",
        dir.path().display()
    )))
    .expect("store");
    let model = EmbeddingModel::new(&cfg).expect("model");
    let stage = Embedder::new(store.clone(), model);

    let first = put_shard(&store, "r1", 0).await;
    let second = put_shard(&store, "r1", 1).await;
    let third = put_shard(&store, "r1", 2).await;

    stage.process(&first).await.expect("a healthy shard embeds");

    fail::cfg("embedder::embed", "1*panic").expect("fail point");
    let err = stage
        .process(&second)
        .await
        .expect_err("the panicking shard fails");
    fail::remove("embedder::embed");
    assert!(
        matches!(err, StageError::Permanent { .. }),
        "a panic is about the shard, so it counts as an attempt: {err:?}"
    );
    assert!(err.to_string().contains("panicked"), "{err}");

    let processed = stage
        .process(&third)
        .await
        .expect("the next shard embeds on the same replica");
    assert_eq!(processed.tickets, 2);
    let vectors = store
        .get(&keys::embeddings("r1", 2))
        .await
        .expect("the vectors are written");
    assert!(!vectors.is_empty());
}
