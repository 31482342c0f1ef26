//! The `file://` backend of the object store: the one `make demo` and most tests use.

#[path = "support/conditional.rs"]
mod conditional;

use std::path::Path;
use ticketflow_testkit::assert_contains_all;

use bytes::Bytes;
use ticketflow_connectors::store::{Op, Store, StoreConfig, StoreError, keys};

fn open(dir: &Path) -> Store {
    let url = format!("file://{}", dir.display());
    Store::open(&StoreConfig::new(url)).expect("open file store")
}

#[tokio::test]
async fn round_trip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());

    let raw0 = keys::raw_shard("r1", 0);
    let raw1 = keys::raw_shard("r1", 1);
    let emb0 = keys::embeddings("r1", 0);
    let other = keys::raw_shard("r10", 0);
    for (key, body) in [
        (&raw1, "one"),
        (&raw0, "zero"),
        (&emb0, "vectors"),
        (&other, "r10"),
    ] {
        store.put(key, Bytes::from(body)).await.expect("put");
    }

    assert_eq!(store.get(&raw0).await.expect("get"), Bytes::from("zero"));
    assert!(store.exists(&raw1).await.expect("exists"));
    assert!(
        !store
            .exists(&keys::raw_shard("r1", 2))
            .await
            .expect("exists")
    );
    // The object is a plain file under the store directory.
    assert_eq!(
        std::fs::read(tmp.path().join("runs/r1/raw/shard-00000.jsonl")).expect("read file"),
        b"zero"
    );

    // Sorted, relative to the store root, matched on whole segments: r1 does not list r10.
    let listed = store.list(&keys::run_prefix("r1")).await.expect("list");
    assert_eq!(listed, vec![emb0.clone(), raw0.clone(), raw1.clone()]);
    assert_eq!(store.list("runs/r1").await.expect("list"), listed);
    assert_eq!(
        store.list("runs/r1/raw/").await.expect("list"),
        vec![raw0.clone(), raw1.clone()]
    );
    assert_eq!(store.list("").await.expect("list all").len(), 4);
    assert!(store.list("runs/none/").await.expect("list").is_empty());

    // Overwrite replaces.
    store.put(&raw0, Bytes::from("zero v2")).await.expect("put");
    assert_eq!(store.get(&raw0).await.expect("get"), Bytes::from("zero v2"));

    // Delete, then NotFound; deleting again is fine.
    store.delete(&raw0).await.expect("delete");
    assert!(!store.exists(&raw0).await.expect("exists"));
    let err = store.get(&raw0).await.expect_err("get after delete");
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_transient());
    match &err {
        StoreError::NotFound { key, .. } => assert_eq!(key, &raw0),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("get {raw0} on {}", store.describe())),
        "{msg}"
    );
    store.delete(&raw0).await.expect("delete is idempotent");

    // Deleting the rest of the run leaves no empty directories behind.
    for key in store.list(&keys::run_prefix("r1")).await.expect("list") {
        store.delete(&key).await.expect("delete");
    }
    assert!(!tmp.path().join("runs/r1").exists());
    assert_eq!(store.list("").await.expect("list"), vec![other]);
}

#[tokio::test]
async fn invalid_keys_are_rejected_before_any_io() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    for key in [
        "",
        "/etc/passwd",
        "../outside",
        "runs/../../outside",
        "runs//x",
        "runs/./x",
        "runs/r1/",
        "a\\b",
        "runs/x#1",
    ] {
        let err = store.put(key, Bytes::from("x")).await.expect_err(key);
        match &err {
            StoreError::InvalidKey { op, key: k, .. } => {
                assert_eq!(*op, Op::Put);
                assert_eq!(k, key);
            }
            other => panic!("{key:?}: expected InvalidKey, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&store.describe()), "{msg}");
        assert!(!err.is_transient());
        assert!(matches!(
            store.get(key).await,
            Err(StoreError::InvalidKey { op: Op::Get, .. })
        ));
    }
    // A run id with '/' or '..' produces keys that either fail here or are caught up front.
    assert!(store.get(&keys::raw_shard("..", 0)).await.is_err());
    assert!(keys::validate_run_id("a/b").is_err());
    for prefix in ["/", "/runs", "runs/../x"] {
        assert!(
            matches!(
                store.list(prefix).await,
                Err(StoreError::InvalidKey { op: Op::List, .. })
            ),
            "{prefix:?}"
        );
    }
    assert!(
        store.list("").await.expect("list").is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn concurrent_writers_never_expose_a_partial_object() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let key = keys::clean_shard("r1", 3);
    let bodies: Vec<Bytes> = (0..8u8).map(|i| Bytes::from(vec![i; 256 * 1024])).collect();
    let mut tasks = Vec::new();
    for body in bodies.clone() {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move { store.put(&key, body).await }));
    }
    for _ in 0..20 {
        if let Ok(got) = store.get(&key).await {
            assert!(
                bodies.contains(&got),
                "read a torn object of {} bytes",
                got.len()
            );
        }
    }
    for task in tasks {
        task.await.expect("join").expect("put");
    }
    let got = store.get(&key).await.expect("get");
    assert!(bodies.contains(&got));
    // No temporary upload files are visible.
    assert_eq!(store.list("").await.expect("list"), vec![key]);
}

