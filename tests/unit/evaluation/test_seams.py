"""Window-seam test (a2f_train.evaluation.seams): speech-only, median over clips."""

from __future__ import annotations

import numpy as np
import pytest

from a2f_train.evaluation.seams import clip_seams, seam_test, speech_jumps


def _track(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """A smooth 60 fps "speech" track: ~3.7 Hz syllables with random amplitudes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 60)) / 60
    knots = np.arange(0, seconds + 1, 0.25)
    amp = np.interp(t, knots, rng.uniform(0.2, 0.6, knots.size))
    base = amp * (0.5 - 0.5 * np.cos(2 * np.pi * 3.7 * t + seed))
    return np.stack([base * (0.5 + 0.5 * k / 67) for k in range(68)], axis=1)


def test_speech_mask_drops_jumps_inside_silences() -> None:
    keep = speech_jumps(120, [(0.0, 0.5), (1.5, 2.0)])
    assert not keep[:29].any() and keep[30:89].all() and not keep[90:].any()


def test_smooth_track_passes_and_a_boundary_step_fails() -> None:
    clips = [_track(seed=s) for s in range(6)]
    clean = seam_test([clip_seams(w) for w in clips])
    assert clean["passes"]
    assert 0.8 < clean["boundary_mean_over_mean"]["median"] < 1.25
    stepped = []
    for w in clips:
        w = w.copy()
        for f in range(14, len(w) - 1, 30):  # a step at every window boundary
            w[f + 1 :] += 0.05
        stepped.append(clip_seams(w))
    bad = seam_test(stepped)
    assert not bad["passes"]
    assert bad["max_step_over_median"]["median"] > 3 * clean["max_step_over_median"]["median"]
    assert clean["boundary_over_other_phases"]["median"] < 1.3
    assert bad["boundary_over_other_phases"]["median"] > 1.5


def test_silence_frames_do_not_deflate_the_median() -> None:
    w = _track(3.0)
    w[:60] = 0.0  # one second of rest: zero jumps
    w[120:] = w[119]  # and a held pose after 2 s
    literal = clip_seams(w)["max_boundary_over_median"]
    speech = clip_seams(w, [(0.0, 1.0), (2.0, 3.0)])["max_boundary_over_median_speech"]
    assert speech < literal
    assert clip_seams(w, [(0.0, 3.0)]) == {}  # no speech boundary left


def test_a_blink_on_a_boundary_is_not_a_seam() -> None:
    w = _track(3.0, seed=3)
    w[75:79, 0] = w[75:79, 7] = 1.0  # EyeBlinkLeft/Right: a blink closing between frames 74, 75
    assert clip_seams(w, channels=None)["max_boundary_over_median_speech"] > 4
    assert clip_seams(w)["max_boundary_over_median_speech"] < 2.5


def test_package_animator_uses_the_noise_seed_it_is_given(tmp_path) -> None:
    """Development measurements compare the constant noise's seeds on the val split."""
    from a2f_actors.model_package.synthetic import make_diffusion_package
    from a2f_train.evaluation.package_runner import package_animator
    from deployments.triton import fixtures

    width = 40 * 3 + 12 * 3 + 15 + 4  # skin || tongue || jaw || eyes of the synthetic package
    onnx = fixtures.build_diffusion(num_identities=3, out_dim=width).SerializeToString()
    pkg = make_diffusion_package(tmp_path / "dif", onnx=onnx).parent
    audio = np.random.default_rng(2).uniform(-0.3, 0.3, 16000 * 2).astype(np.float32)
    tracks = {}
    for seed in (0, 0, 3):
        animate, desc = package_animator(pkg, noise_seed=seed)
        assert f"noise seed {seed}" in desc
        tracks.setdefault(seed, []).append(animate(audio).weights)
    np.testing.assert_array_equal(tracks[0][0], tracks[0][1])  # same seed: same frames
    assert not np.allclose(tracks[0][0], tracks[3][0])  # another noise: other frames


def test_package_animator_animates_the_identity_it_is_given(tmp_path) -> None:
    """``a2f eval --identity`` scores another speaking style; unknown names are refused."""
    from a2f_actors.errors import ModelPackageError
    from a2f_actors.model_package import load_package
    from a2f_actors.model_package.synthetic import make_diffusion_package
    from a2f_train.evaluation.package_runner import package_animator
    from deployments.triton import fixtures

    width = 40 * 3 + 12 * 3 + 15 + 4
    onnx = fixtures.build_diffusion(num_identities=3, out_dim=width).SerializeToString()
    pkg = make_diffusion_package(tmp_path / "dif", onnx=onnx).parent
    names = [i.name for i in load_package(pkg).identities]
    audio = np.random.default_rng(2).uniform(-0.3, 0.3, 16000 * 2).astype(np.float32)
    first, desc0 = package_animator(pkg)
    other, desc1 = package_animator(pkg, identity=names[1])
    assert f"identity {names[0]}" in desc0 and f"identity {names[1]}" in desc1
    assert not np.allclose(first(audio).weights, other(audio).weights)
    with pytest.raises(ModelPackageError, match="no identity"):
        package_animator(pkg, identity="nobody")


def test_identity_is_refused_for_a_regression_package(tmp_path) -> None:
    from a2f_actors.model_package.synthetic import make_regression_package
    from a2f_train.evaluation.package_runner import package_animator
    from deployments.triton import fixtures

    onnx = fixtures.build_regression().SerializeToString()
    pkg = make_regression_package(tmp_path / "reg", onnx=onnx).parent
    with pytest.raises(ValueError, match="no identities"):
        package_animator(pkg, identity="ada_crisp")
