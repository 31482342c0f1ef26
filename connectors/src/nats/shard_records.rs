//! Each shard's own record in the KV bucket `tf_shards` (key `<run>.<shard>`): what a shard
//! update writes there costs the same at any shard count, unlike an entry per shard in the
//! run's progress record, which every update rewrites whole.
//!
//! Per shard, a stage reads its record once (was this shard counted already?) and writes it
//! once (one more finish). Reading *every* record of a run is a scan, done at apparent
//! completion, by `runs show --json` and by audits: one ordered consumer that delivers the
//! last value of each key, not one GET per shard.

use std::collections::BTreeMap;

use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use futures::StreamExt;
use ticketflow_schemas::{ShardRecord, Stage};

use super::kv_record::{read_record, update_record};
use super::{BUCKET_SHARDS, Bus, BusError, js_err};

/// The key of a shard's record in `tf_shards`.
fn shard_key(run_id: &str, shard: u32) -> String {
    format!("{run_id}.{shard}")
}

impl Bus {
    /// A shard's own record, if any stage has recorded it yet. One GET.
    pub async fn shard_record(
        &self,
        run_id: &str,
        shard: u32,
    ) -> Result<Option<ShardRecord>, BusError> {
        read_record(&self.shards, &shard_key(run_id, shard), "a shard record").await
    }

    /// Counts one more finish of `stage` on `shard` in the shard's own record (created on
    /// first use, compare-and-set after); returns the new count. One small value per shard:
    /// the write costs the same at any shard count.
    pub async fn record_finish(
        &self,
        run_id: &str,
        shard: u32,
        stage: Stage,
    ) -> Result<u32, BusError> {
        // A missing record starts empty, so there is always one to count in.
        let (count, _, _) = update_record(
            &self.shards,
            &shard_key(run_id, shard),
            "a shard record",
            || Some(ShardRecord::default()),
            |record: &mut ShardRecord| {
                let count = record.finishes.entry(stage).or_default();
                *count += 1;
                *count
            },
        )
        .await?
        .ok_or_else(|| js_err("recording a shard finish")("no record".into()))?;
        Ok(count)
    }

    /// Calls `visit` with every shard record of a run (in no particular order). O(shards),
    /// streamed: one ordered consumer with "last value per key", so a run of a million shards
    /// is read as one stream of messages, never held whole.
    pub async fn scan_shard_records(
        &self,
        run_id: &str,
        mut visit: impl FnMut(u32, ShardRecord),
    ) -> Result<(), BusError> {
        let failed = |e: String| js_err("reading shard records")(e);
        let stream = self
            .js
            .get_stream(format!("KV_{BUCKET_SHARDS}"))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let prefix = format!("$KV.{BUCKET_SHARDS}.{run_id}.");
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client().new_inbox(),
                filter_subject: format!("{prefix}*"),
                deliver_policy: DeliverPolicy::LastPerSubject,
                replay_policy: ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut remaining = consumer.cached_info().num_pending;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| failed(e.to_string()))?;
        while remaining > 0 {
            let message = messages
                .next()
                .await
                .ok_or_else(|| failed("the scan ended early".into()))?
                .map_err(|e| failed(e.to_string()))?;
            remaining = message.info().map_err(|e| failed(e.to_string()))?.pending;
            // A deleted or purged key carries its operation in a header and no record.
            let deleted = message
                .headers
                .as_ref()
                .and_then(|h| h.get("KV-Operation"))
                .is_some();
            let shard = message
                .subject
                .as_str()
                .strip_prefix(&prefix)
                .and_then(|s| s.parse::<u32>().ok());
            if let (Some(shard), false) = (shard, deleted) {
                visit(shard, ticketflow_schemas::decode(&message.payload)?);
            }
        }
        Ok(())
    }

    /// Every shard record of a run, by shard (see [`Self::scan_shard_records`]).
    pub async fn shard_records(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<u32, ShardRecord>, BusError> {
        let mut records = BTreeMap::new();
        self.scan_shard_records(run_id, |shard, record| {
            records.insert(shard, record);
        })
        .await?;
        Ok(records)
    }

    /// The shards `stage` has finished, by their records, sorted: 4 bytes a shard.
    pub async fn finished_shards(&self, run_id: &str, stage: Stage) -> Result<Vec<u32>, BusError> {
        let mut shards = Vec::new();
        self.scan_shard_records(run_id, |shard, record| {
            if record.finishes_of(stage) > 0 {
                shards.push(shard);
            }
        })
        .await?;
        shards.sort_unstable();
        Ok(shards)
    }
}
