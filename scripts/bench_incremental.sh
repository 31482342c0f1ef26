#!/usr/bin/env bash
# make bench-incremental: what a daily run over a cumulative export costs on its second day.
#
#   day 1  the dev file (3,553 tickets)
#   day 2  the dev file again plus 500 tickets it does not contain: the multilingual sample's
#          tickets whose subject and body are not in the dev file (150 of them), then
#          generated tickets (`ticketflow generate`) up to 500
#
# Both days run on the same local stack (NATS, Chroma, 2 embedders, a file store), one after the
# other, so the ratios compare like with like on the same machine at the same time. From each
# day's result.json: the embedder's busy time (summed over shards), the ingest wall time (queued
# -> last shard indexed), the whole run (`run --wait`, trainer included), and the Chroma records
# written. Goal: day 2's embedder time at most 15 % of day 1's.
#
#   make bench-incremental            -> var/bench/incremental.json
#   REUSE=false make bench-incremental   the same two days with vector reuse off (the baseline)
# shellcheck source=bench_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_env.sh" bench-incremental data
NEW_FROM="${TICKETFLOW_NEW_DATA:-../shared/data/tickets_multilang_sample.csv}"
[ -f "$NEW_FROM" ] || { echo "$BENCH: $NEW_FROM not found" >&2; exit 1; }
REUSE="${REUSE:-true}"
NEW_ROWS="${NEW_ROWS:-500}"

DAY1="$OUT/incremental_day1.csv"
DAY2="$OUT/incremental_day2.csv"
"$BIN" generate --rows 2000 --seed 20261205 --output "$OUT/incremental_generated.csv" >/dev/null
.venv/bin/python - "$DATA" "$NEW_FROM" "$DAY1" "$DAY2" "$NEW_ROWS" "$OUT/incremental_generated.csv" <<'PY'
import csv, shutil, sys
dev, extra, day1, day2, n, generated = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
shutil.copyfile(dev, day1)
with open(dev, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    header = reader.fieldnames
    rows = list(reader)
seen = {(r["subject"], r["body"]) for r in rows}
new = []
for source in (extra, generated):
    with open(source, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            key = (r.get("subject", ""), r.get("body", ""))
            if key in seen or not r.get("body") or len(new) == n:
                continue
            seen.add(key)
            new.append({k: r.get(k, "") for k in header})
if len(new) < n:
    sys.exit(f"only {len(new)} new tickets in {extra}")
with open(day2, "w", newline="", encoding="utf-8") as g:
    w = csv.DictWriter(g, fieldnames=header)
    w.writeheader()
    w.writerows(rows + new)
print(f"day 1: {len(rows)} tickets; day 2: {len(rows) + len(new)} ({len(new)} new)")
PY

now() { echo "$EPOCHREALTIME"; }
dir="$OUT/incremental-stack"
store="$OUT/incremental-store"
rm -rf "$dir" "$store" "$OUT/incremental.log"
export STACK_DIR="$dir" EMBEDDERS=2 NATS_PORT=24240 NATS_MONITOR_PORT=28240 CHROMA_PORT=28040
export TICKETFLOW_STORE="file://$PWD/$store" RUST_LOG=warn TICKETFLOW_REUSE_VECTORS="$REUSE"
export NATS_URL="nats://127.0.0.1:$NATS_PORT" TICKETFLOW_CHROMA_URL="http://127.0.0.1:$CHROMA_PORT"
trap 'scripts/stack.sh down >/dev/null 2>&1 || true' EXIT
scripts/stack.sh up >/dev/null

run_day() { # NAME INPUT -> prints total seconds
  local t
  t=$(now)
  "$BIN" run --input "$2" --run-id "$1" --wait >>"$OUT/incremental.log" 2>&1
  python3 -c "print(round($(now) - $t, 3))"
}
total1=$(run_day day-1 "$DAY1"); echo "day 1: ${total1}s"
total2=$(run_day day-2 "$DAY2"); echo "day 2: ${total2}s"

.venv/bin/python - "$store" "$total1" "$total2" "$REUSE" "${OUT_JSON:-$OUT/incremental.json}" <<'PY'
import json, sys
store, t1, t2, reuse, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
def day(run, total):
    r = json.load(open(f"{store}/runs/{run}/result.json"))
    return {
        "tickets": r["tickets_indexed"],
        "embedder_busy_seconds": r["busy_seconds"]["embedder"],
        "indexer_busy_seconds": r["busy_seconds"]["indexer"],
        "ingest_wall_seconds": r["wall_seconds"],
        "total_seconds": total,
        **r["reuse"],
    }
d1, d2 = day("day-1", t1), day("day-2", t2)
ratio = lambda k: round(d2[k] / d1[k], 3) if d1[k] else None
res = {
    "reuse_vectors": reuse == "true",
    "day1": d1,
    "day2": d2,
    "day2_over_day1": {
        "embedder_busy": ratio("embedder_busy_seconds"),
        "ingest_wall": ratio("ingest_wall_seconds"),
        "total": ratio("total_seconds"),
        "chroma_records_written": ratio("records_written"),
    },
    "goal_embedder_busy_at_most": 0.15,
}
open(out, "w").write(json.dumps(res, indent=2))
print(json.dumps(res, indent=2))
PY
