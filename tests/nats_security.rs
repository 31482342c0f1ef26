//! NATS with authentication and TLS, on real nats-server processes that the tests start on
//! loopback from a config file they write, with a CA, a server certificate (SAN 127.0.0.1 and
//! localhost) and a client certificate they generate (rcgen).
//!
//! - The whole pipeline (cleaner, embedder, indexer, trainer, `run --wait`) against a server
//!   that requires user/password AND mutual TLS with the custom CA: the run completes, Chroma
//!   holds every ticket, and no log holds the password, even at `RUST_LOG=debug`.
//! - Refusals are final and named in one line, within seconds, without the password: a wrong
//!   password, no credentials, no CA (untrusted server certificate), no client certificate,
//!   a file that does not exist, TLS required of a server without TLS.
//! - A worker started before its server waits for it, then connects with TLS and credentials.
//! - Token and NKey authentication, at the client level.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{
    Chroma, Nats, Proc, StackEnv, dump_logs, free_port, generate_tickets, http_ok, model_ready,
    run_id_from, service_binary, wait_until,
};
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};
use ticketflow_connectors::nats::{
    Bus, BusError, ENV_NKEY_FILE, ENV_TOKEN, NatsConfig, NatsSecurity, Secret,
};

const USER: &str = "tf-pipeline";
/// Distinctive, so that finding it in a log can only mean a leak; with characters a URL must
/// percent-encode, so the URL form is exercised too.
const PASSWORD: &str = "Qx7-p@ss/w:rd-NATS-9f2c";
const PASSWORD_IN_URL: &str = "Qx7-p%40ss%2Fw%3Ard-NATS-9f2c";

/// The test's PKI: a CA, a server certificate it signed (127.0.0.1, localhost) and a client
/// certificate it signed (for mutual TLS).
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    /// Made by `ticketflow nats-secrets` (which docker-compose runs too): a CA, a server
    /// certificate for 127.0.0.1 and localhost, and a client certificate, all signed by it.
    fn generate(dir: &Path) -> Pki {
        nats_secrets(dir);
        Pki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        }
    }

    /// nats-server `tls` block: its certificate, and client certificates required (`verify`).
    fn server_block(&self) -> String {
        format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n  \
             timeout: 5\n}}\n",
            self.server_cert, self.server_key, self.ca
        )
    }

    /// The client's TLS settings, as environment variables.
    fn client_env(&self) -> Vec<(String, String)> {
        vars(&[
            ("NATS_CA_FILE", &self.ca.to_string_lossy()),
            ("NATS_CERT_FILE", &self.client_cert.to_string_lossy()),
            ("NATS_KEY_FILE", &self.client_key.to_string_lossy()),
        ])
    }
}

