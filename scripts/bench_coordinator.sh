#!/usr/bin/env bash
# make bench-coordinator: what the coordinator costs to shard and queue a large input, and
# whether its memory stays flat as the input grows.
#
# For each size in ROWS (100k, 1M and 10M by default, in the same run) it generates synthetic
# tickets with `ticketflow generate`, starts NATS alone (scripts/stack.sh with WORKERS=0 CHROMA=0:
# the coordinator needs neither workers nor Chroma, and no worker may take shards while it runs) on
# empty state, and times `ticketflow run --input FILE --shard-size SHARD_SIZE` (no --wait: it
# shards, writes the shard files to a file:// store under var/bench, publishes one task per shard
# and exits) under /usr/bin/time -v for wall time, CPU time and peak RSS. The coordinator reads its
# input twice (the first read sorts the ticket ids to find repeats in bounded memory); its log
# line "duplicate ids checked" gives that read's time and the sorted runs it spilled to disk.
#
#   make bench-coordinator                       -> var/bench/coordinator.json
#   ROWS="1000000 10000000" SHARD_SIZE=500 KEEP=1 scripts/bench_coordinator.sh
#
# Disk: about 560 bytes per row of the largest size (the CSV input, 236 bytes a row, and the
# shard files, 325), checked before starting. Each size's input and store are deleted once it is
# measured unless KEEP=1.
# shellcheck source=bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh" bench-coordinator
ROWS="${ROWS:-100000 1000000 10000000}"
SHARD_SIZE="${SHARD_SIZE:-500}"
SEED="${SEED:-42}"
WORK="$OUT/coordinator"
need_time
fresh_dir "$WORK"
# Own ports, so a running demo stack or bench-pipeline is not disturbed.
export NATS_PORT="${BENCH_NATS_PORT:-25322}" NATS_MONITOR_PORT="${BENCH_NATS_MONITOR_PORT:-29322}"
# Info from the coordinator only: its "duplicate ids checked" line is read below.
export WORKERS=0 CHROMA=0 RUST_LOG="${RUST_LOG:-warn,ticketflow_coordinator=info}"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"

cleanup() {
  for d in "$WORK"/stack-*; do
    [ -d "$d" ] && STACK_DIR="$d" scripts/stack.sh down >/dev/null 2>&1 || true
  done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"/tickets-*.csv "$WORK"/store-* "$WORK"/stack-*; fi
}
trap cleanup EXIT

largest=$(tr ' ' '\n' <<<"$ROWS" | sort -n | tail -1)
need_kb=$((largest * 560 / 1024))
avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
  echo "bench-coordinator: $largest rows need about $((need_kb / 1024)) MB free under $WORK; $((avail_kb / 1024)) MB are" >&2
  exit 1
fi

# field NAME FILE: a value from /usr/bin/time -v output.
field() { grep -F "$1" "$2" | sed 's/.*: //'; }

