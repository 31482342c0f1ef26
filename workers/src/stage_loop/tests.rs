//! Tests of [`super`] (stage_loop.rs), kept beside it so the module itself stays readable.

use super::*;

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(1), Duration::from_secs(1));
    assert_eq!(backoff(2), Duration::from_secs(2));
    assert_eq!(backoff(4), Duration::from_secs(8));
    assert_eq!(backoff(50), Duration::from_secs(30));
}

#[test]
fn connector_errors_classify_themselves_and_stay_the_source() {
    use std::error::Error as _;
    use ticketflow_connectors::store::{Op, StoreError};
    let backend = |transient| StoreError::Backend {
        op: Op::Get,
        key: "runs/r/x".into(),
        store: "s3://b".into(),
        transient,
        source: object_store::Error::Generic {
            store: "test",
            source: "connection reset".into(),
        },
    };
    let outage = StageError::from(backend(true));
    assert!(outage.is_transient());
    assert!(
        outage.source().is_some(),
        "the store error is kept for logs"
    );
    assert!(!StageError::from(backend(false)).is_transient());
    let missing = crate::registry::RegistryError::NotFound { run_id: "m".into() };
    let e = StageError::from(missing);
    assert!(!e.is_transient());
    assert!(e.to_string().contains("model m not found"), "{e}");
    let registry_outage = crate::registry::RegistryError::Store(backend(true));
    assert!(StageError::from(registry_outage).is_transient());
}
