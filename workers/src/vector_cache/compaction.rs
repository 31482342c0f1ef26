//! Compaction: recent segments, and the newest runs when they are no bigger, folded into one
//! index run, published by a compare-and-set of the manifest.
//!
//! Run sizes follow a binary counter: a new run absorbs the newest existing runs while they
//! hold no more texts than it does, so the runs shrink at least by half from oldest to newest
//! and there are at most log₂(texts ÷ one compaction's texts) + 1 of them, never more than
//! [`MAX_RUNS`]. Each text is rewritten O(log n) times over its life, where one index rewritten
//! whole at every compaction would copy the entire history each time.

use bytes::Bytes;
use futures::StreamExt;
use ticketflow_connectors::store::{Expected, Store, StoreError};

use super::TextHash;
use super::layout::{
    Day, Manifest, Object, Run, RunRef, Source, classify, content_name, manifest_key, parse_hashes,
    recent_key, recent_prefix, run_key, segment_key,
};
use super::requests::Counted;

/// Recent segments (one per shard with new texts) before an embedder compacts: what a cold
/// process reads one by one, and what keeps the `recent/` listing to a page.
pub const COMPACT_AFTER: usize = 64;

/// The most index runs a manifest lists; beyond, compaction merges regardless of size.
pub const MAX_RUNS: usize = 8;

/// What a compaction did.
pub(crate) enum Outcome {
    /// This compaction's manifest was written: `run` is in the index now.
    Won {
        id: String,
        run: Run,
        /// Recent segments it took in.
        recent: usize,
        /// Existing runs it absorbed.
        merged_runs: usize,
    },
    /// Another writer changed the manifest first; nothing was published (the run written is
    /// an orphan for gc), nothing deleted.
    Lost,
    /// No recent segment: nothing to do.
    Nothing,
}

/// The manifest as found, with what a compare-and-set must expect. A damaged manifest is as
/// good as none (the index is rebuilt from a listing), but is replaced, not raced.
pub(crate) async fn read_manifest(
    s: &mut Counted<'_>,
    space: &str,
) -> Result<(Option<Manifest>, Expected), StoreError> {
    Ok(match s.get_versioned(&manifest_key(space)).await? {
        Some((bytes, version)) => match Manifest::parse(&bytes) {
            Ok(m) => (Some(m), Expected::Version(version)),
            Err(e) => {
                tracing::warn!(space, error = %e, "vector space manifest unreadable; rebuilding the index from a listing");
                (None, Expected::Version(version))
            }
        },
        None => (None, Expected::Absent),
    })
}

/// The segments to take in: under `recent/` when the space has a manifest; without one (a
/// space written before manifests existed), every complete segment, from a listing of the
/// whole space, once. Returns the segment names and the markers seen.
pub(crate) async fn recent_segments(
    s: &mut Counted<'_>,
    space: &str,
    has_manifest: bool,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let prefix = if has_manifest {
        recent_prefix(space)
    } else {
        space.to_string()
    };
    let listed = s.list(&prefix).await?;
    let mut segments = Vec::new();
    let mut markers = Vec::new();
    for key in &listed {
        match classify(space, key) {
            Object::Recent(name) => {
                markers.push(name.to_string());
                if has_manifest {
                    segments.push(name.to_string());
                }
            }
            Object::Segment {
                name,
                ext: "hashes",
            } if !has_manifest => segments.push(name.to_string()),
            _ => {}
        }
    }
    segments.sort_unstable();
    segments.dedup();
    Ok((segments, markers))
}

/// Reads a segment's hashes; `None` when it is gone or damaged (warned about).
pub(crate) async fn read_hashes(
    s: &mut Counted<'_>,
    space: &str,
    segment: &str,
) -> Result<Option<Vec<TextHash>>, StoreError> {
    let key = segment_key(space, segment, "hashes");
    let Some(bytes) = s.get(&key).await? else {
        return Ok(None);
    };
    let hashes = parse_hashes(&bytes);
    if hashes.is_none() {
        tracing::warn!(%key, bytes = bytes.len(), "vector hashes not in 32-byte rows; ignored");
    }
    Ok(hashes)
}

/// Reads the hashes of `segments`, [`READ_CONCURRENCY`] at a time (a space from before
/// manifests can hold thousands), in their order; gone or damaged ones are `None`.
pub(crate) async fn read_many_hashes(
    s: &mut Counted<'_>,
    space: &str,
    segments: &[String],
) -> Result<Vec<Option<Vec<TextHash>>>, StoreError> {
    let store = s.store();
    // Owned names: a closure over borrowed ones trips rustc's higher-ranked `Send` check in
    // the embedder's `process` future.
    let reads = futures::stream::iter(segments.iter().cloned().map(|segment| async move {
        let mut one = Counted::new(store);
        let hashes = read_hashes(&mut one, space, &segment).await;
        (one.requests, hashes)
    }))
    .buffered(READ_CONCURRENCY);
    let results: Vec<_> = reads.collect().await;
    let mut out = Vec::with_capacity(results.len());
    for (requests, hashes) in results {
        s.requests += requests;
        out.push(hashes?);
    }
    Ok(out)
}

