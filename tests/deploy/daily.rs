//! The daily CronJob over a cumulative export: in every Kubernetes rendering the coordinator
//! reads its input from `s3://`, and the embedders run with vector reuse on, so a day costs what
//! is new in the export (docs/deploy.md, "A daily cumulative export").

use crate::support::*;

#[test]
fn the_daily_cronjob_reads_an_s3_export_and_embedders_reuse_vectors() {
    let Some(r) = rendered() else { return };
    for (label, objects) in k8s_sets(r) {
        let jobs = kind(objects, "CronJob");
        assert_eq!(jobs.len(), 1, "{label}: one coordinator CronJob");
        let pod = pod_spec(jobs[0]).expect("pod spec");
        let container = containers(pod)
            .into_iter()
            .find(|c| c["image"].as_str().is_some_and(is_ticketflow_image))
            .expect("coordinator container");
        let argv = args(container);
        let input = argv
            .windows(2)
            .find(|w| w[0] == "--input")
            .map(|w| w[1])
            .unwrap_or_else(|| panic!("{label}: coordinator without --input: {argv:?}"));
        assert!(input.starts_with("s3://"), "{label}: input {input}");
        assert!(
            jobs[0]["spec"]["schedule"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{label}: no schedule"
        );

        let reuse: Vec<&str> = kind(objects, "ConfigMap")
            .into_iter()
            .filter_map(|c| c["data"]["TICKETFLOW_REUSE_VECTORS"].as_str())
            .collect();
        assert_eq!(reuse, ["true"], "{label}: TICKETFLOW_REUSE_VECTORS");
        let embedder = objects
            .iter()
            .filter_map(pod_spec)
            .flat_map(containers)
            .find(|c| role(&args(c)).as_deref() == Some("embedder"))
            .unwrap_or_else(|| panic!("{label}: no embedder"));
        assert!(
            container_env(objects, embedder).contains("TICKETFLOW_REUSE_VECTORS"),
            "{label}: the embedder does not get TICKETFLOW_REUSE_VECTORS"
        );
    }
}
