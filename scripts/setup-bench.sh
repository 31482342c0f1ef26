#!/usr/bin/env bash
# The benchmark baseline: sentence-transformers on torch (CPU) in its own venv, .venv-bench.
# Only `make bench-*` and `scripts/make_parity_reference.py` need it; tests never do.
# torch from PyPI is the CUDA build (several GB of wheels); it runs on CPU here.
# Also Debian's GNU `time` (/usr/bin/time -v: peak RSS) for bench-coordinator and bench-memory;
# `scripts/setup-bench.sh time` installs only that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

if ! /usr/bin/time -v true >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null; then
    echo "setup-bench: no apt-get: install GNU time (/usr/bin/time) by hand" >&2; exit 1
  fi
  echo "[setup-bench] installing time (Debian) for peak-RSS measurements" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null
fi
[ "${1:-}" = time ] && exit 0

stamp="var/stamps/bench"
want="$(cat scripts/requirements-bench.txt | sha256sum | cut -d' ' -f1)"
if [ -x .venv-bench/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv-bench/bin/python ] || "$PYTHON" -m venv .venv-bench
echo "[setup-bench] installing sentence-transformers + torch into .venv-bench" >&2
.venv-bench/bin/python -m pip install -q -r scripts/requirements-bench.txt
mkdir -p var/stamps && echo "$want" > "$stamp"
