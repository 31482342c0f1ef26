#!/usr/bin/env python3
"""Generate tests/fixtures/drift/scipy.json: reference values for the drift statistics.

`analytics/src/drift/stats.rs` re-implements the scipy routines that Evidently's data-drift tests call
(`scipy.stats.ks_2samp`, `scipy.stats.chisquare`, `scipy.stats.wasserstein_distance`,
`scipy.spatial.distance.jensenshannon`, `numpy.histogram_bin_edges(..., "sturges")`) plus the
two-proportion Z-test Evidently writes itself. This script runs the originals on fixed inputs and
stores inputs and outputs; the Rust tests demand agreement to 1e-9 relative.

Run from the repository root with any venv that has numpy and scipy, e.g.

    .venv-bench/bin/python scripts/make_drift_fixtures.py

Output is deterministic for given numpy/scipy versions (recorded in the JSON).

Inputs that would make the JSON large (the Kolmogorov-Smirnov asymptotic branch needs a sample
over 10,000 values) are stored as a *sequence* recipe instead of a list:

    {"sequence": {"n": N, "mult": M, "modulus": Q, "scale": S, "offset": O}}

meaning value[i] = ((i * M) % Q) / Q * S + O for i in 0..N, evaluated left to right in IEEE
double precision. Python and Rust compute it bit-identically.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.special
import scipy.stats
from scipy.spatial import distance

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "drift" / "scipy.json"
MAX_AUTO_N = 10000  # scipy.stats.ks_2samp: method='auto' is exact while max(n1, n2) <= this


def sequence(n: int, mult: int, modulus: int, scale: float = 1.0, offset: float = 0.0):
    recipe = {"n": n, "mult": mult, "modulus": modulus, "scale": scale, "offset": offset}
    values = [((i * mult) % modulus) / modulus * scale + offset for i in range(n)]
    return {"sequence": recipe}, values


def plain(values):
    values = [float(v) for v in values]
    return values, values


def rounded(rng_values, digits=4):
    return plain(np.round(rng_values, digits))


def ks_case(name, a, b):
    a_json, a_values = a
    b_json, b_values = b
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = scipy.stats.ks_2samp(a_values, b_values)
    fell_back = any("Switching to" in str(w.message) for w in caught)
    exact = max(len(a_values), len(b_values)) <= MAX_AUTO_N and not fell_back
    return {
        "name": name,
        "a": a_json,
        "b": b_json,
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "method": "exact" if exact else "asymptotic",
    }


def ks_cases(rng):
    cases = []
    # Small samples, exact branch, unequal sizes.
    cases.append(ks_case("small_unequal", rounded(rng.normal(size=7)), rounded(rng.normal(0.8, size=5))))
    # Equal sizes use the "outside the square" formula.
    cases.append(ks_case("equal_sizes_20", rounded(rng.normal(size=20)), rounded(rng.normal(0.5, size=20))))
    cases.append(ks_case("equal_sizes_1000", sequence(1000, 613, 1999), sequence(1000, 331, 2003, 1.02, 0.01)))
    # Heavy ties: small integer ranges.
    cases.append(ks_case("ties_integers", plain(rng.integers(0, 5, 40)), plain(rng.integers(0, 6, 55))))
    cases.append(ks_case("ties_shared_values", plain([1, 1, 2, 2, 2, 3, 3, 4]), plain([2, 2, 3, 3, 3, 3, 5])))
    # Identical samples: D = 0, p = 1.
    same = rounded(rng.normal(size=30))
    cases.append(ks_case("identical", same, same))
    # Completely separated: D = 1.
    cases.append(ks_case("separated", plain(np.arange(12)), plain(np.arange(100, 109))))
    # One value on each side.
    cases.append(ks_case("single_values", plain([1.5]), plain([2.5])))
    # Larger exact computations (the inside method with sliding window).
    cases.append(ks_case("exact_3000_2500", sequence(3000, 7919, 10007), sequence(2500, 6151, 12289, 1.0, 0.035)))
    cases.append(ks_case("exact_10000_37", sequence(10000, 7919, 10007), rounded(rng.uniform(0.1, 1.0, size=37))))
    cases.append(ks_case("exact_strong_drift", sequence(800, 389, 997), sequence(600, 211, 1009, 1.0, 0.3)))
    # Asymptotic branch: max(n1, n2) > 10,000; n = round(n1 n2 / (n1 + n2)) picks kstwo's method.
    cases.append(ks_case("asymp_12000_300", sequence(12000, 7919, 10007), sequence(300, 104729, 1009, 1.0, 0.02)))
    cases.append(ks_case("asymp_10001_50_small_n", sequence(10001, 7919, 10007), sequence(50, 389, 97, 1.1, 0.05)))
    cases.append(ks_case("asymp_20000_15000_close", sequence(20000, 7919, 10007), sequence(15000, 6151, 12289, 1.0, 0.0015)))
    cases.append(ks_case("asymp_20000_15000_pelz_good", sequence(20000, 7919, 10007), sequence(15000, 6151, 12289, 1.0, 0.012)))
    cases.append(ks_case("asymp_20000_15000_far", sequence(20000, 7919, 10007), sequence(15000, 6151, 12289, 1.0, 0.05)))
    cases.append(ks_case("asymp_ties", sequence(15000, 7, 11, 11.0), sequence(4000, 5, 13, 13.0)))
    return cases


def kstwo_cases():
    """(n, x) points chosen to cover every branch of scipy's _kolmogn (the KS one-sample law)."""
    points = [
        (10, 0.04),  # t <= 0.5
        (10, 0.08),  # 1/(2n) < x <= 1/n, n <= 140
        (500, 0.0015),  # same, n > 140
        (10, 0.95),  # t >= n - 1
        (10, 0.6),  # x >= 0.5: 2 * smirnov
        (50, 0.1),  # n <= 140, n x^2 <= 0.754693: Durbin matrix
        (50, 0.2),  # n <= 140, n x^2 <= 4: Pomeranz
        (50, 0.28),  # n <= 140, n x^2 > 4: 2 * smirnov
        (140, 0.05),
        (140, 0.15),
        (141, 0.15),
        (1000, 0.01),  # n > 140, n x^1.5 <= 1.4: Durbin matrix
        (1000, 0.03),  # n > 140: Pelz-Good
        (1000, 0.04),
        (1000, 0.05),  # n x^2 >= 2.2: 2 * smirnov
        (1000, 0.1),
        (1000, 0.7),
        (8571, 0.005),
        (8571, 0.012),
        (8571, 0.02),
        (8571, 0.2),  # n x^2 >= 370: 0
        (200000, 0.002),  # n > 100,000: Pelz-Good
        (200000, 0.004),  # 2 * smirnov with a large n
        (2000000, 0.0012),  # smirnov's n > 1,000,000 approximation
    ]
    out = []
    for n, x in points:
        out.append({"n": n, "x": x, "sf": float(scipy.stats.kstwo.sf(x, n))})
    return out


