//! Garbage collection of vector spaces (`ticketflow vectors gc`): what reuse no longer needs.
//!
//! Two rules, each optional:
//!
//! - **Other models.** With `keep_models`, every space whose model is not named goes whole: a
//!   new model digest or precision starts a new space, and nothing reads the old one again
//!   unless that model comes back (then its first run embeds everything, as it did once).
//! - **Unused segments.** With `unused_days = N`, a segment no shard used (took a vector from,
//!   or wrote) on any of the last N days goes, read from the `used/{day}/` records `keep`
//!   writes. Segments are judged only once use has been recorded for the whole window (the
//!   manifest's `usage_since`): a space from before recording, or younger than N days, loses
//!   none. Records older than the window go too.
//!
//! A pruned space gets a new index in one run (the old runs minus the deleted segments, plus
//! recent and unindexed segments), published by compare-and-set before anything is deleted:
//! a process holding the old index only misses what went, and embeds it again. Index runs no
//! manifest names (compactions that lost a race) go with it. If an embedder compacts at the
//! same moment, the compare-and-set fails and the space is done again from a fresh listing.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::StreamExt;
use ticketflow_connectors::store::{Store, StoreError};

use super::TextHash;
use super::compaction::{read_manifest, read_many_hashes, read_run};
use super::layout::{
    Day, Manifest, Object, Run, RunRef, Source, classify, content_name, manifest_key, run_key,
};
use super::requests::Counted;

/// Deletions and reads in flight at once.
const CONCURRENCY: usize = 16;
/// Tries per space when embedders keep changing its manifest.
const ATTEMPTS: usize = 3;

/// What gc keeps and removes.
#[derive(Debug, Clone)]
pub struct GcRules {
    /// Spaces to keep, as `{digest}-{precision}` or a digest (any precision). Empty: no space
    /// is deleted for its model.
    pub keep_models: Vec<String>,
    /// Delete segments no shard used on the last N days (today included).
    pub unused_days: Option<u32>,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// The day "today" is (UTC).
    pub today: Day,
}

/// Progress of long work, for a bar or log lines.
#[derive(Debug, Clone, Copy)]
pub enum GcStep<'a> {
    /// A space is next.
    Space { space: &'a str },
    /// A long step starts, of `total` items.
    Begin { what: &'static str, total: u64 },
    /// `n` more items of the current step are done.
    Advance(u64),
    /// The current step is over.
    End,
}

/// What happened to a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceAction {
    /// Another model's space: every object deleted.
    Deleted,
    /// Unused segments deleted (maybe none) and the index rewritten if anything changed.
    Pruned,
    /// Kept as it is.
    Kept,
}

#[derive(Debug, Clone)]
pub struct SpaceReport {
    /// `vectors/{digest}-{precision}`.
    pub space: String,
    pub action: SpaceAction,
    /// Complete segments found.
    pub segments: usize,
    /// Segments deleted (or, in a dry run, that would be).
    pub segments_deleted: usize,
    /// Every object deleted or to delete: segment files, markers, runs, usage records.
    pub objects_deleted: usize,
    /// Why less went than the rules allow, and other things worth saying.
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub struct GcReport {
    pub spaces: Vec<SpaceReport>,
    pub dry_run: bool,
}

/// Why gc stopped.
#[derive(Debug)]
pub enum GcError {
    Store(Box<StoreError>),
    /// The rules given make no sense, or would delete everything by mistake.
    Rules(String),
    /// Embedders changed the space's manifest on every try.
    Busy {
        space: String,
    },
}

impl std::fmt::Display for GcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcError::Store(e) => write!(f, "{e}"),
            GcError::Rules(why) => f.write_str(why),
            GcError::Busy { space } => write!(
                f,
                "{space}: its manifest changed during each of {ATTEMPTS} tries (embedders compacting); run gc again later"
            ),
        }
    }
}

