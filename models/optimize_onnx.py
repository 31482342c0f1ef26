#!/usr/bin/env python3
"""Derive the graphs ticketflow runs from the exported model.onnx, without torch.

    python models/optimize_onnx.py --model-dir var/models/all-minilm-l6-v2 \
        [--reference tests/fixtures/parity/reference.json] [--force]

Reads ``model.onnx`` (written by models/export_onnx.py) and writes next to it:

model.fused.onnx   fp32 (``--precision fp32``, the default).  onnxruntime's
                   transformer optimizer (onnxruntime.transformers.optimizer,
                   model_type "bert") fuses each layer's attention into one
                   ``Attention`` node and bias + exact-erf GELU into
                   ``BiasGelu``.  SkipLayerNormalization and
                   EmbedLayerNormalization are left unfused on purpose: in
                   onnxruntime 1.32 the CPU SkipLayerNormalization kernel is
                   ~4x slower than Add + LayerNormalization at hidden size 384
                   (docs/benchmarks.md), so the embedder also disables
                   onnxruntime's own run-time SkipLayerNormFusion.
model.int8.onnx    ``--precision int8``.  onnxruntime.quantization.
                   quantize_dynamic of the fused graph: int8 weights (QInt8,
                   per output channel), activations quantised to uint8 at run
                   time.  Attention becomes QAttention (int8 Q/K/V
                   projection; the softmax(QK^T)V part stays fp32), the other
                   MatMuls become MatMulInteger, the embedding tables are
                   stored as int8.  Per-tensor weights cost far more accuracy
                   (median cosine to fp32 0.96 instead of 0.994) and uint8
                   weights run 1.7x slower on AVX-512 VNNI, so neither is used.

Both are checked before they replace anything:

* the fused graph must contain one Attention and one BiasGelu per layer (else
  the exporter's node patterns no longer match the optimizer's) and must
  reproduce the sentence-transformers reference vectors of
  tests/fixtures/parity/reference.json to a cosine of >= 0.9999, alone and in
  one padded batch, with onnxruntime's optimizations on (as the embedder runs
  it) and off;
* the int8 graph must contain the quantized nodes and stay within
  INT8_MIN_COSINE of the reference on every item (a canary for a broken
  quantisation, not the accuracy claim: that is embed/tests/int8.rs and
  `make bench-embed`).

Only onnx, onnxruntime (with sympy for its symbolic shape inference), numpy
and the standard library are used (pins: models/requirements.txt).

Re-running is cheap: if --model-dir/optimize.json records the same model.onnx
sha256, script version and onnxruntime version and both outputs are intact, it
prints "up to date".
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_onnx import (  # noqa: E402  (sibling script)
    DEFAULT_REFERENCE,
    MIN_COSINE,
    OUTPUT_NAME,
    REPO_ROOT,
    ExportError,
    common_arguments,
    padded_batch,
    read_json,
    run_reporting,
    sha256_file,
    write_atomic,
)

# Bump whenever the derived graphs or the files written change: forces a rebuild.
OPTIMIZER_VERSION = "ticketflow-optimize-onnx/1"
FUSED = "model.fused.onnx"
INT8 = "model.int8.onnx"
# Setup canary for the int8 graph against the sentence-transformers vectors, per item. Measured
# with onnxruntime 1.32 on AVX-512 VNNI: min 0.977 over the 43 reference items (median 0.991);
# a per-tensor quantisation, the usual way to get this wrong, gives min 0.86.
INT8_MIN_COSINE = 0.97
# The run-time setting the embedder uses (embed/src/lib.rs): see the module docstring.
DISABLED_OPTIMIZERS = "SkipLayerNormFusion"


def session(path: Path, level: ort.GraphOptimizationLevel) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = level
    so.add_session_config_entry("optimization.disable_specified_optimizers", DISABLED_OPTIMIZERS)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def embed_reference(sess: ort.InferenceSession, items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The first item alone (no padding), then every item in one right-padded batch."""
    names = {i.name for i in sess.get_inputs()}

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return sess.run([OUTPUT_NAME], {k: v for k, v in feed.items() if k in names})[0]

    first = np.array([items[0]["input_ids"]], dtype=np.int64)
    single = run(first, np.ones_like(first))
    return single, run(*padded_batch(items))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def check(path: Path, items: list[dict], bound: float, what: str) -> np.ndarray:
    """Cosines of `path`'s vectors to the reference, with optimizations on and off; all >= bound."""
    ref = np.array([it["embedding"] for it in items], dtype=np.float32)
    worst = None
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        try:
            single, batch = embed_reference(session(path, level), items)
        except Exception as e:  # onnxruntime raises its own exception types
            raise ExportError(f"{what}: onnxruntime error with {level.name}: {e}") from e
        if batch.shape != ref.shape:
            raise ExportError(f"{what}: output shape {batch.shape}, expected {ref.shape}")
        cos = cosines(batch, ref)
        c0 = float(cosines(single, ref[:1])[0])
        for i, c, how in ((0, c0, "alone"), (int(np.argmin(cos)), float(np.min(cos)), "in a padded batch")):
            if not c >= bound:
                raise ExportError(
                    f"{what}: cosine to the reference {c:.6f} < {bound} with {level.name}, "
                    f"item {i} {how} ({items[i]['text'][:40]!r})"
                )
        worst = cos if worst is None else np.minimum(worst, cos)
    return worst


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    return dict(collections.Counter(n.op_type for n in model.graph.node))


