#!/usr/bin/env bash
# make demo: start the local stack, run the main job on the embedded default (our own synthetic
# tickets, or INPUT=path), print where everything went, stop what was started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source var/env
BIN=target/release/ticketflow
ROWS="${DEMO_ROWS:-2000}"
SEED="${DEMO_SEED:-42}"
INPUT="${INPUT:-}"

trap 'scripts/stack.sh down' EXIT
scripts/stack.sh up
export NATS_URL="nats://127.0.0.1:${NATS_PORT:-4222}"
export TICKETFLOW_CHROMA_URL="http://127.0.0.1:${CHROMA_PORT:-8000}"
export TICKETFLOW_STORE="${TICKETFLOW_STORE:-file://$PWD/var/store}"
export RUST_LOG="${RUST_LOG:-warn}"

if [ -z "$INPUT" ]; then
  mkdir -p var/demo
  INPUT=var/demo/tickets.csv
  "$BIN" generate --rows "$ROWS" --seed "$SEED" --output "$INPUT"
fi
echo "== ticketflow run --input $INPUT --wait"
"$BIN" run --input "$INPUT" --wait
echo
echo "== ticketflow search \"VPN connection drops after the update\" -k 3"
"$BIN" search "VPN connection drops after the update" -k 3
echo
echo "== ticketflow predict on tickets the model never saw (var/demo/new.csv)"
"$BIN" generate --rows 200 --seed $((SEED + 1)) --output var/demo/new.csv >/dev/null
if "$BIN" predict --input var/demo/new.csv --output var/demo/predictions.csv; then
  head -4 var/demo/predictions.csv
else
  echo "(no model passed the quality gate yet, so nothing to predict with)"
fi
echo
echo "Logs of every process: var/stack/logs/. Shards, tensors and results: ${TICKETFLOW_STORE}."
echo "Keep the stack running with scripts/stack.sh up; inspect runs with ticketflow runs list."