/// `ticketflow nats-secrets --out dir`: CA, certificates (server: localhost, 127.0.0.1, nats),
/// NKey seed `user.nk` and the `auth.conf` admitting it.
fn nats_secrets(dir: &Path) {
    support::output_ok(
        Command::new(env!("CARGO_BIN_EXE_ticketflow"))
            .args(["nats-secrets", "--out"])
            .arg(dir),
        "nats-secrets",
    );
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn user_password_block() -> String {
    format!("authorization {{\n  user: {USER:?}\n  password: {PASSWORD:?}\n}}\n")
}

/// nats-server config requiring user/password and mutual TLS with the test's CA.
fn secure_config(pki: &Pki) -> String {
    format!("{}{}", pki.server_block(), user_password_block())
}

/// The test's PKI, made in `dir/pki`, and a server that requires user/password and mutual TLS
/// with it.
fn secure_server(dir: &Path) -> Option<(Pki, Nats)> {
    let pki = Pki::generate(&dir.join("pki"));
    let nats = Nats::start_with_config(&dir.join("nats-secure"), &secure_config(&pki))?;
    Some((pki, nats))
}

/// `ticketflow ARGS` with exactly `env` as its NATS settings (none inherited from the shell
/// running the tests), in the workspace.
fn ticketflow(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ticketflow"));
    cmd.current_dir(support::workspace());
    for (k, _) in std::env::vars() {
        if k.starts_with("NATS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "debug,ort=warn");
    cmd.env("TICKETFLOW_LOG_FORMAT", "json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `ticketflow worker cleaner` with `env`, a file store under `dir` and metrics on `metrics_port`.
fn cleaner_cmd(dir: &Path, env: &[(String, String)], metrics_port: u16) -> Command {
    let mut cmd = ticketflow(env);
    cmd.env(
        "TICKETFLOW_STORE",
        format!("file://{}", dir.join("store").display()),
    )
    .env(
        "TICKETFLOW_METRICS_ADDR",
        format!("127.0.0.1:{metrics_port}"),
    )
    .args(["worker", "cleaner"]);
    cmd
}

/// Runs a one-shot cleaner worker that is expected to give up: returns its exit status (or
/// `None` if it was still running after `limit`, then killed), its stdout + stderr, and how long
/// it ran.
fn worker_until_exit(
    dir: &Path,
    env: &[(String, String)],
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String, Duration) {
    let mut cmd = cleaner_cmd(dir, env, free_port());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start worker");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    let output: Output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (status, text, elapsed)
}

/// The one `error: …` line the binary ends with.
fn error_line(output: &str) -> &str {
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line expected:\n{output}");
    lines[0]
}

fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret:?}:\n{text}"
        );
    }
}

/// Asserts a worker gave up at once (non-zero, within 10 s) and returns its error line.
fn assert_gives_up(
    what: &str,
    (status, output, elapsed): (Option<std::process::ExitStatus>, String, Duration),
) -> String {
    let status =
        status.unwrap_or_else(|| panic!("{what}: still running after {elapsed:?}:\n{output}"));
    assert!(!status.success(), "{what}: exited with success:\n{output}");
    assert!(
        elapsed < Duration::from_secs(10),
        "{what}: took {elapsed:?} to give up"
    );
    eprintln!(
        "{what}: gave up after {elapsed:.1?}: {}",
        error_line(&output)
    );
    assert_no_secret(what, &output, &[PASSWORD, PASSWORD_IN_URL]);
    error_line(&output).to_string()
}

/// The pipeline end to end against NATS requiring user/password and mutual TLS.
///
/// Workers get the credentials in the URL (`nats://user:password@…`, the riskiest form for
/// logs) and run at `RUST_LOG=debug`; the coordinator gets `tls://localhost`, `NATS_USER` and
/// `NATS_PASSWORD_FILE`. No output of any process may contain the password.
#[test]
fn pipeline_runs_against_nats_requiring_auth_and_mutual_tls() {
    if !model_ready() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((pki, nats)) = secure_server(dir.path()) else {
        return;
    };
    let Some(chroma) = Chroma::start(dir.path()) else {
        return;
    };
    let collection = "nats_security";
    let store = format!("file://{}", dir.path().join("store").display());
    let password_file = dir.path().join("nats-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");

    let clear: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("NATS_"))
        .map(|(k, _)| (k, String::new()))
        .collect();
    let base = StackEnv::new(&nats, &chroma, &store, collection)
        .with(clear)
        .with(pki.client_env())
        .with(vars(&[
            ("RUST_LOG", "debug,ort=warn"),
            ("TICKETFLOW_LOG_FORMAT", "json"),
        ]));
    let worker_env = base.clone().with(vars(&[(
        "NATS_URL",
        &format!("nats://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{}", nats.port),
    )]));
    let coordinator_env = base.with(vars(&[
        ("NATS_URL", &format!("tls://localhost:{}", nats.port)),
        ("NATS_USER", USER),
        ("NATS_PASSWORD_FILE", &password_file.to_string_lossy()),
    ]));

    let workers = worker_env.workers(1, dir.path(), &[]);
    let input = generate_tickets(dir.path(), 300, 7);
    let procs: Vec<&Proc> = workers.iter().chain([&nats.proc]).collect();
    let (stdout, stderr) = support::run_wait(&coordinator_env, &input, 100, &procs);
    let run_id = run_id_from(&stdout);

    // The run as the CLI reports it (through the same authenticated TLS connection).
    let show = coordinator_env.run(&["runs", "show", &run_id, "--json"]);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("runs show --json");
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["tickets_indexed"], 300, "{v}");
    assert_eq!(v["shards"]["indexed"], 3, "{v}");

    // Chroma holds every ticket, once.
    let rt = support::runtime();
    let count = rt.block_on(async {
        ChromaClient::connect(&ChromaConfig::new(&chroma.url, collection))
            .await
            .expect("chroma")
            .count()
            .await
            .expect("count")
    });
    assert_eq!(count, 300, "Chroma holds every ticket");

    // The trainer ran (it waits for runs.completed over the same secured connection).
    let trained = Instant::now() + Duration::from_secs(120);
    loop {
        let show = coordinator_env.run(&["runs", "show", &run_id, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap_or_default();
        if v["trained"] == true {
            break;
        }
        assert!(
            Instant::now() < trained,
            "trainer did not finish: {v}\n{}",
            dump_logs(&procs)
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // No output anywhere holds the password; the worker logs are at debug level and show the
    // URL redacted.
    assert_no_secret(
        "coordinator output",
        &format!("{stdout}{stderr}"),
        &[PASSWORD, PASSWORD_IN_URL],
    );
    for w in &workers {
        let log = std::fs::read_to_string(&w.log).expect("worker log");
        assert!(
            log.contains("\"level\":\"DEBUG\""),
            "{}: not at debug level",
            w.name
        );
        assert_no_secret(
            &format!("{} log", w.name),
            &log,
            &[PASSWORD, PASSWORD_IN_URL],
        );
        assert!(
            log.contains(&format!("nats://{USER}:***@127.0.0.1:{}", nats.port)),
            "{}: the redacted URL is not logged:\n{}",
            w.name,
            w.log_tail()
        );
    }
    eprintln!(
        "pipeline over NATS with user/password + mutual TLS: 300 tickets in {:.1?}",
        started.elapsed()
    );
}

/// A wrong password, in a variable or in the URL, or none at all: the worker exits within
/// seconds with one line that names the problem and what to check, and shows no password.
#[test]
fn wrong_or_missing_credentials_fail_fast_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((pki, nats)) = secure_server(dir.path()) else {
        return;
    };
    let wrong = "Wr0ng-pass-7c1d";
    let line = assert_gives_up(
        "wrong NATS_PASSWORD",
        worker_until_exit(
            dir.path(),
            &[
                pki.client_env(),
                vars(&[
                    ("NATS_URL", &nats.url),
                    ("NATS_USER", USER),
                    ("NATS_PASSWORD", wrong),
                ]),
            ]
            .concat(),
            Duration::from_secs(20),
        ),
    );
    assert_eq!(
        line,
        format!(
            "error: NATS at {} refused the credentials (authorization violation): check \
             NATS_USER/NATS_PASSWORD",
            nats.url
        )
    );
    assert!(!line.contains(wrong));

    let line = assert_gives_up(
        "wrong password in NATS_URL",
        worker_until_exit(
            dir.path(),
            &[
                pki.client_env(),
                vars(&[(
                    "NATS_URL",
                    &format!("nats://{USER}:{wrong}@127.0.0.1:{}", nats.port),
                )]),
            ]
            .concat(),
            Duration::from_secs(20),
        ),
    );
    assert!(
        line.contains("refused the credentials")
            && line.contains("check the user:password in NATS_URL")
            && line.contains(&format!("nats://{USER}:***@127.0.0.1:{}", nats.port))
            && !line.contains(wrong),
        "{line}"
    );

    let line = assert_gives_up(
        "no credentials",
        worker_until_exit(
            dir.path(),
            &[pki.client_env(), vars(&[("NATS_URL", &nats.url)])].concat(),
            Duration::from_secs(20),
        ),
    );
    assert!(
        line.contains("requires authentication") && line.contains("NATS_CREDS_FILE"),
        "{line}"
    );
}

/// Without the CA the server's certificate is untrusted; without a client certificate the
/// server (verify: true) refuses the handshake. Both end at once with a TLS line that says
/// which variable to set.
#[test]
fn tls_failures_fail_fast_naming_the_certificate_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((pki, nats)) = secure_server(dir.path()) else {
        return;
    };
    let creds = vars(&[
        ("NATS_URL", &nats.url),
        ("NATS_USER", USER),
        ("NATS_PASSWORD", PASSWORD),
        ("NATS_TLS_REQUIRED", "true"),
    ]);
    let line = assert_gives_up(
        "no CA",
        worker_until_exit(
            dir.path(),
            &[
                creds.clone(),
                vars(&[
                    ("NATS_CERT_FILE", &pki.client_cert.to_string_lossy()),
                    ("NATS_KEY_FILE", &pki.client_key.to_string_lossy()),
                ]),
            ]
            .concat(),
            Duration::from_secs(20),
        ),
    );
    assert!(
        line.starts_with(&format!("error: TLS with NATS at {} failed", nats.url))
            && line.contains("certificate")
            && line.contains("NATS_CA_FILE"),
        "{line}"
    );

    let line = assert_gives_up(
        "no client certificate",
        worker_until_exit(
            dir.path(),
            &[
                creds.clone(),
                vars(&[("NATS_CA_FILE", &pki.ca.to_string_lossy())]),
            ]
            .concat(),
            Duration::from_secs(20),
        ),
    );
    assert!(
        line.contains("TLS") && line.contains("NATS_CERT_FILE"),
        "{line}"
    );

    // A missing file fails before any connection attempt, naming its variable.
    let missing = dir.path().join("no-such-ca.pem");
    let line = assert_gives_up(
        "missing CA file",
        worker_until_exit(
            dir.path(),
            &[creds, vars(&[("NATS_CA_FILE", &missing.to_string_lossy())])].concat(),
            Duration::from_secs(20),
        ),
    );
    assert!(
        line.contains("NATS_CA_FILE")
            && line.contains("no-such-ca.pem")
            && line.contains("cannot read"),
        "{line}"
    );
}

/// TLS required (`NATS_TLS_REQUIRED=true`) of a server without TLS: refused at once, not
/// retried, even when told to wait for the server.
#[test]
fn tls_required_of_a_plain_server_is_refused_not_retried() {
    let Some(s) = support::LoneNats::start() else {
        return;
    };
    let result = s.rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            Bus::connect_with(
                &NatsConfig {
                    url: s.nats.url.clone(),
                    wait_for_server: true,
                    ..NatsConfig::new(String::new())
                },
                &NatsSecurity {
                    tls_required: true,
                    ..Default::default()
                },
            ),
        )
        .await
    });
    match result {
        Ok(Err(e @ BusError::Tls { .. })) => eprintln!("{e}"),
        Ok(Err(e)) => panic!("expected a TLS error, got {e}"),
        Ok(Ok(_)) => panic!("connected in plain text although TLS was required"),
        Err(_) => panic!("still retrying after 10 s"),
    }
}

