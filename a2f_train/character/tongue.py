"""The tongue: a tapered, closed tube inside the mouth, and its 16 blendshapes.

The tongue runs along +Z from its root (``s = 0``) to its tip (``s = 1``) just behind the
lower incisors; cross-sections are flattened ellipses. Shapes are smooth fields of ``s``, the
lateral coordinate ``l`` (-1 right edge .. +1 left edge) and the vertical ``h`` (-1 .. +1),
mostly rotations of the tip, curls of the edges and motions of the body; mirror pairs are
never exact negatives of each other, so the 16 deltas are linearly independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2f_actors.names import TONGUE_BLENDSHAPES
from a2f_train.character.fields import mirror_field, rotate_about_x, rotate_about_y, smoothstep
from a2f_train.character.mesh import MOUTH_Y

TONGUE_RINGS = 18  # cross-sections from root to tip
TONGUE_SIDES = 24  # vertices per cross-section (even: symmetric about x = 0)
TONGUE_ROOT_Z = 3.4  # z of the root section (model units)
TONGUE_LENGTH = 4.6  # root to tip
TONGUE_HALF_WIDTH = 1.45
TONGUE_HALF_HEIGHT = 0.55
TONGUE_TOP_Y = MOUTH_Y - 0.55  # y of the tongue's upper surface at rest


@dataclass(frozen=True, eq=False)
class TongueMesh:
    """Neutral tongue.

    Attributes:
        vertices: ``[Vt, 3]`` float64 positions (model units).
        triangles: ``[Ft, 3]`` int32, counter-clockwise from outside.
        s: ``[Vt]`` root (0) to tip (1).
        lat: ``[Vt]`` lateral coordinate, +1 at the left edge.
        h: ``[Vt]`` vertical coordinate, +1 on the upper surface.
        mirror: ``[Vt]`` mirror-image vertex index.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    s: np.ndarray
    lat: np.ndarray
    h: np.ndarray
    mirror: np.ndarray


