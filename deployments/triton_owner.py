"""TritonOwner deployment: the actor that owns this node's Triton Inference Server.

Builds the model repository from the configured packages (CPU target: Python-backend models
running ONNX Runtime; Triton's dynamic batcher merges requests of all stage replicas) and runs
one ``tritonserver`` (:class:`deployments.triton.server.TritonServer`, the binary bundled with
nvidia-pytriton by default). ``build_app`` gives it one replica; on a multi-node cluster run one
per GPU node (e.g. a replica per node with a ``node:`` resource), each stage replica talking to
its node's server. The server is stopped when the replica is torn down.
"""

from __future__ import annotations

import logging
from typing import Any

from a2f_actors.model_package import load_package
from deployments.settings import ServeSettings
from deployments.triton.repository import BuildOptions, NetworkSource, build_repository
from deployments.triton.server import TritonPorts, TritonServer

log = logging.getLogger(__name__)


def network_sources(settings: ServeSettings) -> list[NetworkSource]:
    """One Triton source per configured package with a network.onnx."""
    sources = []
    for entry in settings.models:
        pkg: Any = load_package(entry.path)
        onnx = pkg.files.network.onnx if pkg.files is not None else None
        if onnx is None:
            log.warning("model %s has no network.onnx; Triton will not serve it", entry.model_id)
            continue
        sources.append(NetworkSource(entry.kind, entry.model_id, onnx))
    return sources


class TritonOwner:
    """Builds the repository and starts Triton in the constructor; stops it on shutdown.

    Args:
        settings: the serve settings (models, ports, workdir).
        start_timeout_s: how long to wait for the server to be ready.
    """

    def __init__(self, settings: ServeSettings, start_timeout_s: float = 120.0) -> None:
        work = settings.workdir()
        repo = work / "model_repository"
        build_repository(
            network_sources(settings), repo, BuildOptions(intra_op_threads=1, force=True)
        )
        ports = TritonPorts(
            settings.triton_http_port, settings.triton_grpc_port, settings.triton_metrics_port
        )
        self.server = TritonServer(repo, ports, workdir=work / "triton")
        self.state = self.server.start(timeout_s=start_timeout_s)
        self.url = f"{ports.address}:{ports.grpc}"

    async def address(self) -> str:
        """host:port of the server's gRPC endpoint."""
        return self.url

    async def check_health(self) -> None:
        """Raise when the server process is gone (Serve then restarts the replica)."""
        if not self.server.status().get("ready"):
            raise RuntimeError(f"tritonserver not ready (log: {self.server.log_file})")

    def shutdown(self) -> None:
        """Stop the server."""
        self.server.stop()

    def __del__(self) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            server.stop()
