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
    let missing = ticketflow_lifecycle::registry::RegistryError::NotFound { run_id: "m".into() };
    let e = StageError::from(missing);
    assert!(!e.is_transient());
    assert!(e.to_string().contains("model m not found"), "{e}");
    let registry_outage = ticketflow_lifecycle::registry::RegistryError::Store(backend(true));
    assert!(StageError::from(registry_outage).is_transient());
}

/// Defect (issue 23): every NATS error became a transient stage error, so a refused credential,
/// a message that does not decode or a run that does not exist were retried for the whole
/// transient hold instead of failing the attempt.
#[test]
fn nats_errors_are_classified_variant_by_variant() {
    let permanent = [
        BusError::Auth {
            url: "nats://n:4222".into(),
            what: "refused the credentials".into(),
            reason: "authorization violation".into(),
            hint: "check NATS_USER".into(),
        },
        BusError::Tls {
            url: "tls://n:4222".into(),
            reason: "unknown issuer".into(),
            hint: "check NATS_CA_FILE".into(),
        },
        BusError::Config("NATS_CREDS_FILE: no such file".into()),
        BusError::RunNotFound {
            run_id: "run-x".into(),
        },
        BusError::UnexpectedDuplicate {
            subject: "tf.clean".into(),
            msg_id: "m".into(),
        },
        BusError::Schema(ticketflow_schemas::SchemaError::Decode {
            kind: "ShardTask",
            detail: "truncated".into(),
        }),
    ];
    for e in permanent {
        let shown = e.to_string();
        assert!(!StageError::from(e).is_transient(), "{shown}");
    }
    let transient = [
        BusError::Connect {
            url: "nats://n:4222".into(),
            detail: "connection refused".into(),
        },
        BusError::JetStream {
            what: "publish".into(),
            detail: "timed out".into(),
        },
    ];
    for e in transient {
        let shown = e.to_string();
        assert!(StageError::from(e).is_transient(), "{shown}");
    }
}
