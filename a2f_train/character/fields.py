"""Smooth scalar fields and rigid motions used to build the character's geometry and shapes.

All functions are vectorised over vertices: positions are ``[V, 3]`` float64 arrays in model
units, scalar fields ``[V]``.
"""

from __future__ import annotations

import numpy as np


def smoothstep(edge0: float, edge1: float, x: np.ndarray | float) -> np.ndarray:
    """Hermite step: 0 at ``edge0``, 1 at ``edge1`` (either order), C1-smooth in between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Anisotropic Gaussian bump ``exp(-((x-cx)/sx)^2 - ((y-cy)/sy)^2)`` (peak 1)."""
    return np.exp(-(((x - cx) / sx) ** 2) - ((y - cy) / sy) ** 2)


def rotate_about_x(points: np.ndarray, pivot: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotate ``points`` [V,3] about the X axis through ``pivot`` [3] by ``angle`` (radians).

    A positive angle turns +Z (forward) towards -Y (down): the jaw-opening direction.
    ``angle`` is a scalar or a per-vertex ``[V]`` array. Returns new ``[V, 3]`` positions.
    """
    rel = points - pivot
    c, s = np.cos(angle), np.sin(angle)
    out = rel.copy()
    out[:, 1] = rel[:, 1] * c - rel[:, 2] * s
    out[:, 2] = rel[:, 1] * s + rel[:, 2] * c
    return out + pivot


def rotate_about_y(points: np.ndarray, pivot: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotate ``points`` [V,3] about the Y axis through ``pivot`` [3] by ``angle`` (radians).

    A positive angle turns +Z (forward) towards +X (the character's left).
    """
    rel = points - pivot
    c, s = np.cos(angle), np.sin(angle)
    out = rel.copy()
    out[:, 0] = rel[:, 0] * c + rel[:, 2] * s
    out[:, 2] = -rel[:, 0] * s + rel[:, 2] * c
    return out + pivot


def rotate_about_z(points: np.ndarray, pivot: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Rotate ``points`` [V,3] about the Z axis through ``pivot`` [3] by ``angle`` (radians).

    A positive angle turns +X towards +Y.
    """
    rel = points - pivot
    c, s = np.cos(angle), np.sin(angle)
    out = rel.copy()
    out[:, 0] = rel[:, 0] * c - rel[:, 1] * s
    out[:, 1] = rel[:, 0] * s + rel[:, 1] * c
    return out + pivot


def mirror_field(delta: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Mirror a displacement field across the x = 0 plane.

    Args:
        delta: ``[V, 3]`` displacement of each vertex.
        mirror: ``[V]`` int, index of each vertex's mirror image (an involution).

    Returns:
        ``[V, 3]`` field ``out`` with ``out[mirror[i]] = (-dx, dy, dz)`` of ``delta[i]``.
    """
    out = np.empty_like(delta)
    out[mirror] = delta * np.array([-1.0, 1.0, 1.0])
    return out
