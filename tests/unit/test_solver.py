"""Blendshape solver (a2f_actors.solver) against direct constructions and the SciPy reference."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2f_actors.params import SolverParams
from a2f_actors.solver import (
    CANCEL_UPPER_BOUND,
    SolverProblem,
    admm_warm_start,
    assemble_a,
    bbox_scale,
    data_rhs,
    pair_indices,
    solve,
    solve_box_qp,
    symmetry_matrix,
)
from a2f_actors.solver_reference import box_qp_reference, kkt_residual, solve_reference
from a2f_actors.xp import backend, to_numpy

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.requires_gpu)]
ROOT = pathlib.Path(__file__).resolve().parents[2]
MARK_LIKE = SolverParams(
    l1_reg=0.5, l2_reg=0.5, symmetry_reg=100.0, temporal_reg=0.3, template_bb_size=12.0
)
NO_REG = SolverParams(
    l1_reg=0.0, l2_reg=0.0, symmetry_reg=0.0, temporal_reg=0.0, template_bb_size=12.0
)


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    return backend(request.param)


def _character(seed: int, num_poses: int = 12, num_verts: int = 60):
    """Random character: neutral [V, 3] and localised deltas [P, V, 3]."""
    rng = np.random.default_rng(seed)
    neutral = rng.uniform(-5.0, 5.0, size=(num_verts, 3))
    deltas = np.zeros((num_poses, num_verts, 3))
    for p in range(num_poses):
        idx = rng.choice(num_verts, num_verts // 3, replace=False)
        deltas[p, idx] = rng.normal(size=(idx.size, 3))
    return neutral, deltas


def _problem(seed: int, num_poses: int = 12, num_verts: int = 60, **kw) -> SolverProblem:
    """Random character with a frontal mask, symmetry and cancel pairs, pose 3 inactive."""
    neutral, deltas = _character(seed, num_poses, num_verts)
    rng = np.random.default_rng(seed + 500)
    args = {
        "frontal_mask": np.sort(rng.choice(num_verts, (2 * num_verts) // 3, replace=False)),
        "params": MARK_LIKE,
        "active": np.arange(num_poses) != 3,
        "symmetry_ids": np.r_[0, 0, 1, 1, -np.ones(num_poses - 4)].astype(int),
        "cancel_ids": np.r_[-1, -1, -1, -1, 5, 5, -np.ones(num_poses - 6)].astype(int),
    }
    args.update(kw)
    return SolverProblem.from_arrays(neutral, deltas, **args)


def _targets(seed: int, shape: tuple[int, int], num_poses: int = 12, num_verts: int = 60):
    """Targets of ``_problem(seed)`` posed from weights in [-0.3, 1.3], plus noise."""
    neutral, deltas = _character(seed, num_poses, num_verts)
    rng = np.random.default_rng(seed + 1000)
    w = rng.uniform(-0.3, 1.3, size=(*shape, num_poses))
    noise = rng.normal(scale=0.05, size=(*shape, num_verts, 3))
    return neutral + np.einsum("tfp,pvc->tfvc", w, deltas) + noise


# --- problem setup: each term of A against a direct construction ----------------------------


def _tiny_problem(params: SolverParams) -> tuple[SolverProblem, np.ndarray, np.ndarray]:
    neutral = np.array([[0, 0, 0], [3, 0, 0], [0, 4, 0], [0, 0, 12], [1, 1, 1]], dtype=float)
    deltas = np.random.default_rng(7).normal(size=(4, 5, 3))
    prob = SolverProblem.from_arrays(
        neutral,
        deltas,
        frontal_mask=np.array([1, 3, 4]),
        params=params,
        active=np.array([True, False, True, True]),
        symmetry_ids=np.array([2, 2, 2, -1]),  # id 2: poses 0 and 2 active (pose 1 inactive)
    )
    return prob, neutral, deltas


def _direct_a(params: SolverParams, deltas: np.ndarray, s: float) -> np.ndarray:
    active, mask = [0, 2, 3], [1, 3, 4]
    n = len(active)
    a = np.zeros((n, n))
    for i, pi in enumerate(active):
        for j, pj in enumerate(active):
            a[i, j] = sum(deltas[pi, v, c] * deltas[pj, v, c] for v in mask for c in range(3))
            a[i, j] += params.l1_reg**2 * 0.25 * s
            a[i, j] += (params.l2_reg * 10 * s + params.temporal_reg * 100 * s) * (i == j)
    sym = np.array([1.0, -1.0, 0.0])  # active poses 0 and 2 are active indices 0 and 1
    return a + params.symmetry_reg * 10 * s * np.outer(sym, sym)


@pytest.mark.parametrize(
    "params",
    [
        SolverParams(l1_reg=0, l2_reg=0, symmetry_reg=0, temporal_reg=0, template_bb_size=6.5),
        SolverParams(l1_reg=0.7, l2_reg=0, symmetry_reg=0, temporal_reg=0, template_bb_size=6.5),
        SolverParams(l1_reg=0, l2_reg=2.5, symmetry_reg=0, temporal_reg=0, template_bb_size=6.5),
        SolverParams(l1_reg=0, l2_reg=0, symmetry_reg=0, temporal_reg=3.0, template_bb_size=6.5),
        SolverParams(l1_reg=0, l2_reg=0, symmetry_reg=50, temporal_reg=0, template_bb_size=6.5),
        SolverParams(l1_reg=1, l2_reg=3.5, symmetry_reg=100, temporal_reg=5, template_bb_size=6.5),
    ],
)
def test_a_matrix_matches_direct_sum_when_terms_are_switched_on_one_by_one(params) -> None:
    prob, _, deltas = _tiny_problem(params)
    assert prob.scale == pytest.approx(4.0)  # bbox diagonal 13 (3-4-12) over 6.5, squared
    np.testing.assert_allclose(prob.a_matrix, _direct_a(params, deltas, 4.0), rtol=1e-12)
    assert prob.temporal == pytest.approx(params.temporal_reg * 4.0)


def test_scale_uses_whole_neutral_when_frontal_mask_excludes_extremes() -> None:
    neutral = np.array([[0, 0, 0], [3, 4, 12], [1, 1, 1]], dtype=float)
    assert bbox_scale(neutral, 26.0) == pytest.approx(0.25)
    prob = SolverProblem.from_arrays(
        neutral,
        np.ones((2, 3, 3)),
        frontal_mask=np.array([2]),
        params=SolverParams(template_bb_size=26.0),
    )
    assert prob.scale == pytest.approx(0.25)


def test_data_rhs_uses_mask_rows_and_active_columns_when_mask_is_set() -> None:
    prob, neutral, deltas = _tiny_problem(MARK_LIKE)
    target = neutral + np.random.default_rng(3).normal(size=neutral.shape)
    expected = [sum(deltas[p, v] @ (target[v] - neutral[v]) for v in (1, 3, 4)) for p in (0, 2, 3)]
    np.testing.assert_allclose(data_rhs(prob, target[None]), [expected], rtol=1e-12)


def test_pairs_ignore_minus_one_and_odd_groups_when_ids_are_mixed() -> None:
    ids = np.array([-1, 4, -1, 4, 7, 7, 7, 9, 9])
    active = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    # id 4 -> active indices (1, 3); id 7 has three members; id 9 has one active member
    np.testing.assert_array_equal(pair_indices(ids, active), [[1, 3]])
    np.testing.assert_array_equal(symmetry_matrix(np.array([[1, 3]]), 4), [[0, 1, 0, -1]])


def test_assemble_a_adds_ones_block_when_only_l1_is_set() -> None:
    p = SolverParams(l1_reg=2.0, l2_reg=0, symmetry_reg=0, temporal_reg=0)
    a = assemble_a(np.zeros((3, 3)), 0.5, p, np.zeros((0, 3)))
    np.testing.assert_allclose(a, np.full((3, 3), 4.0 * 0.25 * 0.5))


def test_setup_rejects_problem_when_no_pose_is_active() -> None:
    with pytest.raises(ValueError, match="no active pose"):
        SolverProblem.from_arrays(np.zeros((3, 3)), np.ones((2, 3, 3)), active=np.zeros(2, bool))


def test_setup_rejects_mask_when_index_is_out_of_range() -> None:
    with pytest.raises(ValueError, match="frontal_mask"):
        SolverProblem.from_arrays(np.zeros((3, 3)), np.ones((2, 3, 3)), frontal_mask=[0, 3])


# --- solve against the reference ------------------------------------------------------------


def test_reference_satisfies_kkt_when_problems_are_random() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.normal(size=(10, 10))
        a = m @ m.T + 0.1 * np.eye(10)
        b = rng.normal(size=10) * 3
        upper = np.where(rng.random(10) < 0.2, CANCEL_UPPER_BOUND, 1.0)
        x = box_qp_reference(a, b, upper)
        assert kkt_residual(a, b, upper, x) < 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_solve_matches_reference_when_targets_are_random(xp, seed: int) -> None:
    prob = _problem(seed)
    rhs = data_rhs(prob, _targets(seed, (4, 5)))
    w_ref, wp_ref = solve_reference(prob, rhs)
    w, wp = solve(prob.to_backend(xp), xp.asarray(rhs))
    assert np.abs(to_numpy(w) - w_ref).max() < 1e-8
    assert np.abs(to_numpy(wp) - wp_ref).max() < 1e-8


def test_solve_matches_reference_when_trajectories_are_smooth_and_sparse(xp) -> None:
    prob = _problem(11, num_poses=20, num_verts=90)
    neutral, deltas = _character(11, 20, 90)
    rng = np.random.default_rng(5)
    w_true = np.clip(np.cumsum(rng.normal(scale=0.15, size=(3, 12, 20)), axis=1), -0.2, 1.1)
    rhs = data_rhs(prob, neutral + np.einsum("tfp,pvc->tfvc", w_true, deltas))
    w_ref, _ = solve_reference(prob, rhs)
    w, _ = solve(prob.to_backend(xp), xp.asarray(rhs))
    assert np.abs(to_numpy(w) - w_ref).max() < 1e-8
    assert (w_ref == 0).mean() > 0.1  # the bounds are active on many frames


def test_solve_matches_reference_when_deltas_are_rank_deficient(xp) -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=(4, 30, 3))
    deltas = np.concatenate([base, base[:2], base[:1] + base[1:2]])  # 7 poses, rank 4
    neutral = rng.normal(size=(30, 3))
    prob = SolverProblem.from_arrays(neutral, deltas, params=MARK_LIKE)
    rhs = data_rhs(prob, neutral + rng.normal(size=(5, 3, 30, 3)))
    w_ref, _ = solve_reference(prob, rhs)
    w, _ = solve(prob.to_backend(xp), xp.asarray(rhs))
    assert np.abs(to_numpy(w) - w_ref).max() < 1e-8


def test_solve_reaches_optimal_objective_when_a_is_singular(xp) -> None:
    rng = np.random.default_rng(6)
    base = rng.normal(size=(3, 20, 3))
    deltas = np.concatenate([base, base[:1]])  # duplicate pose, no regularisation
    neutral = rng.normal(size=(20, 3))
    prob = SolverProblem.from_arrays(neutral, deltas, params=NO_REG)
    rhs = data_rhs(prob, neutral + rng.normal(size=(6, 1, 20, 3)))
    w, _ = solve(prob.to_backend(xp), xp.asarray(rhs))
    w_ref, _ = solve_reference(prob, rhs)

    def cost(x: np.ndarray, b: np.ndarray) -> float:
        return 0.5 * x @ prob.a_matrix @ x - b @ x

    for k in range(6):
        assert cost(to_numpy(w)[k, 0], rhs[k, 0]) <= cost(w_ref[k, 0], rhs[k, 0]) + 1e-9


def test_solve_saturates_all_weights_when_target_is_far_beyond_bounds(xp) -> None:
    prob = _problem(2, cancel_ids=None, symmetry_ids=None)
    rhs = data_rhs(prob, _targets(2, (1, 1)))
    big = np.abs(rhs).max() * 1e4 + 1e4
    w_hi, _ = solve(prob.to_backend(xp), xp.full((1, 11), big))
    w_lo, _ = solve(prob.to_backend(xp), xp.full((1, 11), -big))
    active = to_numpy(prob.active_idx)
    np.testing.assert_allclose(to_numpy(w_hi)[0, active], 1.0, atol=1e-12)
    np.testing.assert_allclose(to_numpy(w_lo)[0, active], 0.0, atol=1e-12)


def test_cancel_pair_zeroes_smaller_member_when_both_are_wanted(xp) -> None:
    rng = np.random.default_rng(9)
    neutral = rng.normal(size=(40, 3))
    deltas = rng.normal(size=(4, 40, 3))
    prob = SolverProblem.from_arrays(neutral, deltas, params=NO_REG, cancel_ids=[0, 0, -1, -1])
    target = neutral + 0.7 * deltas[0] + 0.4 * deltas[1] + 0.5 * deltas[2]
    rhs = data_rhs(prob, target[None, None])
    w, _ = solve(prob.to_backend(xp), xp.asarray(rhs))
    w = to_numpy(w)[0, 0]
    w_ref, _ = solve_reference(prob, rhs)
    assert w[1] <= CANCEL_UPPER_BOUND
    assert w[0] > 0.5
    np.testing.assert_allclose(w, w_ref[0, 0], atol=1e-9)


def test_solve_recovers_weights_when_target_is_posed_and_regularisation_is_off(xp) -> None:
    rng = np.random.default_rng(12)
    neutral = rng.normal(size=(50, 3)) * 4
    deltas = rng.normal(size=(10, 50, 3))
    prob = SolverProblem.from_arrays(neutral, deltas, params=NO_REG)
    w_true = np.clip(rng.uniform(-0.4, 1.4, size=(3, 4, 10)), 0.0, 1.0)
    targets = neutral + np.einsum("tfp,pvc->tfvc", w_true, deltas)
    w, _ = solve(prob.to_backend(xp), xp.asarray(data_rhs(prob, targets)))
    assert np.abs(to_numpy(w) - w_true).max() < 1e-3
    assert np.abs(to_numpy(w) - w_true).max() < 1e-9  # in fact exact


def test_chained_calls_equal_one_call_when_temporal_term_links_frames(xp) -> None:
    prob = _problem(1).to_backend(xp)
    rhs = xp.asarray(data_rhs(_problem(1), _targets(1, (3, 6))))
    w_all, wp_all = solve(prob, rhs)
    wp = None
    parts = []
    for i in range(6):
        w_i, wp = solve(prob, rhs[:, i], wp)
        parts.append(to_numpy(w_i))
    np.testing.assert_allclose(np.stack(parts, axis=1), to_numpy(w_all), atol=1e-12)
    np.testing.assert_allclose(to_numpy(wp), to_numpy(wp_all), atol=1e-12)


def test_tracks_are_independent_when_batched_together(xp) -> None:
    prob = _problem(3).to_backend(xp)
    rhs = xp.asarray(data_rhs(_problem(3), _targets(3, (4, 3))))
    w_all, _ = solve(prob, rhs)
    w_one, _ = solve(prob, rhs[2:3])
    np.testing.assert_allclose(to_numpy(w_one)[0], to_numpy(w_all)[2], atol=1e-12)


def test_previous_weights_pull_solution_when_temporal_reg_is_set() -> None:
    prob = _problem(5)
    rhs = data_rhs(prob, _targets(5, (1, 1)))
    ones = np.ones((1, prob.num_active))
    w0, _ = solve(prob, rhs, None)
    w1, _ = solve(prob, rhs, ones)
    w_ref, _ = solve_reference(prob, rhs, ones)
    np.testing.assert_allclose(w1, w_ref, atol=1e-9)
    assert w1.sum() > w0.sum()


def test_outputs_apply_multipliers_offsets_and_clamp_when_configured(xp) -> None:
    mult = np.linspace(0.5, 3.0, 12)
    offs = np.linspace(-0.2, 0.3, 12)
    plain = _problem(8)
    styled = _problem(8, multipliers=mult, offsets=offs)
    rhs = data_rhs(plain, _targets(8, (2, 3)))
    w_plain, _ = solve(plain.to_backend(xp), xp.asarray(rhs))
    w_styled, wp = solve(styled.to_backend(xp), xp.asarray(rhs))
    w_clamped, _ = solve(styled.to_backend(xp), xp.asarray(rhs), clamp=True)
    np.testing.assert_allclose(to_numpy(w_styled), to_numpy(w_plain) * mult + offs, atol=1e-12)
    np.testing.assert_allclose(to_numpy(w_clamped), np.clip(to_numpy(w_styled), 0, 1))
    assert to_numpy(w_styled).max() > 1.0  # the clamp had something to do
    assert to_numpy(wp).max() <= 1.0  # the state is the raw solution


def test_inactive_pose_outputs_its_offset_only_when_pose_is_inactive(xp) -> None:
    offs = np.zeros(12)
    offs[3] = 0.25
    prob = _problem(10, offsets=offs, multipliers=np.full(12, 2.0))
    rhs = data_rhs(prob, _targets(10, (2, 2)))
    w, _ = solve(prob.to_backend(xp), xp.asarray(rhs))
    np.testing.assert_allclose(to_numpy(w)[..., 3], 0.25)
    assert prob.num_active == 11


def test_box_qp_converges_from_any_start_when_warm_start_is_poor(xp) -> None:
    rng = np.random.default_rng(13)
    m = rng.normal(size=(15, 15))
    a = m @ m.T + 0.05 * np.eye(15)
    b = rng.normal(size=(32, 15)) * 5
    upper = np.ones_like(b)
    starts = [np.zeros_like(b), np.ones_like(b), rng.uniform(size=b.shape)]
    for start in starts:
        x, ok = solve_box_qp(xp.asarray(a), xp.asarray(b), xp.asarray(upper), xp.asarray(start))
        assert bool(to_numpy(ok).all())
        for k in range(0, 32, 7):
            assert kkt_residual(a, b[k], upper[k], to_numpy(x)[k]) < 1e-9


def test_box_qp_finishes_when_a_is_ill_conditioned_and_pivoting_alone_stalls(xp) -> None:
    rng = np.random.default_rng(21)
    base = rng.normal(size=(6, 450))
    mix = rng.normal(size=(16, 6)) + 3 * np.abs(rng.normal(size=(16, 1)))  # correlated poses
    deltas = (mix @ base + 0.05 * rng.normal(size=(16, 450))).reshape(16, 150, 3)
    neutral = rng.normal(size=(150, 3)) * 5
    weak = SolverParams(l1_reg=0, l2_reg=0.001, symmetry_reg=0, temporal_reg=0)
    prob = SolverProblem.from_arrays(neutral, deltas, params=weak)
    assert np.linalg.cond(prob.a_matrix) > 1e5
    w = rng.uniform(-0.5, 1.5, size=(64, 16)) * (rng.random((64, 16)) < 0.5)
    targets = neutral + np.einsum("tp,pvc->tvc", w, deltas) + rng.normal(0, 0.05, (64, 150, 3))
    b = data_rhs(prob, targets)
    args = (xp.asarray(prob.a_matrix), xp.asarray(b), xp.ones((64, 16)), xp.zeros((64, 16)))
    _, ok_pivot_only = solve_box_qp(*args, max_rounds=4)
    x, ok = solve_box_qp(*args)
    assert not bool(to_numpy(ok_pivot_only).all())  # the primal phase is needed here
    assert bool(to_numpy(ok).all())
    x_ref = np.array([box_qp_reference(prob.a_matrix, b[k], np.ones(16)) for k in range(64)])
    assert np.abs(to_numpy(x) - x_ref).max() < 1e-8


def test_admm_warm_start_stays_feasible_when_iterating(xp) -> None:
    prob = _problem(0)
    rhs = data_rhs(prob, _targets(0, (1, 8)))[0]
    upper = np.ones_like(rhs)
    z = admm_warm_start(
        xp.asarray(prob.admm_inv), prob.admm_rho, xp.asarray(rhs), xp.asarray(upper),
        xp.zeros_like(xp.asarray(rhs)), 4,
    )  # fmt: skip
    z = to_numpy(z)
    assert z.min() >= 0.0
    assert z.max() <= 1.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    num_poses=st.integers(6, 16),
    l2=st.sampled_from([0.0, 0.5, 3.5]),
    temporal=st.sampled_from([0.0, 0.3, 5.0]),
)
def test_solve_matches_reference_when_problems_are_generated(seed, num_poses, l2, temporal):
    params = SolverParams(
        l1_reg=0.5, l2_reg=l2, symmetry_reg=100.0, temporal_reg=temporal, template_bb_size=10.0
    )
    prob = _problem(seed, num_poses=num_poses, num_verts=40, params=params)
    rhs = data_rhs(prob, _targets(seed, (2, 3), num_poses=num_poses, num_verts=40))
    w_ref, _ = solve_reference(prob, rhs)
    w, _ = solve(prob, rhs)
    assert np.abs(w - w_ref).max() < 1e-6


# --- benchmark smoke run ----------------------------------------------------------------------


def test_benchmark_prints_table_when_run_quick(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_solver", ROOT / "benchmarks/bench_solver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_solver", bench)  # dataclasses look their module up
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")  # the script pins these; restored after the test
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "track-frames/core-s" in out
    assert "setup" in out


@pytest.mark.parametrize("temporal", [0.0, 0.3])
def test_ragged_tracks_solve_like_one_call_per_track_when_counts_are_given(xp, temporal) -> None:
    """Tracks padded to F with ``counts``: each track's frames and w_prev as if alone."""
    params = SolverParams(l1_reg=0.5, l2_reg=0.5, symmetry_reg=100.0, temporal_reg=temporal,
                          template_bb_size=12.0)  # fmt: skip
    prob = _problem(4, params=params).to_backend(xp)
    assert (prob.temporal == 0.0) == (temporal == 0.0)
    rhs = data_rhs(prob, _targets(4, (3, 4)))
    counts = np.array([1, 4, 2])
    w_prev = np.random.default_rng(1).uniform(0, 0.5, (3, prob.num_active))
    w, wp = solve(prob, xp.asarray(rhs), xp.asarray(w_prev), counts=xp.asarray(counts))
    for t, n in enumerate(counts):
        one = xp.asarray(rhs[t : t + 1, :n])
        alone, alone_prev = solve(prob, one, xp.asarray(w_prev[t : t + 1]))
        np.testing.assert_allclose(to_numpy(w)[t, :n], to_numpy(alone)[0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(to_numpy(wp)[t], to_numpy(alone_prev)[0], rtol=0, atol=1e-9)
