//! Creating the streams and KV buckets the topology names, with the configured number of
//! replicas, and what to do when existing ones have another.
//!
//! Replication is JetStream's: with `replicas = 3` on a 3-node cluster every stream and bucket
//! is a Raft group, so losing one node loses no queued shard and no run state. The count is
//! checked on every start: an existing stream with another count is a clear error naming the
//! update path (`ticketflow streams update`), never a silent mismatch, unless the caller asks to
//! update in place (JetStream changes a stream's replicas online).

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use ticketflow_schemas::Stage;
use ticketflow_schemas::topology::{DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM};

use super::settling::until_settled;
use super::{BUCKET_PROGRESS, BUCKET_RUNS, BUCKET_SHARDS, BusError, DUPLICATE_WINDOW, js_err};

/// A stream (or a KV bucket's stream) and its replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReplicas {
    pub stream: String,
    pub replicas: usize,
}

/// What start-up found and did.
#[derive(Debug, Default)]
pub struct TopologyReport {
    /// Streams whose replica count was changed in place (`update` asked for it).
    pub updated: Vec<StreamReplicas>,
    /// Every stream and bucket, as it is now.
    pub streams: Vec<StreamReplicas>,
}

fn stage_stream(stage: Stage) -> stream::Config {
    let route = stage.input();
    stream::Config {
        name: route.stream.to_string(),
        subjects: vec![route.subject.to_string()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

fn dead_letter_stream() -> stream::Config {
    stream::Config {
        name: DEAD_LETTER_STREAM.to_string(),
        subjects: vec![format!("{DEAD_LETTER_PREFIX}.>")],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(14 * 24 * 3600),
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    }
}

/// Creates what is missing with `replicas`; checks (or, with `update`, changes) the count of
/// what exists. Returns the KV buckets for run manifests, progress and shard records.
pub(crate) async fn ensure_topology(
    js: &jetstream::Context,
    replicas: usize,
    update: bool,
) -> Result<(Buckets, TopologyReport), BusError> {
    let replicas = replicas.max(1);
    let mut report = TopologyReport::default();
    let mut mismatched = Vec::new();
    for config in Stage::ALL
        .into_iter()
        .map(stage_stream)
        .chain([dead_letter_stream()])
    {
        ensure_stream(js, config, replicas, update, &mut report, &mut mismatched).await?;
    }
    let mut buckets = Vec::new();
    for bucket in [BUCKET_RUNS, BUCKET_PROGRESS, BUCKET_SHARDS] {
        let store = match js.get_key_value(bucket).await {
            Ok(store) => store,
            Err(_) => until_settled("creating a KV bucket", || async {
                js.create_key_value(kv::Config {
                    bucket: bucket.to_string(),
                    history: 1,
                    storage: stream::StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| creating(&format!("KV bucket {bucket}"), replicas, e))?,
        };
        // A bucket is the stream KV_<bucket>: its replicas are checked like any stream's.
        let stream = js
            .get_stream(format!("KV_{bucket}"))
            .await
            .map_err(|e| js_err(format!("opening KV bucket {bucket}"))(e.to_string()))?;
        let config = stream.cached_info().config.clone();
        ensure_stream(js, config, replicas, update, &mut report, &mut mismatched).await?;
        buckets.push(store);
    }
    if !mismatched.is_empty() {
        return Err(BusError::Replicas {
            wanted: replicas,
            found: mismatched,
        });
    }
    match <[kv::Store; 3]>::try_from(buckets) {
        Ok([runs, progress, shards]) => Ok((
            Buckets {
                runs,
                progress,
                shards,
            },
            report,
        )),
        Err(_) => Err(js_err("opening the KV buckets")("missing".into())),
    }
}

/// The KV buckets of run state ([`ensure_topology`]).
pub(crate) struct Buckets {
    pub runs: kv::Store,
    pub progress: kv::Store,
    pub shards: kv::Store,
}

async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
    replicas: usize,
    update: bool,
    report: &mut TopologyReport,
    mismatched: &mut Vec<StreamReplicas>,
) -> Result<(), BusError> {
    let name = config.name.clone();
    let existing = match js.get_stream(&name).await {
        Ok(mut s) => Some(
            s.info()
                .await
                .map_err(|e| js_err(format!("reading stream {name}"))(e.to_string()))?
                .config
                .clone(),
        ),
        Err(_) => None,
    };
    let Some(current) = existing else {
        // A cluster that has just formed may not count every peer yet.
        until_settled("creating a stream", || {
            let config = stream::Config {
                num_replicas: replicas,
                ..config.clone()
            };
            async move { js.create_stream(config).await.map_err(|e| e.to_string()) }
        })
        .await
        .map_err(|e| creating(&format!("stream {name}"), replicas, e))?;
        report.streams.push(StreamReplicas {
            stream: name,
            replicas,
        });
        return Ok(());
    };
    let have = current.num_replicas.max(1);
    if have == replicas {
        report.streams.push(StreamReplicas {
            stream: name,
            replicas,
        });
        return Ok(());
    }
    if !update {
        mismatched.push(StreamReplicas {
            stream: name,
            replicas: have,
        });
        return Ok(());
    }
    js.update_stream(stream::Config {
        num_replicas: replicas,
        ..current
    })
    .await
    .map_err(|e| {
        creating(
            &format!("stream {name} (from {have} replicas)"),
            replicas,
            e.to_string(),
        )
    })?;
    tracing::info!(stream = %name, from = have, to = replicas, "stream replicas changed");
    report.updated.push(StreamReplicas {
        stream: name.clone(),
        replicas,
    });
    report.streams.push(StreamReplicas {
        stream: name,
        replicas,
    });
    Ok(())
}

/// A create or update that failed; says what to check when the cluster is too small.
fn creating(what: &str, replicas: usize, detail: String) -> BusError {
    let lower = detail.to_ascii_lowercase();
    // "No suitable peers" also means a cluster that has not settled, but it reaches here only
    // after settling::SETTLE of retries.
    let too_small = lower.contains("insufficient resources")
        || lower.contains("non-clustered")
        || lower.contains("no suitable peers");
    let hint = if replicas > 1 && too_small {
        format!(
            " ({replicas} replicas need a JetStream cluster of at least {replicas} servers; \
             set TICKETFLOW_JETSTREAM_REPLICAS to what the cluster has)"
        )
    } else {
        String::new()
    };
    BusError::JetStream {
        what: format!("creating {what} with {replicas} replica(s)"),
        detail: format!("{detail}{hint}"),
    }
}
