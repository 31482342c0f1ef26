//! Offline checks of `monitoring/`: the Prometheus configuration, alert rules and their unit
//! tests (through Debian's `promtool`), the Grafana provisioning and dashboards, and that every
//! `ticketflow_*` metric they use is one the binary exposes (the contract below).
//!
//! Without `promtool` the promtool tests are skipped, unless `TICKETFLOW_REQUIRE_SERVICES=1`
//! (as under `make test`), where they fail: run `make setup` to install it.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use ticketflow_testkit::{Requirement, assert_contains_all};

use serde_json::Value;

/// The metric contract: every series the workers expose or the coordinator and trainer push.
/// Keep in step with `monitoring/README.md` and the telemetry crate.
const METRICS: &[(&str, Kind)] = &[
    // Worker processes (`ticketflow worker <stage>`), scraped as job "ticketflow".
    ("ticketflow_build_info", Kind::Gauge),
    ("ticketflow_worker_info", Kind::Gauge),
    ("ticketflow_shards_processed_total", Kind::Counter),
    ("ticketflow_tickets_processed_total", Kind::Counter),
    ("ticketflow_stage_duration_seconds", Kind::Histogram),
    ("ticketflow_shard_redeliveries_total", Kind::Counter),
    ("ticketflow_shards_dead_lettered_total", Kind::Counter),
    ("ticketflow_shard_failures_total", Kind::Counter),
    ("ticketflow_shards_in_flight", Kind::Gauge),
    ("ticketflow_consumer_pending_messages", Kind::Gauge),
    ("ticketflow_consumer_ack_pending_messages", Kind::Gauge),
    (
        "ticketflow_embedding_batch_duration_seconds",
        Kind::Histogram,
    ),
    ("ticketflow_embedding_batch_size", Kind::Histogram),
    ("ticketflow_run_progress_record_bytes", Kind::Histogram),
    ("ticketflow_embedder_vectors_total", Kind::Counter),
    (
        "ticketflow_embedder_vector_cache_errors_total",
        Kind::Counter,
    ),
    (
        "ticketflow_embedder_vector_lookup_requests_total",
        Kind::Counter,
    ),
    ("ticketflow_indexer_records_total", Kind::Counter),
    ("ticketflow_routing_suspensions_total", Kind::Counter),
    ("ticketflow_stage_loop_errors_total", Kind::Counter),
    (
        "ticketflow_object_store_request_duration_seconds",
        Kind::Histogram,
    ),
    ("ticketflow_object_store_errors_total", Kind::Counter),
    (
        "ticketflow_chroma_request_duration_seconds",
        Kind::Histogram,
    ),
    ("ticketflow_chroma_errors_total", Kind::Counter),
    // Pushed by the coordinator (job "ticketflow_coordinator").
    ("ticketflow_coordinator_run_shards", Kind::Gauge),
    ("ticketflow_coordinator_run_tickets", Kind::Gauge),
    ("ticketflow_coordinator_duration_seconds", Kind::Gauge),
    (
        "ticketflow_coordinator_last_success_timestamp_seconds",
        Kind::Gauge,
    ),
    // Pushed by the trainer (job "ticketflow_trainer").
    ("ticketflow_run_duration_seconds", Kind::Gauge),
    ("ticketflow_run_tickets", Kind::Gauge),
    ("ticketflow_run_dead_shards", Kind::Gauge),
    ("ticketflow_run_vectors", Kind::Gauge),
    ("ticketflow_run_chroma_records", Kind::Gauge),
    (
        "ticketflow_run_last_completion_timestamp_seconds",
        Kind::Gauge,
    ),
    ("ticketflow_model_f1", Kind::Gauge),
    ("ticketflow_model_precision", Kind::Gauge),
    ("ticketflow_model_recall", Kind::Gauge),
    ("ticketflow_model_macro_f1", Kind::Gauge),
    ("ticketflow_model_accuracy", Kind::Gauge),
    ("ticketflow_model_quality_gate_passed", Kind::Gauge),
    ("ticketflow_model_auto_coverage_ratio", Kind::Gauge),
    ("ticketflow_model_auto_precision", Kind::Gauge),
    ("ticketflow_model_auto_target_precision", Kind::Gauge),
    ("ticketflow_run_auto_routed_ratio", Kind::Gauge),
    ("ticketflow_run_auto_routed_precision", Kind::Gauge),
    ("ticketflow_run_routing_tickets", Kind::Gauge),
    ("ticketflow_routing_suspended", Kind::Gauge),
    ("ticketflow_drift_share", Kind::Gauge),
    ("ticketflow_dataset_drift_detected", Kind::Gauge),
    ("ticketflow_drifted_columns", Kind::Gauge),
    ("ticketflow_column_drift_detected", Kind::Gauge),
    ("ticketflow_embedding_drift_auc", Kind::Gauge),
    ("ticketflow_embedding_drift_detected", Kind::Gauge),
    ("ticketflow_prediction_drift_detected", Kind::Gauge),
];

