//! The cache on a `file://` store: reuse across processes, compaction, races, damage.

use std::collections::HashSet;

use super::compaction::{Outcome, prepare, publish};
use super::layout::{Manifest, Run, Source, manifest_key, recent_prefix};
use super::*;
use ticketflow_connectors::store::StoreConfig;

fn store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig::new(format!("file://{}", dir.display()))).expect("store")
}

fn vectors(rows: &[f32]) -> Array2<f32> {
    Array2::from_shape_fn((rows.len(), 3), |(i, j)| rows[i] + j as f32 / 10.0)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Segment `i` of a test space: two texts, `t{i}a` and `t{i}b`, with vectors no other segment
/// has (thirds and sevenths: not round in binary, so a re-encoding would show).
fn segment(i: usize) -> (Vec<TextHash>, Array2<f32>) {
    let hashes = vec![text_hash(&format!("t{i}a")), text_hash(&format!("t{i}b"))];
    let x = i as f32;
    (hashes, vectors(&[x / 3.0, -x / 7.0]))
}

/// Every text of segments `0..n` is found, with exactly the bits kept.
async fn assert_all_found(cache: &VectorCache, n: usize) {
    let mut asked = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let (hashes, v) = segment(i);
        for (row, hash) in hashes.into_iter().enumerate() {
            asked.push(hash);
            want.push(bits(&v.row(row).to_vec()));
        }
    }
    let found = cache.lookup(&asked).await.expect("lookup").found;
    for (i, (f, w)) in found.iter().zip(&want).enumerate() {
        assert_eq!(
            f.as_deref().map(bits).as_ref(),
            Some(w),
            "text {i} of {n} segments"
        );
    }
}

async fn keep_segments(cache: &VectorCache, range: std::ops::Range<usize>) {
    for i in range {
        let (hashes, v) = segment(i);
        cache.keep(&hashes, &v, &[]).await.expect("keep");
    }
}

async fn manifest(dir: &std::path::Path, space: &str) -> Manifest {
    let bytes = store(dir)
        .get(&manifest_key(space))
        .await
        .expect("manifest");
    Manifest::parse(&bytes).expect("parse manifest")
}

async fn markers(dir: &std::path::Path, space: &str) -> usize {
    store(dir)
        .list(&recent_prefix(space))
        .await
        .expect("list")
        .len()
}

#[tokio::test]
async fn kept_vectors_are_found_byte_for_byte_by_another_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hashes: Vec<TextHash> = ["a", "b", "c"].iter().map(|t| text_hash(t)).collect();
    let made = vectors(&[1.0 / 3.0, 2.0 / 7.0, -0.1]);
    let first = VectorCache::new(store(dir.path()), "m1", "fp32", 3);
    first.keep(&hashes, &made, &[]).await.expect("keep");

    // A new process (another replica, or after a restart) finds them through the store.
    let second = VectorCache::new(store(dir.path()), "m1", "fp32", 3);
    let asked = [text_hash("c"), text_hash("new"), text_hash("a")];
    let found = second.lookup(&asked).await.expect("lookup");
    assert_eq!(
        found.found[0].as_deref().map(bits),
        Some(bits(&made.row(2).to_vec()))
    );
    assert!(found.found[1].is_none());
    assert_eq!(
        found.found[2].as_deref().map(bits),
        Some(bits(&made.row(0).to_vec()))
    );
    assert_eq!(found.used.len(), 1, "one segment served");
    assert_eq!(found.vector_requests, 1);

    // Another model or precision has its own space.
    for (model, precision) in [("m2", "fp32"), ("m1", "int8")] {
        let other = VectorCache::new(store(dir.path()), model, precision, 3);
        let found = other.lookup(&asked).await.expect("lookup");
        assert!(
            found.found.iter().all(Option::is_none),
            "{model} {precision}"
        );
    }
}

