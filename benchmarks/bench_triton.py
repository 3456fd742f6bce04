"""Regression frames/s through Triton (CPU, Python backend + ORT) vs in-process ONNX Runtime.

Model: the regression-sized conv net of deployments/triton/fixtures.py (~2.9 M params, NVIDIA's
I/O: input [B,1,8320], emotion [B,1,26] -> result [B,1,301]). In-process runs one batch of
C frames per call (what a caller that batches C streams gets); Triton gets C concurrent
single-frame gRPC requests and batches them with its dynamic batcher. Efficiency = best Triton
frames/s / best in-process frames/s.

Usage: .venv/bin/python benchmarks/bench_triton.py [--seconds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from deployments.backends.onnx_cpu import OnnxCpuBackend
from deployments.backends.triton_grpc import TritonGrpcBackend
from deployments.triton import fixtures
from deployments.triton.repository import BuildOptions, NetworkSource, build_repository
from deployments.triton.server import TritonPorts, TritonServer

MODEL = "a2f_regression_bench"
CONCURRENCY = (1, 8, 32, 128)


def frames(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "input": rng.standard_normal((batch, 1, 8320)).astype(np.float32),
        "emotion": rng.standard_normal((batch, 1, 26)).astype(np.float32),
    }


def in_process_fps(backend: OnnxCpuBackend, batch: int, seconds: float) -> float:
    feeds = frames(batch)
    backend.run_sync(MODEL, feeds)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        backend.run_sync(MODEL, feeds)
        n += batch
    return n / (time.perf_counter() - t0)


async def triton_fps(url: str, concurrency: int, seconds: float) -> float:
    backend = TritonGrpcBackend(url)
    feeds = frames(1)
    await backend.infer(MODEL, feeds)  # warm-up
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await backend.infer(MODEL, feeds)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await backend.close()
    return done / elapsed


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads (both)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_triton_"))
    onnx = fixtures.save(fixtures.build_regression_convnet(), root / "network.onnx")
    opts = BuildOptions(intra_op_threads=args.threads, allow_spinning=False)
    build_repository([NetworkSource("regression", "bench", onnx)], root / "repo", opts)
    local = OnnxCpuBackend({MODEL: onnx}, intra_op_threads=args.threads)
    server = TritonServer(root / "repo", TritonPorts(*free_ports(3)), workdir=root / "work")
    rows = []
    try:
        state = server.start(timeout_s=120)
        url = f"127.0.0.1:{state.grpc}"
        for c in CONCURRENCY:
            ort = in_process_fps(local, c, args.seconds)
            rows.append((c, ort, asyncio.run(triton_fps(url, c, args.seconds))))
    finally:
        server.stop()
    print(f"{'C':>5} {'in-process fps':>15} {'triton grpc fps':>16}")
    for c, ort, wire in rows:
        print(f"{c:>5} {ort:>15.0f} {wire:>16.0f}")
    best_ort, best_wire = max(r[1] for r in rows), max(r[2] for r in rows)
    print(f"serving efficiency (best triton / best in-process) = {best_wire / best_ort:.2f}")


if __name__ == "__main__":
    main()
