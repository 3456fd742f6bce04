"""The jaw: its rigid motions, the skin weight field that follows it, and the 5 keypoints.

The mandible hinges about the X axis through :data:`JAW_PIVOT` (between the condyles, below
and in front of the ears), slides forward, and moves sideways (a yaw about the hinge point, a
lateral slide and a small drop, so jawLeft + jawRight is a drop, not a copy of jawForward).
Skin deltas are ``w_jaw * (T(p) - p)`` for the full motion ``T``; the keypoints (lower
incisor tip, canines, first molars) follow the rigid motion exactly for any weights.
"""

from __future__ import annotations

import numpy as np

from a2f_train.character.fields import rotate_about_x, rotate_about_y, smoothstep
from a2f_train.character.mesh import MOUTH_Y, SkinMesh

JAW_PIVOT = np.array([0.0, -0.6, 0.3])  # hinge axis point (model units)
JAW_OPEN_RAD = np.radians(18.0)  # jawOpen = 1 turns the mandible 18 degrees
JAW_FORWARD = 0.8  # jawForward = 1 slides the mandible 0.8 units forward
JAW_SIDE_RAD = np.radians(4.0)  # jawLeft/Right = 1 yaws the mandible 4 degrees about the hinge
JAW_SIDE_SHIFT = 0.7  # ... slides it 0.7 units sideways
JAW_SIDE_DROP = 0.25  # ... and drops it 0.25 (the balancing condyle rides down the eminence)
_SIDE_FADE = (1.45, 2.1)  # |longitude| (radians) where the jaw field fades out behind the ear

#: Neutral jaw keypoints [5, 3]: lower incisor tip, left/right canine, left/right first molar.
NEUTRAL_JAW = np.array(
    [
        [0.0, MOUTH_Y - 0.45, 8.0],
        [1.1, MOUTH_Y - 0.5, 7.5],
        [-1.1, MOUTH_Y - 0.5, 7.5],
        [2.2, MOUTH_Y - 0.55, 5.3],
        [-2.2, MOUTH_Y - 0.55, 5.3],
    ]
)


def jaw_motion(points: np.ndarray, open_w: np.ndarray, forward_w: np.ndarray,
               left_w: np.ndarray, right_w: np.ndarray) -> np.ndarray:  # fmt: skip
    """Apply the rigid jaw motion to points.

    Args:
        points: ``[N, K, 3]`` positions (model units).
        open_w: ``[N]`` jawOpen weights.
        forward_w: ``[N]`` jawForward weights.
        left_w: ``[N]`` jawLeft weights.
        right_w: ``[N]`` jawRight weights.

    Returns:
        ``[N, K, 3]``: hinge, then the sideways yaw, slide and drop, then the forward slide.
    """
    n, k, _ = points.shape
    rep = lambda w: np.repeat(np.asarray(w, dtype=np.float64), k)  # noqa: E731
    side, drop = rep(left_w) - rep(right_w), rep(left_w) + rep(right_w)
    p = rotate_about_x(points.reshape(-1, 3), JAW_PIVOT, rep(open_w) * JAW_OPEN_RAD)
    p = rotate_about_y(p, JAW_PIVOT, side * JAW_SIDE_RAD)
    p[:, 0] += side * JAW_SIDE_SHIFT
    p[:, 1] -= drop * JAW_SIDE_DROP
    p[:, 2] += rep(forward_w) * JAW_FORWARD
    return p.reshape(n, k, 3)


def jaw_weight(mesh: SkinMesh) -> np.ndarray:
    """How rigidly each skin vertex follows the mandible, ``[V]`` in [0, 1].

    1 on the lower lip, chin and lower cheeks, 0 on the upper lip and above; the boundary runs
    along the mouth slit, then rises from the mouth corners to the hinge under the ears.
    """
    mc = mesh.mouth_corner_x
    ath = np.abs(mesh.theta)
    theta_corner = np.arcsin(min(1.0, mc / 7.0))
    rise = smoothstep(theta_corner, 1.45, ath)
    line = MOUTH_Y + (JAW_PIVOT[1] - MOUTH_Y) * rise
    wid = 0.08 + 0.5 * smoothstep(0.5 * mc, 1.3 * mc, np.abs(mesh.fx)) + 1.2 * rise
    t = np.clip(np.abs(mesh.fx) / mc, 0.0, 1.0)
    on_slit = np.abs(mesh.fy - MOUTH_Y) < 1e-9
    eps = np.where(on_slit, wid * np.sqrt(1.0 - t * t), 0.0)
    y_eval = mesh.fy + np.where(mesh.upper_side, eps, -eps)
    w = smoothstep(-wid, wid, line - y_eval)
    w *= smoothstep(_SIDE_FADE[1], _SIDE_FADE[0], ath)
    return w * smoothstep(-11.5, -9.8, mesh.fy)


def jaw_deltas(mesh: SkinMesh) -> dict[str, np.ndarray]:
    """Skin deltas ``[V, 3]`` of JawOpen, JawForward, JawLeft and JawRight."""
    w = jaw_weight(mesh)[:, None]
    p = mesh.vertices[None]
    one, zero = np.ones(1), np.zeros(1)
    motions = {
        "JawOpen": (one, zero, zero, zero),
        "JawForward": (zero, one, zero, zero),
        "JawLeft": (zero, zero, one, zero),
        "JawRight": (zero, zero, zero, one),
    }
    return {name: w * (jaw_motion(p, *m)[0] - mesh.vertices) for name, m in motions.items()}
