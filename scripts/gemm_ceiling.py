"""What ONNX Runtime's own matrix kernels reach on this machine: the practical ceiling for the encoder.

    .venv/bin/python scripts/gemm_ceiling.py [--threads 2] [--rows 3000]

Times one MatMul (fp32, MLAS SGEMM) and one MatMulInteger (uint8 x int8, the kernel behind the
int8 graph's quantised MatMuls) at the encoder's three weight shapes, [rows, 384] x [384, 1536],
[rows, 1536] x [384] and [rows, 384] x [384, 384], with the given intra-op threads, and prints
JSON: the best GFLOP/s (2 x M x K x N per call) per precision and shape, and the mean over the
shapes. Uses the onnxruntime of the project venv, the same build as var/lib/libonnxruntime.so.
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SHAPES = [(384, 1536), (1536, 384), (384, 384)]


def session(rows: int, k: int, n: int, precision: str, threads: int):
    rng = np.random.default_rng(0)
    if precision == "fp32":
        w = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "W")
        node = helper.make_node("MatMul", ["A", "W"], ["Y"])
        a = rng.standard_normal((rows, k), dtype=np.float32)
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        w = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "W")
        node = helper.make_node("MatMulInteger", ["A", "W"], ["Y"])
        a = rng.integers(0, 256, (rows, k), dtype=np.uint8)
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("A", a_type, [rows, k])],
        [helper.make_tensor_value_info("Y", y_type, [rows, n])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]), a


def best_gflops(rows: int, k: int, n: int, precision: str, threads: int) -> float:
    sess, a = session(rows, k, n, precision, threads)
    sess.run(None, {"A": a})
    best = 0.0
    for _ in range(5):
        calls, t0 = 10, time.perf_counter()
        for _ in range(calls):
            sess.run(None, {"A": a})
        best = max(best, 2 * rows * k * n * calls / (time.perf_counter() - t0) / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=3000, help="M: tokens in one call (32 tickets x ~94 tokens)")
    args = ap.parse_args()
    out = {"onnxruntime": ort.__version__, "threads": args.threads, "rows": args.rows}
    for precision in ("fp32", "int8"):
        per_shape = {f"{k}x{n}": round(best_gflops(args.rows, k, n, precision, args.threads), 1) for k, n in SHAPES}
        out[precision] = {"per_shape_gflops": per_shape, "gflops": round(sum(per_shape.values()) / len(per_shape), 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
