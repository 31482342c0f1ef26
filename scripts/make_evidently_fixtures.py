#!/usr/bin/env python3
"""Generate tests/fixtures/drift/evidently_*.json: Evidently's data-drift verdicts on two tables.

`analytics/src/drift/columns.rs` follows Evidently's DataDriftPreset defaults (which test per column,
which threshold, when the dataset drifts). This script builds two small ticket feature tables,
runs Evidently 0.7 on them and stores the inputs with Evidently's per-column test, statistic,
threshold and drift flag, plus the dataset-level share and flag. The Rust test feeds the same
columns through `column_drift` / `dataset_drift` and demands the same answers.

* `evidently_small.json`: 600 reference rows (<= 1,000: p-value tests at 0.05), drift in some
  columns, missing values in others.
* `evidently_large.json`: 1,500 reference rows (> 1,000: normed Wasserstein and Jensen-Shannon
  distances at 0.1), drift in most columns, so the dataset drifts.

Needs Evidently 0.7 in a throwaway venv (it is git-ignored by the `.venv-*` rule; Evidently 0.7
fails to import with pandas 3):

    python3 -m venv .venv-evidently
    .venv-evidently/bin/pip install 'evidently==0.7.*' 'pandas<3'
    .venv-evidently/bin/python scripts/make_evidently_fixtures.py

Reading the results. The 0.7 API (`Report([DataDriftPreset()]).run(current, reference)`) returns,
in `.dict()["metrics"]`, one `DriftedColumnsCount` (count and share of drifted columns) and one
`ValueDrift` per column whose `config` names the method ("K-S p_value", ...) and threshold and
whose `value` is the statistic, but no per-column drift flag. The flags, and the dataset verdict,
come from the same computation through Evidently's legacy `DataDriftTable` and
`DatasetDriftMetric`; the script checks that both paths report the same statistics.

Column kinds are declared explicitly (a DataDefinition / ColumnMapping) rather than inferred, so
the fixture does not depend on Evidently's dtype heuristics (e.g. an integer column with <= 10
distinct values would be inferred categorical).

Missing values are written as JSON null; the Rust side reads a null numeric as NaN and a null
category as the empty string, which is how `ColumnValues` marks missing values.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from evidently.legacy.metrics import DataDriftTable, DatasetDriftMetric
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report as LegacyReport

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "drift"

NUMERIC = ["char_count", "word_count", "placeholder_share", "attachments"]
CATEGORICAL = ["language", "queue", "priority", "has_subject", "predicted_type"]

# Evidently's display names -> the Rust StatTest serde names.
TESTS = {
    "K-S p_value": "kolmogorov_smirnov",
    "chi-square p_value": "chi_square",
    "Z-test p_value": "z_test",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensen_shannon",
}

# Evidently's method names -> the Rust StatTest serde names.
METHODS = {"ks": "kolmogorov_smirnov", "chisquare": "chi_square", "z": "z_test",
           "wasserstein": "wasserstein", "jensenshannon": "jensen_shannon"}

QUEUES = ["Technical Support", "Billing", "Product Support", "IT Support", "Returns", "Sales"]
TYPES = ["Incident", "Request", "Problem", "Change"]


def table(rng, n, *, longer=1.0, languages=("en", "de"), lang_p=(0.6, 0.4),
          type_p=(0.4, 0.3, 0.2, 0.1), subject_p=0.85, missing=0.0):
    chars = np.round(rng.lognormal(np.log(350 * longer), 0.6, n)).astype(int) + 20
    words = np.maximum(1, np.round(chars / rng.normal(6.2, 0.4, n))).astype(int)
    share = np.round(rng.beta(1.2, 30, n), 4)
    attachments = rng.choice([0, 1, 2, 3], n, p=[0.7, 0.2, 0.07, 0.03]).astype(float)
    df = pd.DataFrame({
        "char_count": chars,
        "word_count": words,
        "placeholder_share": share,
        "attachments": attachments,
        "language": rng.choice(list(languages), n, p=list(lang_p)),
        "queue": rng.choice(QUEUES, n, p=[0.35, 0.15, 0.2, 0.15, 0.05, 0.1]),
        "priority": rng.choice(["low", "medium", "high"], n, p=[0.3, 0.45, 0.25]),
        "has_subject": rng.random(n) < subject_p,
        "predicted_type": rng.choice(TYPES, n, p=list(type_p)),
    })
    if missing > 0:
        df["placeholder_share"] = df["placeholder_share"].mask(rng.random(n) < missing)
        df["queue"] = df["queue"].astype(object).mask(rng.random(n) < missing)
    return df


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame, overrides=None):
    """Evidently's verdicts; `overrides` maps column -> (Evidently method or None, threshold or None)."""
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    methods = {c: m for c, (m, _) in (overrides or {}).items() if m is not None} or None
    thresholds = {c: t for c, (_, t) in (overrides or {}).items() if t is not None} or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chi-square divides by zero for new categories
        snapshot = Report([DataDriftPreset(per_column_method=methods,
                                           per_column_threshold=thresholds)]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        legacy = LegacyReport(metrics=[
            DataDriftTable(per_column_stattest=methods, per_column_stattest_threshold=thresholds),
            DatasetDriftMetric(per_column_stattest=methods,
                               per_column_stattest_threshold=thresholds),
        ])
        legacy.run(reference_data=reference, current_data=current,
                   column_mapping=ColumnMapping(numerical_features=NUMERIC,
                                                categorical_features=CATEGORICAL))
    metrics = snapshot.dict()["metrics"]
    legacy_metrics = legacy.as_dict()["metrics"]
    table_result = next(m["result"] for m in legacy_metrics if m["metric"] == "DataDriftTable")
    dataset_result = next(m["result"] for m in legacy_metrics if m["metric"] == "DatasetDriftMetric")

    columns = {}
    count = None
    for m in metrics:
        config = m["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = m["value"]
            continue
        if not config["type"].endswith("ValueDrift"):
            continue
        name = config["column"]
        flags = table_result["drift_by_columns"][name]
        value = float(m["value"])
        legacy_value = float(flags["drift_score"])
        # ValueDrift names a default method by its display name, an explicit one as given.
        test = TESTS.get(config["method"]) or METHODS[config["method"]]
        assert TESTS[flags["stattest_name"]] == test, (name, flags["stattest_name"])
        assert value == legacy_value or math.isclose(value, legacy_value, rel_tol=1e-12), name
        assert float(flags["stattest_threshold"]) == float(config["threshold"]), name
        columns[name] = {
            "evidently_method": config["method"],
            "test": test,
            "statistic": value,
            "threshold": float(config["threshold"]),
            "drifted": bool(flags["drift_detected"]),
        }
    assert count is not None
    assert math.isclose(count["share"], dataset_result["share_of_drifted_columns"])
    return columns, {
        "columns": int(dataset_result["number_of_columns"]),
        "drifted_columns": int(dataset_result["number_of_drifted_columns"]),
        "share": float(dataset_result["share_of_drifted_columns"]),
        "drifted": bool(dataset_result["dataset_drift"]),
        "threshold": 0.5,
    }


def column_json(series: pd.Series):
    out = []
    for v in series.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, (bool, np.bool_)):
            out.append(str(bool(v)))
        elif isinstance(v, (int, np.integer)):
            out.append(int(v))
        else:
            out.append(v)
    return out


def write(name: str, reference: pd.DataFrame, current: pd.DataFrame, description: str,
          overrides=None):
    verdicts, dataset = run_evidently(reference, current)
    fixture = {
        "generated_by": "scripts/make_evidently_fixtures.py",
        "description": description,
        "evidently_version": evidently.__version__,
        "pandas_version": pd.__version__,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "columns": {
            col: {
                "kind": "numeric" if col in NUMERIC else "categorical",
                "reference": column_json(reference[col]),
                "current": column_json(current[col]),
                **verdicts[col],
            }
            for col in NUMERIC + CATEGORICAL
        },
        "dataset": dataset,
    }
    if overrides:
        # The same tables with per-column methods and thresholds (DataDriftPreset's
        # per_column_method / per_column_threshold, DriftOptions.columns on the Rust side).
        o_verdicts, o_dataset = run_evidently(reference, current, overrides)
        fixture["overrides"] = {
            "options": {
                col: {k: v for k, v in (("test", METHODS.get(m)), ("threshold", t)) if v is not None}
                for col, (m, t) in overrides.items()
            },
            "columns": o_verdicts,
            "dataset": o_dataset,
        }
    path = OUT_DIR / f"evidently_{name}.json"
    path.write_text(json.dumps(fixture, indent=None, separators=(",", ":"), allow_nan=False) + "\n")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    for col in NUMERIC + CATEGORICAL:
        v = verdicts[col]
        print(f"  {col:<18} {v['evidently_method']:<30} {v['statistic']:<12.6g} "
              f"{'DRIFT' if v['drifted'] else '-'}")
    print(f"  dataset: {dataset['drifted_columns']}/{dataset['columns']} drifted -> "
          f"{'DRIFT' if dataset['drifted'] else 'no drift'}")


def main():
    rng = np.random.default_rng(7)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # (a) <= 1,000 reference rows: p-value tests. Current bodies are longer and bring new
    # languages; queue and placeholder_share have missing values.
    reference = table(rng, 600, missing=0.05)
    current = table(rng, 450, longer=1.35, languages=("en", "de", "fr", "es"),
                    lang_p=(0.5, 0.3, 0.12, 0.08), missing=0.08)
    write("small", reference, current,
          "600 vs 450 rows: longer bodies and new languages in current; missing values in "
          "placeholder_share and queue")

    # (b) > 1,000 reference rows: normed Wasserstein / Jensen-Shannon. Most columns move.
    reference = table(rng, 1500)
    current = table(rng, 1200, longer=1.5, languages=("en", "de", "pt"), lang_p=(0.4, 0.3, 0.3),
                    type_p=(0.25, 0.3, 0.35, 0.1), subject_p=0.6)
    write("large", reference, current,
          "1500 vs 1200 rows: longer bodies, Portuguese tickets, more Problems, fewer subjects",
          overrides={
              # Jensen-Shannon on a numeric column with > 20 distinct values: Sturges bins.
              "placeholder_share": ("jensenshannon", None),
              # Exact KS on 1,500 vs 1,200 values, with a stricter threshold.
              "char_count": ("ks", 0.01),
              "has_subject": ("z", None),
              "predicted_type": ("chisquare", 1e-3),
              "attachments": ("wasserstein", None),
              "language": (None, 0.5),
          })


if __name__ == "__main__":
    # Evidently gathers categories in a Python set, so the order it sums the Jensen-Shannon terms
    # in (and the last bits of the result) follows string hashing: pin it for byte-identical output.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    main()