/// `ticketflow_*` words that are label values, not metric names (the Pushgateway job labels).
const NOT_METRICS: &[&str] = &["ticketflow_trainer", "ticketflow_coordinator"];

const ALERTS: &[&str] = &[
    "TicketflowWorkerDown",
    "TicketflowShardsDeadLettered",
    "TicketflowConsumerBacklogGrowing",
    "TicketflowRunStuck",
    "TicketflowDriftDetected",
    "TicketflowModelBelowQualityGate",
    "TicketflowRoutingSuspended",
];

const DASHBOARDS: &[&str] = &["pipeline.json", "model.json", "infrastructure.json"];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

fn monitoring() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("monitoring")
}

fn prometheus_dir() -> PathBuf {
    monitoring().join("prometheus")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Files in `dir` whose name ends with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

/// Debian's `promtool` (`make setup`), else one on PATH; `None` skips the test unless
/// `TICKETFLOW_REQUIRE_SERVICES=1`.
fn promtool() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/bin/promtool");
    let found = if debian.is_file() {
        Some(debian)
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("promtool"))
                .find(|p| p.is_file())
        })
    };
    Requirement::Services.or_skip(
        found,
        "promtool missing: run `make setup` (Debian package prometheus)",
    )
}

/// Runs promtool in `monitoring/prometheus` and fails the test with its output unless it
/// succeeds.
fn run_promtool(promtool: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(prometheus_dir())
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_prometheus_config() {
    let Some(promtool) = promtool() else { return };
    // Also checks the rule files it loads (rules/*.yml) and the file_sd target files.
    run_promtool(&promtool, &["check", "config", "prometheus.yml"]);
}

#[test]
fn promtool_accepts_every_rules_file() {
    let Some(promtool) = promtool() else { return };
    let rules = files(&prometheus_dir().join("rules"), ".yml");
    assert!(
        !rules.is_empty(),
        "no rules files in monitoring/prometheus/rules"
    );
    for file in rules {
        let name = file.file_name().expect("file name").to_string_lossy();
        run_promtool(&promtool, &["check", "rules", &format!("rules/{name}")]);
    }
}

#[test]
fn alert_rule_unit_tests_pass() {
    let Some(promtool) = promtool() else { return };
    run_promtool(&promtool, &["test", "rules", "tests/ticketflow.test.yml"]);
}

#[test]
fn every_alert_exists_and_has_a_unit_test() {
    let rules = read(&prometheus_dir().join("rules/ticketflow.yml"));
    let tests = read(&prometheus_dir().join("tests/ticketflow.test.yml"));
    let defined: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    let expected: BTreeSet<&str> = ALERTS.iter().copied().collect();
    assert_eq!(defined, expected, "alerts in rules/ticketflow.yml");
    for alert in ALERTS {
        // A test case that expects it to fire, i.e. one with exp_labels after its alertname.
        let fires = tests.split("alertname:").skip(1).any(|case| {
            case.trim_start().starts_with(alert) && {
                let body = &case[..case.find("eval_time").unwrap_or(case.len())];
                body.contains("exp_labels")
            }
        });
        assert!(
            fires,
            "no unit test in tests/ticketflow.test.yml expects {alert} to fire"
        );
    }
    for block in rules.split("- alert:").skip(1) {
        let name = block.split_whitespace().next().unwrap_or_default();
        for key in ["severity:", "summary:", "description:"] {
            assert!(block.contains(key), "alert {name} lacks {key}");
        }
    }
}

/// The uid of the provisioned Prometheus datasource.
fn datasource_uid() -> String {
    let text = read(&monitoring().join("grafana/provisioning/datasources/prometheus.yml"));
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("uid:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .next()
        .expect("datasource provisioning has a uid")
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = monitoring().join("grafana/dashboards");
    let found = files(&dir, ".json");
    for name in DASHBOARDS {
        assert!(dir.join(name).is_file(), "dashboard {name} missing");
    }
    found
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let json = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, json)
        })
        .collect()
}