/// Defect (issue 23): after a segment was corrupted, its texts stayed mapped to it, so they
/// were embedded again on every shard until the process restarted, although a new segment
/// held them.
#[tokio::test]
async fn texts_of_a_corrupted_segment_are_found_again_once_kept_anew() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    let xy = [text_hash("x"), text_hash("y")];
    cache
        .keep(&xy, &vectors(&[1.0, 2.0]), &[])
        .await
        .expect("keep");
    let npy = store(dir.path())
        .list(cache.space())
        .await
        .expect("list")
        .into_iter()
        .find(|k| k.ends_with(".npy"))
        .expect("npy");
    store(dir.path())
        .put(&npy, Bytes::from_static(b"not an npy file"))
        .await
        .expect("corrupt");
    let found = cache
        .lookup(&xy)
        .await
        .expect("a corrupt segment is a miss");
    assert!(found.found.iter().all(Option::is_none));
    // The next shard embeds x and y again, with a new text z: another segment.
    let xyz = [text_hash("x"), text_hash("y"), text_hash("z")];
    cache
        .keep(&xyz, &vectors(&[1.0, 2.0, 3.0]), &[])
        .await
        .expect("keep anew");
    let found = cache.lookup(&xy).await.expect("lookup");
    assert!(
        found.found.iter().all(Option::is_some),
        "the same process finds x and y in the new segment"
    );
}

#[tokio::test]
async fn a_repeated_segment_is_one_segment_and_a_lost_one_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    let hashes = [text_hash("x"), text_hash("y")];
    let v = vectors(&[1.0, 2.0]);
    cache.keep(&hashes, &v, &[]).await.expect("keep");
    cache.keep(&hashes, &v, &[]).await.expect("keep again");
    let keys = store(dir.path()).list(cache.space()).await.expect("list");
    let files: Vec<&String> = keys
        .iter()
        .filter(|k| k.ends_with(".npy") || k.ends_with(".hashes"))
        .collect();
    assert_eq!(files.len(), 2, "{keys:?}");

    let npy = keys.iter().find(|k| k.ends_with(".npy")).expect("npy");
    store(dir.path()).delete(npy).await.expect("delete");
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    let found = fresh
        .lookup(&hashes)
        .await
        .expect("a lost segment is no error");
    assert!(found.found.iter().all(Option::is_none));
}

#[tokio::test]
async fn every_vector_is_found_byte_for_byte_after_compactions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 2 * COMPACT_AFTER + 10;
    let writer = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    keep_segments(&writer, 0..n).await;
    let m = manifest(dir.path(), writer.space()).await;
    let indexed: u64 = m.runs.iter().map(|r| r.segments).sum();
    let waiting = markers(dir.path(), writer.space()).await;
    assert!(waiting < COMPACT_AFTER, "{waiting} markers left");
    assert_eq!(indexed as usize + waiting, n, "{m:?}");
    assert!(m.runs.len() <= MAX_RUNS);

    assert_all_found(&writer, n).await;
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&fresh, n).await;
}

#[tokio::test]
async fn a_compaction_that_loses_the_race_publishes_nothing_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    let b = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    keep_segments(&a, 0..20).await;
    let space = a.space().to_string();
    let day = Day::today();
    // A reads the space and writes its run; B compacts meanwhile and wins; more is kept.
    let slow = prepare(&store(dir.path()), &space, day, 1)
        .await
        .expect("prepare")
        .expect("recent segments to compact");
    keep_segments(&b, 20..30).await;
    let (won, _) = compaction::compact(&store(dir.path()), &space, day, 2)
        .await
        .expect("compact");
    assert!(matches!(won, Outcome::Won { .. }));
    keep_segments(&b, 30..35).await;
    let before = manifest(dir.path(), &space).await;
    let (lost, _) = publish(&store(dir.path()), slow).await.expect("publish");
    assert!(matches!(lost, Outcome::Lost), "A's manifest is stale");
    assert_eq!(
        manifest(dir.path(), &space).await,
        before,
        "nothing published"
    );
    assert_eq!(
        markers(dir.path(), &space).await,
        5,
        "B's later segments wait"
    );
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&fresh, 35).await;
}

#[tokio::test]
async fn a_segment_kept_during_a_compaction_keeps_its_marker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    keep_segments(&cache, 0..10).await;
    let space = cache.space().to_string();
    let slow = prepare(&store(dir.path()), &space, Day::today(), 1)
        .await
        .expect("prepare")
        .expect("something to compact");
    keep_segments(&cache, 10..12).await;
    let (won, _) = publish(&store(dir.path()), slow).await.expect("publish");
    assert!(matches!(won, Outcome::Won { .. }));
    assert_eq!(markers(dir.path(), &space).await, 2);
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&fresh, 12).await;
    // Racing compactors on one space: one wins each round, the rest lose; nothing is lost.
    keep_segments(&cache, 12..40).await;
    let compactions = (0..4).map(|i| {
        let dir = dir.path().to_path_buf();
        let space = space.clone();
        tokio::spawn(
            async move { compaction::compact(&store(&dir), &space, Day::today(), i).await },
        )
    });
    for c in futures::future::join_all(compactions).await {
        c.expect("task").expect("compact");
    }
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&fresh, 40).await;
}

