//! `ticketflow runs list|show|set-reference|redrive`: run state and repairs for operators.

use clap::{Args, Subcommand};
use ticketflow_connectors::nats::Bus;
use ticketflow_connectors::store::{Store, keys};
use ticketflow_schemas::{RunManifest, RunProgress, Stage};

use super::services::{ServiceArgs, runtime};

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
    #[command(flatten)]
    pub services: ServiceArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One line per run: status, shards indexed, tickets.
    List,
    /// A run's manifest, per-stage progress, dead shards and where its outputs are.
    Show {
        run_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a finished run the drift reference (default: the run behind the `latest` model).
    SetReference { run_id: String },
    /// Send a run's dead shards through the pipeline again (after fixing their cause).
    Redrive { run_id: String },
}

pub fn run(args: RunsArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let bus = args.services.bus(false).await?;
        match args.command {
            RunsCommand::List => list(&bus).await,
            RunsCommand::Show { run_id, json } => {
                let store = args.services.store()?;
                show(&bus, &store, &run_id, json).await
            }
            RunsCommand::Redrive { run_id } => {
                let outcome = ticketflow_coordinator::redrive(&bus, &run_id).await?;
                if outcome.redriven.is_empty() && outcome.missing.is_empty() {
                    println!("run {run_id} has no dead shards: nothing to redrive");
                }
                for (shard, stage) in &outcome.redriven {
                    println!("shard {shard}: sent back to the {stage}");
                }
                if !outcome.missing.is_empty() {
                    println!(
                        "shards {:?} have no dead letter left (expired?): still dead",
                        outcome.missing
                    );
                }
                if !outcome.redriven.is_empty() {
                    println!(
                        "run {run_id}: {} shard(s) re-driven (redrive {}); follow with `ticketflow runs show {run_id}`",
                        outcome.redriven.len(),
                        outcome.generation
                    );
                }
                Ok(())
            }
            RunsCommand::SetReference { run_id } => {
                let store = args.services.store()?;
                let (m, p) = load(&bus, &run_id).await?;
                if p.trained_at_ms.is_none() {
                    anyhow::bail!("run {run_id} is not finished yet; pick a run the trainer has completed");
                }
                let features = keys::features(&run_id);
                if !store.exists(&features).await? {
                    anyhow::bail!("run {run_id} has no feature table ({features}); it cannot serve as a reference");
                }
                // A reference serves the data set its run belongs to, and no other.
                let dataset = m.dataset();
                ticketflow_lifecycle::registry::Registry::new(store)
                    .set_reference(&dataset, &run_id, ticketflow_workers::now_ms())
                    .await?;
                println!("run {run_id} is now the drift reference of data set {dataset}");
                Ok(())
            }
        }
    })
}

async fn list(bus: &Bus) -> anyhow::Result<()> {
    let ids = bus.run_ids().await?;
    if ids.is_empty() {
        println!("no runs");
        return Ok(());
    }
    println!(
        "{:<28} {:<22} {:>15} {:>9} {:>11}  input",
        "RUN", "STATUS", "SHARDS INDEXED", "TICKETS", "QUARANTINED"
    );
    for id in ids {
        let Some(m) = bus.manifest(&id).await? else {
            continue;
        };
        let p = bus.progress(&id).await?;
        let (status, indexed) = match &p {
            Some(p) => (p.status().to_string(), p.done_count(Stage::Indexer)),
            None => ("unknown".into(), 0),
        };
        println!(
            "{:<28} {:<22} {:>15} {:>9} {:>11}  {}",
            id,
            status,
            format!("{indexed}/{}", m.shard_count),
            m.tickets,
            m.quarantined,
            m.input
        );
    }
    Ok(())
}

