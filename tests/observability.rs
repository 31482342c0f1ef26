//! Observability end to end, on real servers: nats-server, Chroma, every stage as its own
//! `ticketflow worker`, and the shipped monitoring config run by a real Prometheus (Debian),
//! with a real Pushgateway and node-exporter (`scripts/monitoring.sh`, as `make demo` uses it).
//!
//! Two runs go through the pipeline: a labelled export that trains the model (the dev data when
//! `../shared/data` is there, else generated tickets), then a newer export (the multilingual
//! sample, else more generated tickets). Then:
//! - every worker serves `/metrics`, `/healthz` and `/readyz`, and its counters add up to the
//!   tickets that went through;
//! - Prometheus scraped the workers and the Pushgateway, and every PromQL expression of every
//!   shipped Grafana panel returns data (cAdvisor's `container_*` panels excepted: cAdvisor
//!   needs a container runtime, which these machines do not have);
//! - with the multilingual export, drift is flagged in the report (HTML and JSON) and in
//!   Prometheus with the drifted columns named, and the drift alert fires;
//! - a stopped worker shows as down and its alert goes pending.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use ticketflow_testkit::Requirement;

use serde_json::Value;
use support::{Proc, StackEnv, free_port, generate, http_get, shared_data, wait_until};
use ticketflow_connectors::store::{S3Options, Store, StoreConfig};

/// Prometheus, Pushgateway and node-exporter from `scripts/monitoring.sh`, stopped on drop.
struct Monitoring {
    dir: PathBuf,
    prometheus: u16,
    pushgateway: u16,
}

impl Monitoring {
    /// Picks the ports (so workers can be told the Pushgateway URL) without starting anything.
    fn new(dir: &Path) -> Option<Monitoring> {
        for bin in [
            "prometheus",
            "prometheus-pushgateway",
            "prometheus-node-exporter",
        ] {
            if !Path::new("/usr/bin").join(bin).exists() {
                Requirement::Services.missing(format!("/usr/bin/{bin} missing: run `make setup`"));
                return None;
            }
        }
        Some(Monitoring {
            dir: dir.join("monitoring"),
            prometheus: free_port(),
            pushgateway: free_port(),
        })
    }

    fn pushgateway_url(&self) -> (String, String) {
        (
            "TICKETFLOW_PUSHGATEWAY_URL".to_string(),
            format!("http://127.0.0.1:{}", self.pushgateway),
        )
    }

    /// Starts Prometheus (scraping `workers`), the Pushgateway and node-exporter.
    fn up(&self, dir: &Path, workers: &[Proc]) {
        let targets = dir.join("metrics-targets");
        let lines: String = workers
            .iter()
            .map(|w| {
                let stage = w.name.split('-').next().unwrap_or(&w.name);
                let port = w.metrics_port.expect("worker metrics port");
                format!("{stage} 127.0.0.1:{port}\n")
            })
            .collect();
        std::fs::write(&targets, lines).expect("targets");
        let out = self.script("up", &targets);
        assert!(
            out.status.success(),
            "monitoring.sh up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn script(&self, action: &str, targets: &Path) -> std::process::Output {
        self.try_script(action, targets)
            .expect("run scripts/monitoring.sh")
    }

    fn try_script(&self, action: &str, targets: &Path) -> std::io::Result<std::process::Output> {
        Command::new(support::workspace().join("scripts/monitoring.sh"))
            .arg(action)
            .env("MONITORING_DIR", &self.dir)
            .env("PROMETHEUS_PORT", self.prometheus.to_string())
            .env("PUSHGATEWAY_PORT", self.pushgateway.to_string())
            .env("NODE_EXPORTER_PORT", free_port().to_string())
            .env("TARGETS_FILE", targets)
            .env("SCRAPE_INTERVAL", "1s")
            .output()
    }

    /// An instant query; returns the result vector (empty = no data).
    fn query(&self, expr: &str) -> Vec<Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let (status, body) = http_get(self.prometheus, &path).expect("prometheus answers");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{expr}: {body}");
        assert_eq!(v["status"], "success", "{expr}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of a query that must return exactly one series.
    fn value(&self, expr: &str) -> f64 {
        let result = self.query(expr);
        assert_eq!(result.len(), 1, "{expr}: {result:?}");
        result[0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(f64::NAN)
    }

    fn alert_state(&self, name: &str) -> Option<String> {
        let (_, body) = http_get(self.prometheus, "/api/v1/alerts")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .and_then(|a| a["state"].as_str().map(str::to_string))
    }
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        let _ = self.try_script("down", Path::new("/dev/null"));
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL expression of every shipped dashboard, with the panel it belongs to.
fn dashboard_exprs() -> Vec<(String, String)> {
    fn walk(panels: &[Value], dashboard: &str, out: &mut Vec<(String, String)>) {
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    let title = p["title"].as_str().unwrap_or("?");
                    out.push((format!("{dashboard} / {title}"), expr.to_string()));
                }
            }
            if let Some(inner) = p["panels"].as_array() {
                walk(inner, dashboard, out);
            }
        }
    }
    let mut out = Vec::new();
    let dir = support::workspace().join("monitoring/grafana/dashboards");
    for entry in std::fs::read_dir(dir).expect("dashboards dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let d: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            walk(
                d["panels"].as_array().map(Vec::as_slice).unwrap_or(&[]),
                name.as_deref().unwrap_or("?"),
                &mut out,
            );
        }
    }
    out
}

