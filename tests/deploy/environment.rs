//! Every variable a deployment sets is one the binary reads, and every worker gets what it needs.

use crate::support::*;

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
