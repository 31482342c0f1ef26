# The shared start of the bench scripts: `source .../bench_env.sh NAME [data]`. Strict mode, the
# checkout as working directory, BENCH=NAME (named in messages); with `data`, the dev file
# must exist. Sets BIN (the release binary, which must be built: `make build`), DATA (the
# dev file, TICKETFLOW_DEV_DATA to override) and OUT (var/bench, created).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BENCH="$1"
# shellcheck source=/dev/null
source var/env
BIN="$PWD/target/release/ticketflow"
# scripts/stack.sh starts the workers from it too, whatever build is newer.
export TICKETFLOW_BIN="${TICKETFLOW_BIN:-$BIN}"
DATA="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
OUT=var/bench
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "$BENCH: $BIN not built (make build)" >&2; exit 1; }

# need_data: fail unless the dev file is there.
need_data() {
  [ -f "$DATA" ] || { echo "$BENCH: $DATA not found (it lives in ../shared/data beside the checkout)" >&2; exit 1; }
}

# need_time: GNU time (peak RSS), installed by scripts/setup-bench.sh when missing.
need_time() {
  /usr/bin/time -v true >/dev/null 2>&1 || scripts/setup-bench.sh time
}

# fresh_dir DIR: DIR, emptied.
fresh_dir() {
  rm -rf "$1"
  mkdir -p "$1"
}

if [ "${2:-}" = data ]; then
  need_data
fi