/// A worker started before its (secured) server waits for it, then connects with TLS and
/// credentials and becomes ready.
#[test]
fn worker_waits_for_a_secured_server_that_is_not_up_yet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(bin) = service_binary("nats-server") else {
        return;
    };
    let pki = Pki::generate(&dir.path().join("pki"));
    let (port, monitor_port) = (free_port(), free_port());
    let (mut worker, metrics_port) = spawn_cleaner(
        dir.path(),
        &[
            pki.client_env(),
            vars(&[
                ("NATS_URL", &format!("nats://127.0.0.1:{port}")),
                ("NATS_USER", USER),
                ("NATS_PASSWORD", PASSWORD),
            ]),
        ]
        .concat(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        worker.is_running(),
        "the worker gave up on a server that is not up yet:\n{}",
        worker.log_tail()
    );
    let _nats = Nats::start_with_config_on(
        &bin,
        &dir.path().join("nats-late"),
        port,
        monitor_port,
        &secure_config(&pki),
    );
    wait_until("worker ready", Duration::from_secs(30), || {
        http_ok(metrics_port, "/readyz")
    });
    assert!(
        worker.terminate(Duration::from_secs(15)),
        "no exit on SIGTERM"
    );
    let log = std::fs::read_to_string(&worker.log).expect("log");
    assert!(log.contains("NATS not reachable yet"), "{log}");
    assert_no_secret("waiting worker log", &log, &[PASSWORD, PASSWORD_IN_URL]);
}

