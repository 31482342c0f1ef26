//! One Chroma node at a million records: ingest records/s with concurrent batches against one
//! at a time, whether it slows as the collection grows, search latency on the full collection,
//! and the disk and memory it takes.
//!
//! ```text
//! make bench-chroma-scale                                   # the full run, 1-1.5 hours
//! source var/env && ROWS=200000 SWEEP_ROWS=20000 cargo bench -p ticketflow-connectors --bench chroma_scale
//! ```
//!
//! Like `chroma_upsert.rs` it starts its own Chroma servers (`var/bin/chroma run` on a free
//! loopback port with a fresh temporary data directory, `tests/support/chroma.rs`), and says so
//! and exits 0 when there is no binary. It writes through the project's [`ChromaClient`], which
//! cuts each upsert call into batches of `BATCH_SIZE` records (default 500, the indexer's shard
//! size) and writes up to [`ChromaConfig::concurrent_batches`] of them at once. Several indexers
//! each upserting one shard put the same load on the node as one client with that many
//! concurrent batches, so the answer holds for both.
//!
//! 1. **Sweep.** For each concurrency of `CONCURRENCY` (default `1,2,4`; 1 is always added:
//!    the baseline), a fresh server and collection take the first `SWEEP_ROWS` records
//!    (default 100,000). The best concurrency is the one with the most records/s, unless
//!    `SCALE_CONCURRENCY` names one.
//! 2. **Scale.** A fresh server takes `ROWS` records (default 1,000,000) at the best
//!    concurrency, in upsert calls of `SLICE` records (default 100,000), each timed: records/s
//!    over the whole run and per slice shows whether ingest slows as the collection grows.
//!    Generating a slice is not timed. The count must then equal `ROWS`.
//! 3. **Search.** On the full collection, 10 warm-up queries, then `QUERIES` (default 1,000)
//!    `query` calls one at a time, `n_results` = `K` (default 10), each a random unit vector:
//!    p50/p90/p99/max latency. Then every stored record picked along the way (one per 5,000)
//!    is queried with its own vector: how often it comes back first (recall@1 of the
//!    approximate index).
//! 4. **Size.** Disk taken by the server's data directory (allocated blocks, and apparent
//!    size), and the server process's resident memory now and at its peak (`/proc`).
//!
//! The records are the indexer's (`support/records.rs`): 384-d unit vectors from the fixed
//! `SEED` (default 7), the indexer's metadata, and short ticket-like documents (`DOC_CHARS`,
//! default 100, about 90 characters on average) to bound disk and time. The sweep's prefix is
//! the same records as the scale run's first slice.
//!
//! Output: a summary on stdout, progress on stderr, and JSON in `OUT` (default
//! `var/bench/chroma-scale.json`, relative to the workspace root).

#[path = "../tests/support/chroma.rs"]
mod chroma_support;
#[path = "support/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use chroma_support::{ChromaServer, chroma_binary};
use records::{DIM, Rng, record, unit_vector};
use serde_json::{Value, json};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig, VectorRecord};

/// Generous: one 500-record request on a busy machine with a large collection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// One stored record in this many is queried with its own vector after ingest.
const SELF_QUERY_EVERY: usize = 5_000;
const WARM_UP_QUERIES: usize = 10;

struct Args {
    rows: usize,
    slice: usize,
    sweep_rows: usize,
    concurrency: Vec<usize>,
    scale_concurrency: Option<usize>,
    batch: usize,
    queries: usize,
    k: usize,
    seed: u64,
    doc_chars: usize,
    out: PathBuf,
    out_name: String,
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v:?} is not a valid number")),
        _ => Ok(None),
    }
}

