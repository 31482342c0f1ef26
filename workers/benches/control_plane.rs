//! The control plane alone, on a real nats-server: what the pipeline's bookkeeping costs per
//! shard, and whether that cost depends on the run's size (`make bench-control-plane`).
//!
//! Three real stage loops (`run_stage`: cleaner, embedder, indexer) run with workers that do no
//! work: each passes its shard on with the message the real stage would send, so what is left
//! is exactly what the pipeline does around the work, per shard and stage: pull, publish
//! downstream, read the shard's record, count it in the run's progress (compare-and-set),
//! record the finish (compare-and-set), ack; at the end the verifying scan, `runs.completed`.
//!
//! For each size in `SHARDS` (default `2000 20000`; 20,000 shards of 500 tickets is a 10M-ticket
//! run) it starts a fresh nats-server, publishes the shard tasks, runs the loops until the run
//! is complete, and prints one JSON line: wall time, shards/s, the progress record's size, and
//! per shard the messages and bytes clients sent the server (`/varz`), and the KV writes to
//! `tf_progress` and `tf_shards`. The last line compares the per-shard costs of the largest and
//! the smallest run (1.0: independent of the run's size).
//!
//! ```text
//! cargo bench --locked -p ticketflow-workers --bench control_plane
//! SHARDS="2000 20000 50000" REPLICAS=2 cargo bench ... --bench control_plane
//! ```
//!
//! nats-server comes from `TICKETFLOW_NATS_BIN`, else `var/bin/nats-server` (`make setup`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ticketflow_connectors::nats::{Bus, ConsumerSettings, NatsConfig};
use ticketflow_schemas::{
    CleanedShard, EmbeddedShard, ReuseCounts, RunProgress, ShardTask, Stage, encode,
};
use ticketflow_testkit::free_port;
use ticketflow_workers::stage_loop::{
    Downstream, Processed, Shutdown, StageError, StageWorker, run_stage,
};

const TICKETS_PER_SHARD: u32 = 500;

fn passed_on(tickets: u32, downstream: Option<Downstream>) -> Processed {
    Processed {
        tickets,
        downstream,
        counts: ReuseCounts::default(),
    }
}

struct Cleaner;
impl StageWorker for Cleaner {
    const STAGE: Stage = Stage::Cleaner;
    type Input = ShardTask;
    async fn process(&self, t: &ShardTask) -> Result<Processed, StageError> {
        let next = CleanedShard {
            run_id: t.run_id.clone(),
            shard: t.shard,
            shard_count: t.shard_count,
            clean_key: format!("runs/{}/clean/{}", t.run_id, t.shard),
            tickets: t.tickets,
        };
        Ok(passed_on(t.tickets, Some(Downstream::new(&next)?)))
    }
}

struct Embedder;
impl StageWorker for Embedder {
    const STAGE: Stage = Stage::Embedder;
    type Input = CleanedShard;
    async fn process(&self, c: &CleanedShard) -> Result<Processed, StageError> {
        let next = EmbeddedShard {
            run_id: c.run_id.clone(),
            shard: c.shard,
            shard_count: c.shard_count,
            clean_key: c.clean_key.clone(),
            embeddings_key: format!("runs/{}/embeddings/{}.npy", c.run_id, c.shard),
            tickets: c.tickets,
            dim: 384,
            precision: "int8".into(),
            model_digest: "bench".into(),
            vectors_reused: 0,
        };
        Ok(passed_on(c.tickets, Some(Downstream::new(&next)?)))
    }
}

struct Indexer;
impl StageWorker for Indexer {
    const STAGE: Stage = Stage::Indexer;
    type Input = EmbeddedShard;
    async fn process(&self, e: &EmbeddedShard) -> Result<Processed, StageError> {
        Ok(passed_on(e.tickets, None))
    }
}

