"""Throughput of the shipped default networks with ONNX Runtime on the CPU (``make bench-models``).

One function per model (``bench_regression`` now; diffusion / A2E rows are added the same
way); each returns :class:`Row` s and shares the helpers below:

* FLOPs per inference are counted from the ONNX graph itself (batch fixed to 1, shapes from
  ONNX shape inference): MatMul / Gemm / Conv as 2 x multiply-adds, plus one FLOP per output
  element of elementwise ops (Mul, Add, Log, ...) and per input element of ReduceSum.
* frames/s = batch x runs / wall time of ``session.run`` (inputs prepared beforehand);
  GFLOP/s = frames/s x FLOPs per frame.

Usage: ``python benchmarks/bench_models.py [--threads 2] [--batches 1,8,32,128] [--seconds 3]
[--regression models/ada_v2.3]``. Target (issue #5): regression >= 1,500 frames/s at batch 32
on 2 threads.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ELEMENTWISE = frozenset(("Mul", "Add", "Sub", "Div", "Pow", "LeakyRelu", "Relu", "Log", "Exp",
                         "Sqrt", "Tanh", "Sigmoid"))  # fmt: skip
REGRESSION_TARGET_FPS = 1500.0


@dataclass(frozen=True)
class Row:
    """One benchmark line."""

    model: str
    batch: int
    frames_per_s: float
    ms_per_batch: float
    mflop_per_frame: float

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s."""
        return self.frames_per_s * self.mflop_per_frame / 1e3


def _shapes(model: object) -> dict[str, list[int | None]]:
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model, data_prop=True)
    g = inferred.graph
    out: dict[str, list[int | None]] = {t.name: list(t.dims) for t in g.initializer}
    for v in (*g.value_info, *g.input, *g.output):
        dims = v.type.tensor_type.shape.dim
        out[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return out


def _node_flops(node: object, shapes: dict[str, list[int | None]]) -> float:
    out = shapes.get(node.output[0])
    if out is None or None in out or not node.input:
        return 0.0
    a = shapes.get(node.input[0], [None])
    w = shapes.get(node.input[1], [None]) if len(node.input) > 1 else [None]
    if node.op_type == "Conv":
        return 2.0 * float(np.prod(out)) * float(np.prod(w[1:]))
    if node.op_type == "MatMul":
        return 2.0 * float(np.prod(out)) * float(a[-1] or 0)
    if node.op_type == "Gemm":
        trans_a = any(x.name == "transA" and x.i for x in node.attribute)
        return 2.0 * float(np.prod(out)) * float((a[0] if trans_a else a[-1]) or 0)
    if node.op_type == "ReduceSum":
        return float(np.prod(a)) if None not in a else 0.0
    return float(np.prod(out)) if node.op_type in ELEMENTWISE else 0.0


def onnx_flops(onnx_path: Path) -> float:
    """FLOPs of one inference at batch 1 (dynamic axis 0 of every input fixed to 1)."""
    import onnx

    model = onnx.load(str(onnx_path))
    for inp in model.graph.input:
        dim = inp.type.tensor_type.shape.dim[0]
        if not dim.HasField("dim_value"):
            dim.dim_value = 1
    shapes = _shapes(model)
    return sum(_node_flops(n, shapes) for n in model.graph.node)


def session(onnx_path: Path, threads: int) -> object:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (inter-op 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


def time_runs(sess: object, feeds: dict[str, np.ndarray], seconds: float) -> float:
    """Median-free throughput timing: warm up 3 runs, then run for ``seconds``; s per run."""
    for _ in range(3):
        sess.run(None, feeds)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 5:
        sess.run(None, feeds)
        n += 1
    return (time.perf_counter() - t0) / n


def bench_regression(pkg_dir: Path, batches: list[int], threads: int, seconds: float) -> list[Row]:
    """Regression network (``input`` [B,1,8320], ``emotion`` [B,1,26]): one frame per row."""
    onnx_path = Path(pkg_dir) / "network.onnx"
    flops = onnx_flops(onnx_path)
    sess = session(onnx_path, threads)
    rng = np.random.default_rng(0)
    rows = []
    for b in batches:
        feeds = {
            "input": (rng.standard_normal((b, 1, 8320)) * 0.1).astype(np.float32),
            "emotion": np.zeros((b, 1, 26), np.float32),
        }
        per = time_runs(sess, feeds, seconds)
        rows.append(Row(f"regression {Path(pkg_dir).name}", b, b / per, per * 1e3, flops / 1e6))
    return rows


def format_rows(rows: list[Row]) -> str:
    """Text table of the rows."""
    head = (
        f"{'model':28} {'batch':>5} {'frames/s':>10} {'ms/batch':>9} {'MFLOP/fr':>9} {'GFLOP/s':>8}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.model:28} {r.batch:5d} {r.frames_per_s:10.0f} {r.ms_per_batch:9.2f} "
            f"{r.mflop_per_frame:9.2f} {r.gflops:8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every model's benchmark that has a package and print one table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="1,8,32,128")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--regression", type=Path, default=Path("models/ada_v2.3"))
    args = p.parse_args(argv)
    batches = [int(x) for x in args.batches.split(",")]
    rows: list[Row] = []
    if (args.regression / "network.onnx").is_file():
        rows += bench_regression(args.regression, batches, args.threads, args.seconds)
    print(format_rows(rows))
    at32 = [r for r in rows if r.model.startswith("regression") and r.batch == 32]
    if at32:
        ok = at32[0].frames_per_s >= REGRESSION_TARGET_FPS
        print(f"regression @ batch 32: {at32[0].frames_per_s:.0f} frames/s "
              f"(target >= {REGRESSION_TARGET_FPS:.0f}: {'met' if ok else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
