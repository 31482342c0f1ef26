#!/usr/bin/env python3
"""A plain scikit-learn reference for the ticket-type classifier (docs/accuracy.md).

TF-IDF over the lower-cased subject + body (word 1-2-grams and char_wb 3-5-grams, sublinear TF,
min_df 2, each view L2-normalised by its vectoriser), plus one-hot queue, priority and language,
then LogisticRegression(C=10, class_weight="balanced"). No embeddings, no tuning.

It computes
  (a) 5-fold stratified CV macro-F1 on the dev file (StratifiedKFold, shuffle, --seed), and
  (b) the held-out macro-F1 of each split in --splits (`id,split,held_out`, as the routing
      bench writes it), scored on the split's held-out rows, fitted two ways:
      - "same rows": on the rows ticketflow's shipped model of that split was fitted on. The
        routing bench runs the trainer on the other 80 %, and the trainer itself holds out 20 %
        of those by its id-hash rule (classify::membership::SplitRule: BLAKE3(salt ‖ 0 ‖ id),
        salt "ticketflow-holdout-v1") before it refits; so the model is fitted on about 64 % of
        the file. This is the like-for-like comparison.
      - "all 80 %": on every row of the other 80 % (more data than ticketflow's model had);
and, when --routing (the routing bench's JSON) exists, ticketflow's per-split macro-F1 next to it.

Ticket ids are ticketflow's content ids. They are not recomputed here: `ticketflow embed` writes
`<out>.rows.csv` (`index,row,id`; row = 1-based data row as the loader counts it), which is
joined by row number to the CSV records. Rows the loader left out (no row in the map) and rows
without a type are skipped, as ticketflow skips them.

    python3 -m venv .venv-reference
    .venv-reference/bin/pip install -r scripts/requirements-reference.txt
    .venv-reference/bin/python scripts/reference_tfidf_lr.py   # writes var/bench/reference.json
"""

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import blake3
import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder

ROOT = Path(__file__).resolve().parent.parent
# classify::membership::DEFAULT_SALT and the trainer's default test fraction.
TRAINER_SALT = "ticketflow-holdout-v1"
TRAINER_TEST_FRACTION = 0.2


def id_hash_held_out(ticket_id: str, salt: str, fraction: float) -> bool:
    """classify::membership::SplitRule::is_held_out."""
    digest = blake3.blake3(salt.encode() + b"\0" + ticket_id.encode()).digest()
    unit = (int.from_bytes(digest[:8], "little") >> 11) / float(1 << 53)
    return unit < fraction


def load(data: Path, rows_csv: Path):
    """Labelled records with ticketflow's ids, in file order."""
    id_of_row = {}
    with rows_csv.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            id_of_row[int(rec["row"])] = rec["id"]
    out = []
    with data.open(newline="", encoding="utf-8") as f:
        for row, rec in enumerate(csv.DictReader(f), start=1):
            label = (rec.get("type") or "").strip()
            if not label or row not in id_of_row:
                continue
            # The export escapes line breaks as a literal backslash-n; undo it so that
            # "issue.\nThe" does not become the word "nthe".
            text = f"{rec.get('subject') or ''}\n{rec.get('body') or ''}".replace("\\n", "\n")
            out.append(
                {
                    "id": id_of_row[row],
                    "row": row,
                    "text": text.lower(),
                    "meta": [(rec.get(k) or "").strip().lower() for k in ("queue", "priority", "language")],
                    "label": label,
                }
            )
    return out


