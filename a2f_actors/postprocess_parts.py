"""Tongue, jaw (lower teeth) and eye post-processing (SDK ``animator.cpp``, multitrack kernels).

Pure functions batched over a leading track axis ``T`` and a frame axis ``F``, with per-track
parameters of shape ``[T]``. The only state is the eyes' saccade clock, passed in and returned.
The array module (NumPy or CuPy) is taken from the inputs.
"""

from __future__ import annotations

from typing import Any

from a2f_actors.xp import get_xp

#: The saccade table is authored at 30 fps: the clock advances 30 table rows per second.
SACCADE_TABLE_FPS = 30.0
#: Rows of the shipped saccade table (``saccade_rot_matrix`` has 5000 x 2 floats).
SACCADE_TABLE_ROWS = 5000
#: Number of jaw keypoints the networks predict (15 floats = 5 x xyz).
NUM_JAW_KEYPOINTS = 5


def _col(values: Any, ndim: int) -> Any:
    return values.reshape((values.shape[0],) + (1,) * (ndim - 1))


def _offset_yz(xp: Any, height: Any, depth: Any, dtype: Any) -> Any:
    """``[T, 3]`` per-track offset vector ``(0, height, depth)``."""
    h = xp.asarray(height, dtype=dtype)
    return xp.stack([xp.zeros_like(h), h, xp.asarray(depth, dtype=dtype)], axis=-1)


def postprocess_tongue(deltas: Any, neutral: Any, strength: Any, height: Any, depth: Any) -> Any:
    """Tongue pose: ``neutral + tongue_strength * delta``, then +height on Y and +depth on Z.

    Args:
        deltas: ``[T, F, V, 3]`` float32 tongue deltas (PCA-reconstructed or diffusion output).
        neutral: ``[V, 3]`` float32 neutral tongue (``shapes_mean_tongue`` / ``neutral_tongue``).
        strength: ``[T]`` ``tongue_strength``.
        height: ``[T]`` ``tongue_height_offset`` (model units, +Y).
        depth: ``[T]`` ``tongue_depth_offset`` (model units, +Z).

    Returns:
        ``[T, F, V, 3]`` tongue vertex positions, dtype of ``deltas``.
    """
    xp = get_xp(deltas)
    s = _col(xp.asarray(strength, dtype=deltas.dtype), 4)
    off = _offset_yz(xp, height, depth, deltas.dtype)[:, None, None, :]
    return (neutral + s * deltas + off).astype(deltas.dtype, copy=False)


def jaw_keypoints(deltas: Any, neutral: Any, strength: Any, height: Any, depth: Any) -> Any:
    """Posed jaw keypoints: ``neutral + lower_teeth_strength * delta + (0, height, depth)``.

    Args:
        deltas: ``[T, F, N, 3]`` (or ``[T, F, 3N]``) keypoint deltas; N = 5 for A2F models.
        neutral: ``[N, 3]`` (or ``[3N]``) neutral keypoints (``neutral_jaw``).
        strength: ``[T]`` ``lower_teeth_strength``.
        height: ``[T]`` ``lower_teeth_height_offset`` (+Y).
        depth: ``[T]`` ``lower_teeth_depth_offset`` (+Z).

    Returns:
        ``[T, F, N, 3]`` keypoint positions, dtype of ``deltas``.
    """
    xp = get_xp(deltas)
    d = deltas.reshape(deltas.shape[0], deltas.shape[1], -1, 3)
    n = xp.asarray(neutral, dtype=deltas.dtype).reshape(-1, 3)
    s = _col(xp.asarray(strength, dtype=deltas.dtype), 4)
    off = _offset_yz(xp, height, depth, deltas.dtype)[:, None, None, :]
    return (n + s * d + off).astype(deltas.dtype, copy=False)


