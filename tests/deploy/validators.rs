//! The validators themselves: an unknown field must fail, or the other checks prove nothing.

use crate::support::*;

#[test]
fn the_validators_reject_unknown_fields() {
    let Some(python) = deploy_python() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\n\
         spec:\n  scaleTargetRef: {name: d}\n  minReplicas: 0\n  triggers:\n\
         \x20   - type: nats-jetstream\n      metadata: {lagThreshold: 4}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 1\n\
         \x20 selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n\
         \x20   spec:\n      containers: [{name: c, image: i}]\n---\n\
         apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: u}\n",
    )
    .expect("write");
    let out = Command::new(&python)
        .args(["scripts/manifests.py", "validate"])
        .arg(&file)
        .current_dir(root())
        .output()
        .expect("run validator");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted invalid objects:\n{err}");
    assert_contains_all(
        &err,
        &[
            "'minReplicas' was unexpected",
            "4 is not of type 'string'",
            "'replica' was unexpected",
            "no schema for example.com/v1 Unknown",
        ],
        "the validator's errors",
    );
}
