"""Where the embedder's time goes: ONNX Runtime's own profiler on the graphs ticketflow runs.

    .venv-bench/bin/python scripts/profile_embed.py --csv var/bench/dev_subset.csv \
        [--threads 2] [--batch-size 16] [--out var/bench/profile.json]

It embeds the `text` column of the CSV (what `make bench-embed` writes: subject, newline, body)
the way `ticketflow embed` does: tokenised with the model's tokenizer.json, truncated at 256
tokens, sorted by length, cut into batches, each padded to its longest row. Each graph runs in
a session with profiling on and the embedder's settings (all graph optimisations, the same
disabled `SkipLayerNormFusion`, the same thread count). Kernel times are summed per operator
type and printed as shares, for `model.fused.onnx` (fp32, the default) and `model.int8.onnx`.

The numbers are shares of kernel time, not speeds: they say which operators to work on next
(docs/benchmarks.md, "Where the time goes").
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("TICKETFLOW_MODEL_DIR", ROOT / "var/models/all-minilm-l6-v2"))
# Same as embed/src/lib.rs DISABLED_OPTIMIZERS.
DISABLED_OPTIMIZERS = "SkipLayerNormFusion"
MAX_TOKENS = 256


def tokenizer() -> Tokenizer:
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def tokenize_seconds(texts: list[str], repeats: int = 3) -> float:
    """Best time to tokenise every text one by one on this thread (the tokenizers library's Rust
    core, as in the embedder): the most that overlapping tokenisation with inference can save."""
    tok = tokenizer()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            tok.encode(text)
        best = min(best, time.perf_counter() - start)
    return best


def batches(texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    enc = [e.ids for e in tokenizer().encode_batch(texts)]
    order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
    out = []
    for start in range(0, len(order), batch_size):
        chunk = [enc[i] for i in order[start : start + batch_size]]
        width = max(map(len, chunk))
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros_like(ids)
        for r, x in enumerate(chunk):
            ids[r, : len(x)] = x
            mask[r, : len(x)] = 1
        out.append((ids, mask))
    return out


def profile(graph: Path, feeds: list[tuple[np.ndarray, np.ndarray]], threads: int) -> dict:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("optimization.disable_specified_optimizers", DISABLED_OPTIMIZERS)
    so.enable_profiling = True
    tmp = tempfile.mkdtemp(prefix="ticketflow-profile-")
    so.profile_file_prefix = os.path.join(tmp, "ort")
    sess = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    for ids, mask in feeds:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        sess.run(["sentence_embedding"], {k: v for k, v in feed.items() if k in names})
    trace = sess.end_profiling()
    with open(trace, encoding="utf-8") as f:
        events = json.load(f)
    os.remove(trace)
    os.rmdir(tmp)
    per_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_op[e["args"]["op_name"]] += e["dur"]
    total = sum(per_op.values())
    return {
        "graph": graph.name,
        "kernel_ms": round(total / 1000, 1),
        "share": {op: round(us / total, 4) for op, us in per_op.most_common()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", type=Path, required=True, help="CSV with a `text` column")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "var/bench/profile.json")
    args = ap.parse_args()
    with open(args.csv, newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    feeds = batches(texts, args.batch_size)
    result = {
        "tokenize_seconds_one_thread": round(tokenize_seconds(texts), 3),
        "rows": len(texts),
        "threads": args.threads,
        "batch_size": args.batch_size,
        "onnxruntime": ort.__version__,
        "graphs": [profile(MODEL_DIR / g, feeds, args.threads) for g in ("model.fused.onnx", "model.int8.onnx")],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"tokenising {len(texts)} texts on one thread: {result['tokenize_seconds_one_thread']:.2f} s")
    for g in result["graphs"]:
        print(f"\n{g['graph']}: {g['kernel_ms']:.0f} ms of kernel time over {len(texts)} texts")
        print("| operator | share |\n| --- | ---: |")
        for op, share in list(g["share"].items())[:10]:
            print(f"| {op} | {share:.0%} |")


if __name__ == "__main__":
    main()
