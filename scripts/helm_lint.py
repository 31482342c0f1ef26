#!/usr/bin/env python3
"""`helm lint` and `helm template` for a chart, offline, through the Helm v4 library that the
PyPI wheel helm-sdkpy bundles (libhelm_sdkpy.so, called with ctypes; scripts/setup.sh unpacks it
into .venv-deploy/helm-sdkpy).

    .venv-deploy/bin/python scripts/helm_lint.py CHART [-f VALUES.yaml]... [--render OUT.yaml]

Lint: `helm_sdkpy_lint` lints a chart directory with its own values.yaml only, so values files
are deep-merged over a copy of the chart's values.yaml first (as `helm lint -f` merges them).
Prints every message and exits 1 when Helm reports an error. The library drops the messages'
text (Go errors serialise as {}), so the severity and file are shown, and, for an error, the
template is rendered (below) to find and print the cause.

Render (--render): the library has no client-only `helm template`; its install action renders
the chart and then creates the objects through a Kubernetes API. The script runs a minimal
in-process API server on 127.0.0.1 (discovery documents for the kinds the chart uses, and
create requests answered with the object) and installs into it with the release stored in
memory (HELM_DRIVER=memory); the release's rendered manifest is written to OUT. Nothing leaves
the machine. Values schema validation (values.schema.json) runs as in a real install.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / ".venv-deploy/helm-sdkpy/helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so"
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}
RELEASE = "ticketflow"
NAMESPACE = "ticketflow"

# Discovery: group/version -> [(resource, kind, namespaced)] for every kind a chart may create.
RESOURCES = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True),
        ("services", "Service", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("pods", "Pod", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "keda.sh/v1alpha1": [("scaledobjects", "ScaledObject", True)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True), ("podmonitors", "PodMonitor", True)],
}


def deep_merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return override


def merged_values(chart: Path, values_files: list[Path]) -> dict:
    values = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    for f in values_files:
        values = deep_merge(values, yaml.safe_load(f.read_text()) or {})
    return values


class Helm:
    """The few entry points of libhelm_sdkpy.so this script needs."""

    def __init__(self):
        if not LIB.is_file():
            raise SystemExit(f"{LIB} missing: run scripts/setup.sh")
        lib = ctypes.CDLL(str(LIB))
        u64 = ctypes.c_ulonglong
        cp = ctypes.c_char_p
        out = ctypes.POINTER(ctypes.c_void_p)
        lib.helm_sdkpy_config_create.argtypes = [cp, cp, cp, cp, ctypes.POINTER(u64)]
        lib.helm_sdkpy_config_create.restype = ctypes.c_int
        lib.helm_sdkpy_lint.argtypes = [u64, cp, out]
        lib.helm_sdkpy_lint.restype = ctypes.c_int
        lib.helm_sdkpy_install.argtypes = [u64, cp, cp, cp, cp, cp, out]
        lib.helm_sdkpy_install.restype = ctypes.c_int
        lib.helm_sdkpy_last_error.argtypes = []
        lib.helm_sdkpy_last_error.restype = ctypes.c_void_p
        lib.helm_sdkpy_version_string.restype = cp
        lib.helm_sdkpy_free.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def _take(self, ptr) -> str:
        if not ptr:
            return ""
        text = ctypes.string_at(ptr).decode()
        self.lib.helm_sdkpy_free(ptr)
        return text

    def _check(self, rc: int, what: str):
        if rc != 0:
            raise RuntimeError(f"{what}: {self._take(self.lib.helm_sdkpy_last_error()) or f'code {rc}'}")

    def version(self) -> str:
        return self.lib.helm_sdkpy_version_string().decode()

    def config(self, kubeconfig: str = "") -> int:
        handle = ctypes.c_ulonglong()
        rc = self.lib.helm_sdkpy_config_create(NAMESPACE.encode(), kubeconfig.encode(), b"", b"{}", ctypes.byref(handle))
        self._check(rc, "config")
        return handle.value

    def lint(self, handle: int, chart: Path) -> dict:
        result = ctypes.c_void_p()
        rc = self.lib.helm_sdkpy_lint(handle, str(chart).encode(), ctypes.byref(result))
        self._check(rc, "lint")
        return json.loads(self._take(result.value))

    def install(self, handle: int, chart: Path, values: dict) -> dict:
        result = ctypes.c_void_p()
        options = {
            "create_namespace": False,
            "wait": False,
            "timeout_seconds": 60,
            "wait_for_jobs": False,
            "server_side_apply": "false",
            "force_conflicts": False,
            "disable_openapi_validation": True,
            "skip_schema_validation": False,
            "rollback_on_failure": False,
            "take_ownership": False,
        }
        rc = self.lib.helm_sdkpy_install(
            handle, RELEASE.encode(), str(chart).encode(), json.dumps(values).encode(), b"",
            json.dumps(options).encode(), ctypes.byref(result),
        )
        self._check(rc, "render (install into the local stand-in API)")
        return json.loads(self._take(result.value))


class FakeApi(BaseHTTPRequestHandler):
    """Enough of the Kubernetes API for Helm to render and 'create' a chart's objects."""

    created: list = []

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self):
        self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            groups = []
            for gv in RESOURCES:
                if "/" not in gv:
                    continue
                group, version = gv.split("/")
                v = {"groupVersion": gv, "version": version}
                groups.append({"name": group, "versions": [v], "preferredVersion": v})
            return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        gv = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):] if path.startswith("/apis/") else None
        if gv in RESOURCES:
            return self._send(200, {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": [
                    {"name": r, "singularName": k.lower(), "namespaced": ns, "kind": k,
                     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                    for r, k, ns in RESOURCES[gv]
                ],
            })
        return self._not_found()

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:  # not JSON (protobuf): answer, keep nothing
            return self._send(201, {})
        FakeApi.created.append(body)
        body.setdefault("metadata", {})["uid"] = f"00000000-0000-0000-0000-{len(FakeApi.created):012d}"
        body["metadata"]["resourceVersion"] = "1"
        self._send(201, body)

    do_PUT = do_POST

    def do_PATCH(self):
        self._not_found()

    def do_DELETE(self):
        self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


