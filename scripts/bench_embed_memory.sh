#!/usr/bin/env bash
# Embedder peak memory by batch size and precision, worst case: every batch at the 256-token cap.
#
# Takes the 128 dev tickets with the longest subject + body (each well over 256 tokens, so every
# batch is [batch, 256], like the worst batch of a pipeline shard) and runs `ticketflow embed`
# on them with 1 thread under /usr/bin/time, for each batch size and precision. Peak RSS is the
# kernel's maximum resident set size of the process (model, ONNX Runtime, activations).
#
#   scripts/bench_embed_memory.sh          -> var/bench/embed_memory.json
#   BATCH_SIZES="8 16 32 64" PRECISIONS="fp32 int8" scripts/bench_embed_memory.sh
# shellcheck source=bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh" bench-embed-memory data
WORK="$OUT/embed_memory"
need_time
mkdir -p "$WORK"

python3 - "$DATA" "$WORK/longest.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
rows.sort(key=lambda r: -(len(r.get("subject") or "") + len(r.get("body") or "")))
with open(sys.argv[2], "w", newline="", encoding="utf-8") as g:
    w = csv.DictWriter(g, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows[:128])
PY

: >"$WORK/results.txt"
for p in ${PRECISIONS:-fp32 int8}; do
  for b in ${BATCH_SIZES:-8 16 32 64}; do
    /usr/bin/time -f "%M %e" -o "$WORK/time.txt" "$BIN" embed -i "$WORK/longest.csv" \
      -o "$WORK/out.npy" --threads 1 --batch-size "$b" --precision "$p" >/dev/null 2>&1
    read -r kb secs <"$WORK/time.txt"
    echo "$p $b $kb $secs" >>"$WORK/results.txt"
    echo "precision $p, batch $b: peak RSS $((kb / 1024)) MB (${secs}s)"
  done
done

python3 - "$WORK/results.txt" "$OUT/embed_memory.json" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
res = {
    "input": "the 128 longest dev tickets (every batch at 256 tokens), 1 thread",
    "peak_rss_mb": {},
}
for p, b, kb, secs in rows:
    res["peak_rss_mb"].setdefault(p, {})[b] = round(int(kb) / 1024, 1)
open(sys.argv[2], "w").write(json.dumps(res, indent=2) + "\n")
print(json.dumps(res, indent=2))
PY
