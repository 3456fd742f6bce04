"""Window scheduling at the SDK's exact positions, window cutting, and the audio accumulator.

Stage 1c of the pipeline (``float32 mono @ 16 kHz --> windows + frame indices``). All sample
indices are absolute int64 indices of the 16 kHz stream (sample 0 = time 0 s); they may be
negative (before the stream, read as zeros).

Generic rule (a2f_reference.md section 2.2, SDK ``audio_accumulator.cpp``): window ``k``
starts at ``floor(k * stride) + start_offset`` (exact rational stride), its target is
``start + target_offset`` and it ends (exclusive) at ``start + window_size``. While the stream
is open a window is runnable when ``end <= accumulated``; once the stream is closed with
``N`` samples, windows run while ``target < N``. Each window yields the frames
``k * frame_step + first_frame + j`` (``j < frames_per_window``) whose target sample
``floor(f * 16000 / frame_rate)`` lies in ``[0, N)``; frame ``f`` has time code
``f / frame_rate`` s. A window may yield no frame (diffusion inference 0 only warms the GRU)
and must still run.

The state is explicit: :class:`ScheduleState` (counts only, lives with the session) and
:class:`AudioAccumulator` (retained samples, lives where windows are cut); both are frozen
and every operation returns a new one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from a2f_actors.errors import AudioError

__all__ = [
    "SAMPLE_RATE_HZ",
    "AudioAccumulator",
    "ScheduleState",
    "WindowBatch",
    "WindowSchedule",
    "a2e_schedule",
    "accumulate",
    "clip_windows",
    "close",
    "cut_windows",
    "diffusion_schedule",
    "drop_before",
    "drop_consumed",
    "feed",
    "first_needed_sample",
    "frame_count",
    "new_schedule_state",
    "read_windows",
    "regression_schedule",
    "window_count",
]

SAMPLE_RATE_HZ = 16000  # every index here counts samples at 16 kHz
REGRESSION_WINDOW = 8320  # 520 ms, centred on the frame: 4160 samples (260 ms) look-ahead
DIFFUSION_FPS = 60
DIFFUSION_GOOD_OUTPUTS = range(15, 45)  # network output frames kept per diffusion inference
A2E_DEFAULT_WINDOW = 60000  # 3.75 s, the SDK samples' classifier window


@dataclass(frozen=True)
class WindowSchedule:
    """Where windows lie and which frames they produce (all positions in 16 kHz samples).

    Attributes:
        kind: ``"regression"``, ``"diffusion"`` or ``"a2e"``.
        window_size: Samples per window.
        start_offset: Start of window 0.
        target_offset: Target sample relative to the window start.
        stride: Exact rational samples between window starts.
        frame_rate: Frames per second of the frame indices (time code = f / frame_rate).
        frame_step: Frame index increment between windows.
        first_frame: Frame index of window 0's first output (may be negative).
        frames_per_window: Frames produced by one window (before dropping).
        first_output: Network output index of a window's first frame (15 for diffusion).
    """

    kind: str
    window_size: int
    start_offset: int
    target_offset: int
    stride: Fraction
    frame_rate: Fraction
    frame_step: int = 1
    first_frame: int = 0
    frames_per_window: int = 1
    first_output: int = 0


@dataclass(frozen=True, eq=False)
class WindowBatch:
    """Consecutive windows and the frames they produce (struct of arrays).

    Attributes:
        window: int64 [W] window indices k.
        start: int64 [W] first sample of each window.
        end: int64 [W] one past the last sample.
        target: int64 [W] target sample.
        frame: int64 [T] global frame indices, increasing.
        frame_row: int64 [T] row in this batch of the window producing each frame.
        frame_output: int64 [T] network output index of each frame inside its window.
        time_code: float64 [T] frame times in seconds.
        window_size: Samples per window (``end - start``).
    """

    window: np.ndarray
    start: np.ndarray
    end: np.ndarray
    target: np.ndarray
    frame: np.ndarray
    frame_row: np.ndarray
    frame_output: np.ndarray
    time_code: np.ndarray
    window_size: int

    def __len__(self) -> int:
        """Number of windows."""
        return len(self.window)


@dataclass(frozen=True)
class ScheduleState:
    """Explicit per-stream scheduler state.

    Attributes:
        schedule: The stream's schedule.
        accumulated: 16 kHz samples received so far.
        next_window: Index of the first window not yet yielded.
        closed: True once the stream is closed.
    """

    schedule: WindowSchedule
    accumulated: int = 0
    next_window: int = 0
    closed: bool = False


@dataclass(frozen=True, eq=False)
class AudioAccumulator:
    """Explicit per-stream 16 kHz sample store.

    Attributes:
        offset: Absolute index of ``samples[0]`` (samples before it were dropped).
        samples: float32 [n] retained samples.
    """

    offset: int = 0
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def total(self) -> int:
        """Samples received so far (absolute index one past the last)."""
        return self.offset + len(self.samples)


def regression_schedule(fps_num: int = 30, fps_den: int = 1) -> WindowSchedule:
    """Regression network: one 8320-sample window centred on each frame, at any fps.

    Args:
        fps_num: Frame rate numerator (frames).
        fps_den: Frame rate denominator (seconds).
    """
    fps = _fps(fps_num, fps_den)
    half = REGRESSION_WINDOW // 2
    return WindowSchedule("regression", REGRESSION_WINDOW, -half, half, SAMPLE_RATE_HZ / fps, fps)


def diffusion_schedule() -> WindowSchedule:
    """Diffusion network: 1 s windows every 0.5 s, 30 good frames each at 60 fps."""
    fps = Fraction(DIFFUSION_FPS)
    step = len(DIFFUSION_GOOD_OUTPUTS)  # 30 frames = 8000 samples
    return WindowSchedule(
        kind="diffusion",
        window_size=SAMPLE_RATE_HZ,
        start_offset=-SAMPLE_RATE_HZ,
        target_offset=SAMPLE_RATE_HZ * DIFFUSION_GOOD_OUTPUTS.start // DIFFUSION_FPS,
        stride=SAMPLE_RATE_HZ * step / fps,
        frame_rate=fps,
        frame_step=step,
        first_frame=DIFFUSION_GOOD_OUTPUTS.start - 2 * step,  # frame 30k - 45
        frames_per_window=step,
        first_output=DIFFUSION_GOOD_OUTPUTS.start,
    )


def a2e_schedule(
    fps_num: int = 30,
    fps_den: int = 1,
    window_size: int = A2E_DEFAULT_WINDOW,
    inferences_to_skip: int = 0,
) -> WindowSchedule:
    """Audio2Emotion classifier: one window centred on every ``inferences_to_skip + 1`` frames.

    Args:
        fps_num: A2F frame rate numerator; frame indices are A2F frames.
        fps_den: A2F frame rate denominator.
        window_size: Classifier window L in samples (even, > 0).
        inferences_to_skip: Frames skipped between inferences (>= 0).
    """
    fps = _fps(fps_num, fps_den)
    if window_size <= 0 or window_size % 2 or inferences_to_skip < 0:
        raise AudioError(
            f"A2E window_size={window_size} must be even and > 0 and inferences_to_skip="
            f"{inferences_to_skip} must be >= 0"
        )
    step = inferences_to_skip + 1
    half = window_size // 2
    return WindowSchedule("a2e", window_size, -half, half, SAMPLE_RATE_HZ * step / fps, fps, step)


def window_count(schedule: WindowSchedule, n_samples: int) -> int:
    """Windows that run for a closed clip of ``n_samples``: those with ``target < N``."""
    limit = n_samples - schedule.start_offset - schedule.target_offset
    return max(0, math.ceil(limit / schedule.stride))  # floor(k*s) < L  <=>  k*s < L


def clip_windows(schedule: WindowSchedule, n_samples: int) -> WindowBatch:
    """Every window of a closed clip, with its frames.

    Args:
        schedule: The schedule.
        n_samples: Clip length N in 16 kHz samples (>= 0).

    Returns:
        Windows 0 .. window_count - 1 and the frames with target in [0, N).
    """
    return _batch(schedule, 0, window_count(schedule, n_samples), n_samples)


def frame_count(schedule: WindowSchedule, n_samples: int) -> int:
    """Frames produced for a closed clip of ``n_samples`` 16 kHz samples."""
    return len(clip_windows(schedule, n_samples).frame)


def new_schedule_state(schedule: WindowSchedule) -> ScheduleState:
    """Fresh scheduler state for an open stream with no samples."""
    return ScheduleState(schedule)


def feed(state: ScheduleState, n_new: int) -> tuple[ScheduleState, WindowBatch]:
    """Account for ``n_new`` more samples; return the windows that became runnable.

    Args:
        state: Scheduler state of an open stream.
        n_new: Samples appended (>= 0).

    Returns:
        The new state and the windows whose end is now <= accumulated samples.
    """
    if state.closed or n_new < 0:
        raise AudioError(f"cannot feed {n_new} samples to a stream (closed={state.closed})")
    s = state.schedule
    accumulated = state.accumulated + n_new
    limit = accumulated - s.start_offset - s.window_size + 1  # end <= A  <=>  floor(k*s) < limit
    stop = max(state.next_window, math.ceil(limit / s.stride))
    new = replace(state, accumulated=accumulated, next_window=stop)
    return new, _batch(s, state.next_window, stop, None)


def close(state: ScheduleState) -> tuple[ScheduleState, WindowBatch]:
    """Close the stream; return the remaining windows (those with target < N, zero padded)."""
    if state.closed:
        return state, _batch(state.schedule, 0, 0, None)
    n = state.accumulated
    stop = max(state.next_window, window_count(state.schedule, n))
    new = replace(state, next_window=stop, closed=True)
    return new, _batch(state.schedule, state.next_window, stop, n)


def first_needed_sample(state: ScheduleState) -> int:
    """Absolute first sample of the next window; earlier samples are never read again."""
    s = state.schedule
    return math.floor(state.next_window * s.stride) + s.start_offset


def cut_windows(
    samples: np.ndarray, sample_offset: int, starts: np.ndarray, size: int, gain: float = 1.0
) -> np.ndarray:
    """Gather windows from a buffer, zero padded before sample 0 and past its end.

    Args:
        samples: float32 [n] buffer holding absolute samples sample_offset .. sample_offset+n-1.
        sample_offset: Absolute index of ``samples[0]`` (>= 0).
        starts: int64 [W] absolute window starts (may be negative).
        size: Window length in samples.
        gain: Factor applied to the samples (the SDK's ``input_strength``).

    Returns:
        float32 [W, size] windows.

    Raises:
        ValueError: A window reads a sample in [0, sample_offset), already dropped.
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    if not len(starts):
        return np.zeros((0, size), np.float32)
    if sample_offset > 0 and np.any((starts < sample_offset) & (starts + size > 0)):
        raise ValueError(
            f"a window starting at {int(starts.min())} reads samples before {sample_offset}, "
            f"which were dropped from the accumulator; drop only before first_needed_sample"
        )
    rel0 = starts - sample_offset
    lo, hi = int(rel0.min()), int(rel0.max()) + size
    buffer = np.asarray(samples, np.float32)
    if lo < 0 or hi > len(buffer):
        # Windows past either end (a stream's first windows start before sample 0, its last
        # ones run past the audio): zero-pad the buffer once and take the same contiguous-row
        # gather, instead of an int64 index matrix, a mask and a clip for every sample (that
        # path made the edge ticks of a burst cost several times the others).
        pad = max(0, -lo)
        padded = np.zeros(pad + max(hi, len(buffer)), np.float32)
        padded[pad : pad + len(buffer)] = buffer
        buffer, rel0 = padded, rel0 + pad
    out = sliding_window_view(buffer, size)[rel0]
    return out * np.float32(gain) if gain != 1.0 else out


def accumulate(acc: AudioAccumulator, chunk: np.ndarray) -> AudioAccumulator:
    """Append float32 [n] 16 kHz samples."""
    chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
    return replace(acc, samples=np.concatenate([acc.samples, chunk]))


def drop_before(acc: AudioAccumulator, sample: int) -> AudioAccumulator:
    """Forget samples with absolute index < ``sample`` (keeps memory bounded)."""
    cut = min(max(0, sample - acc.offset), len(acc.samples))
    if cut == 0:
        return acc
    return AudioAccumulator(acc.offset + cut, acc.samples[cut:].copy())


def drop_consumed(acc: AudioAccumulator, state: ScheduleState) -> AudioAccumulator:
    """Drop the samples that no window after ``state.next_window`` will read."""
    return drop_before(acc, first_needed_sample(state))


def read_windows(acc: AudioAccumulator, batch: WindowBatch, gain: float = 1.0) -> np.ndarray:
    """Cut the windows of ``batch`` from the accumulator: float32 [W, window_size]."""
    return cut_windows(acc.samples, acc.offset, batch.start, batch.window_size, gain)


def _fps(fps_num: int, fps_den: int) -> Fraction:
    if fps_num <= 0 or fps_den <= 0:
        raise AudioError(f"frame rate {fps_num}/{fps_den} must be positive (e.g. 30/1)")
    return Fraction(fps_num, fps_den)


#: Up to this many windows, :func:`_batch` uses plain integer arithmetic: a streaming tick feeds
#: one or two windows per stream, where a dozen NumPy calls on 1-element arrays cost more (about
#: 50 us per stream and tick in the ingress) than the arithmetic itself.
_SMALL_BATCH = 4


def _batch(schedule: WindowSchedule, k0: int, k1: int, n_samples: int | None) -> WindowBatch:
    """Windows k0..k1-1; frames kept when f >= 0 and (closed) target sample < n_samples."""
    if max(k0, k1) - k0 <= _SMALL_BATCH:
        return _batch_small(schedule, k0, max(k0, k1), n_samples)
    return _batch_vectorized(schedule, k0, k1, n_samples)


def _batch_vectorized(s: WindowSchedule, k0: int, k1: int, n_samples: int | None) -> WindowBatch:
    """:func:`_batch` with array arithmetic (clips, bursts: many windows)."""
    k = np.arange(k0, max(k0, k1), dtype=np.int64)
    start = (k * s.stride.numerator) // s.stride.denominator + s.start_offset
    j = np.arange(s.frames_per_window, dtype=np.int64)
    frame = (k[:, None] * s.frame_step + s.first_frame + j[None, :]).reshape(-1)
    row = np.repeat(np.arange(len(k), dtype=np.int64), s.frames_per_window)
    output = np.tile(j + s.first_output, len(k))
    samples_per_frame = SAMPLE_RATE_HZ / s.frame_rate
    keep = frame >= 0
    if n_samples is not None:
        frame_target = (frame * samples_per_frame.numerator) // samples_per_frame.denominator
        keep &= frame_target < n_samples
    frame = frame[keep]
    time_code = frame * float(s.frame_rate.denominator) / float(s.frame_rate.numerator)
    return WindowBatch(
        window=k,
        start=start,
        end=start + s.window_size,
        target=start + s.target_offset,
        frame=frame,
        frame_row=row[keep],
        frame_output=output[keep],
        time_code=time_code,
        window_size=s.window_size,
    )


def _batch_small(s: WindowSchedule, k0: int, k1: int, n_samples: int | None) -> WindowBatch:
    """:func:`_batch` for a few windows, element by element (identical arrays and dtypes)."""
    num, den = s.stride.numerator, s.stride.denominator
    per_frame = SAMPLE_RATE_HZ / s.frame_rate
    starts, frames, rows, outputs = [], [], [], []
    for row, k in enumerate(range(k0, k1)):
        starts.append((k * num) // den + s.start_offset)
        for j in range(s.frames_per_window):
            f = k * s.frame_step + s.first_frame + j
            if f < 0:
                continue
            if n_samples is not None and (f * per_frame.numerator) // per_frame.denominator >= (
                n_samples
            ):
                continue
            frames.append(f)
            rows.append(row)
            outputs.append(j + s.first_output)
    start = np.array(starts, dtype=np.int64)
    frame = np.array(frames, dtype=np.int64)
    return WindowBatch(
        window=np.arange(k0, k1, dtype=np.int64),
        start=start,
        end=start + s.window_size,
        target=start + s.target_offset,
        frame=frame,
        frame_row=np.array(rows, dtype=np.int64),
        frame_output=np.array(outputs, dtype=np.int64),
        time_code=frame * float(s.frame_rate.denominator) / float(s.frame_rate.numerator),
        window_size=s.window_size,
    )
