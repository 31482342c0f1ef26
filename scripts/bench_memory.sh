#!/usr/bin/env bash
# make bench-memory: peak resident memory of every process of a full pipeline run on the dev file.
#
# It starts the local stack (scripts/stack.sh: NATS, Chroma, cleaner, EMBEDDERS embedders,
# indexer, trainer) on empty state, runs `ticketflow run --wait` on the whole dev file under
# /usr/bin/time -v (the coordinator's peak RSS, following included), and right before the stack
# goes down reads each process's VmHWM (peak RSS since it started) from /proc/<pid>/status, pids
# from the stack's pid files. A sampler also records RssAnon/RssFile every 0.2 s during the run,
# to tell heap (ONNX Runtime arena, tensors) from mapped files (libonnxruntime.so, the model).
#
#   make bench-memory                                         -> var/bench/memory.json
#   EMBEDDERS=1 TICKETFLOW_BATCH_SIZE=16 SHARD_SIZE=100 OUT_JSON=var/bench/memory-b16.json \
#     scripts/bench_memory.sh
#
# Knobs (all recorded in the JSON): SHARD_SIZE (500, the coordinator's default), EMBEDDERS (2, as
# the stack), EMBEDDER_THREADS (cores / EMBEDDERS), TICKETFLOW_BATCH_SIZE (16, the default),
# TICKETFLOW_PRECISION (fp32). EMBEDDER_TARGET_MB (400) is the budget the embedder is checked
# against.
# shellcheck source=bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh" bench-memory data
SHARD_SIZE="${SHARD_SIZE:-500}"
export EMBEDDERS="${EMBEDDERS:-2}"
export EMBEDDER_THREADS="${EMBEDDER_THREADS:-$(( $(nproc) / EMBEDDERS > 0 ? $(nproc) / EMBEDDERS : 1 ))}"
export TICKETFLOW_BATCH_SIZE="${TICKETFLOW_BATCH_SIZE:-16}"
export TICKETFLOW_PRECISION="${TICKETFLOW_PRECISION:-fp32}"
TARGET_MB="${EMBEDDER_TARGET_MB:-400}"
OUT_JSON="${OUT_JSON:-$OUT/memory.json}"
WORK="$OUT/memory"
need_time
fresh_dir "$WORK"
# Own ports, so a running demo stack or another benchmark is not disturbed.
export STACK_DIR="$WORK/stack" TICKETFLOW_STORE="file://$PWD/$WORK/store"
export NATS_PORT="${BENCH_NATS_PORT:-25422}" NATS_MONITOR_PORT="${BENCH_NATS_MONITOR_PORT:-29422}"
export CHROMA_PORT="${BENCH_CHROMA_PORT:-28422}" METRICS_PORT_BASE="${BENCH_METRICS_PORT_BASE:-29464}"
export NATS_URL="nats://127.0.0.1:$NATS_PORT" TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT"
export RUST_LOG="${RUST_LOG:-warn}"

sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  scripts/stack.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/stack.sh up >/dev/null

