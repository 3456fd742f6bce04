"""CPU cost of the ingress path per frame, without Ray (``python benchmarks/bench_ingress.py``).

The NIM gRPC ingress (:class:`deployments.ingress.grpc.server.GrpcIngress`, the replica's code)
runs in this process with its stages called in-process (:class:`LocalPipeline`): real audio
encoding, A2F on ONNX Runtime (or the fake backend), real post-processing + solve. Every stage
call is timed in CPU seconds, so the process's CPU minus the stages' is what the ingress itself
costs: gRPC in/out, sessions, windowing, frame conversion, metrics. The load generator runs in a
child process (real time, ``--streams`` streams, ``--duration-s``), so its CPU is not counted.

Prints: frames delivered, p50/p99 latency from the load generator, and ingress CPU in
microseconds per frame, split into stage CPU and the rest. ``--profile FILE`` writes a cProfile
of the whole run (``python -m pstats FILE``).

This isolates the per-frame cost of the ingress replica, the bottleneck of the real-time sweep
(docs/loadtest.md), so changes to it can be A/B-tested in seconds instead of cluster runs.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as in a Ray worker; idle BLAS threads spin and skew CPU

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployments.audio_encoder import AudioEncoder  # noqa: E402
from deployments.face_inference import A2FInference  # noqa: E402
from deployments.ingress.grpc.server import GrpcIngress  # noqa: E402
from deployments.session.pipelines import LocalPipeline  # noqa: E402
from deployments.settings import ModelEntry, ServeSettings  # noqa: E402
from deployments.solver import BlendshapeSolver  # noqa: E402


class TimedPipeline(LocalPipeline):
    """LocalPipeline that sums the CPU seconds spent inside each stage call."""

    stage_cpu: ClassVar[dict[str, float]] = {}
    frames = 0

    async def _timed(self, name: str, coro: Any) -> Any:
        c0 = time.thread_time()
        try:
            return await coro
        finally:  # the local stages do their work synchronously inside the await
            self.stage_cpu[name] = self.stage_cpu.get(name, 0.0) + time.thread_time() - c0

    async def encode(self, items):  # type: ignore[override]
        return await self._timed("encode", super().encode(items))

    async def infer(self, items):  # type: ignore[override]
        return await self._timed("infer", super().infer(items))

    async def solve(self, items):  # type: ignore[override]
        results = await self._timed("solve", super().solve(items))
        TimedPipeline.frames += sum(len(r.weights) for r in results)
        return results


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name of this process (Linux /proc; empty elsewhere)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def main(args: argparse.Namespace) -> dict[str, float]:
    entry = ModelEntry(model_id="m", kind="regression", path=str(args.package))
    settings = ServeSettings(
        backend=args.backend, models=(entry,), default_model="m", grpc_port=0,
        tick_ms=args.tick_ms,
    )  # fmt: skip
    ingress = GrpcIngress(
        settings, AudioEncoder(), None, A2FInference.from_settings(settings),
        BlendshapeSolver.from_settings(settings), pipeline_cls=TimedPipeline,
    )  # fmt: skip
    port = await ingress.start()
    out = Path(tempfile.mkdtemp(prefix="bench_ingress_"))
    cmd = [
        sys.executable, "-m", "deployments.cli.loadtest_cmd", "loadtest", "run",
        "--url", f"127.0.0.1:{port}", "--streams", str(args.streams),
        "--duration-s", str(args.duration_s), "--out", str(out), "--quiet",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT)
    await asyncio.sleep(args.warmup_s)  # skip stream start-up
    TimedPipeline.stage_cpu.clear()
    c0, frames0, th0 = cpu_s(), _frames(ingress), thread_cpu()
    await asyncio.sleep(args.window_s)
    c1, frames1, th1 = cpu_s(), _frames(ingress), thread_cpu()
    stages = dict(TimedPipeline.stage_cpu)
    await proc.wait()
    await ingress.stop(0.5)
    frames = frames1 - frames0
    total = c1 - c0
    staged = sum(stages.values())
    with open(out / "levels.csv") as f:
        row = next(csv.DictReader(f))
    result = {
        "streams": args.streams, "frames": frames, "p50_ms": float(row["p50_ms"]),
        "p99_ms": float(row["p99_ms"]), "min_fps": float(row["min_fps"]),
        "cpu_us_per_frame": 1e6 * total / max(frames, 1),
        "ingress_us_per_frame": 1e6 * (total - staged) / max(frames, 1),
        **{f"{k}_us_per_frame": 1e6 * v / max(frames, 1) for k, v in stages.items()},
    }  # fmt: skip
    for name in sorted(th1, key=lambda n: th0.get(n, 0.0) - th1[n]):
        used = th1[name] - th0.get(name, 0.0)
        if used > 0.01:
            result[f"thread[{name}]_us_per_frame"] = 1e6 * used / max(frames, 1)
    return result


def _frames(ingress: GrpcIngress) -> int:
    return TimedPipeline.frames


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--package", type=Path, default=ROOT / "models" / "ada_v2.3")
    p.add_argument("--backend", choices=("onnx", "fake"), default="onnx")
    p.add_argument("--streams", type=int, default=16)
    p.add_argument("--duration-s", type=float, default=14.0)
    p.add_argument("--warmup-s", type=float, default=3.0)
    p.add_argument("--window-s", type=float, default=8.0)
    p.add_argument("--tick-ms", type=float, default=30.0)
    p.add_argument("--profile", type=Path)
    p.add_argument(
        "--ray-metrics", action="store_true",
        help="run inside a local Ray instance, so the app's metrics go to Ray (as in a replica)",
    )  # fmt: skip
    a = p.parse_args()
    if a.ray_metrics:
        import ray

        ray.init(num_cpus=1, include_dashboard=False, logging_level="ERROR")
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    res = asyncio.run(main(a))
    if prof:
        prof.disable()
        prof.dump_stats(a.profile)
    print("  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
