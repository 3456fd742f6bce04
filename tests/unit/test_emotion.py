"""A2E post-processing and emotion keyframe tracks (a2f_actors.emotion)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2f_actors import emotion as em
from a2f_actors.errors import ConfigError
from a2f_actors.names import A2E_EMOTIONS
from a2f_actors.params import EmotionPostParams
from a2f_actors.xp import backend, to_numpy

BACKENDS = ["numpy", pytest.param("cupy", marks=pytest.mark.requires_gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    return backend(request.param)


def _params() -> list[EmotionPostParams]:
    begin = (0.4, 0.0, 0.2, 0.0, 0.0, 0.1, 0.0, 0.3, 0.0, 0.0)
    pref = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    return [
        EmotionPostParams(
            emotion_contrast=2.0, max_emotions=2, live_blend_coef=0.5, beginning_emotion=begin,
            enable_preferred_emotion=True, preferred_emotion=pref, preferred_emotion_strength=0.25,
            live_transition_time=0.1, fixed_dt=0.033, emotion_strength=0.6,
        ),
        EmotionPostParams(max_emotions=3, live_transition_time=0.0),
    ]  # fmt: skip


def _ref_track(logits: np.ndarray, p: EmotionPostParams) -> np.ndarray:
    """Plain-Python transcription of SDK postprocess.cpp for one track."""
    corr = [p.emotion_correspondence[n] for n in A2E_EMOTIONS]
    working = list(p.beginning_emotion)
    prev, prev_blended, outs = list(p.beginning_emotion), [0.0] * 10, []
    for f, row in enumerate(logits):
        z = [p.emotion_contrast * float(v) for v in row]
        e = [math.exp(v - max(z)) for v in z]
        prob = [v / sum(e) for v in e]
        prob = [0.0 if corr[j] == -1 else prob[j] for j in range(6)]
        order = sorted(range(6), key=lambda j: prob[j], reverse=True)
        prob = [prob[j] if j in order[: p.max_emotions] else 0.0 for j in range(6)]
        for j in range(6):
            if corr[j] != -1:
                working[corr[j]] = prob[j]
        a = [(1 - p.live_blend_coef) * working[k] + p.live_blend_coef * prev[k] for k in range(10)]
        prev = list(a)
        if p.enable_preferred_emotion:
            s = p.preferred_emotion_strength
            a = [(1 - s) * a[k] + s * p.preferred_emotion[k] for k in range(10)]
        if f > 0:
            w = min(p.fixed_dt / max(p.live_transition_time, 1e-3), 1.0)
            a = [w * a[k] + (1 - w) * prev_blended[k] for k in range(10)]
        prev_blended = list(a)
        working = [v * p.emotion_strength for v in a]
        outs.append(list(working))
    return np.array(outs)


def test_postprocess_matches_hand_computation_when_first_frame_is_processed(xp) -> None:
    p = _params()[0]
    logits = np.array([[[1.0, 0.0, 0.5, 2.0, 3.0, -1.0]]], dtype=np.float32)
    out, _ = em.postprocess_emotions(
        xp.asarray(logits), em.emotion_param_arrays([p], xp), em.new_emotion_state(1, xp)
    )
    # softmax(2*logits); neutral (index 4) zeroed; top 2 of the rest: happy (3) and angry (0).
    e = np.exp(2 * logits[0, 0] - 6.0)
    prob = e / e.sum()
    happy, angry = prob[3], prob[0]
    expect = np.array(p.beginning_emotion)  # unmapped slots keep beginning_emotion
    expect[[1, 3, 4, 9]] = 0.0  # disgust, fear, sad dropped by top-2; anger/joy set below
    expect[1], expect[6] = angry, happy
    expect = 0.5 * expect + 0.5 * np.array(p.beginning_emotion)  # live blend with beginning
    expect = 0.75 * expect + 0.25 * np.array(p.preferred_emotion)  # preferred emotion
    expect *= 0.6  # no transition smoothing on the first frame; then emotion_strength
    np.testing.assert_allclose(to_numpy(out)[0, 0], expect, rtol=1e-5, atol=1e-6)


def test_postprocess_matches_sdk_transcription_when_tracks_run_many_frames(xp) -> None:
    params = _params()
    logits = np.random.default_rng(7).normal(size=(2, 6, 6)).astype(np.float32) * 2
    out, state = em.postprocess_emotions(
        xp.asarray(logits), em.emotion_param_arrays(params, xp), em.new_emotion_state(2, xp)
    )
    for t in range(2):
        np.testing.assert_allclose(to_numpy(out)[t], _ref_track(logits[t], params[t]), atol=1e-5)
    assert not to_numpy(state.first_frame).any()


def test_postprocess_is_chunking_invariant_when_frames_are_fed_one_by_one(xp) -> None:
    pa = em.emotion_param_arrays(_params(), xp)
    logits = xp.asarray(np.random.default_rng(3).normal(size=(2, 5, 6)).astype(np.float32))
    whole, _ = em.postprocess_emotions(logits, pa, em.new_emotion_state(2, xp))
    state, parts = em.new_emotion_state(2, xp), []
    for f in range(5):
        out, state = em.postprocess_emotions(logits[:, f : f + 1], pa, state)
        parts.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), to_numpy(whole), atol=1e-7)


def test_postprocess_keeps_tracks_apart_when_run_separately_or_batched(xp) -> None:
    params = _params()
    logits = xp.asarray(np.random.default_rng(5).normal(size=(2, 4, 6)).astype(np.float32))
    both, _ = em.postprocess_emotions(
        logits, em.emotion_param_arrays(params, xp), em.new_emotion_state(2, xp)
    )
    for t in range(2):
        one, _ = em.postprocess_emotions(
            logits[t : t + 1], em.emotion_param_arrays([params[t]], xp), em.new_emotion_state(1, xp)
        )
        np.testing.assert_allclose(to_numpy(one)[0], to_numpy(both)[t], atol=1e-7)


def test_transition_weight_is_clamped_when_transition_time_is_tiny() -> None:
    pa = em.emotion_param_arrays([EmotionPostParams(live_transition_time=0.0), EmotionPostParams()])
    assert pa.transition_w.tolist() == pytest.approx([1.0, 0.033 / 0.5])


def test_param_arrays_reject_correspondence_when_index_is_out_of_range() -> None:
    bad = EmotionPostParams(emotion_correspondence={"angry": 12})
    with pytest.raises(ConfigError, match="angry"):
        em.emotion_param_arrays([bad])


# --- keyframe tracks ---------------------------------------------------------------------------


def _track(closed: bool) -> em.EmotionKeyframes:
    vals = np.zeros((2, 10), dtype=np.float32)
    vals[0, 6], vals[1, 6], vals[1, 4] = 1.0, 0.0, 1.0
    track = em.append_keyframes(em.EmotionKeyframes.empty(), [0, 16000], vals)
    return em.close_keyframes(track) if closed else track


def test_read_interpolates_linearly_when_time_is_between_keys() -> None:
    values, ok = em.read_keyframes(_track(False), [0, 4000, 16000])
    assert ok.tolist() == [True, True, True]
    assert values[:, 6].tolist() == pytest.approx([1.0, 0.75, 0.0])
    assert values[:, 4].tolist() == pytest.approx([0.0, 0.25, 1.0])


def test_read_returns_first_key_when_time_is_before_first() -> None:
    values, ok = em.read_keyframes(_track(False), [-500])
    assert ok.tolist() == [True] and values[0, 6] == 1.0


def test_read_is_not_available_when_track_is_open_and_time_is_past_last() -> None:
    values, ok = em.read_keyframes(_track(False), [16000, 16001])
    assert ok.tolist() == [True, False]
    assert values[1].tolist() == [0.0] * 10


def test_read_returns_last_key_when_track_is_closed_and_time_is_past_last() -> None:
    values, ok = em.read_keyframes(_track(True), [99999])
    assert ok.tolist() == [True] and values[0, 4] == 1.0


def test_read_is_not_available_when_track_is_empty() -> None:
    _, ok = em.read_keyframes(em.EmotionKeyframes.empty(), [0])
    assert ok.tolist() == [False]


def test_append_rejects_keys_when_timestamps_do_not_increase() -> None:
    with pytest.raises(ConfigError, match="strictly increasing"):
        em.append_keyframes(_track(False), [16000], np.zeros((1, 10)))
    with pytest.raises(ConfigError, match="closed"):
        em.append_keyframes(_track(True), [20000], np.zeros((1, 10)))
    with pytest.raises(ConfigError, match="empty"):
        em.close_keyframes(em.EmotionKeyframes.empty())


def test_time_codes_are_sorted_into_samples_when_given_out_of_order() -> None:
    track = em.keyframes_from_time_codes([1.0, 0.0], np.eye(10)[:2], closed=True)
    assert track.timestamps.tolist() == [0, 16000]
    assert track.values[0, 1] == 1.0 and track.closed
    with pytest.raises(ConfigError, match="share one time code"):
        em.keyframes_from_time_codes([0.5, 0.5], np.zeros((2, 10)))


def test_combine_prefers_user_keys_when_user_track_is_not_empty() -> None:
    detected = em.append_keyframes(em.EmotionKeyframes.empty(), [0], np.full((1, 10), 0.5))
    default = np.zeros(10)
    values, ok = em.combine_emotion_sources([8000], _track(True), detected, default)
    assert ok.tolist() == [True] and values[0, 6] == pytest.approx(0.5)
    values, ok = em.combine_emotion_sources([0, 10], em.EmotionKeyframes.empty(), detected, default)
    assert ok.tolist() == [True, False] and values[0, 0] == pytest.approx(0.5)
    values, ok = em.combine_emotion_sources([3], None, None, np.arange(10))
    assert ok.tolist() == [True] and values[0].tolist() == list(range(10))
