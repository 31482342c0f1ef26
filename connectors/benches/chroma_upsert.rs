//! Chroma upsert throughput by batch size, through the project's own [`ChromaClient`].
//!
//! ```text
//! source var/env && cargo bench -p ticketflow-connectors --bench chroma_upsert
//! ROWS=5000 REPEATS=3 BATCH_SIZES=64,256,1000 make bench-chroma
//! ```
//!
//! It starts a real Chroma server itself, as the integration tests do (`var/bin/chroma` from
//! `scripts/setup.sh`, or `$TICKETFLOW_CHROMA_BIN`): `chroma run --path DIR --host 127.0.0.1
//! --port P` with a fresh temporary data directory and a free loopback port, waits for its
//! heartbeat, and kills it at the end. Without the binary the benchmark says so and exits 0.
//!
//! Method:
//!
//! - `ROWS` records (default 20,000) like the indexer's: a 384-d unit vector (deterministic
//!   pseudo-random from `SEED`), a ticket-like document of about 600 characters, and the
//!   indexer's metadata (type, queue, priority, language, run_id, embedding_precision, shard,
//!   row).
//! - For each batch size (`BATCH_SIZES`, default 16,64,128,256,512,1000 plus the server's own
//!   limit), a client is connected with [`ChromaConfig::max_batch_size`] set to it and a fresh
//!   collection; one [`ChromaClient::upsert`] call writes all records (the client splits them
//!   into batches: a `get` of the batch's ids, then `upsert`). That is the **first upsert**.
//! - The same records are then upserted again: every vector is unchanged, so the client only
//!   `get`s the stored vectors and `update`s documents and metadata. That is the **re-upsert**,
//!   what a redelivered shard or a re-run costs.
//! - The collection is deleted, so every measurement starts from the same server state.
//! - The whole sweep runs `REPEATS` times (default 2), alternating forward and reverse order
//!   of batch sizes so slow drift (another process on the machine, the server warming up)
//!   does not favour one end of the curve. The table reports the best of the repeats and
//!   the spread; all samples go to the JSON.
//!
//! `UPSERT_CALL_ROWS` (default: all rows in one call) splits the records into several upsert
//! calls instead, e.g. 500 to mimic the indexer, which upserts one shard per call: there a
//! batch size above the shard size changes nothing.
//!
//! Output: a Markdown table on stdout and JSON in `OUT` (default `var/bench/chroma.json`;
//! relative paths are from the workspace root, although cargo runs benches from
//! `connectors/`).
//!
//! Other knobs: `SEED` (default 7), `DOC_CHARS` (target document length, default 600).

#[path = "../tests/support/chroma.rs"]
mod chroma_support;
#[path = "support/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use chroma_support::{ChromaServer, chroma_binary};
use records::{DIM, Rng, record};
use serde_json::{Value, json};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig, VectorRecord};
/// The batch sizes swept when `BATCH_SIZES` is not set; the server's limit is added if larger.
const DEFAULT_BATCH_SIZES: &[usize] = &[16, 64, 128, 256, 512, 1000];
/// Generous: one request of the largest batch on a busy machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

struct Args {
    rows: usize,
    repeats: usize,
    batch_sizes: Option<Vec<usize>>,
    seed: u64,
    doc_chars: usize,
    call_rows: Option<usize>,
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
    let positive = |name: &str, v: Option<usize>, default: usize| match v {
        Some(0) => Err(format!("{name} must be positive")),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let batch_sizes = match std::env::var("BATCH_SIZES") {
        Ok(v) if !v.trim().is_empty() => {
            let sizes = v
                .split(',')
                .map(|s| s.trim().parse::<usize>().ok().filter(|n| *n > 0))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    format!("BATCH_SIZES={v:?}: expected positive integers, e.g. 16,64,256")
                })?;
            Some(sizes)
        }
        _ => None,
    };
    let out_name = std::env::var("OUT")
        .ok()
        .filter(|o| !o.trim().is_empty())
        .unwrap_or_else(|| "var/bench/chroma.json".to_owned());
    let call_rows = match env_parse::<usize>("UPSERT_CALL_ROWS")? {
        Some(0) => return Err("UPSERT_CALL_ROWS must be positive".into()),
        v => v,
    };
    Ok(Args {
        rows: positive("ROWS", env_parse("ROWS")?, 20_000)?,
        repeats: positive("REPEATS", env_parse("REPEATS")?, 2)?,
        batch_sizes,
        seed: env_parse("SEED")?.unwrap_or(7),
        doc_chars: positive("DOC_CHARS", env_parse("DOC_CHARS")?, 600)?,
        call_rows,
        out: chroma_support::workspace().join(&out_name),
        out_name,
    })
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// One first upsert and one re-upsert of all records at one batch size.
struct Sample {
    repeat: usize,
    first_s: f64,
    again_s: f64,
}

