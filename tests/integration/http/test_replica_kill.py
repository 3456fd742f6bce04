"""A stage replica killed mid-stream: the ingress retries with the same items, no frame lost."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deployments.ingress.grpc.client import animate
from tests.integration.http.conftest import APP_NAME, BETA_KEY
from tests.integration.http.test_http_api import expected_frames, pcm16, speech

pytestmark = pytest.mark.integration


def solver_replicas() -> list[str]:
    import ray

    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if f"{APP_NAME}#BlendshapeSolver#" in a["name"]
    )


def kill_solver() -> str:
    import ray

    (name,) = solver_replicas()
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    return name


def test_killing_the_solver_replica_mid_stream_loses_and_duplicates_no_frame(
    http_cluster,
) -> None:
    audio = pcm16(speech(3.0, seed=31))
    md = [("authorization", f"Bearer {BETA_KEY}")]
    reference = asyncio.run(animate(http_cluster.grpc_url, audio, 16000, metadata=md))

    async def killed_mid_stream():
        stream = asyncio.create_task(
            animate(http_cluster.grpc_url, audio, 16000, chunk_s=0.1, delay_s=0.1, metadata=md)
        )
        await asyncio.sleep(1.0)
        killed = await asyncio.to_thread(kill_solver)
        return await stream, killed

    result, killed = asyncio.run(killed_mid_stream())
    assert result.status[0] == "SUCCESS", result.order
    n = expected_frames(len(audio) // 2)
    assert len(result.time_codes) == len(reference.time_codes) == n
    assert np.allclose(result.time_codes, np.arange(n) / 30.0)  # none lost, none twice
    np.testing.assert_allclose(result.weights, reference.weights, atol=1e-6)
    assert killed not in solver_replicas()  # it really died (Serve started a new one)
