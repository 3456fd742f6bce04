"""Output pacing and input-rate policing."""

from __future__ import annotations

import asyncio
import time

import pytest

from deployments.ingress.service import Frame, ServiceError, StatusCode
from deployments.session.pacing import InputRateMonitor, Pacer
from tests.unit.session.conftest import chunks_of, collect, header, make_service, pcm


def test_burst_pacer_never_waits() -> None:
    p = Pacer(None)
    assert [p.delay(0.0) for _ in range(5)] == [0.0] * 5


def test_paced_pacer_spaces_frames_at_the_streaming_fps() -> None:
    p = Pacer(50.0)
    assert p.delay(10.0) == 0.0
    assert p.delay(10.0) == pytest.approx(0.02)
    assert p.delay(10.0) == pytest.approx(0.04)
    assert p.delay(11.0) == 0.0  # late frames go out at once, then the pace resumes


def test_input_monitor_cuts_a_client_slower_than_low_fps_for_too_long() -> None:
    m = InputRateMonitor(fps=30, low_fps=29, max_slow_s=2.0)
    m.check(0.0, 0.0)
    m.check(1.0, 1.5)  # 20 frames/s: slow since 1.5
    m.check(1.5, 3.0)
    with pytest.raises(ServiceError) as err:
        m.check(1.8, 4.0)
    assert err.value.code == StatusCode.DEADLINE_EXCEEDED


def test_input_monitor_forgives_when_the_client_catches_up() -> None:
    m = InputRateMonitor(fps=30, low_fps=29, max_slow_s=2.0)
    m.check(0.0, 0.0)
    m.check(1.0, 1.5)
    m.check(4.0, 3.4)  # caught up
    m.check(4.0, 4.0)  # slow again, but only since 4.0


def test_paced_stream_takes_frames_over_streaming_fps_with_nvidia_time_codes(
    stages, catalog
) -> None:
    service = make_service(stages, catalog, burst_mode=False, streaming_fps=100.0)
    t0 = time.monotonic()
    events = asyncio.run(collect(service, header(), chunks_of(pcm(0.5), 16000)))
    elapsed = time.monotonic() - t0
    frames = [e.frame for e in events if isinstance(e, Frame)]
    assert len(frames) == 15 and elapsed >= 14 / 100.0
    assert [f.time_code_s for f in frames] == pytest.approx([i / 30 for i in range(15)])