#[tokio::test]
async fn a_space_from_before_manifests_is_indexed_by_the_first_keep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = store(dir.path());
    let space = keys::vector_space("m", "fp32");
    // Segments as the embedder wrote them before: vectors and hashes, nothing else.
    for i in 0..30 {
        let (hashes, v) = segment(i);
        let all: Vec<u8> = hashes.iter().flatten().copied().collect();
        let name = content_name(&all);
        let npy = tensors::to_npy(&v).expect("npy");
        s.put(&segment_key(&space, &name, "npy"), Bytes::from(npy))
            .await
            .expect("npy");
        s.put(&segment_key(&space, &name, "hashes"), Bytes::from(all))
            .await
            .expect("hashes");
    }
    let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&cache, 30).await;
    keep_segments(&cache, 30..31).await;
    let m = manifest(dir.path(), &space).await;
    assert_eq!(m.runs.iter().map(|r| r.segments).sum::<u64>(), 31);
    let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
    assert_all_found(&fresh, 31).await;
}

#[tokio::test]
async fn warm_lookups_cost_the_same_at_any_number_of_segments() {
    let mut costs = Vec::new();
    for n in [10, 300] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = VectorCache::new(store(dir.path()), "m", "fp32", 3);
        keep_segments(&cache, 0..n).await;
        let fresh = VectorCache::new(store(dir.path()), "m", "fp32", 3);
        // A shard of the texts of the last two segments and two new ones.
        let mut asked: Vec<TextHash> = (n - 2..n).flat_map(|i| segment(i).0).collect();
        asked.extend([text_hash("new 1"), text_hash("new 2")]);
        let cold = fresh.lookup(&asked).await.expect("cold").requests();
        let warm = fresh.lookup(&asked).await.expect("warm").requests();
        costs.push((n, cold, warm));
    }
    eprintln!("(segments, cold requests, warm requests): {costs:?}");
    let (_, cold10, warm10) = costs[0];
    let (_, cold300, warm300) = costs[1];
    assert_eq!(warm10, warm300, "{costs:?}");
    assert!(
        cold300 <= 2 + MAX_RUNS as u64 + COMPACT_AFTER as u64 + 2,
        "{costs:?}"
    );
    assert!(cold10 <= cold300 + MAX_RUNS as u64, "{costs:?}");
}

#[test]
fn runs_round_trip_and_damage_is_an_error() {
    let a = Run::merge([Source::Segment("aa", &[[1; 32], [2; 32]])]);
    let b = Run::merge([Source::Run(&a), Source::Segment("bb", &[[2; 32], [3; 32]])]);
    // The later source wins a text both hold.
    assert_eq!(b.rows.len(), 3);
    assert_eq!(b.rows[1], ([2; 32], 1, 0));
    let bytes = b.encode();
    assert_eq!(Run::decode(&bytes), Ok(b.clone()));
    for cut in [0, 7, 9, bytes.len() - 1] {
        assert!(Run::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut wrong = bytes.clone();
    let last_segment = wrong.len() - 8;
    wrong[last_segment] = 9;
    assert!(Run::decode(&wrong).is_err(), "a row naming segment 9 of 2");
    let dropped: HashSet<String> = ["aa".to_string()].into();
    let only_b = b.without(&dropped);
    assert_eq!(only_b.segments, ["bb"]);
    assert_eq!(only_b.rows.len(), 2);
}

#[test]
fn days_print_and_parse_as_calendar_dates() {
    for (text, day) in [
        ("1970-01-01", 0),
        ("2000-02-29", 11_016),
        ("2026-12-06", 20_793),
    ] {
        assert_eq!(Day(day).to_string(), text);
        assert_eq!(text.parse::<Day>(), Ok(Day(day)));
    }
    for bad in ["2026-02-30", "2026-13-01", "26-01-01", "2026-1-01", "today"] {
        assert!(bad.parse::<Day>().is_err(), "{bad}");
    }
}
