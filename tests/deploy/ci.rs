//! The CI workflow runs what `.ci/run` runs.

use crate::support::*;

#[test]
fn ci_workflow_runs_what_ci_runs() {
    let workflow = read(&root().join(".github/workflows/ci.yml"));
    let makefile = read(&root().join("Makefile"));
    let ci = read(&root().join(".ci/run"));
    assert!(ci.contains("make test"), ".ci/run no longer runs make test");
    // The lint commands of `make lint` and the test command of `make test`, verbatim.
    for line in makefile.lines().map(str::trim) {
        if line.starts_with("$(CARGO) fmt") || line.starts_with("$(CARGO) clippy") {
            let cmd = line.replace("$(CARGO)", "cargo");
            assert!(workflow.contains(&cmd), "ci.yml lacks `{cmd}`");
        }
    }
    assert!(
        workflow.contains("make test"),
        "ci.yml must run `make test` (as .ci/run)"
    );
    assert!(
        workflow.contains("docker/build-push-action") || workflow.contains("docker build"),
        "ci.yml builds no image"
    );
}
