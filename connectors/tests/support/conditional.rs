//! What every backend's compare-and-set must do (`Store::get_versioned` / `Store::put_if`),
//! checked against the real backends by `store_file.rs` and `store_s3.rs`.

use bytes::Bytes;
use ticketflow_connectors::store::{Expected, Store, StoreError};

/// Create-if-absent, update-if-unchanged, and a stale writer refused with nothing written.
pub async fn compare_and_set_contract(store: &Store) {
    let key = "datasets/default/latest.json";
    assert!(store.get_versioned(key).await.expect("get").is_none());

    store
        .put_if(key, Bytes::from("v1"), &Expected::Absent)
        .await
        .expect("create when absent");
    let err = store
        .put_if(key, Bytes::from("v1-again"), &Expected::Absent)
        .await
        .expect_err("a second create");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");

    let (bytes, v1) = store.get_versioned(key).await.expect("get").expect("some");
    assert_eq!(bytes, Bytes::from("v1"));
    store
        .put_if(key, Bytes::from("v2"), &Expected::Version(v1.clone()))
        .await
        .expect("update from the version read");
    // A writer that read v1 before the update: refused, and v2 stays.
    let err = store
        .put_if(key, Bytes::from("stale"), &Expected::Version(v1))
        .await
        .expect_err("a stale version");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("another writer"), "{err}");
    assert_eq!(store.get(key).await.expect("get"), Bytes::from("v2"));
}
