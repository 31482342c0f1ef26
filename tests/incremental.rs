//! Incremental daily runs on the real stack: nats-server, Chroma, a file store and every stage a
//! separate process, with two embedder replicas.
//!
//! Day 1 is 300 tickets. Day 2 is the cumulative export a help desk would send the next day:
//! day 1 again, 5 of its tickets edited (same id, new body), and 30 new tickets (10 %). What must
//! hold on day 2:
//! - only the 35 new or edited texts are embedded (counted by the run, `runs show`);
//! - only those 35 Chroma records are written; the other 295 are left alone;
//! - every ticket of day 2 is in Chroma, once;
//! - the vectors day 2 reused are byte for byte the ones day 1 (a full run: nothing to reuse
//!   yet, which the test checks) made.
//!
//! Day 2 runs on new embedder processes: the vectors they reuse come from the object store.
//! Day 3 runs day 2's file again with the embedder's reuse turned off
//! (`TICKETFLOW_REUSE_VECTORS=false`): everything is embedded, and the indexer still writes
//! nothing, because nothing changed.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;
use support::{Stack, StackEnv, generate, run_id_from, run_ok};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};
use ticketflow_connectors::store::{S3Options, Store, StoreConfig, keys};
use ticketflow_schemas::CleanShardFile;

const DAY1: usize = 300;
const EDITED: usize = 5;
const NEW: usize = 30;

/// Runs `input` to the end (trained) and returns its `runs show --json`.
fn run_day(
    env: &StackEnv,
    input: &Path,
    run_id: &str,
    logs: &[&support::Proc],
) -> serde_json::Value {
    let stdout = run_ok(
        env,
        &[
            "run",
            "--input",
            &input.to_string_lossy(),
            "--run-id",
            run_id,
            "--shard-size",
            "50",
            "--wait",
            "--stall-timeout-secs",
            "120",
        ],
        logs,
    );
    assert_eq!(run_id_from(&stdout), run_id);
    env.wait_for_run(run_id, "trained", Duration::from_secs(60), logs, |v| {
        v["trained"] == true
    })
}

fn reuse(show: &serde_json::Value) -> [u64; 4] {
    let r = &show["reuse"];
    [
        "vectors_reused",
        "vectors_embedded",
        "records_written",
        "records_unchanged",
    ]
    .map(|k| {
        r[k].as_u64()
            .unwrap_or_else(|| panic!("reuse.{k} in {show}"))
    })
}

/// Ticket id → the bits of its vector, from the run's shard tensors in the store.
fn vectors(store: &Store, run_id: &str, shards: u32) -> HashMap<String, Vec<u32>> {
    let rt = support::runtime();
    let mut out = HashMap::new();
    for shard in 0..shards {
        let (clean, npy) = rt.block_on(async {
            (
                store
                    .get(&keys::clean_shard(run_id, shard))
                    .await
                    .expect("clean shard"),
                store
                    .get(&keys::embeddings(run_id, shard))
                    .await
                    .expect("tensor"),
            )
        });
        let file: CleanShardFile = ticketflow_schemas::decode(&clean).expect("clean shard file");
        let matrix = Array2::<f32>::read_npy(&npy[..]).expect("npy");
        assert_eq!(matrix.nrows(), file.tickets.len());
        for (ticket, row) in file.tickets.into_iter().zip(matrix.rows()) {
            out.insert(ticket.id, row.iter().map(|x| x.to_bits()).collect());
        }
    }
    out
}

/// A generated ticket file: its header, its rows, and where `id` and `body` are.
struct Tickets {
    headers: csv::StringRecord,
    rows: Vec<Vec<String>>,
    id: usize,
    body: usize,
}

impl Tickets {
    fn read(path: &Path) -> Tickets {
        let mut reader = csv::Reader::from_path(path).expect("ticket file");
        let headers = reader.headers().expect("header").clone();
        let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
        let (id, body) = (column("id"), column("body"));
        let rows = reader
            .records()
            .map(|r| r.expect("row").iter().map(str::to_string).collect())
            .collect();
        Tickets {
            headers,
            rows,
            id,
            body,
        }
    }

    fn write(&self, path: &Path) {
        let mut writer = csv::Writer::from_path(path).expect("write tickets");
        writer.write_record(&self.headers).expect("header");
        for row in &self.rows {
            writer.write_record(row).expect("row");
        }
        writer.flush().expect("flush");
    }
}

/// Rewrites a generated file with each ticket's id in its body. The generator repeats texts
/// (it fills templates), and a repeated text is embedded once, which would blur the counts.
fn unique_texts(path: &Path) {
    let mut tickets = Tickets::read(path);
    let (id, body) = (tickets.id, tickets.body);
    for row in &mut tickets.rows {
        let suffix = format!(" (ref {})", row[id]);
        row[body].push_str(&suffix);
    }
    tickets.write(path);
}

