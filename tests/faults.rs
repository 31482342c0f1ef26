//! Faults survived, on real servers started on loopback by the test (nats-server with file
//! storage, Chroma, moto behind a switchable proxy) and real worker processes.
//!
//! Every scenario ends with the same audit ([`Cluster::assert_nothing_lost`], built on
//! `support::audit`): the run is complete, Chroma holds exactly the input's ids (compared as
//! sets, not counted: upserts by id would hide a duplicate behind the right count), every stage
//! finished every shard as often as the scenario allows (the run's `finishes`), and the trainer
//! ran as often as expected.
//! `docs/reliability.md` lists the scenarios with what the system did and the command for each.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::audit::{Expect, audit, input_ids};
use support::{
    Chroma, FlakyProxy, Moto, Nats, Proc, RunWorkers, Stack, http_get, run_id_from, service_binary,
    wait_until,
};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};

/// The test stack, with the fault tests' steps and audit.
struct Cluster(Stack);

impl std::ops::Deref for Cluster {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Stack {
        &mut self.0
    }
}

impl Cluster {
    /// `extra` is added to every worker's environment (e.g. a short ack wait).
    fn start(
        collection: &str,
        embedders: usize,
        tickets: u64,
        extra: Vec<(String, String)>,
    ) -> Option<Cluster> {
        Self::start_with_store(collection, embedders, tickets, extra, |dir| {
            format!("file://{}", dir.join("store").display())
        })
    }

    fn start_with_store(
        collection: &str,
        embedders: usize,
        tickets: u64,
        extra: Vec<(String, String)>,
        store: impl FnOnce(&Path) -> String,
    ) -> Option<Cluster> {
        let seed = tickets + embedders as u64;
        Stack::start(collection, embedders, tickets, seed, extra, store).map(Cluster)
    }

    /// `runs show --json`, or `None` while NATS is unreachable.
    fn show(&self, run_id: &str) -> Option<Value> {
        self.env.show(run_id)
    }

    fn wait_complete(&self, run_id: &str, timeout: Duration) -> Value {
        self.wait_for(run_id, "completion", timeout, |v| {
            v["status"] != "running" && v["status"] != "indexed" && v["trained"] == true
        })
    }

    fn chroma_count(&self) -> usize {
        let rt = support::runtime();
        rt.block_on(async {
            let client =
                ChromaClient::connect(&ChromaConfig::new(&self.chroma.url, &self.collection))
                    .await
                    .expect("chroma");
            client.count().await.expect("count")
        })
    }

    /// Complete, every shard indexed, every ticket in Chroma exactly once.
    /// The run completes, and the audit (`support::audit`) finds Chroma holding exactly the
    /// input's ids, every shard finished by every stage as often as `expect` allows, and the
    /// trainer run as often as it says.
    fn assert_nothing_lost(
        &self,
        run_id: &str,
        timeout: Duration,
        expect: Expect,
        scenario: &str,
    ) -> Value {
        let v = self.wait_complete(run_id, timeout);
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(v["shards"]["indexed"], v["shards"]["total"], "{v}");
        assert_eq!(v["tickets_indexed"], self.tickets, "{v}");
        audit(
            &v,
            &self.chroma.url,
            &self.collection,
            &input_ids(&self.input),
        )
        .assert_meets(expect, scenario);
        v
    }

    /// Queues a run and waits until `n` of its shards are `state` (`embedded`, `indexed`): the
    /// middle of the run, where a scenario strikes. Returns the run id.
    fn submit_until(&self, shard_size: u32, n: u64, state: &str, what: &str) -> String {
        let run_id = self.submit(shard_size);
        self.wait_for(&run_id, what, Duration::from_secs(120), |v| {
            v["shards"][state].as_u64().unwrap_or(0) >= n
        });
        run_id
    }

    /// Waits until the embedder `name` holds a shard.
    fn wait_holding_a_shard(&mut self, name: &str, what: &str) {
        let port = self.worker(name).metrics_port.expect("port");
        wait_until(what, Duration::from_secs(120), || {
            metric(port, "ticketflow_shards_in_flight{stage=\"embedder\"}") == Some(1.0)
        });
    }

    /// After a fault: [`assert_nothing_lost`](Self::assert_nothing_lost) within 240 s, then
    /// prints how long the run took to complete from `since`, as
    /// `{fault}: run complete N s after {event}` (the times in docs/reliability.md).
    fn assert_recovered(
        &self,
        run_id: &str,
        expect: Expect,
        scenario: &str,
        since: Instant,
        (fault, event): (&str, &str),
    ) -> Value {
        let v = self.assert_nothing_lost(run_id, Duration::from_secs(240), expect, scenario);
        eprintln!(
            "{fault}: run complete {:.1}s after {event}",
            since.elapsed().as_secs_f64()
        );
        v
    }

