#!/usr/bin/env bash
# The local stack: nats-server (JetStream), Chroma and the workers as separate processes, state
# under var/stack/. Nothing needs Docker.
#
#   scripts/stack.sh up       start everything (idempotent: running pieces are left alone)
#   scripts/stack.sh down     stop everything this script started (SIGTERM, then SIGKILL)
#   scripts/stack.sh status
#
# NATS_CLUSTER=3 runs a 3-node JetStream cluster instead of one server (client ports NATS_PORT,
# +1, +2; monitoring NATS_MONITOR_PORT, +1, +2; routes on NATS_CLUSTER_PORT (6222), +1, +2), and
# the workers get every server in NATS_URL and TICKETFLOW_JETSTREAM_REPLICAS=3 (override it to
# try another count). $STACK_DIR/nats.env says both, for clients (make demo sources it).
#
# Environment: NATS_PORT (4222), NATS_MONITOR_PORT (8222), CHROMA_PORT (8000), EMBEDDERS (2),
# METRICS_PORT_BASE (9464: workers serve /metrics on consecutive ports from here),
# EMBEDDER_THREADS (cores / EMBEDDERS), WORKERS (1; 0 starts no workers), CHROMA (1; 0 skips
# Chroma: e.g. `WORKERS=0 CHROMA=0` is NATS alone, all the coordinator needs),
# TICKETFLOW_STORE (file://var/store). Workers get NATS_URL/TICKETFLOW_CHROMA_URL to match.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
[ -f var/env ] && source var/env