def _profile(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half width and half height of the section at ``s`` (rounded tip, wide body)."""
    tip = np.sqrt(np.clip(1.0 - ((s - 0.55) / 0.45).clip(0, None) ** 2, 0.0, 1.0))
    return TONGUE_HALF_WIDTH * tip * (0.8 + 0.2 * s), TONGUE_HALF_HEIGHT * (0.6 + 0.4 * tip)


def build_tongue() -> TongueMesh:
    """Build the neutral tongue (434 vertices: 18 rings of 24 plus 2 caps)."""
    s = (np.arange(TONGUE_RINGS) + 0.5) / TONGUE_RINGS
    ang = 2.0 * np.pi * (np.arange(TONGUE_SIDES) + 0.5) / TONGUE_SIDES
    w, hh = _profile(s)
    lat = np.sin(ang)[None, :] * np.ones((TONGUE_RINGS, 1))
    h = np.cos(ang)[None, :] * np.ones((TONGUE_RINGS, 1))
    arch = 0.35 * np.sin(np.pi * s)  # the dorsum bulges in the middle
    x = w[:, None] * lat
    y = TONGUE_TOP_Y - TONGUE_HALF_HEIGHT + arch[:, None] + hh[:, None] * h
    z = TONGUE_ROOT_Z + TONGUE_LENGTH * s[:, None] * np.ones((1, TONGUE_SIDES))
    ring = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    caps = np.array([[0.0, y[0].mean(), TONGUE_ROOT_Z - 0.1], [0.0, y[-1].mean(), z[-1, 0] + 0.1]])
    verts = np.vstack([ring, caps])
    n = TONGUE_RINGS * TONGUE_SIDES
    s_all = np.concatenate([np.repeat(s, TONGUE_SIDES), [0.0, 1.0]])
    lat_all = np.concatenate([lat.ravel(), [0.0, 0.0]])
    h_all = np.concatenate([h.ravel(), [0.0, 0.0]])
    col = np.arange(TONGUE_SIDES)
    mirror_col = TONGUE_SIDES - 1 - col
    mirror = np.concatenate([(np.arange(TONGUE_RINGS)[:, None] * TONGUE_SIDES + mirror_col).ravel(),
                             [n, n + 1]])  # fmt: skip
    return TongueMesh(verts, _tube_triangles(n), s_all, lat_all, h_all, mirror)


def _tube_triangles(n: int) -> np.ndarray:
    """Triangles of the ring tube and its two cap fans (root cap index n, tip cap n + 1)."""
    tris = []
    for r in range(TONGUE_RINGS - 1):
        for c in range(TONGUE_SIDES):
            c1 = (c + 1) % TONGUE_SIDES
            a, b = r * TONGUE_SIDES + c, r * TONGUE_SIDES + c1
            d, e = a + TONGUE_SIDES, b + TONGUE_SIDES
            tris += [(a, d, e), (a, e, b)]
    last = (TONGUE_RINGS - 1) * TONGUE_SIDES
    for c in range(TONGUE_SIDES):
        c1 = (c + 1) % TONGUE_SIDES
        tris += [(n, c, c1), (n + 1, last + c1, last + c)]
    return np.array(tris, dtype=np.int32)


def _tip_rotation(t: TongueMesh, angle: float, start: float) -> np.ndarray:
    """Curl the front of the tongue about X from ``s = start`` (positive angle: tip down)."""
    k = smoothstep(start, 1.0, t.s) ** 1.5
    pivot = np.array(
        [0.0, TONGUE_TOP_Y - TONGUE_HALF_HEIGHT, TONGUE_ROOT_Z + start * TONGUE_LENGTH]
    )
    return rotate_about_x(t.vertices, pivot, angle * k) - t.vertices


def _field(t: TongueMesh, w: np.ndarray, dx: object, dy: object, dz: object) -> np.ndarray:
    v = np.zeros_like(t.vertices)
    v[:, 0], v[:, 1], v[:, 2] = w * dx, w * dy, w * dz
    return v


def _left_shapes(t: TongueMesh) -> dict[str, np.ndarray]:
    """TongueTipLeft, TongueRollLeft and TongueLeft (x > 0 is the character's left)."""
    front, body = smoothstep(0.45, 1.0, t.s) ** 1.5, np.sin(np.pi * np.clip(t.s, 0, 1)) + 0.3
    root = np.array([0.0, TONGUE_TOP_Y, TONGUE_ROOT_Z + 1.5])
    side = np.clip(t.lat, 0.0, None)
    roll = t.vertices.copy()
    twist = 0.45 * smoothstep(0.1, 0.7, t.s)
    roll[:, 1] = TONGUE_TOP_Y - 0.55 + np.cos(twist) * (t.vertices[:, 1] - TONGUE_TOP_Y + 0.55)
    roll[:, 1] += np.sin(twist) * t.vertices[:, 0]
    return {
        "TongueTipLeft": rotate_about_y(t.vertices, root, 0.5 * front)
        - t.vertices
        + _field(t, front * side, 0.0, 0.15, 0.0),
        "TongueRollLeft": roll - t.vertices,
        "TongueLeft": _field(t, body, 0.55, 0.0, 0.0) + _field(t, body * side, 0.0, 0.2, -0.1),
    }


def _symmetric_shapes(t: TongueMesh) -> dict[str, np.ndarray]:
    """The tongue shapes without a side."""
    p, s = t.vertices, t.s
    x = p[:, 0]
    edge = t.lat**2
    back, front = smoothstep(0.9, 0.2, s), smoothstep(0.3, 1.0, s)
    mid = p[:, 1] - (TONGUE_TOP_Y - TONGUE_HALF_HEIGHT)
    return {
        "TongueTipUp": _tip_rotation(t, -1.0, 0.45),
        "TongueTipDown": _tip_rotation(t, 0.8, 0.55) + _field(t, front, 0.0, 0.0, 0.2),
        "TongueRollUp": _field(t, edge * smoothstep(0.05, 0.4, s), -0.25 * x, 0.7, 0.0),
        "TongueRollDown": _field(t, edge * smoothstep(0.05, 0.4, s), -0.15 * x, -0.55, 0.1),
        "TongueUp": _field(t, back + 0.3, 0.0, 0.7, -0.1),
        "TongueDown": _field(t, front + 0.4, 0.0, -0.6, 0.15),
        "TongueIn": _field(t, s + 0.2, 0.0, 0.15, -1.1),
        "TongueStretch": _field(t, s**2, -0.25 * x, -0.25 * mid, 1.6),
        "TongueWide": _field(t, smoothstep(0.0, 0.5, s), 0.3 * x, -0.3 * mid, -0.2),
        "TongueNarrow": _field(t, smoothstep(0.0, 0.5, s), -0.3 * x, 0.35 * mid, 0.45),
    }


def tongue_deltas(t: TongueMesh) -> np.ndarray:
    """``[16, Vt, 3]`` float64 tongue deltas in ``TONGUE_BLENDSHAPES`` order."""
    shapes = _symmetric_shapes(t)
    for name, field in _left_shapes(t).items():
        shapes[name] = field
        shapes[name[: -len("Left")] + "Right"] = mirror_field(field, t.mirror)
    return np.stack([shapes[name] for name in TONGUE_BLENDSHAPES])


def tongue_out_field(t: TongueMesh) -> np.ndarray:
    """``[Vt, 3]`` the tongue sticking out between the lips (driven by skin TongueOut).

    Not a tongue-set pose (the NIM tongue set has none); :meth:`Character.pose` adds it.
    """
    front = smoothstep(0.0, 1.0, t.s)
    return _field(t, front, 0.0, 0.25, 2.6) + _tip_rotation(t, 0.35, 0.6)