fn parse_args() -> Result<Args, String> {
    let positive = |name: &str, default: usize| match env_parse::<usize>(name)? {
        Some(0) => Err(format!("{name} must be positive")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let mut concurrency = match std::env::var("CONCURRENCY") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| s.trim().parse::<usize>().ok().filter(|n| *n > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("CONCURRENCY={v:?}: expected positive integers, e.g. 1,2,4"))?,
        _ => vec![1, 2, 4],
    };
    concurrency.push(1);
    concurrency.sort_unstable();
    concurrency.dedup();
    let out_name = std::env::var("OUT")
        .ok()
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| "var/bench/chroma-scale.json".to_owned());
    let rows = positive("ROWS", 1_000_000)?;
    Ok(Args {
        rows,
        slice: positive("SLICE", 100_000)?.min(rows),
        sweep_rows: positive("SWEEP_ROWS", 100_000)?.min(rows),
        concurrency,
        scale_concurrency: match env_parse::<usize>("SCALE_CONCURRENCY")? {
            Some(0) => return Err("SCALE_CONCURRENCY must be positive".into()),
            v => v,
        },
        batch: positive("BATCH_SIZE", 500)?,
        queries: positive("QUERIES", 1_000)?,
        k: positive("K", 10)?,
        seed: env_parse("SEED")?.unwrap_or(7),
        doc_chars: positive("DOC_CHARS", 100)?,
        out: chroma_support::workspace().join(&out_name),
        out_name,
    })
}

/// The records in order, a slice at a time, the same for every pass with the same seed.
struct Records {
    rng: Rng,
    run_id: String,
    next_row: usize,
    doc_chars: usize,
}

impl Records {
    fn new(seed: u64, doc_chars: usize) -> Self {
        let mut rng = Rng(seed);
        let run_id = format!("bench-{:08x}", rng.next_u64() as u32);
        Records {
            rng,
            run_id,
            next_row: 0,
            doc_chars,
        }
    }

    fn next_slice(&mut self, n: usize) -> Vec<VectorRecord> {
        let rows = self.next_row..self.next_row + n;
        self.next_row += n;
        rows.map(|row| record(&mut self.rng, &self.run_id, row, self.doc_chars))
            .collect()
    }
}

async fn connect(
    url: &str,
    name: &str,
    args: &Args,
    concurrent: usize,
) -> Result<ChromaClient, String> {
    let cfg = ChromaConfig {
        max_batch_size: Some(args.batch),
        concurrent_batches: concurrent,
        request_timeout: REQUEST_TIMEOUT,
        ..ChromaConfig::new(url, name)
    };
    ChromaClient::connect(&cfg)
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// One timed upsert call of the ingest.
struct Slice {
    from: usize,
    to: usize,
    seconds: f64,
    /// CPU time the server process spent meanwhile (all its threads), if it could be read.
    server_cpu_s: Option<f64>,
}

impl Slice {
    fn json(&self) -> Value {
        let n = (self.to - self.from) as f64;
        json!({
            "from": self.from,
            "to": self.to,
            "seconds": self.seconds,
            "records_per_s": n / self.seconds,
            "server_cpu_seconds": self.server_cpu_s,
            "server_cores_busy": self.server_cpu_s.map(|c| c / self.seconds),
            "server_cpu_ms_per_record": self.server_cpu_s.map(|c| c * 1e3 / n),
        })
    }
}

/// Totals over slices: (records, seconds, server CPU seconds if known for every slice).
fn totals(slices: &[Slice]) -> (usize, f64, Option<f64>) {
    let rows = slices.iter().map(|s| s.to - s.from).sum();
    let seconds = slices.iter().map(|s| s.seconds).sum();
    let cpu = slices.iter().map(|s| s.server_cpu_s).sum::<Option<f64>>();
    (rows, seconds, cpu)
}

/// Writes `rows` records in upsert calls of `slice`, each timed (with the server's CPU time
/// when `server_pid` is known); also returns one record in [`SELF_QUERY_EVERY`], for
/// self-queries.
async fn ingest(
    client: &ChromaClient,
    args: &Args,
    rows: usize,
    label: &str,
    server_pid: Option<u32>,
) -> Result<(Vec<Slice>, Vec<VectorRecord>), String> {
    let mut records = Records::new(args.seed, args.doc_chars);
    let mut slices = Vec::new();
    let mut picked = Vec::new();
    let started = Instant::now();
    while records.next_row < rows {
        let from = records.next_row;
        let slice = records.next_slice(args.slice.min(rows - from));
        let cpu_before = server_pid.and_then(cpu_seconds);
        let t = Instant::now();
        client
            .upsert(&slice)
            .await
            .map_err(|e| format!("{label}: rows {from}..: {e}"))?;
        let seconds = t.elapsed().as_secs_f64();
        let server_cpu_s = cpu_before
            .zip(server_pid.and_then(cpu_seconds))
            .map(|(a, b)| b - a);
        picked.extend(slice.into_iter().step_by(SELF_QUERY_EVERY));
        let done = Slice {
            from,
            to: records.next_row,
            seconds,
            server_cpu_s,
        };
        eprintln!(
            "  {label}: rows {from:>9}..{:<9} {:>6.0} rec/s ({seconds:.1} s, server {:.2} cores busy; \
             {:.0} s in; load {})",
            done.to,
            (done.to - from) as f64 / seconds,
            server_cpu_s.unwrap_or(f64::NAN) / seconds,
            started.elapsed().as_secs_f64(),
            load_average().unwrap_or_default()
        );
        slices.push(done);
    }
    let count = client.count().await.map_err(|e| e.to_string())?;
    if count != rows {
        return Err(format!(
            "{label}: the collection holds {count} records after writing {rows}"
        ));
    }
    Ok((slices, picked))
}

/// User + system CPU seconds of a process so far, all threads (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, 100 on every Linux we run on.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The pid and data directory of the `chroma run … --path DIR --port PORT` process serving
/// `url`.
fn server_process(url: &str) -> Option<(u32, PathBuf)> {
    let port = url.rsplit(':').next()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let value = |flag: &str| Some(args.get(args.iter().position(|a| a == flag)? + 1)?.clone());
        if args.iter().any(|a| a == "run") && value("--port").as_deref() == Some(port) {
            return Some((pid, PathBuf::from(value("--path")?)));
        }
    }
    None
}

