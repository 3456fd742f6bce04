"""One real tritonserver (bundled with nvidia-pytriton) on 127.0.0.1 for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.triton import fixtures
from deployments.triton.repository import (
    BuildOptions,
    NetworkSource,
    build_repository,
    with_settings,
)
from deployments.triton.server import ServerState, TritonPorts, TritonServer, free_ports

#: Model id of the long-queue-delay copy of the tiny regression net (dynamic batching test).
BATCHING_ID = "tinybatch"


def make_sources(root: Path) -> list[NetworkSource]:
    return [
        NetworkSource(
            "regression",
            "tiny",
            fixtures.save(fixtures.build_regression(), root / "reg" / "network.onnx"),
        ),
        NetworkSource(
            "diffusion",
            "tiny",
            fixtures.save(fixtures.build_diffusion(), root / "dif" / "network.onnx"),
        ),
        NetworkSource(
            "a2e", "tiny", fixtures.save(fixtures.build_a2e(), root / "a2e" / "network.onnx")
        ),
    ]


@dataclass(frozen=True)
class TritonEnv:
    server: TritonServer
    state: ServerState
    onnx: dict[str, Path]  # Triton model name -> ONNX file

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.state.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.state.metrics}/metrics"


@pytest.fixture(scope="session")
def triton_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonEnv]:
    root = tmp_path_factory.mktemp("triton")
    sources = make_sources(root / "packages")
    opts = BuildOptions(intra_op_threads=1)
    build_repository(sources, root / "repo", opts)
    # The same tiny regression net with a 50 ms queue delay (production: 0.1 ms, see
    # repository.CPU_DEFAULTS): at 0.1 ms, whether 32 concurrent requests merge depends on the
    # machine's speed and load, so the batcher test uses this copy to show batching itself.
    batching = NetworkSource("regression", BATCHING_ID, sources[0].onnx_path)
    build_repository([batching], root / "repo", with_settings(opts, max_queue_delay_us=50_000))
    http, grpc, metrics = free_ports(3)
    server = TritonServer(root / "repo", TritonPorts(http, grpc, metrics), workdir=root / "work")
    try:
        state = server.start(timeout_s=90)
        onnx = {
            f"{p}tiny": s.onnx_path
            for p, s in zip(("a2f_regression_", "a2f_diffusion_", "a2e_"), sources, strict=True)
        }
        yield TritonEnv(server, state, onnx)
    finally:
        server.stop()
