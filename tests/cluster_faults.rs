//! Faults of a replicated JetStream, on real servers: three nats-server nodes, each in its own
//! network namespace (`support::netns`), streams and KV buckets with three replicas, and the
//! workers, Chroma and the store outside, connected to every node (`NATS_URL` lists all three).
//!
//! Each scenario injects its fault in the middle of a run, measures how long until the pipeline
//! makes progress again, and ends with the audit every fault test ends with (`support::audit`:
//! Chroma holds exactly the input's ids, every stage finished every shard as often as allowed,
//! the trainer ran once). `docs/reliability.md` reports what they measured.
//!
//! Root and `ip netns` are needed; without them the suite skips, unless
//! `TICKETFLOW_REQUIRE_SERVICES=1` (as under `make test`), where it fails.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::audit::{Expect, audit, input_ids};
use support::nats_cluster::NatsCluster;
use support::netns::Netns;
use support::{
    Chroma, Proc, RunWorkers, StackEnv, dump_logs, generate_tickets, model_ready, run_id_from,
};
use ticketflow_testkit::Requirement;

/// A shard in hand when its node went away may be finished again after redelivery (its ack was
/// lost): at most one per worker.
const IN_FLIGHT: u64 = 4;

/// One scenario at a time: each runs three servers, Chroma and five workers, which is all two
/// cores can time fairly, and the recovery times are the point.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Fields drop in order: workers first, the network last (the lock after everything).
struct Stack {
    workers: Vec<Proc>,
    env: StackEnv,
    chroma: Chroma,
    nats: NatsCluster,
    net: Netns,
    collection: String,
    input: std::path::PathBuf,
    dir: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl RunWorkers for Stack {
    fn env(&self) -> &StackEnv {
        &self.env
    }
    fn workers(&self) -> &[Proc] {
        &self.workers
    }
}

impl Stack {
    fn start(collection: &str, tickets: u64) -> Option<Stack> {
        // A failed scenario poisons the lock; the next one still runs.
        let serial = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !model_ready() {
            return None;
        }
        let net = match Netns::create(3) {
            Ok(net) => net,
            Err(why) => {
                Requirement::Services.missing(format!("network namespaces unavailable: {why}"));
                return None;
            }
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = NatsCluster::start(dir.path(), net.hosts())?;
        let chroma = Chroma::start(dir.path())?;
        let store = format!("file://{}", dir.path().join("store").display());
        let env = StackEnv::for_url(&nats.url(), &chroma, &store, collection).with(vec![
            ("TICKETFLOW_JETSTREAM_REPLICAS".into(), "3".into()),
            ("TICKETFLOW_ACK_WAIT_SECS".into(), "15".into()),
        ]);
        // Creating the R3 streams on a cluster that just formed: connecting waits out "no
        // suitable peers for placement" (connectors' nats::settling).
        support::output_ok(env.command().args(["streams", "show"]), "streams show");
        let workers = env.workers(2, dir.path(), &[]);
        let input = generate_tickets(dir.path(), tickets, tickets);
        Some(Stack {
            workers,
            env,
            chroma,
            nats,
            net,
            collection: collection.to_string(),
            input,
            dir,
            _serial: serial,
        })
    }

    fn submit(&self, shard_size: u32) -> String {
        let stdout = support::run_ok(
            &self.env,
            &[
                "run",
                "--input",
                &self.input.to_string_lossy(),
                "--shard-size",
                &shard_size.to_string(),
            ],
            &self.workers.iter().collect::<Vec<_>>(),
        );
        run_id_from(&stdout)
    }

    /// Every finish of every stage so far.
    fn finished(v: &Value) -> u64 {
        v["finishes"]
            .as_object()
            .map(|stages| {
                stages
                    .values()
                    .filter_map(Value::as_object)
                    .flat_map(|shards| shards.values().filter_map(Value::as_u64))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Seconds from now until the run makes progress (one more finish than `before`).
    fn recovery(&self, run_id: &str, before: u64, timeout: Duration) -> Duration {
        let started = Instant::now();
        self.wait_for(run_id, "progress after the fault", timeout, |v| {
            Self::finished(v) > before
        });
        started.elapsed()
    }

    /// The run completes, and the audit passes with `expect`.
    fn audited(&self, run_id: &str, expect: Expect, scenario: &str) -> Value {
        let v = self.wait_for(run_id, "completion", Duration::from_secs(300), |v| {
            v["status"] == "completed" && v["trained"] == true
        });
        let found = audit(
            &v,
            &self.chroma.url,
            &self.collection,
            &input_ids(&self.input),
        );
        if found.trainer_attempts != expect.trainer_runs {
            let trainer: Vec<&Proc> = self
                .workers
                .iter()
                .filter(|w| w.name == "trainer")
                .collect();
            eprintln!("{}", dump_logs(&trainer));
        }
        found.assert_meets(expect, scenario);
        v
    }
}

/// Waits until the run has made some progress, and returns how much.
fn mid_run(s: &Stack, run_id: &str) -> u64 {
    let v = s.wait_for(
        run_id,
        "a few shards embedded",
        Duration::from_secs(180),
        |v| v["shards"]["embedded"].as_u64().unwrap_or(0) >= 2,
    );
    Stack::finished(&v)
}

/// Queues a run in shards of 50 and waits until it has made some progress ([`mid_run`]);
/// returns the run id, that progress, and the node then leading `stream`.
fn mid_run_led_by(s: &Stack, stream: &str) -> (String, u64, usize) {
    let run_id = s.submit(50);
    let before = mid_run(s, &run_id);
    let leader = s
        .nats
        .stream_leader(stream)
        .unwrap_or_else(|| panic!("{stream} has no leader"));
    (run_id, before, leader)
}

/// 1. kill -9 the node leading a shard stream, in the middle of a run, and leave it dead: the
///    stream's other two replicas elect a leader, the workers fail over, nothing is lost.
#[test]
fn killed_stream_leader_stays_dead() {
    let Some(mut s) = Stack::start("cluster_leader", 1_000) else {
        return;
    };
    let (run_id, before, leader) = mid_run_led_by(&s, "TF_CLEAN");
    s.nats.kill(leader);
    let recovered = s.recovery(&run_id, before, Duration::from_secs(120));
    eprintln!(
        "scenario 1: killed {} (TF_CLEAN leader); progress again after {recovered:?}",
        s.nats.nodes[leader].name
    );
    s.audited(
        &run_id,
        Expect {
            trainer_runs: 1,
            extra_finishes: IN_FLIGHT,
        },
        "stream leader killed",
    );
}

/// 2. Cut one node off the network for 30 s in the middle of a run, then heal it.
#[test]
fn a_node_cut_off_for_30_seconds() {
    let Some(s) = Stack::start("cluster_partition", 1_000) else {
        return;
    };
    let (run_id, before, node) = mid_run_led_by(&s, "TF_EMBEDDED");
    s.net.cut(node + 1);
    let recovered = s.recovery(&run_id, before, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(30).saturating_sub(recovered));
    s.net.heal(node + 1);
    eprintln!(
        "scenario 2: cut {} off for 30 s; progress again after {recovered:?}",
        s.nats.nodes[node].name
    );
    s.audited(
        &run_id,
        Expect {
            trainer_runs: 1,
            extra_finishes: IN_FLIGHT,
        },
        "node cut off for 30 s",
    );
    s.nats.wait_formed(Duration::from_secs(60));
}

/// 3. A rolling restart of all three nodes, one at a time, during a run (what a NATS upgrade
///    does).
#[test]
fn rolling_restart_during_a_run() {
    let Some(mut s) = Stack::start("cluster_rolling", 1_000) else {
        return;
    };
    let run_id = s.submit(50);
    mid_run(&s, &run_id);
    let started = Instant::now();
    for i in 0..3 {
        s.nats.restart(i);
        s.nats.wait_formed(Duration::from_secs(60));
    }
    eprintln!("scenario 3: rolling restart took {:?}", started.elapsed());
    s.audited(
        &run_id,
        Expect {
            trainer_runs: 1,
            extra_finishes: 3 * IN_FLIGHT,
        },
        "rolling restart",
    );
}

/// 4. kill -9 the meta leader while the coordinator publishes a run's shards. The coordinator
///    either rides it out or fails; run again (as the CronJob's retry does), it finishes the
///    publishing it began, and de-duplication keeps every shard once.
#[test]
fn meta_leader_killed_while_the_coordinator_publishes() {
    let Some(mut s) = Stack::start("cluster_meta", 2_000) else {
        return;
    };
    let coordinator = s
        .env
        .command()
        .args([
            "run",
            "--input",
            &s.input.to_string_lossy(),
            "--shard-size",
            "5",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("coordinator");
    // Kill as soon as the first of the 400 shard tasks is in the stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    let leader = loop {
        if s.nats.stream_last_seq("TF_RAW").unwrap_or(0) > 0 {
            break s.nats.meta_leader().expect("a meta leader");
        }
        assert!(Instant::now() < deadline, "the coordinator never published");
        std::thread::sleep(Duration::from_millis(20));
    };
    let published_before = s.nats.stream_last_seq("TF_RAW").unwrap_or(0);
    s.nats.kill(leader);
    let out = coordinator.wait_with_output().expect("coordinator exits");
    let first = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "scenario 4: killed {} (meta leader) after {published_before} of 400 shard tasks; coordinator exit {:?}",
        s.nats.nodes[leader].name,
        out.status.code()
    );
    let run_id = if out.status.success() {
        run_id_from(&first)
    } else {
        // The CronJob's retry: the same input is the same run, and publishing is completed.
        s.submit(5)
    };
    s.audited(
        &run_id,
        Expect {
            trainer_runs: 1,
            extra_finishes: IN_FLIGHT,
        },
        "meta leader killed while publishing",
    );
    let _ = &s.dir;
}
