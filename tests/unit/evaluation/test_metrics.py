from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2f_actors.names import BLENDSHAPES
from a2f_train.evaluation import metrics as m
from a2f_train.evaluation.envelope import energy_vad, speech_envelope
from a2f_train.evaluation.segments import Segment, is_bilabial, is_silence, merge_segments

SR = 16000


def jaw_gap(weights: np.ndarray) -> np.ndarray:
    """Stand-in character: the lip gap is the JawOpen weight."""
    return np.asarray(weights)[:, m.JAW_OPEN]


def track(jaw: np.ndarray) -> np.ndarray:
    w = np.zeros((len(jaw), len(BLENDSHAPES)))
    w[:, m.JAW_OPEN] = jaw
    return w


def test_closure_threshold_is_ten_percent_of_neutral_to_jaw_open_gap() -> None:
    assert m.closure_threshold(jaw_gap) == pytest.approx(0.03)
    assert m.closure_threshold(lambda w: 1.0 + 2.0 * jaw_gap(w)) == pytest.approx(1.06)


def test_closure_threshold_rejects_a_gap_that_does_not_open() -> None:
    with pytest.raises(ValueError, match="does not grow"):
        m.closure_threshold(lambda w: np.zeros(len(w)))


def test_bilabial_closure_scores_three_of_four_closed_intervals() -> None:
    fps = 100
    t = np.arange(400) / fps
    jaw = np.full(t.size, 0.3)
    phones = [
        Segment(lab, s, s + 0.08) for lab, s in [("P", 0.5), ("B", 1.5), ("m", 2.5), ("M", 3.5)]
    ]
    for seg in phones[:3]:  # the fourth /m/ stays open
        jaw[(t >= seg.start_s + 0.02) & (t <= seg.start_s + 0.05)] = 0.0
    phones += [Segment("AA", 1.0, 1.2), Segment("SIL", 0.0, 0.4)]  # not bilabial: ignored
    res = m.bilabial_closure(track(jaw), phones, jaw_gap, 0.03, fps=fps)
    assert (res.score, res.closed, res.total) == (0.75, 3, 4)
    assert res.min_gaps[3] == pytest.approx(0.3)


def test_bilabial_closure_uses_nearest_frame_when_interval_is_shorter_than_a_frame() -> None:
    jaw = np.array([0.3, 0.0, 0.3, 0.3])  # 10 fps: frame 1 at 0.1 s is closed
    res = m.bilabial_closure(track(jaw), [Segment("m", 0.11, 0.13)], jaw_gap, 0.03, fps=10)
    assert res.score == 1.0


def test_bilabial_closure_is_nan_without_bilabials() -> None:
    res = m.bilabial_closure(track(np.zeros(10)), [Segment("aa", 0, 1)], jaw_gap, 0.03, fps=10)
    assert np.isnan(res.score) and res.total == 0


def test_rest_in_silence_ignores_edges_next_to_speech_only() -> None:
    fps = 100
    t = np.arange(300) / fps
    jaw = np.where((t >= 1.0) & (t < 2.0), 0.5, 0.0)
    jaw[(t >= 0.9) & (t < 1.0)] = 0.5  # anticipation inside the ignored 100 ms edge
    jaw[(t >= 2.5) & (t < 2.6)] = 0.5  # 10 open frames inside a scored silence
    sil = [Segment("sil", 0.0, 1.0), Segment("SIL", 2.0, 2.5), Segment("sil", 2.5, 3.0)]
    res = m.rest_in_silence(track(jaw), sil, 3.0, fps=fps)
    assert res.silent_frames == 180  # [0, 0.9) and [2.1, 3.0): clip edges are not trimmed
    assert res.rest_frames == 170
    assert res.score == pytest.approx(170 / 180)


def test_rest_in_silence_is_nan_without_silence() -> None:
    assert np.isnan(m.rest_in_silence(track(np.zeros(30)), [], 1.0, fps=30).score)


def modulated_noise(freq_hz: float, seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    env = 0.5 + 0.5 * np.sin(2 * np.pi * freq_hz * t)
    return (env * np.random.default_rng(seed).normal(0, 0.1, t.size)).astype(np.float32)


@pytest.mark.parametrize("delay_s", [0.05, -0.08, 0.0])
def test_energy_agreement_finds_the_delay_of_a_sine_jaw(delay_s: float) -> None:
    fps = 30
    t = np.arange(4 * fps) / fps
    jaw = 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * (t - delay_s))
    res = m.energy_agreement(jaw, modulated_noise(2.0, 4.0), fps=fps)
    assert res.lag_ms == pytest.approx(1000 * delay_s, abs=10)
    assert res.peak_r > 0.95
    assert res.peak_r >= res.r_at_zero


def test_energy_agreement_is_nan_for_a_constant_mouth() -> None:
    res = m.energy_agreement(np.zeros(120), modulated_noise(2.0, 4.0), fps=30)
    assert np.isnan(res.peak_r) and np.isnan(res.lag_ms)


