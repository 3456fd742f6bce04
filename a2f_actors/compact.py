"""Compact space: post-processing + the solver's data term without forming vertices.

Architecture principle 3. Everything between the network output and the solve is linear except
the fixed per-vertex face mask ``m``, and the solver only needs ``D^T (target - neutral)`` over
the frontal-mask rows. With ``B`` the augmented skin basis ``[PCA shapes; eye_close_delta;
lip_open_delta]`` (``[K+2, V, 3]``, :func:`a2f_actors.postprocess.augment_skin_basis`), ``n_pp``
the post-processing neutral (``shapes_mean_skin``) and ``n_bs`` the solver's neutral (bs_skin
``neutral``), restricted to the mask rows ``f``::

    target_f - n_bs_f = (n_pp_f - n_bs_f) + diag(1-m_f) B_f^T u + diag(m_f) B_f^T l
    rhs = D_f^T (target_f - n_bs_f) = c + G_upper u + G_lower l

    G_upper = D_f^T diag(1 - m_f) B_f^T     [Pa, K+2]
    G_lower = D_f^T diag(m_f) B_f^T         [Pa, K+2]
    c       = D_f^T (n_pp_f - n_bs_f)       [Pa]

where ``u = upper_face_strength * S_upper(a)`` and ``l = lower_face_strength * S_lower(a)`` are
the smoothed augmented coefficients ``a = [skin_strength * coefs, g_eye, g_lip]`` that
:func:`a2f_actors.postprocess.skin_compact_step` returns (smoothing and strengths commute with
the linear maps). ``G_upper + G_lower = D_f^T B_f^T`` does not depend on the mask, so a new
mask setting costs one ``[Pa, R] x [R, K+2]`` product (:meth:`SkinCompactBuilder.for_mask`).

Diffusion outputs vertex deltas ``d``: right after inference they are projected once with
``Q = [D_f^T diag(1-m_f); D_f^T diag(m_f)]`` (``[2 Pa, 3V]``, :func:`project_deltas`); the
projected vector plays the role of the PCA coefficients (``B_f^T`` is then "whatever gives
``Q``"): ``G_upper = [I, 0, Q_u e, Q_u l]``, ``G_lower = [0, I, Q_l e, Q_l l]``.

Tongue (no mask): ``rhs = c_t + tongue_strength * G_t coefs + height * h + depth * z`` with
``G_t = D_t^T T^T`` (``T`` the tongue PCA shapes), ``c_t = D_t^T (n_pp_t - n_bs_t)`` and
``h``/``z`` the sums of the deltas' Y/Z rows (the offsets move every vertex).

All matrices are float64 NumPy, immutable, built once per character (and mask setting); move
them with ``to_backend``. Stream state (smoothers) is passed in and returned.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from a2f_actors.postprocess import (
    FaceParamArrays,
    SkinData,
    SkinState,
    augment_skin_basis,
    lower_face_mask,
    skin_compact_step,
)
from a2f_actors.solver import SolverProblem
from a2f_actors.xp import get_xp, to_numpy


def mask_key(face_mask_level: float, face_mask_softness: float) -> tuple[float, float]:
    """Cache key of a mask setting: the two values rounded to float32, as the arrays hold them."""
    return float(np.float32(face_mask_level)), float(np.float32(face_mask_softness))


def _rows_of(problem: SolverProblem, num_coords: int) -> np.ndarray:
    rows = problem.rows
    return np.arange(num_coords) if rows is None else to_numpy(rows)


def _moved(obj: Any, xp: Any) -> Any:
    arrays = {
        f.name: xp.asarray(getattr(obj, f.name))
        for f in fields(obj)
        if isinstance(getattr(obj, f.name), np.ndarray)
    }
    return replace(obj, **arrays)


@dataclass(frozen=True, eq=False)
class SkinCompact:
    """Compact matrices of one character, solver problem and mask setting.

    Attributes:
        g_upper: ``[Pa, K']`` maps the smoothed upper coefficients to the rhs (K' = K+2 for
            regression, 2 Pa + 2 for diffusion).
        g_lower: ``[Pa, K']`` likewise for the lower face.
        const: ``[Pa]`` ``D_f^T (n_pp_f - n_bs_f)``.
        face_mask_level: the mask level these matrices were built for.
        face_mask_softness: the mask softness.
        projection: ``[K, R]`` float32 map from masked vertex deltas to coefficients
            (diffusion only, else None); ``R`` = masked rows.
        rows: ``[R]`` flat vertex coordinate rows ``projection`` reads (diffusion only).
    """

    g_upper: Any
    g_lower: Any
    const: Any
    face_mask_level: float
    face_mask_softness: float
    projection: Any = None
    rows: Any = None

    def to_backend(self, xp: Any) -> SkinCompact:
        """Copy with the arrays in the array module ``xp``."""
        return _moved(self, xp)


@dataclass(frozen=True, eq=False)
class SkinCompactBuilder:
    """Mask-independent precomputation of one character and skin solver problem.

    Build with :meth:`regression` (PCA network) or :meth:`diffusion` (vertex-delta network),
    then call :meth:`for_mask` once per (face_mask_level, face_mask_softness).

    Attributes:
        d_t: ``[Pa, R]`` ``D_f^T`` (from the problem).
        basis_rows: ``[K+2, R]`` augmented basis at the mask rows (None for diffusion).
        basis_sum: ``[Pa, K+2]`` ``D_f^T B_f^T`` (None for diffusion).
        extra_rows: ``[2, R]`` eye-close and lip-open deltas at the mask rows.
        const: ``[Pa]`` ``D_f^T (n_pp_f - n_bs_f)``.
        neutral_y: ``[V]`` float32 Y of the post-processing neutral (drives the mask).
        rows: ``[R]`` the problem's rows.
    """

    d_t: np.ndarray
    basis_rows: np.ndarray | None
    basis_sum: np.ndarray | None
    extra_rows: np.ndarray
    const: np.ndarray
    neutral_y: np.ndarray
    rows: np.ndarray

    @classmethod
    def _common(cls, problem: SolverProblem, skin: SkinData) -> dict[str, Any]:
        neutral = np.asarray(to_numpy(skin.neutral), dtype=np.float64).reshape(-1)
        rows = _rows_of(problem, neutral.size)
        d_t = np.asarray(to_numpy(problem.d_t), dtype=np.float64)
        extra = np.stack([to_numpy(skin.eye_close_delta), to_numpy(skin.lip_open_delta)])
        return {
            "d_t": d_t,
            "extra_rows": extra.reshape(2, -1)[:, rows].astype(np.float64),
            "const": d_t @ (neutral[rows] - to_numpy(problem.neutral_rows)),
            "neutral_y": np.asarray(to_numpy(skin.neutral), dtype=np.float32)[:, 1].copy(),
            "rows": rows,
        }

    @classmethod
    def regression(
        cls, problem: SolverProblem, shapes: np.ndarray, skin: SkinData
    ) -> SkinCompactBuilder:
        """Precompute for a PCA network.

        Args:
            problem: the skin :class:`SolverProblem` (mask rows, active poses).
            shapes: ``[K, V, 3]`` or ``[K, 3V]`` ``shapes_matrix_skin``.
            skin: post-processing data (``shapes_mean_skin`` neutral and the two pose deltas).

        Returns:
            The builder (cost: one ``[Pa, R] x [R, K+2]`` product).
        """
        common = cls._common(problem, skin)
        basis = augment_skin_basis(
            to_numpy(shapes), to_numpy(skin.eye_close_delta), to_numpy(skin.lip_open_delta)
        )
        basis_rows = basis.reshape(basis.shape[0], -1)[:, common["rows"]].astype(np.float64)
        return cls(basis_rows=basis_rows, basis_sum=common["d_t"] @ basis_rows.T, **common)

    @classmethod
    def diffusion(cls, problem: SolverProblem, skin: SkinData) -> SkinCompactBuilder:
        """Precompute for a vertex-delta network (projection built per mask by :meth:`for_mask`)."""
        return cls(basis_rows=None, basis_sum=None, **cls._common(problem, skin))

    def mask_rows(self, face_mask_level: float, face_mask_softness: float) -> np.ndarray:
        """``[R]`` float64 lower-face mask at the rows (post-processing mask, per coordinate)."""
        level, soft = mask_key(face_mask_level, face_mask_softness)
        m = lower_face_mask(self.neutral_y, np.float32([level]), np.float32([soft]))[0]
        return np.repeat(m.astype(np.float64), 3)[self.rows]

    def for_mask(self, face_mask_level: float, face_mask_softness: float) -> SkinCompact:
        """Matrices for one mask setting (cache them by :func:`mask_key`).

        Args:
            face_mask_level: ``face_mask_level`` of the tracks that will use the result.
            face_mask_softness: ``face_mask_softness`` of those tracks.

        Returns:
            A :class:`SkinCompact`.
        """
        level, soft = mask_key(face_mask_level, face_mask_softness)
        m = self.mask_rows(level, soft)
        if self.basis_rows is not None:
            g_lower = (self.d_t * m) @ self.basis_rows.T
            return SkinCompact(self.basis_sum - g_lower, g_lower, self.const, level, soft)
        q_low = self.d_t * m
        q_up = self.d_t - q_low
        pa = self.d_t.shape[0]
        eye, zero = np.eye(pa), np.zeros((pa, pa))
        g_upper = np.hstack([eye, zero, q_up @ self.extra_rows.T])
        g_lower = np.hstack([zero, eye, q_low @ self.extra_rows.T])
        projection = np.vstack([q_up, q_low]).astype(np.float32)
        return SkinCompact(g_upper, g_lower, self.const, level, soft, projection, self.rows)


def project_deltas(compact: SkinCompact, deltas: Any) -> Any:
    """Diffusion: project vertex deltas to the compact space right after inference.

    Args:
        compact: a diffusion :class:`SkinCompact` (has ``projection``).
        deltas: ``[T, F, V, 3]`` (or ``[T, F, 3V]``) float32 skin deltas.

    Returns:
        ``[T, F, 2 Pa]`` float32 "coefficients" for :func:`skin_rhs`.
    """
    if compact.projection is None:
        raise ValueError("project_deltas needs a diffusion SkinCompact (built with .diffusion)")
    xp = get_xp(deltas)
    flat = deltas.reshape(deltas.shape[0], deltas.shape[1], -1)
    sel = flat[..., xp.asarray(compact.rows)]
    return (sel.astype(xp.float32) @ xp.asarray(compact.projection).T).astype(xp.float32)


def _check_mask(compact: SkinCompact, params: FaceParamArrays) -> None:
    lv = to_numpy(params.face_mask_level)
    sf = to_numpy(params.face_mask_softness)
    if np.any(lv != np.float32(compact.face_mask_level)) or np.any(
        sf != np.float32(compact.face_mask_softness)
    ):
        raise ValueError(
            "tracks' face_mask_level/face_mask_softness differ from the SkinCompact's "
            f"({compact.face_mask_level}, {compact.face_mask_softness}); group tracks by "
            "mask_key() and use one SkinCompact per group"
        )


def skin_rhs(
    compact: SkinCompact,
    coefs: Any,
    params: FaceParamArrays,
    dt_s: Any,
    state: SkinState,
    counts: Any | None = None,
) -> tuple[Any, SkinState]:
    """Skin post-processing + the solver's data term, in compact space.

    Args:
        compact: matrices for the tracks' mask setting (all T tracks must share it).
        coefs: ``[T, F, K]`` float32 PCA skin coefficients (regression) or
            :func:`project_deltas` output (diffusion).
        params: ``[T]`` face parameters (:func:`a2f_actors.postprocess.face_param_arrays`).
        dt_s: scalar or ``[T]`` seconds per frame.
        state: :class:`SkinState` with ``S = (K+2,)``
            (:func:`a2f_actors.postprocess.new_skin_state`).
        counts: optional ``[T]`` frames per track (ragged tracks padded to F; padded frames
            leave the state alone and give undefined rows).

    Returns:
        ``(rhs [T, F, Pa] float64, new_state)``: pass ``rhs`` to
        :func:`a2f_actors.solver.solve`.

    Raises:
        ValueError: if a track's mask setting differs from ``compact``'s.
    """
    _check_mask(compact, params)
    xp = get_xp(coefs)
    upper, lower, new_state = skin_compact_step(coefs, params, dt_s, state, counts)
    gu = xp.asarray(compact.g_upper)
    gl = xp.asarray(compact.g_lower)
    rhs = upper.astype(xp.float64) @ gu.T + lower.astype(xp.float64) @ gl.T
    return rhs + xp.asarray(compact.const), new_state


@dataclass(frozen=True, eq=False)
class TongueCompact:
    """Compact matrices of the tongue (no mask, no smoothing).

    Attributes:
        g: ``[Pa, K]`` ``D_t^T T^T`` (regression) or ``D_t^T`` over the rows (diffusion, K = R).
        const: ``[Pa]`` ``D_t^T (n_pp - n_bs)``.
        g_height: ``[Pa]`` rhs per unit of ``tongue_height_offset`` (sum of the Y rows).
        g_depth: ``[Pa]`` rhs per unit of ``tongue_depth_offset`` (sum of the Z rows).
        rows: ``[R]`` rows read from diffusion deltas (None for regression).
    """

    g: Any
    const: Any
    g_height: Any
    g_depth: Any
    rows: Any = None

    def to_backend(self, xp: Any) -> TongueCompact:
        """Copy with the arrays in the array module ``xp``."""
        return _moved(self, xp)

    @classmethod
    def build(
        cls, problem: SolverProblem, neutral_pp: np.ndarray, shapes: np.ndarray | None = None
    ) -> TongueCompact:
        """Precompute from the tongue problem, the post-processing neutral and the PCA shapes.

        Args:
            problem: the tongue :class:`SolverProblem`.
            neutral_pp: ``[V, 3]`` ``shapes_mean_tongue`` / ``neutral_tongue``.
            shapes: ``[K, V, 3]`` or ``[K, 3V]`` ``shapes_matrix_tongue``; None for diffusion.

        Returns:
            The :class:`TongueCompact`.
        """
        n_pp = np.asarray(to_numpy(neutral_pp), dtype=np.float64).reshape(-1)
        rows = _rows_of(problem, n_pp.size)
        d_t = np.asarray(to_numpy(problem.d_t), dtype=np.float64)
        axis = rows % 3
        g_h, g_z = d_t[:, axis == 1].sum(axis=1), d_t[:, axis == 2].sum(axis=1)
        const = d_t @ (n_pp[rows] - to_numpy(problem.neutral_rows))
        if shapes is None:
            return cls(d_t, const, g_h, g_z, rows)
        s = np.asarray(to_numpy(shapes), dtype=np.float64)
        return cls(d_t @ s.reshape(s.shape[0], -1)[:, rows].T, const, g_h, g_z, None)


def tongue_rhs(compact: TongueCompact, coefs: Any, strength: Any, height: Any, depth: Any) -> Any:
    """Tongue post-processing + data term: ``c + s * G coefs + height * h + depth * z``.

    Args:
        compact: the :class:`TongueCompact`.
        coefs: ``[T, F, K]`` tongue PCA coefficients, or ``[T, F, V, 3]`` diffusion deltas
            when ``compact`` was built without shapes.
        strength: ``[T]`` ``tongue_strength``.
        height: ``[T]`` ``tongue_height_offset``.
        depth: ``[T]`` ``tongue_depth_offset``.

    Returns:
        ``[T, F, Pa]`` float64 rhs for the tongue solve.
    """
    xp = get_xp(coefs)
    c = coefs
    if compact.rows is not None:
        c = coefs.reshape(coefs.shape[0], coefs.shape[1], -1)[..., xp.asarray(compact.rows)]
    lin = c.astype(xp.float64) @ xp.asarray(compact.g).T
    s, h, z = (xp.asarray(v, dtype=xp.float64)[:, None, None] for v in (strength, height, depth))
    offs = h * xp.asarray(compact.g_height) + z * xp.asarray(compact.g_depth)
    return xp.asarray(compact.const) + s * lin + offs
