#!/usr/bin/env bash
# make bench-pipeline: end-to-end tickets/s through NATS/Chroma/object store with 1 and 2
# embedder replicas, against `ticketflow embed` alone on the same rows, in the same run.
#
# Every configuration starts from empty state (fresh NATS store, Chroma directory and object
# store). Two times per run, both from the coordinator's start:
#   ingest  until the last shard is indexed (the coordinator's queueing time, stamped when it
#           prints "queued", plus the run's wall_seconds in result.json: queued -> last shard
#           indexed). This is the same work as `embed` plus every queue, store and Chroma hop.
#   total   until the trainer has recorded the result (`ticketflow run --wait` returns), which
#           adds training, the drift report and the profile: work `embed` does not do.
# `embed` is timed as a whole command (model load included; the workers load theirs before the
# clock starts), so ingest / embed - 1 is the pipeline's overhead.
#
#   ROWS=all SHARD_SIZE=500 make bench-pipeline      -> var/bench/pipeline.json
#   (ROWS=all: the whole dev file, 3,553 tickets; 500: the coordinator's default shard size)
# shellcheck source=bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh" bench-pipeline data
ROWS="${ROWS:-all}"
SHARD_SIZE="${SHARD_SIZE:-500}"

# The first ROWS tickets, with the csv module so quoted newlines cannot split a row.
INPUT="$OUT/pipeline_input.csv"
.venv/bin/python - "$DATA" "$INPUT" "$ROWS" <<'PY'
import csv, sys
src, dst, n = sys.argv[1], sys.argv[2], (-1 if sys.argv[3] == "all" else int(sys.argv[3]))
with open(src, newline="", encoding="utf-8") as f, open(dst, "w", newline="", encoding="utf-8") as g:
    r = csv.reader(f); w = csv.writer(g)
    for i, row in enumerate(r):
        if n >= 0 and i > n: break
        w.writerow(row)
PY

now() { echo "$EPOCHREALTIME"; }
elapsed() { python3 -c "print(round($(now) - $1, 3))"; }

t0=$(now)
"$BIN" embed --input "$INPUT" --output "$OUT/pipeline_embed.npy" --threads "$(nproc)" >/dev/null 2>&1
embed_s=$(elapsed "$t0")
echo "embed alone: ${embed_s}s"

run_config() { # EMBEDDERS
  local n=$1 dir="$OUT/pipeline-stack-$1"
  rm -rf "$dir" "$OUT/pipeline-store-$1"
  export STACK_DIR="$dir" EMBEDDERS="$n" NATS_PORT=$((24222 + n)) NATS_MONITOR_PORT=$((28222 + n)) CHROMA_PORT=$((28000 + n))
  export TICKETFLOW_STORE="file://$PWD/$OUT/pipeline-store-$n" RUST_LOG=warn
  scripts/stack.sh up >/dev/null
  local t queued=""
  t=$(now)
  # Stamp the moment the coordinator has queued the run (its first line of output).
  while IFS= read -r line; do
    echo "$line" >>"$OUT/pipeline-$n.log"
    if [ -z "$queued" ] && [[ "$line" == *" queued: "* ]]; then queued=$(now); fi
  done < <(NATS_URL="nats://127.0.0.1:$NATS_PORT" TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT" \
    "$BIN" run --input "$INPUT" --shard-size "$SHARD_SIZE" --wait 2>&1)
  local total
  total=$(elapsed "$t")
  scripts/stack.sh down >/dev/null
  local run_id
  run_id=$(sed -n 's/^run \(run-[0-9a-f]*\) queued.*/\1/p' "$OUT/pipeline-$n.log" | head -1)
  local wall
  wall=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['wall_seconds'])" \
    "$OUT/pipeline-store-$n/runs/$run_id/result.json")
  python3 -c "print(round($queued - $t + $wall, 3), $total)"
}

rm -f "$OUT"/pipeline-1.log "$OUT"/pipeline-2.log
read -r i1 p1 < <(run_config 1); echo "pipeline, 1 embedder: ingest ${i1}s, total ${p1}s"
read -r i2 p2 < <(run_config 2); echo "pipeline, 2 embedders: ingest ${i2}s, total ${p2}s"

rows=$(python3 -c "import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline='', encoding='utf-8'))))" "$INPUT")
.venv/bin/python - "$rows" "$SHARD_SIZE" "$embed_s" "$i1" "$p1" "$i2" "$p2" "${OUT_JSON:-$OUT/pipeline.json}" <<'PY'
import json, sys
rows, shard = int(sys.argv[1]), int(sys.argv[2])
e, i1, p1, i2, p2 = map(float, sys.argv[3:8])
out = sys.argv[8]
res = {"rows": rows, "shard_size": shard,
       "embed_seconds": round(e, 2), "embed_tickets_per_s": round(rows / e, 1)}
for name, ingest, total in (("1_embedder", i1, p1), ("2_embedders", i2, p2)):
    res[f"pipeline_{name}"] = {
        "ingest_seconds": round(ingest, 2), "ingest_tickets_per_s": round(rows / ingest, 1),
        "ingest_overhead": round(ingest / e - 1, 3),
        "total_seconds": round(total, 2), "total_tickets_per_s": round(rows / total, 1),
        "total_over_embed": round(total / e - 1, 3),
    }
open(out, "w").write(json.dumps(res, indent=2))
print(json.dumps(res, indent=2))
PY
