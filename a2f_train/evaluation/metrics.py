"""Lip-sync metrics on blendshape weight curves (pure NumPy; formulas in docs/evaluation.md).

Inputs everywhere: ``weights [F, 68]`` float in ``a2f_actors.names.BLENDSHAPES`` order, sampled
at ``fps`` frames per second (frame ``i`` at ``i / fps`` s, or at explicit time codes), phone
segments with times in seconds, and audio as float32 mono at 16 kHz.

Metrics (each returns a small frozen record):

* :func:`bilabial_closure` -- share of /p b m/ intervals in which the lips close;
* :func:`rest_in_silence` -- share of silent frames with ``JawOpen < 0.05``;
* :func:`energy_agreement` -- peak cross-correlation of mouth opening against the speech RMS
  envelope and its lag in ms (positive = mouth lags audio);
* :func:`jitter_ratio` -- Fourier high-frequency ratio of mouth-region velocity;
* :func:`region_mae` -- MAE against ground truth per face region after time alignment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from a2f_actors.names import BLENDSHAPES
from a2f_train.evaluation.envelope import SAMPLE_RATE_HZ, speech_envelope
from a2f_train.evaluation.segments import Segment, is_bilabial, merge_segments

JAW_OPEN = BLENDSHAPES.index("JawOpen")
MOUTH_CLOSE = BLENDSHAPES.index("MouthClose")

#: Face regions by weight index (68 = 52 skin + 16 tongue). TongueOut is a tongue shape.
REGIONS: dict[str, tuple[int, ...]] = {
    "eyes": tuple(range(0, 14)),  # EyeBlink/Look/Squint/Wide, both sides
    "jaw": tuple(range(14, 18)),  # JawForward, JawLeft, JawRight, JawOpen
    "mouth": tuple(range(18, 41)),  # MouthClose .. MouthUpperUpRight
    "brows_cheeks_nose": tuple(range(41, 51)),  # Brow*, CheekPuff/Squint*, NoseSneer*
    "tongue": tuple(range(51, 68)),  # TongueOut + the 16 tongue shapes
}
#: Channels whose motion the jitter metric measures: JawOpen and the mouth shapes.
MOUTH_MOTION: tuple[int, ...] = (JAW_OPEN, *REGIONS["mouth"])

#: Default thresholds (documented in docs/evaluation.md).
CLOSURE_FRACTION = 0.1  # closed: gap < 10 % of the neutral -> JawOpen=0.3 gap (above neutral)
CLOSURE_REFERENCE_JAW_OPEN = 0.3
REST_JAW_OPEN = 0.05  # at rest: JawOpen under this
REST_EDGE_S = 0.1  # ignore this much of a silence next to speech (anticipation / release)
MAX_LAG_S = 0.2  # lag search range of the energy agreement, +-200 ms
ANALYSIS_RATE_HZ = 200  # common rate (5 ms) of the envelope / mouth cross-correlation
JITTER_CUTOFF_HZ = 8.0  # speech articulation sits below ~8 Hz (syllables 3-7 Hz)


@dataclass(frozen=True)
class ClosureResult:
    """Bilabial closure score: ``closed / total`` (NaN when ``total == 0``)."""

    score: float
    closed: int
    total: int
    threshold: float
    min_gaps: tuple[float, ...]
    #: the scored intervals, in the order of ``min_gaps``
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class RestResult:
    """Rest in silence: share of scored silent frames with JawOpen under the threshold."""

    score: float
    rest_frames: int
    silent_frames: int


@dataclass(frozen=True)
class AgreementResult:
    """Mouth-opening / speech-energy agreement: peak Pearson r and its lag in ms."""

    peak_r: float
    lag_ms: float
    r_at_zero: float


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Time codes ``i / fps`` in seconds of ``n_frames`` frames: ``[F]`` float64."""
    return np.arange(n_frames, dtype=np.float64) / float(fps)


def _times(weights: np.ndarray, fps: float | None, times: np.ndarray | None) -> np.ndarray:
    if times is not None:
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if t.shape[0] != weights.shape[0]:
            raise ValueError(f"{t.shape[0]} time codes for {weights.shape[0]} frames")
        return t
    if fps is None or fps <= 0:
        raise ValueError(f"give a positive fps or explicit time codes; got fps={fps}")
    return frame_times(weights.shape[0], fps)


