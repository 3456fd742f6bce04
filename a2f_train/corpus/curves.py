"""Phone timings -> viseme targets -> 68 ARKit/tongue weight curves with coarticulation.

Model (Cohen & Massaro 1993, "Modeling coarticulation in synthetic visual speech"): every phone
``i`` has a target vector ``T_i`` [68] and a per-dimension dominance magnitude ``a_i`` [68];
its dominance over time is a plateau-then-decay function of the distance to its centre ``c_i``

    D_i(t) = exp(-(max(0, |t - c_i| - h_i) / tau_i(t)) ** KAPPA),
    tau_i(t) = TAU_ANTICIPATION_S if t < c_i else TAU_CARRYOVER_S     (look-ahead > carry-over)

and the articulation is the dominance-weighted mean of the targets, per dimension:

    w_d(t) = sum_i D_i(t) a_id T_id / (sum_i D_i(t) a_id + EPS).

``h_i`` is a quarter of the phone's duration (a short hold). Silence phones have a zero target
and full dominance. Hard constraints are applied on top, pointwise in time (so 30 and 60 fps
curves agree exactly at shared instants):

* rest: inside a pause, farther than ``silence_ramp_s`` from speech, every weight is 0; the
  ramp is ``(1 - d / ramp) ** 2`` with ``d`` the distance into the pause;
* bilabial closure: over each /p b m/ ``[start, release]`` interval (widened to ``MIN_HOLD_S``
  so every 30 fps frame grid sees it) the lip weights are replaced by :data:`CLOSURE_PATTERN`
  (JawOpen small, MouthClose equal to JawOpen so the lips meet, lip-opening shapes 0), blended
  in over ``CLOSURE_BLEND_S`` on both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from a2f_actors.names import BLENDSHAPES, NUM_BLENDSHAPES
from a2f_train.corpus.phonemes import BILABIALS, SILENCE, VISEME_OF, PhoneSeq

__all__ = [
    "CLOSURE_PATTERN",
    "TARGETS",
    "ArticulationStyle",
    "apply_closures",
    "articulation",
    "face_weights",
    "frame_times",
]

IDX = {name: i for i, name in enumerate(BLENDSHAPES)}
KAPPA = 1.5
TAU_ANTICIPATION_S = 0.075  # reach of a phone into the time before its centre
TAU_CARRYOVER_S = 0.055  # reach into the time after it
HOLD_FRACTION = 0.25  # plateau half-width as a share of the phone's duration
EPS = 1e-6
MIN_HOLD_S = 0.045  # bilabial closures last at least this long on screen (> 1/30 s)
CLOSURE_BLEND_S = 0.03  # blend into / out of the closure pattern
CLOSED_JAW = 0.045  # JawOpen during a bilabial closure (teeth slightly apart, lips sealed)


def _lr(name: str, value: float) -> dict[str, float]:
    return {f"{name}Left": value, f"{name}Right": value}


def _v(jaw: float, **extra: float) -> dict[str, float]:
    """A vowel target: JawOpen plus lip opening proportional to the jaw."""
    out = {"JawOpen": jaw, **_lr("MouthLowerDown", 0.6 * jaw), **_lr("MouthUpperUp", 0.15 * jaw)}
    for key, val in extra.items():
        if key in IDX:
            out[key] = val
        else:
            out.update(_lr(key, val))
    return out


#: Lip/jaw weights during a bilabial closure; every name listed is overridden.
CLOSURE_PATTERN: dict[str, float] = {
    "JawOpen": CLOSED_JAW, "MouthClose": CLOSED_JAW, "MouthFunnel": 0.0,
    **_lr("MouthLowerDown", 0.0), **_lr("MouthUpperUp", 0.0), **_lr("MouthStretch", 0.0),
    **_lr("MouthPress", 0.25), "MouthRollLower": 0.1, "MouthRollUpper": 0.1, "TongueOut": 0.0,
}  # fmt: skip

#: Viseme (or vowel) -> target weights; unlisted dimensions target 0.
TARGETS: dict[str, dict[str, float]] = {
    "rest": {},
    "bilabial": dict(CLOSURE_PATTERN),
    "labiodental": {
        "JawOpen": 0.07, "MouthRollLower": 0.45, "MouthClose": 0.03, **_lr("MouthUpperUp", 0.12),
        **_lr("MouthLowerDown", 0.0), "MouthFunnel": 0.0,
    },
    "dental": {"JawOpen": 0.12, "TongueOut": 0.25, "TongueTipUp": 0.3, "TongueStretch": 0.4},
    "alveolar": {"JawOpen": 0.09, "TongueTipUp": 0.8},
    "lateral": {"JawOpen": 0.14, "TongueTipUp": 0.9, "TongueNarrow": 0.4},
    "sibilant": {"JawOpen": 0.04, **_lr("MouthStretch", 0.2), "TongueTipUp": 0.5,
                 "TongueNarrow": 0.3},
    "postalveolar": {"JawOpen": 0.08, "MouthFunnel": 0.45, "MouthPucker": 0.25,
                     **_lr("MouthUpperUp", 0.15), "TongueTipUp": 0.4, "TongueRollUp": 0.4,
                     "TongueWide": 0.3},
    "velar": {"JawOpen": 0.16, "TongueUp": 0.65, "TongueIn": 0.3},
    "rhotic": {"JawOpen": 0.1, "MouthPucker": 0.3, "MouthFunnel": 0.2, "TongueRollUp": 0.5,
               "TongueTipUp": 0.2, "TongueIn": 0.3},
    "round_glide": {"JawOpen": 0.06, "MouthPucker": 0.8, "MouthFunnel": 0.3},
    "palatal": {"JawOpen": 0.08, **_lr("MouthStretch", 0.2), "TongueUp": 0.5, "TongueWide": 0.3},
    "glottal": {"JawOpen": 0.15},
    "vowel_aa": _v(0.55, TongueDown=0.4),
    "vowel_ae": _v(0.45, MouthStretch=0.25, TongueDown=0.2, TongueWide=0.2),
    "vowel_ah": _v(0.38, TongueDown=0.2),
    "vowel_ao": _v(0.45, MouthFunnel=0.35, MouthPucker=0.1, TongueDown=0.3, TongueIn=0.2),
    "vowel_ax": _v(0.22),
    "vowel_eh": _v(0.3, MouthStretch=0.2, TongueUp=0.2),
    "vowel_er": _v(0.18, MouthFunnel=0.25, MouthPucker=0.15, TongueRollUp=0.4),
    "vowel_ih": _v(0.2, MouthStretch=0.25, TongueUp=0.35),
    "vowel_iy": _v(0.12, MouthStretch=0.35, MouthSmile=0.1, TongueUp=0.5, TongueStretch=0.2),
    "vowel_uh": _v(0.2, MouthPucker=0.35, MouthFunnel=0.2, TongueIn=0.3),
    "vowel_uw": _v(0.12, MouthPucker=0.8, MouthFunnel=0.35, TongueIn=0.3, TongueUp=0.3),
}  # fmt: skip
#: Diphthongs: two targets at 30 % and 75 % of the phone.
DIPHTHONGS: dict[str, tuple[str, str]] = {
    "vowel_aw": ("vowel_aa", "vowel_uw"), "vowel_ay": ("vowel_aa", "vowel_iy"),
    "vowel_ey": ("vowel_eh", "vowel_iy"), "vowel_ow": ("vowel_ao", "vowel_uw"),
    "vowel_oy": ("vowel_ao", "vowel_iy"),
}  # fmt: skip
#: Dominance of dimensions a viseme does not list (low: inherited from the neighbours).
ALPHA_UNLISTED = {"vowel": 0.5, "bilabial": 0.3, "labiodental": 0.3, "rest": 1.0, "other": 0.06}
ALPHA_JAW_CONSONANT = 0.5  # consonants specify the jaw only loosely


@dataclass(frozen=True)
class ArticulationStyle:
    """Per-speaker articulation (fixed per voice, so it is learnable from the audio).

    Attributes:
        jaw_scale: multiplier of JawOpen targets (0.7..1.3).
        lip_scale: multiplier of lip-shape targets (pucker, funnel, stretch...).
        tau_scale: multiplier of the dominance reaches (slower/faster coarticulation).
        silence_ramp_s: how far speech posture reaches into a pause, seconds.
    """

    jaw_scale: float = 1.0
    lip_scale: float = 1.0
    tau_scale: float = 1.0
    silence_ramp_s: float = 0.05


def frame_times(num_samples: int, fps: int, rate_hz: int = 16000) -> np.ndarray:
    """Frame instants ``i / fps`` (seconds) of every frame whose time is inside the clip.

    Returns:
        [F] float64 with ``F = ceil(num_samples * fps / rate_hz)``.
    """
    count = math.ceil(num_samples * fps / rate_hz)
    return np.arange(count, dtype=np.float64) / fps


def _vector(target: dict[str, float], style: ArticulationStyle) -> np.ndarray:
    vec = np.zeros(NUM_BLENDSHAPES)
    for name, val in target.items():
        scale = style.jaw_scale if name == "JawOpen" else style.lip_scale
        vec[IDX[name]] = val * (scale if name.startswith(("Jaw", "Mouth")) else 1.0)
    if "MouthClose" in target:
        vec[IDX["MouthClose"]] = min(vec[IDX["MouthClose"]], vec[IDX["JawOpen"]])
    return vec


def _alpha(viseme: str, target: dict[str, float]) -> np.ndarray:
    kind = "vowel" if viseme.startswith("vowel") else viseme
    alpha = np.full(NUM_BLENDSHAPES, ALPHA_UNLISTED.get(kind, ALPHA_UNLISTED["other"]))
    for name in target:
        alpha[IDX[name]] = 1.0
    if kind not in ("vowel", "rest", "bilabial", "labiodental"):
        alpha[IDX["JawOpen"]] = ALPHA_JAW_CONSONANT
    return alpha


def _segments(phones: PhoneSeq) -> list[tuple[float, float, str]]:
    """(centre s, half-hold s, viseme) per articulatory target (diphthongs give two)."""
    out = []
    for s, e, r, lab in zip(phones.start, phones.end, phones.release, phones.label, strict=True):
        vis = VISEME_OF[lab]
        dur = e - s
        if vis in DIPHTHONGS:
            a, b = DIPHTHONGS[vis]
            out += [(s + 0.3 * dur, 0.15 * dur, a), (s + 0.75 * dur, 0.15 * dur, b)]
            continue
        if lab in BILABIALS or vis == "rest":
            out.append(((s + r) / 2 if lab in BILABIALS else (s + e) / 2, (r - s) / 2, vis))
            continue
        out.append(((s + e) / 2, HOLD_FRACTION * dur, vis))
    return out


def articulation(
    phones: PhoneSeq, times: np.ndarray, style: ArticulationStyle | None = None
) -> np.ndarray:
    """Speech articulation weights at the given instants (no expression, no eyes).

    Args:
        phones: the utterance's phones (seconds).
        times: [T] float64 instants, seconds.
        style: speaker articulation; default ``ArticulationStyle()``.

    Returns:
        [T, 68] float32 weights in NIM order, in [0, 1], rest (0) in pauses, closure pattern
        during bilabial closures.
    """
    style = style or ArticulationStyle()
    segs = _segments(phones)
    if not segs:
        return np.zeros((times.shape[0], NUM_BLENDSHAPES), np.float32)
    centre = np.array([c for c, _, _ in segs])[:, None]
    hold = np.array([h for _, h, _ in segs])[:, None]
    targets = np.stack([_vector(TARGETS[v], style) for _, _, v in segs])
    alphas = np.stack([_alpha(v, TARGETS[v]) for _, _, v in segs])
    delta = times[None, :] - centre
    tau = np.where(delta < 0, TAU_ANTICIPATION_S, TAU_CARRYOVER_S) * style.tau_scale
    dom = np.exp(-((np.maximum(np.abs(delta) - hold, 0.0) / tau) ** KAPPA))  # [S, T]
    num = np.einsum("st,sd->td", dom, alphas * targets)
    den = np.einsum("st,sd->td", dom, alphas) + EPS
    weights = num / den * _speech_mask(phones, times, style.silence_ramp_s)[:, None]
    weights = apply_closures(weights, phones, times)
    return np.clip(weights, 0.0, 1.0).astype(np.float32)


def _speech_mask(phones: PhoneSeq, times: np.ndarray, ramp_s: float) -> np.ndarray:
    """[T] 1 in speech, 0 deep in pauses, ``(1 - d/ramp)^2`` within ``ramp_s`` of speech."""
    speech = [(s, e) for s, e, lab in zip(phones.start, phones.end, phones.label, strict=True)
              if lab != SILENCE]  # fmt: skip
    if not speech:
        return np.zeros_like(times)
    starts = np.array([s for s, _ in speech])
    ends = np.array([e for _, e in speech])
    # distance from each instant to the nearest speech interval (0 inside one)
    d = np.maximum(np.maximum(starts[None, :] - times[:, None], times[:, None] - ends[None, :]), 0)
    dist = d.min(axis=1)
    return np.clip(1.0 - dist / max(ramp_s, 1e-6), 0.0, 1.0) ** 2


def closure_intervals(phones: PhoneSeq) -> list[tuple[float, float]]:
    """Bilabial closure intervals (seconds), each widened to at least ``MIN_HOLD_S``."""
    out = []
    for s, r in phones.closures(BILABIALS):
        pad = max(0.0, (MIN_HOLD_S - (r - s)) / 2)
        out.append((s - pad, r + pad))
    return out


def closure_blend(phones: PhoneSeq, times: np.ndarray) -> np.ndarray:
    """[T] 1 inside a bilabial closure, cosine fall-off to 0 over ``CLOSURE_BLEND_S`` outside."""
    blend = np.zeros_like(times)
    for s, e in closure_intervals(phones):
        d = np.maximum(np.maximum(s - times, times - e), 0.0)
        near = d < CLOSURE_BLEND_S
        b = np.where(near, 0.5 * (1 + np.cos(np.pi * d / CLOSURE_BLEND_S)), 0.0)
        blend = np.maximum(blend, b)
    return blend


def apply_closures(weights: np.ndarray, phones: PhoneSeq, times: np.ndarray) -> np.ndarray:
    """Override the lip weights with :data:`CLOSURE_PATTERN` during bilabial closures.

    Args:
        weights: [T, 68] weights at ``times``.
        phones: the utterance's phones.
        times: [T] instants, seconds.

    Returns:
        [T, 68] a new array; outside closures (and their blend margins) equal to ``weights``.
    """
    blend = closure_blend(phones, times)[:, None]
    if not np.any(blend):
        return weights
    idx = np.array([IDX[n] for n in CLOSURE_PATTERN])
    pattern = np.array(list(CLOSURE_PATTERN.values()))
    out = weights.copy()
    out[:, idx] = (1 - blend) * weights[:, idx] + blend * pattern[None, :]
    return out


def face_weights(
    phones: PhoneSeq,
    times: np.ndarray,
    style: ArticulationStyle,
    offset: np.ndarray,
    blink: np.ndarray,
) -> np.ndarray:
    """Final weight curves: articulation + expression offset + blinks, closures enforced last.

    Args:
        phones: the utterance's phones.
        times: [T] instants, seconds.
        style: speaker articulation.
        offset: [68] constant expression offset (emotion x intensity).
        blink: [T] eyelid closure in [0, 1].

    Returns:
        [T, 68] float32 in [0, 1].
    """
    weights = articulation(phones, times, style).astype(np.float64) + offset[None, :]
    for name in ("EyeBlinkLeft", "EyeBlinkRight"):
        col = weights[:, IDX[name]]
        weights[:, IDX[name]] = col + (1.0 - col) * blink
    weights = apply_closures(np.clip(weights, 0.0, 1.0), phones, times)
    return np.clip(weights, 0.0, 1.0).astype(np.float32)
