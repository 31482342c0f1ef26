//! The `s3://` backend against a real S3-compatible server: moto (`moto_server`, from PyPI
//! `moto[server]`, installed by `make setup` into `.venv-services`).
//!
//! Each test that needs a server starts its own on a free port and stops it when done (a Drop
//! guard). Without moto the tests are skipped, unless `TICKETFLOW_REQUIRE_SERVICES=1` (CI), in
//! which case they fail and say to run `make setup`.
//!
//! Credentials are passed with `Store::open_with_env`, never through `std::env::set_var`: the
//! tests run in parallel threads of one process.

#[path = "support/conditional.rs"]
mod conditional;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ticketflow_testkit::Requirement;

use bytes::Bytes;
use ticketflow_connectors::store::{Op, S3Options, S3Retry, Store, StoreConfig, StoreError, keys};

/// A recognisable secret that must never appear in descriptions, `Debug` output or errors.
const SECRET: &str = "SeCrEt-do-not-print-8f3a";

fn test_env() -> [(&'static str, &'static str); 2] {
    [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ]
}

/// Options for a local plain-HTTP server.
fn local_options(port: u16) -> S3Options {
    S3Options {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        path_style: true,
        allow_http: true,
        retry: S3Retry::default(),
    }
}

use ticketflow_testkit::free_port;

/// The moto_server executable, or None (with the places looked at) if it is not installed.
fn moto_binary() -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        root.join(".venv-services/bin/moto_server"),
        root.join("var/bin/moto_server"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!("moto_server not found (looked in {})", looked.join(", "))
        })
}

/// Either a binary to run, or skip (returns None) / fail as TICKETFLOW_REQUIRE_SERVICES says.
fn moto_or_skip(test: &str) -> Option<PathBuf> {
    match moto_binary() {
        Ok(path) => Some(path),
        Err(why) => {
            Requirement::Services.missing(format!("{test}: {why}; run `make setup` to install it"));
            None
        }
    }
}

/// A running moto_server, killed on drop.
struct Moto {
    child: Child,
    port: u16,
    _logs: tempfile::TempDir,
}

