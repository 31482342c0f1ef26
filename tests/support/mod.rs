//! Real servers for integration tests: nats-server, Chroma and moto (S3), each on its own free
//! port with its own data directory, plus `ticketflow` worker processes. Everything started here
//! is killed when its guard drops, so a failing test leaves nothing behind.

#![allow(dead_code)] // each test file uses a different subset

pub mod audit;
pub mod nats_cluster;
pub mod netns;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use ticketflow_testkit::Requirement;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A binary from `make setup` (`var/bin/NAME`), or `None` with the test skipped — unless
/// `TICKETFLOW_REQUIRE_SERVICES=1` (as under `make test`), where a missing binary fails.
pub fn service_binary(name: &str) -> Option<PathBuf> {
    let path = workspace().join("var/bin").join(name);
    if path.exists() {
        return Some(path);
    }
    Requirement::Services.missing(format!("{} missing: run `make setup`", path.display()));
    None
}

/// A single-threaded tokio runtime for the async parts of a test (talking to NATS, Chroma, the
/// store from the outside).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A port for a server or worker this test starts (below the ephemeral range: see testkit).
pub fn free_port() -> u16 {
    ticketflow_testkit::free_port()
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
    /// Where a worker serves /metrics, /healthz and /readyz.
    pub metrics_port: Option<u16>,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let err = file.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            log,
            metrics_port: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// GETs `http://127.0.0.1:port/path`; true on a 2xx answer.
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0_u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 2")
}

/// Sends one raw HTTP request; returns the status code.
pub fn http_request(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.get(9..12)?.parse().ok()
}

/// GETs `http://127.0.0.1:port/path`; returns the status and body. HTTP/1.0, so servers answer
/// without chunked encoding and close the connection at the end of the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_from("127.0.0.1", port, path)
}

/// [`http_get`] on another host (a cluster node in its network namespace).
pub fn http_get_from(ip: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: {ip}:{port}\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} not ready after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct Nats {
    pub proc: Proc,
    pub port: u16,
    pub monitor_port: u16,
    pub url: String,
}

impl Nats {
    pub fn start(dir: &Path) -> Option<Nats> {
        let bin = service_binary("nats-server")?;
        Some(Self::start_on(&bin, dir, free_port(), free_port()))
    }

    /// Starts on fixed ports (used to restart a server in place).
    pub fn start_on(bin: &Path, dir: &Path, port: u16, monitor_port: u16) -> Nats {
        let store = dir.join("nats");
        let mut cmd = Command::new(bin);
        cmd.args([
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &monitor_port.to_string(),
            "-sd",
            &store.to_string_lossy(),
        ]);
        Self::launch(&mut cmd, dir, port, monitor_port)
    }

    /// Spawns `cmd` (a nats-server listening on loopback `port`, monitoring on `monitor_port`)
    /// and waits until JetStream is healthy. A server that exits at once (e.g. a config it
    /// rejects) fails with its log instead of a timeout.
    fn launch(cmd: &mut Command, dir: &Path, port: u16, monitor_port: u16) -> Nats {
        let mut proc = Proc::spawn("nats", cmd, dir);
        wait_until("nats-server", Duration::from_secs(30), || {
            assert!(
                proc.is_running(),
                "nats-server exited; its log:\n{}",
                proc.log_tail()
            );
            http_ok(monitor_port, "/healthz?js-enabled-only=true")
        });
        Nats {
            proc,
            port,
            monitor_port,
            url: format!("nats://127.0.0.1:{port}"),
        }
    }

    /// Starts nats-server from a config file written to `dir/nats.conf`: `listen` on a free
    /// loopback port, monitoring (`http`) on another, JetStream in `dir/nats`, then `extra`
    /// verbatim (e.g. `tls { … }` and `authorization { … }` blocks). The monitoring port stays
    /// plain HTTP, so readiness is checked the same way whatever the client port requires.
    /// `url` is `nats://127.0.0.1:PORT`, without credentials.
    pub fn start_with_config(dir: &Path, extra: &str) -> Option<Nats> {
        let bin = service_binary("nats-server")?;
        Some(Self::start_with_config_on(
            &bin,
            dir,
            free_port(),
            free_port(),
            extra,
        ))
    }

