#!/usr/bin/env python3
"""Runs the workspace's test binaries side by side: what `make test` calls.

`cargo test` runs one test binary after the other. Ours mostly wait, on servers they start
(nats-server, Chroma, moto, Prometheus), on timeouts they provoke and on workers they kill: nine
of the suite's ten minutes are six binaries (cluster_faults, faults, observability, pipeline,
cumulative, lifecycle), each idle most of the time. Every test takes free ports from the OS
(`tests/support::free_port`) and its own temporary directories, so binaries can run at once.

cargo-nextest does this and more, but no package registry ships it prebuilt, and building it
from source costs about as long as it saves here: hence these hundred lines.

1. `cargo test --no-run --message-format=json` builds every test binary and names them.
2. They run JOBS at a time (default 2), the slowest first by the previous run's times
   (target/test-times.json; FIRST_RUN_SECONDS before there are any), each with cargo's working directory (its package's root) and its
   own default test threads. Each binary's output is printed whole when it ends.
3. Then the doc tests, through cargo. The exit status is non-zero if anything failed.

Usage: scripts/run_tests.py [--jobs N] [-- extra cargo test arguments, e.g. --locked]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "target" / "test-times.json"
# Seconds each slow binary took with two at a time on 2 cores, for the order of a first run
# (a clean clone has no target/test-times.json): the slowest must start first.
FIRST_RUN_SECONDS = {
    "cluster_faults": 230,
    "faults": 170,
    "observability": 150,
    "cumulative": 100,
    "lifecycle": 80,
    "pipeline": 75,
}


def test_binaries(cargo_args):
    """Builds the test binaries; returns (name, executable, package root) for each."""
    cmd = ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"]
    proc = subprocess.run(cmd + cargo_args, cwd=ROOT, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        sys.exit(f"run_tests: building the tests failed ({' '.join(cmd + cargo_args)})")
    found = []
    for line in proc.stdout.decode().splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        package_root = Path(msg["manifest_path"]).parent
        kind = "unit" if target["kind"] != ["test"] else "test"
        found.append((f"{package_root.name}/{kind}/{target['name']}", msg["executable"], package_root))
    return found


def run_one(name, executable, cwd):
    started = time.monotonic()
    proc = subprocess.run(
        [executable], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
    )
    return name, proc.returncode, time.monotonic() - started, proc.stdout.decode(errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "2")))
    parser.add_argument("cargo_args", nargs="*")
    args = parser.parse_args()
    if args.jobs < 1:
        sys.exit("run_tests: --jobs must be at least 1")

    binaries = test_binaries(args.cargo_args)
    previous = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    # Slowest first, so the long ones overlap instead of finishing last, one by one.
    def expected(binary):
        name = binary[0]
        return previous.get(name, FIRST_RUN_SECONDS.get(name.rsplit("/", 1)[-1], 0.0))

    binaries.sort(key=expected, reverse=True)
    print(f"run_tests: {len(binaries)} test binaries, {args.jobs} at a time", flush=True)

    started = time.monotonic()
    times, failed = {}, []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        running = [pool.submit(run_one, *b) for b in binaries]
        for done in as_completed(running):
            name, code, seconds, output = done.result()
            times[name] = round(seconds, 1)
            verdict = "ok" if code == 0 else f"FAILED (exit {code})"
            print(f"\n==== {name}: {verdict} in {seconds:.1f} s\n{output}", flush=True)
            if code != 0:
                failed.append(name)
    TIMES.parent.mkdir(exist_ok=True)
    TIMES.write_text(json.dumps(times, indent=1, sort_keys=True))

    doc = subprocess.run(
        ["cargo", "test", "--workspace", "--doc"] + args.cargo_args, cwd=ROOT, check=False
    )
    if doc.returncode != 0:
        failed.append("doc tests")
    wall = time.monotonic() - started
    slowest = sorted(times.items(), key=lambda t: -t[1])[:6]
    print(f"\nrun_tests: {len(binaries)} binaries and the doc tests in {wall:.0f} s wall "
          f"(sum of binaries {sum(times.values()):.0f} s); slowest: "
          + ", ".join(f"{n} {s:.0f} s" for n, s in slowest))
    if failed:
        sys.exit("run_tests: FAILED: " + ", ".join(failed))


if __name__ == "__main__":
    main()