/// Every panel of a dashboard, including those nested in (collapsed) rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (panel title, expr) of every query in a dashboard.
fn exprs(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |t| Some((title.clone(), t["expr"].as_str()?.to_string())))
        })
        .collect()
}

#[test]
fn dashboards_are_valid_and_use_the_provisioned_datasource() {
    let uid = datasource_uid();
    let mut uids = HashSet::new();
    for (name, dash) in dashboards() {
        let dash_uid = dash["uid"].as_str().unwrap_or_default();
        assert!(!dash_uid.is_empty(), "{name}: no uid");
        assert!(
            uids.insert(dash_uid.to_string()),
            "{name}: uid {dash_uid} not unique"
        );
        assert!(
            !dash["title"].as_str().unwrap_or_default().is_empty(),
            "{name}: no title"
        );
        assert!(
            dash["schemaVersion"].as_u64().is_some(),
            "{name}: no schemaVersion"
        );
        let all = panels(&dash);
        let mut ids = HashSet::new();
        let mut queried = 0;
        for panel in all {
            let title = panel["title"].as_str().unwrap_or_default();
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: panel {title:?} has no id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            assert!(
                panel["gridPos"]["w"].as_u64().is_some(),
                "{name}: {title:?} lacks gridPos"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert!(!title.is_empty(), "{name}: a panel has no title");
            assert_eq!(
                panel["datasource"]["uid"].as_str(),
                Some(uid.as_str()),
                "{name}: panel {title:?} must use the provisioned datasource uid {uid}"
            );
            assert_eq!(
                panel["datasource"]["type"], "prometheus",
                "{name}: {title:?}"
            );
            let targets = panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!targets.is_empty(), "{name}: panel {title:?} has no target");
            let mut refs = HashSet::new();
            for target in targets {
                let expr = target["expr"].as_str().unwrap_or_default();
                assert!(
                    !expr.trim().is_empty(),
                    "{name}: panel {title:?} has an empty expr"
                );
                let ref_id = target["refId"].as_str().unwrap_or_default();
                assert!(
                    !ref_id.is_empty(),
                    "{name}: panel {title:?} target without refId"
                );
                assert!(
                    refs.insert(ref_id),
                    "{name}: panel {title:?} repeats refId {ref_id}"
                );
                if let Some(ds) = target.get("datasource") {
                    assert_eq!(ds["uid"].as_str(), Some(uid.as_str()), "{name}: {title:?}");
                }
                // Only $__rate_interval may appear: a later test runs every expr against a
                // live Prometheus (substituting it with 1m).
                let rest = expr.replace("$__rate_interval", "");
                assert!(
                    !rest.contains('$'),
                    "{name}: {title:?} uses a template variable: {expr}"
                );
                queried += 1;
            }
        }
        assert!(queried > 0, "{name}: no queries");
    }
}

/// `ticketflow_*` words in `text` (identifier characters of PromQL: letters, digits, `_`, `:`).
fn ticketflow_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("ticketflow_"))
        .map(str::to_string)
        .collect()
}

/// The contract metric a series name belongs to (histograms expose _bucket, _sum, _count).
fn contract_metric(name: &str) -> Option<&'static str> {
    METRICS.iter().find_map(|&(metric, kind)| {
        let matches = name == metric
            || (kind == Kind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_prefix(metric) == Some(*s)));
        matches.then_some(metric)
    })
}