NATS_PORT="${NATS_PORT:-4222}"
NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
CHROMA_PORT="${CHROMA_PORT:-8000}"
EMBEDDERS="${EMBEDDERS:-2}"
WORKERS="${WORKERS:-1}"
CHROMA="${CHROMA:-1}"
METRICS_PORT_BASE="${METRICS_PORT_BASE:-9464}"
# Split the cores between embedder replicas; oversubscribing ONNX Runtime threads costs more
# than it gains.
EMBEDDER_THREADS="${EMBEDDER_THREADS:-$(( $(nproc) / EMBEDDERS > 0 ? $(nproc) / EMBEDDERS : 1 ))}"
STACK="${STACK_DIR:-var/stack}"
# Paths below are "$root/$STACK/...": make an absolute STACK_DIR relative to the checkout.
case "$STACK" in /*) STACK="$(realpath -m --relative-to="$root" "$STACK")" ;; esac
# The binary: TICKETFLOW_BIN, else the newer of the dev build (make demo and make test share it)
# and the release build (make build; the benchmarks set TICKETFLOW_BIN to it).
if [ -n "${TICKETFLOW_BIN:-}" ]; then
  BIN="$TICKETFLOW_BIN"
elif [ "$root/target/release/ticketflow" -nt "$root/target/debug/ticketflow" ]; then
  BIN="$root/target/release/ticketflow"
else
  BIN="$root/target/debug/ticketflow"
fi
NATS_CLUSTER="${NATS_CLUSTER:-1}"
NATS_CLUSTER_PORT="${NATS_CLUSTER_PORT:-6222}"
case "$NATS_CLUSTER" in [1-5]) ;; *) echo "stack: NATS_CLUSTER must be 1 to 5, got $NATS_CLUSTER" >&2; exit 2 ;; esac
NATS_URL=""
for i in $(seq 0 $((NATS_CLUSTER - 1))); do
  NATS_URL="${NATS_URL:+$NATS_URL,}nats://127.0.0.1:$((NATS_PORT + i))"
done
export NATS_URL
export TICKETFLOW_JETSTREAM_REPLICAS="${TICKETFLOW_JETSTREAM_REPLICAS:-$(( NATS_CLUSTER >= 3 ? 3 : NATS_CLUSTER ))}"
export TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT"
export TICKETFLOW_STORE="${TICKETFLOW_STORE:-file://$root/var/store}"
export RUST_LOG="${RUST_LOG:-info,ort=warn}"

PROCS_DIR="$STACK" PROCS_NAME=stack
# shellcheck source=procs.sh
source scripts/procs.sh

# start_nats_cluster: NATS_CLUSTER nodes n1..nN, each with its own ports and store, routes to all.
start_nats_cluster() {
  local i routes=""
  for i in $(seq 0 $((NATS_CLUSTER - 1))); do
    routes="${routes:+$routes, }\"nats://127.0.0.1:$((NATS_CLUSTER_PORT + i))\""
  done
  for i in $(seq 0 $((NATS_CLUSTER - 1))); do
    local name="n$((i + 1))" conf="$root/$STACK/nats-n$((i + 1)).conf"
    cat >"$conf" <<CONF
server_name: $name
listen: "127.0.0.1:$((NATS_PORT + i))"
http: "127.0.0.1:$((NATS_MONITOR_PORT + i))"
jetstream { store_dir: "$root/$STACK/nats-$name" }
cluster { name: ticketflow, listen: "127.0.0.1:$((NATS_CLUSTER_PORT + i))", routes: [$routes] }
CONF
    start "nats-$name" var/bin/nats-server -c "$conf"
  done
  # Healthy once JetStream is current on the node: a meta leader is elected.
  for i in $(seq 0 $((NATS_CLUSTER - 1))); do
    wait_for "nats-n$((i + 1))" "http://127.0.0.1:$((NATS_MONITOR_PORT + i))/healthz" 60
  done
}

up() {
  [ -x "$BIN" ] || { echo "stack: $BIN not built (make build)" >&2; exit 1; }
  if [ "$NATS_CLUSTER" = 1 ]; then
    start nats var/bin/nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
      -sd "$root/$STACK/nats"
  fi
  if [ "$CHROMA" != 0 ]; then
    start chroma var/bin/chroma run --path "$root/$STACK/chroma" --host 127.0.0.1 --port "$CHROMA_PORT"
  fi
  if [ "$NATS_CLUSTER" = 1 ]; then
    wait_for nats "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" 30
  else
    start_nats_cluster
  fi
  printf 'NATS_URL=%s\nTICKETFLOW_JETSTREAM_REPLICAS=%s\n' "$NATS_URL" "$TICKETFLOW_JETSTREAM_REPLICAS" >"$STACK/nats.env"
  if [ "$CHROMA" != 0 ]; then wait_for chroma "http://127.0.0.1:$CHROMA_PORT/api/v2/heartbeat" 60; fi
  if [ "$WORKERS" = 0 ]; then
    echo "stack up: NATS $NATS_URL, Chroma $([ "$CHROMA" != 0 ] && echo "$TICKETFLOW_CHROMA_URL" || echo off), store $TICKETFLOW_STORE, no workers"
    return
  fi
  local port=$METRICS_PORT_BASE
  : >"$STACK/metrics-targets"
  worker() { # NAME STAGE ARGS...
    local name=$1 stage=$2; shift 2
    TICKETFLOW_METRICS_ADDR="127.0.0.1:$port" start "$name" "$BIN" worker "$stage" "$@"
    echo "$stage 127.0.0.1:$port" >>"$STACK/metrics-targets"
    port=$((port + 1))
  }
  worker cleaner cleaner
  for i in $(seq 1 "$EMBEDDERS"); do worker "embedder-$i" embedder --threads "$EMBEDDER_THREADS"; done
  worker indexer indexer
  worker trainer trainer
  sleep 0.5
  for f in "$STACK"/pids/*.pid; do
    name=$(basename "$f" .pid)
    alive "$name" || { echo "stack: $name exited at start; log:" >&2; tail -20 "$STACK/logs/$name.log" >&2; exit 1; }
  done
  echo "stack up: NATS $NATS_URL, Chroma $TICKETFLOW_CHROMA_URL, store $TICKETFLOW_STORE, workers: cleaner, ${EMBEDDERS}x embedder, indexer, trainer (logs in $STACK/logs)"
}

down() {
  # Workers first (they drain on SIGTERM), then the servers.
  for group in "cleaner embedder-* indexer trainer" "chroma nats nats-n*"; do
    pids=()
    for pattern in $group; do
      for f in "$STACK"/pids/$pattern.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$f"
      done
    done
    for pid in "${pids[@]}"; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  echo "stack down"
}

procs_main "$@"
