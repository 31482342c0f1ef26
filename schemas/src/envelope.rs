//! The versioned envelope around every message and stored record.
//!
//! On the wire a value is a MessagePack map `{v, kind, body}`:
//!
//! * `v` is [`SCHEMA_VERSION`]. A reader checks it *before* touching the body, so an
//!   incompatible producer is reported as exactly that, not as a confusing field error.
//! * `kind` names the type (`shard_task`, `run_manifest`, …), so a message published on the wrong
//!   subject is caught too.
//! * `body` is the value itself, with named fields: adding an optional field later stays
//!   readable by older workers within the same major version.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Bump when a change is not backwards compatible (a renamed or retyped field).
pub const SCHEMA_VERSION: u16 = 1;

/// A type that travels in an envelope.
pub trait Message: Serialize + DeserializeOwned {
    /// Stable name of the type on the wire.
    const KIND: &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "unsupported schema version {found} for {kind} (this build reads version {supported}); \
         upgrade or roll back so producers and consumers match"
    )]
    UnsupportedVersion {
        found: u16,
        supported: u16,
        kind: String,
    },
    #[error("expected a {expected} message, got {found}")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error("undecodable {kind} message: {detail}")]
    Decode { kind: &'static str, detail: String },
    #[error("cannot encode {kind}: {detail}")]
    Encode { kind: &'static str, detail: String },
}

#[derive(Serialize)]
struct EnvelopeRef<'a, T> {
    v: u16,
    kind: &'a str,
    body: &'a T,
}

#[derive(Deserialize)]
struct Header {
    v: u16,
    kind: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    body: T,
}

/// Serialises `value` into its envelope.
pub fn encode<T: Message>(value: &T) -> Result<Vec<u8>, SchemaError> {
    rmp_serde::to_vec_named(&EnvelopeRef {
        v: SCHEMA_VERSION,
        kind: T::KIND,
        body: value,
    })
    .map_err(|e| SchemaError::Encode {
        kind: T::KIND,
        detail: e.to_string(),
    })
}

/// Reads a `T` from its envelope, checking version and kind first.
pub fn decode<T: Message>(bytes: &[u8]) -> Result<T, SchemaError> {
    let undecodable = |e: rmp_serde::decode::Error| SchemaError::Decode {
        kind: T::KIND,
        detail: e.to_string(),
    };
    let header: Header = rmp_serde::from_slice(bytes).map_err(undecodable)?;
    if header.v != SCHEMA_VERSION {
        return Err(SchemaError::UnsupportedVersion {
            found: header.v,
            supported: SCHEMA_VERSION,
            kind: header.kind,
        });
    }
    if header.kind != T::KIND {
        return Err(SchemaError::WrongKind {
            expected: T::KIND,
            found: header.kind,
        });
    }
    let envelope: Envelope<T> = rmp_serde::from_slice(bytes).map_err(undecodable)?;
    Ok(envelope.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShardTask;

    fn task() -> ShardTask {
        ShardTask {
            run_id: "r1".into(),
            shard: 3,
            shard_count: 10,
            raw_key: "runs/r1/raw/shard-00003.jsonl".into(),
            tickets: 500,
            embed_input: "normalized".into(),
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&task()).expect("encode");
        assert_eq!(decode::<ShardTask>(&bytes).expect("decode"), task());
    }

    #[test]
    fn unknown_version_is_rejected_with_a_clear_error() {
        let bytes = rmp_serde::to_vec_named(&EnvelopeRef {
            v: SCHEMA_VERSION + 1,
            kind: ShardTask::KIND,
            body: &task(),
        })
        .expect("encode");
        let err = decode::<ShardTask>(&bytes).expect_err("must fail");
        assert!(matches!(
            err,
            SchemaError::UnsupportedVersion { found: 2, .. }
        ));
        let msg = err.to_string();
        assert!(msg.contains("unsupported schema version 2"), "{msg}");
        assert!(msg.contains("reads version 1"), "{msg}");
    }

    #[test]
    fn version_is_checked_before_the_body() {
        // A future version may change the body entirely; the error must still be the version.
        #[derive(Serialize)]
        struct Other {
            something: Vec<u8>,
        }
        let bytes = rmp_serde::to_vec_named(&EnvelopeRef {
            v: 9,
            kind: ShardTask::KIND,
            body: &Other {
                something: vec![1, 2],
            },
        })
        .expect("encode");
        assert!(matches!(
            decode::<ShardTask>(&bytes),
            Err(SchemaError::UnsupportedVersion { found: 9, .. })
        ));
    }

    #[test]
    fn wrong_kind_and_garbage_are_rejected() {
        let bytes = encode(&task()).expect("encode");
        assert!(matches!(
            decode::<crate::RunCompleted>(&bytes),
            Err(SchemaError::WrongKind { .. })
        ));
        assert!(matches!(
            decode::<ShardTask>(b"\xc1not msgpack"),
            Err(SchemaError::Decode { .. })
        ));
        assert!(matches!(
            decode::<ShardTask>(&[]),
            Err(SchemaError::Decode { .. })
        ));
    }
}
