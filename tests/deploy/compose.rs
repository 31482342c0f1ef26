//! `docker-compose config` accepts the compose file, and it runs every stage.

use crate::support::*;

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
    assert_contains_all(
        &prom,
        &[
            "dns_sd_configs",
            "names: [embedder]",
            "regex: embedder:9464",
            "action: drop",
        ],
        "prometheus.yml",
    );
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
