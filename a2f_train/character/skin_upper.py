"""ARKit eye, brow, cheek-squint and nose shapes: smooth displacement fields ``[V, 3]``.

Eyelids move by rotating about the eyeball centre's X axis, so they slide over the eyeball:
a positive angle turns the lid down. Each field here is the ``...Left`` shape (x > 0) or a
symmetric shape (browInnerUp); the right twins are mirrored in
:mod:`a2f_train.character.skin_shapes`.
"""

from __future__ import annotations

import numpy as np

from a2f_train.character.fields import gauss, rotate_about_x, smoothstep
from a2f_train.character.mesh import EYE_Y, SkinMesh, lid_profile
from a2f_train.character.skin_mouth import vec

_BLINK_MEET = 0.2  # the lids meet 20% of the way from the lower to the upper lid


class EyeFrame:
    """Per-vertex coordinates around the left eye shared by the eye shapes.

    Attributes:
        mesh: the skin.
        center: ``[3]`` left eyeball centre.
        prof: ``[V]`` almond profile of the vertex's column (0 beyond the eye corners).
        up: ``[V]`` bool, on the upper-lid side of the eye slit.
        d: ``[V]`` face-y distance from the eye row.
        a_up: ``[V]`` angle (radians) of the neutral upper lid edge above the eye axis.
        a_low: ``[V]`` angle of the neutral lower lid edge (negative: below).
    """

    def __init__(self, mesh: SkinMesh) -> None:
        self.mesh = mesh
        self.center = mesh.eye_centers[1]
        dx = mesh.fx - self.center[0]
        near = (np.abs(dx) < 2.6) & (mesh.front > 0.5)
        self.prof = lid_profile(dx / mesh.eye_half_width) * near
        self.up = mesh.fy >= EYE_Y - 1e-9
        self.up[mesh.lower_lid_ids.ravel()] = False
        self.d = np.abs(mesh.fy - EYE_Y)
        self.a_up = self._edge_angle(mesh.upper_lid_ids[1]) * near
        self.a_low = self._edge_angle(mesh.lower_lid_ids[1]) * near

    def _edge_angle(self, ids: np.ndarray) -> np.ndarray:
        """Neutral angle of a lid edge above the eye axis, interpolated along face x ``[V]``."""
        m, c = self.mesh, self.center
        ang = np.arctan2(m.vertices[ids, 1] - c[1], m.vertices[ids, 2] - c[2])
        hw = m.eye_half_width
        knots = np.concatenate([[c[0] - hw], m.fx[ids], [c[0] + hw]])
        return np.interp(m.fx, knots, np.concatenate([[0.0], ang, [0.0]]), left=0.0, right=0.0)

    def lids(self, upper: np.ndarray, lower: np.ndarray, reach: float = 1.7) -> np.ndarray:
        """Delta ``[V, 3]`` turning upper-lid vertices by ``upper`` and lower by ``lower``.

        Angles are per-vertex ``[V]`` radians at the slit, fading to 0 ``reach`` above
        (``0.7 * reach`` below) the eye row.
        """
        fall = np.where(
            self.up, smoothstep(reach, 0.0, self.d), smoothstep(0.7 * reach, 0.0, self.d)
        )
        angle = np.where(self.up, upper, lower) * fall
        return rotate_about_x(self.mesh.vertices, self.center, angle) - self.mesh.vertices

    def g(self, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
        """Gaussian of face coordinates, cx relative to the left eye centre, times front."""
        m = self.mesh
        return gauss(m.fx, m.fy, self.center[0] + cx, cy, sx, sy) * m.front


def eye_shapes(e: EyeFrame) -> dict[str, np.ndarray]:
    """Left eye shapes: blink, squint, wide and the four look follows."""
    span = e.a_up - e.a_low
    meet = e.a_low + _BLINK_MEET * span
    p = e.prof
    around = e.g(0.0, EYE_Y, 1.4, 0.9)
    return {
        "EyeBlinkLeft": e.lids(e.a_up - meet, e.a_low - meet),
        "EyeSquintLeft": e.lids(0.06 * p, -0.45 * span)
        + vec(e.g(0.0, EYE_Y - 1.3, 1.2, 0.6), 0.0, 0.3, 0.05)
        + vec(e.g(1.45, EYE_Y, 0.5, 0.6), -0.12, 0.0, 0.0),
        "EyeWideLeft": e.lids(-0.32 * p, 0.0 * p, reach=2.2),
        "EyeLookDownLeft": e.lids(0.22 * p, 0.12 * p) + vec(around, 0.0, 0.0, -0.04),
        "EyeLookUpLeft": e.lids(-0.2 * p, -0.1 * p) + vec(e.g(0.0, 3.2, 1.5, 0.6), 0, 0.08, 0),
        "EyeLookInLeft": vec(around, -0.18, 0.0, 0.0)
        + vec(e.g(-1.3, EYE_Y, 0.5, 0.6), 0, 0, -0.06),
        "EyeLookOutLeft": vec(around, 0.18, 0.0, 0.0)
        + vec(e.g(1.3, EYE_Y, 0.5, 0.6), 0, 0.04, -0.06),
    }


def brow_cheek_nose_shapes(e: EyeFrame) -> dict[str, np.ndarray]:
    """Left brow, cheek-squint and nose-sneer shapes, plus the symmetric BrowInnerUp."""
    m = e.mesh
    brow = e.g(-0.3, 3.3, 1.6, 0.75)
    inner_both = gauss(np.abs(m.fx), m.fy, 1.0, 3.6, 0.9, 1.0) * m.front
    return {
        "BrowDownLeft": vec(brow, 0.0, -0.55, 0.12) + vec(e.g(-1.4, 3.2, 0.9, 0.7), -0.2, -0.1, 0),
        "BrowInnerUp": vec(inner_both, 0.05 * np.sign(m.fx), 0.6, 0.0),
        "BrowOuterUpLeft": vec(e.g(1.0, 3.4, 1.1, 0.9), 0.0, 0.55, -0.05),
        "CheekSquintLeft": vec(e.g(1.0, -0.6, 1.1, 0.8), 0.0, 0.4, 0.15),
        "NoseSneerLeft": vec(gauss(m.fx, m.fy, 0.9, -1.6, 0.6, 0.7) * m.front, 0.0, 0.4, -0.05)
        + vec(gauss(m.fx, m.fy, 0.8, 0.3, 0.5, 0.8) * m.front, -0.05, 0.15, 0.0)
        + vec(gauss(m.fx, m.fy, 0.8, -3.5, 0.6, 0.5) * m.front * m.upper_side, 0.0, 0.1, 0.0),
    }
