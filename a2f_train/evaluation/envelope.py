"""Speech energy from audio: RMS envelope and an energy voice-activity detector (NumPy).

Used by :mod:`a2f_train.evaluation.metrics` for the mouth/energy agreement and, for clips
without an alignment, to find silences for the rest-in-silence metric.
"""

from __future__ import annotations

import numpy as np

from a2f_train.evaluation.segments import Segment

SAMPLE_RATE_HZ = 16000  # audio rate every metric expects


def _frame_rms(audio: np.ndarray, rate_hz: float, win_s: float, sr: int) -> np.ndarray:
    """RMS of ``win_s`` windows centred on ``k / rate_hz`` s: ``[ceil(N / hop)]``."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = sr / rate_hz
    n = int(np.ceil(len(x) / hop))
    half = max(1, round(win_s * sr / 2))
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.round(np.arange(n) * hop).astype(np.int64)
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    return np.sqrt((csum[hi] - csum[lo]) / np.maximum(hi - lo, 1))


def energy_vad(
    audio: np.ndarray,
    *,
    sr: int = SAMPLE_RATE_HZ,
    floor_db: float = -35.0,
    min_silence_s: float = 0.15,
) -> list[Segment]:
    """Energy voice-activity detection: silence segments of a clip.

    A 10 ms frame is silent when its 25 ms RMS is under ``floor_db`` relative to the clip's
    95th-percentile frame RMS; runs of silent frames shorter than ``min_silence_s`` are dropped
    (pauses inside speech, stop closures).

    Args:
        audio: ``[N]`` float mono samples at ``sr`` Hz.
        sr: Sample rate in Hz.
        floor_db: Silence floor in dB below the loud reference.
        min_silence_s: Shortest silence kept, in seconds.

    Returns:
        Silence segments labelled ``"sil"``.
    """
    rms = _frame_rms(audio, 100.0, 0.025, sr)
    if rms.size == 0:
        return []
    ref = max(float(np.percentile(rms, 95)), 1e-9)
    silent = 20.0 * np.log10(np.maximum(rms, 1e-12) / ref) < floor_db
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    duration = len(audio) / sr
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        start, end = max(0.0, (a - 0.5) / 100.0), min(duration, (b - 0.5) / 100.0)
        if end - start >= min_silence_s:
            out.append(Segment("sil", start, end))
    return out


def speech_envelope(
    audio: np.ndarray, rate_hz: float, *, sr: int = SAMPLE_RATE_HZ, smooth_s: float = 0.05
) -> np.ndarray:
    """Smoothed RMS envelope of speech sampled at ``rate_hz`` (sample ``k`` at ``k / rate_hz``).

    RMS over 20 ms windows, then a centred moving average of ``smooth_s``.

    Args:
        audio: ``[N]`` float mono samples at ``sr`` Hz.
        rate_hz: Output rate in Hz.
        sr: Sample rate in Hz.
        smooth_s: Moving-average length in seconds.

    Returns:
        ``[ceil(N * rate_hz / sr)]`` float64 envelope (linear amplitude).
    """
    rms = _frame_rms(audio, rate_hz, 0.02, sr)
    half = round(smooth_s * rate_hz / 2)  # odd kernel of 2*half+1 samples: no phase shift
    k = 2 * half + 1
    return np.convolve(np.pad(rms, (half, half), mode="edge"), np.ones(k) / k, "valid")
