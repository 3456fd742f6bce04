"""The stream service end to end in-process: event order, exactly-once frames, retries, batching."""

from __future__ import annotations

import asyncio

import numpy as np

from a2f_actors import windows as win
from deployments.ingress.service import Frame, StatusCode, StreamEnd, StreamStart, StreamStatus
from deployments.session.ticker import TickOptions
from tests.unit.session.conftest import chunks_of, collect, header, make_service, pcm


def frames_of(events: list) -> list:
    return [e.frame for e in events if isinstance(e, Frame)]


def test_stream_yields_start_frames_end_status_when_audio_is_valid(stages, catalog) -> None:
    data = pcm(1.3)
    events = asyncio.run(collect(make_service(stages, catalog), header(), chunks_of(data)))
    assert isinstance(events[0], StreamStart) and len(events[0].names) == 68
    assert isinstance(events[-2], StreamEnd) and events[-1] == StreamStatus()
    frames = frames_of(events)
    assert len(frames) == win.frame_count(win.regression_schedule(30, 1), len(data) // 2)
    assert [f.frame_index for f in frames] == list(range(len(frames)))
    audio = b"".join(e.audio for e in events if isinstance(e, Frame))
    assert len(audio) == len(data)


class FlakyPipeline:
    """Fails the first ``fail`` calls of every stage, then delegates."""

    def __init__(self, inner, fail: int) -> None:
        self.inner, self.fail = inner, fail
        self.failures: dict[str, int] = {}

    def __getattr__(self, name: str):
        async def call(items):
            if self.failures.get(name, 0) < self.fail:
                self.failures[name] = self.failures.get(name, 0) + 1
                raise ConnectionError(f"{name} replica died")
            return await getattr(self.inner, name)(items)

        return call


def test_retried_stage_calls_give_identical_frames_when_calls_fail_then_succeed(
    stages, catalog
) -> None:
    data = pcm(1.0, seed=3)
    clean = asyncio.run(collect(make_service(stages, catalog), header(), chunks_of(data)))
    flaky = FlakyPipeline(stages, fail=2)
    retried = asyncio.run(collect(make_service(flaky, catalog), header(), chunks_of(data)))
    assert flaky.failures == {"encode": 2, "infer": 2, "solve": 2}
    a, b = frames_of(clean), frames_of(retried)
    assert [f.frame_index for f in b] == [f.frame_index for f in a]
    np.testing.assert_array_equal(
        np.stack([f.weights for f in a]), np.stack([f.weights for f in b])
    )
    assert retried[-1] == StreamStatus()


def test_stream_ends_unavailable_when_a_stage_keeps_failing(stages, catalog) -> None:
    flaky = FlakyPipeline(stages, fail=100)
    tick = TickOptions(tick_s=0.005, attempts=3, backoff_s=0.001)
    events = asyncio.run(
        collect(make_service(flaky, catalog, tick=tick), header(), chunks_of(pcm(0.5)))
    )
    assert events[-1].code == StatusCode.UNAVAILABLE and "failed 3 times" in events[-1].message
    assert not any(isinstance(e, StreamEnd) for e in events)


class CountingPipeline:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.sizes: dict[str, list[int]] = {}

    def __getattr__(self, name: str):
        async def call(items):
            self.sizes.setdefault(name, []).append(len(items))
            return await getattr(self.inner, name)(items)

        return call


def test_one_call_per_stage_per_tick_carries_every_stream_when_many_streams_run(
    stages, catalog
) -> None:
    counting = CountingPipeline(stages)
    service = make_service(counting, catalog, tick=TickOptions(tick_s=0.05))

    async def many():
        data = [pcm(0.8, seed=i) for i in range(6)]
        return await asyncio.gather(
            *[collect(service, header(), chunks_of(d, 1600, 0.01)) for d in data]
        )

    results = asyncio.run(many())
    assert all(r[-1] == StreamStatus() for r in results)
    assert max(counting.sizes["infer"]) > 1  # streams share calls
    assert sum(counting.sizes["infer"]) >= 6
    assert len(counting.sizes["infer"]) <= service.manager.ticks


def test_streams_keep_their_own_parameters_when_run_together(stages, catalog) -> None:
    a_hdr = header()
    b_hdr = header(face_params={"float_params": {"skinStrength": 0.5}})
    data = pcm(0.9, seed=5)

    def run_alone(hdr: dict) -> np.ndarray:
        events = asyncio.run(collect(make_service(stages, catalog), hdr, chunks_of(data)))
        return np.stack([f.weights for f in frames_of(events)])

    async def together():
        service = make_service(stages, catalog)
        return await asyncio.gather(
            collect(service, a_hdr, chunks_of(data, 800, 0.002)),
            collect(service, b_hdr, chunks_of(data, 1200, 0.003)),
        )

    a_events, b_events = asyncio.run(together())
    for events, hdr in ((a_events, a_hdr), (b_events, b_hdr)):  # batch shapes differ: float eps
        mixed = np.stack([f.weights for f in frames_of(events)])
        np.testing.assert_allclose(mixed, run_alone(hdr), atol=1e-6)
    assert not np.array_equal(run_alone(a_hdr), run_alone(b_hdr))
