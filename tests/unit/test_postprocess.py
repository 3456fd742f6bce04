"""Post-processing (a2f_actors.postprocess) against direct loop implementations of the SDK."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2f_actors import postprocess as pp
from a2f_actors.params import FaceParams
from a2f_actors.xp import backend, to_numpy

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.requires_gpu)]
V, T, F = 6, 2, 4
DT = 1.0 / 30.0


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    return backend(request.param)


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _params() -> list[FaceParams]:
    return [
        FaceParams(
            upper_face_smoothing=0.02, lower_face_smoothing=0.05, upper_face_strength=0.8,
            lower_face_strength=1.4, face_mask_level=0.5, face_mask_softness=0.2,
            skin_strength=1.1, blink_strength=0.7, blink_offset=0.3, eyelid_open_offset=0.06,
            lip_open_offset=-0.03, eye_saccade_seed=4998.0, saccade_strength=0.9,
            right_eye_rot_y_offset=-2.0, left_eye_rot_y_offset=2.0, eyeballs_strength=1.2,
        ),
        FaceParams(upper_face_smoothing=0.0, lower_face_smoothing=0.0023, face_mask_softness=0.3),
    ]  # fmt: skip


def _skin_data(xp) -> tuple[pp.SkinData, np.ndarray, np.ndarray, np.ndarray]:
    rng = _rng()
    neutral, eye, lip = (rng.normal(size=(V, 3)).astype(np.float32) for _ in range(3))
    return pp.SkinData(xp.asarray(neutral), xp.asarray(eye), xp.asarray(lip)), neutral, eye, lip


# --- direct references ---------------------------------------------------------------------


def _ref_alpha(h: float, dt: float) -> float:
    return 1.0 - 0.5 ** (dt / h) if h > 0 else 1.0


def _ref_mask(neutral: np.ndarray, level: float, softness: float) -> list[float]:
    ys = [float(neutral[v, 1]) for v in range(neutral.shape[0])]
    lo, hi = min(ys), max(ys)
    return [1.0 / (1.0 + math.exp(-(level - (y - lo) / (hi - lo)) / softness)) for y in ys]


def _ref_skin_track(deltas, neutral, eye, lip, p: FaceParams, dt: float) -> np.ndarray:
    """One track, frame by frame, vertex by vertex, component by component."""
    au, al = _ref_alpha(p.upper_face_smoothing, dt), _ref_alpha(p.lower_face_smoothing, dt)
    m = _ref_mask(neutral, p.face_mask_level, p.face_mask_softness)
    out = np.zeros_like(deltas, dtype=np.float64)
    state: dict[tuple[int, int], list[float]] = {}
    for f in range(deltas.shape[0]):
        for v in range(deltas.shape[1]):
            for c in range(3):
                x = (
                    p.skin_strength * deltas[f, v, c]
                    + eye[v, c] * (-p.eyelid_open_offset + p.blink_offset * p.blink_strength)
                    + lip[v, c] * p.lip_open_offset
                )
                u1, u2, l1, l2 = state.get((v, c), [x, x, x, x])
                u1 += (x - u1) * au
                u2 += (u1 - u2) * au
                l1 += (x - l1) * al
                l2 += (l1 - l2) * al
                state[(v, c)] = [u1, u2, l1, l2]
                out[f, v, c] = (
                    neutral[v, c]
                    + p.upper_face_strength * (1 - m[v]) * u2
                    + p.lower_face_strength * m[v] * l2
                )
    return out


# --- skin --------------------------------------------------------------------------------


def test_skin_matches_loop_reference_when_tracks_have_different_params(xp) -> None:
    data, neutral, eye, lip = _skin_data(xp)
    deltas = _rng().normal(size=(T, F, V, 3)).astype(np.float32)
    params = _params()
    out, state = pp.postprocess_skin(
        xp.asarray(deltas),
        data,
        pp.face_param_arrays(params, xp),
        DT,
        pp.new_skin_state(T, (V, 3), xp),
    )
    for t in range(T):
        ref = _ref_skin_track(deltas[t], neutral, eye, lip, params[t], DT)
        np.testing.assert_allclose(to_numpy(out[t]), ref, rtol=1e-5, atol=1e-5)
    assert to_numpy(state.initialized).all()


def test_skin_is_chunking_invariant_when_frames_are_fed_one_by_one(xp) -> None:
    data, *_ = _skin_data(xp)
    deltas = xp.asarray(_rng().normal(size=(T, F, V, 3)).astype(np.float32))
    params = pp.face_param_arrays(_params(), xp)
    whole, s_whole = pp.postprocess_skin(deltas, data, params, DT, pp.new_skin_state(T, (V, 3), xp))
    state = pp.new_skin_state(T, (V, 3), xp)
    parts = []
    for f in range(F):
        out, state = pp.postprocess_skin(deltas[:, f : f + 1], data, params, DT, state)
        parts.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), to_numpy(whole), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_numpy(state.upper), to_numpy(s_whole.upper), rtol=1e-6)


def test_skin_state_is_per_track_when_tracks_are_interleaved_with_separate_runs(xp) -> None:
    data, *_ = _skin_data(xp)
    deltas = xp.asarray(_rng().normal(size=(T, F, V, 3)).astype(np.float32))
    params = _params()
    both, _ = pp.postprocess_skin(
        deltas, data, pp.face_param_arrays(params, xp), DT, pp.new_skin_state(T, (V, 3), xp)
    )
    for t in range(T):
        state = pp.new_skin_state(1, (V, 3), xp)
        one = pp.face_param_arrays([params[t]], xp)
        outs = []
        for f in range(F):  # interleave: another track's call between each of this track's
            other = pp.new_skin_state(1, (V, 3), xp)
            pp.postprocess_skin(deltas[1 - t : 2 - t, :1], data, one, DT, other)
            out, state = pp.postprocess_skin(deltas[t : t + 1, f : f + 1], data, one, DT, state)
            outs.append(to_numpy(out[0, 0]))
        np.testing.assert_allclose(np.stack(outs), to_numpy(both[t]), rtol=1e-6, atol=1e-6)


def test_smoother_reaches_half_life_level_when_step_input_runs_for_half_life(xp) -> None:
    half_life, dt = 0.1, 0.01
    n = round(half_life / dt)
    alpha = pp.smoothing_alpha(xp.asarray([half_life]), dt)
    a = float(to_numpy(alpha)[0])
    assert a == pytest.approx(1 - 0.5 ** (dt / half_life), rel=1e-6)
    zero = xp.zeros((1, 1, 1), dtype=xp.float32)
    _, state = pp.smooth_two_pole(
        zero, pp.new_smoother_state(1, (1,), xp), alpha, xp.asarray([True])
    )
    y, state = pp.smooth_two_pole(xp.ones((1, n, 1), dtype=xp.float32), state, alpha)
    # One pole: 1 - 0.5 = 0.5 after one half-life; two poles: 1 - b^n - n*a*b^n with b^n = 0.5.
    assert float(to_numpy(state)[0, 0, 0]) == pytest.approx(0.5, abs=1e-5)
    assert float(to_numpy(y)[0, -1, 0]) == pytest.approx(0.5 - 0.5 * n * a, abs=1e-5)


def test_smoother_passes_through_when_half_life_is_zero(xp) -> None:
    x = xp.asarray(_rng().normal(size=(1, 5, 3)).astype(np.float32))
    y, _ = pp.smooth_two_pole(
        x, pp.new_smoother_state(1, (3,), xp), pp.smoothing_alpha(xp.asarray([0.0]), DT)
    )
    np.testing.assert_array_equal(to_numpy(y), to_numpy(x))


def test_smoother_starts_at_first_input_when_track_is_fresh(xp) -> None:
    x = xp.asarray(np.full((2, 1, 3), 7.0, dtype=np.float32))
    stale = xp.full((2, 2, 3), -5.0, dtype=xp.float32)
    alpha = pp.smoothing_alpha(xp.asarray([0.05, 0.05]), DT)
    y, _ = pp.smooth_two_pole(x, stale, alpha, xp.asarray([True, False]))
    assert to_numpy(y)[0].tolist() == [[7.0, 7.0, 7.0]]
    assert (to_numpy(y)[1] < 7.0).all()


def test_mask_is_one_below_and_zero_above_when_softness_is_small(xp) -> None:
    y = xp.asarray(np.array([0.0, 0.25, 0.5, 0.75, 1.0], dtype=np.float32))
    m = to_numpy(pp.lower_face_mask(y, xp.asarray([0.5]), xp.asarray([0.001])))[0]
    assert m[0] == pytest.approx(1.0) and m[1] == pytest.approx(1.0)
    assert m[2] == pytest.approx(0.5)
    assert m[3] == pytest.approx(0.0, abs=1e-12) and m[4] == pytest.approx(0.0, abs=1e-12)


def test_mask_matches_logistic_formula_when_softness_is_moderate(xp) -> None:
    neutral = _rng().normal(size=(V, 3)).astype(np.float32)
    m = pp.lower_face_mask(
        xp.asarray(neutral[:, 1]), xp.asarray([0.3, 0.7]), xp.asarray([0.1, 0.4])
    )
    for t, (lvl, soft) in enumerate([(0.3, 0.1), (0.7, 0.4)]):
        np.testing.assert_allclose(to_numpy(m)[t], _ref_mask(neutral, lvl, soft), rtol=1e-5)


def test_mask_rejects_neutral_when_it_is_flat_in_y(xp) -> None:
    with pytest.raises(ValueError, match="no extent in Y"):
        pp.lower_face_mask(xp.zeros((4,), dtype=xp.float32), xp.asarray([0.5]), xp.asarray([0.1]))


def test_compact_path_matches_vertex_path_when_deltas_come_from_pca(xp) -> None:
    data, *_ = _skin_data(xp)
    k = 5
    rng = _rng()
    shapes = xp.asarray(rng.normal(size=(k, V, 3)).astype(np.float32))
    coefs = xp.asarray(rng.normal(size=(T, F, k)).astype(np.float32))
    params = _params()
    one_mask = [params[0], params[0]]  # one mask setting shared by the batch
    pa = pp.face_param_arrays(one_mask, xp)
    deltas = xp.einsum("tfk,kvc->tfvc", coefs, shapes)
    ref, _ = pp.postprocess_skin(deltas, data, pa, DT, pp.new_skin_state(T, (V, 3), xp))
    up, lo, state = pp.skin_compact_step(coefs, pa, DT, pp.new_skin_state(T, (k + 2,), xp))
    basis = pp.augment_skin_basis(shapes, data.eye_close_delta, data.lip_open_delta)
    mask = pp.lower_face_mask(data.neutral[:, 1], pa.face_mask_level, pa.face_mask_softness)
    bu, bl = pp.fold_mask_into_basis(basis, mask[0])
    out = pp.reconstruct_skin_compact(up, lo, data.neutral, bu, bl)
    np.testing.assert_allclose(to_numpy(out), to_numpy(ref), rtol=1e-4, atol=1e-5)
    assert state.upper.shape == (T, 2, k + 2)


# --- tongue, jaw, eyes ----------------------------------------------------------------------


def test_tongue_matches_loop_reference_when_offsets_are_set(xp) -> None:
    rng = _rng()
    deltas = rng.normal(size=(T, F, V, 3)).astype(np.float32)
    neutral = rng.normal(size=(V, 3)).astype(np.float32)
    s, h, d = [1.5, 0.5], [0.2, -1.0], [0.13, 2.0]
    out = to_numpy(
        pp.postprocess_tongue(
            xp.asarray(deltas), xp.asarray(neutral), xp.asarray(s), xp.asarray(h), xp.asarray(d)
        )
    )
    for t in range(T):
        for f in range(F):
            for v in range(V):
                exp = [neutral[v, c] + s[t] * deltas[t, f, v, c] for c in range(3)]
                exp[1] += h[t]
                exp[2] += d[t]
                np.testing.assert_allclose(out[t, f, v], exp, rtol=1e-5, atol=1e-6)


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (
        math.cos(ax),
        math.sin(ax),
        math.cos(ay),
        math.sin(ay),
        math.cos(az),
        math.sin(az),
    )
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx  # fmt: skip


def test_rigid_transform_recovers_rotation_and_translation_when_points_are_exact(xp) -> None:
    src = _rng().normal(size=(5, 3))
    rot, trans = _rotation(0.3, -0.2, 0.5), np.array([0.5, -1.0, 2.0])
    tgt = src @ rot.T + trans
    m = to_numpy(pp.rigid_transform(xp.asarray(src), xp.asarray(tgt)))
    np.testing.assert_allclose(m[:3, :3], rot, atol=1e-5)
    np.testing.assert_allclose(m[:3, 3], trans, atol=1e-5)
    np.testing.assert_allclose(m[3], [0, 0, 0, 1])
    flat = to_numpy(pp.jaw_matrix_to_sdk_flat(xp.asarray(m)))
    np.testing.assert_allclose(flat[12:15], trans, atol=1e-5)  # column-major: t last
    np.testing.assert_allclose(flat[0:3], rot[:, 0], atol=1e-5)


def test_rigid_transform_returns_proper_rotation_when_target_is_mirrored(xp) -> None:
    src = _rng().normal(size=(5, 3))
    tgt = src * np.array([1.0, 1.0, -1.0])  # a reflection: no rotation fits exactly
    m = to_numpy(pp.rigid_transform(xp.asarray(src), xp.asarray(tgt)))
    assert np.linalg.det(m[:3, :3]) == pytest.approx(1.0, abs=1e-5)


def test_jaw_is_identity_when_deltas_are_zero_and_offsets_translate(xp) -> None:
    neutral = _rng().normal(size=(5, 3)).astype(np.float32)
    zeros = xp.zeros((T, F, 15), dtype=xp.float32)
    m = to_numpy(
        pp.postprocess_jaw(zeros, xp.asarray(neutral.reshape(-1)), xp.asarray([1.0, 1.3]),
                           xp.asarray([0.0, 0.4]), xp.asarray([0.0, -0.2]))
    )  # fmt: skip
    assert m.shape == (T, F, 4, 4)
    np.testing.assert_allclose(m[0, 0], np.eye(4), atol=1e-5)
    np.testing.assert_allclose(m[1, 2, :3, :3], np.eye(3), atol=1e-5)
    np.testing.assert_allclose(m[1, 2, :3, 3], [0.0, 0.4, -0.2], atol=1e-5)


def test_jaw_keypoints_match_formula_when_strength_scales(xp) -> None:
    rng = _rng()
    deltas = rng.normal(size=(1, 1, 5, 3)).astype(np.float32)
    neutral = rng.normal(size=(5, 3)).astype(np.float32)
    kp = to_numpy(pp.jaw_keypoints(xp.asarray(deltas), xp.asarray(neutral), xp.asarray([2.0]),
                                   xp.asarray([0.1]), xp.asarray([0.2])))  # fmt: skip
    exp = neutral + 2.0 * deltas[0, 0] + np.array([0.0, 0.1, 0.2])
    np.testing.assert_allclose(kp[0, 0], exp, rtol=1e-5, atol=1e-6)


def _ref_eyes(eyes, table, p: FaceParams, dt: float, clock: float) -> tuple[np.ndarray, float]:
    out = np.zeros_like(eyes, dtype=np.float64)
    rows = table.shape[0]
    offs = [p.right_eye_rot_x_offset, p.right_eye_rot_y_offset,
            p.left_eye_rot_x_offset, p.left_eye_rot_y_offset]  # fmt: skip
    for f in range(eyes.shape[0]):
        idx = math.floor((p.eye_saccade_seed + clock) % rows)
        for j in range(4):
            out[f, j] = (
                offs[j] + p.eyeballs_strength * eyes[f, j] + p.saccade_strength * table[idx, j % 2]
            )
        clock = (clock + dt * 30.0) % rows
    return out, clock


def test_eyes_match_loop_reference_when_saccade_seed_wraps(xp) -> None:
    rng = _rng()
    table = rng.normal(size=(5000, 2)).astype(np.float32)
    eyes = rng.normal(size=(T, F, 4)).astype(np.float32)
    params = _params()
    out, state = pp.eyes_step(
        xp.asarray(eyes), xp.asarray(table), pp.face_param_arrays(params, xp), DT,
        pp.new_eyes_state(T, xp),
    )  # fmt: skip
    for t in range(T):
        ref, clock = _ref_eyes(eyes[t], table, params[t], DT, 0.0)
        np.testing.assert_allclose(to_numpy(out[t]), ref, rtol=1e-5, atol=1e-5)
        assert float(to_numpy(state.clock)[t]) == pytest.approx(clock, abs=1e-3)


def test_saccade_index_wraps_to_zero_when_seed_plus_clock_reaches_table_end(xp) -> None:
    idx = pp.saccade_indices(xp.asarray([4999.0, 4999.0, 0.0]), xp.asarray([0.0, 1.0, 5001.5]))
    assert to_numpy(idx).tolist() == [4999, 0, 1]


def test_eyes_are_chunking_invariant_when_frames_are_fed_one_by_one(xp) -> None:
    rng = _rng()
    table = xp.asarray(rng.normal(size=(5000, 2)).astype(np.float32))
    eyes = xp.asarray(rng.normal(size=(T, 7, 4)).astype(np.float32))
    pa = pp.face_param_arrays(_params(), xp)
    whole, s_whole = pp.eyes_step(eyes, table, pa, 1 / 60, pp.new_eyes_state(T, xp))
    state, parts = pp.new_eyes_state(T, xp), []
    for f in range(7):
        out, state = pp.eyes_step(eyes[:, f : f + 1], table, pa, 1 / 60, state)
        parts.append(to_numpy(out))
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), to_numpy(whole))
    np.testing.assert_array_equal(to_numpy(state.clock), to_numpy(s_whole.clock))


# --- params and state records -----------------------------------------------------------------


def test_face_param_arrays_hold_one_value_per_track_when_built_from_params(xp) -> None:
    pa = pp.face_param_arrays(_params(), xp)
    assert pa.num_tracks == T
    assert to_numpy(pa.skin_strength).tolist() == pytest.approx([1.1, 1.0])
    assert to_numpy(pa.eye_offsets()).shape == (T, 4)
    with pytest.raises(AttributeError):
        _ = pa.not_a_param


def test_track_states_round_trip_when_split_and_stacked(xp) -> None:
    state = pp.new_skin_state(3, (V, 3), xp)
    state = pp.SkinState(state.upper + xp.arange(3, dtype=xp.float32)[:, None, None, None],
                         state.lower, state.initialized)  # fmt: skip
    parts = pp.split_track_states(state)
    assert len(parts) == 3 and parts[1].upper.shape == (1, 2, V, 3)
    back = pp.stack_track_states(parts)
    np.testing.assert_array_equal(to_numpy(back.upper), to_numpy(state.upper))


def test_params_and_state_survive_pickling_when_sent_across_a_hop() -> None:
    import pickle

    pa = pickle.loads(pickle.dumps(pp.face_param_arrays(_params())))
    assert pa.num_tracks == T and pa.skin_strength.tolist() == pytest.approx([1.1, 1.0])
    state = pickle.loads(pickle.dumps(pp.new_skin_state(T, (V, 3))))
    assert state.upper.shape == (T, 2, V, 3) and not state.initialized.any()
