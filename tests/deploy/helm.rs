//! `helm lint` and the chart rendered by Helm's own engine, validated like the overlays.

use crate::support::*;

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