def _weights(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(BLENDSHAPES):
        raise ValueError(f"weights must be [F, {len(BLENDSHAPES)}]; got {w.shape}")
    return w


def closure_threshold(
    lip_gap: Callable[[np.ndarray], np.ndarray],
    fraction: float = CLOSURE_FRACTION,
    jaw_open: float = CLOSURE_REFERENCE_JAW_OPEN,
) -> float:
    """Lip-gap threshold under which the lips count as closed.

    ``threshold = g0 + fraction * (g(JawOpen=jaw_open) - g0)`` with ``g0`` the gap of the neutral
    pose (all weights 0), i.e. 10 % of the way from neutral to a moderately open mouth.

    Args:
        lip_gap: Maps ``weights [N, 68]`` to the inner-lip distance ``[N]`` (model units).
        fraction: Share of the neutral-to-open gap that still counts as closed.
        jaw_open: JawOpen weight of the reference open pose.

    Returns:
        The threshold in the units of ``lip_gap``.
    """
    poses = np.zeros((2, len(BLENDSHAPES)), dtype=np.float32)
    poses[1, JAW_OPEN] = jaw_open
    g0, g1 = (float(v) for v in np.asarray(lip_gap(poses), dtype=np.float64).reshape(-1)[:2])
    if g1 <= g0:
        raise ValueError(f"lip_gap does not grow with JawOpen: {g0} at 0, {g1} at {jaw_open}")
    return g0 + fraction * (g1 - g0)


def weight_lip_gap(weights: np.ndarray) -> np.ndarray:
    """Character-free lip-gap proxy in JawOpen units (used only when no character is given).

    ``gap = max(0, JawOpen - MouthClose - 0.5*(Press L+R)/2 - 0.5*(Roll Lower+Upper)/2)
    + 0.5*(LowerDown L+R)/2 + 0.5*(UpperUp L+R)/2 + 0.3*Funnel``.

    Args:
        weights: ``[N, 68]`` weights.

    Returns:
        ``[N]`` float64 proxy gap (0 = closed).
    """
    w = _weights(np.atleast_2d(weights))

    def mean(*names: str) -> np.ndarray:
        return w[:, [BLENDSHAPES.index(n) for n in names]].mean(axis=1)

    jaw = w[:, JAW_OPEN] - w[:, MOUTH_CLOSE]
    jaw = jaw - 0.5 * mean("MouthPressLeft", "MouthPressRight")
    jaw = jaw - 0.5 * mean("MouthRollLower", "MouthRollUpper")
    lips = 0.5 * mean("MouthLowerDownLeft", "MouthLowerDownRight")
    lips = lips + 0.5 * mean("MouthUpperUpLeft", "MouthUpperUpRight")
    return np.maximum(jaw, 0.0) + lips + 0.3 * w[:, BLENDSHAPES.index("MouthFunnel")]


def bilabial_closure(
    weights: np.ndarray,
    phones: Iterable[Segment],
    lip_gap: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    *,
    fps: float | None = None,
    times: np.ndarray | None = None,
    is_target: Callable[[str], bool] = is_bilabial,
) -> ClosureResult:
    """Share of bilabial (/p b m/) phone intervals during which the lips close.

    For each target interval ``[s, e]``: ``closed`` iff ``min(lip_gap(w[i])) < threshold`` over
    the frames with ``s <= t_i <= e``; an interval shorter than a frame uses the frame nearest
    its midpoint. ``score = closed / total`` (NaN without bilabials).

    Args:
        weights: ``[F, 68]`` weights.
        phones: Phone segments (seconds); only those where ``is_target(label)`` are scored.
        lip_gap: ``weights [N, 68] -> [N]`` inner-lip distance.
        threshold: Closure threshold in ``lip_gap`` units (see :func:`closure_threshold`).
        fps: Frame rate (frame ``i`` at ``i / fps`` s) when ``times`` is not given.
        times: ``[F]`` explicit time codes in seconds.
        is_target: Label predicate (default: /p b m/ in any inventory).

    Returns:
        :class:`ClosureResult`.
    """
    w = _weights(weights)
    t = _times(w, fps, times)
    gaps = np.asarray(lip_gap(w.astype(np.float32)), dtype=np.float64).reshape(-1)
    mins: list[float] = []
    scored: list[Segment] = []
    for seg in phones:
        if not is_target(seg.label) or w.shape[0] == 0:
            continue
        scored.append(seg)
        inside = np.flatnonzero((t >= seg.start_s) & (t <= seg.end_s))
        if inside.size == 0:
            inside = np.array([np.argmin(np.abs(t - 0.5 * (seg.start_s + seg.end_s)))])
        mins.append(float(gaps[inside].min()))
    closed = sum(g < threshold for g in mins)
    score = closed / len(mins) if mins else float("nan")
    return ClosureResult(score, closed, len(mins), float(threshold), tuple(mins), tuple(scored))


def rest_in_silence(
    weights: np.ndarray,
    silences: Sequence[Segment],
    duration_s: float,
    *,
    fps: float | None = None,
    times: np.ndarray | None = None,
    threshold: float = REST_JAW_OPEN,
    edge_s: float = REST_EDGE_S,
) -> RestResult:
    """Share of silent frames at rest (``JawOpen < threshold``).

    Silences are merged, then ``edge_s`` is cut from every side that touches speech (a side
    that is the clip start or end touches nothing); the frames with ``start' <= t_i < end'``
    are scored. ``score = rest_frames / silent_frames`` (NaN with no scored frame).

    Args:
        weights: ``[F, 68]`` weights.
        silences: Silence segments in seconds (alignment ``sil`` or :func:`energy_vad`).
        duration_s: Clip duration in seconds (tells which silence sides touch speech).
        fps: Frame rate when ``times`` is not given.
        times: ``[F]`` explicit time codes in seconds.
        threshold: JawOpen under which a frame is at rest.
        edge_s: Seconds ignored at silence edges next to speech.

    Returns:
        :class:`RestResult`.
    """
    w = _weights(weights)
    t = _times(w, fps, times)
    mask = np.zeros(t.shape[0], dtype=bool)
    for start, end in merge_segments(silences):
        lo = start + (edge_s if start > 1e-3 else 0.0)
        hi = end - (edge_s if end < duration_s - 1e-3 else 0.0)
        mask |= (t >= lo) & (t < hi)
    n = int(mask.sum())
    rest = int((w[mask, JAW_OPEN] < threshold).sum())
    return RestResult(rest / n if n else float("nan"), rest, n)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-20 else float("nan")


def _lagged_r(env: np.ndarray, mouth: np.ndarray, lag: int) -> float:
    """Pearson r of ``env[i]`` against ``mouth[i + lag]`` over the overlap."""
    n = min(len(env), len(mouth))
    if lag >= 0:
        return _pearson(env[: n - lag], mouth[lag:n])
    return _pearson(env[-lag:n], mouth[: n + lag])


def energy_agreement(
    mouth: np.ndarray,
    audio: np.ndarray,
    *,
    fps: float | None = None,
    times: np.ndarray | None = None,
    sr: int = SAMPLE_RATE_HZ,
    max_lag_s: float = MAX_LAG_S,
    rate_hz: int = ANALYSIS_RATE_HZ,
) -> AgreementResult:
    """Cross-correlation of mouth opening against the speech envelope.

    Both signals are put on a common ``rate_hz`` grid (mouth: linear interpolation of the frames
    by time code; audio: :func:`speech_envelope`). ``r(L) = pearson(env[k], mouth[k + L])`` over
    the overlap for ``|L| <= max_lag_s``; the peak lag is refined by a parabola through its
    neighbours. Positive lag = the mouth follows the audio.

    Args:
        mouth: ``[F]`` mouth opening per frame (JawOpen weight or lip gap).
        audio: ``[N]`` float mono samples at ``sr`` Hz.
        fps: Frame rate when ``times`` is not given.
        times: ``[F]`` explicit time codes in seconds.
        sr: Audio sample rate in Hz.
        max_lag_s: Lag search range in seconds (both directions).
        rate_hz: Analysis rate in Hz (lag resolution before refinement).

    Returns:
        :class:`AgreementResult` (NaNs when either signal is constant).
    """
    m = np.asarray(mouth, dtype=np.float64).reshape(-1)
    t = _times(m[:, None], fps, times)
    env = speech_envelope(audio, rate_hz, sr=sr)
    end_s = min(float(t[-1]) if t.size else 0.0, len(audio) / sr)
    grid = np.arange(int(np.floor(end_s * rate_hz)) + 1) / rate_hz
    m_grid = np.interp(grid, t, m) if t.size else np.zeros(0)
    env = env[: len(grid)]
    k = round(max_lag_s * rate_hz)
    lags = np.arange(-k, k + 1)
    r = np.array([_lagged_r(env, m_grid, int(lag)) for lag in lags])
    if len(grid) < 2 * k + 2 or not np.isfinite(r).any():
        return AgreementResult(float("nan"), float("nan"), float("nan"))
    i = int(np.nanargmax(r))
    shift = 0.0
    if 0 < i < len(r) - 1 and np.isfinite(r[i - 1 : i + 2]).all():
        den = r[i - 1] - 2.0 * r[i] + r[i + 1]
        shift = 0.5 * (r[i - 1] - r[i + 1]) / den if den < 0 else 0.0
    return AgreementResult(float(r[i]), 1000.0 * (lags[i] + shift) / rate_hz, float(r[k]))


def jitter_ratio(
    weights: np.ndarray,
    fps: float,
    *,
    channels: Sequence[int] = MOUTH_MOTION,
    cutoff_hz: float = JITTER_CUTOFF_HZ,
) -> float:
    """Fourier high-frequency ratio of mouth-region velocity (0 = smooth, -> 1 = jittery).

    ``v_c[i] = w_c[i+1] - w_c[i]`` per channel ``c`` (JawOpen and the mouth shapes), mean
    removed, Hann-windowed; ``P_c(f) = |rfft(v_c)|^2``.
    ``ratio = sum_c sum_{f > cutoff} P_c(f) / sum_c sum_{f > 0} P_c(f)`` (0 for a static curve).

    Args:
        weights: ``[F, 68]`` weights sampled evenly at ``fps``.
        fps: Frame rate in Hz (must exceed ``2 * cutoff_hz``).
        channels: Weight indices measured.
        cutoff_hz: Frequency above which motion counts as jitter.

    Returns:
        The ratio in [0, 1]; NaN for fewer than 8 frames or too low a frame rate.
    """
    w = _weights(weights)[:, list(channels)]
    if w.shape[0] < 8 or fps <= 2.0 * cutoff_hz:
        return float("nan")
    v = np.diff(w, axis=0)
    v = (v - v.mean(axis=0)) * np.hanning(v.shape[0])[:, None]
    power = np.abs(np.fft.rfft(v, axis=0)) ** 2
    freq = np.fft.rfftfreq(v.shape[0], 1.0 / fps)
    total = float(power[freq > 0].sum())
    return float(power[freq > cutoff_hz].sum() / total) if total > 1e-20 else 0.0


def resample_track(weights: np.ndarray, times: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``weights [F, C]`` at ``times [F]`` onto ``new_times [G]``.

    Returns:
        ``[G, C]`` float64; values beyond the ends are held (no extrapolation).
    """
    w = np.asarray(weights, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    q = np.clip(np.asarray(new_times, dtype=np.float64), t[0], t[-1])
    j = np.clip(np.searchsorted(t, q, side="right") - 1, 0, max(len(t) - 2, 0))
    if len(t) < 2:
        return np.repeat(w[:1], len(q), axis=0)
    frac = ((q - t[j]) / np.maximum(t[j + 1] - t[j], 1e-12))[:, None]
    return w[j] * (1.0 - frac) + w[j + 1] * frac


def region_mae(
    pred: np.ndarray,
    pred_times: np.ndarray,
    truth: np.ndarray,
    truth_times: np.ndarray,
    regions: dict[str, tuple[int, ...]] = REGIONS,
) -> dict[str, float]:
    """Mean absolute weight error per face region, after aligning frame rates by time code.

    Ground truth is linearly interpolated at the prediction's time codes; prediction frames
    outside the ground truth's time span are dropped. ``MAE_r = mean_{i, c in r} |p_ic - g_ic|``;
    key ``"all"`` averages over the 68 channels.

    Args:
        pred: ``[F, 68]`` predicted weights at ``pred_times [F]`` seconds.
        pred_times: ``[F]`` time codes in seconds.
        truth: ``[G, 68]`` ground-truth weights at ``truth_times [G]`` seconds.
        truth_times: ``[G]`` time codes in seconds.
        regions: Region name -> weight indices.

    Returns:
        Region name -> MAE in weight units (NaN when no frame overlaps).
    """
    p = _weights(pred)
    g = _weights(truth)
    pt = np.asarray(pred_times, dtype=np.float64)
    gt = np.asarray(truth_times, dtype=np.float64)
    keep = (pt >= gt[0] - 1e-6) & (pt <= gt[-1] + 1e-6) if gt.size else np.zeros_like(pt, bool)
    if not keep.any():
        return {name: float("nan") for name in [*regions, "all"]}
    err = np.abs(p[keep] - resample_track(g, gt, pt[keep]))
    out = {name: float(err[:, list(idx)].mean()) for name, idx in regions.items()}
    out["all"] = float(err.mean())
    return out
