"""Stage 4: A2F post-processing (skin, tongue, jaw, eyes) with explicit, batched state.

Formulas are the SDK animators' (a2f_reference.md section 2.3; confirmed in
``animator_cuda.cu``, ``multitrack_animator_cuda.cu``, ``animator.cpp``, ``math_utils.cpp``).
Everything is batched over a leading track axis ``T`` (one row per stream) and a frame axis
``F`` (frames of one stream, in order); per-track parameters are ``[T]`` arrays built once per
batch by :func:`face_param_arrays`. State (smoothers, saccade clock) is a frozen record passed in
and returned: nothing is kept in objects or module globals, so any replica can run any batch and
a retried call with the same inputs returns the same frames.

Skin pipeline, per track and frame (``d`` = network skin delta)::

    d'  = skin_strength*d + g_eye*eye_close_delta + lip_open_offset*lip_open_delta   (step 1)
          g_eye = -eyelid_open_offset + blink_offset*blink_strength
    su  = S_upper(d');  sl = S_lower(d')     two-pole smoothers (half-lives: *_face_smoothing)
    out = neutral + upper_face_strength*(1-m)*su + lower_face_strength*m*sl   (m: lower mask)

Compact (PCA-coefficient) space -- architecture principle 3. Steps 1 and the smoothers are
linear and element-wise over the trailing axis, so they commute with the linear reconstruction
``d = sum_k c_k P_k``. Augment the basis with the two pose deltas, ``B = [P; E_eye; L_lip]``
(:func:`augment_skin_basis`, ``[K+2, V, 3]``) and the coefficients with their gains,
``a = [g_delta*c, g_eye, g_lip]`` (:func:`skin_compact_inputs`); then ``d' = B^T a`` exactly.
Run both smoothers on ``a`` (state ``[T, 2, K+2]`` instead of ``[T, 2, 3V]``). The mask ``m`` is
per VERTEX and cannot be applied to coefficients: fold it into the basis once per
(character, face_mask_level, face_mask_softness) with :func:`fold_mask_into_basis`, giving
``B_u = B*(1-m)`` and ``B_l = B*m``, and finish with ``out = neutral + B_u^T (us*su) + B_l^T
(ls*sl)`` (:func:`skin_compact_step` returns ``us*su`` and ``ls*sl``) -- or push ``B_u``/``B_l``
further through the solver's linear data term (``D^T diag(1-m) B^T``) and never build vertices.
Tests prove the compact path equals the vertex path to float tolerance.

Diffusion outputs vertex deltas directly: run the vertex path, or project the deltas onto a
basis first. Tongue, jaw and eyes are stateless except the saccade clock (:class:`EyesState`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from a2f_actors.params import FaceParams
from a2f_actors.postprocess_parts import (
    SACCADE_TABLE_FPS,
    SACCADE_TABLE_ROWS,
    jaw_keypoints,
    jaw_matrix_to_sdk_flat,
    postprocess_eyes,
    postprocess_jaw,
    postprocess_tongue,
    rigid_transform,
    saccade_indices,
)
from a2f_actors.postprocess_skin import (
    SMOOTHER_STAGES,
    combine_upper_lower,
    lower_face_mask,
    new_smoother_state,
    skin_delta_inputs,
    skin_offset_gains,
    smooth_two_pole,
    smoothing_alpha,
)
from a2f_actors.xp import get_xp

__all__ = [
    "SACCADE_TABLE_FPS",
    "SACCADE_TABLE_ROWS",
    "SMOOTHER_STAGES",
    "EyesState",
    "FaceParamArrays",
    "SkinData",
    "SkinState",
    "augment_skin_basis",
    "combine_upper_lower",
    "eyes_step",
    "face_param_arrays",
    "fold_mask_into_basis",
    "jaw_keypoints",
    "jaw_matrix_to_sdk_flat",
    "lower_face_mask",
    "new_eyes_state",
    "new_skin_state",
    "postprocess_eyes",
    "postprocess_jaw",
    "postprocess_skin",
    "postprocess_tongue",
    "reconstruct_skin_compact",
    "rigid_transform",
    "saccade_indices",
    "skin_compact_inputs",
    "skin_compact_step",
    "skin_delta_inputs",
    "skin_offset_gains",
    "smooth_two_pole",
    "smoothing_alpha",
    "split_track_states",
    "stack_track_states",
]

_FACE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FaceParams))


@dataclass(frozen=True, eq=False)
class FaceParamArrays:
    """Every :class:`~a2f_actors.params.FaceParams` field as a ``[T]`` float32 array.

    Attribute names are exactly the FaceParams (SDK snake_case) names; build with
    :func:`face_param_arrays`. ``values[name]`` holds the array of field ``name``.
    """

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def num_tracks(self) -> int:
        """Number of tracks T."""
        return int(self.values["skin_strength"].shape[0])

    def eye_offsets(self) -> Any:
        """``[T, 4]`` (right_x, right_y, left_x, left_y) eye rotation offsets."""
        xp = get_xp(self.values["skin_strength"])
        names = ("right_eye_rot_x_offset", "right_eye_rot_y_offset")
        names += ("left_eye_rot_x_offset", "left_eye_rot_y_offset")
        return xp.stack([self.values[n] for n in names], axis=-1)


def face_param_arrays(params: Sequence[FaceParams], xp: Any = np) -> FaceParamArrays:
    """Stack one :class:`FaceParams` per track into ``[T]`` float32 arrays on ``xp``.

    Args:
        params: T parameter records, in track order.
        xp: array module (``numpy`` or ``cupy``) the arrays are created on.

    Returns:
        :class:`FaceParamArrays` with one ``[T]`` float32 array per field.
    """
    if not params:
        raise ValueError("face_param_arrays needs at least one track")
    table = np.array([[getattr(p, n) for n in _FACE_FIELDS] for p in params], dtype=np.float32)
    return FaceParamArrays({n: xp.asarray(table[:, i]) for i, n in enumerate(_FACE_FIELDS)})


@dataclass(frozen=True, eq=False)
class SkinData:
    """Per-character skin data (vertex space).

    Attributes:
        neutral: ``[V, 3]`` float32 neutral skin (``shapes_mean_skin`` / ``neutral_skin``).
        eye_close_delta: ``[V, 3]`` float32 ``eye_close_pose_delta``.
        lip_open_delta: ``[V, 3]`` float32 ``lip_open_pose_delta``.
    """

    neutral: Any
    eye_close_delta: Any
    lip_open_delta: Any


@dataclass(frozen=True, eq=False)
class SkinState:
    """Smoother state of T tracks, in vertex space (``S = (V, 3)``) or compact (``S = (K+2,)``).

    Attributes:
        upper: ``[T, 2, *S]`` float32 stages of the upper-face smoother.
        lower: ``[T, 2, *S]`` float32 stages of the lower-face smoother.
        initialized: ``[T]`` bool; False until a track's first frame (its stages are then set
            to that frame's input, as in the SDK).
    """

    upper: Any
    lower: Any
    initialized: Any


@dataclass(frozen=True, eq=False)
class EyesState:
    """Saccade clock of T tracks.

    Attributes:
        clock: ``[T]`` float32; saccade-table rows elapsed (live seconds x 30, wrapped mod rows).
    """

    clock: Any


_S = TypeVar("_S")


def new_skin_state(num_tracks: int, shape: tuple[int, ...], xp: Any = np) -> SkinState:
    """Fresh skin state for ``num_tracks`` tracks with trailing shape ``shape``."""
    zeros = new_smoother_state(num_tracks, shape, xp)
    return SkinState(zeros, zeros.copy(), xp.zeros((num_tracks,), dtype=bool))


def new_eyes_state(num_tracks: int, xp: Any = np) -> EyesState:
    """Fresh saccade clock (0, as after SDK ``Reset``)."""
    return EyesState(xp.zeros((num_tracks,), dtype=xp.float32))


def stack_track_states(states: Sequence[_S]) -> _S:
    """Concatenate states of several batches/streams along the track axis (same record type)."""
    first = states[0]
    xp = get_xp(*(getattr(first, f.name) for f in dataclasses.fields(first)))  # type: ignore[arg-type]
    return dataclasses.replace(
        first,  # type: ignore[type-var]
        **{
            f.name: xp.concatenate([getattr(s, f.name) for s in states], axis=0)
            for f in dataclasses.fields(first)  # type: ignore[arg-type]
        },
    )


def split_track_states(state: _S) -> list[_S]:
    """Split a T-track state into T one-track states (inverse of :func:`stack_track_states`)."""
    fields = dataclasses.fields(state)  # type: ignore[arg-type]
    n = getattr(state, fields[0].name).shape[0]
    return [
        dataclasses.replace(
            state,  # type: ignore[type-var]
            **{f.name: getattr(state, f.name)[i : i + 1] for f in fields},
        )
        for i in range(n)
    ]


def _smooth_both(
    x: Any, params: FaceParamArrays, dt_s: Any, state: SkinState, counts: Any | None = None
) -> tuple:
    fresh = ~state.initialized
    a_up = smoothing_alpha(params.upper_face_smoothing, dt_s)
    a_lo = smoothing_alpha(params.lower_face_smoothing, dt_s)
    su, up = smooth_two_pole(x, state.upper, a_up, fresh, counts)
    sl, lo = smooth_two_pole(x, state.lower, a_lo, fresh, counts)
    xp = get_xp(x)
    return su, sl, SkinState(up, lo, xp.ones_like(state.initialized))


def postprocess_skin(
    deltas: Any,
    data: SkinData,
    params: FaceParamArrays,
    dt_s: Any,
    state: SkinState,
    mask: Any | None = None,
) -> tuple[Any, SkinState]:
    """Vertex-space skin post-processing of F frames for T tracks (the reference path).

    Args:
        deltas: ``[T, F, V, 3]`` float32 skin deltas (PCA-reconstructed or diffusion output).
        data: the character's :class:`SkinData`.
        params: ``[T]`` parameters from :func:`face_param_arrays`.
        dt_s: scalar or ``[T]`` seconds per frame (1/fps).
        state: :class:`SkinState` with ``S = (V, 3)``.
        mask: optional precomputed ``[T, V]`` :func:`lower_face_mask` (recomputed if None).

    Returns:
        ``(vertices [T, F, V, 3] float32, new_state)``.
    """
    p = params
    x = skin_delta_inputs(
        deltas, data.eye_close_delta, data.lip_open_delta, p.skin_strength,
        p.eyelid_open_offset, p.blink_offset, p.blink_strength, p.lip_open_offset,
    )  # fmt: skip
    su, sl, new_state = _smooth_both(x, p, dt_s, state)
    if mask is None:
        mask = lower_face_mask(data.neutral[:, 1], p.face_mask_level, p.face_mask_softness)
    out = combine_upper_lower(
        data.neutral, su, sl, mask, p.upper_face_strength, p.lower_face_strength
    )
    return out, new_state


def augment_skin_basis(shapes: Any, eye_close_delta: Any, lip_open_delta: Any) -> Any:
    """Compact basis ``B = [P; E_eye; L_lip]``.

    Args:
        shapes: ``[K, V, 3]`` (or ``[K, 3V]``) PCA skin shapes (``shapes_matrix_skin``).
        eye_close_delta: ``[V, 3]`` or ``[3V]``.
        lip_open_delta: ``[V, 3]`` or ``[3V]``.

    Returns:
        ``[K+2, V, 3]`` float32.
    """
    xp = get_xp(shapes)
    p = xp.asarray(shapes, dtype=xp.float32).reshape(shapes.shape[0], -1, 3)
    e = xp.asarray(eye_close_delta, dtype=xp.float32).reshape(1, -1, 3)
    lip = xp.asarray(lip_open_delta, dtype=xp.float32).reshape(1, -1, 3)
    return xp.concatenate([p, e, lip], axis=0)


def skin_compact_inputs(coefs: Any, params: FaceParamArrays) -> Any:
    """Augmented coefficients ``a = [skin_strength*c, g_eye, g_lip]`` (``[T, F, K+2]`` float32).

    ``B^T a`` (with ``B`` from :func:`augment_skin_basis`) equals :func:`skin_delta_inputs`.
    """
    xp = get_xp(coefs)
    p = params
    g_d, g_e, g_l = skin_offset_gains(
        p.skin_strength, p.eyelid_open_offset, p.blink_offset, p.blink_strength, p.lip_open_offset
    )
    t, f = coefs.shape[0], coefs.shape[1]
    extra = xp.broadcast_to(xp.stack([g_e, g_l], axis=-1)[:, None, :], (t, f, 2))
    scaled = g_d[:, None, None] * xp.asarray(coefs, dtype=xp.float32)
    return xp.concatenate([scaled, extra.astype(xp.float32)], axis=-1)


def skin_compact_step(
    coefs: Any, params: FaceParamArrays, dt_s: Any, state: SkinState, counts: Any | None = None
) -> tuple[Any, Any, SkinState]:
    """Skin post-processing in coefficient space, up to (not including) the mask.

    Args:
        coefs: ``[T, F, K]`` float32 PCA skin coefficients from the network.
        params: ``[T]`` parameters.
        dt_s: scalar or ``[T]`` seconds per frame.
        state: :class:`SkinState` with ``S = (K+2,)``.
        counts: optional ``[T]`` frames per track (ragged tracks padded to F; see
            :func:`smooth_two_pole`).

    Returns:
        ``(upper, lower, new_state)``: ``upper = upper_face_strength * S_upper(a)`` and
        ``lower = lower_face_strength * S_lower(a)``, each ``[T, F, K+2]`` float32. Finish
        with :func:`reconstruct_skin_compact` or a mask-folded linear map.
    """
    a = skin_compact_inputs(coefs, params)
    su, sl, new_state = _smooth_both(a, params, dt_s, state, counts)
    up = params.upper_face_strength[:, None, None] * su
    lo = params.lower_face_strength[:, None, None] * sl
    return up, lo, new_state


def fold_mask_into_basis(basis: Any, mask_row: Any) -> tuple[Any, Any]:
    """``(B*(1-m), B*m)`` for one mask setting (``basis [K', V, 3]``, ``mask_row [V]``)."""
    xp = get_xp(basis)
    m = xp.asarray(mask_row, dtype=basis.dtype)[None, :, None]
    return basis * (1 - m), basis * m


def reconstruct_skin_compact(
    upper: Any, lower: Any, neutral: Any, basis_upper: Any, basis_lower: Any
) -> Any:
    """Vertices from compact outputs: ``neutral + B_u^T upper + B_l^T lower``.

    Args:
        upper: ``[T, F, K']`` from :func:`skin_compact_step`.
        lower: ``[T, F, K']``.
        neutral: ``[V, 3]``.
        basis_upper: ``[K', V, 3]`` from :func:`fold_mask_into_basis` (one mask for all T).
        basis_lower: ``[K', V, 3]``.

    Returns:
        ``[T, F, V, 3]`` float32.
    """
    xp = get_xp(upper)
    k = basis_upper.shape[0]
    bu = basis_upper.reshape(k, -1)
    bl = basis_lower.reshape(k, -1)
    flat = upper @ bu + lower @ bl
    out = flat.reshape(upper.shape[:2] + tuple(neutral.shape)) + neutral
    return out.astype(xp.float32, copy=False)


def eyes_step(
    eyes: Any,
    saccade: Any,
    params: FaceParamArrays,
    dt_s: Any,
    state: EyesState,
    counts: Any | None = None,
) -> tuple[Any, EyesState]:
    """:func:`postprocess_eyes` with parameters from ``params``; returns ``([T,F,4], state)``."""
    p = params
    angles, clock = postprocess_eyes(
        eyes, saccade, state.clock, dt_s, p.eyeballs_strength, p.saccade_strength,
        p.eye_offsets(), p.eye_saccade_seed, counts,
    )  # fmt: skip
    return angles, EyesState(clock)
