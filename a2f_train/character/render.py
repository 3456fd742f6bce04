"""Pictures of the character: a painter's-algorithm renderer on matplotlib (Agg backend).

Each scene part is a triangle mesh with per-vertex colours. Parts are rotated about the
vertical axis by the view's yaw, projected orthographically onto the image plane, back faces
are culled, and the remaining triangles are drawn far to near with Lambert shading. Good
enough to judge expressions; not a production renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.names import BLENDSHAPES
from a2f_train.character.rig import Character, load_default_character

_LIGHT = np.array([0.35, 0.45, 1.0]) / np.linalg.norm([0.35, 0.45, 1.0])
_AMBIENT = 0.35


@dataclass(frozen=True, eq=False)
class Part:
    """One mesh of a scene.

    Attributes:
        vertices: ``[V, 3]`` positions (model units).
        triangles: ``[F, 3]`` int vertex indices, counter-clockwise from outside.
        colors: ``[V, 3]`` RGB in [0, 1].
        cull: drop triangles facing away from the camera (closed meshes).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray
    cull: bool = True


def _rotate(points: np.ndarray, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Turn the model so the camera (looking along -Z) sees it from the given yaw/pitch."""
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return points @ (rx @ ry).T


def project(parts: list[Part], yaw_deg: float, pitch_deg: float = 0.0) -> tuple[np.ndarray, ...]:
    """Shade and depth-sort the visible triangles of ``parts``.

    Returns:
        ``(polys [T,3,2], colors [T,3])``: image-plane triangles far to near and their RGB.
    """
    polys, cols, depth = [], [], []
    for part in parts:
        p = _rotate(np.asarray(part.vertices, dtype=np.float64), yaw_deg, pitch_deg)
        tri = p[part.triangles]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        keep = n[:, 2] > 0 if part.cull else np.ones(len(n), dtype=bool)
        shade = _AMBIENT + (1 - _AMBIENT) * np.abs(n @ _LIGHT)
        base = part.colors[part.triangles].mean(axis=1)
        polys.append(tri[keep][:, :, :2])
        cols.append(np.clip(base[keep] * shade[keep, None], 0, 1))
        depth.append(tri[keep][:, :, 2].mean(axis=1))
    order = np.argsort(np.concatenate(depth), kind="stable")
    return np.concatenate(polys)[order], np.concatenate(cols)[order]


def draw(ax: object, parts: list[Part], yaw_deg: float, title: str = "") -> None:
    """Draw ``parts`` on a matplotlib axes seen from ``yaw_deg`` (0 = front)."""
    from matplotlib.collections import PolyCollection

    polys, cols = project(parts, yaw_deg)
    ax.add_collection(PolyCollection(polys, facecolors=cols, edgecolors=cols, linewidths=0.45))
    lo, hi = polys.reshape(-1, 2).min(axis=0), polys.reshape(-1, 2).max(axis=0)
    ax.set_xlim(lo[0] - 0.5, hi[0] + 0.5)
    ax.set_ylim(lo[1] - 0.5, hi[1] + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def _sphere(center: np.ndarray, radius: float, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """UV sphere around ``center``: (vertices [V,3], triangles [F,3]) with +Z as its pole axis."""
    lat = np.linspace(0.0, np.pi, n + 1)[1:-1]
    lon = np.linspace(0.0, 2.0 * np.pi, 2 * n, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.sin(la) * np.cos(lo), np.sin(la) * np.sin(lo), np.cos(la)], -1)
    verts = np.vstack([ring.reshape(-1, 3), [[0, 0, 1], [0, 0, -1]]]) * radius + center
    m, rows = 2 * n, n - 1
    tris = []
    for r in range(rows - 1):
        for c in range(m):
            a, b = r * m + c, r * m + (c + 1) % m
            tris += [(a, b + m, b), (a, a + m, b + m)]
    top, bottom = rows * m, rows * m + 1
    tris += [(top, (c + 1) % m, c) for c in range(m)]
    last = (rows - 1) * m
    tris += [(bottom, last + c, last + (c + 1) % m) for c in range(m)]
    return verts, np.array(tris)


def _eye_parts(ch: Character) -> list[Part]:
    """Eyeballs: white sclera, brown iris and black pupil looking along +Z."""
    parts = []
    for center in ch.eye_centers:
        v, t = _sphere(np.asarray(center, dtype=np.float64), ch.eye_radius * 0.98)
        rel = (v[:, 2] - center[2]) / np.linalg.norm(v - center, axis=1)
        ang = np.degrees(np.arccos(np.clip(rel, -1.0, 1.0)))
        col = np.where(ang[:, None] < 26, [0.35, 0.22, 0.12], [0.95, 0.94, 0.92])
        col = np.where(ang[:, None] < 11, [0.03, 0.03, 0.03], col)
        parts.append(Part(v, t, col))
    return parts


def _mouth_parts(ch: Character, w: np.ndarray) -> list[Part]:
    """Dark mouth cavity (seen from inside), upper teeth and lower teeth on the jaw."""
    lip_y = float(ch.skin_neutral[ch.lip_center_ids[0], 1])
    c = np.array([0.0, lip_y - 0.9, 5.2])
    v, t = _sphere(np.zeros(3), 1.0, 12)
    v = v * [2.1, 1.5, 2.6] + c
    parts = [Part(v, t[:, ::-1], np.tile([0.25, 0.06, 0.07], (len(v), 1)))]
    arc = np.linspace(-1.0, 1.0, 15)
    jaw = ch.jaw_neutral.astype(np.float64)
    x = arc * jaw[3, 0]
    z = np.interp(np.abs(x), [0.0, jaw[1, 0], jaw[3, 0]], [jaw[0, 2], jaw[1, 2], jaw[3, 2]])
    tris = np.array(
        [(i, i + 1, i + 16) for i in range(14)] + [(i, i + 16, i + 15) for i in range(14)]
    )
    white = np.tile([0.96, 0.95, 0.9], (30, 1))
    for top, bottom, dz, moving in ((lip_y + 0.4, lip_y - 0.3, 0.2, False),
                                    (jaw[0, 1], jaw[0, 1] - 0.45, 0.0, True)):  # fmt: skip
        band = np.vstack([np.stack([x, np.full(15, y), z + dz], 1) for y in (top, bottom)])
        if moving:
            band = ch.move_with_jaw(band, w)[0]
        parts.append(Part(band, tris, white, cull=False))
    return parts


def scene(ch: Character, weights: np.ndarray) -> list[Part]:
    """All parts of the character posed by ``weights`` [68]: skin, tongue, eyes, mouth."""
    skin, tongue, _ = ch.pose(weights)
    parts = [Part(skin[0], ch.skin_triangles, ch.skin_albedo)]
    pink = np.tile([0.8, 0.42, 0.45], (ch.num_tongue_verts, 1))
    parts.append(Part(tongue[0], ch.tongue_triangles, pink))
    return parts + _eye_parts(ch) + _mouth_parts(ch, weights)


def weights_of(**named: float) -> np.ndarray:
    """A ``[68]`` weight vector from UpperCamel names, e.g. ``weights_of(JawOpen=1.0)``."""
    w = np.zeros(len(BLENDSHAPES))
    for name, value in named.items():
        w[BLENDSHAPES.index(name)] = value
    return w


#: (panel title, weights) of the shape grids.
PANELS: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}),
    ("JawOpen", {"JawOpen": 1.0}),
    ("JawOpen + MouthClose", {"JawOpen": 1.0, "MouthClose": 1.0}),
    ("MouthPucker", {"MouthPucker": 1.0}),
    ("MouthFunnel", {"MouthFunnel": 1.0}),
    ("MouthSmileLeft", {"MouthSmileLeft": 1.0}),
    ("MouthFrownLeft", {"MouthFrownLeft": 1.0}),
    ("MouthStretchLeft", {"MouthStretchLeft": 1.0}),
    ("EyeBlinkLeft", {"EyeBlinkLeft": 1.0}),
    ("EyeWideLeft + EyeSquintRight", {"EyeWideLeft": 1.0, "EyeSquintRight": 1.0}),
    ("BrowInnerUp", {"BrowInnerUp": 1.0}),
    ("BrowDownLeft", {"BrowDownLeft": 1.0}),
    ("TongueOut + JawOpen 0.3", {"TongueOut": 1.0, "JawOpen": 0.3}),
    ("CheekPuff", {"CheekPuff": 1.0}),
    ("NoseSneerLeft", {"NoseSneerLeft": 1.0}),
    ("MouthLeft + JawLeft", {"MouthLeft": 1.0, "JawLeft": 1.0}),
)


def render_grid(ch: Character, panels: tuple, yaw_deg: float, path: Path, cols: int = 4) -> None:
    """Render ``panels`` ((title, {name: weight}) pairs) in a grid to the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.3 * rows), squeeze=False)
    for ax, (title, named) in zip(axes.ravel(), panels, strict=False):
        draw(ax, scene(ch, weights_of(**named)), yaw_deg, title)
        ax.set_ylim(-10.0, 6.5)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


def render_all(out_dir: Path | str, ch: Character | None = None) -> list[Path]:
    """Write neutral.png (front, 3/4, side) and shapes_front.png, shapes_three_quarter.png."""
    ch = ch or load_default_character()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 5))
    for ax, yaw, title in zip(axes, (0, 35, 90), ("front", "three-quarter", "side"), strict=True):
        draw(ax, scene(ch, weights_of()), yaw, title)
    fig.tight_layout()
    paths = [out / "neutral.png", out / "shapes_front.png", out / "shapes_three_quarter.png"]
    fig.savefig(paths[0], dpi=80, metadata={"Software": None})
    plt.close(fig)
    render_grid(ch, PANELS, 0.0, paths[1])
    render_grid(ch, PANELS, 35.0, paths[2])
    return paths
