"""Compact space (a2f_actors.compact): equals the vertex path (post-processing -> solve)."""

from __future__ import annotations

import numpy as np
import pytest

from a2f_actors import postprocess as pp
from a2f_actors.compact import (
    SkinCompactBuilder,
    TongueCompact,
    mask_key,
    project_deltas,
    skin_rhs,
    tongue_rhs,
)
from a2f_actors.params import FaceParams, SolverParams
from a2f_actors.solver import SolverProblem, data_rhs, solve
from a2f_actors.xp import backend, to_numpy

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.requires_gpu)]
V, K, P, T, F = 240, 10, 18, 3, 5
VT, KT, PT = 60, 6, 16
DT = 1.0 / 30.0
SKIN_PARAMS = SolverParams(
    l1_reg=0.5, l2_reg=0.5, symmetry_reg=100.0, temporal_reg=0.3, template_bb_size=20.0
)
TONGUE_PARAMS = SolverParams(
    l1_reg=1.0, l2_reg=3.5, symmetry_reg=100.0, temporal_reg=5.0, template_bb_size=4.0
)


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    return backend(request.param)


def _f32(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _character(seed: int = 0):
    """PCA skin + tongue; the solver neutrals differ slightly from the post-processing ones."""
    rng = np.random.default_rng(seed)
    n_pp = _f32(rng, V, 3, scale=5.0)
    skin = pp.SkinData(n_pp, _f32(rng, V, 3, scale=0.2), _f32(rng, V, 3, scale=0.2))
    problem = SolverProblem.from_arrays(
        n_pp + _f32(rng, V, 3, scale=0.02),
        _f32(rng, P, V, 3, scale=0.5),
        frontal_mask=np.sort(rng.choice(V, V // 2, replace=False)),
        params=SKIN_PARAMS,
        active=np.arange(P) != 2,
        symmetry_ids=np.r_[0, 0, -np.ones(P - 2)].astype(int),
        cancel_ids=np.r_[-1, -1, -1, 4, 4, -np.ones(P - 5)].astype(int),
    )
    t_pp = _f32(rng, VT, 3, scale=1.0)
    t_problem = SolverProblem.from_arrays(
        t_pp + _f32(rng, VT, 3, scale=0.01), _f32(rng, PT, VT, 3, scale=0.3), params=TONGUE_PARAMS
    )
    shapes = _f32(rng, K, V, 3, scale=0.3)
    t_shapes = _f32(rng, KT, VT, 3, scale=0.3)
    return skin, problem, shapes, t_pp, t_problem, t_shapes


def _face_params(xp, level: float = 0.55, softness: float = 0.08) -> pp.FaceParamArrays:
    base = {"face_mask_level": level, "face_mask_softness": softness, "blink_offset": 0.2}
    tracks = [
        FaceParams(**base, skin_strength=1.1, upper_face_smoothing=0.02, lower_face_smoothing=0.05),
        FaceParams(**base, upper_face_strength=0.7, lower_face_strength=1.6, lip_open_offset=0.1),
        FaceParams(**base, upper_face_smoothing=0.0, lower_face_smoothing=0.0, tongue_strength=2),
    ]
    return pp.face_param_arrays(tracks, xp)


def _vertex_skin(xp, skin, deltas, params, state):
    """Vertex path in float64: postprocess_skin on reconstructed deltas."""
    skin64 = pp.SkinData(*(xp.asarray(a, dtype=xp.float64) for a in skin.__dict__.values()))
    return pp.postprocess_skin(xp.asarray(deltas, dtype=xp.float64), skin64, params, DT, state)


def _new_vertex_state(xp):
    s = pp.new_skin_state(T, (V, 3), xp)
    return pp.SkinState(s.upper.astype(xp.float64), s.lower.astype(xp.float64), s.initialized)


def _rel(a, b) -> float:
    a, b = to_numpy(a), to_numpy(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def test_skin_compact_equals_vertex_path_when_coefficients_come_from_pca(xp) -> None:
    skin, problem, shapes, *_ = _character()
    params = _face_params(xp)
    compact = SkinCompactBuilder.regression(problem, shapes, skin).for_mask(0.55, 0.08)
    compact, prob = compact.to_backend(xp), problem.to_backend(xp)
    rng = np.random.default_rng(1)
    c_state, v_state, w_c, w_v = (
        pp.new_skin_state(T, (K + 2,), xp),
        _new_vertex_state(xp),
        None,
        None,
    )
    for _ in range(3):  # three calls: smoother and w_prev states chain
        coefs = xp.asarray(_f32(rng, T, F, K))
        rhs_c, c_state = skin_rhs(compact, coefs, params, DT, c_state)
        deltas = xp.einsum(
            "tfk,kvc->tfvc", coefs.astype(xp.float64), xp.asarray(shapes, xp.float64)
        )
        verts, v_state = _vertex_skin(xp, skin, deltas, params, v_state)
        rhs_v = data_rhs(prob, verts)
        assert _rel(rhs_c, rhs_v) < 1e-5
        weights_c, w_c = solve(prob, rhs_c, w_c)
        weights_v, w_v = solve(prob, rhs_v, w_v)
        assert _rel(weights_c, weights_v) < 1e-5
        assert float(to_numpy(weights_v).max()) > 0.05  # the solve had something to do


def test_skin_compact_equals_vertex_path_when_deltas_come_from_diffusion(xp) -> None:
    skin, problem, *_ = _character(2)
    params = _face_params(xp)
    compact = SkinCompactBuilder.diffusion(problem, skin).for_mask(0.55, 0.08).to_backend(xp)
    prob = problem.to_backend(xp)
    deltas = xp.asarray(_f32(np.random.default_rng(3), T, F, V, 3, scale=0.4))
    q = project_deltas(compact, deltas)
    assert q.shape == (T, F, 2 * problem.num_active)
    rhs_c, _ = skin_rhs(compact, q, params, DT, pp.new_skin_state(T, (q.shape[-1] + 2,), xp))
    verts, _ = _vertex_skin(xp, skin, deltas, params, _new_vertex_state(xp))
    rhs_v = data_rhs(prob, verts)
    assert _rel(rhs_c, rhs_v) < 1e-5
    assert _rel(solve(prob, rhs_c)[0], solve(prob, rhs_v)[0]) < 1e-5


def test_rhs_is_neutral_offset_term_when_network_output_and_offsets_are_zero(xp) -> None:
    skin, problem, shapes, *_ = _character(4)
    tracks = [FaceParams(eyelid_open_offset=0.0, lip_open_offset=0.0, face_mask_level=0.6)] * T
    params = pp.face_param_arrays(tracks, xp)
    compact = SkinCompactBuilder.regression(problem, shapes, skin).for_mask(0.6, 0.0085)
    coefs = xp.zeros((T, 1, K), dtype=xp.float32)
    rhs, _ = skin_rhs(compact.to_backend(xp), coefs, params, DT, pp.new_skin_state(T, (K + 2,), xp))
    expected = data_rhs(problem, np.asarray(skin.neutral, dtype=np.float64)[None, None])
    assert np.abs(expected).max() > 0  # the two neutrals do differ
    np.testing.assert_allclose(to_numpy(rhs), np.broadcast_to(expected, rhs.shape), rtol=1e-9)


def test_upper_plus_lower_matrices_do_not_depend_on_mask_when_level_changes() -> None:
    skin, problem, shapes, *_ = _character(5)
    builder = SkinCompactBuilder.regression(problem, shapes, skin)
    a, b = builder.for_mask(0.3, 0.05), builder.for_mask(0.8, 0.2)
    assert np.abs(a.g_lower - b.g_lower).max() > 1e-3
    np.testing.assert_allclose(a.g_upper + a.g_lower, b.g_upper + b.g_lower, rtol=1e-10)


def test_skin_rhs_rejects_tracks_when_their_mask_setting_differs() -> None:
    skin, problem, shapes, *_ = _character(6)
    compact = SkinCompactBuilder.regression(problem, shapes, skin).for_mask(0.6, 0.0085)
    params = _face_params(np, level=0.5)
    with pytest.raises(ValueError, match="mask_key"):
        skin_rhs(
            compact, np.zeros((T, 1, K), np.float32), params, DT, pp.new_skin_state(T, (K + 2,))
        )


def test_mask_key_rounds_to_float32_when_values_come_from_param_arrays() -> None:
    params = _face_params(np, level=0.6, softness=0.0085)
    level = float(params.face_mask_level[0])
    assert mask_key(0.6, 0.0085) == (level, float(params.face_mask_softness[0]))


@pytest.mark.parametrize("diffusion", [False, True])
def test_tongue_compact_equals_vertex_path_when_offsets_are_set(xp, diffusion: bool) -> None:
    *_, t_pp, t_problem, t_shapes = _character(7)
    params = _face_params(xp)
    rng = np.random.default_rng(8)
    coefs = xp.asarray(_f32(rng, T, F, KT))
    deltas = xp.einsum("tfk,kvc->tfvc", coefs.astype(xp.float64), xp.asarray(t_shapes, xp.float64))
    compact = TongueCompact.build(t_problem, t_pp, None if diffusion else t_shapes).to_backend(xp)
    strength, height, depth = (
        params.tongue_strength, params.tongue_height_offset, params.tongue_depth_offset
    )  # fmt: skip
    rhs_c = tongue_rhs(compact, deltas if diffusion else coefs, strength, height, depth)
    neutral = xp.asarray(t_pp, dtype=xp.float64)
    verts = pp.postprocess_tongue(deltas, neutral, strength, height, depth)
    rhs_v = data_rhs(t_problem.to_backend(xp), verts)
    assert _rel(rhs_c, rhs_v) < 1e-5
    prob = t_problem.to_backend(xp)
    assert _rel(solve(prob, rhs_c)[0], solve(prob, rhs_v)[0]) < 1e-5
