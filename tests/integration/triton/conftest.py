"""One real tritonserver (bundled with nvidia-pytriton) on 127.0.0.1 for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployments.triton import fixtures
from deployments.triton.repository import BuildOptions, NetworkSource, build_repository
from deployments.triton.server import ServerState, TritonPorts, TritonServer, free_ports


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
    build_repository(sources, root / "repo", BuildOptions(intra_op_threads=1))
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