/// YAML without its comment lines (comments may mention name patterns like `ticketflow_x_*`).
fn yaml_without_comments(path: &Path) -> String {
    read(path)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dashboards_and_rules_only_use_contract_metrics() {
    let mut unknown = Vec::new();
    let mut check = |source: &str, text: &str| {
        for word in ticketflow_words(text) {
            if NOT_METRICS.contains(&word.as_str()) {
                continue;
            }
            if contract_metric(&word).is_none() {
                unknown.push(format!("{source}: {word}"));
            }
        }
    };
    for (name, dash) in dashboards() {
        for (title, expr) in exprs(&dash) {
            check(&format!("{name} / {title}"), &expr);
        }
    }
    let prom = prometheus_dir();
    for file in files(&prom.join("rules"), ".yml")
        .into_iter()
        .chain(files(&prom.join("tests"), ".yml"))
    {
        check(&file.display().to_string(), &yaml_without_comments(&file));
    }
    assert!(
        unknown.is_empty(),
        "metric names outside the contract:\n{}",
        unknown.join("\n")
    );
    // The dashboards show every metric the binary exposes.
    let mut dashboard_used = BTreeSet::new();
    for (_, dash) in dashboards() {
        for (_, expr) in exprs(&dash) {
            dashboard_used.extend(
                ticketflow_words(&expr)
                    .iter()
                    .filter_map(|w| contract_metric(w)),
            );
        }
    }
    let unshown: Vec<&str> = METRICS
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| !dashboard_used.contains(m))
        .collect();
    assert!(
        unshown.is_empty(),
        "contract metrics on no dashboard: {unshown:?}"
    );
}

#[test]
fn grafana_provisioning_points_at_prometheus_and_the_dashboards() {
    let ds = read(&monitoring().join("grafana/provisioning/datasources/prometheus.yml"));
    assert_contains_all(
        &ds,
        &[
            "apiVersion: 1",
            "datasources:",
            "type: prometheus",
            "url: http://prometheus:9090",
        ],
        "datasource provisioning",
    );
    assert_eq!(datasource_uid(), "prometheus");
    let provider = read(&monitoring().join("grafana/provisioning/dashboards/ticketflow.yml"));
    assert_contains_all(
        &provider,
        &[
            "apiVersion: 1",
            "providers:",
            "type: file",
            "path: /var/lib/grafana/dashboards",
        ],
        "dashboard provisioning",
    );
}

#[test]
fn prometheus_config_discovers_workers_and_pushgateway_from_files() {
    let prom = prometheus_dir();
    let config = read(&prom.join("prometheus.yml"));
    for needle in [
        "scrape_interval: 15s",
        "evaluation_interval: 15s",
        "- rules/*.yml",
        "job_name: ticketflow",
        "job_name: pushgateway",
        "honor_labels: true",
        "- targets/ticketflow.yml",
        "- targets/pushgateway.yml",
        "job_name: nats",
        "nats-exporter:7777",
        "job_name: node",
        "node-exporter:9100",
        "job_name: cadvisor",
        "cadvisor:8080",
        "job_name: prometheus",
    ] {
        assert!(config.contains(needle), "prometheus.yml lacks {needle:?}");
    }
    let workers = read(&prom.join("targets/ticketflow.yml"));
    for stage in ["cleaner", "embedder", "indexer", "trainer"] {
        assert!(
            workers.contains(&format!("\"{stage}:9464\"")),
            "targets/ticketflow.yml lacks {stage}"
        );
        assert!(
            workers.contains(&format!("stage: {stage}")),
            "targets/ticketflow.yml: {stage} label"
        );
    }
    assert!(read(&prom.join("targets/pushgateway.yml")).contains("\"pushgateway:9091\""));
    // Prometheus loads every rules/*.yml as a rule file: unit tests must live elsewhere.
    for file in files(&prom.join("rules"), ".yml") {
        assert!(
            !read(&file).contains("\ntests:"),
            "{} is a promtool test file inside rules/ (Prometheus would fail to load it)",
            file.display()
        );
    }
}