/// A long-running cleaner worker with `env`; returns it and its metrics port.
fn spawn_cleaner(dir: &Path, env: &[(String, String)]) -> (Proc, u16) {
    let metrics_port = free_port();
    let mut cmd = cleaner_cmd(dir, env, metrics_port);
    (Proc::spawn("cleaner", &mut cmd, dir), metrics_port)
}

/// The password changes on a running server (config reload): the worker's reconnects are
/// refused, each refusal is logged as such (not as a network blip), and it is not ready.
#[test]
fn a_refused_reconnect_is_logged_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nats_dir = dir.path().join("nats-reload");
    let Some(nats) = Nats::start_with_config(&nats_dir, &user_password_block()) else {
        return;
    };
    let (mut worker, metrics_port) = spawn_cleaner(
        dir.path(),
        &vars(&[
            ("NATS_URL", &nats.url),
            ("NATS_USER", USER),
            ("NATS_PASSWORD", PASSWORD),
        ]),
    );
    wait_until("worker ready", Duration::from_secs(30), || {
        http_ok(metrics_port, "/readyz")
    });
    let config = nats_dir.join("nats.conf");
    let text = std::fs::read_to_string(&config).expect("nats.conf");
    std::fs::write(&config, text.replace(PASSWORD, "rotated-Pw-51ab")).expect("nats.conf");
    let status = Command::new("kill")
        .args(["-HUP", &nats.proc.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    wait_until("refusal logged", Duration::from_secs(30), || {
        std::fs::read_to_string(&worker.log)
            .unwrap_or_default()
            .contains("refused the credentials")
    });
    wait_until("worker not ready", Duration::from_secs(30), || {
        !http_ok(metrics_port, "/readyz")
    });
    assert!(worker.is_running(), "the worker keeps reconnecting");
    let log = std::fs::read_to_string(&worker.log).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains("refused the credentials"))
        .unwrap_or_default();
    eprintln!("{line}");
    assert!(
        line.contains("\"level\":\"ERROR\"") && line.contains("check NATS_USER/NATS_PASSWORD"),
        "{line}"
    );
    assert_no_secret(
        "reconnecting worker log",
        &log,
        &[PASSWORD, "rotated-Pw-51ab"],
    );
}

