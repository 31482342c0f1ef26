#!/usr/bin/env bash
# make bench-pipeline: end-to-end tickets/s through NATS/Chroma/object store with 1 and 2
# embedder replicas, against `ticketflow embed` alone on the same rows, in the same run.
#
# Every configuration starts from empty state (fresh NATS store, Chroma directory and object
# store) and is timed from the coordinator's start until the trainer has recorded the result
# (`ticketflow run --wait`). `embed` is timed as a whole command too (model load included), so
# the ratio is queue + storage + indexing overhead over the embedding work.
#
#   ROWS=1000 SHARD_SIZE=500 make bench-pipeline      -> var/bench/pipeline.json (500: the coordinator's default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source var/env
BIN="$PWD/target/release/ticketflow"
ROWS="${ROWS:-1000}"
SHARD_SIZE="${SHARD_SIZE:-500}"
DATA="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
OUT=var/bench
mkdir -p "$OUT"
if [ ! -f "$DATA" ]; then echo "bench-pipeline: $DATA not found" >&2; exit 1; fi

# The first ROWS tickets, with the csv module so quoted newlines cannot split a row.
INPUT="$OUT/pipeline_input.csv"
.venv/bin/python - "$DATA" "$INPUT" "$ROWS" <<'PY'
import csv, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, newline="", encoding="utf-8") as f, open(dst, "w", newline="", encoding="utf-8") as g:
    r = csv.reader(f); w = csv.writer(g)
    for i, row in enumerate(r):
        if i > n: break
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
  local t
  t=$(now)
  NATS_URL="nats://127.0.0.1:$NATS_PORT" TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT" \
    "$BIN" run --input "$INPUT" --shard-size "$SHARD_SIZE" --wait >"$OUT/pipeline-$n.log" 2>&1
  local s
  s=$(elapsed "$t")
  scripts/stack.sh down >/dev/null
  echo "$s"
}

p1=$(run_config 1); echo "pipeline, 1 embedder: ${p1}s"
p2=$(run_config 2); echo "pipeline, 2 embedders: ${p2}s"

.venv/bin/python - "$ROWS" "$SHARD_SIZE" "$embed_s" "$p1" "$p2" "${OUT_JSON:-$OUT/pipeline.json}" <<'PY'
import json, sys
rows, shard, e, p1, p2, out = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:6]), sys.argv[6]
res = {
    "rows": rows, "shard_size": shard,
    "embed_seconds": round(e, 2), "embed_tickets_per_s": round(rows / e, 1),
    "pipeline_1_embedder_seconds": round(p1, 2), "pipeline_1_embedder_tickets_per_s": round(rows / p1, 1),
    "pipeline_2_embedders_seconds": round(p2, 2), "pipeline_2_embedders_tickets_per_s": round(rows / p2, 1),
    "overhead_1_embedder": round(p1 / e - 1, 3), "overhead_2_embedders": round(p2 / e - 1, 3),
}
open(out, "w").write(json.dumps(res, indent=2))
print(json.dumps(res, indent=2))
PY
