"""Three Ray nodes on this host; workers killed under load (docs/scale_out.md).

The cluster of :mod:`deployments.cli.multinode` (head with the ingress, a "triton" node, a
"cpu1" node; separate ``ray start`` processes with their own resources) serves the synthetic
package of ``tests/integration/serve`` with ``cluster/multinode_local.yaml``, deployed through
``deployments.app:app_builder``. The load generator streams over NIM gRPC on 127.0.0.1.

1. The pipeline spans the nodes as the custom resources say.
2. cpu1 (a second AudioEncoder and BlendshapeSolver replica, not the ingress) is SIGKILLed
   while streams run: every stream finishes OK with every frame exactly once (the failed calls
   were retried on the head's replicas).
3. The triton node (the only Triton and A2FInference) is SIGKILLed: the streams cannot
   continue and each ends with UNAVAILABLE (attempts x stage_timeout_s + backoff: no replica is
   left, so Serve queues the calls until the stage deadline), never by silence.
"""

from __future__ import annotations

import asyncio
import glob
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.cli.multinode import LocalCluster, leftovers
from deployments.settings import load_settings
from loadtest.accounting import check_frames
from loadtest.generator import (
    DEFAULT_CLIP_GLOB,
    LevelPlan,
    LiveCounters,
    StreamOptions,
    find_clips,
    run_level,
)
from tests.integration.serve.conftest import MODEL_ID, free_ports, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]
ROOT = Path(__file__).resolve().parents[3]
MULTINODE = ROOT / "cluster" / "multinode_local.yaml"
CARDS = "/usr/share/pocketsphinx/test/data/cards/00[1-3].wav"
CLIENT_TIMEOUT_S = 90.0


def overrides(root: Path) -> dict:
    """The synthetic package, burst pacing, a short stage deadline, one inference replica."""
    base = make_settings(root, free_ports(5))
    layout = load_settings(MULTINODE, environ={})
    deployments = {k: v.model_dump() for k, v in layout.deployments.items()}
    deployments["inference"].update(min_replicas=1, max_replicas=1)
    return {
        "models": [m.model_dump() for m in base.models], "default_model": MODEL_ID,
        "burst_mode": True, "tick_ms": 20, "stage_timeout_s": 2, "deployments": deployments,
    }  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not glob.glob(CARDS) or not glob.glob(DEFAULT_CLIP_GLOB):
        pytest.skip("pocketsphinx-testdata is not installed (make sysdeps)")
    root = tmp_path_factory.mktemp("multinode")
    local = LocalCluster(root / "cluster")
    t0 = time.monotonic()
    try:
        local.start()
        t1 = time.monotonic()
        local.deploy(MULTINODE, overrides(root))
        print(f"\nnodes up {t1 - t0:.0f} s, app RUNNING {time.monotonic() - t1:.0f} s later")
        yield local
    finally:
        temp = local.state.temp_dir if local.state else None
        local.stop()
        if temp:
            left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in leftovers(temp)}
            assert not left, f"processes of the local cluster survived stop(): {left}"


def run(coro):
    return asyncio.run(coro)


async def level(url: str, streams: int, duration_s: float, kill_at_s: float, kill,
                clips: str = CARDS) -> tuple:  # fmt: skip
    """Real-time streams for ``duration_s``; ``kill()`` at ``kill_at_s``; records + active."""
    clips = find_clips([clips])
    opts = StreamOptions(url=url, chunk_ms=40, timeout_s=CLIENT_TIMEOUT_S)
    live = LiveCounters()
    task = asyncio.create_task(run_level(LevelPlan(streams, duration_s, 0.5), clips, opts, live))
    await asyncio.sleep(kill_at_s)
    active = live.active
    await asyncio.to_thread(kill)
    return await task, active


def converge(cluster: LocalCluster, deployment: str, want: list[str], wait_s: float = 30) -> list:
    """The deployment's RUNNING replicas' nodes once they equal ``want`` (or after wait_s)."""
    deadline = time.monotonic() + wait_s
    while (got := cluster.placement().get(deployment)) != want and time.monotonic() < deadline:
        time.sleep(1.0)
    return got or []


def retried_calls(cluster: LocalCluster) -> list[str]:
    """The ingress's warnings about stage calls that failed and were retried."""
    return [line for line in cluster.grep_logs("failed (attempt") if "stage" in line]


def test_the_pipeline_spans_the_nodes(cluster: LocalCluster) -> None:
    placed = cluster.placement()
    assert placed["ApiIngress"] == ["head"]
    assert placed["TritonOwner"] == ["triton"] and placed["A2FInference"] == ["triton"]
    assert placed["AudioEncoder"] == ["cpu1", "head"]
    assert placed["BlendshapeSolver"] == ["cpu1", "head"]


def test_killing_a_cpu_node_under_load_loses_no_frame(cluster: LocalCluster) -> None:
    url = cluster.require().grpc_url
    records, active = run(level(url, 4, 12.0, 5.0, lambda: cluster.kill_node("cpu1")))
    assert active > 0, "no stream was running when the node died"
    checks = [(r, check_frames([t for t, _ in r.frames], r.expected, r.fps)) for r in records]
    summary = [(r.stream_id, r.code, c.received, r.expected, c.missing, c.duplicated)
               for r, c in checks]  # fmt: skip
    retried = retried_calls(cluster)
    print(f"\n{len(records)} streams, {sum(c.received for _, c in checks)} frames, "
          f"{len(retried)} stage calls retried {retried[:4]}: {summary}")  # fmt: skip
    for r, c in checks:
        assert r.code == "OK", (r.stream_id, r.code, r.message)
        assert (c.missing, c.duplicated, c.out_of_range) == (0, 0, 0), (r.stream_id, c)
        assert c.received == r.expected
    assert converge(cluster, "AudioEncoder", ["head"]) == ["head"]
    assert converge(cluster, "BlendshapeSolver", ["head"]) == ["head"]
    assert cluster.nodes()["cpu1"]["state"] == "DEAD"


def test_streams_that_cannot_continue_end_with_unavailable(cluster: LocalCluster) -> None:
    url = cluster.require().grpc_url
    kill = lambda: cluster.kill_node("triton")  # noqa: E731
    records, active = run(level(url, 3, 0.0, 1.5, kill, DEFAULT_CLIP_GLOB))  # 3-7 s clips
    assert active > 0, "no stream was running when the node died"
    failed = [r for r in records if r.code != "OK"]
    ends = [f"{r.code} after {r.eof - r.start:.1f} s ({len(r.frames)} frames)" for r in records]
    print(f"\n{len(records)} streams: {', '.join(ends)}; {len(retried_calls(cluster))} stage "
          f"calls retried")  # fmt: skip
    assert len(failed) == len(records), "killing the only Triton node ends every stream"
    for r in failed:
        c = check_frames([t for t, _ in r.frames], r.expected, r.fps)
        assert r.code == "UNAVAILABLE", (r.stream_id, r.code, r.message)
        assert "failed" in r.message and r.eof is not None
        assert r.eof - r.start < CLIENT_TIMEOUT_S - 5, "the stream ended by the client deadline"
        assert c.duplicated == 0 and c.out_of_range == 0