struct Server {
    child: Child,
    url: String,
    monitor_port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Result<Server, String> {
    let bin = std::env::var_os("TICKETFLOW_NATS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../var/bin/nats-server")
        });
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (port, monitor_port) = (free_port(), free_port());
    let child = Command::new(&bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &monitor_port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e} (run `make setup`)", bin.display()))?;
    let server = Server {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        monitor_port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while varz(monitor_port).is_err() {
        if Instant::now() > deadline {
            return Err("nats-server did not start in 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

/// The server's `/varz`, by a plain HTTP/1.0 GET.
fn varz(port: u16) -> Result<serde_json::Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.write_all(b"GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let body = out.split("\r\n\r\n").nth(1).ok_or("no body")?;
    serde_json::from_str(body).map_err(|e| e.to_string())
}

fn counter(v: &serde_json::Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or(0)
}

/// KV writes so far to a bucket: its stream's last sequence.
async fn kv_writes(bus: &Bus, bucket: &str) -> Result<u64, String> {
    let mut stream = bus
        .jetstream()
        .get_stream(format!("KV_{bucket}"))
        .await
        .map_err(|e| e.to_string())?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    Ok(info.state.last_sequence)
}

async fn measure(shards: u32, replicas: usize) -> Result<serde_json::Value, String> {
    let server = start_server()?;
    let bus = Bus::connect(&NatsConfig::new(server.url.clone()))
        .await
        .map_err(|e| e.to_string())?;
    let run_id = format!("run-bench-{shards}");
    bus.create_progress(&RunProgress::new(&run_id, shards, 0))
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    for shard in 0..shards {
        let task = ShardTask {
            run_id: run_id.clone(),
            shard,
            shard_count: shards,
            raw_key: format!("runs/{run_id}/raw/{shard}"),
            tickets: TICKETS_PER_SHARD,
            embed_input: "normalized".into(),
        };
        let _ = bus
            .publish_routed(&task, None)
            .await
            .map_err(|e| e.to_string())?;
    }
    let published_s = started.elapsed().as_secs_f64();
    let before = varz(server.monitor_port)?;
    let kv_before = (
        kv_writes(&bus, "tf_progress").await?,
        kv_writes(&bus, "tf_shards").await?,
    );
    let shutdown = Shutdown::new();
    let settings = ConsumerSettings::default();
    let mut loops = Vec::new();
    for _ in 0..replicas {
        let (b, s) = (bus.clone(), shutdown.clone());
        loops.push(tokio::spawn(run_stage(
            b.clone(),
            settings,
            Cleaner,
            s.clone(),
        )));
        loops.push(tokio::spawn(run_stage(
            b.clone(),
            settings,
            Embedder,
            s.clone(),
        )));
        loops.push(tokio::spawn(run_stage(b, settings, Indexer, s)));
    }
    let loops_started = Instant::now();
    let mut last_report = Instant::now();
    let progress = loop {
        let p = bus
            .progress(&run_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the run disappeared")?;
        if p.completion_published {
            break p;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {shards} shards: indexed {} after {:.0} s",
                p.done_count(Stage::Indexer),
                loops_started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall_s = loops_started.elapsed().as_secs_f64();
    shutdown.trigger();
    for l in loops {
        l.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let after = varz(server.monitor_port)?;
    let kv_after = (
        kv_writes(&bus, "tf_progress").await?,
        kv_writes(&bus, "tf_shards").await?,
    );
    let scan_started = Instant::now();
    let indexed = bus
        .finished_shards(&run_id, Stage::Indexer)
        .await
        .map_err(|e| e.to_string())?;
    let scan_s = scan_started.elapsed().as_secs_f64();
    if indexed.len() != shards as usize || progress.tickets_indexed != u64::from(shards) * 500 {
        return Err(format!(
            "{} of {shards} shards indexed, {} tickets",
            indexed.len(),
            progress.tickets_indexed
        ));
    }
    let per_shard = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / f64::from(shards);
    Ok(serde_json::json!({
        "shards": shards,
        "tickets": u64::from(shards) * u64::from(TICKETS_PER_SHARD),
        "replicas_per_stage": replicas,
        "publish_tasks_s": published_s,
        "wall_s": wall_s,
        "shards_per_s": f64::from(shards) / wall_s,
        "ms_per_shard_all_stages": wall_s * 1000.0 / f64::from(shards),
        "progress_record_bytes": encode(&progress).map_err(|e| e.to_string())?.len(),
        "client_msgs_per_shard": per_shard(counter(&before, "in_msgs"), counter(&after, "in_msgs")),
        "client_bytes_per_shard": per_shard(counter(&before, "in_bytes"), counter(&after, "in_bytes")),
        "progress_kv_writes_per_shard": per_shard(kv_before.0, kv_after.0),
        "shard_kv_writes_per_shard": per_shard(kv_before.1, kv_after.1),
        "completion_scan_s": scan_s,
    }))
}

fn main() -> ExitCode {
    let sizes: Vec<u32> = std::env::var("SHARDS")
        .unwrap_or_else(|_| "2000 20000".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let replicas: usize = std::env::var("REPLICAS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut results = Vec::new();
    for &n in &sizes {
        eprintln!("control plane: {n} shards, {replicas} loop(s) per stage");
        match runtime.block_on(measure(n, replicas)) {
            Ok(r) => {
                println!("{r}");
                results.push(r);
            }
            Err(e) => {
                eprintln!("control plane at {n} shards: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        let ratio = |k: &str| last[k].as_f64().unwrap_or(0.0) / first[k].as_f64().unwrap_or(1.0);
        let summary = serde_json::json!({
            "compare": format!("{} shards against {}", last["shards"], first["shards"]),
            "client_bytes_per_shard_ratio": ratio("client_bytes_per_shard"),
            "ms_per_shard_ratio": ratio("ms_per_shard_all_stages"),
            "progress_record_bytes_ratio": ratio("progress_record_bytes"),
        });
        println!("{summary}");
    }
    ExitCode::SUCCESS
}
