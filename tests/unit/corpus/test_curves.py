from __future__ import annotations

import numpy as np
import pytest

from a2f_actors.names import BLENDSHAPES
from a2f_train.corpus import curves
from a2f_train.corpus.clipgen import pad_utterance
from a2f_train.corpus.phonemes import SILENCE, PhoneSeq

IDX = {n: i for i, n in enumerate(BLENDSHAPES)}


def _seq(items):
    """[(label, start, end, release or None)] -> PhoneSeq."""
    start = np.array([s for _, s, _, _ in items])
    end = np.array([e for _, _, e, _ in items])
    rel = np.array([e if r is None else r for _, _, e, r in items])
    labels = tuple(lab for lab, _, _, _ in items)
    return PhoneSeq(start, end, rel, labels, labels)


PHONES = _seq([
    ("sil", 0.0, 0.5, None), ("m", 0.5, 0.6, None), ("aa", 0.6, 0.8, None),
    ("p", 0.8, 0.95, 0.9), ("uw", 0.95, 1.15, None), ("f", 1.15, 1.25, None),
    ("iy", 1.25, 1.4, None), ("b", 1.4, 1.47, 1.45), ("ae", 1.47, 1.6, None),
    ("sil", 1.6, 2.2, None),
])  # fmt: skip


def _at(t, fps=120):
    times = np.arange(0, 2.2, 1 / fps)
    w = curves.articulation(PHONES, times)
    return times, w


def test_rest_in_silence():
    times, w = _at(0)
    deep = (times < 0.5 - 0.06) | (times > 1.6 + 0.06)
    assert np.all(w[deep] == 0.0)


def test_bilabial_closure_pattern_during_p_b_m():
    times, w = _at(0)
    for s, r in PHONES.closures():
        inside = (times >= s) & (times <= r)
        assert inside.any()
        for name, val in curves.CLOSURE_PATTERN.items():
            np.testing.assert_allclose(w[inside, IDX[name]], val, atol=1e-6)
        assert np.all(w[inside, IDX["JawOpen"]] <= 0.05)
        np.testing.assert_allclose(w[inside, IDX["MouthClose"]], w[inside, IDX["JawOpen"]])


def test_every_30fps_grid_sees_a_short_closure():
    short = _seq(
        [
            ("sil", 0, 0.3, None),
            ("aa", 0.3, 0.5, None),
            ("b", 0.5, 0.52, 0.51),
            ("aa", 0.52, 0.7, None),
            ("sil", 0.7, 1.0, None),
        ]
    )
    for offset in np.linspace(0, 1 / 30, 7):
        t = offset + np.arange(0, 1.0, 1 / 30)
        w = curves.articulation(short, t)
        assert np.any(np.isclose(w[:, IDX["MouthClose"]], curves.CLOSED_JAW))


def test_open_rounded_and_labiodental_targets():
    times, w = _at(0)
    at = lambda t: w[np.argmin(np.abs(times - t))]  # noqa: E731
    assert at(0.7)[IDX["JawOpen"]] > 0.3  # /aa/ open
    assert at(1.05)[IDX["MouthPucker"]] > 0.4  # /uw/ rounded
    assert at(1.2)[IDX["MouthRollLower"]] > 0.25  # /f/ lower lip to teeth
    assert at(1.32)[IDX["MouthStretchLeft"]] > 0.15  # /iy/ spread


def test_tongue_targets():
    seq = _seq(
        [
            ("sil", 0, 0.2, None),
            ("l", 0.2, 0.35, None),
            ("aa", 0.35, 0.5, None),
            ("th", 0.5, 0.65, None),
            ("aa", 0.65, 0.8, None),
            ("k", 0.8, 0.95, 0.93),
            ("sil", 0.95, 1.2, None),
        ]
    )
    t = np.array([0.275, 0.575, 0.875])
    w = curves.articulation(seq, t)
    assert w[0, IDX["TongueTipUp"]] > 0.5
    assert w[1, IDX["TongueOut"]] > 0.1
    assert w[2, IDX["TongueUp"]] > 0.3


def test_30_and_60_fps_agree_at_shared_instants():
    w30 = curves.articulation(PHONES, curves.frame_times(2.2 * 16000, 30))
    w60 = curves.articulation(PHONES, curves.frame_times(2.2 * 16000, 60))
    assert w60.shape[0] == 2 * w30.shape[0]
    np.testing.assert_array_equal(w60[::2], w30)


def test_deterministic():
    t = curves.frame_times(35200, 30)
    np.testing.assert_array_equal(curves.articulation(PHONES, t), curves.articulation(PHONES, t))


@pytest.mark.parametrize("fixture", ["espeak_utt", "flite_utt"])
def test_rest_and_closure_scores_on_synthetic_speech(fixture, request):
    utt = pad_utterance(request.getfixturevalue(fixture), 0.3, 0.3)
    t = curves.frame_times(utt.audio.shape[0], 30)
    w = curves.articulation(utt.phones, t)
    k = np.searchsorted(utt.phones.start, t, side="right") - 1
    silent = np.array([utt.phones.label[i] == SILENCE for i in k])
    assert np.mean(w[silent, IDX["JawOpen"]] < 0.05) >= 0.95
    for s, r in curves.closure_intervals(utt.phones):
        inside = (t >= s) & (t <= r)
        assert inside.any()
        assert np.all(w[inside, IDX["JawOpen"]] <= 0.05)


@pytest.fixture(scope="module")
def character():
    from a2f_train.corpus import targets

    try:
        return targets.load_character()
    except targets.CharacterUnavailable as exc:  # pragma: no cover - built in parallel
        pytest.skip(str(exc))


@pytest.mark.parametrize("fixture", ["espeak_utt", "flite_utt"])
def test_character_lips_meet_during_bilabial_closures(fixture, request, character):
    from a2f_train.corpus import expression

    utt = pad_utterance(request.getfixturevalue(fixture), 0.3, 0.3)
    t = curves.frame_times(utt.audio.shape[0], 60)
    style = curves.ArticulationStyle()
    for emotion in ("neutral", "disgust", "joy"):
        off = expression.emotion_offset(emotion, 1.0)
        w = curves.face_weights(utt.phones, t, style, off, np.zeros_like(t))
        inside = np.zeros(t.shape, bool)
        for s, r in curves.closure_intervals(utt.phones):
            inside |= (t >= s) & (t <= r)
        assert inside.sum() >= 4
        assert np.max(character.lip_gap(w[inside])) < 1e-3
        vowels = np.array(
            [
                lab in ("aa", "ae", "ao")
                for lab in np.array(utt.phones.label)[
                    np.searchsorted(utt.phones.start, t, "right") - 1
                ]
            ]
        )
        if vowels.any():
            assert np.median(character.lip_gap(w[vowels])) > 0.2
