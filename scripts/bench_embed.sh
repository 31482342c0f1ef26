#!/usr/bin/env bash
# make bench-embed: ticketflow embed (fp32 plain graph, fp32 fused, int8) vs sentence-transformers
# on the first 1,000 rows of the dev data, same texts, same thread count, in one run; then the
# classifier's macro-F1 on fp32 vs int8 embeddings of the whole dev file (ACCURACY=0 skips it).
# Writes var/bench/embed.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${TICKETFLOW_DEV_DATA:-../shared/data/tickets_dev.csv}"
if [ ! -f "$data" ]; then
  echo "bench-embed: $data not found (it lives in ../shared/data beside the checkout)" >&2; exit 1
fi
accuracy=()
if [ "${ACCURACY:-1}" != 0 ]; then accuracy=(--accuracy); fi
HF_HUB_OFFLINE=1 .venv-bench/bin/python scripts/bench_embed.py --data "$data" \
  --rows "${ROWS:-1000}" --threads "${THREADS:-2}" --repeats "${REPEATS:-2}" "${accuracy[@]}" "$@"
# Where the time goes: ONNX Runtime's profiler on the fused fp32 and the int8 graph, same texts.
TOKENIZERS_PARALLELISM=false .venv-bench/bin/python scripts/profile_embed.py --csv var/bench/dev_subset.csv \
  --threads "${THREADS:-2}" --out var/bench/profile.json