async fn load(bus: &Bus, run_id: &str) -> anyhow::Result<(RunManifest, RunProgress)> {
    let m = bus
        .manifest(run_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {run_id} not found (see `ticketflow runs list`)"))?;
    let p = bus
        .progress(run_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {run_id} has a manifest but no progress record"))?;
    Ok((m, p))
}

async fn show(bus: &Bus, store: &Store, run_id: &str, json: bool) -> anyhow::Result<()> {
    let (m, p) = load(bus, run_id).await?;
    // What every shard update of every stage rewrites (docs/capacity.md, control plane).
    let progress_bytes = ticketflow_schemas::encode(&p)?.len();
    if json {
        // Finishes per stage and shard, from the shards' own records: one streamed scan,
        // O(shards) (a few seconds at a million shards).
        let mut finishes: std::collections::BTreeMap<Stage, std::collections::BTreeMap<u32, u32>> =
            Default::default();
        for (shard, record) in bus.shard_records(run_id).await? {
            for (stage, n) in record.finishes {
                finishes.entry(stage).or_default().insert(shard, n);
            }
        }
        // Summed processing time per shard stage, seconds.
        let busy_seconds: std::collections::BTreeMap<&str, f64> =
            [Stage::Cleaner, Stage::Embedder, Stage::Indexer]
                .into_iter()
                .map(|st| (st.as_str(), p.busy_ms_of(st) as f64 / 1000.0))
                .collect();
        let value = serde_json::json!({
            "manifest": m,
            "status": p.status(),
            "shards": {
                "total": p.shard_count,
                "cleaned": p.done_count(Stage::Cleaner),
                "embedded": p.done_count(Stage::Embedder),
                "indexed": p.done_count(Stage::Indexer),
                "dead": p.dead.iter().map(|(s, d)| serde_json::json!({"shard": s, "stage": d.stage, "reason": d.reason})).collect::<Vec<_>>(),
                "redriving": p.redriving.keys().collect::<Vec<_>>(),
            },
            "tickets_indexed": p.tickets_indexed,
            "reuse": p.reuse,
            "lookup_requests_per_shard": lookup_per_shard(&p.reuse, m.shard_count),
            "train_attempts": p.train_attempts,
            "trainings": p.trainings,
            "trained": p.trained_at_ms.is_some(),
            "redrives": p.redrives,
            "finishes": finishes,
            "progress_bytes": progress_bytes,
            // Queued (progress created) to the last shard indexed or dead, once complete.
            "wall_seconds": p.completed_at_ms.map(|done| done.saturating_sub(p.started_at_ms) as f64 / 1000.0),
            "busy_seconds": busy_seconds,
            "result": format!("{}/{}", store.describe(), keys::run_result(run_id)),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("run        {}", m.run_id);
    println!("status     {}", p.status());
    println!(
        "input      {} (blake3 {})",
        m.input,
        &m.input_digest[..16.min(m.input_digest.len())]
    );
    println!(
        "tickets    {} accepted, {} quarantined, {} indexed",
        m.tickets, m.quarantined, p.tickets_indexed
    );
    println!("{}", reuse_line("reuse     ", &p.reuse));
    println!("{}", lookup_line(&p.reuse, m.shard_count));
    println!("shards     {} of {} tickets", m.shard_count, m.shard_size);
    for stage in [Stage::Cleaner, Stage::Embedder, Stage::Indexer] {
        let done = p.done_count(stage);
        println!("  {:<9} {done}/{}", stage.as_str(), m.shard_count);
    }
    println!(
        "  trainer   {}",
        if p.trained_at_ms.is_some() {
            "done"
        } else {
            "pending"
        }
    );
    if !p.redriving.is_empty() {
        println!(
            "  re-driving   shards {:?} are being sent again; if no redrive is running, it was cut short: run `ticketflow runs redrive {}` again",
            p.redriving.keys().collect::<Vec<_>>(),
            p.run_id
        );
    }
    for (shard, dead) in &p.dead {
        println!("  dead shard {shard} at {}: {}", dead.stage, dead.reason);
    }
    println!("control    progress record {progress_bytes} bytes, rewritten on each shard update");
    println!("store      {}", store.describe());
    println!(
        "  shards   {}raw/, clean/, embeddings/",
        keys::run_prefix(run_id)
    );
    println!("  result   {}", keys::run_result(run_id));
    if let Some(q) = &m.quarantine_key {
        println!("  rejects  {q}");
    }
    Ok(())
}

/// "vectors N reused, M embedded; chroma W written, U unchanged": what an incremental run saved.
fn reuse_line(label: &str, r: &ticketflow_schemas::ReuseCounts) -> String {
    format!(
        "{label} vectors {} reused, {} embedded; chroma records {} written, {} unchanged",
        r.vectors_reused, r.vectors_embedded, r.records_written, r.records_unchanged
    )
}

/// The object-store requests of the embedder's vector-reuse lookups, per shard of the run:
/// flat as the vector space grows (workers' `vector_cache`, docs/capacity.md).
fn lookup_per_shard(r: &ticketflow_schemas::ReuseCounts, shards: u32) -> Option<f64> {
    (shards > 0 && r.lookup_requests > 0).then(|| r.lookup_requests as f64 / f64::from(shards))
}

/// "lookups    N object-store requests, X per shard".
fn lookup_line(r: &ticketflow_schemas::ReuseCounts, shards: u32) -> String {
    match lookup_per_shard(r, shards) {
        Some(per_shard) => format!(
            "lookups    {} object-store requests for vector reuse, {per_shard:.1} per shard",
            r.lookup_requests
        ),
        None => {
            "lookups    none counted (reuse off, or a run from before they were counted)".into()
        }
    }
}

/// The end-of-run summary `run --wait` and `make demo` print.
pub async fn print_summary(
    bus: &Bus,
    store: &Store,
    services: &ServiceArgs,
    run_id: &str,
) -> anyhow::Result<()> {
    let (m, p) = load(bus, run_id).await?;
    let secs = |ms: u64| ms as f64 / 1000.0;
    let wall = p
        .completed_at_ms
        .unwrap_or(p.started_at_ms)
        .saturating_sub(p.started_at_ms);
    let chroma_count = match services.chroma().await {
        Ok(c) => c
            .count()
            .await
            .map(|n| n.to_string())
            .unwrap_or_else(|e| format!("unavailable ({e})")),
        Err(e) => format!("unavailable ({e})"),
    };
    println!();
    println!("run {} {}", m.run_id, p.status());
    println!(
        "  tickets      {} accepted, {} quarantined, {} indexed",
        m.tickets, m.quarantined, p.tickets_indexed
    );
    println!("{}", reuse_line("  reuse       ", &p.reuse));
    println!("  shards       {} ({} dead)", m.shard_count, p.dead.len());
    println!(
        "  stage time   cleaner {:.1}s, embedder {:.1}s, indexer {:.1}s (summed over shards); wall {:.1}s",
        secs(p.busy_ms_of(Stage::Cleaner)),
        secs(p.busy_ms_of(Stage::Embedder)),
        secs(p.busy_ms_of(Stage::Indexer)),
        secs(wall)
    );
    if let Ok(bytes) = store.get(&keys::run_result(run_id)).await
        && let Ok(result) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        print_model_lines(&result);
    }
    println!(
        "  chroma       {} records in collection {:?} at {}",
        chroma_count, services.collection, services.chroma_url
    );
    println!("  object store {}", store.describe());
    println!("    tensors    {}embeddings/", keys::run_prefix(run_id));
    println!("    result     {}", keys::run_result(run_id));
    if let Some(q) = &m.quarantine_key {
        println!("    rejects    {q}");
    }
    Ok(())
}

/// The model, prediction and drift parts of a run's `result.json`, a line or two each.
fn print_model_lines(result: &serde_json::Value) {
    print_training_lines(result);
    if let Some(d) = result.get("drift") {
        if let Some(e) = d.get("error").and_then(|e| e.as_str()) {
            println!("  drift        report failed: {e}");
            return;
        }
        if let Some(note) = d.get("note").and_then(|n| n.as_str()) {
            println!("  drift        {note}");
            return;
        }
        let cols: Vec<&str> = d["drifted_columns"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
            .unwrap_or_default();
        println!(
            "  drift        vs {}: {} ({} columns drifted{}), embedding AUC {}{}",
            d["reference"].as_str().unwrap_or("?"),
            if d["dataset_drift"].as_bool() == Some(true) {
                "DATASET DRIFT"
            } else {
                "no dataset drift"
            },
            cols.len(),
            if cols.is_empty() {
                String::new()
            } else {
                format!(": {}", cols.join(", "))
            },
            d["embedding_auc"]
                .as_f64()
                .map_or("-".to_string(), |x| format!("{x:.3}")),
            if d["embedding_drift"].as_bool() == Some(true) {
                " (embedding drift)"
            } else {
                ""
            },
        );
        if let Some(html) = d["report_html"].as_str() {
            println!("    report     {html} (and report.json)");
        }
    }
}

fn print_training_lines(result: &serde_json::Value) {
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
    if let Some(m) = result.get("model") {
        if let Some(e) = m.get("error").and_then(|e| e.as_str()) {
            println!("  model        training failed: {e}");
            return;
        }
        let verdict = match m["verdict"]["verdict"].as_str() {
            Some("promoted") => match m["verdict"]["note"].as_str() {
                Some(note) => format!("promoted to latest ({note})"),
                None => "promoted to latest".to_string(),
            },
            Some("rejected") => format!(
                "rejected by the quality gate: {}",
                m["verdict"]["reason"].as_str().unwrap_or("")
            ),
            _ => "not judged".to_string(),
        };
        println!(
            "  model        {} on {}: held-out macro-F1 {}, accuracy {}, weighted precision {}; {}",
            m["model"].as_str().unwrap_or("?"),
            m["features"].as_str().unwrap_or("?"),
            f(&m["macro_f1"]),
            f(&m["accuracy"]),
            f(&m["weighted_precision"]),
            verdict
        );
        let c = &m["champion"];
        if let Some(champion) = c["champion"].as_str() {
            if c["comparable"].as_bool() == Some(true) {
                println!(
                    "    vs latest  {champion} on the same {} held-out tickets neither trained on: macro-F1 {} (new) vs {} (latest); {} of the {} held out left out (the latest trained on them)",
                    c["compared_rows"],
                    f(&c["challenger_holdout_macro_f1"]),
                    f(&c["champion_holdout_macro_f1"]),
                    c["champion_trained_excluded"],
                    c["challenger_held_out"]
                );
            } else {
                println!(
                    "    vs latest  {champion} not comparable: {}",
                    c["reason"].as_str().unwrap_or("?")
                );
            }
        }
        let r = &m["routing"];
        if r.is_object() {
            match r["threshold"].as_f64() {
                Some(t) => println!(
                    "    routing    auto when probability >= {t:.3}: precision >= {} with {} confidence, certified on {} held-out tickets ({} routed, coverage {}, precision {}, lower bound {}); the fold models out of fold: coverage {} at precision {}",
                    f(&r["target_precision"]),
                    f(&r["confidence"]),
                    r["holdout_rows"],
                    r["holdout_routed"],
                    f(&r["holdout_coverage"]),
                    f(&r["holdout_precision"]),
                    f(&r["lower_bound"]),
                    f(&r["oof_coverage"]),
                    f(&r["oof_precision"])
                ),
                None => println!(
                    "    routing    no threshold certified at precision {}: every ticket goes to people",
                    f(&r["target_precision"])
                ),
            }
        }
        if let Some(card) = m["card"].as_str() {
            println!("    card       {card} (evaluation.json and evaluation.md beside it)");
        }
    }
    if let Some(p) = result.get("predictions") {
        if let Some(e) = p.get("error").and_then(|e| e.as_str()) {
            println!("  predictions  none: {e}");
            return;
        }
        let counts: Vec<String> = p["counts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{} {}", c[0].as_str().unwrap_or("?"), c[1]))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "  predictions  {} tickets with model {} ({}) -> {}",
            p["predicted"],
            p["model_run"].as_str().unwrap_or("?"),
            counts.join(", "),
            p["file"].as_str().unwrap_or("?")
        );
        if p["routing"].is_object() {
            println!(
                "    routing    {} routed automatically (coverage {}){}",
                p["routing"]["routed"],
                f(&p["routing"]["coverage"]),
                suspended_note(&p["routing"])
            );
        }
    }
    let pr = &result["production_routing"];
    if pr.is_object() {
        println!(
            "  production   routed {} of the {} tickets it never trained on (coverage {}{}; {} left out as its training tickets; {} held back as unfamiliar){}",
            pr["routed"],
            pr["tickets"],
            f(&pr["coverage"]),
            pr["precision"].as_f64().map_or(String::new(), |p| format!(
                ", precision {p:.3} on {} labelled",
                pr["labelled_routed"]
            )),
            pr["excluded_trained"],
            pr["held"],
            suspended_note(pr)
        );
    }
}

/// `; routing SUSPENDED: why` when a routing summary says so.
fn suspended_note(routing: &serde_json::Value) -> String {
    routing["suspended"]
        .as_str()
        .map_or(String::new(), |why| format!("; routing SUSPENDED: {why}"))
}
