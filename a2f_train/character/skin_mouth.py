"""ARKit mouth, cheek-puff and skin tongueOut shapes: smooth displacement fields ``[V, 3]``.

Fields are written in face coordinates (see :mod:`a2f_train.character.mesh`). ``...Left``
shapes act on the character's left (x > 0); the ``...Right`` twins are their exact mirror
images (built in :mod:`a2f_train.character.skin_shapes`). Amplitudes are model units at
weight 1 (the head is 23 units tall, the lips part about 3 units at jawOpen = 1).
"""

from __future__ import annotations

import numpy as np

from a2f_train.character.fields import gauss
from a2f_train.character.mesh import MOUTH_Y, SkinMesh


class MouthFrame:
    """Per-vertex coordinates around the mouth shared by the mouth shapes.

    Attributes:
        mesh: the skin.
        mc: face x of the mouth corners.
        t: ``[V]`` signed fx / mc.
        lip_u: ``[V]`` upper-lip weight (1 on the upper slit row, 0 below the lip line).
        lip_l: ``[V]`` lower-lip weight.
        prof_u: ``[V]`` upper-lip weight before the lateral fade ``lat``; prof_l likewise.
        lat: ``[V]`` 1 within the mouth width, fading out beyond the corners.
        round: ``[V]`` sqrt(1 - t^2) within the mouth: the elliptic opening profile.
    """

    def __init__(self, mesh: SkinMesh) -> None:
        self.mesh = mesh
        self.mc = mesh.mouth_corner_x
        fy, up, front = mesh.fy, mesh.upper_side, mesh.front
        self.t = mesh.fx / self.mc
        at = np.abs(self.t)
        self.lat = np.clip(1.0 - ((at - 0.85) / 0.5).clip(0, 1) ** 2, 0, 1) * front
        self.prof_u = np.where(up, np.exp(-(((fy - MOUTH_Y) / 0.75) ** 2)), 0.0) * front
        self.prof_l = np.where(~up, np.exp(-(((MOUTH_Y - fy) / 0.85) ** 2)), 0.0) * front
        self.lip_u, self.lip_l = self.prof_u * self.lat, self.prof_l * self.lat
        self.round = np.sqrt(np.clip(1.0 - self.t**2, 0.0, 1.0))

    def g(self, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
        """Gaussian of the face coordinates (x in units of mc for cx only), times front."""
        m = self.mesh
        return gauss(m.fx, m.fy, cx * self.mc, cy, sx, sy) * m.front


def vec(w: np.ndarray, dx: float | np.ndarray, dy: float | np.ndarray,
        dz: float | np.ndarray) -> np.ndarray:  # fmt: skip
    """Displacement ``[V, 3]`` = ``w * (dx, dy, dz)``; each component scalar or ``[V]``."""
    v = np.zeros((w.size, 3))
    v[:, 0], v[:, 1], v[:, 2] = w * dx, w * dy, w * dz
    return v


def mouth_close(f: MouthFrame, jaw_open: np.ndarray) -> np.ndarray:
    """MouthClose: each lip moves half the jawOpen lip gap towards the other.

    With ``jaw_open`` the JawOpen field ``[V, 3]``, JawOpen + MouthClose leaves the two slit
    rows exactly together; MouthClose alone pushes the lips into each other (no opening).
    """
    m = f.mesh
    up, low = m.upper_lip_ids, m.lower_lip_ids
    gap = jaw_open[low] - jaw_open[up]  # [K, 3] per slit column
    order = np.argsort(m.theta[up])
    th = m.theta[up][order]
    edge = np.arctan2(f.mc, 7.0) * 1.02
    th_knots = np.concatenate([[-np.pi, -edge], th, [edge, np.pi]])
    out = np.zeros_like(m.vertices)
    for k in range(3):
        g = np.concatenate([[0.0, 0.0], gap[order, k], [0.0, 0.0]])
        gk = np.interp(m.theta, th_knots, g)
        out[:, k] = 0.5 * gk * (f.prof_u - f.prof_l)
    return out


def symmetric_shapes(f: MouthFrame) -> dict[str, np.ndarray]:
    """Mouth shapes without a side: funnel, pucker, roll, shrug, cheek puff, tongueOut."""
    lips, r, fx = f.lip_u + f.lip_l, f.round, f.mesh.fx
    area = f.g(0.0, MOUTH_Y, 2.2, 1.2)
    return {
        "MouthFunnel": vec(lips, -0.25 * f.t * (1 - r), 0.0, 0.6)
        + vec(f.lip_u * r, 0.0, 0.45, 0.15)
        + vec(f.lip_l * r, 0.0, -0.55, 0.1),
        "MouthPucker": vec(area, -0.42 * fx / f.mc, 0.0, 0.55)
        + vec(lips, 0.0, 0.0, 0.45)
        + vec(f.lip_u, 0.0, -0.12, 0.0)
        + vec(f.lip_l, 0.0, 0.12, 0.0),
        "MouthRollLower": vec(f.lip_l, 0.0, 0.25, -0.6),
        "MouthRollUpper": vec(f.lip_u, 0.0, -0.2, -0.55),
        "MouthShrugLower": vec(f.g(0.0, -5.4, 1.8, 1.3) * ~f.mesh.upper_side, 0.0, 0.45, 0.25),
        "MouthShrugUpper": vec(f.lip_u * f.g(0.0, -3.6, 1.6, 0.9), 0.0, 0.38, 0.22),
        "CheekPuff": vec(
            (f.g(1.45, -2.8, 1.3, 1.4) + f.g(-1.45, -2.8, 1.3, 1.4)), 0.6 * np.sign(fx), 0.0, 0.3
        ),
        "TongueOut": vec(f.lip_u * r, 0.0, 0.2, 0.05) + vec(f.lip_l * r, 0.0, -0.45, 0.3),
    }


def left_shapes(f: MouthFrame) -> dict[str, np.ndarray]:
    """The ``...Left`` mouth shapes (and MouthLeft), acting on x > 0."""
    lips, half = f.lip_u + f.lip_l, f.g(0.5, MOUTH_Y, 0.8 * f.mc, 1.3)
    corner = f.g(1.0, MOUTH_Y, 1.0, 0.9)
    cheek = f.g(1.25, -2.3, 1.0, 0.9)
    return {
        "MouthLeft": vec(f.g(0.0, MOUTH_Y, 2.4, 1.3), 0.8, 0.0, 0.0) + vec(corner, 0.0, 0.0, -0.3),
        "MouthSmileLeft": vec(corner, 0.35, 0.75, -0.35) + vec(cheek, 0.05, 0.3, 0.25),
        "MouthFrownLeft": vec(f.g(1.0, MOUTH_Y - 0.2, 0.9, 0.9), 0.1, -0.6, 0.0)
        + vec(f.g(1.05, -5.5, 1.0, 0.8), 0.0, -0.2, 0.1),
        "MouthDimpleLeft": vec(f.g(1.08, MOUTH_Y, 0.7, 0.6), 0.25, 0.0, -0.45),
        "MouthStretchLeft": vec(f.g(1.0, MOUTH_Y - 0.5, 1.3, 1.2), 0.55, -0.3, -0.05)
        + vec(f.lip_l * half, 0.0, -0.2, 0.0),
        "MouthPressLeft": vec(lips * half, 0.15, 0.0, -0.25)
        + vec(f.lip_u * half, 0.0, -0.1, 0.0)
        + vec(f.lip_l * half, 0.0, 0.12, 0.0),
        "MouthLowerDownLeft": vec(f.lip_l * half, 0.0, -0.55, 0.12),
        "MouthUpperUpLeft": vec(f.lip_u * half, 0.0, 0.5, 0.12),
    }
