"""The stream service end to end in-process: event order, exactly-once frames, retries, batching."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

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
    via_hops = TickOptions(tick_s=0.005, backoff_s=0.001, encode_in_ingress="never")
    retried = asyncio.run(
        collect(make_service(flaky, catalog, tick=via_hops), header(), chunks_of(data))
    )
    assert flaky.failures == {"encode": 2, "infer": 2, "solve": 2}
    a, b = frames_of(clean), frames_of(retried)
    assert [f.frame_index for f in b] == [f.frame_index for f in a]
    # solve batches follow timing (overlapped ticks): equal up to float rounding
    np.testing.assert_allclose(
        np.stack([f.weights for f in a]), np.stack([f.weights for f in b]), atol=1e-6
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


@pytest.mark.parametrize("rate", [16000, 48000])
def test_encode_runs_in_ingress_only_for_16khz_streams_when_auto(stages, catalog, rate) -> None:
    # auto: a 16 kHz stream needs no resampling, so its encode runs in the ingress (no hop);
    # a 48 kHz stream still goes through the AudioEncoder stage. Frames are identical either way.
    data = pcm(0.6, rate=rate, seed=5)
    runs = {}
    for where in ("auto", "never"):
        counting = CountingPipeline(stages)
        tick = TickOptions(tick_s=0.005, backoff_s=0.001, encode_in_ingress=where)
        service = make_service(counting, catalog, tick=tick)
        events = asyncio.run(collect(service, header(rate), chunks_of(data)))
        assert events[-1] == StreamStatus()
        runs[where] = (counting.sizes, frames_of(events))
    (auto_calls, auto_frames), (hop_calls, hop_frames) = runs["auto"], runs["never"]
    assert ("encode" in auto_calls) == (rate != 16000)
    assert "encode" in hop_calls and "infer" in auto_calls
    np.testing.assert_allclose(  # solve batches follow timing: float rounding only
        np.stack([f.weights for f in auto_frames]),
        np.stack([f.weights for f in hop_frames]),
        atol=1e-6,
    )


class SlowSolvePipeline:
    """Delegates; solve calls sleep, and the calls in flight at each call start are recorded."""

    def __init__(self, inner, solve_s: float) -> None:
        self.inner, self.solve_s = inner, solve_s
        self.running: set[str] = set()
        self.overlaps: list[tuple[str, set[str]]] = []

    def __getattr__(self, name: str):
        async def call(items):
            self.overlaps.append((name, set(self.running)))
            self.running.add(name)
            try:
                if name == "solve":
                    await asyncio.sleep(self.solve_s)
                return await getattr(self.inner, name)(items)
            finally:
                self.running.discard(name)

        return call


def test_overlapped_solve_runs_beside_next_inference_and_keeps_frames_identical(
    stages, catalog
) -> None:
    data = pcm(1.2, seed=7)
    runs = {}
    for overlap in (False, True):
        slow = SlowSolvePipeline(stages, solve_s=0.02)
        tick = TickOptions(
            tick_s=0.005,
            backoff_s=0.001,
            overlap_solve=overlap,
            max_infer_windows=8,
            infer_depth=1,  # this test is about the solve overlap alone
        )
        service = make_service(slow, catalog, tick=tick)
        # all audio at once, at most 8 windows per tick: every tick has windows to infer, so
        # with overlap tick k+1's inference starts while tick k's 20 ms solve still runs
        events = asyncio.run(collect(service, header(), chunks_of(data, len(data))))
        assert events[-1] == StreamStatus()
        runs[overlap] = (slow.overlaps, frames_of(events))
    (seq_overlaps, seq_frames), (ovl_overlaps, ovl_frames) = runs[False], runs[True]
    assert not any(running for _, running in seq_overlaps)  # strictly one stage at a time
    assert any(n == "infer" and "solve" in running for n, running in ovl_overlaps), ovl_overlaps
    # never two solve calls at once: a stream's frames come from one solve after the other
    assert not any(n == "solve" and "solve" in running for n, running in ovl_overlaps)
    assert [f.frame_index for f in ovl_frames] == list(range(len(seq_frames)))
    # the solver batches frames differently when ticks overlap: float rounding only
    np.testing.assert_allclose(
        np.stack([f.weights for f in ovl_frames]),
        np.stack([f.weights for f in seq_frames]),
        atol=1e-6,
    )


def test_burst_is_cut_into_ticks_of_at_most_max_infer_windows_per_stream(stages, catalog) -> None:
    windows: list[int] = []

    class Recording:
        def __getattr__(self, name: str):
            async def call(items):
                if name == "infer":
                    windows.extend(len(item.starts) for item in items)
                return await getattr(stages, name)(items)

            return call

    data = pcm(1.5, seed=11)
    capped = TickOptions(tick_s=0.002, backoff_s=0.001, max_infer_windows=4)
    service = make_service(Recording(), catalog, tick=capped)
    events = asyncio.run(collect(service, header(), chunks_of(data)))
    whole = asyncio.run(collect(make_service(stages, catalog), header(), chunks_of(data)))
    assert events[-1] == StreamStatus() and max(windows) == 4 and len(windows) > 5
    assert sum(windows) == len(frames_of(whole)) == len(frames_of(events))
    np.testing.assert_allclose(
        np.stack([f.weights for f in frames_of(events)]),
        np.stack([f.weights for f in frames_of(whole)]),
        atol=1e-6,
    )


class SlowInferPipeline:
    """Delegates; infer calls sleep 40, 5, 40, 5, ... ms (so a later call can finish first)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.infers = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.finish_order: list[int] = []

    def __getattr__(self, name: str):
        if name != "infer":
            return getattr(self.inner, name)

        async def infer(items):
            k = self.infers
            self.infers += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(0.04 if k % 2 == 0 else 0.005)
                return await self.inner.infer(items)
            finally:
                self.in_flight -= 1
                self.finish_order.append(k)

        return infer


def test_pipelined_inference_applies_results_in_order_when_calls_finish_out_of_order(
    stages, catalog
) -> None:
    data = pcm(1.5, seed=3)
    runs = {}
    for depth in (1, 2):
        slow = SlowInferPipeline(stages)
        tick = TickOptions(tick_s=0.005, backoff_s=0.001, max_infer_windows=4, infer_depth=depth)
        service = make_service(slow, catalog, tick=tick)

        async def both(service=service):  # two streams: windows of both in every call
            one = collect(service, header(), chunks_of(data, len(data)))
            other = collect(service, header(), chunks_of(data, len(data)))
            return await asyncio.wait_for(asyncio.gather(one, other), 30)

        two = asyncio.run(both())
        assert all(events[-1] == StreamStatus() for events in two)
        runs[depth] = (slow, [frames_of(events) for events in two])
    (seq, seq_frames), (pipe, pipe_frames) = runs[1], runs[2]
    assert seq.max_in_flight == 1
    assert pipe.max_in_flight == 2
    assert pipe.finish_order != sorted(pipe.finish_order)  # a later call did finish first
    for frames, reference in zip(pipe_frames, seq_frames, strict=True):
        assert [f.frame_index for f in frames] == list(range(len(reference)))  # once, in order
        np.testing.assert_allclose(
            np.stack([f.weights for f in frames]),
            np.stack([f.weights for f in reference]),
            atol=1e-6,
        )


def test_infer_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="infer_depth"):
        TickOptions(infer_depth=0)
