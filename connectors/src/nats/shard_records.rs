//! Each shard's own record in the KV bucket `tf_shards` (key `<run>.<shard>`): what a shard
//! update writes there costs the same at any shard count, unlike an entry per shard in the
//! run's progress record, which every update rewrites whole.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use ticketflow_schemas::{ShardRecord, Stage};

use super::kv_record::update_record;
use super::{BUCKET_SHARDS, Bus, BusError, js_err};

/// The key of a shard's record in `tf_shards`.
fn shard_key(run_id: &str, shard: u32) -> String {
    format!("{run_id}.{shard}")
}

impl Bus {
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

    /// Every shard record of a run, by shard. A scan, O(shards): for `runs show` and audits,
    /// never for the per-shard path.
    pub async fn shard_records(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<u32, ShardRecord>, BusError> {
        let failed = |e: String| js_err("reading shard records")(e);
        let stream = self
            .js
            .get_stream(format!("KV_{BUCKET_SHARDS}"))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let prefix = format!("$KV.{BUCKET_SHARDS}.{run_id}.");
        let subjects: Vec<(String, usize)> = stream
            .info_with_subjects(format!("{prefix}*"))
            .await
            .map_err(|e| failed(e.to_string()))?
            .try_collect()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let mut records = BTreeMap::new();
        for (subject, _) in subjects {
            let Some(shard) = subject
                .strip_prefix(&prefix)
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(bytes) = self
                .shards
                .get(shard_key(run_id, shard))
                .await
                .map_err(|e| failed(e.to_string()))?
            {
                records.insert(shard, ticketflow_schemas::decode(&bytes)?);
            }
        }
        Ok(records)
    }
}