/// Day 2's file: day 1 with the first `EDITED` bodies changed, and `NEW` new tickets.
fn day_two(day1: &Path, new: &Path, out: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut tickets = Tickets::read(day1);
    let (id, body) = (tickets.id, tickets.body);
    let (mut ids, mut edited) = (BTreeSet::new(), BTreeSet::new());
    for (i, row) in tickets.rows.iter_mut().enumerate() {
        if i < EDITED {
            row[body].push_str(" Update: the problem came back this morning.");
            edited.insert(row[id].clone());
        }
        ids.insert(row[id].clone());
    }
    for row in Tickets::read(new).rows {
        assert!(ids.insert(row[id].clone()), "new ids must be new");
        tickets.rows.push(row);
    }
    tickets.write(out);
    (ids, edited)
}

/// Stops every running embedder and starts `n` new ones with `env`, ready.
fn restart_embedders(stack: &mut Stack, env: &StackEnv, n: usize) {
    let generation = stack.workers.len();
    for w in stack
        .workers
        .iter_mut()
        .filter(|w| w.name.starts_with("embedder"))
    {
        if w.is_running() {
            assert!(
                w.terminate(Duration::from_secs(30)),
                "{} did not stop",
                w.name
            );
        }
    }
    let first = stack.workers.len();
    for i in 0..n {
        let name = format!("embedder-{generation}-{i}");
        stack
            .workers
            .push(env.worker("embedder", &name, stack.dir.path(), &[]));
    }
    support::wait_ready(&stack.workers[first..]);
}

#[test]
fn day_two_embeds_and_writes_only_what_is_new_or_changed() {
    let store_url = |dir: &Path| format!("file://{}", dir.join("store").display());
    let Some(mut stack) = Stack::start("incremental", 2, DAY1 as u64, 31, vec![], store_url) else {
        return;
    };
    let store = Store::open(&StoreConfig {
        url: store_url(stack.dir.path()),
        s3: S3Options::default(),
    })
    .expect("store");
    let new = stack.dir.path().join("new.csv");
    generate(&new, NEW as u64, 32);
    unique_texts(&stack.input);
    unique_texts(&new);
    let day2_file = stack.dir.path().join("day2.csv");
    let (day2_ids, edited) = day_two(&stack.input, &new, &day2_file);
    assert_eq!(day2_ids.len(), DAY1 + NEW);

    let logs: Vec<&support::Proc> = stack.workers.iter().collect();
    let day1 = run_day(&stack.env, &stack.input, "day-1", &logs);
    // Nothing to reuse yet: day 1 is a full run, every vector made by the model.
    assert_eq!(reuse(&day1), [0, DAY1 as u64, DAY1 as u64, 0], "day 1");

    // New embedder processes for day 2: what they reuse, they find in the object store, not in
    // the memory of the processes that made it (a restart, a rollout, another replica).
    let env = stack.env.clone();
    restart_embedders(&mut stack, &env, 2);
    let logs: Vec<&support::Proc> = stack.workers.iter().collect();
    let day2 = run_day(&stack.env, &day2_file, "day-2", &logs);
    let changed = (EDITED + NEW) as u64;
    let kept = (DAY1 - EDITED) as u64;
    assert_eq!(reuse(&day2), [kept, changed, changed, kept], "day 2");

    // Every ticket of day 2 is in Chroma, once, with day 2's text.
    let rt = support::runtime();
    let chroma = rt
        .block_on(ChromaClient::connect(&ChromaConfig::new(
            &stack.chroma.url,
            "incremental",
        )))
        .expect("chroma");
    assert_eq!(
        rt.block_on(chroma.count()).expect("count"),
        DAY1 + NEW,
        "Chroma holds more or fewer records than day 2 has tickets"
    );
    let wanted: Vec<String> = day2_ids.iter().cloned().collect();
    let records = rt.block_on(chroma.get(&wanted)).expect("get");
    let found: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(found, day2_ids);
    for r in records.iter().filter(|r| edited.contains(&r.id)) {
        assert!(
            r.document.contains("came back this morning"),
            "{}: old text",
            r.id
        );
        assert_eq!(r.metadata["run_id"], "day-2", "{}: not rewritten", r.id);
    }

    // The reused vectors are day 1's, bit for bit; the edited tickets got new ones.
    let shards =
        |show: &serde_json::Value| show["shards"]["total"].as_u64().expect("shards") as u32;
    let v1 = vectors(&store, "day-1", shards(&day1));
    let v2 = vectors(&store, "day-2", shards(&day2));
    let mut identical = 0;
    for (id, bits) in &v1 {
        if edited.contains(id) {
            assert_ne!(&v2[id], bits, "{id}: edited, but its old vector was reused");
        } else {
            assert_eq!(&v2[id], bits, "{id}: reused vector differs from day 1's");
            identical += 1;
        }
    }
    assert_eq!(identical, DAY1 - EDITED);

    // Day 3: the same file with reuse off. Everything is embedded; nothing changed, so the
    // indexer writes nothing.
    let no_reuse = stack
        .env
        .clone()
        .with(vec![("TICKETFLOW_REUSE_VECTORS".into(), "false".into())]);
    restart_embedders(&mut stack, &no_reuse, 1);
    let logs: Vec<&support::Proc> = stack.workers.iter().collect();
    let day3 = run_day(&stack.env, &day2_file, "day-3", &logs);
    let all = (DAY1 + NEW) as u64;
    assert_eq!(reuse(&day3), [0, all, 0, all], "day 3 (reuse off)");
}
