"""Emotion expression offsets, emotional prosody, blinks and eye saccades.

* Emotions: NVIDIA's 10 explicit emotions (``A2F_EMOTIONS`` order) plus ``neutral`` (all-zero
  vector). Each has an offset [68] (brows, smile/frown, squint, sneer, eye wide...) scaled by the
  clip's intensity in [0, 1]; the explicit emotion vector stored per clip is the one-hot row
  times the intensity. Offsets never touch JawOpen/MouthClose, so rest and closures survive.
* Prosody per emotion: rate, pitch and pitch-range multipliers the engines apply, so the
  emotion is audible (the later emotion model has something to learn).
* Blinks: inter-blink intervals uniform in [2, 6] s, each ~150 ms (fast close, slower open).
* Eyes: fixations with gamma-distributed durations joined by ~40 ms saccades; angles in degrees,
  ``[right_x, right_y, left_x, left_y]`` with x = pitch (positive up) and y = yaw (positive to
  the character's left), plus a small constant vergence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES, NUM_A2F_EMOTIONS, NUM_BLENDSHAPES

__all__ = [
    "EMOTIONS",
    "PROSODY",
    "Prosody",
    "blink_curve",
    "blink_times",
    "emotion_offset",
    "emotion_vector",
    "eye_angles",
    "saccade_track",
]

EMOTIONS: tuple[str, ...] = ("neutral", *A2F_EMOTIONS)
BLINK_INTERVAL_S = (2.0, 6.0)
BLINK_DURATION_S = (0.12, 0.18)
BLINK_CLOSE_FRACTION = 0.4  # share of the blink spent closing (the rest opening)
SACCADE_S = 0.04
FIXATION_MEAN_S = 0.8
GAZE_STD_DEG = (3.0, 5.0)  # pitch, yaw spread of fixation targets
VERGENCE_DEG = 1.0


def _lr(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


_OFFSETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "amazement": {"BrowInnerUp": 0.6, **_lr("BrowOuterUp", 0.6), **_lr("EyeWide", 0.5),
                  **_lr("MouthUpperUp", 0.05)},
    "anger": {**_lr("BrowDown", 0.7), **_lr("EyeSquint", 0.35), **_lr("NoseSneer", 0.35),
              **_lr("MouthPress", 0.2), **_lr("MouthFrown", 0.2)},
    "cheekiness": {"MouthSmileLeft": 0.45, "MouthSmileRight": 0.15, "BrowOuterUpLeft": 0.35,
                   "EyeSquintRight": 0.25, "MouthLeft": 0.15, "CheekSquintLeft": 0.2},
    "disgust": {**_lr("NoseSneer", 0.6), "MouthUpperUpLeft": 0.25, "MouthUpperUpRight": 0.15,
                **_lr("BrowDown", 0.35), **_lr("EyeSquint", 0.3), "MouthShrugUpper": 0.2},
    "fear": {"BrowInnerUp": 0.7, **_lr("BrowOuterUp", 0.3), **_lr("EyeWide", 0.55),
             **_lr("MouthStretch", 0.35)},
    "grief": {"BrowInnerUp": 0.75, **_lr("MouthFrown", 0.55), "MouthShrugLower": 0.35,
              **_lr("EyeSquint", 0.2), **_lr("EyeBlink", 0.15)},
    "joy": {**_lr("MouthSmile", 0.6), **_lr("CheekSquint", 0.45), **_lr("EyeSquint", 0.25),
            **_lr("MouthDimple", 0.2)},
    "outofbreath": {**_lr("MouthStretch", 0.15), "BrowInnerUp": 0.35, **_lr("NoseSneer", 0.15),
                    **_lr("EyeSquint", 0.15), **_lr("MouthUpperUp", 0.08)},
    "pain": {**_lr("BrowDown", 0.5), "BrowInnerUp": 0.4, **_lr("EyeSquint", 0.55),
             **_lr("NoseSneer", 0.35), **_lr("MouthStretch", 0.3), **_lr("CheekSquint", 0.3)},
    "sadness": {"BrowInnerUp": 0.55, **_lr("MouthFrown", 0.45), **_lr("EyeBlink", 0.12),
                "MouthShrugLower": 0.2},
}  # fmt: skip


@dataclass(frozen=True)
class Prosody:
    """Emotional prosody: multipliers/offsets the speech engines apply.

    Attributes:
        rate: speaking-rate multiplier (> 1 faster).
        pitch_semitones: mean pitch shift.
        range_scale: pitch-range multiplier.
    """

    rate: float
    pitch_semitones: float
    range_scale: float


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(1.0, 0.0, 1.0),
    "amazement": Prosody(0.95, 4.0, 1.6),
    "anger": Prosody(1.1, 2.0, 1.4),
    "cheekiness": Prosody(1.05, 2.5, 1.3),
    "disgust": Prosody(0.9, -1.5, 1.1),
    "fear": Prosody(1.18, 4.5, 1.2),
    "grief": Prosody(0.75, -2.5, 0.6),
    "joy": Prosody(1.08, 3.5, 1.5),
    "outofbreath": Prosody(1.12, 1.5, 0.9),
    "pain": Prosody(0.85, 1.0, 1.3),
    "sadness": Prosody(0.8, -3.0, 0.5),
}


def emotion_offset(emotion: str, intensity: float) -> np.ndarray:
    """[68] float32 expression offset of ``emotion`` at ``intensity`` in [0, 1].

    Raises:
        KeyError: for a name outside ``EMOTIONS``.
    """
    out = np.zeros(NUM_BLENDSHAPES, np.float32)
    for name, val in _OFFSETS[emotion].items():
        out[BLENDSHAPES.index(name)] = val * intensity
    return out


def emotion_vector(emotion: str, intensity: float) -> np.ndarray:
    """[10] float32 explicit emotion vector (A2F order); ``neutral`` is all zeros."""
    vec = np.zeros(NUM_A2F_EMOTIONS, np.float32)
    if emotion != "neutral":
        vec[A2F_EMOTIONS.index(emotion)] = intensity
    return vec


def blink_times(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """[B, 2] (start, length) seconds of blinks in a clip; the first after 0.3..3 s."""
    out = []
    t = float(rng.uniform(0.3, 3.0))
    while t < duration_s:
        out.append((t, float(rng.uniform(*BLINK_DURATION_S))))
        t += float(rng.uniform(*BLINK_INTERVAL_S))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def blink_curve(blinks: np.ndarray, times: np.ndarray) -> np.ndarray:
    """[T] eyelid closure in [0, 1] (EyeBlink weight) at ``times`` (seconds)."""
    out = np.zeros_like(times)
    for start, length in blinks:
        u = (times - start) / length
        close = BLINK_CLOSE_FRACTION
        rising = np.sin(0.5 * np.pi * np.clip(u / close, 0, 1)) ** 2
        falling = np.cos(0.5 * np.pi * np.clip((u - close) / (1 - close), 0, 1)) ** 2
        val = np.where(u < close, rising, falling)
        out = np.maximum(out, np.where((u >= 0) & (u <= 1), val, 0.0))
    return out


def saccade_track(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """[K, 3] (onset s, pitch deg, yaw deg): the gaze target from each onset on."""
    rows = [(0.0, *rng.normal(0.0, GAZE_STD_DEG) * 0.5)]
    t = 0.0
    while True:
        t += float(rng.gamma(2.0, FIXATION_MEAN_S / 2.0))
        if t >= duration_s:
            break
        rows.append((t, *rng.normal(0.0, GAZE_STD_DEG)))
    return np.asarray(rows, dtype=np.float64)


def eye_angles(track: np.ndarray, times: np.ndarray) -> np.ndarray:
    """[T, 4] float32 eye angles in degrees (right x, right y, left x, left y) at ``times``.

    Each saccade moves from the previous target to the next with a smoothstep over
    ``SACCADE_S`` seconds.
    """
    pitch = np.full_like(times, track[0, 1])
    yaw = np.full_like(times, track[0, 2])
    for k in range(1, track.shape[0]):
        u = np.clip((times - track[k, 0]) / SACCADE_S, 0.0, 1.0)
        s = u * u * (3 - 2 * u)
        pitch = pitch + s * (track[k, 1] - track[k - 1, 1])
        yaw = yaw + s * (track[k, 2] - track[k - 1, 2])
    verg = VERGENCE_DEG / 2
    return np.stack([pitch, yaw - verg, pitch, yaw + verg], axis=1).astype(np.float32)
