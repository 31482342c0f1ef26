#!/usr/bin/env bash
# make bench-trainer: the trainer's time and peak RSS on generated runs of 100k and 1M tickets
# (workers/benches/trainer_scale.rs says how they are generated). Per size, a fresh nats-server
# and file store; a 20k-ticket run is trained first, so the measured run has everything a daily
# run has: a champion that predicts every ticket, and a drift reference. `prepare` writes the
# measured run, then `train` runs the trainer on it in a process of its own, so its peak RSS
# (VmHWM) is the trainer's alone. The baseline, in the same run: the
# trainer without a sample limit (--max-rows above the run's size) on the 100k run.
# Goal: peak RSS under 2 GB at 1M.
#
#   make bench-trainer                    -> var/bench/trainer.json
#   SIZES="100000" make bench-trainer     other sizes (the 1M run needs ~2 GB of disk)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source var/env
OUT=var/bench
mkdir -p "$OUT"
SIZES="${SIZES:-100000 1000000}"
MAX_ROWS="${MAX_ROWS:-50000}"
PORT=24260
MONITOR=28260
CARGO="${CARGO:-cargo}"

"$CARGO" bench --locked -p ticketflow-workers --bench trainer_scale --no-run 2>&1 | tail -1
bench() { "$CARGO" bench --locked -q -p ticketflow-workers --bench trainer_scale -- "$@"; }

results=()
for n in $SIZES; do
  dir="$OUT/trainer-$n"
  rm -rf "$dir"
  mkdir -p "$dir/store"
  var/bin/nats-server -js -a 127.0.0.1 -p "$PORT" -m "$MONITOR" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
  nats=$!
  trap 'kill $nats 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$MONITOR/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  url="nats://127.0.0.1:$PORT"
  bench prepare --nats "$url" --store "$PWD/$dir/store" --tickets 20000 --run-id "bench-reference"
  bench train --nats "$url" --store "$PWD/$dir/store" --run-id "bench-reference" --max-rows "$MAX_ROWS" >/dev/null
  bench prepare --nats "$url" --store "$PWD/$dir/store" --tickets "$n" --run-id "bench-$n"
  line=$(bench train --nats "$url" --store "$PWD/$dir/store" --run-id "bench-$n" --max-rows "$MAX_ROWS")
  echo "$line"
  results+=("$line")
  if [ "$n" = "100000" ]; then
    # The baseline: the same run trained whole (a second run id, same data).
    bench prepare --nats "$url" --store "$PWD/$dir/store" --tickets "$n" --run-id "bench-$n-whole"
    line=$(bench train --nats "$url" --store "$PWD/$dir/store" --run-id "bench-$n-whole" --max-rows 100000000)
    echo "baseline (no sample limit): $line"
    results+=("$line")
  fi
  kill "$nats" 2>/dev/null || true
  wait "$nats" 2>/dev/null || true
  rm -rf "$dir/store" "$dir/nats"
done
printf '%s\n' "${results[@]}" | .venv/bin/python -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
res = {"max_rows": int(sys.argv[1]), "runs": runs}
by = {(r["tickets"], r["max_rows"] >= r["tickets"]): r for r in runs}
s, w = by.get((100000, False)), by.get((100000, True))
if s and w:
    res["at_100k_sampled_over_whole"] = {
        "seconds": round(s["seconds"] / w["seconds"], 3),
        "peak_rss": round(s["peak_rss_mb"] / w["peak_rss_mb"], 3),
    }
m = by.get((1000000, False))
if m:
    res["goal_peak_rss_mb_at_1m"] = 2000
    res["peak_rss_mb_at_1m"] = m["peak_rss_mb"]
json.dump(res, open(sys.argv[2], "w"), indent=2)
print(json.dumps(res, indent=2))
' "$MAX_ROWS" "${OUT_JSON:-$OUT/trainer.json}"
