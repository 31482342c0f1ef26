#!/usr/bin/env bash
# make bench-routing: does auto-routing keep its precision on tickets the model never saw?
# Over SPLITS (20) id-hash splits of the dev file, the trainer's recipe on 80 % and routing on
# the held-out 20 %: certified threshold (shipped) against the point-estimate rule it replaced,
# then split 0's model on the 5-language sample. Embeds both files once (var/bench/*.npy, redone
# when the input is newer). Writes var/bench/routing.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
shifted="${TICKETFLOW_SHIFTED_DATA:-../shared/data/tickets_multilang_sample.csv}"
if [ ! -f "$data" ]; then
  echo "bench-routing: $data not found (it lives in ../shared/data beside the checkout)" >&2; exit 1
fi
mkdir -p var/bench
embed() { # INPUT OUTPUT: the matrix `ticketflow embed` makes, unless it is newer than the input
  if [ ! -f "$2" ] || [ "$1" -nt "$2" ]; then
    target/release/ticketflow embed --input "$1" --output "$2" --threads "${THREADS:-2}"
  fi
}
embed "$data" var/bench/dev.npy
shifted_args=()
if [ -f "$shifted" ]; then
  embed "$shifted" var/bench/multilang.npy
  shifted_args=(--shifted "$shifted" --shifted-embeddings var/bench/multilang.npy)
fi
cargo bench --locked -p ticketflow-workers --bench routing -- --data "$data" \
  --embeddings var/bench/dev.npy --splits "${SPLITS:-20}" "${shifted_args[@]}" \
  --out var/bench/routing.json
