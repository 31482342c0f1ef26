//! The embedders' vector space over its life, on real object stores:
//!
//! 1. what a reuse lookup costs per shard does not grow with the history: the requests a
//!    shard's lookup makes are counted by the S3 server itself (moto's access log, a line per
//!    HTTP request) at 10 and at 10,000 segments, and must match what the cache reports
//!    (`ReuseCounts::lookup_requests`, `ticketflow_embedder_vector_lookup_requests_total`);
//! 2. `ticketflow vectors gc` on a `file://` store deletes other models' spaces and segments
//!    unused for N days, keeps what was used, and every vector left is still found, byte for
//!    byte.
//!
//! Without moto the first test skips (fails under `TICKETFLOW_REQUIRE_SERVICES=1`).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ndarray::Array2;
use support::Moto;
use ticketflow_connectors::store::{S3Options, Store, StoreConfig, keys};
use ticketflow_workers::vector_cache::{
    COMPACT_AFTER, Day, MAX_RUNS, TextHash, VectorCache, text_hash,
};

const DIM: usize = 3;

/// The vectors of `texts`, distinct per text and not round in binary (a re-encoding shows).
fn vectors_of(texts: &[String]) -> Array2<f32> {
    Array2::from_shape_fn((texts.len(), DIM), |(i, j)| {
        let h = text_hash(&texts[i]);
        f32::from(h[0]) / 3.0 + f32::from(h[1]) / 7.0 + j as f32
    })
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// HTTP requests moto has logged so far, once its log has stopped growing (a line is written
/// right after the response is sent).
fn moto_requests(log: &Path) -> usize {
    let count = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" HTTP/1.1"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = count();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = count();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// `n` segments as an embedder wrote them before manifests existed (`.npy` and `.hashes`
/// only, one text each: the number of segments is what matters here), 32 writes at a time.
async fn write_old_segments(store: &Store, space: &str, n: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (store, space, next) = (store.clone(), space.to_string(), next.clone());
        writers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let texts = [format!("old ticket {i}")];
                let hash = text_hash(&texts[0]);
                let name: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
                let npy = ticketflow_lifecycle::tensors::to_npy(&vectors_of(&texts)).expect("npy");
                let key = |ext| keys::vector_segment(&space, &name, ext);
                store.put(&key("npy"), Bytes::from(npy)).await.expect("npy");
                store
                    .put(&key("hashes"), Bytes::copy_from_slice(&hash))
                    .await
                    .expect("hashes");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
}

/// One shard through the cache as the embedder does it: look up, "embed" the misses, keep
/// them. Returns the requests the lookup reported.
async fn shard(cache: &VectorCache, texts: &[String]) -> u64 {
    let hashes: Vec<TextHash> = texts.iter().map(|t| text_hash(t)).collect();
    let lookup = cache.lookup(&hashes).await.expect("lookup");
    let want = vectors_of(texts);
    for (i, found) in lookup.found.iter().enumerate() {
        if let Some(v) = found {
            assert_eq!(bits(v), bits(&want.row(i).to_vec()), "{}", texts[i]);
        }
    }
    let misses: Vec<String> = texts
        .iter()
        .zip(&lookup.found)
        .filter(|(_, f)| f.is_none())
        .map(|(t, _)| t.clone())
        .collect();
    let miss_hashes: Vec<TextHash> = misses.iter().map(|t| text_hash(t)).collect();
    cache
        .keep(&miss_hashes, &vectors_of(&misses), &lookup.used)
        .await
        .expect("keep");
    lookup.requests()
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

/// Requests of a cold and a warm shard lookup in a space of `n` old segments, as moto counted
/// them, checked against what the cache reported.
async fn lookup_requests(moto: &Moto, bucket: &str, n: usize) -> (usize, usize) {
    let store = Store::open_with_env(
        &StoreConfig {
            url: format!("s3://{bucket}/segments-{n}"),
            s3: S3Options::new(Some(moto.endpoint.clone()), Some("us-east-1".into()), None),
        },
        moto.env(),
    )
    .expect("s3 store");
    let space = keys::vector_space("m", "fp32");
    let started = Instant::now();
    write_old_segments(&store, &space, n).await;
    // Day 1 after the upgrade: three shards, each with two old texts and three new ones.
    let day1 = VectorCache::new(store.clone(), "m", "fp32", DIM);
    for s in 0..3 {
        let mut shard_texts = vec![
            format!("old ticket {}", n - 1 - 2 * s),
            format!("old ticket {}", n - 2 - 2 * s),
        ];
        shard_texts.extend(texts(&format!("day 1 shard {s}"), 3));
        shard(&day1, &shard_texts).await;
    }
    eprintln!(
        "{n} segments written and day 1 run in {:?}",
        started.elapsed()
    );
    // Day 2, a new process: a cold shard, then a warm one. Each: an old text, the texts of a
    // day-1 shard, and two new texts.
    let day2 = VectorCache::new(store.clone(), "m", "fp32", DIM);
    let mut counts = Vec::new();
    for s in 0..2 {
        let mut shard_texts = vec![format!("old ticket {}", n - 7 - s)];
        shard_texts.extend(texts(&format!("day 1 shard {s}"), 3));
        shard_texts.extend(texts(&format!("day 2 shard {s}"), 2));
        let hashes: Vec<TextHash> = shard_texts.iter().map(|t| text_hash(t)).collect();
        let before = moto_requests(&moto.proc.log);
        let lookup = day2.lookup(&hashes).await.expect("lookup");
        let seen = moto_requests(&moto.proc.log) - before;
        assert_eq!(
            lookup.found.iter().filter(|f| f.is_some()).count(),
            4,
            "the old text and the day-1 shard's three are found"
        );
        assert_eq!(
            lookup.requests(),
            seen as u64,
            "the cache reports the requests moto served ({n} segments, shard {s})"
        );
        counts.push(seen);
        shard(&day2, &shard_texts).await;
    }
    (counts[0], counts[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_requests_per_shard_do_not_grow_with_the_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(moto) = Moto::start(dir.path(), "vectors") else {
        return;
    };
    let small = lookup_requests(&moto, "vectors", 10).await;
    let large = lookup_requests(&moto, "vectors", 10_000).await;
    eprintln!(
        "lookup requests per shard (cold, warm): 10 segments {small:?}, 10,000 segments {large:?}"
    );
    assert_eq!(small.1, large.1, "a warm shard costs the same");
    // Cold: the runs a process has not read (binary-counter sizes: their number may differ by
    // one or two), and the recent segments.
    assert!(
        large.0 <= small.0 + MAX_RUNS,
        "a cold shard costs at most a few index runs more: {small:?} {large:?}"
    );
    assert!(large.0 <= 2 + MAX_RUNS + COMPACT_AFTER + 2, "{large:?}");
}

fn ticketflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ticketflow"))
        .args(args)
        .env("TICKETFLOW_LOG_FORMAT", "text")
        .output()
        .expect("run ticketflow")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn all_keys(rt: &tokio::runtime::Runtime, store: &Store) -> Vec<String> {
    rt.block_on(store.list("vectors")).expect("list")
}

/// Segment files (`.npy`, `.hashes`) under `space`.
fn segment_files(keys: &[String], space: &str) -> usize {
    keys.iter()
        .filter(|k| k.starts_with(&format!("{space}/")))
        .filter(|k| !k[space.len() + 1..].contains('/'))
        .filter(|k| k.ends_with(".npy") || k.ends_with(".hashes"))
        .count()
}

#[test]
fn gc_deletes_other_models_and_unused_segments_and_keeps_what_was_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().join("store").display());
    let store = Store::open(&StoreConfig::new(url.clone())).expect("store");
    let rt = support::runtime();
    let d0: Day = "2026-01-01".parse().expect("day");
    let later = |days: i64| Day(d0.0 + days);
    let shard_texts = |i: usize| texts(&format!("shard {i}"), 2);
    let (kept, other) = ("aaaa1111", "bbbb2222");
    let kept_space = keys::vector_space(kept, "fp32");
    let other_space = keys::vector_space(other, "fp32");
    rt.block_on(async {
        // Day 0: shards 0..5 embedded; another model's space too.
        let day0 = VectorCache::new(store.clone(), kept, "fp32", DIM).on_day(d0);
        for i in 0..5 {
            shard(&day0, &shard_texts(i)).await;
        }
        let old = VectorCache::new(store.clone(), other, "fp32", DIM).on_day(d0);
        for i in 0..3 {
            shard(&old, &shard_texts(i)).await;
        }
        // Day 35: shard 3 comes back (reused), shard 5 is new.
        let day35 = VectorCache::new(store.clone(), kept, "fp32", DIM).on_day(later(35));
        shard(&day35, &shard_texts(3)).await;
        shard(&day35, &shard_texts(5)).await;
    });
    let before = all_keys(&rt, &store);
    assert_eq!(segment_files(&before, &kept_space), 12, "{before:#?}");

    // Clear refusals.
    let refused = [
        (vec![], "nothing to collect"),
        (vec!["--keep-model", "cccc3333"], "no vector space matches"),
        (
            vec!["--keep-model", "not a digest"],
            "expected a model digest",
        ),
        (vec!["--unused-days", "0"], "at least 1"),
        (
            vec!["--unused-days", "3", "--today", "2026-02-30"],
            "--today",
        ),
    ];
    for (extra, why) in refused {
        let mut args = vec!["vectors", "gc", "--store", &url];
        args.extend(extra.iter().copied());
        let out = ticketflow(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = text(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }

    let today = later(40).to_string();
    let gc = |extra: &[&str]| {
        let mut args = vec![
            "vectors",
            "gc",
            "--store",
            &url,
            "--keep-model",
            kept,
            "--today",
            &today,
        ];
        args.extend(extra);
        let out = ticketflow(&args);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{stdout}",
            text(&out.stderr)
        );
        stdout
    };
    // A dry run says what would go and deletes nothing.
    let plan = gc(&["--unused-days", "30", "--dry-run"]);
    assert!(plan.contains("would delete"), "{plan}");
    assert!(plan.contains(&other_space), "{plan}");
    assert_eq!(all_keys(&rt, &store), before, "a dry run deletes nothing");

    // Use recorded for fewer days than asked: no segment is judged.
    let young = gc(&["--unused-days", "60"]);
    assert!(young.contains("use recorded since 2026-01-01"), "{young}");
    let after = all_keys(&rt, &store);
    assert_eq!(segment_files(&after, &kept_space), 12, "{young}");
    assert!(
        !after
            .iter()
            .any(|k| k.starts_with(&format!("{other_space}/"))),
        "the other model's space is gone: {after:#?}"
    );

    // Unused for 30 days: shards 0, 1, 2 and 4 go; 3 (reused on day 35) and 5 stay.
    let done = gc(&["--unused-days", "30"]);
    let after = all_keys(&rt, &store);
    assert_eq!(segment_files(&after, &kept_space), 4, "{done}\n{after:#?}");
    let runs = after.iter().filter(|k| k.contains("/index/")).count();
    let markers = after.iter().filter(|k| k.contains("/recent/")).count();
    let old_use = after
        .iter()
        .filter(|k| k.contains(&format!("/used/{d0}/")))
        .count();
    assert_eq!((runs, markers, old_use), (1, 0, 0), "{after:#?}");
    rt.block_on(async {
        let fresh = VectorCache::new(store.clone(), kept, "fp32", DIM);
        for (i, kept) in [(0, false), (2, false), (3, true), (4, false), (5, true)] {
            let t = shard_texts(i);
            let hashes: Vec<TextHash> = t.iter().map(|x| text_hash(x)).collect();
            let found = fresh.lookup(&hashes).await.expect("lookup").found;
            let want = vectors_of(&t);
            for (row, f) in found.iter().enumerate() {
                match (kept, f) {
                    (true, Some(v)) => assert_eq!(bits(v), bits(&want.row(row).to_vec())),
                    (false, None) => {}
                    _ => panic!("shard {i}: kept {kept}, found {:?}", f.is_some()),
                }
            }
        }
    });
    // Again: nothing left to do.
    let again = gc(&["--unused-days", "30"]);
    assert!(again.contains("0 objects deleted"), "{again}");
}