    fn worker(&mut self, name: &str) -> &mut Proc {
        self.workers
            .iter_mut()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("no worker {name}"))
    }
}

/// The value of one sample on a worker's /metrics, e.g. `ticketflow_shards_in_flight{stage="embedder"}`.
fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// `vars` with `key` set to `value` where it stands.
fn replace_var(mut vars: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
    for (k, v) in &mut vars {
        if k == key {
            *v = value.to_string();
        }
    }
    vars
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn log_count(proc: &Proc, needle: &str) -> usize {
    std::fs::read_to_string(&proc.log)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

/// 1. `kill -9` an embedder in the middle of a shard: the shard comes back after the ack wait
///    and the other replica finishes it.
#[test]
fn killed_embedder_mid_shard_is_redelivered_to_the_other_replica() {
    let Some(mut c) = Cluster::start(
        "fault_kill",
        2,
        1_200,
        env(&[("TICKETFLOW_ACK_WAIT_SECS", "5")]),
    ) else {
        return;
    };
    let run_id = c.submit(200);
    c.wait_holding_a_shard("embedder-0", "embedder-0 to hold a shard");
    c.worker("embedder-0").kill();
    let killed_at = Instant::now();
    c.assert_recovered(
        &run_id,
        Expect::EXACTLY_ONCE,
        "killed embedder",
        killed_at,
        ("kill -9 embedder", "the kill"),
    );
    let survivor = c.worker("embedder-1").metrics_port.expect("port");
    let redelivered = metric(
        survivor,
        "ticketflow_shard_redeliveries_total{stage=\"embedder\"}",
    )
    .unwrap_or(0.0);
    assert!(
        redelivered >= 1.0,
        "the killed replica's shard was redelivered to the survivor"
    );
}

/// The audit itself: it must see a duplicate and a loss, or passing it proves nothing. After a
/// clean run, shard 0's task is published again under a new message id: the cleaner redoes it
/// (one duplicate finish), and its output, under the same id as the first time, is dropped by
/// JetStream's de-duplication, so no later stage redoes it. Then the expected ids are changed by
/// one each way (a loss and a stray).
#[test]
fn the_audit_sees_a_duplicate_and_a_loss() {
    let Some(c) = Cluster::start("fault_audit", 1, 200, vec![]) else {
        return;
    };
    let run_id = c.submit(100);
    let v = c.assert_nothing_lost(
        &run_id,
        Duration::from_secs(240),
        Expect::EXACTLY_ONCE,
        "clean run",
    );
    let ids = input_ids(&c.input);

    let rt = support::runtime();
    let bus = rt
        .block_on(ticketflow_connectors::nats::Bus::connect(
            &ticketflow_connectors::nats::NatsConfig::new(c.nats.url.clone()),
        ))
        .expect("bus");
    let task = ticketflow_schemas::ShardTask {
        run_id: run_id.clone(),
        shard: 0,
        shard_count: 2,
        raw_key: ticketflow_connectors::store::keys::raw_shard(&run_id, 0),
        tickets: 100,
        embed_input: v["manifest"]["embed_input"]
            .as_str()
            .unwrap_or("normalized")
            .to_string(),
    };
    let again = rt
        .block_on(bus.publish(
            ticketflow_schemas::topology::RAW.subject,
            &task,
            "audit-test.raw.0.again",
            None,
        ))
        .expect("publish");
    assert!(!again.duplicate);
    let redone = c.wait_for(
        &run_id,
        "shard 0 cleaned again",
        Duration::from_secs(120),
        |v| v["finishes"]["cleaner"]["0"] == 2,
    );
    // Give a (wrong) downstream redo the time to show.
    std::thread::sleep(Duration::from_secs(3));
    let redone = c.show(&run_id).unwrap_or(redone);
    let audit_now = audit(&redone, &c.chroma.url, &c.collection, &ids);
    assert_eq!(audit_now.duplicate_finishes, 1, "{audit_now:?}");
    assert_eq!(
        redone["finishes"]["embedder"]["0"], 1,
        "deduplicated downstream"
    );
    assert!(audit_now.lost.is_empty());

    // A ticket of the input that Chroma does not hold is a loss; one it holds that the input
    // lacks is a stray.
    let mut expected = ids.clone();
    expected.insert("never-indexed".to_string());
    let dropped = ids.iter().next().expect("an id").clone();
    expected.remove(&dropped);
    let audit_now = audit(&redone, &c.chroma.url, &c.collection, &expected);
    assert_eq!(audit_now.lost, ["never-indexed"], "{audit_now:?}");
    assert_eq!(audit_now.stray, [dropped], "{audit_now:?}");
    let verdict = std::panic::catch_unwind(|| {
        audit_now.assert_meets(Expect::EXACTLY_ONCE, "after the damage")
    });
    assert!(verdict.is_err(), "the audit passed a duplicate and a loss");
}

/// 2. Restart nats-server (file storage) in the middle of a run: workers reconnect, the run
///    completes.
#[test]
fn nats_restart_mid_run() {
    let Some(mut c) = Cluster::start("fault_nats", 1, 1_000, vec![]) else {
        return;
    };
    let run_id = c.submit_until(100, 2, "embedded", "two shards embedded");
    let (port, monitor) = (c.nats.port, c.nats.monitor_port);
    c.nats.proc.kill();
    std::thread::sleep(Duration::from_secs(3));
    let bin = service_binary("nats-server").expect("nats-server");
    c.nats = Nats::start_on(&bin, c.dir.path(), port, monitor);
    let restarted = Instant::now();
    c.assert_recovered(
        &run_id,
        // A shard in hand when the server went away may be finished again: its
        // acknowledgement was lost with the connection, so JetStream redelivers it (at least
        // once). At most one per stage worker; measured: 1.
        Expect {
            trainer_runs: 1,
            extra_finishes: 3,
        },
        "nats restart",
        restarted,
        ("nats restart", "the restart"),
    );
    for w in &mut c.workers {
        assert!(w.is_running(), "{} survived the restart", w.name);
    }
}

/// 3. Chroma unavailable for a while: the indexer waits with growing delays (no hot loop) and
///    completes when Chroma is back.
#[test]
fn chroma_outage_is_waited_out_without_a_hot_loop() {
    let Some(mut c) = Cluster::start("fault_chroma", 1, 1_000, vec![]) else {
        return;
    };
    let run_id = c.submit_until(100, 1, "indexed", "one shard indexed");
    let port = c.chroma.port;
    c.chroma.proc.kill();
    let outage = Duration::from_secs(20);
    std::thread::sleep(outage);
    let bin = service_binary("chroma").expect("chroma");
    c.chroma = Chroma::start_on(&bin, c.dir.path(), port);
    let back = Instant::now();
    c.assert_recovered(
        &run_id,
        Expect::EXACTLY_ONCE,
        "chroma outage",
        back,
        (&format!("chroma outage {outage:?}"), "Chroma returned"),
    );
    let indexer = c.worker("indexer");
    let retries = log_count(indexer, "will retry");
    // Backoff 1, 2, 4, 8 s…: a 20 s outage allows a handful of attempts, not hundreds.
    assert!(
        (1..=12).contains(&retries),
        "{retries} retries during a {outage:?} outage\n{}",
        indexer.log_tail()
    );
}

/// 4. The S3-compatible server is down for a while (a proxy in front of moto refuses
///    connections): retries, then success.
#[test]
fn s3_outage_is_retried_until_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(moto) = Moto::start(dir.path(), "faults") else {
        return;
    };
    let proxy = FlakyProxy::start(moto.port);
    let s3_env = replace_var(
        moto.env(),
        "AWS_ENDPOINT_URL",
        &format!("http://127.0.0.1:{}", proxy.port),
    );
    let Some(c) = Cluster::start_with_store("fault_s3", 1, 1_000, s3_env, |_| {
        "s3://faults/tf".to_string()
    }) else {
        return;
    };
    let run_id = c.submit_until(100, 2, "embedded", "two shards embedded");
    proxy.set_down(true);
    std::thread::sleep(Duration::from_secs(15));
    proxy.set_down(false);
    let back = Instant::now();
    c.assert_recovered(
        &run_id,
        Expect::EXACTLY_ONCE,
        "s3 outage",
        back,
        ("s3 outage 15s", "S3 returned"),
    );
    let retries: usize = c.workers.iter().map(|w| log_count(w, "will retry")).sum();
    assert!(retries >= 1, "the outage was felt and retried");
    drop(moto);
}

/// 6. SIGTERM during work: the shard in hand is finished (or released), nothing is lost on a
///    rolling restart.
#[test]
fn sigterm_finishes_the_shard_in_hand() {
    let Some(mut c) = Cluster::start("fault_term", 1, 1_000, vec![]) else {
        return;
    };
    let run_id = c.submit(200);
    c.wait_holding_a_shard("embedder-0", "the embedder to hold a shard");
    let done_before = log_count(c.worker("embedder-0"), "shard done");
    let old = c.worker("embedder-0");
    assert!(
        old.terminate(Duration::from_secs(60)),
        "the embedder exits after its shard"
    );
    assert_eq!(
        log_count(old, "shard done"),
        done_before + 1,
        "the shard in hand was finished before exiting:\n{}",
        old.log_tail()
    );
    // The rolling restart: a new replica takes over the rest.
    let replacement = c.env.worker("embedder", "embedder-1", c.dir.path(), &[]);
    c.workers.push(replacement);
    let restarted = Instant::now();
    c.assert_recovered(
        &run_id,
        Expect::EXACTLY_ONCE,
        "sigterm",
        restarted,
        ("sigterm + new replica", "the replacement started"),
    );
}

/// 7. Two coordinators started at once on the same input make one run, not two.
#[test]
fn two_coordinators_at_once_make_one_run() {
    let Some(c) = Cluster::start("fault_twice", 1, 600, vec![]) else {
        return;
    };
    let spawn = || {
        c.env
            .command()
            .args([
                "run",
                "--input",
                &c.input.to_string_lossy(),
                "--shard-size",
                "100",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("coordinator")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (ra, rb) = (
        run_id_from(&String::from_utf8_lossy(&a.stdout)),
        run_id_from(&String::from_utf8_lossy(&b.stdout)),
    );
    assert_eq!(ra, rb, "both coordinators name the same run");
    let v = c.assert_nothing_lost(
        &ra,
        Duration::from_secs(240),
        Expect::EXACTLY_ONCE,
        "two coordinators",
    );
    assert_eq!(v["shards"]["total"], 6);
    let list = c.env.run(&["runs", "list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        list.lines().filter(|l| l.starts_with("run-")).count(),
        1,
        "{list}"
    );
}

/// 5. Poison: an undecodable message and a corrupt shard file. After the delivery limit each
///    lands in the dead-letter stream with its reason; the rest of the run completes; the run
///    reports completed-with-errors naming the shard; `runs redrive` re-drives it after a fix.
#[test]
fn poison_shard_is_dead_lettered_named_and_redriven_after_a_fix() {
    let Some(mut c) = Cluster::start(
        "fault_poison",
        1,
        600,
        env(&[("TICKETFLOW_MAX_ATTEMPTS", "2")]),
    ) else {
        return;
    };
    let rt = support::runtime();
    let bus = rt
        .block_on(ticketflow_connectors::nats::Bus::connect(
            &ticketflow_connectors::nats::NatsConfig::new(c.nats.url.clone()),
        ))
        .expect("bus");
    let dlq_count = || {
        rt.block_on(async {
            let mut s = bus
                .jetstream()
                .get_stream(ticketflow_connectors::nats::DEAD_LETTER_STREAM)
                .await
                .expect("dlq stream");
            s.info().await.expect("info").state.messages
        })
    };

    // An undecodable message: dead-lettered without a run, the cleaner carries on.
    let _ = rt
        .block_on(bus.publish_bytes(
            ticketflow_schemas::topology::RAW.subject,
            bytes::Bytes::from_static(b"\xffnot a shard task"),
            "garbage-1",
            None,
        ))
        .expect("publish garbage");
    wait_until("the garbage in the DLQ", Duration::from_secs(60), || {
        dlq_count() >= 1
    });

    // A corrupt shard file: stop the cleaner, queue the run, damage shard 2, start a cleaner.
    c.worker("cleaner").kill();
    let run_id = c.submit(100);
    let shard_file = c
        .dir
        .path()
        .join("store")
        .join(ticketflow_connectors::store::keys::raw_shard(&run_id, 2));
    let good = std::fs::read(&shard_file).expect("raw shard");
    std::fs::write(&shard_file, b"{ this is not a ticket\n").expect("corrupt");
    let cleaner = c.env.worker("cleaner", "cleaner-2", c.dir.path(), &[]);
    c.workers.push(cleaner);

    let v = c.wait_complete(&run_id, Duration::from_secs(240));
    assert_eq!(v["status"], "completed_with_errors", "{v}");
    let dead = v["shards"]["dead"].as_array().expect("dead list");
    assert_eq!(dead.len(), 1, "{v}");
    assert_eq!(dead[0]["shard"], 2);
    assert_eq!(dead[0]["stage"], "cleaner");
    assert!(
        dead[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("raw shard")),
        "{v}"
    );
    assert_eq!(v["shards"]["indexed"], 5);
    assert_eq!(c.chroma_count(), 500, "every other shard is indexed");
    assert_eq!(dlq_count(), 2, "the garbage and the shard");

    let redrive = || {
        let out = c.env.run(&["runs", "redrive", &run_id]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("shard 2: sent back to the cleaner"),
            "{stdout}"
        );
    };

    // A redrive cut short after it took the shard out of `dead` (a crash, a lost connection):
    // the shard must not fall between "dead" and "in flight" (issue 23, defect 5). The run
    // says so, and the next redrive sends it.
    fail::cfg("redrive::shards_taken", "1*return").expect("fail point");
    let cut = rt.block_on(ticketflow_coordinator::redrive(&bus, &run_id));
    fail::remove("redrive::shards_taken");
    assert!(
        matches!(cut, Err(ticketflow_coordinator::RedriveError::Interrupted)),
        "{cut:?}"
    );
    let v = c.env.show(&run_id).expect("runs show");
    assert_eq!(
        v["shards"]["redriving"][0], 2,
        "the shard is kept in between: {v}"
    );
    assert_eq!(v["status"], "running", "{v}");

    // A redrive before the fix: the shard dies again within JetStream's de-duplication window.
    // Its second letter must be kept (its id carries the redrive generation), or the next
    // redrive would call the shard missing.
    redrive();
    let v = c.wait_for(
        &run_id,
        "shard 2 dead again",
        Duration::from_secs(240),
        |v| v["redrives"] == 1 && v["status"] == "completed_with_errors" && v["trained"] == true,
    );
    assert_eq!(v["shards"]["dead"][0]["shard"], 2, "{v}");
    assert_eq!(dlq_count(), 2, "the garbage and the shard's second letter");

    // The operator fixes the file and re-drives.
    std::fs::write(&shard_file, good).expect("restore");
    redrive();
    let v = c.assert_nothing_lost(
        &run_id,
        Duration::from_secs(240),
        Expect {
            trainer_runs: 3,
            extra_finishes: 0,
        },
        "poison redriven",
    );
    assert_eq!(
        v["train_attempts"], 3,
        "the trainer recorded the run after each completion: dead, dead again, repaired"
    );
    assert_eq!(
        dlq_count(),
        1,
        "the re-driven letter is gone; the garbage stays"
    );

    // Nothing left to redrive.
    let out = c.env.run(&["runs", "redrive", &run_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to redrive"));
}

/// Secrets (S3 credentials, the Chroma token) come only from the environment or files and never
/// reach a log line, even at debug level, nor the run records operators look at.
#[test]
fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(moto) = Moto::start(dir.path(), "secrets") else {
        return;
    };
    let secret_key = "S3-SECRET-do-not-log-4f9a";
    let chroma_token = "CHROMA-TOKEN-do-not-log-77c1";
    let mut vars = replace_var(moto.env(), "AWS_SECRET_ACCESS_KEY", secret_key);
    vars.push(("TICKETFLOW_CHROMA_TOKEN".into(), chroma_token.into()));
    vars.push(("RUST_LOG".into(), "debug".into()));
    let Some(c) =
        Cluster::start_with_store("secrets", 1, 300, vars, |_| "s3://secrets/tf".to_string())
    else {
        return;
    };
    let run = c.env.run(&[
        "run",
        "--input",
        &c.input.to_string_lossy(),
        "--shard-size",
        "100",
        "--wait",
    ]);
    let run_out = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{run_out}");
    let run_id = run_id_from(&String::from_utf8_lossy(&run.stdout));
    c.assert_nothing_lost(
        &run_id,
        Duration::from_secs(120),
        Expect::EXACTLY_ONCE,
        "secrets",
    );
    let show = c.env.run(&["runs", "show", &run_id]);
    let mut seen = vec![("coordinator".to_string(), run_out)];
    seen.push((
        "runs show".into(),
        String::from_utf8_lossy(&show.stdout).into_owned(),
    ));
    for w in &c.workers {
        let log = std::fs::read_to_string(&w.log).unwrap_or_default();
        assert!(log.len() > 1_000, "{} logged at debug level", w.name);
        seen.push((w.name.clone(), log));
        if let Some(port) = w.metrics_port
            && let Some((_, metrics)) = http_get(port, "/metrics")
        {
            seen.push((format!("{} /metrics", w.name), metrics));
        }
    }
    for (name, text) in &seen {
        for secret in [secret_key, chroma_token] {
            assert!(!text.contains(secret), "{name} leaked a secret");
        }
    }
    drop(moto);
}
