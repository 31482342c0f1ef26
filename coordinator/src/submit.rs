//! Sharding an input and queueing its shards.

use std::io::Write;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use ticketflow_connectors::nats::{Bus, BusError};
use ticketflow_connectors::store::{S3Options, Store, StoreError, keys};
use ticketflow_schemas::{Dataset, RunManifest, RunProgress, ShardTask, now_ms};
use ticketflow_text::dataset::{LoadError, LoadOptions, Quarantined, TicketOutcome, TicketReader};
use ticketflow_text::text::EmbedInput;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::input::{InputError, fetch_input};

/// Shard files written to the store at once. The input is read while they are sent, so the
/// coordinator waits on the store only when this many are in flight: at a few tens of
/// milliseconds per S3 `PUT`, one at a time would make sharding 10M tickets in 20,000 shards a
/// quarter of an hour of waiting. Memory holds at most this many shards more.
pub const SHARD_PUTS_IN_FLIGHT: usize = 8;

/// Shard tasks published at once, each waiting for its JetStream acknowledgement.
const PUBLISHES_IN_FLIGHT: usize = 64;

/// What to run.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// A local path or `s3://bucket/key`.
    pub input: String,
    /// How to reach the S3-compatible server of an `s3://` input.
    pub input_s3: S3Options,
    /// Tickets per shard: the unit of work, retry and parallelism.
    pub shard_size: u32,
    /// Defaults to an id derived from the input's content and the settings below.
    pub run_id: Option<String>,
    pub embed_input: EmbedInput,
    pub load: LoadOptions,
    /// The data set the run belongs to (models and drift references are kept per data set).
    pub dataset: Dataset,
}

/// What [`submit`] did.
#[derive(Debug, Clone)]
pub struct SubmitOutcome {
    pub run_id: String,
    /// False when the run already existed and was fully published: nothing was done.
    pub published: bool,
    pub shard_count: u32,
    pub tickets: u64,
    pub quarantined: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(
        "{input}: no ticket was accepted ({quarantined} rows quarantined; see {quarantine_key} in the store)"
    )]
    NothingAccepted {
        input: String,
        quarantined: u64,
        quarantine_key: String,
    },
    /// `--run-id` breaks [`keys::validate_run_id`], the one rule for run ids.
    #[error("{0}")]
    BadRunId(StoreError),
    #[error("serialising a ticket: {0}")]
    Serialize(String),
    #[error("--shard-size must be at least 1")]
    BadShardSize,
    /// A shard upload task panicked or was cancelled.
    #[error("writing a shard: {0}")]
    Upload(#[from] tokio::task::JoinError),
}

/// The run id the coordinator uses when none is given: same input and settings, same run.
/// The data set takes part unless it is the default one, so the same file submitted to two data
/// sets makes two runs, and run ids of the default data set stay what they always were.
pub fn default_run_id(
    digest: &str,
    shard_size: u32,
    embed_input: EmbedInput,
    dataset: &Dataset,
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(digest.as_bytes());
    h.update(&shard_size.to_le_bytes());
    h.update(embed_input.to_string().as_bytes());
    if !dataset.is_default() {
        h.update(b"\x1fdataset:");
        h.update(dataset.as_str().as_bytes());
    }
    format!("run-{}", &h.finalize().to_hex()[..12])
}

/// Validates, shards and queues `opts.input`. See the crate docs for the idempotency rules.
///
/// All of it happens in the `run` span, the root of the run's trace: every shard message is
/// published from it and carries its context, so each stage's span of each shard descends from
/// it.
pub async fn submit(
    bus: &Bus,
    store: &Store,
    opts: &SubmitOptions,
) -> Result<SubmitOutcome, SubmitError> {
    let span = tracing::info_span!(
        parent: None,
        "run",
        otel.name = "coordinator run",
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        input = %opts.input,
        shard_size = i64::from(opts.shard_size),
        run_id = tracing::field::Empty,
        tickets = tracing::field::Empty,
        shards = tracing::field::Empty,
        published = tracing::field::Empty,
    );
    let result = submit_in(bus, store, opts, &span)
        .instrument(span.clone())
        .await;
    match &result {
        Ok(outcome) => {
            // Signed: tracing-opentelemetry exports unsigned integers as strings.
            span.record(
                "tickets",
                i64::try_from(outcome.tickets).unwrap_or(i64::MAX),
            );
            span.record("shards", i64::from(outcome.shard_count));
            span.record("published", outcome.published);
        }
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }
    result
}