impl std::error::Error for GcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GcError::Store(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<StoreError> for GcError {
    fn from(e: StoreError) -> Self {
        GcError::Store(Box::new(e))
    }
}

/// Whether the space named `name` (`{digest}-{precision}`) is one `keep` names.
fn keeps(keep: &str, name: &str) -> bool {
    name == keep
        || name
            .strip_prefix(keep)
            .is_some_and(|rest| rest.starts_with('-') && !rest[1..].contains('-'))
}

/// A `--keep-model` value, checked: `{digest}` or `{digest}-{precision}`, optionally with the
/// `vectors/` prefix a listing shows.
fn parse_keep(value: &str) -> Result<String, GcError> {
    let v = value.trim().trim_end_matches('/');
    let v = v.strip_prefix("vectors/").unwrap_or(v);
    let (digest, precision) = v.split_once('-').unwrap_or((v, ""));
    let hex = !digest.is_empty() && digest.bytes().all(|b| b.is_ascii_hexdigit());
    let word = precision.bytes().all(|b| b.is_ascii_alphanumeric());
    if hex && word {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(GcError::Rules(format!(
            "--keep-model {value:?}: expected a model digest (hex, as the embedder logs it at start) or DIGEST-PRECISION, e.g. 3f9a0c2e71d4b8a5-fp32"
        )))
    }
}

/// Applies `rules` to every space under `vectors/`.
pub async fn gc(
    store: &Store,
    rules: &GcRules,
    progress: &mut (dyn FnMut(GcStep<'_>) + Send),
) -> Result<GcReport, GcError> {
    if rules.keep_models.is_empty() && rules.unused_days.is_none() {
        return Err(GcError::Rules(
            "nothing to collect: name the models to keep (--keep-model DIGEST, --keep-current) and/or --unused-days N".into(),
        ));
    }
    if rules.unused_days == Some(0) {
        return Err(GcError::Rules(
            "--unused-days must be at least 1 (today counts as one day)".into(),
        ));
    }
    let keep: Vec<String> = rules
        .keep_models
        .iter()
        .map(|k| parse_keep(k))
        .collect::<Result<_, _>>()?;
    let mut spaces: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in store.list("vectors").await? {
        let mut parts = key.splitn(3, '/');
        if let (Some(_), Some(name), Some(_)) = (parts.next(), parts.next(), parts.next()) {
            let space = format!("vectors/{name}");
            spaces.entry(space).or_default().push(key);
        }
    }
    let name = |space: &str| space.trim_start_matches("vectors/").to_string();
    if !keep.is_empty()
        && !spaces.is_empty()
        && !spaces
            .keys()
            .any(|s| keep.iter().any(|k| keeps(k, &name(s))))
    {
        let found: Vec<String> = spaces.keys().map(|s| name(s)).collect();
        return Err(GcError::Rules(format!(
            "no vector space matches --keep-model {}: refusing to delete every space (found: {}). Check the digest the embedder logs at start (\"embedding model loaded\")",
            keep.join(", "),
            found.join(", ")
        )));
    }
    let mut reports = Vec::new();
    for (space, keys) in &spaces {
        progress(GcStep::Space { space });
        let kept = keep.is_empty() || keep.iter().any(|k| keeps(k, &name(space)));
        let report = if !kept {
            let deleted = delete_all(store, keys, rules.dry_run, progress).await?;
            SpaceReport {
                space: space.clone(),
                action: SpaceAction::Deleted,
                segments: keys
                    .iter()
                    .filter(|k| k.ends_with(".hashes") && !k.contains("/recent/"))
                    .count(),
                segments_deleted: 0,
                objects_deleted: deleted,
                notes: vec!["another model's space".into()],
            }
        } else if let Some(days) = rules.unused_days {
            prune_retrying(store, space, days, rules, progress).await?
        } else {
            SpaceReport {
                space: space.clone(),
                action: SpaceAction::Kept,
                segments: 0,
                segments_deleted: 0,
                objects_deleted: 0,
                notes: Vec::new(),
            }
        };
        reports.push(report);
    }
    Ok(GcReport {
        spaces: reports,
        dry_run: rules.dry_run,
    })
}

/// Deletes `keys` (unless a dry run), `CONCURRENCY` at a time; returns how many.
async fn delete_all(
    store: &Store,
    keys: &[String],
    dry_run: bool,
    progress: &mut (dyn FnMut(GcStep<'_>) + Send),
) -> Result<usize, StoreError> {
    if dry_run || keys.is_empty() {
        return Ok(keys.len());
    }
    progress(GcStep::Begin {
        what: "deleting",
        total: keys.len() as u64,
    });
    let mut deletions =
        futures::stream::iter(keys.iter().map(|k| store.delete(k))).buffer_unordered(CONCURRENCY);
    while let Some(done) = deletions.next().await {
        done?;
        progress(GcStep::Advance(1));
    }
    progress(GcStep::End);
    Ok(keys.len())
}

async fn prune_retrying(
    store: &Store,
    space: &str,
    days: u32,
    rules: &GcRules,
    progress: &mut (dyn FnMut(GcStep<'_>) + Send),
) -> Result<SpaceReport, GcError> {
    for _ in 0..ATTEMPTS {
        if let Some(report) = prune(store, space, days, rules, progress).await? {
            return Ok(report);
        }
        tracing::info!(space, "the manifest changed while gc worked; trying again");
    }
    Err(GcError::Busy {
        space: space.to_string(),
    })
}

/// One try at pruning a space; `None` when the manifest changed under it.
async fn prune(
    store: &Store,
    space: &str,
    days: u32,
    rules: &GcRules,
    progress: &mut (dyn FnMut(GcStep<'_>) + Send),
) -> Result<Option<SpaceReport>, GcError> {
    let mut s = Counted::new(store);
    let (manifest, expected) = read_manifest(&mut s, space).await?;
    let listed = s.list(space).await?;
    let (mut npy, mut hashes, mut markers) = (HashSet::new(), HashSet::new(), HashSet::new());
    let (mut runs_listed, mut records) = (Vec::new(), Vec::new());
    for key in &listed {
        match classify(space, key) {
            Object::Segment { name, ext: "npy" } => {
                npy.insert(name.to_string());
            }
            Object::Segment { name, .. } => {
                hashes.insert(name.to_string());
            }
            Object::Recent(name) => {
                markers.insert(name.to_string());
            }
            Object::Run(id) => runs_listed.push(id.to_string()),
            Object::Used { day } => records.push((day, key.clone())),
            Object::Manifest | Object::Other => {}
        }
    }
    let complete: HashSet<String> = npy.intersection(&hashes).cloned().collect();
    let pieces: HashSet<String> = npy.symmetric_difference(&hashes).cloned().collect();

    // Use over the window, and whether the window is wholly recorded.
    let start = rules.today.minus(days - 1);
    let usage_since = manifest.as_ref().map_or(rules.today, |m| m.usage_since);
    let covered = usage_since <= start;
    let (recent, expired): (Vec<_>, Vec<_>) = records.into_iter().partition(|(d, _)| *d >= start);
    let mut used: HashSet<String> = HashSet::new();
    if covered {
        progress(GcStep::Begin {
            what: "reading usage records",
            total: recent.len() as u64,
        });
        let mut reads = futures::stream::iter(recent.iter().map(|(_, key)| store.get(key)))
            .buffer_unordered(CONCURRENCY);
        while let Some(read) = reads.next().await {
            match read {
                Ok(bytes) => used.extend(
                    String::from_utf8_lossy(&bytes)
                        .lines()
                        .map(|l| l.trim().to_string()),
                ),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            progress(GcStep::Advance(1));
        }
        progress(GcStep::End);
    }
    let mut notes = Vec::new();
    if !covered {
        notes.push(format!(
            "use recorded since {usage_since}: no segment is judged unused before {} ({days} days of records)",
            Day(usage_since.0 + i64::from(days) - 1)
        ));
    }
    let dropped: HashSet<String> = if covered {
        complete
            .iter()
            .chain(&pieces)
            .filter(|s| !used.contains(*s))
            .cloned()
            .collect()
    } else {
        HashSet::new()
    };
    let segments_deleted = complete.iter().filter(|s| dropped.contains(*s)).count();

    // The index to publish: the runs, then segments no run holds, without what goes.
    let named: HashSet<&str> = manifest
        .iter()
        .flat_map(|m| m.runs.iter().map(|r| r.id.as_str()))
        .collect();
    let orphan_runs: Vec<&String> = runs_listed
        .iter()
        .filter(|id| !named.contains(id.as_str()))
        .collect();
    let mut runs = Vec::new();
    for r in manifest.iter().flat_map(|m| &m.runs) {
        runs.extend(read_run(&mut s, space, &r.id).await?);
    }
    let indexed: HashSet<&str> = runs
        .iter()
        .flat_map(|r| r.segments.iter().map(String::as_str))
        .collect();
    let unindexed: Vec<String> = {
        let mut v: Vec<String> = complete
            .iter()
            .filter(|s| !indexed.contains(s.as_str()) && !dropped.contains(*s))
            .cloned()
            .collect();
        v.sort_unstable();
        v
    };
    // Nothing indexed or announced goes, nothing waits to be indexed: the index stays.
    let rewrite = manifest.is_none()
        || dropped
            .iter()
            .any(|s| indexed.contains(s.as_str()) || markers.contains(s))
        || !orphan_runs.is_empty()
        || !unindexed.is_empty();
    let mut doomed: Vec<String> = Vec::new();
    for seg in &dropped {
        for ext in ["npy", "hashes"] {
            let key = super::layout::segment_key(space, seg, ext);
            if listed.binary_search(&key).is_ok() {
                doomed.push(key);
            }
        }
    }
    doomed.extend(expired.iter().map(|(_, k)| k.clone()));
    if rewrite {
        doomed.extend(markers.iter().map(|m| super::layout::recent_key(space, m)));
        // The old runs and the orphans: the new manifest names only the new run.
        doomed.extend(runs_listed.iter().map(|id| run_key(space, id)));
    }
    let report = SpaceReport {
        space: space.to_string(),
        action: SpaceAction::Pruned,
        segments: complete.len(),
        segments_deleted,
        objects_deleted: doomed.len(),
        notes,
    };
    if rules.dry_run {
        return Ok(Some(report));
    }
    if rewrite {
        progress(GcStep::Begin {
            what: "reading unindexed segments",
            total: unindexed.len() as u64,
        });
        let mut fresh: Vec<(String, Vec<TextHash>)> = Vec::new();
        for chunk in unindexed.chunks(256) {
            let read = read_many_hashes(&mut s, space, chunk).await?;
            fresh.extend(
                chunk
                    .iter()
                    .zip(read)
                    .filter_map(|(seg, h)| Some((seg.clone(), h?))),
            );
            progress(GcStep::Advance(chunk.len() as u64));
        }
        progress(GcStep::End);
        let trimmed: Vec<Run> = runs.iter().map(|r| r.without(&dropped)).collect();
        let run = Run::merge(
            trimmed
                .iter()
                .map(Source::Run)
                .chain(fresh.iter().map(|(n, h)| Source::Segment(n, h))),
        );
        let bytes = run.encode();
        let id = content_name(&bytes);
        store.put(&run_key(space, &id), Bytes::from(bytes)).await?;
        let next = Manifest {
            runs: vec![RunRef {
                id: id.clone(),
                segments: run.segments.len() as u64,
                texts: run.rows.len() as u64,
            }],
            usage_since,
            updated_at_ms: ticketflow_schemas::now_ms(),
        };
        match store
            .put_if(&manifest_key(space), Bytes::from(next.to_json()), &expected)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        doomed.retain(|k| *k != run_key(space, &id));
    }
    delete_all(store, &doomed, false, progress).await?;
    Ok(Some(SpaceReport {
        objects_deleted: doomed.len(),
        ..report
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keep_rule_names_a_digest_or_one_space() {
        assert!(keeps("aaaa1111", "aaaa1111-fp32"));
        assert!(keeps("aaaa1111", "aaaa1111-int8"));
        assert!(keeps("aaaa1111-int8", "aaaa1111-int8"));
        assert!(!keeps("aaaa1111-int8", "aaaa1111-fp32"));
        assert!(
            !keeps("aaaa", "aaaa1111-fp32"),
            "a prefix of a digest is not the digest"
        );
        assert_eq!(
            parse_keep("vectors/AAAA1111-fp32/").ok().as_deref(),
            Some("aaaa1111-fp32")
        );
        for bad in ["", "-fp32", "aaaa-fp/32", "not hex", "aaaa-fp32-x"] {
            assert!(parse_keep(bad).is_err(), "{bad:?}");
        }
    }
}