    /// [`start_with_config`](Self::start_with_config) on fixed ports.
    pub fn start_with_config_on(
        bin: &Path,
        dir: &Path,
        port: u16,
        monitor_port: u16,
        extra: &str,
    ) -> Nats {
        std::fs::create_dir_all(dir).expect("nats dir");
        let store = dir.join("nats");
        let config = dir.join("nats.conf");
        let text = format!(
            "listen: \"127.0.0.1:{port}\"\nhttp: \"127.0.0.1:{monitor_port}\"\n\
             jetstream {{\n  store_dir: {store:?}\n}}\n{extra}\n"
        );
        std::fs::write(&config, text).expect("nats.conf");
        Self::launch(
            Command::new(bin).args(["-c", &config.to_string_lossy()]),
            dir,
            port,
            monitor_port,
        )
    }
}

/// What a test of the NATS client alone needs: one nats-server over a fresh temp dir, and a
/// runtime to talk to it on. Fields drop in order: the server stops before its directory goes.
pub struct LoneNats {
    pub rt: tokio::runtime::Runtime,
    pub nats: Nats,
    pub dir: tempfile::TempDir,
}

impl LoneNats {
    /// `None` (the test skips, or fails under `TICKETFLOW_REQUIRE_SERVICES`) without nats-server.
    pub fn start() -> Option<LoneNats> {
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = Nats::start(dir.path())?;
        Some(LoneNats {
            rt: runtime(),
            nats,
            dir,
        })
    }
}

/// What a pipeline test needs before its workers: NATS and Chroma running over a fresh temp dir.
/// `None` (the test skips, or fails under `TICKETFLOW_REQUIRE_*`) when the model or a server
/// binary is missing. Fields drop in order: the servers stop before their directory goes.
pub struct Services {
    pub nats: Nats,
    pub chroma: Chroma,
    pub dir: tempfile::TempDir,
}

impl Services {
    pub fn start() -> Option<Services> {
        if !model_ready() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = Nats::start(dir.path())?;
        let chroma = Chroma::start(dir.path())?;
        Some(Services { nats, chroma, dir })
    }
}

pub struct Chroma {
    pub proc: Proc,
    pub port: u16,
    pub url: String,
}

impl Chroma {
    pub fn start(dir: &Path) -> Option<Chroma> {
        let bin = service_binary("chroma")?;
        Some(Self::start_on(&bin, dir, free_port()))
    }