async fn submit_in(
    bus: &Bus,
    store: &Store,
    opts: &SubmitOptions,
    span: &tracing::Span,
) -> Result<SubmitOutcome, SubmitError> {
    if opts.shard_size == 0 {
        return Err(SubmitError::BadShardSize);
    }
    let input = fetch_input(&opts.input, &opts.input_s3).await?;
    let run_id = match &opts.run_id {
        Some(id) => {
            keys::validate_run_id(id).map_err(SubmitError::BadRunId)?;
            id.clone()
        }
        None => default_run_id(
            &input.digest,
            opts.shard_size,
            opts.embed_input,
            &opts.dataset,
        ),
    };
    span.record("run_id", run_id.as_str());

    if let (Some(manifest), Some(progress)) =
        (bus.manifest(&run_id).await?, bus.progress(&run_id).await?)
        && progress.published
    {
        tracing::info!(run_id, "run already submitted; nothing to do");
        return Ok(SubmitOutcome {
            run_id,
            published: false,
            shard_count: manifest.shard_count,
            tickets: manifest.tickets,
            quarantined: manifest.quarantined,
        });
    }

    // The input is read twice. Opening the reader reads it once to find repeated ticket ids by
    // sorting them in bounded memory (spilling to TMPDIR beyond a million tickets); the loop
    // below reads it again and writes the shard files as it streams by, one shard in memory at
    // a time (plus those in flight). Nothing held grows with the input but the quarantine list.
    let first_read = std::time::Instant::now();
    let mut reader = TicketReader::open(&input.path, &opts.load)?;
    let ids = reader.duplicate_ids();
    tracing::info!(
        run_id,
        rows = ids.rows,
        repeated_ids = ids.repeats,
        spilled_runs = ids.id_sort.spilled_runs + ids.repeat_sort.spilled_runs,
        seconds = first_read.elapsed().as_secs_f64(),
        "duplicate ids checked"
    );
    let mut shards: Vec<u32> = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut in_buffer = 0_u32;
    let mut tickets = 0_u64;
    let mut quarantined: Vec<Quarantined> = Vec::new();
    let mut labelled = false;
    let mut uploads: JoinSet<Result<(), StoreError>> = JoinSet::new();
    loop {
        let outcome = reader.next().transpose()?;
        let flush = match &outcome {
            None => in_buffer > 0,
            Some(_) => in_buffer == opts.shard_size,
        };
        if flush {
            let shard = shards.len() as u32;
            let key = keys::raw_shard(&run_id, shard);
            if uploads.len() >= SHARD_PUTS_IN_FLIGHT
                && let Some(done) = uploads.join_next().await
            {
                done??;
            }
            let (store, body) = (store.clone(), Bytes::from(std::mem::take(&mut buffer)));
            uploads.spawn(async move { store.put(&key, body).await }.in_current_span());
            shards.push(in_buffer);
            in_buffer = 0;
            if shards.len().is_multiple_of(100) {
                tracing::info!(run_id, shards = shards.len(), tickets, "shards written");
            }
        }
        match outcome {
            None => break,
            Some(TicketOutcome::Accepted(t)) => {
                labelled |= t.ticket_type.is_some();
                serde_json::to_writer(&mut buffer, &t)
                    .map_err(|e| SubmitError::Serialize(e.to_string()))?;
                buffer.push(b'\n');
                in_buffer += 1;
                tickets += 1;
            }
            Some(TicketOutcome::Quarantined(q)) => quarantined.push(q),
        }
    }
    while let Some(done) = uploads.join_next().await {
        done??;
    }

    let quarantine_key = keys::quarantine(&run_id);
    let mut qbytes = Vec::new();
    for q in &quarantined {
        let line = serde_json::json!({
            "row": q.row, "line": q.line, "reason": q.reason, "message": q.reason.to_string(), "excerpt": q.excerpt,
        });
        let _ = writeln!(qbytes, "{line}");
    }
    store.put(&quarantine_key, Bytes::from(qbytes)).await?;
    if tickets == 0 {
        return Err(SubmitError::NothingAccepted {
            input: opts.input.clone(),
            quarantined: quarantined.len() as u64,
            quarantine_key,
        });
    }

    let shard_count = shards.len() as u32;
    let manifest = RunManifest {
        run_id: run_id.clone(),
        input: opts.input.clone(),
        input_digest: input.digest.clone(),
        created_at_ms: now_ms(),
        shard_size: opts.shard_size,
        shard_count,
        tickets,
        quarantined: quarantined.len() as u64,
        quarantine_key: Some(quarantine_key),
        labelled,
        embed_input: opts.embed_input.to_string(),
        dataset: opts.dataset.to_string(),
    };
    if !bus.create_manifest(&manifest).await? {
        tracing::info!(
            run_id,
            "manifest already recorded (another coordinator?); completing its publishing"
        );
    }
    bus.create_progress(&RunProgress::new(&run_id, shard_count, now_ms()))
        .await?;
    let tasks = shards.iter().enumerate().map(|(shard, n)| ShardTask {
        run_id: run_id.clone(),
        shard: shard as u32,
        shard_count,
        raw_key: keys::raw_shard(&run_id, shard as u32),
        tickets: *n,
        embed_input: opts.embed_input.to_string(),
    });
    // A duplicate is a task an interrupted coordinator already published: expected.
    futures::stream::iter(tasks)
        .map(|task| async move { bus.publish_routed(&task, None).await })
        .buffer_unordered(PUBLISHES_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    bus.update_progress(&run_id, |p| p.published = true).await?;
    tracing::info!(
        run_id,
        shard_count,
        tickets,
        quarantined = quarantined.len(),
        "run queued"
    );
    Ok(SubmitOutcome {
        run_id,
        published: true,
        shard_count,
        tickets,
        quarantined: quarantined.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_id_depends_on_input_and_settings() {
        let d = Dataset::default();
        let a = default_run_id("d1", 500, EmbedInput::Normalized, &d);
        assert_eq!(a, default_run_id("d1", 500, EmbedInput::Normalized, &d));
        assert_ne!(a, default_run_id("d2", 500, EmbedInput::Normalized, &d));
        assert_ne!(a, default_run_id("d1", 250, EmbedInput::Normalized, &d));
        assert_ne!(a, default_run_id("d1", 500, EmbedInput::Cleaned, &d));
        let demo = Dataset::parse("demo").expect("valid name");
        assert_ne!(a, default_run_id("d1", 500, EmbedInput::Normalized, &demo));
        assert!(keys::validate_run_id(&a).is_ok());
    }
}
