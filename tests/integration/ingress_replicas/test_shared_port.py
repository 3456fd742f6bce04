"""Two ingress replicas on one node share the NIM gRPC port (SO_REUSEPORT).

A real Ray Serve app (fake inference backend: this is about the ingress) with
``ingress.max_replicas: 2``. Both replicas must start (the second bind of the port succeeds
only with SO_REUSEPORT), concurrent clients on their own connections all get every frame, and
after one replica's process is killed new streams are still served by the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deployments.ingress.grpc import client as nim_client
from deployments.settings import DeploymentOptions
from tests.integration.serve.conftest import PROJECT_DIR, free_ports, make_settings

pytestmark = pytest.mark.integration
APP_NAME = "a2f_two_ingress"


@pytest.fixture(scope="module")
def two_ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from deployments.app import build_app

    ports = free_ports(5)
    base = make_settings(tmp_path_factory.mktemp("two_ingress"), ports, backend="fake")
    small = DeploymentOptions(num_cpus=0.05, min_replicas=1, max_replicas=1)
    two = DeploymentOptions(num_cpus=0.05, min_replicas=1, max_replicas=2)
    settings = base.model_copy(
        update={
            "app_name": APP_NAME,
            "http_port": ports[4],
            "deployments": {k: small for k in base.deployments} | {"ingress": two},
        }
    )
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
            logging_level="WARNING",
            runtime_env={"env_vars": {"PYTHONPATH": PROJECT_DIR, "RAY_USAGE_STATS_ENABLED": "0"}},
        )  # fmt: skip
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=settings.http_port))
    try:
        handle = serve.run(build_app(settings), name=APP_NAME, route_prefix=f"/{APP_NAME}")
        port = handle.port.remote().result(timeout_s=120)
        yield f"127.0.0.1:{port}"
    finally:
        if started:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(APP_NAME)


def _ingress_replicas() -> list[str]:
    import ray

    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if f"{APP_NAME}#ApiIngress#" in a["name"]
    )


def _ingress_pids() -> list[int]:
    """PIDs of this app's ingress replica processes (Ray titles them by app and deployment)."""
    title = f"ServeReplica:{APP_NAME}:ApiIngress".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if title in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
    return sorted(pids)


def _pcm(seconds: float, seed: int) -> bytes:
    x = np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 3000
    return x.astype("<i2").tobytes()


async def _streams(url: str, n: int) -> list:
    """``n`` streams at once; each ``animate`` call opens its own connection."""
    calls = [nim_client.animate(url, _pcm(1.0, i), 16000, chunk_s=0.2) for i in range(n)]
    return await asyncio.gather(*calls)


def test_two_replicas_serve_one_port_and_survive_losing_one(two_ingress: str) -> None:
    assert (
        len(_ingress_replicas()) == 2 and len(_ingress_pids()) == 2
    )  # the second bind of the port succeeded
    results = asyncio.run(_streams(two_ingress, 8))
    assert [r.status[0] for r in results] == ["SUCCESS"] * 8, [r.status for r in results]
    assert {len(r.time_codes) for r in results} == {30}  # 1 s at 30 fps, every stream complete
    victim = _ingress_pids()[0]
    os.kill(victim, signal.SIGKILL)  # the process dies at once: the kernel closes its listener
    deadline = time.monotonic() + 30
    while Path(f"/proc/{victim}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{victim}").exists()
    after = asyncio.run(_streams(two_ingress, 4))  # the other replica serves them
    got = [(r.status and r.status[0], len(r.time_codes), str(r.grpc_code)) for r in after]
    assert got == [("SUCCESS", 30, "StatusCode.OK")] * 4, got
