"""The in-process pipeline (animator + offline) against a direct vertex-space composition."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.animator import DiffusionAnimator, RegressionAnimator, output_arrays
from a2f_actors.emotion import keyframes_from_time_codes
from a2f_actors.model_package import load_package
from a2f_actors.model_package.synthetic import make_diffusion_package, make_regression_package
from a2f_actors.names import BLENDSHAPES
from a2f_actors.offline import animate_diffusion_clip, animate_regression_clip, emotions_at
from a2f_actors.params import BlendshapeOutputParams, FaceParams
from a2f_actors.postprocess import (
    SkinData,
    face_param_arrays,
    new_skin_state,
    postprocess_skin,
)
from a2f_actors.solver import SolverProblem, solve_targets


def _linear_regression_net(rows: int, seed: int = 3):
    """A fake network: result = tanh(features(window) @ W + emotion @ E), deterministic."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.5, (8, rows)).astype(np.float32)
    e = rng.normal(0, 0.2, (26, rows)).astype(np.float32)

    def infer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["input"][:, 0, :]
        feats = np.stack([np.abs(x[:, i::8]).mean(axis=1) for i in range(8)], axis=1) * 20
        out = 4 * np.tanh(feats @ w + inputs["emotion"][:, 0, :] @ e)
        return {"result": out[:, None, :].astype(np.float32)}

    return infer


@pytest.fixture(scope="module")
def regression_pkg(tmp_path_factory: pytest.TempPathFactory):
    path = make_regression_package(tmp_path_factory.mktemp("reg"), num_verts_skin=60, seed=2)
    return load_package(path)


def _speechy(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.3 * env * rng.standard_normal(len(t))).astype(np.float32)


def test_regression_clip_matches_vertex_space_pipeline_when_composed_directly(
    regression_pkg,
) -> None:
    tables = BlendshapeOutputParams()
    face = FaceParams(skin_strength=1.2, lower_face_smoothing=0.01, upper_face_smoothing=0.004)
    anim = RegressionAnimator.from_package(regression_pkg, tables)
    info = regression_pkg.network_info
    rows = info.num_shapes_skin + info.num_shapes_tongue + 19
    infer = _linear_regression_net(rows)
    audio = _speechy(1.3)
    clip = animate_regression_clip(anim, audio, face, tables, infer)
    assert clip.weights.shape == (39, 68)  # frames with i*533.33 < 20800 -> 39
    # Direct composition in vertex space for the skin: PCA reconstruct -> post-process -> solve.
    md = regression_pkg.model_data
    v = info.num_verts_skin
    from a2f_actors import windows as win

    batch = win.clip_windows(win.regression_schedule(30, 1), len(audio))
    wins = win.cut_windows(audio, 0, batch.start, 8320, face.input_strength)
    res = infer(anim.network_inputs(wins, np.zeros((len(batch), 10), np.float32)))["result"][:, 0]
    coefs = res[:, : info.num_shapes_skin]
    deltas = (coefs @ md.shapes_matrix_skin).reshape(1, -1, v, 3)
    data = SkinData(
        md.shapes_mean_skin.reshape(v, 3),
        md.eye_close_pose_delta.reshape(v, 3),
        md.lip_open_pose_delta.reshape(v, 3),
    )
    verts, _ = postprocess_skin(
        deltas, data, face_param_arrays([face]), 1 / 30, new_skin_state(1, (v, 3))
    )
    skin = anim.skin
    problem: SolverProblem = skin.problem
    w_ref, _ = solve_targets(problem, verts.astype(np.float64), None)
    ref = np.zeros((len(batch), 68))
    ref[:, skin.index] = w_ref[0]
    np.testing.assert_allclose(clip.weights[:, skin.index], ref[:, skin.index], atol=1e-5)
    assert np.abs(ref).max() > 0.05  # the comparison is not between two near-zero arrays


def test_regression_output_params_apply_multipliers_offsets_and_clamp(regression_pkg) -> None:
    base = BlendshapeOutputParams()
    mult = list(base.multipliers)
    offs = list(base.offsets)
    jaw = BLENDSHAPES.index("JawOpen")
    mult[jaw], offs[jaw] = 2.0, 0.5
    clamped = BlendshapeOutputParams(multipliers=tuple(mult), offsets=tuple(offs))
    clamped = BlendshapeOutputParams(
        multipliers=tuple(mult), offsets=tuple(offs), enable_clamping=True
    )
    anim = RegressionAnimator.from_package(regression_pkg, base)
    info = regression_pkg.network_info
    infer = _linear_regression_net(info.num_shapes_skin + info.num_shapes_tongue + 19)
    audio = _speechy(0.5)
    plain = animate_regression_clip(anim, audio, FaceParams(), base, infer)
    scaled = animate_regression_clip(
        anim,
        audio,
        FaceParams(),
        BlendshapeOutputParams(multipliers=tuple(mult), offsets=tuple(offs)),
        infer,
    )
    clip = animate_regression_clip(anim, audio, FaceParams(), clamped, infer)
    np.testing.assert_allclose(scaled.weights[:, jaw], plain.weights[:, jaw] * 2 + 0.5, atol=1e-5)
    assert clip.weights.max() <= 1.0 and clip.weights.min() >= 0.0
    assert output_arrays([clamped])[2].tolist() == [True]


