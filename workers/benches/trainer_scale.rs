//! The trainer at 100k and 1M tickets: time and peak RSS (`make bench-trainer`, which runs
//! `scripts/bench_trainer.sh`; that script starts nats-server and calls this binary twice per
//! size, so the peak RSS of `train` is the trainer's alone).
//!
//! ```text
//! trainer_scale prepare --nats URL --store DIR --tickets N --run-id ID
//! trainer_scale train   --nats URL --store DIR --run-id ID [--max-rows K]
//! ```
//!
//! `prepare` writes a finished run the way the pipeline leaves it: raw shards (the profile reads
//! them), cleaned shards (`ticketflow_text::synth` tickets through the cleaner's own function) and
//! `.npy` tensors of 500 tickets, plus the run's manifest and progress in NATS KV. The vectors
//! are generated, not embedded (1M tickets would take the embedder hours): each is its type's
//! fixed random direction plus seeded noise, normalised. The bench measures cost, not quality:
//! the synthetic tickets' words give their type away to the lexical features, so macro-F1 is
//! 1.0 whatever the vectors. `train` runs
//! `Trainer::process` on it, exactly what the trainer worker does on `runs.completed`, without
//! Chroma and the Pushgateway, and prints one JSON line: seconds, peak RSS (VmHWM), and the
//! sample the model card records.

use std::time::Instant;

use bytes::Bytes;
use ndarray::Array2;
use ticketflow_connectors::nats::{Bus, NatsConfig, NatsSecurity};
use ticketflow_connectors::store::{Store, StoreConfig, keys};
use ticketflow_lifecycle::registry::QualityGate;
use ticketflow_lifecycle::tensors;
use ticketflow_schemas::{CleanShardFile, RunCompleted, RunManifest, RunProgress, Stage};
use ticketflow_text::text::EmbedInput;
use ticketflow_workers::StageWorker;
use ticketflow_workers::cleaner::clean_ticket;
use ticketflow_workers::trainer::Trainer;

const SHARD_SIZE: u64 = 500;
const DIM: usize = 384;
/// How far a vector leans toward its type's direction, against unit noise: the types overlap
/// in embedding space, as real tickets' do.
const SIGNAL: f32 = 0.08;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone())
}

fn required(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| {
        eprintln!("trainer_scale: {name} is required");
        std::process::exit(2)
    })
}

/// A small seeded generator (xorshift64*): the bench must not depend on a RNG crate's stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Roughly normal: the sum of four uniforms, centred and scaled.
    fn normal(&mut self) -> f32 {
        let u: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (u - 2.0) * 1.732
    }
}