def smirnov_cases():
    """scipy.special.smirnov (one-sided) including its rarely used branches."""
    points = [(1, 0.3), (5, 0.1), (5, 0.2), (20, 0.03), (20, 0.06), (40, 0.05), (40, 0.07),
              (100, 0.025), (100, 0.1), (100, 0.5), (100, 0.99), (1000, 0.05), (1000, 0.3),
              (5000, 0.02), (5000, 0.04), (37, 0.5), (64, 0.25), (64, 0.984375)]
    return [{"n": n, "x": x, "sf": float(scipy.special.smirnov(n, x))} for n, x in points]


def evidently_chi_square(reference: dict, current: dict):
    """Evidently 0.7's chi-square: expected = reference counts scaled to the current total."""
    keys = sorted(set(reference) | set(current))
    n_ref = sum(reference.values())
    n_cur = sum(current.values())
    k_norm = n_cur / n_ref
    f_exp = [reference.get(k, 0) * k_norm for k in keys]
    f_obs = [current.get(k, 0) for k in keys]
    with np.errstate(divide="ignore"):
        res = scipy.stats.chisquare(f_obs, f_exp)
    return float(res.statistic), float(res.pvalue)


def chi_cases():
    cases = []
    specs = [
        ("balanced_no_drift", {"a": 30, "b": 40, "c": 30}, {"a": 33, "b": 38, "c": 29}),
        ("shifted", {"a": 300, "b": 400, "c": 300}, {"a": 200, "b": 500, "c": 250}),
        ("different_totals", {"en": 520, "de": 410, "fr": 70}, {"en": 90, "de": 95, "fr": 15}),
        ("missing_in_current", {"x": 10, "y": 20, "z": 5}, {"x": 12, "y": 23}),
        ("missing_in_reference", {"x": 10, "y": 20}, {"x": 12, "y": 23, "new": 1}),
        ("many_categories", {f"q{i}": 10 + 3 * i for i in range(25)}, {f"q{i}": 12 + 2 * i + (i % 4) for i in range(25)}),
        ("tiny_p", {"a": 1000, "b": 1000, "c": 1000}, {"a": 1500, "b": 900, "c": 600}),
        ("two_categories", {"a": 45, "b": 55}, {"a": 60, "b": 40}),
    ]
    for name, ref, cur in specs:
        stat, p = evidently_chi_square(ref, cur)
        # JSON has no infinity: a new category's infinite statistic is stored as the string "inf".
        cases.append({"name": name, "reference": ref, "current": cur,
                      "statistic": stat if math.isfinite(stat) else "inf", "p_value": p})
    return cases


