//! NATS security as each deployment wires it: a plaintext variant where the local or dev NATS
//! runs without it (the dev overlay, the chart's defaults), and a secured one for production (the
//! prod overlay, `helm/ci/production-values.yaml`): TLS required with a CA (and a client
//! certificate), credentials from a `.creds` file, every file mounted read-only from a Secret
//! into every ticketflow pod at the path its variable names.

use crate::support::*;

const FILE_VARS: &[&str] = &[
    "NATS_CREDS_FILE",
    "NATS_NKEY_FILE",
    "NATS_CA_FILE",
    "NATS_CERT_FILE",
    "NATS_KEY_FILE",
];

/// The NATS settings in the rendering's ConfigMap.
fn nats_settings(objects: &[Value]) -> BTreeMap<String, String> {
    kind(objects, "ConfigMap")
        .into_iter()
        .flat_map(|c| c["data"].as_object().into_iter().flatten())
        .filter(|(k, _)| k.starts_with("NATS_"))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The ticketflow pods: (workload name, pod spec, the ticketflow container).
fn ticketflow_pods(objects: &[Value]) -> Vec<(&str, &Value, &Value)> {
    objects
        .iter()
        .filter_map(|o| {
            let pod = pod_spec(o)?;
            let c = containers(pod)
                .into_iter()
                .find(|c| c["image"].as_str().is_some_and(is_ticketflow_image))?;
            Some((name(o), pod, c))
        })
        .collect()
}

/// `path` is in a volume mounted read-only from a Secret in this pod.
fn mounted_from_secret(pod: &Value, container: &Value, path: &str) -> bool {
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["readOnly"] == true
                && m["mountPath"]
                    .as_str()
                    .is_some_and(|mp| path.starts_with(&format!("{mp}/")))
        })
        .any(|m| {
            pod["volumes"].as_array().into_iter().flatten().any(|v| {
                v["name"] == m["name"]
                    && v["secret"]["secretName"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty())
            })
        })
}

fn assert_secured(label: &str, objects: &[Value]) {
    let nats = nats_settings(objects);
    let url = nats.get("NATS_URL").map(String::as_str).unwrap_or("");
    assert!(
        !url.is_empty() && url.split(',').all(|u| u.trim().starts_with("tls://")),
        "{label}: NATS_URL {url:?} is not TLS"
    );
    assert_eq!(
        nats.get("NATS_TLS_REQUIRED").map(String::as_str),
        Some("true"),
        "{label}"
    );
    assert!(nats.contains_key("NATS_CA_FILE"), "{label}: no CA");
    assert!(
        nats.contains_key("NATS_CREDS_FILE") || nats.contains_key("NATS_NKEY_FILE"),
        "{label}: no credentials"
    );
    let pods = ticketflow_pods(objects);
    assert_eq!(pods.len(), 5, "{label}: four stages and the coordinator");
    for (workload, pod, container) in pods {
        for var in FILE_VARS {
            if let Some(path) = nats.get(*var) {
                assert!(
                    mounted_from_secret(pod, container, path),
                    "{label}: {workload} cannot read {var}={path} (no read-only Secret mount)"
                );
            }
        }
    }
}

fn assert_plaintext(label: &str, objects: &[Value]) {
    let nats = nats_settings(objects);
    for var in FILE_VARS {
        assert!(!nats.contains_key(*var), "{label}: {var} set");
    }
    for (workload, pod, _) in ticketflow_pods(objects) {
        let volumes = pod["volumes"].as_array().into_iter().flatten();
        for v in volumes {
            let n = v["name"].as_str().unwrap_or("");
            assert!(!n.starts_with("nats-"), "{label}: {workload} mounts {n}");
        }
    }
}

#[test]
fn production_renderings_secure_nats_and_dev_ones_stay_plain() {
    let Some(r) = rendered() else { return };
    for (overlay, objects) in &r.overlays {
        let label = format!("overlay {overlay}");
        if overlay == "prod" {
            assert_secured(&label, objects);
        } else {
            assert_plaintext(&label, objects);
        }
    }
    for (values, objects) in &r.helm {
        let label = format!("helm ({values})");
        if values.contains("production") {
            assert_secured(&label, objects);
        } else {
            assert_plaintext(&label, objects);
        }
    }
}