/// Token and NKey authentication against real servers, through the same client code the
/// binary uses; a wrong one is a final error naming its variable.
#[test]
fn token_and_nkey_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "tok-3b9e-Ka1";
    let Some(token_nats) = Nats::start_with_config(
        &dir.path().join("nats-token"),
        &format!("authorization {{\n  token: {token:?}\n}}\n"),
    ) else {
        return;
    };
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let Some(nkey_nats) = Nats::start_with_config(
        &dir.path().join("nats-nkey"),
        &format!(
            "authorization {{\n  users: [\n    {{ nkey: {:?} }}\n  ]\n}}\n",
            user.public_key()
        ),
    ) else {
        return;
    };
    let rt = support::runtime();
    let connect = |url: &str, security: NatsSecurity| {
        let cfg = NatsConfig {
            url: url.to_string(),
            wait_for_server: true,
            ..NatsConfig::new(String::new())
        };
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), Bus::connect_with(&cfg, &security)).await
        })
        .expect("no answer within 10 s")
    };

    let bus = connect(
        &token_nats.url,
        NatsSecurity {
            token: Some(Secret::new(token, ENV_TOKEN)),
            ..Default::default()
        },
    )
    .expect("token accepted");
    assert!(bus.is_connected());
    // The `nats://token@host` form.
    connect(
        &format!("nats://{token}@127.0.0.1:{}", token_nats.port),
        NatsSecurity::default(),
    )
    .expect("token in the URL accepted");
    let err = connect(
        &token_nats.url,
        NatsSecurity {
            token: Some(Secret::new("not-the-token", ENV_TOKEN)),
            ..Default::default()
        },
    )
    .err()
    .expect("a wrong token is refused");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        matches!(err, BusError::Auth { .. }) && msg.contains("check NATS_TOKEN"),
        "{msg}"
    );
    assert!(
        !msg.contains("not-the-token") && !msg.contains(token),
        "{msg}"
    );

    let seed_file = dir.path().join("user.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).expect("seed file");
    let bus = connect(
        &nkey_nats.url,
        NatsSecurity {
            nkey_file: Some(seed_file),
            ..Default::default()
        },
    )
    .expect("NKey accepted");
    assert!(bus.is_connected());
    let other = dir.path().join("other.nk");
    std::fs::write(&other, nkeys::KeyPair::new_user().seed().expect("seed")).expect("write");
    let err = connect(
        &nkey_nats.url,
        NatsSecurity {
            nkey_file: Some(other),
            ..Default::default()
        },
    )
    .err()
    .expect("an unknown NKey is refused");
    eprintln!("{err}");
    assert!(
        matches!(err, BusError::Auth { .. }) && err.to_string().contains(ENV_NKEY_FILE),
        "{err}"
    );
    assert!(!err.to_string().contains(&seed));
}