impl Moto {
    /// Start moto on a free port and wait until it answers HTTP. A lost race for the port
    /// (the server exits at once) is retried on another one.
    fn start(binary: &PathBuf) -> Moto {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Moto::try_start(binary) {
                Ok(moto) => return moto,
                Err(e) => last_error = e,
            }
        }
        panic!("moto_server did not start: {last_error}");
    }

    fn try_start(binary: &PathBuf) -> Result<Moto, String> {
        let logs = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log_path = logs.path().join("moto.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let port = free_port();
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let mut moto = Moto {
            child,
            port,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(status) = http(port, "GET", "/")
                && status.starts_with("HTTP/1.")
            {
                return Ok(moto);
            }
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("exited with {status}; log:\n{}", log()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no answer on port {port} after 30 s; log:\n{}",
                    log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Create a bucket. object_store cannot; moto accepts an unsigned `PUT /bucket`.
    fn create_bucket(&self, bucket: &str) {
        let status = http(self.port, "PUT", &format!("/{bucket}")).expect("PUT bucket");
        assert!(status.contains(" 200 "), "create bucket {bucket}: {status}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One bodiless HTTP/1.1 request to 127.0.0.1:`port`; returns the status line.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_string())
}

#[tokio::test]
async fn round_trip_against_moto() {
    let Some(binary) = moto_or_skip("round_trip_against_moto") else {
        return;
    };
    let started = Instant::now();
    let moto = Moto::start(&binary);
    moto.create_bucket("ticketflow");
    eprintln!("moto up in {:?}", started.elapsed());

    let cfg = StoreConfig {
        url: "s3://ticketflow/team-a/dev".into(),
        s3: local_options(moto.port),
    };
    let store = Store::open_with_env(&cfg, test_env()).expect("open s3 store");
    assert_eq!(
        store.describe(),
        format!(
            "s3://ticketflow/team-a/dev (endpoint http://127.0.0.1:{})",
            moto.port
        )
    );

    let raw0 = keys::raw_shard("r1", 0);
    let raw1 = keys::raw_shard("r1", 1);
    let emb0 = keys::embeddings("r1", 0);
    let other = keys::raw_shard("r10", 0);
    let big = Bytes::from(vec![7u8; 3 * 1024 * 1024]);
    store.put(&raw0, Bytes::from("zero")).await.expect("put");
    store.put(&raw1, Bytes::from("one")).await.expect("put");
    store.put(&emb0, big.clone()).await.expect("put 3 MiB");
    store.put(&other, Bytes::from("r10")).await.expect("put");

    assert_eq!(store.get(&raw0).await.expect("get"), Bytes::from("zero"));
    assert_eq!(store.get(&emb0).await.expect("get big"), big);
    // The coordinator streams s3:// inputs to disk with download: same bytes, in chunks.
    let local = tempfile::tempdir().expect("tempdir");
    let dest = local.path().join("big.bin");
    let written = store.download(&emb0, &dest).await.expect("download");
    assert_eq!(written, big.len() as u64);
    assert_eq!(std::fs::read(&dest).expect("read download"), big.to_vec());
    let missing = store
        .download(&keys::raw_shard("r1", 9), &dest)
        .await
        .expect_err("missing object");
    assert!(missing.is_not_found(), "{missing}");
    assert!(store.exists(&raw1).await.expect("exists"));
    assert!(
        !store
            .exists(&keys::raw_shard("r1", 9))
            .await
            .expect("exists")
    );

    let listed = store.list(&keys::run_prefix("r1")).await.expect("list");
    assert_eq!(listed, vec![emb0.clone(), raw0.clone(), raw1.clone()]);
    assert_eq!(store.list("runs/r1").await.expect("list"), listed);
    assert_eq!(store.list("").await.expect("list all").len(), 4);

    store
        .put(&raw0, Bytes::from("zero v2"))
        .await
        .expect("overwrite");
    assert_eq!(store.get(&raw0).await.expect("get"), Bytes::from("zero v2"));

    store.delete(&raw0).await.expect("delete");
    store.delete(&raw0).await.expect("delete is idempotent");
    assert!(!store.exists(&raw0).await.expect("exists"));
    let err = store.get(&raw0).await.expect_err("get deleted");
    assert!(err.is_not_found() && !err.is_transient(), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("get {raw0} on s3://ticketflow/team-a/dev")),
        "{msg}"
    );

    assert!(matches!(
        store.put("../escape", Bytes::new()).await,
        Err(StoreError::InvalidKey { op: Op::Put, .. })
    ));

    // The prefix isolates: a store on the bucket root sees the full keys, one on a sibling
    // prefix sees nothing.
    let root_cfg = StoreConfig {
        url: "s3://ticketflow".into(),
        s3: local_options(moto.port),
    };
    let root = Store::open_with_env(&root_cfg, test_env()).expect("open root");
    assert_eq!(
        root.list("team-a/dev/runs/r1/raw")
            .await
            .expect("list root"),
        vec![format!("team-a/dev/{raw1}")]
    );
    let sibling_cfg = StoreConfig {
        url: "s3://ticketflow/team-b".into(),
        s3: local_options(moto.port),
    };
    let sibling = Store::open_with_env(&sibling_cfg, test_env()).expect("open sibling");
    assert!(sibling.list("").await.expect("list sibling").is_empty());

    // A missing bucket is a permanent error, named in the message.
    let missing_cfg = StoreConfig {
        url: "s3://no-such-bucket/p".into(),
        s3: local_options(moto.port),
    };
    let missing = Store::open_with_env(&missing_cfg, test_env()).expect("open");
    let err = missing
        .put("k", Bytes::from("v"))
        .await
        .expect_err("no bucket");
    eprintln!("missing bucket: {err}");
    assert!(!err.is_transient() && !err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains("s3://no-such-bucket/p"), "{err}");
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let err = missing.list("").await.expect_err("no bucket");
    assert!(!err.is_transient(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(SECRET));

    eprintln!("round trip done in {:?}", started.elapsed());
}

/// Compare-and-set on S3 (`If-Match` / `If-None-Match`), as moto implements it.
#[tokio::test]
async fn compare_and_set_against_moto() {
    let Some(binary) = moto_or_skip("compare_and_set_against_moto") else {
        return;
    };
    let moto = Moto::start(&binary);
    moto.create_bucket("ticketflow");
    let cfg = StoreConfig {
        url: "s3://ticketflow/cas".into(),
        s3: local_options(moto.port),
    };
    let store = Store::open_with_env(&cfg, test_env()).expect("open s3 store");
    conditional::compare_and_set_contract(&store).await;
}

#[tokio::test]
async fn unreachable_endpoint_is_transient_and_bounded() {
    let port = free_port(); // released: nothing listens there
    let cfg = StoreConfig {
        url: "s3://ticketflow/p".into(),
        s3: S3Options {
            retry: S3Retry {
                max_retries: 2,
                init_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
                retry_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(2),
            },
            ..local_options(port)
        },
    };
    let store = Store::open_with_env(&cfg, test_env()).expect("open");
    let key = keys::raw_shard("r1", 0);

    let started = Instant::now();
    let get = store.get(&key).await.expect_err("nothing listens");
    let exists = store.exists(&key).await.expect_err("nothing listens");
    let put = store
        .put(&key, Bytes::from("x"))
        .await
        .expect_err("nothing listens");
    let list = store.list("runs/").await.expect_err("nothing listens");
    let elapsed = started.elapsed();
    eprintln!("four failed operations took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");

    for (op, err) in [
        (Op::Get, &get),
        (Op::Exists, &exists),
        (Op::Put, &put),
        (Op::List, &list),
    ] {
        assert!(err.is_transient(), "{op}: {err:?}");
        assert!(
            matches!(err, StoreError::Backend { op: o, .. } if *o == op),
            "{err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
    let msg = get.to_string();
    eprintln!("unreachable: {msg}");
    assert!(
        msg.starts_with(&format!(
            "get {key} on s3://ticketflow/p (endpoint http://127.0.0.1:{port})"
        )),
        "{msg}"
    );
}

#[test]
fn secrets_never_appear_in_descriptions_or_debug_output() {
    let cfg = StoreConfig {
        url: "s3://ticketflow/p".into(),
        s3: S3Options {
            endpoint: Some(format!("http://user:{SECRET}@127.0.0.1:9")),
            ..local_options(9)
        },
    };
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIATESTING"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", SECRET),
    ];
    let store = Store::open_with_env(&cfg, env).expect("open");
    for text in [
        store.describe(),
        format!("{store:?}"),
        format!("{cfg:?}"),
        format!("{:?}", cfg.s3),
    ] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
    assert!(
        store
            .describe()
            .starts_with("s3://ticketflow/p (endpoint http://user:***@127.0.0.1:9")
    );

    // Credentials in the store URL are refused, and not echoed back.
    let err = Store::open_with_env(&StoreConfig::new(format!("s3://AKIA:{SECRET}@bkt/p")), env)
        .expect_err("credentials in URL");
    assert!(!format!("{err} {err:?}").contains(SECRET), "{err:?}");
}
