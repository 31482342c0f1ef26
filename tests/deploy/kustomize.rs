//! `kubectl kustomize` renders every overlay to objects that validate.

use crate::support::*;

#[test]
fn kustomize_overlays_render_to_valid_objects() {
    let Some(r) = rendered() else { return };
    for (overlay, objects) in &r.overlays {
        let count = |k: &str| kind(objects, k).len();
        assert_kind_counts(
            objects,
            overlay,
            &[
                ("Namespace", 1, "Namespace"),
                ("PodDisruptionBudget", 4, "one PDB per stage"),
                ("ScaledObject", 2, "ScaledObjects"),
                ("CronJob", 1, "coordinator CronJob"),
                ("NetworkPolicy", 2, "NetworkPolicies"),
            ],
        );
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
