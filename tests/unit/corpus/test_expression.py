from __future__ import annotations

import numpy as np

from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from a2f_train.corpus import expression


def test_emotion_vector_and_offsets():
    assert not expression.emotion_vector("neutral", 1.0).any()
    v = expression.emotion_vector("joy", 0.7)
    assert v.shape == (10,) and v[A2F_EMOTIONS.index("joy")] == np.float32(0.7)
    for emo in expression.EMOTIONS[1:]:
        off = expression.emotion_offset(emo, 1.0)
        assert off.shape == (68,) and off.max() > 0.2
        assert off[BLENDSHAPES.index("JawOpen")] == 0 and off[BLENDSHAPES.index("MouthClose")] == 0
    np.testing.assert_allclose(
        expression.emotion_offset("anger", 0.5) * 2,
        expression.emotion_offset("anger", 1.0),
        rtol=1e-6,
    )


def test_blinks_interval_and_shape():
    rng = np.random.default_rng(0)
    b = expression.blink_times(120.0, rng)
    gaps = np.diff(b[:, 0])
    assert np.all((gaps >= 2.0) & (gaps <= 6.0))
    assert np.all((b[:, 1] >= 0.12) & (b[:, 1] <= 0.18))
    t = np.arange(0, 120, 1 / 60)
    c = expression.blink_curve(b, t)
    assert c.max() > 0.95 and c.min() == 0.0
    assert np.mean(c > 0) < 0.1


def test_eye_angles_saccades():
    rng = np.random.default_rng(1)
    track = expression.saccade_track(10.0, rng)
    t = np.arange(0, 10, 1 / 30)
    eyes = expression.eye_angles(track, t)
    assert eyes.shape == (t.size, 4) and eyes.dtype == np.float32
    np.testing.assert_allclose(eyes[:, 0], eyes[:, 2])  # conjugate pitch
    assert np.all(np.abs(eyes) < 30)
    assert track.shape[0] > 3
