"""The generator + accounting against a fake in-process NIM server (faults injected)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from loadtest.accounting import SLO, aggregate, analyse, evaluate
from loadtest.generator import Clip, LevelPlan, StreamOptions, run_level, run_loop
from tests.unit.loadtest.fake_server import FakeA2F, Faults, start

pytestmark = pytest.mark.timeout(60)


def level(clips: list[Clip], faults: Faults | None = None, *, streams: int = 2,
          realtime: bool = False, chunk_ms: float = 40.0, use_uvloop: bool = False,
          per_connection: int = 1) -> tuple[list, FakeA2F]:  # fmt: skip
    async def go():
        fake = FakeA2F(faults)
        server, url = await start(fake)
        try:
            opts = StreamOptions(url=url, realtime=realtime, chunk_ms=chunk_ms, timeout_s=20,
                                 streams_per_connection=per_connection)  # fmt: skip
            records = await asyncio.wait_for(
                run_level(LevelPlan(streams, 0.0, 0.0), clips, opts), 30
            )
        finally:
            await server.stop(0)
        return records, fake

    return run_loop(go(), use_uvloop=use_uvloop)


@pytest.mark.parametrize("use_uvloop", [False, True])
def test_clean_burst_level_receives_every_expected_frame_exactly_once(clips, use_uvloop) -> None:
    records, fake = level(clips, streams=3, use_uvloop=use_uvloop)
    stats = [analyse(r) for r in records]
    agg = aggregate(stats)
    assert agg.streams == 3 and agg.ok_streams == 3
    assert agg.lost_frames == 0 and agg.duplicated_frames == 0
    assert agg.received_frames == agg.expected_frames == fake.frames_sent
    assert evaluate(agg, SLO(check_fps=False, p99_latency_ms=1000)).passed


@pytest.mark.parametrize(("per", "connections"), [(1, 5), (2, 3), (8, 1)])
def test_streams_share_connections_as_asked_and_lose_nothing(clips, per, connections) -> None:
    records, fake = level(clips, streams=5, per_connection=per)
    agg = aggregate([analyse(r) for r in records])
    assert agg.ok_streams == 5 and agg.lost_frames == 0 and agg.duplicated_frames == 0
    assert agg.received_frames == fake.frames_sent
    assert len(fake.peers) == connections  # one client port per HTTP/2 connection


def test_streams_per_connection_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="streams_per_connection=0"):
        StreamOptions(streams_per_connection=0)


def test_dropped_and_duplicated_frames_are_detected_by_index(clips) -> None:
    records, _ = level(clips[:1], Faults(drop={3, 7}, duplicate={5}), streams=1)
    s = analyse(records[0])
    assert s.check.missing == 2
    assert s.check.duplicated == 1
    verdict = evaluate(aggregate([s]), SLO(check_fps=False, p99_latency_ms=1000))
    assert not verdict.passed and "2 lost, 1 duplicated" in " ".join(verdict.reasons)


def test_server_abort_is_reported_by_grpc_code_with_the_frames_so_far(clips) -> None:
    faults = Faults(abort_after=4, abort_code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    records, _ = level(clips[:1], faults, streams=1)
    s = analyse(records[0])
    assert s.code == "RESOURCE_EXHAUSTED" and not s.ok
    assert s.check.received == 4
    assert aggregate([s]).errors == {"RESOURCE_EXHAUSTED": 1}


def test_realtime_latency_measures_the_server_delay_not_the_lookahead(clips) -> None:
    records, _ = level(clips[:1], Faults(delay_s=0.05), streams=1, realtime=True, chunk_ms=20)
    s = analyse(records[0])
    assert s.lost == 0
    lat = sorted(s.latencies_s)
    # every frame waits the injected 50 ms (plus scheduling noise); none is "early"
    assert lat[0] >= 0.04
    assert lat[len(lat) // 2] < 0.5
    assert s.ttff_s is not None and s.ttff_s > 0.26


def test_run_loop_uses_uvloop_when_installed_and_asyncio_when_told() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert issubclass(run_loop(loop_type()), uvloop.Loop)
    assert not issubclass(run_loop(loop_type(), use_uvloop=False), uvloop.Loop)