/// (allocated, apparent) bytes of everything under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return total;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path());
            total = (total.0 + a, total.1 + b);
        } else {
            total = (total.0 + meta.blocks() * 512, total.1 + meta.len());
        }
    }
    total
}

/// `VmRSS` and `VmHWM` of a process, in bytes.
fn memory_of(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

async fn run(args: &Args, bin: &Path) -> Result<Value, String> {
    let load_before = load_average();
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "chroma".into());
    let mean_doc = {
        let sample = Records::new(args.seed, args.doc_chars).next_slice(1_000.min(args.rows));
        sample.iter().map(|r| r.document.len()).sum::<usize>() as f64 / sample.len() as f64
    };
    eprintln!(
        "{version}: {} records × {DIM}-d, documents ~{mean_doc:.0} chars, {} per request, \
         sweep {:?} on {} records",
        args.rows, args.batch, args.concurrency, args.sweep_rows
    );
    let started = Instant::now();

    // 1. The sweep, each concurrency on a fresh server.
    let mut sweep = Vec::new();
    for &c in &args.concurrency {
        let server = ChromaServer::start(bin).await?;
        let pid = server_process(&server.url).map(|(pid, _)| pid);
        let client = connect(&server.url, "scale-sweep", args, c).await?;
        let label = format!("sweep c={c}");
        let (slices, _) = ingest(&client, args, args.sweep_rows, &label, pid)
            .await
            .map_err(|e| format!("{e}\nchroma log:\n{}", server.log_tail()))?;
        let (rows, seconds, cpu) = totals(&slices);
        sweep.push(json!({
            "concurrency": c,
            "rows": rows,
            "seconds": seconds,
            "records_per_s": rows as f64 / seconds,
            "server_cores_busy": cpu.map(|c| c / seconds),
            "server_cpu_ms_per_record": cpu.map(|c| c * 1e3 / rows as f64),
            "peak_requests_in_flight": client.requests_in_flight_peak(),
        }));
    }
    let rate_of = |c: usize| {
        sweep
            .iter()
            .find(|s| s["concurrency"] == c)
            .and_then(|s| s["records_per_s"].as_f64())
    };
    let best = args.scale_concurrency.unwrap_or_else(|| {
        args.concurrency
            .iter()
            .copied()
            .max_by(|a, b| {
                rate_of(*a)
                    .unwrap_or(0.0)
                    .total_cmp(&rate_of(*b).unwrap_or(0.0))
            })
            .unwrap_or(1)
    });
    let baseline = rate_of(1).unwrap_or(f64::NAN);

    // 2. The full collection at the best concurrency.
    let server = ChromaServer::start(bin).await?;
    let process = server_process(&server.url);
    let pid = process.as_ref().map(|(pid, _)| *pid);
    let client = connect(&server.url, "scale", args, best).await?;
    let (slices, picked) = ingest(&client, args, args.rows, &format!("scale c={best}"), pid)
        .await
        .map_err(|e| format!("{e}\nchroma log:\n{}", server.log_tail()))?;
    let (_, ingest_s, ingest_cpu) = totals(&slices);
    let first_slice_rate = slices
        .first()
        .map_or(f64::NAN, |s| (s.to - s.from) as f64 / s.seconds);

    // 3. Search latency, one query at a time.
    let mut rng = Rng(args.seed ^ 0x5EA2_C4ED_0000_0001);
    let mut warm_up_ms = Vec::new();
    let mut latencies_ms = Vec::new();
    for i in 0..WARM_UP_QUERIES + args.queries {
        let q = unit_vector(&mut rng);
        let t = Instant::now();
        let hits = client
            .query(&q, args.k, None)
            .await
            .map_err(|e| format!("query: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if hits.len() != args.k {
            return Err(format!(
                "query {i}: {} hits, expected {}",
                hits.len(),
                args.k
            ));
        }
        if i < WARM_UP_QUERIES {
            warm_up_ms.push(ms);
        } else {
            latencies_ms.push(ms);
        }
    }
    let mut sorted = latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let mean_ms = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let (mut first, mut in_top_k) = (0, 0);
    for r in &picked {
        let hits = client
            .query(&r.embedding, args.k, None)
            .await
            .map_err(|e| format!("self-query: {e}"))?;
        first += usize::from(hits.first().is_some_and(|h| h.id == r.id));
        in_top_k += usize::from(hits.iter().any(|h| h.id == r.id));
    }

    // 4. Disk and memory.
    let (allocated, apparent) = process.as_ref().map_or((0, 0), |(_, dir)| disk_usage(dir));
    let (rss, hwm) = pid.map_or((None, None), memory_of);
    let bench_cpu_s = cpu_seconds(std::process::id());
    drop(client);
    drop(server);
    let wall_s = started.elapsed().as_secs_f64();
    let scale_rate = args.rows as f64 / ingest_s;
    let best_sweep = rate_of(best).unwrap_or(f64::NAN);
    let ms_per_record = |cpu: Option<f64>, rows: usize| cpu.map(|c| c * 1e3 / rows as f64);

    println!(
        "\n{version}, {} records × {DIM}-d, documents ~{mean_doc:.0} chars, {} records per \
         request; load average before {}\n",
        args.rows,
        args.batch,
        load_before.as_deref().unwrap_or("?")
    );
    println!(
        "| concurrent batches | records | records/s | vs 1 | server cores busy | server CPU ms / record |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for s in &sweep {
        let r = s["records_per_s"].as_f64().unwrap_or(f64::NAN);
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {r:.0} | {:.2} | {:.2} | {:.2} |",
            s["concurrency"],
            s["rows"],
            r / baseline,
            f("server_cores_busy"),
            f("server_cpu_ms_per_record"),
        );
    }
    println!(
        "\ningest at c={best}: {scale_rate:.0} records/s over {} records ({ingest_s:.0} s; \
         {:.2} × c=1 of the sweep; first slice {first_slice_rate:.0} records/s, {:.2} × c=1)",
        args.rows,
        scale_rate / baseline,
        first_slice_rate / baseline
    );
    for s in &slices {
        println!(
            "  {:>9}..{:<9} {:>7.0} rec/s, server {:.2} cores busy, {:.2} CPU ms / record",
            s.from,
            s.to,
            (s.to - s.from) as f64 / s.seconds,
            s.server_cpu_s.unwrap_or(f64::NAN) / s.seconds,
            ms_per_record(s.server_cpu_s, s.to - s.from).unwrap_or(f64::NAN)
        );
    }
    println!(
        "query k={} over {} calls: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         self-query recall@1 {first}/{}",
        args.k,
        sorted.len(),
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.90),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN),
        picked.len()
    );
    println!(
        "data dir {:.2} GB on disk ({:.2} GB apparent); server RSS {:.2} GB, peak {:.2} GB; \
         wall {wall_s:.0} s; load average after {}",
        gb(allocated),
        gb(apparent),
        gb(rss.unwrap_or(0)),
        gb(hwm.unwrap_or(0)),
        load_average().as_deref().unwrap_or("?")
    );

    Ok(json!({
        "benchmark": "chroma_scale",
        "command": "make bench-chroma-scale",
        "chroma_version": version,
        "rows": args.rows,
        "dim": DIM,
        "seed": args.seed,
        "mean_document_chars": mean_doc,
        "records_per_request": args.batch,
        "records_per_upsert_call": args.slice,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "wall_seconds": wall_s,
        "bench_process_cpu_seconds": bench_cpu_s,
        "sweep": sweep,
        "baseline_records_per_s": baseline,
        "best_concurrency": best,
        "best_vs_baseline": best_sweep / baseline,
        "scale": {
            "concurrency": best,
            "rows": args.rows,
            "seconds": ingest_s,
            "records_per_s": scale_rate,
            "vs_baseline": scale_rate / baseline,
            "first_slice_vs_baseline": first_slice_rate / baseline,
            "server_cpu_seconds": ingest_cpu,
            "server_cpu_ms_per_record": ms_per_record(ingest_cpu, args.rows),
            "slices": slices.iter().map(Slice::json).collect::<Vec<_>>(),
        },
        "query": {
            "calls": sorted.len(),
            "n_results": args.k,
            "p50_ms": percentile(&sorted, 0.50),
            "p90_ms": percentile(&sorted, 0.90),
            "p99_ms": percentile(&sorted, 0.99),
            "max_ms": sorted.last(),
            "mean_ms": mean_ms,
            "warm_up_ms": warm_up_ms,
            "self_queries": picked.len(),
            "self_recall_at_1": first as f64 / picked.len().max(1) as f64,
            "self_in_top_k": in_top_k as f64 / picked.len().max(1) as f64,
        },
        "data_dir_bytes": { "allocated": allocated, "apparent": apparent },
        "server_memory_bytes": { "rss": rss, "peak": hwm },
    }))
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!(
            "chroma_scale: one Chroma node at a million records (see the source's header).\n\
             environment: ROWS (1000000) SLICE (100000) SWEEP_ROWS (100000) CONCURRENCY (1,2,4)\n\
             SCALE_CONCURRENCY (best of the sweep) BATCH_SIZE (500) QUERIES (1000) K (10)\n\
             SEED (7) DOC_CHARS (100) OUT (var/bench/chroma-scale.json) TICKETFLOW_CHROMA_BIN"
        );
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chroma_scale: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(bin) = chroma_binary() else {
        eprintln!(
            "chroma_scale: skipped: no Chroma server binary (run `make setup`, or set TICKETFLOW_CHROMA_BIN)"
        );
        return ExitCode::SUCCESS;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chroma_scale: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(run(&args, &bin)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chroma_scale: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = args
        .out
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
            std::fs::write(&args.out, text + "\n")
        });
    match written {
        Ok(()) => {
            println!("results written to {}", args.out_name);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chroma_scale: {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
