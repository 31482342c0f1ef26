#!/usr/bin/env bash
# make bench-embed: ticketflow embed vs sentence-transformers on the first 1,000 rows of the dev
# data, same texts, same thread count, in one run. Writes var/bench/embed.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
if [ ! -f "$data" ]; then
  echo "bench-embed: $data not found (it lives in ../shared/data beside the checkout)" >&2; exit 1
fi
HF_HUB_OFFLINE=1 .venv-bench/bin/python scripts/bench_embed.py --data "$data" \
  --rows "${ROWS:-1000}" --threads "${THREADS:-2}" --repeats "${REPEATS:-2}" "$@"