def test_jitter_of_white_noise_exceeds_smooth_curve() -> None:
    fps = 30
    t = np.arange(6 * fps) / fps
    smooth = track(0.3 + 0.2 * np.sin(2 * np.pi * 3.0 * t))
    noisy = smooth.copy()
    noisy[:, list(m.REGIONS["mouth"])] += np.random.default_rng(0).normal(0, 0.05, (t.size, 23))
    assert m.jitter_ratio(smooth, fps) < 0.01
    assert m.jitter_ratio(noisy, fps) > 0.5


def test_jitter_is_zero_for_static_and_nan_when_undefined() -> None:
    assert m.jitter_ratio(track(np.full(60, 0.2)), 30) == 0.0
    assert np.isnan(m.jitter_ratio(track(np.zeros(5)), 30))
    assert np.isnan(m.jitter_ratio(track(np.zeros(60)), 15))  # no band above 8 Hz


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(8, 200))
def test_jitter_ratio_stays_in_unit_interval(seed: int, n: int) -> None:
    w = np.random.default_rng(seed).random((n, len(BLENDSHAPES)))
    assert 0.0 <= m.jitter_ratio(w, 60) <= 1.0


def test_region_mae_aligns_frame_rates_by_time_code() -> None:
    t30, t60 = np.arange(60) / 30, np.arange(118) / 60
    truth = np.tile(t30[:, None], (1, len(BLENDSHAPES)))  # linear ramp: exact interpolation
    pred = np.tile(t60[:, None], (1, len(BLENDSHAPES)))
    pred[:, list(m.REGIONS["mouth"])] += 0.1
    mae = m.region_mae(pred, t60, truth, t30)
    assert mae["mouth"] == pytest.approx(0.1)
    for region in ("eyes", "jaw", "brows_cheeks_nose", "tongue"):
        assert mae[region] == pytest.approx(0.0, abs=1e-9)
    assert mae["all"] == pytest.approx(0.1 * 23 / 68)


def test_region_mae_drops_frames_outside_truth_and_is_nan_without_overlap() -> None:
    truth = np.zeros((10, len(BLENDSHAPES)))
    pred = np.ones((20, len(BLENDSHAPES)))
    pred[:10] = 0.0
    mae = m.region_mae(pred, np.arange(20) / 10, truth, np.arange(10) / 10)
    assert mae["all"] == pytest.approx(0.0)
    assert np.isnan(m.region_mae(pred, np.arange(20) + 5.0, truth, np.arange(10) / 10)["all"])


def test_regions_partition_the_68_weights() -> None:
    idx = sorted(i for r in m.REGIONS.values() for i in r)
    assert idx == list(range(len(BLENDSHAPES)))
    assert BLENDSHAPES[m.REGIONS["tongue"][0]] == "TongueOut"


def test_weight_lip_gap_closes_with_mouth_close_and_opens_with_jaw() -> None:
    w = np.zeros((3, len(BLENDSHAPES)))
    w[1, m.JAW_OPEN] = 0.3
    w[2, m.JAW_OPEN] = w[2, m.MOUTH_CLOSE] = 0.3
    assert m.weight_lip_gap(w) == pytest.approx([0.0, 0.3, 0.0])


def test_energy_vad_finds_silence_between_speech() -> None:
    rng = np.random.default_rng(0)
    quiet, loud = rng.normal(0, 1e-4, SR), rng.normal(0, 0.1, SR)
    sil = energy_vad(np.concatenate([quiet, loud, quiet, loud]).astype(np.float32))
    assert [(round(s.start_s, 1), round(s.end_s, 1)) for s in sil] == [(0.0, 1.0), (2.0, 3.0)]


def test_speech_envelope_has_one_sample_per_analysis_step() -> None:
    env = speech_envelope(np.ones(SR, np.float32), 200)
    assert env.shape == (200,) and env == pytest.approx(1.0)


@pytest.mark.parametrize("label", ["P", "b", "M", "m", "pʰ", "EM", "bcl", "B1"])
def test_is_bilabial_across_inventories(label: str) -> None:
    assert is_bilabial(label)


@pytest.mark.parametrize("label", ["AH0", "f", "v", "sil", "_", "n"])
def test_is_bilabial_rejects_others(label: str) -> None:
    assert not is_bilabial(label)


@pytest.mark.parametrize("label", ["SIL", "sil", "<sil>", "pau", "_:", "_!", "h#", "sp"])
def test_is_silence_across_inventories(label: str) -> None:
    assert is_silence(label)


def test_is_silence_rejects_phones_and_noise_fillers() -> None:
    assert not any(is_silence(x) for x in ["AA", "m", "+NSN+", "p"])


def test_merge_segments_joins_touching_intervals() -> None:
    segs = [Segment("a", 1.0, 2.0), Segment("b", 0.0, 1.0), Segment("c", 3.0, 4.0)]
    assert merge_segments(segs) == [(0.0, 2.0), (3.0, 4.0)]