#[tokio::test]
async fn url_forms() {
    // file:///abs creates missing directories.
    let tmp = tempfile::tempdir().expect("tempdir");
    let nested = tmp.path().join("a/b/c");
    let store = open(&nested);
    assert!(nested.is_dir());
    let canonical = std::fs::canonicalize(&nested).expect("canonicalize");
    assert_eq!(store.describe(), format!("file://{}", canonical.display()));

    // A plain absolute path is the same store.
    let plain = Store::open(&StoreConfig::new(nested.display().to_string())).expect("open");
    store.put("k", Bytes::from("v")).await.expect("put");
    assert_eq!(plain.get("k").await.expect("get"), Bytes::from("v"));

    // Relative forms resolve against the working directory (the crate directory under cargo).
    let here = tempfile::Builder::new()
        .prefix(".store-test-")
        .tempdir_in(".")
        .expect("tempdir in cwd");
    let name = here
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 name");
    let rel_url = Store::open(&StoreConfig::new(format!("file://{name}/x"))).expect("open");
    let rel_plain = Store::open(&StoreConfig::new(format!("{name}/x"))).expect("open");
    let expected = std::fs::canonicalize(here.path().join("x")).expect("created");
    assert_eq!(rel_url.describe(), format!("file://{}", expected.display()));
    assert_eq!(rel_plain.describe(), rel_url.describe());
}

#[test]
fn bad_urls_say_which_forms_are_accepted() {
    for url in [
        "ftp://x",
        "s3://",
        "s3:///prefix",
        "",
        "gs://bucket/p",
        "file:/x",
    ] {
        let err = Store::open(&StoreConfig::new(url)).expect_err(url);
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
        assert_contains_all(
            &err.to_string(),
            &[
                "file:///abs/dir",
                "file://relative/dir",
                "plain directory path",
                "s3://bucket[/prefix]",
            ],
            url,
        );
    }
}

#[test]
fn unwritable_directory_is_an_open_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = Store::open(&StoreConfig::new(file.join("sub").display().to_string()))
        .expect_err("a file is in the way");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
}

#[tokio::test]
async fn download_streams_an_object_to_a_local_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(&tmp.path().join("store"));
    let key = keys::raw_shard("r1", 0);
    // Several of object_store's read chunks, with a pattern so misplaced chunks would show.
    let body: Vec<u8> = (0..5 * 1024 * 1024 + 17_u32)
        .map(|i| (i % 251) as u8)
        .collect();
    store
        .put(&key, Bytes::from(body.clone()))
        .await
        .expect("put");

    let dest = tmp.path().join("copy.jsonl");
    std::fs::write(&dest, b"stale content longer than nothing").expect("pre-existing file");
    let written = store.download(&key, &dest).await.expect("download");
    assert_eq!(written, body.len() as u64);
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        body,
        "truncated and rewritten"
    );

    let err = store
        .download(&keys::raw_shard("r1", 1), &dest)
        .await
        .expect_err("missing object");
    assert!(err.is_not_found(), "{err}");

    let nowhere = tmp.path().join("no/such/dir/file");
    let err = store
        .download(&key, &nowhere)
        .await
        .expect_err("unwritable destination");
    assert!(matches!(err, StoreError::Local { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir/file"), "{err}");
}

#[tokio::test]
async fn compare_and_set() {
    let tmp = tempfile::tempdir().expect("tempdir");
    conditional::compare_and_set_contract(&open(tmp.path())).await;
}

/// Writers racing on one key, each reading the version and writing only if unchanged: exactly
/// one wins each round, as two trainers promoting at once must not both move `latest`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_writers_have_one_winner() {
    use ticketflow_connectors::store::Expected;
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = open(tmp.path());
    let key = "datasets/default/latest.json";
    store.put(key, Bytes::from("start")).await.expect("put");
    for round in 0..20 {
        let (_, version) = store.get_versioned(key).await.expect("get").expect("some");
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let store = store.clone();
                let version = version.clone();
                tokio::spawn(async move {
                    store
                        .put_if(
                            key,
                            Bytes::from(format!("round {round} writer {w}")),
                            &Expected::Version(version),
                        )
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for w in writers {
            match w.await.expect("join") {
                Ok(()) => won += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won, 1, "round {round}: {won} writers won");
    }
}
