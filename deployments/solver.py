"""BlendshapeSolver deployment: network rows of many streams -> post-processing + solve -> weights.

Thin shim over :mod:`a2f_actors.animator` (compact-space post-processing and the bounded
least-squares solve). Animators are built once per (model, pose tables) and cached; every
stream's small :class:`~a2f_actors.animator.AnimState` comes in with its item and goes back
with its result.

Batching: the streams of one call that share a model, pose tables, face-mask setting and frame
count are stacked on the track axis and animated in ONE animator call; the rest form their own
groups (frames of a stream are sequential through the smoothers and the temporal solve, so
tracks of different lengths are not padded together). No ``@serve.batch``: the ingress tick
already batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from a2f_actors.animator import AnimState, DiffusionAnimator, RegressionAnimator, output_arrays
from a2f_actors.compact import mask_key
from a2f_actors.model_package import load_package
from a2f_actors.params import BlendshapeOutputParams
from a2f_actors.postprocess import face_param_arrays, split_track_states, stack_track_states
from deployments.session import records as rec
from deployments.session.packing import Packed, repack, unpack
from deployments.settings import ModelEntry, ServeSettings

Animator = RegressionAnimator | DiffusionAnimator


def _pose_key(tables: BlendshapeOutputParams) -> tuple:
    return (tables.active_poses, tables.cancel_poses, tables.symmetry_poses)


def _weights(w: Any, n: int) -> np.ndarray:
    return np.zeros((1, n)) if w is None else np.asarray(w, np.float64)


def stack_states(animator: Animator, states: list[AnimState | None]) -> AnimState:
    """Stack one-track states (None = fresh) on the track axis."""
    fresh = animator.new_state(1)
    full = [s if s is not None else fresh for s in states]
    n_skin = animator.skin.problem.num_active
    n_tongue = animator.tongue.problem.num_active if animator.tongue else 0
    w_skin = w_tongue = None
    if any(s.w_skin is not None for s in full):
        w_skin = np.concatenate([_weights(s.w_skin, n_skin) for s in full])
    if any(s.w_tongue is not None for s in full):
        w_tongue = np.concatenate([_weights(s.w_tongue, n_tongue) for s in full])
    return AnimState(
        stack_track_states([s.skin for s in full]),
        stack_track_states([s.eyes for s in full]),
        w_skin,
        w_tongue,
    )


def split_states(state: AnimState) -> list[AnimState]:
    """Inverse of :func:`stack_states`."""
    skins = split_track_states(state.skin)
    eyes = split_track_states(state.eyes)

    def row(w: Any, i: int) -> Any:
        return None if w is None else np.asarray(w)[i : i + 1].copy()

    return [
        AnimState(skins[i], eyes[i], row(state.w_skin, i), row(state.w_tongue, i))
        for i in range(len(skins))
    ]


class BlendshapeSolver:
    """Post-process and solve many streams per call.

    Args:
        entries: model id -> package entry (regression or diffusion).
        fps: regression frame rate the animators are built for.
    """

    def __init__(self, entries: Mapping[str, ModelEntry], fps: float = 30.0) -> None:
        self.entries = dict(entries)
        self.fps = fps
        self._packages: dict[str, Any] = {}
        self._animators: dict[tuple, Animator] = {}

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> BlendshapeSolver:
        """Build from the serve settings."""
        entries = {m.model_id: m for m in settings.models if m.kind != "a2e"}
        return cls(entries, float(settings.fps))

    def animator(self, model_id: str, tables: BlendshapeOutputParams) -> Animator:
        """The cached animator of a model and pose tables (built on first use)."""
        key = (model_id, _pose_key(tables))
        if key not in self._animators:
            entry = self.entries[model_id]
            if model_id not in self._packages:
                self._packages[model_id] = load_package(entry.path)
            pkg = self._packages[model_id]
            if entry.kind == "regression":
                self._animators[key] = RegressionAnimator.from_package(pkg, tables, self.fps)
            else:
                identity = entry.identity or pkg.identities[0].name
                self._animators[key] = DiffusionAnimator.from_package(pkg, identity, tables)
        return self._animators[key]

    async def solve(self, items: list[rec.SolveItem] | Packed) -> list[rec.SolveResult] | Packed:
        """One result per item, in order; a :class:`Packed` call gets a Packed answer."""
        batch, packed = unpack(items)
        return repack(await self._solve(batch), packed)

    async def _solve(self, items: list[rec.SolveItem]) -> list[rec.SolveResult]:
        """One result per item, in order."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, it in enumerate(items):
            mask = mask_key(it.face.face_mask_level, it.face.face_mask_softness)
            groups[(it.model_id, _pose_key(it.tables), mask, len(it.rows))].append(i)
        results: list[rec.SolveResult | None] = [None] * len(items)
        for idx in groups.values():
            group = [items[i] for i in idx]
            for i, res in zip(idx, self._group(group), strict=True):
                results[i] = res
        return results  # type: ignore[return-value]

    def _group(self, items: list[rec.SolveItem]) -> list[rec.SolveResult]:
        """Rows [T, F, R] --> post-process + solve --> weights [T, F, 68], jaw, eyes."""
        first = items[0]
        if first.model_id not in self.entries:
            error = rec.StageError("NOT_FOUND", f"model {first.model_id!r} unknown to the solver")
            e = np.zeros((0, 0), np.float32)
            return [rec.SolveResult(it.stream_id, e, e, e, it.state, error) for it in items]
        animator = self.animator(first.model_id, first.tables)
        rows = np.stack([np.asarray(it.rows, np.float32) for it in items])
        params = face_param_arrays([it.face for it in items])
        outputs = output_arrays([it.tables for it in items])
        state = stack_states(animator, [it.state for it in items])
        frames, new_state = animator.animate(rows, params, outputs, state)
        return [
            rec.SolveResult(it.stream_id, frames.weights[i], frames.jaw[i], frames.eyes[i], s)
            for i, (it, s) in enumerate(zip(items, split_states(new_state), strict=True))
        ]
