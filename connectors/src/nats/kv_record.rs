//! Typed records in JetStream KV buckets (run manifests, progress, shard records): written once,
//! read, or changed with compare-and-set.

use async_nats::jetstream::kv;
use bytes::Bytes;
use ticketflow_schemas::Message;

use super::{BusError, js_err};

/// Applies `change` to the record under `key` with compare-and-set, retrying when another
/// writer was first. A key without a record starts from `missing()`, or, when that is `None`,
/// is answered with `Ok(None)`. Returns what `change` returned on the attempt that was stored,
/// the record as stored, and its size in bytes. `change` may run several times.
pub(super) async fn update_record<T: Message, R>(
    kv: &kv::Store,
    key: &str,
    what: &str,
    missing: impl Fn() -> Option<T>,
    mut change: impl FnMut(&mut T) -> R,
) -> Result<Option<(R, T, usize)>, BusError> {
    loop {
        let entry = kv
            .entry(key)
            .await
            .map_err(|e| js_err(format!("reading {what}"))(e.to_string()))?
            .filter(|e| e.operation == kv::Operation::Put);
        let mut record = match &entry {
            Some(e) => ticketflow_schemas::decode(&e.value)?,
            None => match missing() {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        let result = change(&mut record);
        let bytes = Bytes::from(ticketflow_schemas::encode(&record)?);
        let size = bytes.len();
        let stored = match &entry {
            Some(e) => kv
                .update(key, bytes, e.revision)
                .await
                .map(|_| true)
                .or_else(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => Ok(false),
                    _ => Err(e.to_string()),
                }),
            None => kv
                .create(key, bytes)
                .await
                .map(|_| true)
                .or_else(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => Ok(false),
                    _ => Err(e.to_string()),
                }),
        };
        if stored.map_err(js_err(format!("writing {what}")))? {
            return Ok(Some((result, record, size)));
        }
        tracing::debug!(key, what, "compare-and-set conflict, retrying");
    }
}

/// Writes `value` under `key` unless the key exists; false when it did.
pub(super) async fn create_record<T: Message>(
    kv: &kv::Store,
    key: &str,
    value: &T,
    what: &str,
) -> Result<bool, BusError> {
    let bytes = Bytes::from(ticketflow_schemas::encode(value)?);
    match kv.create(key, bytes).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(js_err(format!("writing {what}"))(e.to_string())),
    }
}

pub(super) async fn read_record<T: Message>(
    kv: &kv::Store,
    key: &str,
    what: &str,
) -> Result<Option<T>, BusError> {
    let bytes = kv
        .get(key)
        .await
        .map_err(|e| js_err(format!("reading {what}"))(e.to_string()))?;
    Ok(match bytes {
        Some(b) => Some(ticketflow_schemas::decode(&b)?),
        None => None,
    })
}