fn class_direction(class: &str) -> Vec<f32> {
    let seed = class.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    let mut rng = Rng(seed | 1);
    let v: Vec<f32> = (0..DIM).map(|_| rng.normal()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

async fn connect(url: &str) -> Bus {
    Bus::connect_with(&NatsConfig::new(url), &NatsSecurity::default())
        .await
        .unwrap_or_else(|e| {
            eprintln!("trainer_scale: NATS at {url}: {e}");
            std::process::exit(1)
        })
}

async fn prepare(args: &[String]) {
    let tickets: u64 = required(args, "--tickets")
        .parse()
        .expect("--tickets: a number");
    let run_id = required(args, "--run-id");
    let store = Store::open(&StoreConfig::new(format!(
        "file://{}",
        required(args, "--store")
    )))
    .expect("store");
    let bus = connect(&required(args, "--nats")).await;
    let shard_count = tickets.div_ceil(SHARD_SIZE) as u32;
    let directions: std::collections::HashMap<String, Vec<f32>> =
        ["Incident", "Request", "Problem", "Change"]
            .iter()
            .map(|c| (c.to_string(), class_direction(c)))
            .collect();
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    let started = Instant::now();
    let mut progress = RunProgress::new(&run_id, shard_count, ticketflow_schemas::now_ms());
    for shard in 0..shard_count {
        let first = u64::from(shard) * SHARD_SIZE;
        let rows = first..(first + SHARD_SIZE).min(tickets);
        let raw: Vec<_> = rows
            .map(|i| {
                let mut t = ticketflow_text::synth::ticket(7, i);
                t.id = format!("bench-{i}");
                t.row = i + 1;
                t
            })
            .collect();
        let mut jsonl = Vec::new();
        for t in &raw {
            serde_json::to_writer(&mut jsonl, t).expect("json");
            jsonl.push(b'\n');
        }
        let clean: Vec<_> = raw
            .iter()
            .map(|t| clean_ticket(t, EmbedInput::Normalized))
            .collect();
        let mut vectors = Array2::<f32>::zeros((clean.len(), DIM));
        for (row, t) in clean.iter().enumerate() {
            let class = t.ticket_type.as_deref().unwrap_or("Incident");
            let direction = &directions[class];
            let mut v: Vec<f32> = direction
                .iter()
                .map(|d| SIGNAL * d + rng.normal() / (DIM as f32).sqrt())
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.row_mut(row).assign(&ndarray::ArrayView1::from(&v));
        }
        let file = CleanShardFile {
            run_id: run_id.clone(),
            shard,
            tickets: clean,
        };
        store
            .put(&keys::raw_shard(&run_id, shard), Bytes::from(jsonl))
            .await
            .expect("raw shard");
        store
            .put(
                &keys::clean_shard(&run_id, shard),
                Bytes::from(ticketflow_schemas::encode(&file).expect("encode")),
            )
            .await
            .expect("clean shard");
        store
            .put(
                &keys::embeddings(&run_id, shard),
                Bytes::from(tensors::to_npy(&vectors).expect("npy")),
            )
            .await
            .expect("tensor");
        for stage in [Stage::Cleaner, Stage::Embedder, Stage::Indexer] {
            progress.count_done(stage);
        }
    }
    progress.tickets_indexed = tickets;
    progress.published = true;
    progress.completed_at_ms = Some(ticketflow_schemas::now_ms());
    let manifest = RunManifest {
        run_id: run_id.clone(),
        input: format!("generated:{tickets}"),
        input_digest: format!("generated-{tickets}"),
        created_at_ms: ticketflow_schemas::now_ms(),
        shard_size: SHARD_SIZE as u32,
        shard_count,
        tickets,
        quarantined: 0,
        quarantine_key: None,
        labelled: true,
        embed_input: "normalized".into(),
        dataset: "bench".into(),
    };
    bus.create_manifest(&manifest).await.expect("manifest");
    bus.create_progress(&progress).await.expect("progress");
    eprintln!(
        "prepared {tickets} tickets in {shard_count} shards in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Peak resident set size of this process so far, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn train(args: &[String]) {
    let run_id = required(args, "--run-id");
    let max_rows: usize = arg(args, "--max-rows")
        .map(|v| v.parse().expect("--max-rows: a number"))
        .unwrap_or(50_000);
    let store = Store::open(&StoreConfig::new(format!(
        "file://{}",
        required(args, "--store")
    )))
    .expect("store");
    let bus = connect(&required(args, "--nats")).await;
    let manifest = bus.manifest(&run_id).await.expect("manifest").expect("run");
    let trainer = Trainer {
        store: store.clone(),
        bus,
        chroma: None,
        train: Default::default(),
        gate: QualityGate::default(),
        max_rows,
        model_dir: None,
        pushgateway: None,
    };
    let started = Instant::now();
    trainer
        .process(&RunCompleted {
            run_id: run_id.clone(),
            shard_count: manifest.shard_count,
            tickets_indexed: manifest.tickets,
            dead_shards: Vec::new(),
            redrives: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("trainer: {e}"));
    let seconds = started.elapsed().as_secs_f64();
    let result: serde_json::Value =
        serde_json::from_slice(&store.get(&keys::run_result(&run_id)).await.expect("result"))
            .expect("result json");
    let model = &result["model"];
    let out = serde_json::json!({
        "tickets": manifest.tickets,
        "max_rows": max_rows,
        "seconds": (seconds * 100.0).round() / 100.0,
        "tickets_per_second": (manifest.tickets as f64 / seconds).round(),
        "peak_rss_mb": peak_rss_mb().round(),
        "sample": model["sample"],
        "macro_f1": model["macro_f1"],
        "model": model["model"],
        "verdict": model["verdict"],
        // What else the run did: production (the champion) predicted every ticket, and drift
        // was measured against this reference (null for a data set's first run).
        "production_predicted": result["production_routing"].is_object(),
        "drift_reference": result["drift"]["reference"],
    });
    println!("{out}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` adds its own `--bench` flag: look for the mode anywhere.
    let mode = args
        .iter()
        .skip(1)
        .find(|a| *a == "prepare" || *a == "train");
    match mode.map(String::as_str) {
        Some("prepare") => rt.block_on(prepare(&args)),
        Some("train") => rt.block_on(train(&args)),
        // `cargo bench` without arguments (as in `cargo bench --workspace`): nothing to do.
        _ => {
            eprintln!("trainer_scale: run it through scripts/bench_trainer.sh (make bench-trainer)")
        }
    }
}