fn submit(env: &StackEnv, input: &Path, workers: &[&Proc]) -> String {
    let input = input.to_string_lossy();
    let args = [
        "run",
        "--input",
        &input,
        "--shard-size",
        "500",
        "--wait",
        "--stall-timeout-secs",
        "300",
    ];
    support::run_id_from(&support::run_ok(env, &args, workers))
}

#[test]
fn metrics_dashboards_drift_and_alerts_on_a_real_prometheus() {
    let Some(support::Services { nats, chroma, dir }) = support::Services::start() else {
        return;
    };
    let store_url = format!("file://{}", dir.path().join("store").display());
    let Some(monitoring) = Monitoring::new(dir.path()) else {
        return;
    };
    let env = StackEnv::new(&nats, &chroma, &store_url, "observability")
        .with(vec![monitoring.pushgateway_url()]);
    let mut workers = env.workers(1, dir.path(), &[]);
    monitoring.up(dir.path(), &workers);
    support::wait_ready(&workers);

    // Two runs: training data, then a newer export.
    let (train_input, newer_input, multilingual) = match (
        shared_data("tickets_dev.csv"),
        shared_data("tickets_multilang_sample.csv"),
    ) {
        (Some(dev), Some(multi)) => (dev, multi, true),
        _ => {
            let a = dir.path().join("a.csv");
            let b = dir.path().join("b.csv");
            generate(&a, 1_500, 1);
            generate(&b, 300, 2);
            (a, b, false)
        }
    };
    let logs: Vec<&Proc> = workers.iter().collect();
    let first = submit(&env, &train_input, &logs);
    let second = submit(&env, &newer_input, &logs);

    // Workers: endpoints and counters that match what went through.
    let rows = |p: &Path| {
        csv::Reader::from_path(p)
            .expect("csv")
            .records()
            .filter(Result::is_ok)
            .count() as f64
    };
    let store = Store::open(&StoreConfig {
        url: store_url.clone(),
        s3: S3Options::default(),
    })
    .expect("store");
    let rt = support::runtime();
    let result = |run: &str| -> Value {
        let bytes = rt
            .block_on(store.get(&format!("runs/{run}/result.json")))
            .expect("result.json");
        serde_json::from_slice(&bytes).expect("json")
    };
    let indexed: f64 = [&first, &second]
        .iter()
        .map(|r| result(r)["tickets_indexed"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(indexed > 0.0 && indexed <= rows(&train_input) + rows(&newer_input));
    for w in &workers {
        let port = w.metrics_port.expect("port");
        assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
        let (status, body) = http_get(port, "/metrics").expect("metrics");
        assert_eq!(status, 200);
        assert!(body.contains("ticketflow_build_info"), "{}", w.name);
    }

    // Prometheus has scraped the workers and the Pushgateway (1 s interval in this test).
    wait_until(
        "Prometheus to see the second run's pushed metrics",
        Duration::from_secs(60),
        || {
            !monitoring
                .query(&format!("ticketflow_run_tickets{{run_id=\"{second}\"}}"))
                .is_empty()
        },
    );
    std::thread::sleep(Duration::from_secs(3)); // a few more samples for rate()
    assert_eq!(
        monitoring.value("sum(ticketflow_tickets_processed_total{stage=\"indexer\"})"),
        indexed,
        "the indexer's counter equals the tickets indexed in both runs"
    );
    assert_eq!(
        monitoring
            .value("sum(ticketflow_shards_processed_total{stage=\"trainer\",outcome=\"ok\"})"),
        2.0
    );
    for stage in ["cleaner", "embedder", "indexer", "trainer"] {
        assert_eq!(
            monitoring.value(&format!("up{{job=\"ticketflow\",stage=\"{stage}\"}}")),
            1.0,
            "{stage} scraped"
        );
    }

    // Every shipped panel's query returns data, cAdvisor's excepted (see the module doc).
    let exprs = dashboard_exprs();
    assert!(exprs.len() > 40, "{} panel queries", exprs.len());
    let mut empty = Vec::new();
    for (panel, expr) in &exprs {
        if expr.contains("container_") {
            continue;
        }
        let expr = expr.replace("$__rate_interval", "1m");
        if monitoring.query(&expr).is_empty() {
            empty.push(format!("{panel}: {expr}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );

    // The drift verdict of the second run: report, JSON and Prometheus agree.
    let drift = &result(&second)["drift"];
    assert_eq!(drift["reference"], first.as_str(), "{drift}");
    if multilingual {
        assert_eq!(drift["dataset_drift"], true, "{drift}");
        let drifted: Vec<&str> = drift["drifted_columns"]
            .as_array()
            .expect("drifted columns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(drifted.contains(&"language"), "{drifted:?}");
        let report_json = rt
            .block_on(store.get(&format!("runs/{second}/drift/report.json")))
            .expect("report.json");
        let report: Value = serde_json::from_slice(&report_json).expect("json");
        assert_eq!(report["dataset"]["drifted"], true);
        let html = rt
            .block_on(store.get(&format!("runs/{second}/drift/report.html")))
            .expect("report.html");
        let html = String::from_utf8_lossy(&html);
        for column in &drifted {
            assert!(html.contains(column), "{column} named in the HTML report");
        }
        assert_eq!(
            monitoring.value(&format!(
                "ticketflow_dataset_drift_detected{{run_id=\"{second}\"}}"
            )),
            1.0
        );
        assert_eq!(
            monitoring.value(&format!(
                "ticketflow_drifted_columns{{run_id=\"{second}\"}}"
            )),
            drifted.len() as f64
        );
        for column in &drifted {
            assert_eq!(
                monitoring.value(&format!(
                    "ticketflow_column_drift_detected{{run_id=\"{second}\",column=\"{column}\"}}"
                )),
                1.0,
                "{column}"
            );
        }
        wait_until("the drift alert to fire", Duration::from_secs(30), || {
            monitoring.alert_state("TicketflowDriftDetected").as_deref() == Some("firing")
        });
    }

    // Each run also has its exploratory profile.
    for run in [&first, &second] {
        let key = result(run)["profile_html"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| panic!("run {run} has no profile"));
        assert!(rt.block_on(store.exists(&key)).expect("exists"), "{key}");
    }

    // A stopped worker: down in Prometheus, its alert pending (it fires after 1 minute).
    let cleaner = workers
        .iter_mut()
        .find(|w| w.name == "cleaner")
        .expect("cleaner");
    cleaner.kill();
    wait_until(
        "the cleaner to show as down",
        Duration::from_secs(30),
        || {
            monitoring
                .query("up{job=\"ticketflow\",stage=\"cleaner\"} == 0")
                .len()
                == 1
        },
    );
    wait_until(
        "the worker-down alert to go pending",
        Duration::from_secs(30),
        || monitoring.alert_state("TicketflowWorkerDown").is_some(),
    );
}