def rigid_transform(source: Any, target: Any) -> Any:
    """Best rigid motion (rotation + translation, no scale) taking ``source`` onto ``target``.

    Kabsch/Procrustes as in the SDK's ``rigidXform``: centre both point sets, ``H = Sc^T Tc``,
    ``H = U S V^T``, ``R = V diag(1, 1, det(V U^T)) U^T`` (reflection-safe), ``t = mean(target)
    - R mean(source)``. Computed in float64, returned as float32.

    Args:
        source: ``[..., N, 3]`` points (the neutral keypoints, broadcastable).
        target: ``[..., N, 3]`` points (the posed keypoints).

    Returns:
        ``[..., 4, 4]`` float32 homogeneous matrices ``M = [[R, t], [0, 0, 0, 1]]`` acting on
        column vectors: ``target ~= (M @ [p, 1])[:3]``. The SDK writes the same matrix to 16
        floats in COLUMN-major order (Eigen ``ColMajor``); see :func:`jaw_matrix_to_sdk_flat`.
    """
    xp = get_xp(source, target)
    src = xp.asarray(source, dtype=xp.float64)
    tgt = xp.asarray(target, dtype=xp.float64)
    src, tgt = xp.broadcast_arrays(src, tgt)
    src_mean = src.mean(axis=-2, keepdims=True)
    tgt_mean = tgt.mean(axis=-2, keepdims=True)
    h = xp.swapaxes(src - src_mean, -1, -2) @ (tgt - tgt_mean)
    u, _, vt = xp.linalg.svd(h)
    v, ut = xp.swapaxes(vt, -1, -2), xp.swapaxes(u, -1, -2)
    d = xp.linalg.det(v @ ut)
    v = v.copy()
    v[..., :, 2] *= d[..., None]
    r = v @ ut
    t = tgt_mean[..., 0, :] - (r @ src_mean[..., 0, :, None])[..., 0]
    out = xp.zeros((*r.shape[:-2], 4, 4), dtype=xp.float64)
    out[..., :3, :3] = r
    out[..., :3, 3] = t
    out[..., 3, 3] = 1.0
    return out.astype(xp.float32)


def postprocess_jaw(deltas: Any, neutral: Any, strength: Any, height: Any, depth: Any) -> Any:
    """Jaw transform per frame: :func:`jaw_keypoints` then :func:`rigid_transform` from neutral.

    Args:
        deltas: ``[T, F, N, 3]`` or ``[T, F, 3N]`` keypoint deltas from the network.
        neutral: ``[N, 3]`` or ``[3N]`` neutral keypoints.
        strength: ``[T]`` ``lower_teeth_strength``.
        height: ``[T]`` ``lower_teeth_height_offset``.
        depth: ``[T]`` ``lower_teeth_depth_offset``.

    Returns:
        ``[T, F, 4, 4]`` float32 matrices mapping neutral keypoints onto posed ones (column-vector
        convention; use :func:`jaw_matrix_to_sdk_flat` for the SDK's 16-float layout).
    """
    xp = get_xp(deltas)
    posed = jaw_keypoints(deltas, neutral, strength, height, depth)
    n = xp.asarray(neutral, dtype=posed.dtype).reshape(-1, 3)
    return rigid_transform(n, posed)


def jaw_matrix_to_sdk_flat(matrices: Any) -> Any:
    """``[..., 4, 4]`` matrices -> ``[..., 16]`` in the SDK's column-major order.

    Element ``k`` of the result is ``M[k % 4, k // 4]``: floats 0-2 are R's first column, 12-14
    the translation, 15 is 1.
    """
    xp = get_xp(matrices)
    m = xp.swapaxes(matrices, -1, -2)
    return xp.ascontiguousarray(m).reshape((*m.shape[:-2], 16))


