"""One real Ray Serve cluster (127.0.0.1) with the a2f app on real Triton (CPU) per session.

A synthetic regression package (tiny NVIDIA-layout arrays) with the tiny ONNX regression net
of ``deployments.triton.fixtures`` is served by the bundled tritonserver owned by the
TritonOwner deployment; every port is picked free at start.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from a2f_actors.model_package.synthetic import make_regression_package
from deployments.settings import DeploymentOptions, ModelEntry, ServeSettings
from deployments.triton import fixtures
from deployments.triton.server import free_ports

PROJECT_DIR = str(Path(__file__).resolve().parents[3])
MODEL_ID = "tiny_v1.0"
OTHER_MODEL_ID = "tiny_v2.0"


def make_settings(root: Path, ports: list[int], backend: str = "triton") -> ServeSettings:
    reg = fixtures.build_regression(num_skin=8, num_tongue=4, seed=1).SerializeToString()
    path = make_regression_package(root / "reg", num_verts_skin=60, seed=2, onnx=reg)
    path2 = make_regression_package(root / "reg2", num_verts_skin=50, seed=5, onnx=reg)
    small = DeploymentOptions(num_cpus=0.05, min_replicas=1, max_replicas=1)
    return ServeSettings(
        grpc_port=ports[0],
        backend=backend,
        triton_grpc_port=ports[1],
        triton_http_port=ports[2],
        triton_metrics_port=ports[3],
        triton_workdir=str(root / "work"),
        models=(
            ModelEntry(model_id=MODEL_ID, kind="regression", path=str(path.parent)),
            ModelEntry(model_id=OTHER_MODEL_ID, kind="regression", path=str(path2.parent)),
        ),
        default_model=MODEL_ID,
        burst_mode=True,
        tick_ms=20,
        deployments={
            k: small for k in ("ingress", "audio_encoder", "inference", "solver", "triton")
        },
    )


@dataclass(frozen=True)
class Cluster:
    settings: ServeSettings
    url: str
    ingress: object  # DeploymentHandle of GrpcIngress

    def stats(self) -> dict:
        return self.ingress.stats.remote().result(timeout_s=30)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from deployments.app import build_app

    root = tmp_path_factory.mktemp("serve")
    ports = free_ports(5)
    settings = make_settings(root, ports)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",  # a new instance, never a `ray start` cluster on this host
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": PROJECT_DIR, "RAY_USAGE_STATS_ENABLED": "0"}},
    )
    try:
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=ports[4]))
        handle = serve.run(build_app(settings), name=settings.app_name, route_prefix="/a2f")
        port = handle.port.remote().result(timeout_s=120)
        yield Cluster(settings, f"127.0.0.1:{port}", handle)
    finally:
        serve.shutdown()
        ray.shutdown()


def run(coro):
    return asyncio.run(coro)
