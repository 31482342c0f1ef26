# Background processes for the local launchers (scripts/stack.sh, scripts/monitoring.sh), sourced
# by both. The caller sets PROCS_DIR (pid files in $PROCS_DIR/pids, logs in $PROCS_DIR/logs) and
# PROCS_NAME (the prefix of error messages).

mkdir -p "$PROCS_DIR/pids" "$PROCS_DIR/logs"

# alive NAME: the process started as NAME is still running.
alive() { [ -f "$PROCS_DIR/pids/$1.pid" ] && kill -0 "$(cat "$PROCS_DIR/pids/$1.pid")" 2>/dev/null; }

# start NAME CMD...: run CMD in the background with its log, unless NAME is already running.
start() {
  local name=$1; shift
  if alive "$name"; then return; fi
  nohup "$@" >"$PROCS_DIR/logs/$name.log" 2>&1 &
  echo $! >"$PROCS_DIR/pids/$name.pid"
}

# wait_for NAME URL SECONDS: until URL answers 2xx; fails with NAME's log when NAME died or the
# time is up.
wait_for() {
  local name=$1 url=$2 deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ] || ! alive "$name"; then
      echo "$PROCS_NAME: $name did not come up; log: $PROCS_DIR/logs/$name.log" >&2
      tail -20 "$PROCS_DIR/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# status: one line per process this launcher started.
status() {
  local f name
  for f in "$PROCS_DIR"/pids/*.pid; do
    [ -f "$f" ] || { echo "nothing running"; return; }
    name=$(basename "$f" .pid)
    if alive "$name"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: dead"; fi
  done
}

# procs_main "$@": the launchers' command line, `up`, `down` or `status` (the caller defines
# up and down).
procs_main() {
  case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
  esac
}
