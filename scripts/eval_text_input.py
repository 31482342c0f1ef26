"""Which text should the embedder see: the lightly normalised ticket or the cleaned tokens?

The original notebook embedded the cleaned text (lowercased, punctuation and stop words removed).
Sentence encoders are trained on natural sentences, so that may throw information away. This
script measures it on the dev data: it embeds every ticket both ways with `ticketflow embed
--embed-input {normalized,cleaned}` and scores a logistic-regression ticket-type classifier on
each with the same seeded, stratified 5-fold cross-validation (macro-F1 and accuracy).

    make setup-bench build && source var/env && \
      .venv-bench/bin/python scripts/eval_text_input.py --data ../shared/data/tickets_dev.csv

Writes var/bench/text_input.json.
"""

import argparse
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent


def embed(data: Path, mode: str, out: Path, threads: int) -> tuple[np.ndarray, list[int]]:
    subprocess.run(
        [str(ROOT / "target/release/ticketflow"), "embed", "--input", str(data), "--output", str(out),
         "--embed-input", mode, "--threads", str(threads)],
        check=True,
    )
    with open(out.with_name(out.stem + ".rows.csv"), newline="") as f:
        rows = [int(r["row"]) for r in csv.DictReader(f)]
    return np.load(out), rows


def cross_validate(x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    f1s, accs = [], []
    for train, test in folds.split(x, y):
        clf = LogisticRegression(max_iter=2000, C=10.0)
        clf.fit(x[train], y[train])
        pred = clf.predict(x[test])
        f1s.append(f1_score(y[test], pred, average="macro"))
        accs.append(accuracy_score(y[test], pred))
    return {
        "macro_f1_mean": round(float(np.mean(f1s)), 4),
        "macro_f1_std": round(float(np.std(f1s)), 4),
        "accuracy_mean": round(float(np.mean(accs)), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=ROOT / "var/bench")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with open(args.data, newline="", encoding="utf-8") as f:
        labels = [r["type"] for r in csv.DictReader(f)]

    result = {"data": str(args.data), "rows": len(labels), "cv": "stratified 5-fold", "seed": args.seed}
    for mode in ["normalized", "cleaned"]:
        x, rows = embed(args.data, mode, args.out / f"text_input_{mode}.npy", args.threads)
        y = np.array([labels[r - 1] for r in rows])
        result[mode] = {"embedded_rows": len(rows), **cross_validate(x, y, args.seed)}
        print(mode, result[mode], flush=True)
    (args.out / "text_input.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
