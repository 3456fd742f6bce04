"""Identity speaking styles of "ada": deterministic transforms of the corpus weight curves.

NVIDIA's v3.0 diffusion model has three identities (Claire, James, Mark), each a different
actor. The project has one character, so its K = 3 identities are three *speaking styles* of
ada, made from the same corpus curves (``weights_60`` [F, 68], 60 fps, ``names.BLENDSHAPES``
order) by the transforms below. Every transform is linear in the mouth weights per frame (or
a linear temporal filter), so a bilabial closure (lip gap 0 when MouthClose equals JawOpen)
stays closed in every style.

* ``ada``: the corpus curves unchanged (neutral style).
* ``ada_crisp``: stronger, sharper articulation: lower-face weights x 1.2 and a temporal
  unsharp mask (+0.5 x (w - 5-frame box mean)), clipped to [0, 1].
* ``ada_soft``: softer articulation with more lip rounding and a slight asymmetry: lower-face
  weights x 0.8, MouthFunnel/MouthPucker x 1.35 plus 0.12 x JawOpen of rounding, the
  character's left mouth corner x 1.15 and the right x 0.85.
"""

from __future__ import annotations

import numpy as np

from a2f_actors.names import BLENDSHAPES

IDENTITIES: tuple[str, ...] = ("ada", "ada_crisp", "ada_soft")

_IDX = {name: i for i, name in enumerate(BLENDSHAPES)}
#: Lower-face articulation weights (jaw, mouth, tongue) that styles scale.
LOWER_FACE = np.array(
    [i for n, i in _IDX.items() if n.startswith(("Jaw", "Mouth", "Tongue"))], dtype=np.int64
)
_ROUND = np.array([_IDX["MouthFunnel"], _IDX["MouthPucker"]])
_LEFT = np.array([i for n, i in _IDX.items() if n.startswith("Mouth") and n.endswith("Left")])
_RIGHT = np.array([i for n, i in _IDX.items() if n.startswith("Mouth") and n.endswith("Right")])


def _box_mean(w: np.ndarray, radius: int) -> np.ndarray:
    """Centred moving average over frames with edge replication, ``[F, K]``."""
    pad = np.pad(w, ((radius, radius), (0, 0)), mode="edge")
    csum = np.cumsum(np.pad(pad, ((1, 0), (0, 0))), axis=0)
    return (csum[2 * radius + 1 :] - csum[: -2 * radius - 1]) / (2 * radius + 1)


def crisp(weights: np.ndarray) -> np.ndarray:
    """``ada_crisp``: ``[F, 68]`` -> ``[F, 68]`` stronger, sharper lower face."""
    w = np.array(weights, dtype=np.float32, copy=True)
    low = w[:, LOWER_FACE] * 1.2
    low = low + 0.5 * (low - _box_mean(low, 2))
    w[:, LOWER_FACE] = np.clip(low, 0.0, 1.0)
    return w


def soft(weights: np.ndarray) -> np.ndarray:
    """``ada_soft``: ``[F, 68]`` -> ``[F, 68]`` softer, rounder, slightly asymmetric."""
    w = np.array(weights, dtype=np.float32, copy=True)
    w[:, LOWER_FACE] *= 0.8
    w[:, _ROUND] = w[:, _ROUND] * 1.35 + 0.12 * w[:, [_IDX["JawOpen"]]]
    w[:, _LEFT] *= 1.15
    w[:, _RIGHT] *= 0.85
    return np.clip(w, 0.0, 1.0)


def apply_style(identity: str, weights: np.ndarray) -> np.ndarray:
    """The weight curves ``[F, 68]`` of ``identity`` (one of :data:`IDENTITIES`).

    Raises:
        ValueError: unknown identity.
    """
    if identity == "ada":
        return np.asarray(weights, dtype=np.float32)
    if identity == "ada_crisp":
        return crisp(weights)
    if identity == "ada_soft":
        return soft(weights)
    raise ValueError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
