#!/usr/bin/env python3
"""Runs every PromQL expression of every shipped Grafana dashboard against a Prometheus and
reports which return data. Standard library only.

    scripts/check_dashboards.py [--prometheus http://127.0.0.1:9090] [--skip container_]

Exit status 1 when a checked expression returns no data. `--skip` leaves out expressions that
contain a substring (default: cAdvisor's `container_` metrics, which need a container runtime).
"""
import argparse
import json
import pathlib
import sys
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def exprs():
    for path in sorted((ROOT / "monitoring/grafana/dashboards").glob("*.json")):
        def walk(panels):
            for p in panels:
                for t in p.get("targets", []):
                    if t.get("expr"):
                        yield f"{path.name} / {p.get('title', '?')}", t["expr"]
                yield from walk(p.get("panels", []))
        yield from walk(json.loads(path.read_text())["panels"])


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--skip", action="append", default=None)
    args = ap.parse_args()
    skip = args.skip if args.skip is not None else ["container_"]
    checked, empty = 0, []
    for panel, expr in exprs():
        if any(s in expr for s in skip):
            continue
        checked += 1
        if not query(args.prometheus, expr.replace("$__rate_interval", "1m")):
            empty.append(f"{panel}: {expr}")
    print(f"dashboard queries with data: {checked - len(empty)}/{checked}"
          + (f" (skipped those containing {', '.join(skip)})" if skip else ""))
    for e in empty:
        print(f"  no data: {e}")
    return 1 if empty else 0


if __name__ == "__main__":
    sys.exit(main())
