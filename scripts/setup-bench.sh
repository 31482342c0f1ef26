#!/usr/bin/env bash
# The benchmark baseline: sentence-transformers on torch (CPU) in its own venv, .venv-bench.
# Only `make bench-*` and `scripts/make_parity_reference.py` need it; tests never do.
# torch from PyPI is the CUDA build (several GB of wheels); it runs on CPU here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
stamp="var/stamps/bench"
want="$(cat scripts/requirements-bench.txt | sha256sum | cut -d' ' -f1)"
if [ -x .venv-bench/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv-bench/bin/python ] || "$PYTHON" -m venv .venv-bench
echo "[setup-bench] installing sentence-transformers + torch into .venv-bench" >&2
.venv-bench/bin/python -m pip install -q -r scripts/requirements-bench.txt
mkdir -p var/stamps && echo "$want" > "$stamp"
