"""One short load test against a real cluster (Ray Serve + Triton CPU, synthetic package).

Checks what the issue asks: every stream gets every frame exactly once, the a2f metrics appear
on the Prometheus endpoint, and the server's ``frames_emitted`` equals the frames received.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.generator import find_clips
from loadtest.probes import scrape
from loadtest.scenarios import LoadConfig, burst, steady
from tests.integration.serve.conftest import PROJECT_DIR, free_ports, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]
CARDS = "/usr/share/pocketsphinx/test/data/cards/00[1-3].wav"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    import ray
    from ray import serve
    from ray.serve.config import HTTPOptions

    from deployments.app import build_app

    root = tmp_path_factory.mktemp("loadtest")
    ports = free_ports(6)
    settings = make_settings(root, ports[:5])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",  # a new instance, never a `ray start` cluster on this host
        num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
        _metrics_export_port=ports[5],
        runtime_env={"env_vars": {"PYTHONPATH": PROJECT_DIR, "RAY_USAGE_STATS_ENABLED": "0"}},
    )  # fmt: skip
    try:
        serve.start(http_options=HTTPOptions(host="127.0.0.1", port=ports[4]))
        handle = serve.run(build_app(settings), name=settings.app_name, route_prefix="/a2f")
        port = handle.port.remote().result(timeout_s=180)
        yield f"127.0.0.1:{port}", f"http://127.0.0.1:{ports[5]}/metrics"
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def clips() -> list:
    if not glob.glob(CARDS):
        pytest.skip("pocketsphinx-testdata is not installed (make sysdeps)")
    return find_clips([CARDS])


def _config(url: str, metrics: str, **kw) -> LoadConfig:
    from loadtest.generator import StreamOptions

    stream = StreamOptions(url=url, chunk_ms=40, timeout_s=60, **kw)
    return LoadConfig(stream=stream, duration_s=0.0, stagger_s=0.5, metrics_url=metrics,
                      metrics_settle_s=30)  # fmt: skip


def test_realtime_level_loses_nothing_and_metrics_match_the_client(cluster, clips) -> None:
    url, metrics = cluster

    async def go():
        await burst(_config(url, metrics, realtime=False), clips, 1)  # warm-up: loads models
        return await steady(_config(url, metrics), clips, 3)

    [level] = asyncio.run(go())  # one loop for all gRPC clients of the test
    s = level.stats
    assert s.ok_streams == s.streams == 3, s.errors
    assert s.lost_frames == 0 and s.duplicated_frames == 0 and s.out_of_range_frames == 0
    assert s.received_frames == s.expected_frames
    assert level.server["frames_emitted"] == s.received_frames
    assert level.server["streams_finished"] == 3
    assert level.server["a2f_calls"] > 0 and level.server["a2f_batch_items"] >= 1
    assert s.min_fps is not None and s.min_fps > 25
    names = {name for name, _ in scrape(metrics)}
    for expected in ("ray_a2f_stage_latency_seconds_bucket", "ray_a2f_frames_emitted_total",
                     "ray_a2f_frame_lateness_seconds_count", "ray_a2f_active_streams",
                     "ray_a2f_time_to_first_frame_seconds_sum"):  # fmt: skip
        assert expected in names, sorted(names)


def test_report_of_a_real_level_is_written(cluster, clips, tmp_path: Path) -> None:
    from loadtest import report

    url, metrics = cluster
    levels = asyncio.run(burst(_config(url, metrics, realtime=False), clips, 2))
    path = report.write(tmp_path / "r", {"scenario": "burst"}, levels)
    text = path.read_text()
    assert "resample" in text or "a2f" in text
    assert levels[0].stats.lost_frames == 0
