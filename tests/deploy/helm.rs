//! `helm lint` and the chart rendered by Helm's own engine, validated like the overlays.

use crate::support::*;

#[test]
fn helm_chart_lints_and_renders_to_valid_objects() {
    let Some(r) = rendered() else { return };
    for (values, objects) in &r.helm {
        let label = format!("helm ({values})");
        let count = |k: &str| kind(objects, k).len();
        assert_kind_counts(
            objects,
            &label,
            &[
                ("Deployment", 4, "a Deployment per stage"),
                ("PodDisruptionBudget", 4, "PDBs"),
                ("CronJob", 1, "coordinator"),
                ("NetworkPolicy", 2, "NetworkPolicies"),
            ],
        );
        let autoscaling = values.contains("autoscaling");
        assert_eq!(
            count("ScaledObject"),
            if autoscaling { 2 } else { 0 },
            "{label}: ScaledObjects follow autoscaling.enabled"
        );
        assert_eq!(
            count("ServiceMonitor"),
            usize::from(autoscaling),
            "{label}: ServiceMonitor"
        );
        // KEDA owns the replica count of the scaled Deployments.
        for d in kind(objects, "Deployment") {
            let scaled =
                autoscaling && (name(d).ends_with("-embedder") || name(d).ends_with("-trainer"));
            assert_eq!(
                d["spec"]["replicas"].is_null(),
                scaled,
                "{label}: {} replicas",
                name(d)
            );
        }
    }
}