/// Unpadded base64url, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A NATS JWT (`ed25519-nkey`) with `claims`, issued and signed by `issuer`.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let header = base64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = serde_json::json!({
        "jti": format!("{subject}{iat}").chars().take(52).collect::<String>(),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let payload = base64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let signature = issuer.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", base64url(&signature))
}

/// A `.creds` file (operator → account → user JWT chain, decentralised auth) against a server
/// in operator mode; a user signed by an account the server does not know is refused, naming
/// `NATS_CREDS_FILE`.
#[test]
fn credentials_file_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let operator_jwt = nats_jwt(
        &operator,
        &operator.public_key(),
        "tf-operator",
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let account_jwt = nats_jwt(
        &operator,
        &account.public_key(),
        "tf-account",
        serde_json::json!({
            "type": "account",
            "version": 2,
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
            }
        }),
    );
    // JetStream in operator mode needs a system account.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = nats_jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2}),
    );
    let creds_for = |issuer: &nkeys::KeyPair, path: &Path| {
        let user = nkeys::KeyPair::new_user();
        let jwt = nats_jwt(
            issuer,
            &user.public_key(),
            "tf-user",
            serde_json::json!({
                "type": "user", "version": 2, "pub": {}, "sub": {},
                "subs": -1, "data": -1, "payload": -1
            }),
        );
        let seed = user.seed().expect("seed");
        std::fs::write(
            path,
            format!(
                "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
                 ************************* IMPORTANT *************************\n\
                 NKEY Seed printed below can be used to sign and prove identity.\n\
                 NKEYs are sensitive and should be treated as secrets.\n\n\
                 -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
            ),
        )
        .expect("creds file");
        seed
    };
    let Some(nats) = Nats::start_with_config(
        &dir.path().join("nats-operator"),
        &format!(
            "operator: {operator_jwt:?}\nsystem_account: {sys:?}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: {system_jwt:?}\n  {acc}: {account_jwt:?}\n}}\n",
            sys = system.public_key(),
            acc = account.public_key()
        ),
    ) else {
        return;
    };
    let rt = support::runtime();
    let connect = |creds: PathBuf| {
        let cfg = NatsConfig {
            url: nats.url.clone(),
            wait_for_server: true,
            ..NatsConfig::new(String::new())
        };
        let security = NatsSecurity {
            creds_file: Some(creds),
            ..Default::default()
        };
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), Bus::connect_with(&cfg, &security)).await
        })
        .expect("no answer within 10 s")
    };

    let good = dir.path().join("good.creds");
    creds_for(&account, &good);
    let bus = connect(good).expect("credentials accepted");
    assert!(bus.is_connected());

    let rogue = dir.path().join("rogue.creds");
    let seed = creds_for(&nkeys::KeyPair::new_account(), &rogue);
    let err = connect(rogue).err().expect("an unknown account is refused");
    eprintln!("{err}");
    assert!(
        matches!(err, BusError::Auth { .. }) && err.to_string().contains("NATS_CREDS_FILE"),
        "{err}"
    );
    assert!(!err.to_string().contains(&seed));
}

