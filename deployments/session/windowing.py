"""Pure helpers on window batches: queues of runnable windows, segments, per-window emotions."""

from __future__ import annotations

import numpy as np

from a2f_actors import windows as win
from a2f_actors.emotion import EmotionKeyframes, combine_emotion_sources

EMPTY = np.zeros(0, np.int64)


def empty_batch(window_size: int) -> win.WindowBatch:
    """A batch with no window."""
    return win.WindowBatch(
        EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, np.zeros(0), window_size
    )


def concat(a: win.WindowBatch, b: win.WindowBatch) -> win.WindowBatch:
    """Windows of ``a`` then ``b`` (frame rows of ``b`` shifted past ``a``'s windows)."""
    if len(a) == 0 and len(a.frame) == 0:
        return b
    if len(b) == 0 and len(b.frame) == 0:
        return a

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name), getattr(b, name)])

    return win.WindowBatch(
        window=cat("window"),
        start=cat("start"),
        end=cat("end"),
        target=cat("target"),
        frame=cat("frame"),
        frame_row=np.concatenate([a.frame_row, b.frame_row + len(a)]),
        frame_output=cat("frame_output"),
        time_code=cat("time_code"),
        window_size=a.window_size,
    )


def split(batch: win.WindowBatch, n: int) -> tuple[win.WindowBatch, win.WindowBatch]:
    """The first ``n`` windows (with their frames) and the rest (frame rows re-based)."""
    head_f = batch.frame_row < n

    def part(sel_w: slice, sel_f: np.ndarray, shift: int) -> win.WindowBatch:
        return win.WindowBatch(
            window=batch.window[sel_w],
            start=batch.start[sel_w],
            end=batch.end[sel_w],
            target=batch.target[sel_w],
            frame=batch.frame[sel_f],
            frame_row=batch.frame_row[sel_f] - shift,
            frame_output=batch.frame_output[sel_f],
            time_code=batch.time_code[sel_f],
            window_size=batch.window_size,
        )

    return part(slice(0, n), head_f, 0), part(slice(n, None), ~head_f, n)


def segment(acc: win.AudioAccumulator, batch: win.WindowBatch) -> tuple[np.ndarray, int]:
    """The 16 kHz samples covering every window of ``batch``: ``(samples [n], offset)``.

    Samples before 0 or past the accumulated end are left out (the consumer reads zeros).
    """
    if len(batch) == 0:
        return np.zeros(0, np.float32), 0
    lo = max(0, int(batch.start.min()), acc.offset)
    hi = max(lo, min(acc.total, int(batch.end.max())))
    return acc.samples[lo - acc.offset : hi - acc.offset].copy(), lo


def diffusion_targets(batch: win.WindowBatch) -> np.ndarray:
    """``[W, 30]`` target samples of the centre frames of each diffusion window."""
    centre = np.arange(len(win.DIFFUSION_GOOD_OUTPUTS), dtype=np.int64)
    offset = win.SAMPLE_RATE_HZ * win.DIFFUSION_GOOD_OUTPUTS.start // win.DIFFUSION_FPS
    return (
        batch.start[:, None] + offset + (centre[None, :] * win.SAMPLE_RATE_HZ) // win.DIFFUSION_FPS
    )


def window_emotions(
    batch: win.WindowBatch,
    kind: str,
    user: EmotionKeyframes | None,
    detected: EmotionKeyframes | None,
    default: np.ndarray,
) -> tuple[np.ndarray, int]:
    """Explicit emotions of the windows and how many leading windows have them available.

    Returns:
        ``(emotion, n_ready)``: ``[W, 10]`` (regression, at each target) or ``[W, 30, 10]``
        (diffusion, at each centre frame) float32, and the count of leading windows whose
        emotions are all available (later windows must wait for more keyframes).
    """
    targets = batch.target[:, None] if kind == "regression" else diffusion_targets(batch)
    values, ok = combine_emotion_sources(targets.reshape(-1), user, detected, default)
    values = values.reshape((*targets.shape, -1))
    ready = ok.reshape(targets.shape).all(axis=1)
    n_ready = int(np.argmin(ready)) if not ready.all() else len(ready)
    emotion = values[:, 0] if kind == "regression" else values
    return emotion.astype(np.float32), n_ready


def frame_emotions(batch: win.WindowBatch, emotion: np.ndarray) -> np.ndarray:
    """``[F, 10]`` emotion applied to each frame of ``batch`` (from :func:`window_emotions`)."""
    if emotion.ndim == 2:
        return emotion[batch.frame_row]
    centre = batch.frame_output - win.DIFFUSION_GOOD_OUTPUTS.start
    return emotion[batch.frame_row, centre]
