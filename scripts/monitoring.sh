#!/usr/bin/env bash
# Local monitoring from the shipped config: Prometheus (monitoring/prometheus/ with its rules),
# a Pushgateway and node-exporter, all Debian binaries installed by `make setup`.
#
#   scripts/monitoring.sh up       start (idempotent), print the URLs
#   scripts/monitoring.sh down     stop what this script started
#   scripts/monitoring.sh status
#
# The shipped prometheus.yml is copied to $MONITORING_DIR/config with only the deployment
# specifics changed: the file_sd target files list this host's workers (from $TARGETS_FILE,
# lines of "stage host:port" that scripts/stack.sh writes) and Pushgateway, node-exporter and
# Prometheus itself point at loopback ports. The NATS exporter and cAdvisor targets stay as
# shipped (compose hostnames) and show as down here: neither runs outside containers.
#
# Environment: MONITORING_DIR (var/monitoring), PROMETHEUS_PORT (9090), PUSHGATEWAY_PORT (9091),
# NODE_EXPORTER_PORT (9100), TARGETS_FILE (var/stack/metrics-targets), SCRAPE_INTERVAL (shipped
# value; tests use 1s so a short run has enough samples).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

DIR="${MONITORING_DIR:-var/monitoring}"
case "$DIR" in /*) ;; *) DIR="$root/$DIR" ;; esac
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
PUSHGATEWAY_PORT="${PUSHGATEWAY_PORT:-9091}"
NODE_EXPORTER_PORT="${NODE_EXPORTER_PORT:-9100}"
TARGETS_FILE="${TARGETS_FILE:-var/stack/metrics-targets}"
SCRAPE_INTERVAL="${SCRAPE_INTERVAL:-}"

PROCS_DIR="$DIR" PROCS_NAME=monitoring
# shellcheck source=procs.sh
source scripts/procs.sh

write_config() {
  local cfg="$DIR/config"
  rm -rf "$cfg"
  cp -r monitoring/prometheus "$cfg"
  sed -i \
    -e "s|\"node-exporter:9100\"|\"127.0.0.1:$NODE_EXPORTER_PORT\"|" \
    -e "s|\"localhost:9090\"|\"127.0.0.1:$PROMETHEUS_PORT\"|" \
    "$cfg/prometheus.yml"
  if [ -n "$SCRAPE_INTERVAL" ]; then
    sed -i -E "s/^(  (scrape|evaluation)_interval:).*/\1 $SCRAPE_INTERVAL/" "$cfg/prometheus.yml"
  fi
  {
    echo "# written by scripts/monitoring.sh from $TARGETS_FILE"
    if [ -f "$TARGETS_FILE" ]; then
      while read -r stage addr; do
        [ -n "$addr" ] || continue
        printf -- '- targets: ["%s"]\n  labels:\n    stage: %s\n' "$addr" "$stage"
      done <"$TARGETS_FILE"
    fi
  } >"$cfg/targets/ticketflow.yml"
  grep -q targets "$cfg/targets/ticketflow.yml" || echo "[]" >>"$cfg/targets/ticketflow.yml"
  printf -- '- targets: ["127.0.0.1:%s"]\n' "$PUSHGATEWAY_PORT" >"$cfg/targets/pushgateway.yml"
}

up() {
  for bin in prometheus prometheus-pushgateway prometheus-node-exporter; do
    command -v "$bin" >/dev/null || { echo "monitoring: $bin missing (make setup installs it)" >&2; exit 1; }
  done
  write_config
  # Debian's default persistence file is shared by every Pushgateway on the host; keep ours apart.
  start pushgateway prometheus-pushgateway --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT" \
    --persistence.file="$DIR/pushgateway.data"
  start node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$NODE_EXPORTER_PORT"
  start prometheus prometheus --config.file="$DIR/config/prometheus.yml" \
    --storage.tsdb.path="$DIR/data" --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle
  wait_for pushgateway "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready" 30
  wait_for node-exporter "http://127.0.0.1:$NODE_EXPORTER_PORT/metrics" 30
  wait_for prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 60
  echo "Prometheus:  http://127.0.0.1:$PROMETHEUS_PORT (alerts: /alerts, targets: /targets)"
  echo "Pushgateway: http://127.0.0.1:$PUSHGATEWAY_PORT"
}

down() {
  local f pid
  for f in "$DIR"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); rm -f "$f"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

procs_main "$@"
