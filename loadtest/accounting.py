"""Per-stream frame accounting, latency math and SLO evaluation (pure: no I/O, no clock).

A :class:`StreamRecord` is what the generator saw of one ``ProcessAudioStream`` call, all times
``time.monotonic()`` seconds of the client:

* ``sends``: ``(audio seconds sent so far, time the chunk was handed to gRPC)``, in order;
* ``end_sent``: when ``end_of_audio`` was handed over;
* ``frames``: ``(time code, arrival time)`` of every frame, in arrival order.

Latency of a frame (the issue's definition): arrival time minus the time the audio the frame
needs had been sent. A regression frame at time ``t`` is centred in a 520 ms window, so it needs
audio up to ``t + 0.26 s`` (the SDK's look-ahead); frames whose window runs past the end of the
clip need ``end_of_audio``. So latency includes no client pacing and no look-ahead wait: it is
the server's own delay (plus the transport).

Frame indices come from time codes (``round(t * fps)``); against the expected count from the
SDK schedule (:func:`expected_frames`) a stream has missing, duplicated, out-of-range and
out-of-order frames. ``delivered_fps`` is the frame rate seen by the client between its first
and last frame; ``nim_fps`` is NVIDIA's sample formula ``(frames + 1) / (EOF - first reply)``.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from a2f_actors.windows import frame_count, regression_schedule

#: Look-ahead of the regression network: half of its 8320-sample window at 16 kHz.
REGRESSION_LOOKAHEAD_S = 4160 / 16000
PERCENTILES = (50, 90, 95, 99)


def expected_frames(samples_16k: int, fps: int = 30) -> int:
    """Frames the server must return for a closed clip of ``samples_16k`` 16 kHz samples."""
    return frame_count(regression_schedule(fps, 1), samples_16k)


@dataclass
class StreamRecord:
    """What the client saw of one stream (see the module docstring for the times)."""

    stream_id: int
    clip: str
    audio_s: float
    expected: int
    fps: float = 30.0
    start: float = 0.0
    sends: list[tuple[float, float]] = field(default_factory=list)
    end_sent: float | None = None
    first_response: float | None = None
    frames: list[tuple[float, float]] = field(default_factory=list)
    eof: float | None = None
    code: str = "OK"
    nim_status: str | None = None
    message: str = ""


@dataclass(frozen=True)
class FrameCheck:
    """Frame-level correctness of one stream against its expected count."""

    received: int
    missing: int
    duplicated: int
    out_of_range: int
    out_of_order: int


@dataclass(frozen=True)
class StreamStats:
    """Measurements of one stream."""

    stream_id: int
    clip: str
    code: str
    ok: bool
    expected: int
    check: FrameCheck
    ttff_s: float | None
    latencies_s: tuple[float, ...]
    delivered_fps: float | None
    nim_fps: float | None
    jitter_ms: float | None
    max_gap_ms: float | None

    @property
    def lost(self) -> int:
        """Frames missing (an errored stream loses everything it did not deliver)."""
        return self.check.missing


def check_frames(time_codes: Sequence[float], expected: int, fps: float) -> FrameCheck:
    """Count missing, duplicated, out-of-range and out-of-order frames.

    Args:
        time_codes: frame time codes in arrival order.
        expected: frames the schedule says the clip has.
        fps: the stream's frame rate (index = round(time code * fps)).
    """
    idx = [round(t * fps) for t in time_codes]
    valid = [i for i in idx if 0 <= i < expected]
    unique = set(valid)
    out_of_order = sum(1 for a, b in itertools.pairwise(idx) if b < a)
    return FrameCheck(
        received=len(idx),
        missing=expected - len(unique),
        duplicated=len(valid) - len(unique),
        out_of_range=len(idx) - len(valid),
        out_of_order=out_of_order,
    )


def need_time(record: StreamRecord, needed_s: float) -> float | None:
    """When the audio up to ``needed_s`` seconds had been sent (None: never).

    Past the end of the clip the frame needs ``end_of_audio``.
    """
    if needed_s > record.audio_s - 1e-9:
        return record.end_sent
    sent = [s for s, _ in record.sends]
    k = bisect.bisect_left(sent, needed_s - 1e-9)
    return record.sends[k][1] if k < len(record.sends) else record.end_sent


def frame_latencies(record: StreamRecord, lookahead_s: float) -> list[float]:
    """Per frame: arrival minus the time its audio (``t + lookahead_s``) had been sent."""
    out = []
    for tc, arrived in record.frames:
        needed = need_time(record, tc + lookahead_s)
        if needed is not None:
            out.append(arrived - needed)
    return out


def _rates(record: StreamRecord) -> tuple[float | None, float | None]:
    arrivals = [t for _, t in record.frames]
    delivered = None
    if len(arrivals) >= 2 and arrivals[-1] > arrivals[0]:
        delivered = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    nim = None
    if record.first_response is not None and record.eof is not None:
        span = record.eof - record.first_response
        nim = (len(arrivals) + 1) / span if span > 0 else None
    return delivered, nim


def _jitter(record: StreamRecord) -> tuple[float | None, float | None]:
    """Mean |inter-frame gap - 1/fps| and the largest gap, in ms."""
    arrivals = np.array([t for _, t in record.frames])
    if len(arrivals) < 3:
        return None, None
    gaps = np.diff(arrivals)
    return float(np.mean(np.abs(gaps - 1.0 / record.fps)) * 1e3), float(gaps.max() * 1e3)


def analyse(record: StreamRecord, lookahead_s: float = REGRESSION_LOOKAHEAD_S) -> StreamStats:
    """All per-stream measurements of one record."""
    check = check_frames([tc for tc, _ in record.frames], record.expected, record.fps)
    first_sent = record.sends[0][1] if record.sends else record.start
    ttff = record.frames[0][1] - first_sent if record.frames else None
    delivered, nim = _rates(record)
    jitter, gap = _jitter(record)
    ok = record.code == "OK" and record.nim_status in (None, "SUCCESS")
    return StreamStats(
        stream_id=record.stream_id,
        clip=record.clip,
        code=record.code,
        ok=ok,
        expected=record.expected,
        check=check,
        ttff_s=ttff,
        latencies_s=tuple(frame_latencies(record, lookahead_s)),
        delivered_fps=delivered,
        nim_fps=nim,
        jitter_ms=jitter,
        max_gap_ms=gap,
    )


def percentiles(values: Sequence[float], qs: Sequence[int] = PERCENTILES) -> dict[str, float]:
    """``{"p50": ..., "max": ...}`` (empty dict for no values)."""
    if not len(values):
        return {}
    arr = np.asarray(values, dtype=np.float64)
    out = {f"p{q}": float(np.percentile(arr, q)) for q in qs}
    out["max"] = float(arr.max())
    out["mean"] = float(arr.mean())
    return out


@dataclass(frozen=True)
class LevelStats:
    """Aggregate of the streams of one load level."""

    streams: int
    ok_streams: int
    errors: dict[str, int]
    expected_frames: int
    received_frames: int
    lost_frames: int
    duplicated_frames: int
    out_of_range_frames: int
    out_of_order_frames: int
    latency_ms: dict[str, float]
    ttff_ms: dict[str, float]
    min_fps: float | None
    mean_fps: float | None
    mean_nim_fps: float | None
    jitter_ms: float | None
    max_gap_ms: float | None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def aggregate(stats: Sequence[StreamStats]) -> LevelStats:
    """Combine per-stream stats (latency percentiles over every frame of every stream)."""
    lat = [x * 1e3 for s in stats for x in s.latencies_s]
    fps = [s.delivered_fps for s in stats if s.delivered_fps is not None]
    errors = Counter(s.code if s.code != "OK" else f"NIM_{s.nim_status}" for s in stats if not s.ok)
    gaps = [s.max_gap_ms for s in stats if s.max_gap_ms is not None]
    return LevelStats(
        streams=len(stats),
        ok_streams=sum(s.ok for s in stats),
        errors=dict(errors),
        expected_frames=sum(s.expected for s in stats),
        received_frames=sum(s.check.received for s in stats),
        lost_frames=sum(s.lost for s in stats),
        duplicated_frames=sum(s.check.duplicated for s in stats),
        out_of_range_frames=sum(s.check.out_of_range for s in stats),
        out_of_order_frames=sum(s.check.out_of_order for s in stats),
        latency_ms=percentiles(lat),
        ttff_ms=percentiles([s.ttff_s * 1e3 for s in stats if s.ttff_s is not None]),
        min_fps=min(fps) if fps else None,
        mean_fps=_mean(fps),
        mean_nim_fps=_mean([s.nim_fps for s in stats if s.nim_fps is not None]),
        jitter_ms=_mean([s.jitter_ms for s in stats if s.jitter_ms is not None]),
        max_gap_ms=max(gaps) if gaps else None,
    )


@dataclass(frozen=True)
class SLO:
    """The real-time service level: every stream at full rate, bounded latency, nothing lost.

    Attributes:
        min_fps: lowest delivered fps allowed for any stream.
        p99_latency_ms: bound on the 99th percentile frame latency (all frames of the level).
        max_lost_frames: frames allowed missing (or duplicated) in the level.
        max_errors: streams allowed to end with an error.
        check_fps: apply ``min_fps`` (off in burst mode, where fps is the processing rate).
    """

    min_fps: float = 29.5
    p99_latency_ms: float = 150.0
    max_lost_frames: int = 0
    max_errors: int = 0
    check_fps: bool = True


@dataclass(frozen=True)
class Verdict:
    """SLO outcome: passed, and why not."""

    passed: bool
    reasons: tuple[str, ...] = ()


def _r(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f}"


def evaluate(level: LevelStats, slo: SLO) -> Verdict:
    """Check a level against the SLO; every broken clause is listed."""
    reasons = []
    if level.streams == 0:
        reasons.append("no stream completed")
    errors = level.streams - level.ok_streams
    if errors > slo.max_errors:
        reasons.append(f"{errors} stream(s) failed: {level.errors}")
    if slo.check_fps and (level.min_fps is None or level.min_fps < slo.min_fps):
        reasons.append(f"min delivered fps {_r(level.min_fps)} < {slo.min_fps}")
    p99 = level.latency_ms.get("p99")
    if p99 is None or p99 > slo.p99_latency_ms:
        reasons.append(f"p99 frame latency {_r(p99)} ms > {slo.p99_latency_ms} ms")
    bad = level.lost_frames + level.duplicated_frames + level.out_of_range_frames
    if bad > slo.max_lost_frames:
        reasons.append(
            f"{level.lost_frames} lost, {level.duplicated_frames} duplicated, "
            f"{level.out_of_range_frames} out-of-range frame(s)"
        )
    return Verdict(not reasons, tuple(reasons))