def test_regression_inactive_pose_outputs_zero_when_disabled_in_tables(regression_pkg) -> None:
    active = list(BlendshapeOutputParams().active_poses)
    jaw = BLENDSHAPES.index("JawOpen")
    active[jaw] = 0
    tables = BlendshapeOutputParams(active_poses=tuple(active))
    anim = RegressionAnimator.from_package(regression_pkg, tables)
    info = regression_pkg.network_info
    infer = _linear_regression_net(info.num_shapes_skin + info.num_shapes_tongue + 19)
    clip = animate_regression_clip(anim, _speechy(0.4), FaceParams(), tables, infer)
    assert np.all(clip.weights[:, jaw] == 0)
    assert np.any(clip.weights != 0)


def test_regression_clip_gives_no_frames_when_audio_is_empty(regression_pkg) -> None:
    tables = BlendshapeOutputParams()
    anim = RegressionAnimator.from_package(regression_pkg, tables)
    info = regression_pkg.network_info
    infer = _linear_regression_net(info.num_shapes_skin + info.num_shapes_tongue + 19)
    clip = animate_regression_clip(anim, np.zeros(0, np.float32), FaceParams(), tables, infer)
    assert clip.weights.shape == (0, 68)


def test_emotions_at_interpolates_keyframes_when_track_is_given() -> None:
    track = keyframes_from_time_codes(
        np.array([0.0, 1.0]), np.array([[0] * 10, [1] + [0] * 9], np.float32)
    )
    vals = emotions_at(track, np.array([0, 8000, 16000, 32000]))
    np.testing.assert_allclose(vals[:, 0], [0, 0.5, 1, 1], atol=1e-6)


def test_regression_fps_mismatch_is_rejected(regression_pkg) -> None:
    anim = RegressionAnimator.from_package(regression_pkg, BlendshapeOutputParams())
    with pytest.raises(ValueError, match="fps"):
        animate_regression_clip(
            anim, np.zeros(100, np.float32), FaceParams(), BlendshapeOutputParams(),
            lambda x: x, fps=Fraction(60),
        )  # fmt: skip


def test_diffusion_clip_runs_windows_in_order_and_carries_latents(tmp_path: Path) -> None:
    pkg = load_package(make_diffusion_package(tmp_path, num_verts_skin=40, seed=1))
    tables = BlendshapeOutputParams()
    anim = DiffusionAnimator.from_package(pkg, pkg.identities[1].name, tables)
    width = sum(anim.sizes)
    seen: list[float] = []
    rng = np.random.default_rng(0)
    proj = rng.normal(0, 0.01, (8, width)).astype(np.float32)

    def infer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert inputs["identity"].tolist() == [[0.0, 1.0, 0.0]]
        assert inputs["noise"].shape == (1, 3, 60, width)
        lat = inputs["input_latents"]
        seen.append(float(lat.sum()))
        x = inputs["window"][0]
        feats = np.stack([np.abs(x[i::8]).mean() for i in range(8)])
        pred = np.tile((feats @ proj)[None, None, :], (1, 60, 1)) * (1 + lat.mean())
        return {"prediction": pred.astype(np.float32), "output_latents": lat + 1.0}

    audio = _speechy(1.2)
    clip = animate_diffusion_clip(anim, audio, FaceParams(), tables, infer)
    assert clip.weights.shape == (72, 68)  # 1.2 s at 60 fps
    assert clip.fps == 60.0
    # latents are fed back: inference k sees the latents after k updates
    assert seen == [float(k * 2 * 2 * 256) for k in range(len(seen))]
    assert np.all(np.diff(clip.time_codes) > 0)


def test_packed_state_round_trips_exactly_and_animates_like_the_records(regression_pkg) -> None:
    """pack_state/unpack_state (the state's wire form) lose nothing: same frames after."""
    anim = RegressionAnimator.from_package(regression_pkg, BlendshapeOutputParams())
    tables = [BlendshapeOutputParams()] * 3
    params = face_param_arrays([FaceParams()] * 3)
    rng = np.random.default_rng(5)
    width = anim.num_skin + anim.num_tongue + 19
    rows = rng.normal(0, 0.3, (3, 4, width)).astype(np.float32)
    _, state = anim.animate(rows, params, output_arrays(tables), anim.new_state(3))
    packed = anim.pack_state(state)
    assert packed.dtype == np.float64 and packed.shape[0] == 3
    back = anim.unpack_state(packed)
    pairs = [
        (state.skin.upper, back.skin.upper),
        (state.skin.lower, back.skin.lower),
        (state.skin.initialized, back.skin.initialized),
        (state.eyes.clock, back.eyes.clock),
        (state.w_skin, back.w_skin),
        (state.w_tongue, back.w_tongue),
    ]
    for a, b in pairs:
        assert a.dtype == b.dtype and np.array_equal(a, b)
    more = rng.normal(0, 0.3, (3, 2, width)).astype(np.float32)
    direct, _ = anim.animate(more, params, output_arrays(tables), state)
    via, _ = anim.animate(more, params, output_arrays(tables), back)
    np.testing.assert_array_equal(direct.weights, via.weights)
    # a fresh state (no previous solve yet) packs to zeros, which the solver reads as "none"
    fresh = anim.unpack_state(anim.pack_state(anim.new_state(2)))
    assert not fresh.skin.initialized.any() and not fresh.w_skin.any()


def test_packed_state_of_another_width_is_rejected_with_the_expected_shape(regression_pkg) -> None:
    anim = RegressionAnimator.from_package(regression_pkg, BlendshapeOutputParams())
    width = anim.pack_state(anim.new_state(1)).shape[1]
    with pytest.raises(ValueError, match=rf"expected \[T, {width}\]"):
        anim.unpack_state(np.zeros((1, width + 1)))