/// Where docker-compose's `nats-secrets` writes, and every ticketflow service reads.
const COMPOSE_SECRETS: &str = "/var/lib/ticketflow/nats";

/// A compose volume entry as `source:target:mode` (the rendering's short form).
fn compose_mounts(service: &Value) -> Vec<(String, String, String)> {
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| {
            let mut parts = m.splitn(3, ':').map(str::to_string);
            let source = parts.next().unwrap_or_default();
            let target = parts.next().unwrap_or_default();
            (source, target, parts.next().unwrap_or_else(|| "rw".into()))
        })
        .collect()
}

/// A compose volume entry as [`compose_mounts`] lists it.
fn mount(source: &str, target: &str, mode: &str) -> (String, String, String) {
    (source.into(), target.into(), mode.into())
}

/// docker-compose: NATS requires TLS with client certificates and an NKey (compose/nats.conf);
/// the one-shot `nats-secrets` makes them before NATS starts; every ticketflow service reads
/// each of them, read-only, at the path its variable names. (tests/nats_security.rs runs a real
/// nats-server with this config and the generated secrets.)
#[test]
fn compose_requires_tls_and_an_nkey_made_by_its_secrets_service() {
    let Some(r) = rendered() else { return };
    let services = r.compose["services"].as_object().expect("services");

    let secrets = &services["nats-secrets"];
    assert_eq!(
        args(secrets),
        ["nats-secrets", "--out", COMPOSE_SECRETS],
        "compose: nats-secrets"
    );
    assert!(
        compose_mounts(secrets).contains(&mount("nats-secrets", COMPOSE_SECRETS, "rw")),
        "compose: nats-secrets cannot write its volume"
    );

    let nats = &services["nats"];
    let argv = args(nats);
    assert!(
        argv.windows(2).any(|w| w == ["-c", "/etc/nats/nats.conf"]),
        "compose: NATS without its config: {argv:?}"
    );
    let mounts = compose_mounts(nats);
    assert!(
        mounts
            .iter()
            .any(|(s, t, _)| s.ends_with("/compose/nats.conf") && t == "/etc/nats/nats.conf"),
        "compose: compose/nats.conf not mounted: {mounts:?}"
    );
    assert!(
        mounts.contains(&mount("nats-secrets", "/etc/nats/secrets", "ro")),
        "compose: NATS does not read the secrets: {mounts:?}"
    );
    assert_eq!(
        nats["depends_on"]["nats-secrets"]["condition"], "service_completed_successfully",
        "compose: NATS may start before its secrets exist"
    );
    let conf = read(&root().join("compose/nats.conf"));
    assert_contains_all(
        &conf,
        &[
            "verify: true",
            "/etc/nats/secrets/server.pem",
            "/etc/nats/secrets/ca.pem",
            "include \"secrets/auth.conf\"",
        ],
        "compose/nats.conf",
    );

    let expected = [
        ("NATS_CA_FILE", "ca.pem"),
        ("NATS_CERT_FILE", "client.pem"),
        ("NATS_KEY_FILE", "client-key.pem"),
        ("NATS_NKEY_FILE", "user.nk"),
    ];
    let mut clients = 0;
    for (name, service) in services {
        let env = &service["environment"];
        if env["NATS_URL"].is_null() {
            continue;
        }
        clients += 1;
        let url = env["NATS_URL"].as_str().unwrap_or("");
        assert!(url.starts_with("tls://"), "compose: {name} NATS_URL {url}");
        for (var, file) in expected {
            assert_eq!(
                env[var].as_str(),
                Some(format!("{COMPOSE_SECRETS}/{file}").as_str()),
                "compose: {name} {var}"
            );
        }
        assert!(
            compose_mounts(service).contains(&mount("nats-secrets", COMPOSE_SECRETS, "ro")),
            "compose: {name} cannot read the NATS secrets"
        );
    }
    assert_eq!(clients, 5, "compose: four stages and the coordinator");
}