/// docker-compose's NATS, for real: nats-server with the shipped `compose/nats.conf` (its
/// `/etc/nats/` paths moved to a temp dir) and the secrets `ticketflow nats-secrets` makes, and a
/// client with compose's settings (`tls://`, the CA, the client certificate and the NKey seed).
/// That client gets in and creates the streams; without the NKey, or with another set's NKey or
/// client certificate, it is refused.
#[test]
fn compose_nats_admits_only_clients_with_its_generated_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_dir = dir.path().join("compose-nats");
    let secrets = server_dir.join("secrets");
    nats_secrets(&secrets);
    let shipped = std::fs::read_to_string(support::workspace().join("compose/nats.conf"))
        .expect("compose/nats.conf");
    let conf = shipped.replace("/etc/nats/", &format!("{}/", server_dir.display()));
    assert_ne!(
        conf, shipped,
        "compose/nats.conf no longer reads /etc/nats/"
    );
    let Some(nats) = Nats::start_with_config(&server_dir, &conf) else {
        return;
    };
    let other = dir.path().join("other-secrets");
    nats_secrets(&other);
    let client = |certs: &Path, nkey: Option<&Path>| {
        let mut env = vars(&[
            ("NATS_URL", &format!("tls://localhost:{}", nats.port)),
            ("NATS_CA_FILE", &secrets.join("ca.pem").to_string_lossy()),
            (
                "NATS_CERT_FILE",
                &certs.join("client.pem").to_string_lossy(),
            ),
            (
                "NATS_KEY_FILE",
                &certs.join("client-key.pem").to_string_lossy(),
            ),
        ]);
        if let Some(nkey) = nkey {
            env.extend(vars(&[(
                ENV_NKEY_FILE,
                &nkey.join("user.nk").to_string_lossy(),
            )]));
        }
        let started = Instant::now();
        let out = ticketflow(&env)
            .args(["streams", "show"])
            .output()
            .expect("ticketflow streams show");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text, started.elapsed())
    };

    let (ok, text, _) = client(&secrets, Some(&secrets));
    assert!(ok, "compose's own client refused:\n{text}");
    assert!(text.contains("TF_RAW"), "{text}");

    for (what, certs, nkey, expect) in [
        ("no NKey", &secrets, None, "authorization"),
        (
            "another set's NKey",
            &secrets,
            Some(&other),
            "authorization",
        ),
        (
            "another CA's client certificate",
            &other,
            Some(&secrets),
            "TLS",
        ),
    ] {
        let (ok, text, elapsed) = client(certs, nkey.map(PathBuf::as_path));
        assert!(!ok, "{what}: admitted:\n{text}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{what}: took {elapsed:?}"
        );
        let line = error_line(&text);
        assert!(
            line.to_lowercase().contains(&expect.to_lowercase()),
            "{what}: {line}"
        );
    }
}