/// Segment hashes read at once.
const READ_CONCURRENCY: usize = 16;

/// Reads an index run; `None` when it is gone or damaged (warned about: its texts become
/// misses, embedded again).
pub(crate) async fn read_run(
    s: &mut Counted<'_>,
    space: &str,
    id: &str,
) -> Result<Option<Run>, StoreError> {
    let key = run_key(space, id);
    let Some(bytes) = s.get(&key).await? else {
        tracing::warn!(%key, "index run missing; its texts will be embedded again");
        return Ok(None);
    };
    match Run::decode(&bytes) {
        Ok(run) => Ok(Some(run)),
        Err(e) => {
            tracing::warn!(%key, error = %e, "index run damaged; its texts will be embedded again");
            Ok(None)
        }
    }
}

/// A compaction read and written, not yet published (see [`compact`]).
pub(crate) struct Prepared {
    space: String,
    expected: Expected,
    manifest: Manifest,
    markers: Vec<String>,
    id: String,
    run: Run,
    recent: usize,
    merged_runs: usize,
    pub requests: u64,
}

/// Folds the space's recent segments into a new index run (see the module doc) and publishes
/// it. Safe against any number of racing compactors and embedders:
///
/// 1. the run is written under its content's name (immutable; a loser's run is an orphan);
/// 2. the manifest is replaced only if nobody replaced it since it was read (compare-and-set);
/// 3. only then are the markers of the segments it took in deleted. A segment written after
///    the listing keeps its marker, so it is taken in next time; nothing is ever unlisted
///    before an index that holds it is published.
pub(crate) async fn compact(
    store: &Store,
    space: &str,
    today: Day,
    now_ms: u64,
) -> Result<(Outcome, u64), StoreError> {
    match prepare(store, space, today, now_ms).await? {
        Some(prepared) => publish(store, prepared).await,
        None => Ok((Outcome::Nothing, 0)),
    }
}

/// Steps 1 of [`compact`]: reads the manifest and the recent segments and writes the run.
/// `None` when there is nothing to compact.
pub(crate) async fn prepare(
    store: &Store,
    space: &str,
    today: Day,
    now_ms: u64,
) -> Result<Option<Prepared>, StoreError> {
    let mut s = Counted::new(store);
    let (manifest, expected) = read_manifest(&mut s, space).await?;
    let (names, markers) = recent_segments(&mut s, space, manifest.is_some()).await?;
    if names.is_empty() && manifest.is_some() {
        return Ok(None);
    }
    let read = read_many_hashes(&mut s, space, &names).await?;
    let recent: Vec<(String, Vec<TextHash>)> = names
        .into_iter()
        .zip(read)
        .filter_map(|(name, hashes)| Some((name, hashes?)))
        .collect();
    let mut runs = manifest.as_ref().map_or_else(Vec::new, |m| m.runs.clone());
    let mut size: u64 = recent.iter().map(|(_, h)| h.len() as u64).sum();
    let mut absorbed: Vec<RunRef> = Vec::new();
    while let Some(last) = runs.last() {
        if last.texts > size && runs.len() < MAX_RUNS {
            break;
        }
        size += last.texts;
        absorbed.extend(runs.pop());
    }
    absorbed.reverse();
    let mut old = Vec::with_capacity(absorbed.len());
    for r in &absorbed {
        old.extend(read_run(&mut s, space, &r.id).await?);
    }
    let run = Run::merge(
        old.iter()
            .map(Source::Run)
            .chain(recent.iter().map(|(n, h)| Source::Segment(n, h))),
    );
    let bytes = run.encode();
    let id = content_name(&bytes);
    s.put(&run_key(space, &id), Bytes::from(bytes)).await?;
    runs.push(RunRef {
        id: id.clone(),
        segments: run.segments.len() as u64,
        texts: run.rows.len() as u64,
    });
    Ok(Some(Prepared {
        space: space.to_string(),
        expected,
        manifest: Manifest {
            runs,
            usage_since: manifest.as_ref().map_or(today, |m| m.usage_since),
            updated_at_ms: now_ms,
        },
        markers,
        id,
        run,
        recent: recent.len(),
        merged_runs: absorbed.len(),
        requests: s.requests,
    }))
}

/// Steps 2 and 3 of [`compact`]: the compare-and-set of the manifest, then the markers.
pub(crate) async fn publish(store: &Store, p: Prepared) -> Result<(Outcome, u64), StoreError> {
    let mut s = Counted::new(store);
    let space = p.space.as_str();
    match s
        .put_if(
            &manifest_key(space),
            Bytes::from(p.manifest.to_json()),
            &p.expected,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Ok((Outcome::Lost, p.requests + s.requests)),
        Err(e) => return Err(e),
    }
    // Published: the markers of what the run holds may go (and those of segments found gone).
    for marker in &p.markers {
        if let Err(e) = s.delete(&recent_key(space, marker)).await {
            tracing::warn!(space, segment = %marker, error = %e, "recent marker not deleted; the next compaction takes the segment in again");
        }
    }
    let outcome = Outcome::Won {
        id: p.id,
        run: p.run,
        recent: p.recent,
        merged_runs: p.merged_runs,
    };
    Ok((outcome, p.requests + s.requests))
}
