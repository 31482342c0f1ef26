//! What every rendered workload must be: hardened, probed, and scaled as designed.

use crate::support::*;

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