def z_cases():
    """Evidently's two-proportion Z-test (pooled variance), on success counts."""
    specs = [(100, 40, 120, 50), (500, 250, 400, 260), (30, 3, 45, 9), (1000, 10, 1000, 11),
             (800, 300, 600, 100), (50, 0, 50, 5), (2000, 1000, 2000, 1400)]
    cases = []
    for n1, s1, n2, s2 in specs:
        p1, p2 = s1 / n1, s2 / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        evidently_p = 2 * (1 - scipy.stats.norm.cdf(np.abs(z)))
        accurate_p = 2 * scipy.stats.norm.sf(np.abs(z))
        cases.append({"reference_n": n1, "reference_successes": s1, "current_n": n2,
                      "current_successes": s2, "z": float(z), "p_value": float(accurate_p),
                      "p_value_evidently": float(evidently_p)})
    return cases


def wasserstein_cases(rng):
    cases = []
    specs = [
        ("normal_shift", rounded(rng.normal(size=300)), rounded(rng.normal(0.3, size=250))),
        ("ties", plain(rng.integers(0, 10, 200)), plain(rng.integers(2, 12, 180))),
        ("tiny", plain([1.0, 2.0]), plain([1.5])),
        ("constant_reference", plain([3.0] * 20), plain([3.0] * 15 + [4.0] * 5)),
        ("lognormal", rounded(rng.lognormal(3, 1, 150), 2), rounded(rng.lognormal(3.2, 1, 120), 2)),
    ]
    for name, (a, a_values), (b, b_values) in specs:
        dist = float(scipy.stats.wasserstein_distance(a_values, b_values))
        std = float(np.std(a_values))
        cases.append({"name": name, "a": a, "b": b, "distance": dist, "reference_std": std,
                      "normed": dist / max(std, 0.001)})
    return cases


def js_cases():
    specs = [
        ("equal", [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),
        ("shifted", [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]),
        ("zero_on_one_side", [0.5, 0.5, 0.0], [0.3, 0.3, 0.4]),
        ("disjoint", [1.0, 0.0], [0.0, 1.0]),
        ("unnormalised_counts", [30, 50, 20, 0], [10, 10, 10, 70]),
    ]
    return [{"name": n, "p": p, "q": q, "distance": float(distance.jensenshannon(p, q))}
            for n, p, q in specs]


def histogram_cases(rng):
    cases = []
    for name, values in [
        ("normal", np.round(rng.normal(10, 3, 300), 3)),
        ("integers", rng.integers(0, 1000, 123).astype(float)),
        ("constant", np.full(50, 7.0)),
        ("two_values", np.array([0.0, 1.0] * 30)),
    ]:
        values = [float(v) for v in values]
        edges = np.histogram_bin_edges(values, bins="sturges")
        counts = np.histogram(values, edges)[0]
        cases.append({"name": name, "values": values, "edges": [float(e) for e in edges],
                      "counts": [int(c) for c in counts]})
    return cases


def main():
    rng = np.random.default_rng(20240611)
    fixture = {
        "generated_by": "scripts/make_drift_fixtures.py",
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "ks_2samp": ks_cases(rng),
        "kstwo_sf": kstwo_cases(),
        "smirnov_sf": smirnov_cases(),
        "chi_square": chi_cases(),
        "z_test": z_cases(),
        "wasserstein": wasserstein_cases(rng),
        "jensen_shannon": js_cases(),
        "sturges_histogram": histogram_cases(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1, allow_nan=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")
    for case in fixture["ks_2samp"]:
        print(f"  ks {case['name']:<28} {case['method']:<10} D={case['statistic']:.6g} "
              f"p={case['p_value']:.6g}")


if __name__ == "__main__":
    assert math.isclose(sequence(3, 5, 7)[1][2], (10 % 7) / 7)
    main()