results=()
for n in $ROWS; do
  input="$WORK/tickets-$n.csv"
  /usr/bin/time -v -o "$WORK/generate-$n.time" \
    "$BIN" generate --rows "$n" --seed "$SEED" --output "$input" >/dev/null

  export STACK_DIR="$WORK/stack-$n" TICKETFLOW_STORE="file://$PWD/$WORK/store-$n"
  scripts/stack.sh up >/dev/null
  /usr/bin/time -v -o "$WORK/run-$n.time" \
    "$BIN" run --input "$input" --shard-size "$SHARD_SIZE" >"$WORK/run-$n.log" 2>&1 \
    || { echo "bench-coordinator: run failed; log:" >&2; tail -20 "$WORK/run-$n.log" >&2; exit 1; }
  # The stream as NATS holds it, before the stack goes down.
  raw=$(curl -fsS "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true" | python3 -c '
import json, sys
d = json.load(sys.stdin)
streams = [s for a in d.get("account_details", []) for s in a.get("stream_detail", [])]
print(" ".join("%s=%s" % (s["name"], s["state"]["messages"]) for s in streams))')
  scripts/stack.sh down >/dev/null

  run_id=$(grep -o 'run run-[0-9a-f]*' "$WORK/run-$n.log" | head -1 | cut -d' ' -f2)
  [ -n "$run_id" ] || { echo "bench-coordinator: no run id in $WORK/run-$n.log" >&2; cat "$WORK/run-$n.log" >&2; exit 1; }
  shard_files=$(find "$WORK/store-$n/runs/$run_id" -name '*.jsonl' -path '*raw*' | wc -l)
  results+=("$(printf '%s\t' "$n" "$run_id" "$(stat -c %s "$input")" \
    "$(du -sb "$WORK/store-$n/runs/$run_id" | cut -f1)" "$shard_files" "$raw" \
    "$(field 'Elapsed (wall clock)' "$WORK/run-$n.time")" \
    "$(field 'User time' "$WORK/run-$n.time")" "$(field 'System time' "$WORK/run-$n.time")" \
    "$(field 'Maximum resident set size' "$WORK/run-$n.time")" \
    "$(field 'Elapsed (wall clock)' "$WORK/generate-$n.time")" \
    "$(field 'Maximum resident set size' "$WORK/generate-$n.time")" \
    "$(grep -o 'queued: .*' "$WORK/run-$n.log")" \
    "$(grep -m1 -F 'duplicate ids checked' "$WORK/run-$n.log" || true)")")
  echo "coordinator, $n rows: $(field 'Elapsed (wall clock)' "$WORK/run-$n.time") wall, peak RSS $(field 'Maximum resident set size' "$WORK/run-$n.time") kB"
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$input" "$WORK/store-$n"; fi
done

printf '%s\n' "${results[@]}" >"$WORK/results.tsv"
python3 - "$WORK/results.tsv" "$SHARD_SIZE" "$OUT/coordinator.json" <<'PY'
import json, re, sys
tsv, shard_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def secs(s):  # /usr/bin/time's "h:mm:ss" or "m:ss.ss"
    parts = [float(p) for p in s.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))

runs = []
for line in open(tsv, encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    if len(f) < 13:
        continue
    rows, run_id, in_bytes, out_bytes, shard_files, streams, wall, user, sys_, rss, gwall, grss, queued = f[:13]
    m = re.search(r"queued: (\d+) tickets in (\d+) shards \((\d+) quarantined", queued)
    wall_s = secs(wall)
    # The "duplicate ids checked" log line (JSON or text): the first read of the input.
    checked = f[13] if len(f) > 13 else ""
    def logged(name):
        v = re.search(r'"?%s"?[=:]\s*"?([0-9.]+)' % name, checked)
        if not v:
            return None
        return float(v.group(1)) if "." in v.group(1) else int(v.group(1))
    runs.append({
        "rows": int(rows),
        "run_id": run_id,
        "tickets": int(m.group(1)) if m else None,
        "shards": int(m.group(2)) if m else None,
        "quarantined": int(m.group(3)) if m else None,
        "shard_files": int(shard_files),
        "nats_stream_messages": {k: int(v) for k, v in (kv.split("=") for kv in streams.split())} if streams else {},
        "seconds": round(wall_s, 2),
        "tickets_per_s": round(int(rows) / wall_s, 0) if wall_s else None,
        "cpu_user_seconds": float(user),
        "cpu_system_seconds": float(sys_),
        "peak_rss_mb": round(int(rss) / 1024, 1),
        "peak_rss_bytes_per_ticket": round(int(rss) * 1024 / int(rows), 1),
        "duplicate_check_seconds": None if logged("seconds") is None else round(logged("seconds"), 2),
        "duplicate_check_spilled_runs": logged("spilled_runs"),
        "repeated_ids": logged("repeated_ids"),
        "input_bytes": int(in_bytes),
        "bytes_written": int(out_bytes),
        "generate_seconds": round(secs(gwall), 2),
        "generate_peak_rss_mb": round(int(grss) / 1024, 1),
    })
res = {"shard_size": shard_size, "store": "file:// (fsync per object)", "runs": runs}
if len(runs) >= 2:
    a, b = runs[0], runs[-1]
    # What each extra ticket costs in peak memory: ~0 when the coordinator streams everything.
    res["peak_rss_bytes_per_extra_ticket"] = round(
        (b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 * 1024 / (b["rows"] - a["rows"]), 1)
open(out, "w").write(json.dumps(res, indent=2) + "\n")
print(json.dumps(res, indent=2))
PY