def saccade_indices(seed: Any, clock: Any, num_rows: int = SACCADE_TABLE_ROWS) -> Any:
    """Row of the saccade table for a clock value: ``int(wrap(seed + clock))``.

    Args:
        seed: ``[T]`` ``eye_saccade_seed`` (table rows).
        clock: ``[T]`` float32 saccade clock in table rows (= live seconds x 30, wrapped).
        num_rows: rows of the table.

    Returns:
        ``[T]`` int64 indices in ``[0, num_rows)``.
    """
    xp = get_xp(clock)
    total = xp.asarray(seed, dtype=xp.float32) + xp.asarray(clock, dtype=xp.float32)
    return xp.floor(_wrap(xp, total, num_rows)).astype(xp.int64)


def _wrap(xp: Any, value: Any, period: int) -> Any:
    """``fmod`` into ``[0, period)`` as the SDK does (float32)."""
    p = xp.float32(period)
    r = xp.fmod(value, p)
    r = xp.where(r < 0, r + p, r)
    return xp.where(r >= p, r - p, r).astype(xp.float32)


def postprocess_eyes(
    eyes: Any,
    saccade: Any,
    clock: Any,
    dt_s: Any,
    eyeballs_strength: Any,
    saccade_strength: Any,
    offsets: Any,
    seed: Any,
    counts: Any | None = None,
) -> tuple[Any, Any]:
    """Eye rotations per frame, with the saccade clock carried across calls.

    For each frame: ``idx = int(wrap(seed + clock))``; ``right = (rx_off, ry_off) +
    eyeballs_strength*(rX, rY) + saccade_strength*saccade[idx]``; ``left`` likewise with
    ``(lX, lY)`` and the SAME saccade row; then ``clock = wrap(clock + dt*30)`` (SDK
    ``IncrementLiveTime`` after ``ComputeEyesRotation``; clock 0 on reset). With ``clock`` in
    table rows this is the brief's ``idx = floor(seed + live_time_s*30) mod 5000``. The SDK
    sets each eye's third (Z) angle to 0; it is not returned.

    Args:
        eyes: ``[T, F, 4]`` float network eye angles ``[rX, rY, lX, lY]``.
        saccade: ``[R, 2]`` (or ``[2R]``) float saccade table (``saccade_rot_matrix``).
        clock: ``[T]`` float32 saccade clock in table rows (0 for a new track).
        dt_s: scalar or ``[T]`` seconds per frame.
        eyeballs_strength: ``[T]``.
        saccade_strength: ``[T]``.
        offsets: ``[T, 4]`` ``(right_x, right_y, left_x, left_y)`` rotation offsets.
        seed: ``[T]`` ``eye_saccade_seed``.
        counts: optional ``[T]`` frames per track (ragged tracks padded to F): frames
            ``>= counts[t]`` do not advance the clock; their angles are undefined.

    Returns:
        ``(angles, new_clock)``: ``[T, F, 4]`` float32 ``[rX, rY, lX, lY]`` and ``[T]`` float32.
    """
    xp = get_xp(eyes)
    table = xp.asarray(saccade, dtype=xp.float32).reshape(-1, 2)
    num_rows = table.shape[0]
    inc = xp.broadcast_to(xp.asarray(dt_s, dtype=xp.float32) * xp.float32(SACCADE_TABLE_FPS),
                          (eyes.shape[0],))  # fmt: skip
    base = xp.asarray(offsets, dtype=xp.float32)[:, None, :] + _col(
        xp.asarray(eyeballs_strength, dtype=xp.float32), 3
    ) * xp.asarray(eyes, dtype=xp.float32)
    sacc_rows = xp.empty((eyes.shape[0], eyes.shape[1], 2), dtype=xp.float32)
    c = xp.asarray(clock, dtype=xp.float32)
    for i in range(eyes.shape[1]):
        sacc_rows[:, i] = table[saccade_indices(seed, c, num_rows)]
        step = _wrap(xp, c + inc, num_rows)
        c = step if counts is None else xp.where(xp.asarray(counts) > i, step, c)
    sacc = _col(xp.asarray(saccade_strength, dtype=xp.float32), 3) * sacc_rows
    return base + xp.concatenate([sacc, sacc], axis=-1), c
