"""Stage 5b: Audio2Emotion post-processing and emotion keyframe tracks.

Two pure, explicit-state pieces:

1. :func:`postprocess_emotions` turns A2E logits ``[T, F, 6]`` into the 10-dim A2F emotion
   vectors, batched over tracks, exactly as SDK ``audio2emotion-core/postprocess.cpp``
   (a2f_reference.md section 2.4). The state (:class:`EmotionPostState`) is returned, never
   kept.
2. :class:`EmotionKeyframes` is the SDK emotion accumulator's contract
   (``audio2x/emotion_accumulator.cpp``): timestamped 10-dim vectors, timestamps in 16 kHz
   samples and strictly increasing; :func:`read_keyframes` samples it (exact key, or linear
   interpolation between keys; before the first key -> first; after the last key -> last only
   once the track is closed, otherwise "not available": the frame must wait).

Combining user keyframes with detected emotions: :func:`combine_emotion_sources`.

**THE COMBINATION RULE IS OURS, NOT NVIDIA'S.** The open SDK feeds the A2F emotion accumulator
from exactly one source (the A2E executor or the application) and the NIM documentation does
not say how it merges the ``emotions`` keyframes a client sends with A2E output. We implement:
*user keyframes override*: when the stream's user track holds at least one keyframe, frames
take the user value (and wait while the open user track has nothing at or after their time);
otherwise they take the detected (A2E) track; with neither, the default emotion (the
``beginning_emotion``/model default) is used and is always available.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from a2f_actors.errors import ConfigError
from a2f_actors.names import A2E_EMOTIONS, NUM_A2E_EMOTIONS, NUM_A2F_EMOTIONS
from a2f_actors.params import EmotionPostParams
from a2f_actors.xp import get_xp

#: Transition times below this are clamped (SDK ``ApplyTransitionSmoothing``), seconds.
MIN_TRANSITION_TIME_S = 1e-3
#: Timestamps of keyframe tracks are sample indices at this rate.
KEYFRAME_SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True, eq=False)
class EmotionPostArrays:
    """Per-track arrays of :class:`~a2f_actors.params.EmotionPostParams` (T tracks).

    Attributes:
        contrast: ``[T]`` float32 ``emotion_contrast``.
        live_blend_coef: ``[T]`` float32.
        enable_preferred: ``[T]`` bool ``enable_preferred_emotion``.
        preferred_strength: ``[T]`` float32 ``preferred_emotion_strength``.
        strength: ``[T]`` float32 ``emotion_strength``.
        max_emotions: ``[T]`` int64.
        transition_w: ``[T]`` float32 ``min(fixed_dt / max(live_transition_time, 1e-3), 1)``.
        preferred: ``[T, 10]`` float32 ``preferred_emotion``.
        beginning: ``[T, 10]`` float32 ``beginning_emotion``.
        mapped: ``[T, 6]`` bool; A2E class j maps to some A2F slot (correspondence != -1).
        scatter: ``[T, 6, 10]`` float32 one-hot A2E class -> A2F slot (last writer wins).
    """

    contrast: Any
    live_blend_coef: Any
    enable_preferred: Any
    preferred_strength: Any
    strength: Any
    max_emotions: Any
    transition_w: Any
    preferred: Any
    beginning: Any
    mapped: Any
    scatter: Any


def _scatter_matrix(correspondence: dict[str, int]) -> np.ndarray:
    """``[6, 10]`` one-hot map of A2E classes to A2F slots; later classes win a shared slot."""
    m = np.zeros((NUM_A2E_EMOTIONS, NUM_A2F_EMOTIONS), dtype=np.float32)
    for j, name in enumerate(A2E_EMOTIONS):
        k = int(correspondence.get(name, -1))
        if not -1 <= k < NUM_A2F_EMOTIONS:
            raise ConfigError(
                f"emotion_correspondence[{name!r}]={k} is outside [-1, {NUM_A2F_EMOTIONS - 1}]"
            )
        if k >= 0:
            m[:, k] = 0.0
            m[j, k] = 1.0
    return m


def emotion_param_arrays(params: Sequence[EmotionPostParams], xp: Any = np) -> EmotionPostArrays:
    """Stack one :class:`EmotionPostParams` per track into arrays on ``xp``.

    Raises:
        ConfigError: an ``emotion_correspondence`` index outside ``[-1, 9]``.
    """
    if not params:
        raise ValueError("emotion_param_arrays needs at least one track")

    def col(name: str, dtype: Any = np.float32) -> Any:
        return xp.asarray(np.array([getattr(p, name) for p in params], dtype=dtype))

    w = [min(p.fixed_dt / max(p.live_transition_time, MIN_TRANSITION_TIME_S), 1.0) for p in params]
    scatter = np.stack([_scatter_matrix(p.emotion_correspondence) for p in params])
    return EmotionPostArrays(
        contrast=col("emotion_contrast"),
        live_blend_coef=col("live_blend_coef"),
        enable_preferred=col("enable_preferred_emotion", bool),
        preferred_strength=col("preferred_emotion_strength"),
        strength=col("emotion_strength"),
        max_emotions=col("max_emotions", np.int64),
        transition_w=xp.asarray(np.array(w, dtype=np.float32)),
        preferred=xp.asarray(np.array([p.preferred_emotion for p in params], dtype=np.float32)),
        beginning=xp.asarray(np.array([p.beginning_emotion for p in params], dtype=np.float32)),
        mapped=xp.asarray(
            np.array(
                [[p.emotion_correspondence.get(n, -1) != -1 for n in A2E_EMOTIONS] for p in params]
            )
        ),
        scatter=xp.asarray(scatter),
    )


@dataclass(frozen=True, eq=False)
class EmotionPostState:
    """A2E post-processing state of T tracks (SDK ``PostProcessor`` buffers).

    Attributes:
        working: ``[T, 10]`` float32; the SDK's in-place A2F working vector, i.e. the previous
            frame's OUTPUT (after ``emotion_strength``): slots no A2E class maps to keep it.
        prev_emotion: ``[T, 10]`` float32; live-blend memory (after the live blend).
        prev_blended: ``[T, 10]`` float32; transition memory (before ``emotion_strength``).
        first_frame: ``[T]`` bool; True until a track's first A2E frame.
    """

    working: Any
    prev_emotion: Any
    prev_blended: Any
    first_frame: Any


def new_emotion_state(num_tracks: int, xp: Any = np) -> EmotionPostState:
    """Fresh state (SDK ``Reset``): zeros and ``first_frame = True``."""
    z = xp.zeros((num_tracks, NUM_A2F_EMOTIONS), dtype=xp.float32)
    return EmotionPostState(z, z.copy(), z.copy(), xp.ones((num_tracks,), dtype=bool))


def _softmax(z: Any) -> Any:
    xp = get_xp(z)
    e = xp.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _keep_top(p: Any, max_emotions: Any) -> Any:
    """Zero all but the ``max_emotions[t]`` largest entries of each row of ``p [T, 6]``."""
    xp = get_xp(p)
    ranks = xp.argsort(xp.argsort(-p, axis=-1), axis=-1)
    return xp.where(ranks < max_emotions[:, None], p, 0.0).astype(p.dtype)


def _a2e_to_a2f(logits: Any, params: EmotionPostArrays, working: Any) -> Any:
    """Steps 1-4: contrast+softmax, drop unmapped, top-k, scatter onto ``working`` [T, 10]."""
    xp = get_xp(logits)
    p = _softmax(logits * params.contrast[:, None])
    p = xp.where(params.mapped, p, 0.0).astype(xp.float32)
    p = _keep_top(p, params.max_emotions)
    scattered = xp.einsum("tj,tjk->tk", p, params.scatter)
    written = params.scatter.sum(axis=1) > 0
    return xp.where(written, scattered, working)


def _frame(
    logits: Any, params: EmotionPostArrays, s: EmotionPostState
) -> tuple[Any, EmotionPostState]:
    """One A2E frame for all T tracks; returns ``(output [T, 10], new_state)``."""
    xp = get_xp(logits)
    first = s.first_frame[:, None]
    working = xp.where(first, params.beginning, s.working)
    a = _a2e_to_a2f(logits, params, working)
    lb = params.live_blend_coef[:, None]
    a = (1 - lb) * a + lb * xp.where(first, params.beginning, s.prev_emotion)  # step 5
    prev_emotion = a
    ps = params.preferred_strength[:, None]
    preferred = (1 - ps) * a + ps * params.preferred
    a = xp.where(params.enable_preferred[:, None], preferred, a)  # step 6
    w = params.transition_w[:, None]
    a = xp.where(first, a, w * a + (1 - w) * s.prev_blended)  # step 7
    prev_blended = a
    out = (a * params.strength[:, None]).astype(xp.float32)  # step 8
    state = EmotionPostState(out, prev_emotion, prev_blended, xp.zeros_like(s.first_frame))
    return out, state


def postprocess_emotions(
    logits: Any, params: EmotionPostArrays, state: EmotionPostState
) -> tuple[Any, EmotionPostState]:
    """A2E logits -> A2F emotion vectors, frame by frame, for T tracks (SDK ``PostProcess``).

    Per frame: (1) ``softmax(logits * emotion_contrast)``; (2) zero classes mapped to -1;
    (3) keep the ``max_emotions`` largest; (4) scatter into the 10-vector via
    ``emotion_correspondence`` (other slots keep the working vector, which starts as
    ``beginning_emotion`` and is afterwards the previous output); (5) live blend
    ``a = (1-c)*a + c*prev`` (prev = ``beginning_emotion`` on the first frame), prev <- a;
    (6) optional preferred-emotion blend; (7) after the first frame, transition smoothing
    ``a = w*a + (1-w)*prev_blended`` with ``w = min(fixed_dt / max(live_transition_time, 1e-3),
    1)``, prev_blended <- a; (8) ``a *= emotion_strength``.

    Args:
        logits: ``[T, F, 6]`` float A2E logits in ``A2E_EMOTIONS`` order, F >= 1 frames in order.
        params: :class:`EmotionPostArrays` for the T tracks.
        state: :class:`EmotionPostState` for the T tracks.

    Returns:
        ``(emotions [T, F, 10] float32 in A2F_EMOTIONS order, new_state)``; chunking-invariant.
    """
    xp = get_xp(logits)
    x = xp.asarray(logits, dtype=xp.float32)
    out = xp.empty((x.shape[0], x.shape[1], NUM_A2F_EMOTIONS), dtype=xp.float32)
    for i in range(x.shape[1]):
        out[:, i], state = _frame(x[:, i], params, state)
    return out, state


# --- keyframe tracks ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EmotionKeyframes:
    """Timestamped emotion vectors of one stream (SDK emotion accumulator, host-side).

    Attributes:
        timestamps: ``[N]`` int64 sample indices at 16 kHz, strictly increasing (may be < 0).
        values: ``[N, D]`` float32 (D = 10, ``A2F_EMOTIONS`` order).
        closed: no more keyframes will come; reads past the last key then return the last key.
    """

    timestamps: np.ndarray
    values: np.ndarray
    closed: bool = False

    @classmethod
    def empty(cls, size: int = NUM_A2F_EMOTIONS) -> EmotionKeyframes:
        """An open track with no keyframe."""
        return cls(np.zeros((0,), np.int64), np.zeros((0, size), np.float32))

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


def append_keyframes(track: EmotionKeyframes, timestamps: Any, values: Any) -> EmotionKeyframes:
    """Return ``track`` with keyframes appended (SDK ``Accumulate``).

    Args:
        track: an open track.
        timestamps: ``[N]`` int sample indices, strictly increasing and after the last key.
        values: ``[N, D]`` float vectors.

    Raises:
        ConfigError: closed track, wrong width, or timestamps not strictly increasing.
    """
    ts = np.asarray(timestamps, dtype=np.int64).reshape(-1)
    vals = np.asarray(values, dtype=np.float32).reshape(ts.shape[0], -1)
    if track.closed:
        raise ConfigError("emotion keyframe track is closed; no keyframe can be added")
    if vals.shape[1] != track.values.shape[1]:
        raise ConfigError(
            f"emotion keyframes have {vals.shape[1]} values; need {track.values.shape[1]}"
        )
    merged = np.concatenate([track.timestamps, ts])
    if np.any(np.diff(merged) <= 0):
        raise ConfigError(
            f"emotion keyframe timestamps must be strictly increasing; got {merged.tolist()}"
        )
    return EmotionKeyframes(merged, np.concatenate([track.values, vals]), False)


def close_keyframes(track: EmotionKeyframes) -> EmotionKeyframes:
    """Return the track marked closed (SDK ``Close``).

    Raises:
        ConfigError: the track is empty (the SDK refuses to close an empty accumulator).
    """
    if len(track) == 0:
        raise ConfigError("cannot close an empty emotion keyframe track; add a keyframe first")
    return dataclasses.replace(track, closed=True)


def keyframes_from_time_codes(
    time_codes_s: Sequence[float],
    values: Any,
    closed: bool = False,
    sample_rate: int = KEYFRAME_SAMPLE_RATE_HZ,
) -> EmotionKeyframes:
    """Build a track from NIM ``EmotionWithTimeCode`` keyframes (seconds from clip start).

    Keyframes are sorted by time and converted to the nearest sample index.

    Raises:
        ConfigError: two keyframes fall on the same sample.
    """
    vals = np.asarray(values, dtype=np.float32).reshape(len(time_codes_s), -1)
    ts = np.rint(np.asarray(time_codes_s, dtype=np.float64) * sample_rate).astype(np.int64)
    order = np.argsort(ts, kind="stable")
    if np.any(np.diff(ts[order]) == 0):
        raise ConfigError(f"two emotion keyframes share one time code: {sorted(time_codes_s)}")
    track = append_keyframes(EmotionKeyframes.empty(vals.shape[1]), ts[order], vals[order])
    return close_keyframes(track) if closed else track


def read_keyframes(track: EmotionKeyframes, sample_times: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sample the track at sample indices (SDK ``EmotionAccumulator::Read``).

    Args:
        track: the keyframe track.
        sample_times: ``[M]`` int sample indices (16 kHz).

    Returns:
        ``(values [M, D] float32, available [M] bool)``; where not available (empty track, or
        an open track read past its last key) the values are zeros and the frame must wait.
    """
    t = np.asarray(sample_times, dtype=np.int64).reshape(-1)
    out = np.zeros((t.shape[0], track.values.shape[1]), dtype=np.float32)
    if len(track) == 0:
        return out, np.zeros(t.shape, dtype=bool)
    ts, vals = track.timestamps, track.values.astype(np.float64)
    available = np.full(t.shape, True) if track.closed else t <= ts[-1]
    hi = np.clip(np.searchsorted(ts, t, side="left"), 0, len(ts) - 1)
    lo = np.clip(hi - 1, 0, None)
    span = np.maximum(ts[hi] - ts[lo], 1).astype(np.float64)
    frac = np.clip((t - ts[lo]) / span, 0.0, 1.0)[:, None]
    frac = np.where((hi == lo)[:, None], 1.0, frac)
    interp = vals[lo] + frac * (vals[hi] - vals[lo])
    out[available] = interp[available].astype(np.float32)
    return out, available


def combine_emotion_sources(
    sample_times: Any,
    user: EmotionKeyframes | None,
    detected: EmotionKeyframes | None,
    default: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Emotion of each frame from user keyframes, detected (A2E) keyframes or a default.

    OUR RULE (see the module docstring; not specified by NVIDIA): a non-empty user track
    overrides everything; else the detected track; else ``default``, always available.

    Args:
        sample_times: ``[M]`` int sample indices of the frames (the frames' target samples).
        user: the stream's user keyframes (from the request), or None.
        detected: keyframes written by A2E post-processing, or None when A2E is off.
        default: ``[D]`` float; the emotion when neither source applies.

    Returns:
        ``(values [M, D] float32, available [M] bool)``.
    """
    t = np.asarray(sample_times, dtype=np.int64).reshape(-1)
    if user is not None and len(user) > 0:
        return read_keyframes(user, t)
    if detected is not None:
        return read_keyframes(detected, t)
    d = np.asarray(default, dtype=np.float32).reshape(1, -1)
    return np.repeat(d, t.shape[0], axis=0), np.ones(t.shape, dtype=bool)
