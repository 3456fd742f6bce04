"""From network outputs to 68 blendshape weights, jaw and eyes: the per-character runtime.

An *animator* is the immutable, precomputed data of one model package and one set of solver
pose tables: the skin and tongue :class:`~a2f_actors.solver.SolverProblem`, the compact-space
matrices (:mod:`a2f_actors.compact`), the jaw and eye data. Streams share it; each stream's
small state (:class:`AnimState`: smoothers, eye clock, previous solve weights) goes in and comes
out of every call, so any replica can serve any stream (architecture principle 1).

Two flavours, one output contract (:class:`AnimFrames`):

* :class:`RegressionAnimator`: ``result [.., S+T+15+4]`` per frame (skin PCA || tongue PCA ||
  jaw keypoint deltas || eye angles), at the stream's fps.
* :class:`DiffusionAnimator`: ``prediction [.., D]`` vertex deltas per frame (skin || tongue ||
  jaw || eyes), at 60 fps; skin deltas are projected to the compact space right away.

Where the solver tables come from (a choice, documented in docs/animation_core.md): the
package's ``bs_*_config.json`` gives the regularisation and the SDK multipliers/offsets; the
stream's :class:`~a2f_actors.params.BlendshapeOutputParams` (NIM stylization ``active_poses``,
``cancel_poses``, ``symmetry_poses``) decides which poses are solved and paired, as the NIM does;
the NIM output multipliers/offsets and the optional clamp are applied last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from a2f_actors.compact import (
    SkinCompact,
    SkinCompactBuilder,
    TongueCompact,
    mask_key,
    project_deltas,
    skin_rhs,
    tongue_rhs,
)
from a2f_actors.model_package.records import (
    BlendshapeSet,
    DiffusionPackage,
    RegressionPackage,
)
from a2f_actors.names import BLENDSHAPES, NUM_BLENDSHAPES, to_upper_camel
from a2f_actors.params import BlendshapeOutputParams
from a2f_actors.postprocess import (
    EyesState,
    FaceParamArrays,
    SkinData,
    SkinState,
    eyes_step,
    jaw_matrix_to_sdk_flat,
    new_eyes_state,
    new_skin_state,
    postprocess_jaw,
)
from a2f_actors.solver import SolverProblem, solve
from a2f_actors.xp import get_xp

_INDEX = {name: i for i, name in enumerate(BLENDSHAPES)}


@dataclass(frozen=True, eq=False)
class PoseSolver:
    """One solver problem and where its poses land in the 68 NIM outputs.

    Attributes:
        problem: the precomputed solve.
        index: ``[P]`` int positions of the problem's poses in ``names.BLENDSHAPES``.
    """

    problem: SolverProblem
    index: np.ndarray


def pose_solver(bs: BlendshapeSet, tables: BlendshapeOutputParams) -> PoseSolver | None:
    """Build the solve of one blendshape set with the stream's pose tables.

    Returns None when no pose of the set is active.

    Args:
        bs: ``bs_skin`` or ``bs_tongue`` of the package (lowerCamel pose names).
        tables: the stream's NIM pose tables, 68 entries in ``names.BLENDSHAPES`` order.

    Raises:
        ValueError: a pose name of the package is not one of the 68 NIM names.
    """
    try:
        index = np.array([_INDEX[to_upper_camel(n)] for n in bs.pose_names], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"pose {exc.args[0]!r} of the package is not an ARKit/NIM name") from None
    active = np.asarray(tables.active_poses, dtype=np.int64)[index] > 0
    if not active.any():
        return None
    cfg = bs.config
    problem = SolverProblem.from_arrays(
        bs.neutral,
        bs.deltas,
        bs.frontal_mask,
        cfg.params,
        active=active,
        cancel_ids=np.asarray(tables.cancel_poses, dtype=np.int64)[index],
        symmetry_ids=np.asarray(tables.symmetry_poses, dtype=np.int64)[index],
        multipliers=np.asarray(cfg.weight_multipliers, dtype=np.float64),
        offsets=np.asarray(cfg.weight_offsets, dtype=np.float64),
    )
    return PoseSolver(problem, index)


@dataclass(frozen=True, eq=False)
class AnimState:
    """Per-track animation state, ``T`` tracks stacked on axis 0.

    Attributes:
        skin: smoother state in the compact space (``S = (K',)``).
        eyes: saccade clock.
        w_skin: ``[T, Pa]`` float64 previous skin solve (temporal term), or None.
        w_tongue: ``[T, Pa_t]`` float64 previous tongue solve, or None.
    """

    skin: SkinState
    eyes: EyesState
    w_skin: Any
    w_tongue: Any


@dataclass(frozen=True, eq=False)
class AnimFrames:
    """Animation of ``F`` frames of ``T`` tracks.

    Attributes:
        weights: ``[T, F, 68]`` float32 blendshape weights in ``names.BLENDSHAPES`` order.
        jaw: ``[T, F, 16]`` float32 jaw transforms, the SDK's column-major 4x4.
        eyes: ``[T, F, 4]`` float32 eye angles (right x, right y, left x, left y), degrees.
    """

    weights: np.ndarray
    jaw: np.ndarray
    eyes: np.ndarray


def output_arrays(
    tables: list[BlendshapeOutputParams],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``([T,68] multipliers, [T,68] offsets, [T] clamp flags)`` of the tracks."""
    mult = np.array([t.multipliers for t in tables], dtype=np.float32)
    offs = np.array([t.offsets for t in tables], dtype=np.float32)
    clamp = np.array([t.enable_clamping for t in tables], dtype=bool)
    return mult, offs, clamp


def split_rows(rows: np.ndarray, sizes: tuple[int, int, int, int]) -> tuple[np.ndarray, ...]:
    """Split network rows ``[T, F, R]`` into skin, tongue, jaw ``[T, F, 5, 3]`` and eyes.

    ``sizes`` are the (skin, tongue, jaw, eyes) widths: NVIDIA's output order for both networks.
    """
    s, t, j, e = sizes
    jaw = rows[..., s + t : s + t + j].reshape((*rows.shape[:2], 5, 3))
    return rows[..., :s], rows[..., s : s + t], jaw, rows[..., s + t + j : s + t + j + e]


@dataclass(frozen=True, eq=False)
class _Common:
    """Data both animators share: solvers, compact builder, tongue, jaw and eyes."""

    skin: PoseSolver
    tongue: PoseSolver | None
    builder: SkinCompactBuilder
    tongue_compact: TongueCompact | None
    neutral_jaw: np.ndarray
    saccade: np.ndarray
    fps: float
    # Memo of SkinCompact per mask setting: derived data, identical for every stream (no stream
    # state lives here), filled on first use of a (face_mask_level, face_mask_softness).
    _masks: dict[tuple[float, float], SkinCompact] = field(default_factory=dict, repr=False)

    def compact_for(self, params: FaceParamArrays) -> SkinCompact:
        """Compact matrices of the tracks' (shared) mask setting."""
        key = mask_key(float(params.face_mask_level[0]), float(params.face_mask_softness[0]))
        if key not in self._masks:
            self._masks[key] = self.builder.for_mask(*key)
        return self._masks[key]

    def _smoother_width(self) -> int:
        """``K'``: trailing size of the compact smoother state."""
        if self.builder.basis_rows is None:
            return int(self.builder.d_t.shape[0] * 2 + 2)
        return int(self.builder.basis_rows.shape[0])

    def new_state(self, num_tracks: int) -> AnimState:
        """Fresh state of ``num_tracks`` tracks (stream start or reset)."""
        k = self._smoother_width()
        return AnimState(new_skin_state(num_tracks, (k,)), new_eyes_state(num_tracks), None, None)

    def _state_widths(self) -> tuple[int, int, int, int]:
        """(smoother ``K'``, ``Pa`` skin, ``Pa_t`` tongue (0 without tongue), row length ``L``)."""
        k = self._smoother_width()
        n_skin = self.skin.problem.num_active
        n_tongue = self.tongue.problem.num_active if self.tongue is not None else 0
        return k, n_skin, n_tongue, 4 * k + 2 + n_skin + n_tongue

    def pack_state(self, state: AnimState) -> Any:
        """The tracks' state as ONE ``[T, L]`` float64 array, a row per track.

        Row layout: upper smoother ``[2, K']``, lower smoother ``[2, K']``, initialized (0/1),
        saccade clock, previous skin solve ``[Pa]``, previous tongue solve ``[Pa_t]`` (a
        missing previous solve is written as zeros, which :func:`solve` treats the same way).
        Every float32 and bool value round-trips exactly. This is the form a stream's state
        crosses a process boundary in: one small array per stream instead of six arrays in
        three records (a solve hop's pickling cost is per object, not per byte).
        """
        k, n_skin, n_tongue, width = self._state_widths()
        sk = state.skin
        xp = get_xp(sk.upper)
        t = sk.upper.shape[0]
        out = xp.zeros((t, width), dtype=xp.float64)
        out[:, : 2 * k] = sk.upper.reshape(t, -1)
        out[:, 2 * k : 4 * k] = sk.lower.reshape(t, -1)
        out[:, 4 * k] = sk.initialized
        out[:, 4 * k + 1] = state.eyes.clock
        lo = 4 * k + 2
        if state.w_skin is not None:
            out[:, lo : lo + n_skin] = state.w_skin
        if state.w_tongue is not None and n_tongue:
            out[:, lo + n_skin :] = state.w_tongue
        return out

    def unpack_state(self, rows: Any) -> AnimState:
        """Inverse of :meth:`pack_state`: ``[T, L]`` rows -> :class:`AnimState` of T tracks.

        Raises:
            ValueError: if the rows are not ``[T, L]`` for this animator (a state from another
                model or character).
        """
        k, n_skin, n_tongue, width = self._state_widths()
        xp = get_xp(rows)
        if rows.ndim != 2 or rows.shape[1] != width:
            raise ValueError(
                f"animation state rows of shape {tuple(rows.shape)} do not fit this model "
                f"(expected [T, {width}]); a stream's state belongs to the model it started with"
            )
        t = rows.shape[0]
        f32 = xp.float32
        skin = SkinState(
            rows[:, : 2 * k].astype(f32).reshape(t, 2, k),
            rows[:, 2 * k : 4 * k].astype(f32).reshape(t, 2, k),
            rows[:, 4 * k] != 0,
        )
        eyes = EyesState(rows[:, 4 * k + 1].astype(f32))
        lo = 4 * k + 2
        w_skin = xp.ascontiguousarray(rows[:, lo : lo + n_skin])
        w_tongue = xp.ascontiguousarray(rows[:, lo + n_skin :]) if n_tongue else None
        return AnimState(skin, eyes, w_skin, w_tongue)

    def finish(
        self,
        skin_in: Any,
        tongue_in: Any,
        jaw_delta: Any,
        eyes: Any,
        params: FaceParamArrays,
        outputs: tuple[np.ndarray, np.ndarray, np.ndarray],
        state: AnimState,
        counts: Any | None = None,
    ) -> tuple[AnimFrames, AnimState]:
        """Post-process and solve ``F`` frames of ``T`` tracks (shared by both animators).

        ``counts``: optional ``[T]`` frames of each track when tracks of different lengths are
        padded to ``F``; the frames past a track's count are undefined and leave its state alone.
        """
        dt = 1.0 / self.fps
        compact = self.compact_for(params)
        rhs, skin_state = skin_rhs(compact, skin_in, params, dt, state.skin, counts)
        t, f = rhs.shape[:2]
        weights = np.zeros((t, f, NUM_BLENDSHAPES), np.float64)
        w_skin, sk_prev = solve(self.skin.problem, rhs, state.w_skin, counts=counts)
        weights[..., self.skin.index] = w_skin
        w_tongue = state.w_tongue
        if self.tongue is not None and self.tongue_compact is not None:
            p = params
            t_rhs = tongue_rhs(
                self.tongue_compact, tongue_in, p.tongue_strength, p.tongue_height_offset,
                p.tongue_depth_offset,
            )  # fmt: skip
            w_t, w_tongue = solve(self.tongue.problem, t_rhs, state.w_tongue, counts=counts)
            weights[..., self.tongue.index] = w_t
        mult, offs, clamp = outputs
        out = weights * mult[:, None, :] + offs[:, None, :]
        out = np.where(clamp[:, None, None], np.clip(out, 0.0, 1.0), out).astype(np.float32)
        p = params
        jaw = postprocess_jaw(
            jaw_delta, self.neutral_jaw, p.lower_teeth_strength, p.lower_teeth_height_offset,
            p.lower_teeth_depth_offset,
        )  # fmt: skip
        angles, eyes_state = eyes_step(eyes, self.saccade, params, dt, state.eyes, counts)
        frames = AnimFrames(out, jaw_matrix_to_sdk_flat(jaw).astype(np.float32), angles)
        return frames, AnimState(skin_state, eyes_state, sk_prev, w_tongue)


def _tongue_parts(
    tongue_bs: BlendshapeSet | None,
    tables: BlendshapeOutputParams,
    neutral: np.ndarray,
    shapes: Any,
) -> tuple[PoseSolver | None, TongueCompact | None]:
    solver = pose_solver(tongue_bs, tables) if tongue_bs is not None else None
    if solver is None:
        return None, None
    return solver, TongueCompact.build(solver.problem, neutral, shapes)


@dataclass(frozen=True, eq=False)
class RegressionAnimator(_Common):
    """Runtime of a regression package (one identity).

    Attributes (beyond the shared ones):
        num_skin: S skin PCA coefficients per frame.
        num_tongue: T tongue PCA coefficients per frame.
        implicit_emotion: ``[16]`` float32 implicit emotion row (source_shot/source_frame).
    """

    num_skin: int = 0
    num_tongue: int = 0
    implicit_emotion: np.ndarray | None = None

    @classmethod
    def from_package(
        cls, pkg: RegressionPackage, tables: BlendshapeOutputParams, fps: float = 30.0
    ) -> RegressionAnimator:
        """Precompute everything for ``pkg`` and the stream tables (costs one-time work)."""
        if pkg.skin is None:
            raise ValueError("the regression package has no bs_skin: nothing to solve to")
        skin = pose_solver(pkg.skin, tables)
        if skin is None:
            raise ValueError("no skin pose is active in the stream's active_poses")
        md = pkg.model_data
        v = pkg.network_info.num_verts_skin
        data = SkinData(
            md.shapes_mean_skin.reshape(v, 3),
            md.eye_close_pose_delta.reshape(v, 3),
            md.lip_open_pose_delta.reshape(v, 3),
        )
        builder = SkinCompactBuilder.regression(skin.problem, md.shapes_matrix_skin, data)
        vt = pkg.network_info.num_verts_tongue
        tongue, tcompact = _tongue_parts(
            pkg.tongue, tables, md.shapes_mean_tongue.reshape(vt, 3), md.shapes_matrix_tongue
        )
        return cls(
            skin, tongue, builder, tcompact, md.neutral_jaw.reshape(-1, 3),
            md.saccade_rot_matrix.reshape(-1, 2), fps,
            num_skin=md.shapes_matrix_skin.shape[0], num_tongue=md.shapes_matrix_tongue.shape[0],
            implicit_emotion=pkg.implicit_emotion().astype(np.float32),
        )  # fmt: skip

    def network_inputs(self, windows: np.ndarray, explicit: np.ndarray) -> dict[str, np.ndarray]:
        """NVIDIA's ONNX inputs for ``B`` frames.

        Args:
            windows: ``[B, 8320]`` float32 audio windows, already scaled by ``input_strength``.
            explicit: ``[B, 10]`` float32 explicit emotions (``names.A2F_EMOTIONS`` order).

        Returns:
            ``{"input": [B,1,8320], "emotion": [B,1,26]}`` float32.
        """
        b = windows.shape[0]
        implicit = np.broadcast_to(self.implicit_emotion, (b, self.implicit_emotion.shape[0]))
        emotion = np.concatenate([implicit, explicit.astype(np.float32)], axis=1)
        return {
            "input": windows.astype(np.float32).reshape(b, 1, -1),
            "emotion": emotion.reshape(b, 1, -1),
        }

    def animate(
        self,
        result: np.ndarray,
        params: FaceParamArrays,
        outputs: tuple[np.ndarray, np.ndarray, np.ndarray],
        state: AnimState,
        counts: Any | None = None,
    ) -> tuple[AnimFrames, AnimState]:
        """Animate ``F`` consecutive frames of each of ``T`` tracks.

        Args:
            result: ``[T, F, S+T+15+4]`` network ``result`` rows, frames in order per track.
            params: ``[T]`` face parameters (all tracks share one mask setting).
            outputs: :func:`output_arrays` of the tracks.
            state: the tracks' :class:`AnimState`.
            counts: optional ``[T]`` frames per track (>= 1) when tracks of different lengths
                are padded to F: one call then equals one call per track; frames past a
                track's count are undefined.

        Returns:
            ``(frames, new_state)``.
        """
        parts = split_rows(result, (self.num_skin, self.num_tongue, 15, 4))
        return self.finish(*parts, params, outputs, state, counts)


@dataclass(frozen=True, eq=False)
class DiffusionAnimator(_Common):
    """Runtime of one identity of a diffusion package (60 fps vertex deltas).

    Attributes (beyond the shared ones):
        identity_index: position of the identity in the one-hot ``identity`` input.
        num_identities: K, length of the one-hot.
        sizes: (skin, tongue, jaw, eyes) lengths of a prediction row.
    """

    identity_index: int = 0
    num_identities: int = 1
    sizes: tuple[int, int, int, int] = (0, 0, 15, 4)

    @classmethod
    def from_package(
        cls, pkg: DiffusionPackage, identity: str, tables: BlendshapeOutputParams
    ) -> DiffusionAnimator:
        """Precompute everything for one identity of ``pkg`` (matched case-insensitively)."""
        names = [i.name.lower() for i in pkg.identities]
        if identity.lower() not in names:
            raise ValueError(f"identity {identity!r} is not in the package; choose one of {names}")
        k = names.index(identity.lower())
        ident = pkg.identities[k]
        if ident.skin is None:
            raise ValueError(f"identity {identity!r} has no bs_skin: nothing to solve to")
        skin = pose_solver(ident.skin, tables)
        if skin is None:
            raise ValueError("no skin pose is active in the stream's active_poses")
        md = ident.model_data
        ns = md.neutral_skin.reshape(-1, 3)
        data = SkinData(
            ns, md.eye_close_pose_delta.reshape(-1, 3), md.lip_open_pose_delta.reshape(-1, 3)
        )
        builder = SkinCompactBuilder.diffusion(skin.problem, data)
        nt = md.neutral_tongue.reshape(-1, 3)
        tongue, tcompact = _tongue_parts(ident.tongue, tables, nt, None)
        p = pkg.network_info
        return cls(
            skin, tongue, builder, tcompact, md.neutral_jaw.reshape(-1, 3),
            md.saccade_rot_matrix.reshape(-1, 2), 60.0, identity_index=k,
            num_identities=len(names),
            sizes=(p.skin_size, p.tongue_size, p.jaw_size, p.eyes_size),
        )  # fmt: skip

    def animate(
        self,
        prediction: np.ndarray,
        params: FaceParamArrays,
        outputs: tuple[np.ndarray, np.ndarray, np.ndarray],
        state: AnimState,
        counts: Any | None = None,
    ) -> tuple[AnimFrames, AnimState]:
        """Animate ``F`` consecutive 60 fps frames of each of ``T`` tracks.

        Args:
            prediction: ``[T, F, skin+tongue+15+4]`` float32 vertex deltas per frame.
            params: ``[T]`` face parameters (one shared mask setting).
            outputs: :func:`output_arrays` of the tracks.
            state: the tracks' :class:`AnimState`.
            counts: optional ``[T]`` frames per track (see :meth:`RegressionAnimator.animate`).
        """
        skin, tongue, jaw, eyes = split_rows(prediction, self.sizes)
        skin = project_deltas(self.compact_for(params), skin)
        return self.finish(skin, tongue, jaw, eyes, params, outputs, state, counts)