# The sampler: "t name VmRSS RssAnon RssFile" (kB) for every stack process, every 0.2 s.
(
  while :; do
    t=$EPOCHREALTIME
    for f in "$STACK_DIR"/pids/*.pid; do
      name=$(basename "$f" .pid)
      awk -v t="$t" -v n="$name" '/^(VmRSS|RssAnon|RssFile):/ {v[$1]=$2}
        END {if ("VmRSS:" in v) print t, n, v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' \
        "/proc/$(cat "$f")/status" 2>/dev/null || true
    done
    sleep 0.2
  done
) >"$WORK/samples.txt" &
sampler=$!

t0=$EPOCHREALTIME
/usr/bin/time -v -o "$WORK/coordinator.time" \
  "$BIN" run --input "$DATA" --shard-size "$SHARD_SIZE" --wait >"$WORK/run.log" 2>&1 \
  || { echo "bench-memory: the run failed; log:" >&2; tail -30 "$WORK/run.log" >&2; exit 1; }
seconds=$(python3 -c "print(round($EPOCHREALTIME - $t0, 2))")
kill "$sampler" 2>/dev/null || true
sampler=""

# Right before shutdown: VmHWM of each process (and of its children: the PyPI nats-server and
# chroma entry points may run the server as a child).
for f in "$STACK_DIR"/pids/*.pid; do
  name=$(basename "$f" .pid)
  echo "$name $(cat "$f")"
done >"$WORK/pids.txt"
python3 - "$WORK/pids.txt" >"$WORK/hwm.json" <<'PY'
import json, os, sys

def status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out

children = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(p))

def tree(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    return seen

res = {}
for line in open(sys.argv[1]):
    name, pid = line.split()
    pid = int(pid)
    own = status(pid)
    res[name] = {
        "pid": pid,
        "vmhwm_kb": own.get("VmHWM"),
        "vmrss_kb": own.get("VmRSS"),
        "rss_anon_kb": own.get("RssAnon"),
        "rss_file_kb": own.get("RssFile"),
        "threads": own.get("Threads"),
        "tree_vmhwm_kb": sum(status(p).get("VmHWM", 0) for p in tree(pid)),
        "tree_processes": len(tree(pid)),
    }
print(json.dumps(res))
PY

# Busy time per stage from every worker's /metrics (ticketflow_stage_duration_seconds sum and
# ticketflow_tickets_processed_total): per-core stage rates for docs/capacity.md.
python3 - "$STACK_DIR/metrics-targets" >"$WORK/stages.json" <<'PY'
import json, re, sys, urllib.request
busy, tickets = {}, {}
for line in open(sys.argv[1]):
    stage, addr = line.split()
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    for name, into in (("ticketflow_stage_duration_seconds_sum", busy), ("ticketflow_tickets_processed_total", tickets)):
        for m in re.finditer(rf'^{name}\{{stage="(\w+)"\}} ([0-9.e+-]+)$', text, re.M):
            into[m.group(1)] = into.get(m.group(1), 0.0) + float(m.group(2))
print(json.dumps({st: {"busy_seconds": round(busy[st], 3), "tickets": int(tickets.get(st, 0)),
                       "tickets_per_busy_second": round(tickets.get(st, 0) / busy[st], 1) if busy[st] else None}
                  for st in sorted(busy)}))
PY

scripts/stack.sh down >/dev/null
trap - EXIT

python3 - "$WORK" "$OUT_JSON" "$DATA" "$SHARD_SIZE" "$seconds" "$TARGET_MB" <<'PY'
import json, os, re, sys
work, out, data, shard_size, seconds, target = sys.argv[1:7]
hwm = json.load(open(f"{work}/hwm.json"))
mb = lambda kb: round(kb / 1024, 1) if kb is not None else None

peaks = {}
for line in open(f"{work}/samples.txt"):
    parts = line.split()
    if len(parts) != 5:
        continue
    _, name, rss, anon, file_ = parts
    p = peaks.setdefault(name, {"rss": 0, "anon": 0, "file": 0})
    p["rss"], p["anon"], p["file"] = max(p["rss"], int(rss)), max(p["anon"], int(anon or 0)), max(p["file"], int(file_ or 0))

tv = open(f"{work}/coordinator.time").read()
coord_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1))
run_log = open(f"{work}/run.log").read()
m = re.search(r"queued: (\d+) tickets in (\d+) shards", run_log)

def role(name):
    return re.sub(r"-\d+$", "", name)

processes = {}
for name, h in sorted(hwm.items()):
    processes[name] = {
        "role": role(name),
        "pid": h["pid"],
        "peak_rss_mb": mb(h["vmhwm_kb"]),
        "rss_at_end_mb": mb(h["vmrss_kb"]),
        "sampled_peak_rss_anon_mb": mb(peaks.get(name, {}).get("anon")),
        "sampled_peak_rss_file_mb": mb(peaks.get(name, {}).get("file")),
        "threads": h["threads"],
    }
    if h["tree_processes"] > 1:
        processes[name]["process_tree_peak_rss_sum_mb"] = mb(h["tree_vmhwm_kb"])

roles = {}
for p in processes.values():
    roles[p["role"]] = max(roles.get(p["role"], 0), p["peak_rss_mb"] or 0)
roles["coordinator"] = mb(coord_kb)
embedder = roles.get("embedder")
res = {
    "input": os.path.basename(data),
    "tickets": int(m.group(1)) if m else None,
    "shards": int(m.group(2)) if m else None,
    "knobs": {
        "shard_size": int(shard_size),
        "embedders": int(os.environ["EMBEDDERS"]),
        "embedder_threads": int(os.environ["EMBEDDER_THREADS"]),
        "batch_size": int(os.environ["TICKETFLOW_BATCH_SIZE"]),
        "precision": os.environ["TICKETFLOW_PRECISION"],
    },
    "pipeline_seconds": float(seconds),
    "peak_rss_mb_by_role": roles,
    "embedder_target_mb": float(target),
    "embedder_within_target": embedder is not None and embedder <= float(target),
    "coordinator_peak_rss_mb": mb(coord_kb),
    "processes": processes,
    "stages": json.load(open(f"{work}/stages.json")),
    "method": "VmHWM from /proc/<pid>/status right before shutdown (pids from the stack's pid "
              "files); coordinator from /usr/bin/time -v (run --wait); RssAnon/RssFile are the "
              "maxima of 0.2 s samples",
}
open(out, "w").write(json.dumps(res, indent=2) + "\n")
print(json.dumps(res, indent=2))
PY
