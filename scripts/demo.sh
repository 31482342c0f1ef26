#!/usr/bin/env bash
# make demo: start the local stack, run the main job on the embedded default (our own synthetic
# tickets, or INPUT=path), print where everything went, stop what was started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source var/env
# The dev build, which `make test` shares: the demo's work is ONNX Runtime and dependencies
# built at opt-level 2, so it runs as fast as the release build (27 s either way).
BIN="${TICKETFLOW_BIN:-target/debug/ticketflow}"
export TICKETFLOW_BIN="$BIN"
ROWS="${DEMO_ROWS:-2000}"
SEED="${DEMO_SEED:-42}"
INPUT="${INPUT:-}"
# PROMETHEUS=1: also start Prometheus (shipped config and alert rules), a Pushgateway and
# node-exporter; the trainer and the coordinator push their run metrics there.
PROMETHEUS="${PROMETHEUS:-0}"
PROM_URL="http://127.0.0.1:${PROMETHEUS_PORT:-9090}"

stop_all() {
  if [ "${KEEP_RUNNING:-0}" = 1 ]; then
    echo "KEEP_RUNNING=1: stop with scripts/stack.sh down; scripts/monitoring.sh down"; return
  fi
  [ "$PROMETHEUS" = 1 ] && scripts/monitoring.sh down
  scripts/stack.sh down
}
trap stop_all EXIT
# Models, `latest` and the drift reference are kept per data set. Our synthetic tickets go to the
# data set `demo` and the Chroma collection `tickets_demo`, so they never become the model, the
# drift reference or the search results of your own data (INPUT=..., data set `default` and
# collection `tickets` unless DATASET / TICKETFLOW_CHROMA_COLLECTION say otherwise).
if [ -z "$INPUT" ]; then
  export TICKETFLOW_DATASET="${DATASET:-demo}"
  export TICKETFLOW_CHROMA_COLLECTION="${TICKETFLOW_CHROMA_COLLECTION:-tickets_demo}"
else
  export TICKETFLOW_DATASET="${DATASET:-default}"
fi
if [ "$PROMETHEUS" = 1 ]; then
  export TICKETFLOW_PUSHGATEWAY_URL="http://127.0.0.1:${PUSHGATEWAY_PORT:-9091}"
fi
scripts/stack.sh up
if [ "$PROMETHEUS" = 1 ]; then
  SCRAPE_INTERVAL="${SCRAPE_INTERVAL:-5s}" scripts/monitoring.sh up
fi
# The servers and replicas the stack started (NATS_CLUSTER=3 make demo runs a 3-node cluster).
set -a
# shellcheck source=/dev/null
source "${STACK_DIR:-var/stack}/nats.env"
set +a
export TICKETFLOW_CHROMA_URL="http://127.0.0.1:${CHROMA_PORT:-8000}"
export TICKETFLOW_STORE="${TICKETFLOW_STORE:-file://$PWD/var/store}"
export RUST_LOG="${RUST_LOG:-warn}"

mkdir -p var/demo
if [ -z "$INPUT" ]; then
  INPUT=var/demo/tickets.csv
  "$BIN" generate --rows "$ROWS" --seed "$SEED" --output "$INPUT"
  # Tickets the model never saw: 200 more from the same generator, another seed.
  "$BIN" generate --rows 200 --seed $((SEED + 1)) --output var/demo/new.csv >/dev/null
  UNSEEN=(--input var/demo/new.csv)
  UNSEEN_WHAT="200 new tickets (var/demo/new.csv)"
else
  # Tickets the model never saw, from your own source: the input less the model's training
  # tickets (the id-hash held-out part), which --unseen-only leaves out by id.
  UNSEEN=(--input "$INPUT" --unseen-only)
  UNSEEN_WHAT="$INPUT, less the tickets the model trained on"
fi
echo "== ticketflow run --input $INPUT --dataset $TICKETFLOW_DATASET --wait"
"$BIN" run --input "$INPUT" --wait | tee var/demo/run.txt
echo
echo "== ticketflow search \"VPN connection drops after the update\" -k 3"
"$BIN" search "VPN connection drops after the update" -k 3
echo
echo "== ticketflow predict --dataset $TICKETFLOW_DATASET on tickets the model never saw: $UNSEEN_WHAT"
if "$BIN" predict "${UNSEEN[@]}" --output var/demo/predictions.csv; then
  head -4 var/demo/predictions.csv
else
  echo "(no model passed the quality gate yet, so nothing to predict with)"
fi
if [ "$PROMETHEUS" = 1 ]; then
  echo
  echo "== Prometheus: every shipped Grafana panel's query, against this run"
  # Wait for a scrape after the trainer's push, then a little more for rate() windows.
  for _ in $(seq 1 30); do
    curl -fsS "$PROM_URL/api/v1/query?query=ticketflow_run_tickets" | grep -q '"value"' && break
    sleep 1
  done
  sleep 10
  scripts/check_dashboards.py --prometheus "$PROM_URL" || true
  if grep -q "already exists" var/demo/run.txt; then
    echo "(this input was processed by an earlier demo, so nothing new ran: panels about work"
    echo " done show no data; use another DEMO_SEED or INPUT to see a fresh run)"
  fi
  echo "Prometheus: $PROM_URL  Pushgateway: $TICKETFLOW_PUSHGATEWAY_URL  (KEEP_RUNNING=1 keeps them up)"
fi
echo
echo "Logs of every process: var/stack/logs/. Shards, tensors and results: ${TICKETFLOW_STORE}."
echo "Keep the stack running with scripts/stack.sh up; inspect runs with ticketflow runs list."
