//! JetStream replication as each deployment asks for it: one replica where there is one
//! nats-server (compose, the dev overlay, the chart's defaults), three against the official
//! chart's 3-node cluster (the prod overlay, the chart's production values).

use crate::support::*;

/// `TICKETFLOW_JETSTREAM_REPLICAS` in the ConfigMaps of one rendering.
fn replicas_in(objects: &[Value]) -> Vec<String> {
    kind(objects, "ConfigMap")
        .into_iter()
        .filter_map(|c| c["data"]["TICKETFLOW_JETSTREAM_REPLICAS"].as_str())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_deployment_sets_the_replicas_its_nats_can_keep() {
    let Some(r) = rendered() else { return };
    for (overlay, objects) in &r.overlays {
        let want = if overlay == "prod" { "3" } else { "1" };
        assert_eq!(replicas_in(objects), [want], "overlay {overlay}");
    }
    for (label, objects) in &r.helm {
        let want = if label.contains("production") {
            "3"
        } else {
            "1"
        };
        assert_eq!(replicas_in(objects), [want], "helm ({label})");
    }
    let services = r.compose["services"].as_object().expect("services");
    for (name, service) in services {
        if let Some(value) = service["environment"]["TICKETFLOW_JETSTREAM_REPLICAS"].as_str() {
            assert_eq!(value, "1", "compose service {name}: one nats-server");
        }
    }
    assert!(
        services
            .values()
            .any(|s| s["environment"]["TICKETFLOW_JETSTREAM_REPLICAS"].is_string()),
        "compose sets the replicas"
    );
}
