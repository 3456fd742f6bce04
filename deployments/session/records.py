"""What crosses a hop: the typed request/reply records of the four stages (no ray here).

Every stage takes a *list* of items, one per stream, and returns one result per item in the
same order: one call per stage per tick carries all streams (architecture principle 6). Each
item carries the stream's explicit state in, each result the updated state out (principle 1),
so a failed call is retried with the same items and gives the same results.

Audio crosses as 16 kHz float32 *segments* (each sample once) plus window starts; windows are
cut by the consumer (:func:`a2f_actors.windows.cut_windows`), next to the network.

A result whose ``error`` is set failed for that stream only (bad audio, unknown model); the
other items of the call are valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2f_actors.emotion import EmotionPostState
from a2f_actors.params import BlendshapeOutputParams, EmotionPostParams, FaceParams
from a2f_actors.resample import ResampleState
from a2f_actors.windows import ScheduleState, WindowBatch


@dataclass(frozen=True)
class StageError:
    """A per-stream failure inside a stage call.

    Attributes:
        code: canonical status code name (``INVALID_ARGUMENT``, ``NOT_FOUND``, ``INTERNAL``).
        message: what failed and how to fix it.
    """

    code: str
    message: str


# --- stage 1: AudioEncoder ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EncodeItem:
    """PCM of one stream to decode, resample to 16 kHz and schedule.

    Attributes:
        stream_id: the session's id.
        pcm: PCM16 LE mono bytes received since the last call (may be empty when closing).
        resample: the stream's resampler state.
        schedule: the stream's window scheduler state (A2F network).
        close: end of audio: flush the resampler and close the schedule after this PCM.
        a2e_schedule: the A2E scheduler state, None when A2E is off for the stream.
    """

    stream_id: str
    pcm: bytes
    resample: ResampleState
    schedule: ScheduleState
    close: bool = False
    a2e_schedule: ScheduleState | None = None


@dataclass(frozen=True, eq=False)
class EncodeResult:
    """New 16 kHz samples and the windows that became runnable.

    Attributes:
        stream_id: the session's id.
        samples: ``[n]`` float32 new 16 kHz samples (appended to the session's accumulator).
        resample: updated resampler state.
        schedule: updated scheduler state.
        windows: windows that became runnable, with their frames.
        a2e_schedule: updated A2E scheduler state (None when off).
        a2e_windows: A2E windows that became runnable (None when off).
        error: per-stream failure, or None.
    """

    stream_id: str
    samples: np.ndarray
    resample: ResampleState
    schedule: ScheduleState
    windows: WindowBatch
    a2e_schedule: ScheduleState | None = None
    a2e_windows: WindowBatch | None = None
    error: StageError | None = None


# --- stage 2 (optional): EmotionDetector -------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EmotionItem:
    """A2E windows of one stream.

    Attributes:
        stream_id: the session's id.
        model_id: the A2E model.
        segment: ``[n]`` float32 16 kHz samples covering the windows (absolute
            ``segment_offset ..``); samples outside it read as zeros.
        segment_offset: absolute index of ``segment[0]``.
        starts: ``[W]`` int64 absolute window starts.
        window_size: samples per window.
        params: the stream's A2E post-processing parameters.
        state: the stream's post-processing state (None = fresh).
    """

    stream_id: str
    model_id: str
    segment: np.ndarray
    segment_offset: int
    starts: np.ndarray
    window_size: int
    params: EmotionPostParams
    state: EmotionPostState | None


@dataclass(frozen=True, eq=False)
class EmotionResult:
    """Detected emotions, one 10-vector per A2E window, and the new state."""

    stream_id: str
    values: np.ndarray  # [W, 10] float32, A2F_EMOTIONS order
    state: EmotionPostState | None
    error: StageError | None = None


# --- stage 3: A2FInference ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InferItem:
    """Network windows of one stream, in order.

    Attributes:
        stream_id: the session's id.
        model_id: the A2F model (regression or diffusion).
        segment: ``[n]`` float32 16 kHz samples covering every window (see EmotionItem).
        segment_offset: absolute index of ``segment[0]``.
        starts: ``[W]`` int64 absolute window starts.
        gain: ``input_strength`` applied to the windows.
        emotion: ``[W, 10]`` (regression) or ``[W, 30, 10]`` (diffusion) explicit emotions.
        frame_row: ``[F]`` int64 window (0..W-1) producing each output frame.
        frame_output: ``[F]`` int64 network output index of each frame in its window.
        latents: diffusion GRU state ``[2, 2, 256]`` float32 (serving layout, one track), or
            None (regression, or a fresh diffusion stream).
    """

    stream_id: str
    model_id: str
    segment: np.ndarray
    segment_offset: int
    starts: np.ndarray
    gain: float
    emotion: np.ndarray
    frame_row: np.ndarray
    frame_output: np.ndarray
    latents: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class InferResult:
    """Network output rows of the item's frames (compact: PCA coefficients or deltas)."""

    stream_id: str
    rows: np.ndarray  # [F, R] float32
    latents: np.ndarray | None = None
    error: StageError | None = None


# --- stage 4: BlendshapeSolver -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SolveItem:
    """Consecutive network rows of one stream to post-process and solve.

    Attributes:
        stream_id: the session's id.
        model_id: the A2F model (its animator).
        rows: ``[F, R]`` float32 network rows, frames in order.
        face: the stream's face parameters.
        tables: the stream's blendshape output parameters.
        state: the stream's packed animation state, ``[L]`` float64, opaque to the session
            (``RegressionAnimator.pack_state``/``DiffusionAnimator.pack_state``); None = fresh.
    """

    stream_id: str
    model_id: str
    rows: np.ndarray
    face: FaceParams
    tables: BlendshapeOutputParams
    state: np.ndarray | None


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Weights, jaw and eyes of the item's frames, and the new animation state."""

    stream_id: str
    weights: np.ndarray  # [F, 68] float32
    jaw: np.ndarray  # [F, 16] float32
    eyes: np.ndarray  # [F, 4] float32
    state: np.ndarray | None  # packed [L] float64 (see SolveItem.state)
    error: StageError | None = None


def empty_batch_like(batch: WindowBatch) -> WindowBatch:
    """A batch with no window and the same window size."""
    e = np.zeros(0, np.int64)
    return WindowBatch(e, e, e, e, e, e, e, np.zeros(0), batch.window_size)