def fit_predict(records, train, test, c):
    """Fits the reference on `train` rows, returns predictions for `test` rows."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    onehot = OneHotEncoder(handle_unknown="ignore")
    text = [r["text"] for r in records]
    meta = [r["meta"] for r in records]
    tr_text = [text[i] for i in train]
    te_text = [text[i] for i in test]
    x_train = sp.hstack(
        [
            words.fit_transform(tr_text),
            chars.fit_transform(tr_text),
            onehot.fit_transform([meta[i] for i in train]),
        ]
    ).tocsr()
    x_test = sp.hstack(
        [
            words.transform(te_text),
            chars.transform(te_text),
            onehot.transform([meta[i] for i in test]),
        ]
    ).tocsr()
    y = np.array([r["label"] for r in records])
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=10_000)
    model.fit(x_train, y[train])
    return model.predict(x_test)


def macro_f1(records, train, test, c):
    y = np.array([r["label"] for r in records])
    return float(f1_score(y[test], fit_predict(records, train, test, c), average="macro"))


def mean_sd(xs):
    # Population sd, as ticketflow's CandidateReport::std_macro_f1.
    return statistics.fmean(xs), statistics.pstdev(xs)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/tickets_dev.csv")
    p.add_argument("--rows", default="var/bench/dev.rows.csv", help="row map from `ticketflow embed`")
    p.add_argument("--splits", default="var/bench/routing_splits.csv")
    p.add_argument("--routing", default="var/bench/routing.json", help="ticketflow's per-split results")
    p.add_argument("--out", default="var/bench/reference.json")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--c", type=float, default=10.0)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    path = lambda s: Path(s) if Path(s).is_absolute() else ROOT / s

    started = time.time()
    records = load(path(args.data), path(args.rows))
    y = np.array([r["label"] for r in records])
    print(f"{len(records)} labelled rows from {args.data}")

    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(np.zeros(len(y)), y))
    cv = Parallel(n_jobs=args.jobs)(delayed(macro_f1)(records, tr, te, args.c) for tr, te in folds)
    cv_mean, cv_sd = mean_sd(cv)
    print(f"\n(a) {args.folds}-fold stratified CV, seed {args.seed}: macro-F1 {cv_mean:.3f} ± {cv_sd:.3f}")
    print("    folds: " + ", ".join(f"{f:.3f}" for f in cv))

    result = {
        "data": args.data,
        "rows": len(records),
        "model": f"TF-IDF words 1-2 + char_wb 3-5 (sublinear, min_df 2) + one-hot queue/priority/language, "
        f"LogisticRegression(C={args.c}, class_weight=balanced)",
        "seed": args.seed,
        "folds": args.folds,
        "cv_fold_macro_f1": cv,
        "cv_mean_macro_f1": cv_mean,
        "cv_std_macro_f1": cv_sd,
        "splits": [],
    }

    splits_path = path(args.splits)
    if splits_path.exists():
        index_of = {r["id"]: i for i, r in enumerate(records)}
        held = {}
        with splits_path.open(newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                i = index_of.get(rec["id"])
                if i is not None:
                    held.setdefault(int(rec["split"]), {})[i] = rec["held_out"].strip().lower() in ("true", "1")
        jobs = []
        for s in sorted(held):
            train = np.array([i for i, h in sorted(held[s].items()) if not h])
            test = np.array([i for i, h in sorted(held[s].items()) if h])
            # The routing bench's outer rule, checked: the same hash must give the same rows.
            outer = [id_hash_held_out(records[i]["id"], f"bench-routing-{s}", 0.2) for i in sorted(held[s])]
            if outer != [held[s][i] for i in sorted(held[s])]:
                print(f"note: split {s} is not the id-hash rule with salt bench-routing-{s}", file=sys.stderr)
            same = np.array(
                [i for i in train if not id_hash_held_out(records[i]["id"], TRAINER_SALT, TRAINER_TEST_FRACTION)]
            )
            jobs.append((s, same, train, test))
        fits = [(tr, te) for _, same, full, te in jobs for tr in (same, full)]
        flat = Parallel(n_jobs=args.jobs)(delayed(macro_f1)(records, tr, te, args.c) for tr, te in fits)
        same_scores, scores = flat[0::2], flat[1::2]
        ours = {}
        routing_path = path(args.routing)
        if routing_path.exists():
            for i, split in enumerate(json.loads(routing_path.read_text()).get("splits", [])):
                ours[split.get("split", i)] = split.get("macro_f1")
        print(f"\n(b) held-out splits from {args.splits}\n")
        print(
            "| split | held out | train rows: same / all 80 % | reference, same rows | reference, all 80 % "
            "| ticketflow | ticketflow − reference (same rows) | ticketflow − reference (all 80 %) |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        diffs = {"same_rows": [], "all_80": []}
        for (s, same, full, te), f1_same, f1 in zip(jobs, same_scores, scores):
            t = ours.get(s)
            d_same = None if t is None else t - f1_same
            d_full = None if t is None else t - f1
            if t is not None:
                diffs["same_rows"].append(d_same)
                diffs["all_80"].append(d_full)
            num = lambda v: "–" if v is None else f"{v:.3f}"
            sig = lambda v: "–" if v is None else f"{v:+.3f}"
            print(
                f"| {s} | {len(te)} | {len(same)} / {len(full)} | {f1_same:.3f} | {f1:.3f} | {num(t)} "
                f"| {sig(d_same)} | {sig(d_full)} |"
            )
            result["splits"].append(
                {
                    "split": s,
                    "held_out_rows": len(te),
                    "train_rows_same": len(same),
                    "train_rows_all_80": len(full),
                    "macro_f1_same_rows": f1_same,
                    "macro_f1_all_80": f1,
                    "ticketflow_macro_f1": t,
                }
            )
        for name, xs in (("same rows", same_scores), ("all 80 %", scores)):
            m, sd = mean_sd(xs)
            print(f"\nreference ({name}) over {len(xs)} splits: macro-F1 {m:.3f} ± {sd:.3f}")
        result["splits_mean_macro_f1_same_rows"] = statistics.fmean(same_scores)
        result["splits_mean_macro_f1_all_80"] = statistics.fmean(scores)
        if ours:
            print(f"ticketflow over {len(diffs['same_rows'])} splits: macro-F1 {statistics.fmean(ours.values()):.3f}")
        result["difference"] = {}
        for key, ds in diffs.items():
            if not ds:
                continue
            print(
                f"ticketflow − reference ({key}): mean {statistics.fmean(ds):+.3f}, min {min(ds):+.3f}, "
                f"max {max(ds):+.3f}, ticketflow not worse on {sum(d >= 0 for d in ds)}/{len(ds)}"
            )
            result["difference"][key] = {
                "mean": statistics.fmean(ds),
                "min": min(ds),
                "max": max(ds),
                "ticketflow_not_worse": sum(d >= 0 for d in ds),
            }
    else:
        print(f"\n(b) skipped: {args.splits} not found (make bench-routing writes it)", file=sys.stderr)

    result["seconds"] = time.time() - started
    out = path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nJSON written to {args.out} ({result['seconds']:.0f}s)")


if __name__ == "__main__":
    main()
