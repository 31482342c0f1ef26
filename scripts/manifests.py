#!/usr/bin/env python3
"""Validate rendered Kubernetes objects offline, and turn YAML streams into JSON.

    .venv-deploy/bin/python scripts/manifests.py validate [--json] FILE... | -
    .venv-deploy/bin/python scripts/manifests.py json FILE | -

`validate` reads YAML streams (`kubectl kustomize` output, a rendered Helm chart) and checks
every object:

- built-in kinds with kubernetes-validate in strict mode (unknown fields are errors) against each
  Kubernetes version in KUBE_VERSIONS;
- the custom resources the deployment uses (KEDA ScaledObject, Prometheus Operator
  ServiceMonitor/PodMonitor) with jsonschema against the CRD schemas vendored in
  tests/fixtures/crds/ (see the README there), made strict the same way;
- any other kind is an error: nothing goes unvalidated.

It exits 1 listing every problem. With --json it prints the objects as a JSON array on success,
for the checks in tests/deploy.rs. `json` prints a YAML stream as a JSON array (for
`docker-compose config` output).

Runs in .venv-deploy (scripts/setup.sh): kubernetes-validate, jsonschema, PyYAML.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CRD_DIR = ROOT / "tests" / "fixtures" / "crds"

# The oldest Kubernetes release the manifests support and the newest kubernetes-validate knows.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]

# (apiVersion, kind) -> vendored openAPIV3Schema file.
CRDS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.yaml",
}


def strict(schema):
    """Reject unknown fields where the schema lists properties (as the API server's strict field
    validation does), except in objects marked `x-open: true`."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and not out.get("x-open"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_validator(filename: str):
    schema = strict(yaml.safe_load((CRD_DIR / filename).read_text()))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def load(paths: list[str]) -> list[tuple[str, dict]]:
    """(source, object) for every non-empty document; `List` objects are flattened."""
    out = []
    for p in paths:
        text = sys.stdin.read() if p == "-" else Path(p).read_text()
        name = "<stdin>" if p == "-" else p
        for i, doc in enumerate(yaml.safe_load_all(text)):
            if doc is None:
                continue
            if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and "items" in doc:
                out.extend((f"{name}#{i}", item) for item in doc["items"])
            else:
                out.append((f"{name}#{i}", doc))
    return out


def describe(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def validate(objects: list[tuple[str, dict]]) -> list[str]:
    errors = []
    validators = {}
    seen = set()
    for source, obj in objects:
        if not isinstance(obj, dict):
            errors.append(f"{source}: not a mapping")
            continue
        what = describe(obj)
        for key in ("apiVersion", "kind"):
            if not obj.get(key):
                errors.append(f"{source} {what}: no {key}")
        if not (obj.get("metadata") or {}).get("name"):
            errors.append(f"{source} {what}: no metadata.name")
        ident = (obj.get("apiVersion"), obj.get("kind"), (obj.get("metadata") or {}).get("namespace"), (obj.get("metadata") or {}).get("name"))
        if ident in seen:
            errors.append(f"{source} {what}: defined twice")
        seen.add(ident)
        crd = CRDS.get((obj.get("apiVersion"), obj.get("kind")))
        if crd:
            if crd not in validators:
                validators[crd] = crd_validator(crd)
            for err in sorted(validators[crd].iter_errors(obj), key=lambda e: list(e.path)):
                path = "/".join(str(p) for p in err.path) or "(root)"
                errors.append(f"{source} {what}: {path}: {err.message} (CRD schema {crd})")
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(
                    f"{source} {what}: no schema for {obj.get('apiVersion')} {obj.get('kind')} "
                    f"in Kubernetes {version} (and no vendored CRD schema)"
                )
            except kubernetes_validate.ValidationError as e:
                # Its attributes are those of the jsonschema error it wraps.
                path = "/".join(str(p) for p in getattr(e, "path", [])) or "(root)"
                errors.append(f"{source} {what}: Kubernetes {version}: {path}: {getattr(e, 'message', e)}")
            except kubernetes_validate.InvalidSchemaError as e:
                errors.append(f"{source} {what}: Kubernetes {version}: {e}")
    return errors


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("validate", "json"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    as_json = "--json" in rest
    paths = [a for a in rest if a != "--json"]
    try:
        objects = load(paths)
    except (OSError, yaml.YAMLError) as e:
        print(f"cannot read the input: {e}", file=sys.stderr)
        return 1
    if command == "json":
        print(json.dumps([o for _, o in objects]))
        return 0
    if not objects:
        print("no objects to validate", file=sys.stderr)
        return 1
    errors = validate(objects)
    if errors:
        print(f"{len(errors)} problem(s) in {len(objects)} object(s):", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps([o for _, o in objects]))
    else:
        print(f"{len(objects)} object(s) valid (Kubernetes {', '.join(KUBE_VERSIONS)}, strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