    /// Starts on a fixed port over `dir/chroma` (used to restart the server in place: its data
    /// persists on disk).
    pub fn start_on(bin: &Path, dir: &Path, port: u16) -> Chroma {
        let path = dir.join("chroma");
        let proc = Proc::spawn(
            "chroma",
            Command::new(bin).args([
                "run",
                "--path",
                &path.to_string_lossy(),
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ]),
            dir,
        );
        wait_until("chroma", Duration::from_secs(60), || {
            http_ok(port, "/api/v2/heartbeat")
        });
        Chroma {
            proc,
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// moto's S3 server with one bucket.
pub struct Moto {
    pub proc: Proc,
    pub port: u16,
    pub endpoint: String,
}

impl Moto {
    pub fn start(dir: &Path, bucket: &str) -> Option<Moto> {
        let bin = service_binary("moto_server")?;
        let port = free_port();
        let proc = Proc::spawn(
            "moto",
            Command::new(bin).args(["-H", "127.0.0.1", "-p", &port.to_string()]),
            dir,
        );
        wait_until("moto", Duration::from_secs(30), || {
            http_request(port, "GET", "/").is_some()
        });
        let status = http_request(port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, Some(200), "creating bucket {bucket}");
        Some(Moto {
            proc,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The AWS_* environment a client needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test-secret".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

/// Environment that points `ticketflow` at a test stack.
#[derive(Clone, Debug)]
pub struct StackEnv {
    pub vars: Vec<(String, String)>,
}

impl StackEnv {
    pub fn new(nats: &Nats, chroma: &Chroma, store_url: &str, collection: &str) -> Self {
        Self::for_url(&nats.url, chroma, store_url, collection)
    }

    /// [`new`](Self::new) for any `NATS_URL` (a cluster's comma-separated servers).
    pub fn for_url(nats_url: &str, chroma: &Chroma, store_url: &str, collection: &str) -> Self {
        Self {
            vars: vec![
                ("NATS_URL".into(), nats_url.to_string()),
                ("TICKETFLOW_CHROMA_URL".into(), chroma.url.clone()),
                ("TICKETFLOW_STORE".into(), store_url.to_string()),
                (
                    "TICKETFLOW_CHROMA_COLLECTION".into(),
                    collection.to_string(),
                ),
                ("RUST_LOG".into(), "info,ort=warn".into()),
            ],
        }
    }

    pub fn with(mut self, vars: Vec<(String, String)>) -> Self {
        self.vars.extend(vars);
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketflow"));
        cmd.current_dir(workspace());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn worker(&self, stage: &str, name: &str, log_dir: &Path, extra: &[&str]) -> Proc {
        let mut cmd = self.command();
        // Every worker on this host needs its own metrics port.
        let port = free_port();
        cmd.env("TICKETFLOW_METRICS_ADDR", format!("127.0.0.1:{port}"));
        cmd.args(["worker", stage]).args(extra);
        let mut proc = Proc::spawn(name, &mut cmd, log_dir);
        proc.metrics_port = Some(port);
        proc
    }

    /// cleaner, `embedders` embedders, indexer, trainer.
    pub fn workers(&self, embedders: usize, log_dir: &Path, extra: &[&str]) -> Vec<Proc> {
        let mut procs = vec![self.worker("cleaner", "cleaner", log_dir, extra)];
        for i in 0..embedders {
            procs.push(self.worker("embedder", &format!("embedder-{i}"), log_dir, extra));
        }
        procs.push(self.worker("indexer", "indexer", log_dir, extra));
        procs.push(self.worker("trainer", "trainer", log_dir, extra));
        procs
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run ticketflow")
    }

    /// `runs show RUN --json`, or `None` while NATS cannot answer.
    pub fn show(&self, run_id: &str) -> Option<serde_json::Value> {
        let out = self.run(&["runs", "show", run_id, "--json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Polls `runs show` until `done` holds; after `timeout` fails with the run and `logs`.
    pub fn wait_for_run(
        &self,
        run_id: &str,
        what: &str,
        timeout: Duration,
        logs: &[&Proc],
        mut done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.show(run_id)
                && done(&v)
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id}: {what} not reached after {timeout:?}\n{:?}\n{}",
                self.show(run_id),
                dump_logs(logs)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// The run id a `ticketflow run` printed (`run <id> queued …`).
pub fn run_id_from(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .unwrap_or_else(|| panic!("no run id in {stdout:?}"))
        .to_string()
}

/// `ticketflow <args>`, which must succeed; a failure shows its output and every worker's log.
/// Returns stdout.
pub fn run_ok(env: &StackEnv, args: &[&str], logs: &[&Proc]) -> String {
    run_ok_with_stderr(env, args, logs).0
}

/// [`run_ok`] returning stderr (the coordinator's log) too.
pub fn run_ok_with_stderr(env: &StackEnv, args: &[&str], logs: &[&Proc]) -> (String, String) {
    let out = env.run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed:\n{stdout}\n{stderr}\n{}",
        dump_logs(logs)
    );
    (stdout, stderr)
}

/// `ticketflow run --input INPUT --shard-size N --wait`, a stalled run failing after 120 s, which
/// must succeed (see [`run_ok`]). Returns stdout and stderr (the coordinator's log).
pub fn run_wait(env: &StackEnv, input: &Path, shard_size: u32, logs: &[&Proc]) -> (String, String) {
    let input = input.to_string_lossy();
    let shard_size = shard_size.to_string();
    let args = [
        "run",
        "--input",
        &input,
        "--shard-size",
        &shard_size,
        "--wait",
        "--stall-timeout-secs",
        "120",
    ];
    run_ok_with_stderr(env, &args, logs)
}

/// Waits until every worker answers `/readyz` with 200.
pub fn wait_ready(workers: &[Proc]) {
    for w in workers {
        let port = w.metrics_port.expect("port");
        wait_until(
            &format!("{} /readyz", w.name),
            Duration::from_secs(60),
            || http_get(port, "/readyz").is_some_and(|(s, _)| s == 200),
        );
    }
}

/// A JSON file the stack wrote (a card, a result, a report).
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies the records of CSV `from` that `keep(index, record, header)` selects to `to`, header
/// included, without the column `drop` if given. Returns how many records were written.
pub fn filter_csv(
    from: &Path,
    to: &Path,
    drop: Option<&str>,
    mut keep: impl FnMut(usize, &csv::StringRecord, &csv::StringRecord) -> bool,
) -> usize {
    let mut r = csv::Reader::from_path(from).expect("read");
    let headers = r.headers().expect("headers").clone();
    let columns: Vec<usize> = (0..headers.len())
        .filter(|&i| Some(&headers[i]) != drop)
        .collect();
    let mut w = csv::Writer::from_path(to).expect("write");
    w.write_record(columns.iter().map(|&i| &headers[i]))
        .expect("header");
    let mut written = 0;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.expect("record");
        if keep(i, &rec, &headers) {
            w.write_record(columns.iter().map(|&c| &rec[c]))
                .expect("row");
            written += 1;
        }
    }
    w.flush().expect("flush");
    written
}

/// Records `skip..skip + take` of a CSV (header kept), optionally without one column.
pub fn slice_csv(from: &Path, to: &Path, skip: usize, take: usize, drop: Option<&str>) -> usize {
    filter_csv(from, to, drop, |i, _, _| i >= skip && i < skip + take)
}

/// Runs `cmd`, which must succeed (else the test fails naming `what`, with its stderr); its
/// output.
#[track_caller]
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `rows` synthetic tickets to `path` with the binary's generator.
pub fn generate(path: &Path, rows: u64, seed: u64) {
    output_ok(
        Command::new(env!("CARGO_BIN_EXE_ticketflow")).args([
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            &seed.to_string(),
            "--output",
            &path.to_string_lossy(),
        ]),
        "generate",
    );
}

/// `rows` generated tickets of `seed` in `dir/tickets.csv`; its path.
pub fn generate_tickets(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let input = dir.join("tickets.csv");
    generate(&input, rows, seed);
    input
}

/// `../shared/data/NAME` when it is there; else `None`, with a note that generated tickets stand
/// in for it.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = workspace().join("../shared/data").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("note: {} absent; using generated tickets", path.display());
        None
    }
}

/// Writes the dev tickets (`../shared/data/tickets_dev.csv`) to `to`, or where they are absent
/// `rows` generated tickets of `seed`.
pub fn dev_tickets(to: &Path, rows: u64, seed: u64) {
    match shared_data("tickets_dev.csv") {
        Some(dev) => {
            std::fs::copy(&dev, to).expect("copy dev data into the test's temp dir");
        }
        None => generate(to, rows, seed),
    }
}

/// NATS, Chroma, worker processes (`embedders` embedders, one of every other stage) and an
/// input file of `tickets` generated tickets: the stack the pipeline and fault tests run on.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub nats: Nats,
    pub chroma: Chroma,
    pub env: StackEnv,
    pub workers: Vec<Proc>,
    pub collection: String,
    pub input: PathBuf,
    pub tickets: u64,
}

impl Stack {
    /// Queues a run without waiting (what the CronJob does); returns its id.
    pub fn submit(&self, shard_size: u32) -> String {
        let out = self.env.run(&[
            "run",
            "--input",
            &self.input.to_string_lossy(),
            "--shard-size",
            &shard_size.to_string(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        run_id_from(&stdout)
    }

    /// `None` (the test skips, or fails under `TICKETFLOW_REQUIRE_*`) without the model or a
    /// server. `extra_env` is added to every worker's environment (e.g. a short ack wait);
    /// `store_url` gets the test's directory. `seed` picks the generated tickets.
    pub fn start(
        collection: &str,
        embedders: usize,
        tickets: u64,
        seed: u64,
        extra_env: Vec<(String, String)>,
        store_url: impl FnOnce(&Path) -> String,
    ) -> Option<Stack> {
        if !model_ready() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = Nats::start(dir.path())?;
        let chroma = Chroma::start(dir.path())?;
        let env = StackEnv::new(&nats, &chroma, &store_url(dir.path()), collection).with(extra_env);
        let workers = env.workers(embedders, dir.path(), &[]);
        let input = generate_tickets(dir.path(), tickets, seed);
        Some(Stack {
            dir,
            nats,
            chroma,
            env,
            workers,
            collection: collection.to_string(),
            input,
            tickets,
        })
    }
}

/// Worker processes and the environment that drives them: what waiting on a run needs. One
/// [`wait_for`](Self::wait_for) for every stack the tests build.
pub trait RunWorkers {
    fn env(&self) -> &StackEnv;
    fn workers(&self) -> &[Proc];

    /// Polls `runs show` until `done` holds; after `timeout` fails with the run and every
    /// worker's log.
    fn wait_for(
        &self,
        run_id: &str,
        what: &str,
        timeout: Duration,
        done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let logs: Vec<&Proc> = self.workers().iter().collect();
        self.env().wait_for_run(run_id, what, timeout, &logs, done)
    }
}

impl RunWorkers for Stack {
    fn env(&self) -> &StackEnv {
        &self.env
    }
    fn workers(&self) -> &[Proc] {
        &self.workers
    }
}

/// True when the model from `make setup` is there (the embedder needs it).
pub fn model_ready() -> bool {
    let model = std::env::var_os("TICKETFLOW_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/models/all-minilm-l6-v2"));
    let lib = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("var/lib/libonnxruntime.so"));
    let ready = model.join("model.onnx").is_file() && lib.is_file();
    if !ready {
        Requirement::Model.missing("model or ONNX Runtime missing: run `make setup`");
    }
    ready
}

pub fn dump_logs(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| format!("--- {} ---\n{}", p.name, p.log_tail()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TCP proxy in front of a server that can be switched "down": while down it drops every
/// open connection and resets new ones at once, as a crashed or unreachable server would.
/// Used where the real server cannot be restarted in place (moto keeps its data in memory).
pub struct FlakyProxy {
    pub port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FlakyProxy {
    pub fn start(target_port: u16) -> FlakyProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let (d, g) = (down.clone(), generation.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    let (d, g) = (d.clone(), g.clone());
                    std::thread::spawn(move || {
                        let _ = from.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut buf = [0_u8; 16 * 1024];
                        loop {
                            if d.load(Ordering::SeqCst) || g.load(Ordering::SeqCst) != born {
                                break;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if e.kind() == std::io::ErrorKind::WouldBlock
                                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                                Err(_) => break,
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        FlakyProxy {
            port,
            down,
            generation,
        }
    }

    pub fn set_down(&self, down: bool) {
        use std::sync::atomic::Ordering;
        self.down.store(down, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