def start_api(workdir: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    (workdir / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "local", "user": {}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local", "namespace": NAMESPACE}}],
    }))
    return server


# The Go runtime in the library sees the environment the process started with, not later
# changes: the script re-executes itself once with these set. Helm's own directories stay in the
# deploy venv; releases are kept in memory, never in the (stand-in) cluster.
HELM_ENV = {
    "HELM_DRIVER": "memory",
    "HELM_CACHE_HOME": str(ROOT / ".venv-deploy/helm-home/cache"),
    "HELM_CONFIG_HOME": str(ROOT / ".venv-deploy/helm-home/config"),
    "HELM_DATA_HOME": str(ROOT / ".venv-deploy/helm-home/data"),
}


def main(argv: list[str]) -> int:
    if any(os.environ.get(k) != v for k, v in HELM_ENV.items()):
        os.execve(sys.executable, [sys.executable, __file__, *argv], {**os.environ, **HELM_ENV})
    args = list(argv)
    values_files: list[Path] = []
    render_to = None
    chart = None
    while args:
        a = args.pop(0)
        if a in ("-f", "--values"):
            values_files.append(Path(args.pop(0)))
        elif a == "--render":
            render_to = Path(args.pop(0))
        elif chart is None and not a.startswith("-"):
            chart = Path(a)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if chart is None or not (chart / "Chart.yaml").is_file():
        print(f"not a chart directory: {chart}\n{__doc__}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="helm-lint-") as tmp:
        work = Path(tmp)
        helm = Helm()
        server = start_api(work)
        values = merged_values(chart, values_files)
        # Lint a copy whose values.yaml holds the merged values.
        copy = work / "chart" / chart.name
        shutil.copytree(chart, copy)
        (copy / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        result = helm.lint(helm.config(), copy)
        messages = result.get("Messages") or []
        errors = [m for m in messages if m.get("Severity", 0) >= 3] or ([{}] if result.get("Errors") else [])
        label = f"{chart}" + "".join(f" -f {f}" for f in values_files)
        for m in messages:
            print(f"[{SEVERITY.get(m.get('Severity'), m.get('Severity'))}] {m.get('Path', '')}")
        rendered = None
        if errors or render_to:
            try:
                release = helm.install(helm.config(str(work / "kubeconfig")), chart, values)
                rendered = release.get("manifest", "")
            except RuntimeError as e:
                print(f"{label}: {e}", file=sys.stderr)
                server.shutdown()
                return 1
        server.shutdown()
        if errors:
            print(f"{label}: helm lint ({helm.version()}) reports {len(errors)} error(s)", file=sys.stderr)
            return 1
        print(f"{label}: helm lint ({helm.version()}): 1 chart linted, 0 errors, {len(messages)} message(s)")
        if render_to is not None:
            render_to.write_text(rendered or "")
            count = sum(1 for d in yaml.safe_load_all(rendered or "") if d)
            print(f"{label}: rendered {count} object(s) to {render_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