def fuse(src: Path, dst: Path, num_heads: int, hidden: int, layers: int) -> dict[str, int]:
    """Writes the fused graph to `dst`; returns its op counts."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    opts = FusionOptions("bert")
    opts.enable_skip_layer_norm = False  # slower than Add + LayerNormalization on CPU (see top)
    opts.enable_bias_skip_layer_norm = False
    opts.enable_embed_layer_norm = False  # <1% of the time; keeps the graph's inputs as they are
    # opt_level 0: only the Python fusions; onnxruntime's own graph optimizations run at load
    # time in the embedder, where they can use the machine's instruction set.
    fused = optimizer.optimize_model(
        str(src),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden,
        opt_level=0,
        use_gpu=False,
        optimization_options=opts,
    )
    counts = op_counts(fused.model)
    want = {"Attention": layers, "BiasGelu": layers}
    got = {k: counts.get(k, 0) for k in want}
    if got != want:
        raise ExportError(
            f"fusion: expected {want} in the fused graph, got {got}; the exporter's node patterns "
            "no longer match onnxruntime's BERT fusions (see models/export_onnx.py)"
        )
    fused.model.producer_name = "ticketflow/models/optimize_onnx.py"
    fused.model.producer_version = OPTIMIZER_VERSION
    # save_model_to_file sorts the nodes and declares the com.microsoft opset of the fused ops.
    fused.save_model_to_file(str(dst))
    return counts


def quantize(src: Path, dst: Path, layers: int) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # The contrib ops of the fused graph (Attention, BiasGelu) have no ONNX type inference.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    counts = op_counts(onnx.load(str(dst), load_external_data=False))
    # Per layer: QAttention (Q/K/V) + attention output, FFN in and FFN out as MatMulInteger.
    want = {"QAttention": layers, "MatMulInteger": 3 * layers}
    got = {k: counts.get(k, 0) for k in want}
    if got != want:
        raise ExportError(f"quantization: expected {want} in the int8 graph, got {got}")


def tmp_path(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def up_to_date(model_dir: Path, source_sha: str) -> bool:
    try:
        meta = read_json(model_dir / "optimize.json")
    except (OSError, ValueError):
        return False
    return (
        meta.get("optimizer_version") == OPTIMIZER_VERSION
        and meta.get("onnxruntime_version") == ort.__version__
        and meta.get("source_model_onnx_sha256") == source_sha
        and all(
            (model_dir / name).is_file() and sha256_file(model_dir / name) == meta.get("files", {}).get(name)
            for name in (FUSED, INT8)
        )
    )


def optimize(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    model_dir: Path = args.model_dir
    src = model_dir / "model.onnx"
    if not src.is_file():
        raise ExportError(f"{src} not found: run models/export_onnx.py --out {model_dir} first")
    source_sha = sha256_file(src)
    if not args.force and up_to_date(model_dir, source_sha):
        print(f"{model_dir / FUSED}, {model_dir / INT8}: up to date ({OPTIMIZER_VERSION}, onnxruntime {ort.__version__})")
        return 0

    ref_path = Path(args.reference) if args.reference else DEFAULT_REFERENCE
    try:
        items = read_json(ref_path)["items"]
        if not items:
            raise ValueError("no items")
    except (OSError, ValueError, KeyError) as e:
        raise ExportError(f"cannot read reference fixture {ref_path}: {e}") from e
    cfg = read_json(model_dir / "config.json")
    heads, hidden, layers = (int(cfg[k]) for k in ("num_attention_heads", "hidden_size", "num_hidden_layers"))

    # An interrupted or failed rebuild must never look "up to date".
    (model_dir / "optimize.json").unlink(missing_ok=True)
    fused_tmp = tmp_path(model_dir, FUSED)
    int8_tmp = tmp_path(model_dir, INT8)
    try:
        fused_counts = fuse(src, fused_tmp, heads, hidden, layers)
        fused_cos = check(fused_tmp, items, MIN_COSINE, "fused fp32 canary")
        quantize(fused_tmp, int8_tmp, layers)
        int8_cos = check(int8_tmp, items, INT8_MIN_COSINE, "int8 canary")
        int8_counts = op_counts(onnx.load(str(int8_tmp), load_external_data=False))
        for tmp in (fused_tmp, int8_tmp):
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(fused_tmp, model_dir / FUSED)
        os.replace(int8_tmp, model_dir / INT8)
    except BaseException:
        fused_tmp.unlink(missing_ok=True)
        int8_tmp.unlink(missing_ok=True)
        raise

    meta = {
        "optimizer_version": OPTIMIZER_VERSION,
        "onnxruntime_version": ort.__version__,
        "onnx_version": onnx.__version__,
        "source_model_onnx_sha256": source_sha,
        "files": {name: sha256_file(model_dir / name) for name in (FUSED, INT8)},
        "run_time_disabled_optimizers": DISABLED_OPTIMIZERS,
        FUSED: {
            "precision": "fp32",
            "fused_ops": {k: v for k, v in fused_counts.items() if k in ("Attention", "BiasGelu")},
            "canary_min_cosine_to_reference": round(float(fused_cos.min()), 8),
        },
        INT8: {
            "precision": "int8",
            "quantization": "onnxruntime.quantization.quantize_dynamic, QInt8 weights per channel, uint8 activations",
            "quantized_ops": {k: v for k, v in int8_counts.items() if k in ("QAttention", "MatMulInteger")},
            "canary_cosine_to_reference": {
                "min": round(float(int8_cos.min()), 6),
                "median": round(float(np.median(int8_cos)), 6),
                "bound": INT8_MIN_COSINE,
            },
        },
        "reference": str(ref_path.relative_to(REPO_ROOT)) if ref_path.is_relative_to(REPO_ROOT) else str(ref_path),
    }
    write_atomic(model_dir / "optimize.json", (json.dumps(meta, indent=2) + "\n").encode())
    print(
        f"wrote {model_dir / FUSED} ({(model_dir / FUSED).stat().st_size / 1e6:.1f} MB, "
        f"{meta[FUSED]['fused_ops']}) and {model_dir / INT8} ({(model_dir / INT8).stat().st_size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - t0:.1f}s; cosine to the {len(items)} reference vectors: fused min "
        f"{fused_cos.min():.8f}, int8 min {int8_cos.min():.4f} median {np.median(int8_cos):.4f}"
    )
    return 0


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True, type=Path, help="directory with model.onnx and config.json")
    common_arguments(ap)
    args = ap.parse_args(argv)
    # The optimizer warns that the producer is not "pytorch" and the quantizer suggests
    # pre-processing; neither applies to this graph.
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    for name in ("optimizer", "onnx_model", "fusion_base", "onnx_model_bert", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return run_reporting("optimize_onnx", optimize, args)


if __name__ == "__main__":
    sys.exit(main())
