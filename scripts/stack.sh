#!/usr/bin/env bash
# The local stack: nats-server (JetStream), Chroma and the workers as separate processes, state
# under var/stack/. Nothing needs Docker.
#
#   scripts/stack.sh up       start everything (idempotent: running pieces are left alone)
#   scripts/stack.sh down     stop everything this script started (SIGTERM, then SIGKILL)
#   scripts/stack.sh status
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
BIN="${TICKETFLOW_BIN:-$root/target/release/ticketflow}"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"
export TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT"
export TICKETFLOW_STORE="${TICKETFLOW_STORE:-file://$root/var/store}"
export RUST_LOG="${RUST_LOG:-info,ort=warn}"

PROCS_DIR="$STACK" PROCS_NAME=stack
# shellcheck source=procs.sh
source scripts/procs.sh

up() {
  [ -x "$BIN" ] || { echo "stack: $BIN not built (make build)" >&2; exit 1; }
  start nats var/bin/nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -sd "$root/$STACK/nats"
  if [ "$CHROMA" != 0 ]; then
    start chroma var/bin/chroma run --path "$root/$STACK/chroma" --host 127.0.0.1 --port "$CHROMA_PORT"
  fi
  wait_for nats "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" 30
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
  for group in "cleaner embedder-* indexer trainer" "chroma nats"; do
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
