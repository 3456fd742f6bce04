"""Skin post-processing building blocks (SDK ``animator_cuda.cu``, ``multitrack_animator_cuda.cu``).

Every function here is pure: arrays in, arrays out, state passed and returned explicitly. All
of them are batched over a leading track axis ``T`` with per-track parameters of shape ``[T]``,
and all but :func:`lower_face_mask` / :func:`combine_upper_lower` act identically on any trailing
shape, so they run unchanged on vertex deltas ``[..., V, 3]`` or on PCA coefficients ``[..., K]``
(see the module docstring of :mod:`a2f_actors.postprocess` for the compact-space recipe).

The array module (NumPy or CuPy) is taken from the input arrays; nothing here imports cupy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from a2f_actors.xp import get_xp

#: Number of cascaded one-pole stages of each smoother (SDK ``Interpolator`` degree 2).
SMOOTHER_STAGES = 2


def _per_track(values: Any, ndim: int) -> Any:
    """Reshape a ``[T]`` array so it broadcasts against an array of ``ndim`` dims with T first."""
    return values.reshape((values.shape[0],) + (1,) * (ndim - 1))


def smoothing_alpha(half_life_s: Any, dt_s: Any) -> Any:
    """One-pole smoothing factor per track: ``alpha = 1 - 0.5 ** (dt / half_life)``.

    A half-life of 0 means pass-through (``alpha = 1``), as in the SDK, where a non-positive
    smoothing selects the no-op interpolator kernel.

    Args:
        half_life_s: ``[T]`` float, seconds (``upper_face_smoothing`` / ``lower_face_smoothing``).
        dt_s: scalar or ``[T]`` float, seconds between frames (``fps_den / fps_num``; 1/60 for
            diffusion).

    Returns:
        ``[T]`` float32 in ``(0, 1]``.
    """
    xp = get_xp(half_life_s)
    h = xp.asarray(half_life_s, dtype=xp.float64)
    dt = xp.broadcast_to(xp.asarray(dt_s, dtype=xp.float64), h.shape)
    safe = xp.where(h > 0.0, h, 1.0)
    alpha = xp.where(h > 0.0, 1.0 - 0.5 ** (dt / safe), 1.0)
    return alpha.astype(xp.float32)


def skin_offset_gains(
    skin_strength: Any,
    eyelid_open_offset: Any,
    blink_offset: Any,
    blink_strength: Any,
    lip_open_offset: Any,
) -> tuple[Any, Any, Any]:
    """Scalar gains of step 1 of the skin animator, per track.

    ``d' = g_delta * d + g_eye * eye_close_delta + g_lip * lip_open_delta`` with
    ``g_delta = skin_strength``, ``g_eye = -eyelid_open_offset + blink_offset * blink_strength``
    and ``g_lip = lip_open_offset``. Exposed separately so a compact-space caller can treat
    the two pose deltas as two extra basis vectors with coefficients ``g_eye`` and ``g_lip``.

    Args:
        skin_strength: ``[T]``.
        eyelid_open_offset: ``[T]``.
        blink_offset: ``[T]``.
        blink_strength: ``[T]``.
        lip_open_offset: ``[T]``.

    Returns:
        ``(g_delta, g_eye, g_lip)``, each ``[T]`` float32.
    """
    xp = get_xp(skin_strength)
    g_delta = xp.asarray(skin_strength, dtype=xp.float32)
    g_eye = (-xp.asarray(eyelid_open_offset) + xp.asarray(blink_offset) * blink_strength).astype(
        xp.float32
    )
    g_lip = xp.asarray(lip_open_offset, dtype=xp.float32)
    return g_delta, g_eye, g_lip


def skin_delta_inputs(
    deltas: Any,
    eye_close_delta: Any,
    lip_open_delta: Any,
    skin_strength: Any,
    eyelid_open_offset: Any,
    blink_offset: Any,
    blink_strength: Any,
    lip_open_offset: Any,
) -> Any:
    """Step 1 of the skin animator: strength plus eyelid/blink/lip offsets.

    ``d' = skin_strength*d + eye_close_delta*(-eyelid_open_offset + blink_offset*blink_strength)
    + lip_open_delta*lip_open_offset``.

    Args:
        deltas: ``[T, F, *S]`` float32; skin deltas (vertex space ``S = (V, 3)``) or their PCA
            coefficients (``S = (K,)``).
        eye_close_delta: ``[*S]``; the eye-close pose delta in the same space as ``deltas``.
        lip_open_delta: ``[*S]``; the lip-open pose delta in the same space.
        skin_strength: ``[T]``.
        eyelid_open_offset: ``[T]``.
        blink_offset: ``[T]``.
        blink_strength: ``[T]``.
        lip_open_offset: ``[T]``.

    Returns:
        ``[T, F, *S]`` with the dtype of ``deltas``.
    """
    g_delta, g_eye, g_lip = skin_offset_gains(
        skin_strength, eyelid_open_offset, blink_offset, blink_strength, lip_open_offset
    )
    nd = deltas.ndim
    out = (
        _per_track(g_delta, nd) * deltas
        + _per_track(g_eye, nd) * eye_close_delta
        + _per_track(g_lip, nd) * lip_open_delta
    )
    return out.astype(deltas.dtype, copy=False)


def new_smoother_state(num_tracks: int, shape: tuple[int, ...], xp: Any = np) -> Any:
    """A zero smoother state ``[T, 2, *shape]`` float32 (pair it with ``fresh=True``)."""
    return xp.zeros((num_tracks, SMOOTHER_STAGES, *shape), dtype=xp.float32)


def smooth_two_pole(
    x: Any, state: Any, alpha: Any, fresh: Any | None = None, counts: Any | None = None
) -> tuple[Any, Any]:
    """Cascade of two one-pole low-pass filters, frame by frame, per track.

    Per frame: ``s1 += (x - s1) * alpha``; ``s2 += (s1 - s2) * alpha``; output ``s2`` (the
    second stage reads the already-updated first stage, as in the SDK kernel). A fresh track
    first sets both stages to its first input (SDK: ``InterpolatorInitDataKernel`` /
    ``initialized == false``), so its first output equals its first input. ``alpha = 1`` is
    pass-through. Linear and element-wise: it commutes with any linear map on the trailing
    axes (e.g. PCA reconstruction).

    Args:
        x: ``[T, F, *S]`` float; F >= 1 frames per track, in order.
        state: ``[T, 2, *S]`` float; ``state[:, 0]`` = stage 1, ``state[:, 1]`` = stage 2.
        alpha: ``[T]`` float from :func:`smoothing_alpha`.
        fresh: optional ``[T]`` bool; True where the track has no history yet (new stream or
            reset); its ``state`` is ignored and re-initialised from ``x[:, 0]``.
        counts: optional ``[T]`` int, frames of each track (>= 1; tracks of different lengths
            padded to F): frames ``>= counts[t]`` do not advance track t's state and their
            outputs are undefined.

    Returns:
        ``(y, new_state)``: ``y`` ``[T, F, *S]`` (dtype of ``x``) and ``new_state`` ``[T, 2, *S]``.
        Chunking-invariant: one call with F frames equals F calls with one frame each.
    """
    xp = get_xp(x)
    s1, s2 = state[:, 0], state[:, 1]
    if fresh is not None:
        f = _per_track(xp.asarray(fresh, dtype=bool), s1.ndim)
        s1 = xp.where(f, x[:, 0], s1)
        s2 = xp.where(f, x[:, 0], s2)
    a = _per_track(xp.asarray(alpha, dtype=x.dtype), s1.ndim)
    b = 1 - a  # written as a*new + (1-a)*old so that alpha = 1 passes x through bit-exactly
    y = xp.empty_like(x)
    for i in range(x.shape[1]):
        n1 = a * x[:, i] + b * s1
        n2 = a * n1 + b * s2
        if counts is not None and i > 0:  # every track has frame 0
            keep = _per_track(xp.asarray(counts) > i, s1.ndim)
            n1, n2 = xp.where(keep, n1, s1), xp.where(keep, n2, s2)
        s1, s2 = n1, n2
        y[:, i] = s2
    return y, xp.stack([s1, s2], axis=1).astype(state.dtype, copy=False)


def lower_face_mask(neutral_y: Any, level: Any, softness: Any) -> Any:
    """Per-vertex lower-face weight from the neutral pose's height (SDK face mask).

    ``yn = (y - min y) / (max y - min y)``, ``m = 1 / (1 + exp(-(level - yn) / softness))``:
    vertices below ``level`` (the mouth/jaw region) get m -> 1, vertices above (eyes, brows)
    get m -> 0. Computed as ``0.5 * (1 + tanh(z / 2))``, the same function without overflow.

    Args:
        neutral_y: ``[V]`` float; Y (second) coordinate of every neutral skin vertex.
        level: ``[T]`` ``face_mask_level`` in [0, 1].
        softness: ``[T]`` ``face_mask_softness`` > 0.

    Returns:
        ``[T, V]`` float32 in [0, 1].

    Raises:
        ValueError: if the neutral pose is flat in Y (the SDK rejects it too).
    """
    xp = get_xp(neutral_y)
    y = xp.asarray(neutral_y, dtype=xp.float64)
    lo, hi = float(y.min()), float(y.max())
    if not hi > lo:
        raise ValueError(f"neutral pose has no extent in Y (min {lo} == max {hi}); cannot mask")
    yn = (y - lo) / (hi - lo)
    lvl = xp.asarray(level, dtype=xp.float64)[:, None]
    soft = xp.asarray(softness, dtype=xp.float64)[:, None]
    z = (lvl - yn[None, :]) / soft
    return (0.5 * (1.0 + xp.tanh(0.5 * z))).astype(xp.float32)


def combine_upper_lower(
    neutral: Any,
    smooth_upper: Any,
    smooth_lower: Any,
    mask: Any,
    upper_strength: Any,
    lower_strength: Any,
) -> Any:
    """Final skin pose: ``neutral + us*(1-m)*smooth_upper + ls*m*smooth_lower`` (vertex space).

    Args:
        neutral: ``[V, 3]`` float32 neutral skin.
        smooth_upper: ``[T, F, V, 3]`` output of the upper smoother.
        smooth_lower: ``[T, F, V, 3]`` output of the lower smoother.
        mask: ``[T, V]`` from :func:`lower_face_mask`.
        upper_strength: ``[T]`` ``upper_face_strength``.
        lower_strength: ``[T]`` ``lower_face_strength``.

    Returns:
        ``[T, F, V, 3]`` skin vertex positions, dtype of ``smooth_upper``.
    """
    xp = get_xp(smooth_upper)
    m = xp.asarray(mask, dtype=smooth_upper.dtype)[:, None, :, None]
    us = _per_track(xp.asarray(upper_strength, dtype=smooth_upper.dtype), 4)
    ls = _per_track(xp.asarray(lower_strength, dtype=smooth_upper.dtype), 4)
    out = neutral + us * (1 - m) * smooth_upper + ls * m * smooth_lower
    return out.astype(smooth_upper.dtype, copy=False)
