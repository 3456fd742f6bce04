"""TritonOwner deployment: the actor that owns this node's Triton Inference Server.

Builds the model repository from the configured packages (CPU target: Python-backend models
running ONNX Runtime; Triton's dynamic batcher merges requests of all stage replicas) and runs
one ``tritonserver`` (:class:`deployments.triton.server.TritonServer`, the binary bundled with
nvidia-pytriton by default). ``build_app`` gives it one replica; on a multi-node cluster it runs
one per GPU node: nodes advertise the custom resource ``a2f_triton_node``, the owner requests
``a2f_triton_node: 1`` with ``max_replicas_per_node: 1`` (``max_replicas`` = the number of such
nodes), and A2FInference / EmotionDetector request the same resource and talk to the server on
their own node (:func:`wait_for_local_triton`, docs/scale_out.md). The server is stopped when the
replica is torn down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from a2f_actors.model_package import load_package
from deployments.settings import ServeSettings
from deployments.triton.repository import BuildOptions, NetworkSource, build_repository
from deployments.triton.server import TritonPorts, TritonServer, http_ok

log = logging.getLogger(__name__)

#: How long a stage replica waits for the Triton of its own node (the owner builds the
#: repository and starts the server: ~10-60 s on CPU, longer on a loaded host).
LOCAL_TRITON_WAIT_S = 300.0


async def wait_for_local_triton(
    settings: ServeSettings,
    timeout_s: float = LOCAL_TRITON_WAIT_S,
    poll_s: float = 0.5,
    where: str = "this node",
) -> str:
    """Wait until the Triton on this node answers ``/v2/health/ready``; return its gRPC address.

    The stages call ``127.0.0.1:triton_grpc_port`` (:meth:`ServeSettings.triton_address`), so
    they must wait for THAT server, not for a TritonOwner elsewhere in the cluster.

    Raises:
        RuntimeError: no ready server within ``timeout_s`` (the message says what to check).
    """
    url = f"http://127.0.0.1:{settings.triton_http_port}/v2/health/ready"
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(http_ok, url):
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"no Triton ready on {where} ({url}) after {timeout_s:.0f} s: a stage that "
                f"talks to the cluster's own Triton must be placed on a node running a "
                f"TritonOwner (give both the resource a2f_triton_node: 1 and advertise it on "
                f"that node), or set triton_url to an external server"
            )
        await asyncio.sleep(poll_s)
    return settings.triton_address()


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