async fn delete_collection(http: &reqwest::Client, url: &str, name: &str) -> Result<(), String> {
    let resp = http
        .delete(format!(
            "{url}/api/v2/tenants/default_tenant/databases/default_database/collections/{name}"
        ))
        .send()
        .await
        .map_err(|e| format!("deleting {name}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("deleting {name}: HTTP {}", resp.status()));
    }
    Ok(())
}

async fn upsert_all(
    client: &ChromaClient,
    records: &[VectorRecord],
    call_rows: usize,
) -> Result<f64, String> {
    let started = Instant::now();
    for call in records.chunks(call_rows) {
        client.upsert(call).await.map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn measure(
    url: &str,
    http: &reqwest::Client,
    records: &[VectorRecord],
    batch: usize,
    repeat: usize,
    call_rows: usize,
) -> Result<Sample, String> {
    let name = format!("bench-upsert-b{batch}-r{repeat}");
    let cfg = ChromaConfig {
        max_batch_size: Some(batch),
        // The curve is one request at a time, as it was measured first; how concurrent
        // batches change the picture is chroma_scale.rs's subject.
        concurrent_batches: 1,
        request_timeout: REQUEST_TIMEOUT,
        ..ChromaConfig::new(url, &name)
    };
    let client = ChromaClient::connect(&cfg)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let first_s = upsert_all(&client, records, call_rows).await?;
    let count = client.count().await.map_err(|e| e.to_string())?;
    if count != records.len() {
        return Err(format!(
            "{name} holds {count} records after upserting {}",
            records.len()
        ));
    }
    let again_s = upsert_all(&client, records, call_rows).await?;
    delete_collection(http, url, &name).await?;
    Ok(Sample {
        repeat,
        first_s,
        again_s,
    })
}

fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn run(args: &Args, bin: &Path) -> Result<(), String> {
    let load_before = load_average();
    eprintln!("starting {} …", bin.display());
    let server = ChromaServer::start(bin).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("{}/api/v2/{path}", server.url);
        async move {
            let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
            resp.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let api_version = get("version").await?;
    // The package version (`chroma 1.4.4`); the HTTP API only says its own (`1.0.0`).
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("chroma (API {})", api_version.as_str().unwrap_or("?")));
    let preflight = get("pre-flight-checks").await?;
    let server_max = preflight["max_batch_size"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("pre-flight-checks without max_batch_size: {preflight}"))?;

    let mut sizes = args
        .batch_sizes
        .clone()
        .unwrap_or_else(|| DEFAULT_BATCH_SIZES.to_vec());
    if args.batch_sizes.is_none() && server_max > *sizes.iter().max().unwrap_or(&0) {
        sizes.push(server_max);
    }
    // The client clamps to the server's limit: larger sizes would measure that limit again.
    for s in &mut sizes {
        *s = (*s).min(server_max);
    }
    sizes.sort_unstable();
    sizes.dedup();

    let call_rows = args.call_rows.unwrap_or(args.rows);
    eprintln!(
        "{version} (max_batch_size {server_max}) at {}; {} records, batch sizes {sizes:?}, \
         {} repeat(s), {call_rows} records per upsert call",
        server.url, args.rows, args.repeats
    );
    let mut rng = Rng(args.seed);
    let run_id = format!("bench-{:08x}", rng.next_u64() as u32);
    let records: Vec<VectorRecord> = (0..args.rows)
        .map(|row| record(&mut rng, &run_id, row, args.doc_chars))
        .collect();
    let mean_doc =
        records.iter().map(|r| r.document.len()).sum::<usize>() as f64 / records.len() as f64;

    let mut samples: Vec<(usize, Sample)> = Vec::new();
    let started = Instant::now();
    for repeat in 0..args.repeats {
        let order: Vec<usize> = if repeat.is_multiple_of(2) {
            sizes.clone()
        } else {
            sizes.iter().rev().copied().collect()
        };
        for &batch in &order {
            let s = measure(&server.url, &http, &records, batch, repeat, call_rows)
                .await
                .map_err(|e| {
                    format!(
                        "batch size {batch}: {e}\nchroma log:\n{}",
                        server.log_tail()
                    )
                })?;
            eprintln!(
                "  repeat {repeat} batch {batch:>5}: first {:>9.0} rec/s ({:.2} s), re-upsert {:>9.0} rec/s ({:.2} s)",
                args.rows as f64 / s.first_s,
                s.first_s,
                args.rows as f64 / s.again_s,
                s.again_s
            );
            samples.push((batch, s));
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    drop(server);
    let load_after = load_average();

    // Summaries: best of the repeats (the least disturbed run), plus min–max spread.
    let rate = |secs: f64| args.rows as f64 / secs;
    struct Row {
        batch: usize,
        first: Vec<f64>,
        again: Vec<f64>,
    }
    let rows: Vec<Row> = sizes
        .iter()
        .map(|&batch| {
            let of = |f: fn(&Sample) -> f64| -> Vec<f64> {
                samples
                    .iter()
                    .filter(|(b, _)| *b == batch)
                    .map(|(_, s)| rate(f(s)))
                    .collect()
            };
            Row {
                batch,
                first: of(|s| s.first_s),
                again: of(|s| s.again_s),
            }
        })
        .collect();
    let best = |xs: &[f64]| xs.iter().copied().fold(0.0, f64::max);
    let worst = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
    let top_first = rows.iter().map(|r| best(&r.first)).fold(0.0, f64::max);
    let top_again = rows.iter().map(|r| best(&r.again)).fold(0.0, f64::max);

    println!(
        "\n{version} upsert throughput, {} records × {DIM}-d, documents ~{mean_doc:.0} chars, \
         {} upsert call(s) per pass; best of {} (range in brackets)\n",
        thousands(args.rows as f64),
        args.rows.div_ceil(call_rows),
        args.repeats
    );
    println!(
        "| batch size | requests / pass | first upsert rec/s | vs best | re-upsert rec/s | vs best | re-upsert ÷ first |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let per_call = |n: usize| n.div_ceil(r.batch);
        let batches: usize = (0..args.rows.div_ceil(call_rows))
            .map(|i| per_call(call_rows.min(args.rows - i * call_rows)))
            .sum();
        let range = |xs: &[f64]| {
            if xs.len() > 1 {
                format!(" ({}–{})", thousands(worst(xs)), thousands(best(xs)))
            } else {
                String::new()
            }
        };
        println!(
            "| {}{} | {} | {}{} | {:.2} | {}{} | {:.2} | {:.1}× |",
            r.batch,
            if r.batch == server_max {
                " (server max)"
            } else {
                ""
            },
            // first: get + upsert per batch; re-upsert: get + update per batch.
            thousands((2 * batches) as f64),
            thousands(best(&r.first)),
            range(&r.first),
            best(&r.first) / top_first,
            thousands(best(&r.again)),
            range(&r.again),
            best(&r.again) / top_again,
            best(&r.again) / best(&r.first),
        );
    }
    println!(
        "\nwall time {wall_s:.0} s; load average before {} / after {}",
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?")
    );

    let report = json!({
        "benchmark": "chroma_upsert",
        "command": "cargo bench -p ticketflow-connectors --bench chroma_upsert",
        "chroma_version": version,
        "chroma_api_version": api_version,
        "server_max_batch_size": server_max,
        "rows": args.rows,
        "dim": DIM,
        "seed": args.seed,
        "mean_document_chars": mean_doc,
        "records_per_upsert_call": call_rows,
        "repeats": args.repeats,
        "batch_sizes": sizes,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "wall_seconds": wall_s,
        "results": rows.iter().map(|r| json!({
            "batch_size": r.batch,
            "first_upsert_records_per_s": { "best": best(&r.first), "median": median(r.first.clone()), "all": r.first },
            "reupsert_records_per_s": { "best": best(&r.again), "median": median(r.again.clone()), "all": r.again },
        })).collect::<Vec<_>>(),
        "samples": samples.iter().map(|(b, s)| json!({
            "batch_size": b, "repeat": s.repeat, "first_upsert_s": s.first_s, "reupsert_s": s.again_s,
        })).collect::<Vec<_>>(),
    });
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, text + "\n").map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("results written to {}", args.out_name);
    Ok(())
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this benchmark takes its settings from the environment.
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!(
            "chroma_upsert: Chroma upsert throughput by batch size (see the source's header).\n\
             environment: ROWS (20000) REPEATS (2) BATCH_SIZES (16,64,128,256,512,1000 + server max)\n\
             SEED (7) DOC_CHARS (600) UPSERT_CALL_ROWS (all rows) OUT (var/bench/chroma.json)\n\
             TICKETFLOW_CHROMA_BIN (var/bin/chroma)"
        );
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chroma_upsert: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(bin) = chroma_binary() else {
        eprintln!(
            "chroma_upsert: skipped: no Chroma server binary (run `make setup`, or set TICKETFLOW_CHROMA_BIN)"
        );
        return ExitCode::SUCCESS;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chroma_upsert: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, &bin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chroma_upsert: {e}");
            ExitCode::FAILURE
        }
    }
}
