"""Neutral skin geometry of "ada": a deformed ellipsoid on a (longitude, height) grid.

The head is a closed surface: ``N_COLS`` columns around the vertical axis (denser in front) by
the rows of :data:`ROW_Y` (denser over the face), plus a top and a bottom pole. Feature bumps
(nose, brows, cheekbones, lips, chin, ears, eye sockets) are smooth Gaussians of the *face
coordinates* ``(fx, fy)``, the x and y of the undeformed ellipsoid. The mouth and the two eyes
are slits: along the mouth row and the eye row the vertices between the corners are
duplicated, the grid vertex serving the upper side and the copy the lower side, so lips can
part and upper lids can close. The eye slits are opened in the neutral by an almond profile
and the lids lie on a shell around each eyeball.

Units are model units (head 23 tall), +Y up, +Z forward, +X the character's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2f_train.character.fields import gauss, smoothstep

HEAD_HALF_WIDTH = 7.6  # x semi-axis of the base ellipsoid (model units)
HEAD_HALF_HEIGHT = 11.5  # y semi-axis: the head is 23 units tall
HEAD_HALF_DEPTH = 9.4  # z semi-axis
N_COLS = 101  # odd, so one column lies on x = 0 (the lip centre)
_COL_LINEAR = 0.45  # share of the linear term in the column angle map (rest is cubic)
MOUTH_Y = -4.0  # face y of the lip line (mouth slit row)
MOUTH_HALF_WIDTH = 2.3  # face x within which the mouth slit is cut
EYE_Y = 1.6  # face y of the eye slit row
EYE_X = 2.6  # face x of the left eye centre (right eye mirrored)
EYE_HALF_WIDTH = 1.25  # half width of the eye opening (face x)
EYE_RADIUS = 1.2  # eyeball radius
LID_GAP = 0.12  # lid thickness: the lid shell radius is EYE_RADIUS + LID_GAP
UPPER_LID_OPEN = 0.62  # neutral upper-lid lift above the eye row at the eye centre
LOWER_LID_OPEN = 0.36  # neutral lower-lid drop below the eye row at the eye centre
LID_REACH = 1.4  # face-y distance over which the lid opening fades out


def _row_levels() -> np.ndarray:
    """Face-y of every grid row, bottom to top: 0.2 spacing over the face, coarser beyond."""
    below = np.array([-11.0, -10.4, -9.8, -9.2, -8.6])
    face = -8.0 + 0.2 * np.arange(71)  # -8.0 ... 6.0, contains MOUTH_Y and EYE_Y exactly
    above = np.array([6.6, 7.3, 8.0, 8.7, 9.4, 10.1, 10.8])
    return np.concatenate([below, face, above])


ROW_Y = _row_levels()
MOUTH_ROW = int(np.argmin(np.abs(ROW_Y - MOUTH_Y)))
EYE_ROW = int(np.argmin(np.abs(ROW_Y - EYE_Y)))


def column_angles() -> np.ndarray:
    """Longitude of each column (radians, 0 = front, +pi/2 = the character's left)."""
    s = -1.0 + (2.0 * np.arange(N_COLS) + 1.0) / N_COLS
    return np.pi * (_COL_LINEAR * s + (1.0 - _COL_LINEAR) * s**3)


@dataclass(frozen=True, eq=False)
class SkinMesh:
    """Neutral skin and the per-vertex coordinates the shape fields are written in.

    Attributes:
        vertices: ``[V, 3]`` float64 neutral positions (model units).
        triangles: ``[F, 3]`` int32, counter-clockwise seen from outside.
        fx: ``[V]`` face x (undeformed ellipsoid x; the slit copies share their twin's).
        fy: ``[V]`` face y.
        front: ``[V]`` 1 on the face, 0 behind the ears (smooth).
        theta: ``[V]`` longitude (radians, 0 front).
        upper_side: ``[V]`` bool, on the upper side of the mouth line (incl. the grid slit row).
        mirror: ``[V]`` int, index of the mirror-image vertex (x -> -x).
        upper_lip_ids: ``[K]`` mouth-slit vertices of the upper lip, left to right... by x.
        lower_lip_ids: ``[K]`` their lower-lip twins (same x at neutral).
        mouth_corner_x: face x of the shared mouth-corner vertices.
        eye_centers: ``[2, 3]`` eyeball centres, (right, left).
        upper_lid_ids: ``[2, Ke]`` eye-slit vertices of the upper lids (right, left eye).
        lower_lid_ids: ``[2, Ke]`` their lower-lid twins.
        eye_half_width: face-x half width of the eye opening (corner to centre).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    front: np.ndarray
    theta: np.ndarray
    upper_side: np.ndarray
    mirror: np.ndarray
    upper_lip_ids: np.ndarray
    lower_lip_ids: np.ndarray
    mouth_corner_x: float
    eye_centers: np.ndarray
    upper_lid_ids: np.ndarray
    lower_lid_ids: np.ndarray
    eye_half_width: float


def _grid_base() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undeformed ellipsoid grid + poles: (points [V,3], theta [V], rows*cols order)."""
    theta = column_angles()
    y = ROW_Y[:, None] * np.ones((1, N_COLS))
    cos_lat = np.sqrt(1.0 - (y / HEAD_HALF_HEIGHT) ** 2)
    th = np.ones((ROW_Y.size, 1)) * theta[None, :]
    pts = np.stack(
        [
            HEAD_HALF_WIDTH * cos_lat * np.sin(th),
            y,
            HEAD_HALF_DEPTH * cos_lat * np.cos(th),
        ],
        axis=-1,
    ).reshape(-1, 3)
    poles = np.array([[0.0, -HEAD_HALF_HEIGHT, 0.0], [0.0, HEAD_HALF_HEIGHT, 0.0]])
    return np.vstack([pts, poles]), np.concatenate([th.reshape(-1), [np.pi, np.pi]]), theta


def _slit_columns(row: int, center_x: float, half_width: float) -> np.ndarray:
    """Columns of ``row`` whose face x lies strictly within ``center_x +- half_width``."""
    pts, _, _ = _grid_base()
    x = pts[row * N_COLS : (row + 1) * N_COLS, 0]
    front = np.cos(column_angles()) > 0
    return np.flatnonzero(front & (np.abs(x - center_x) < half_width))


def feature_dz(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Forward relief of the face (model units) at face coordinates, without eye sockets."""
    ax = np.abs(fx)
    nose_ridge = 2.3 * gauss(fx, fy, 0.0, -1.2, 0.55, 1.0) + 0.9 * gauss(fx, fy, 0.0, 0.6, 0.5, 1.2)
    nose_wings = 0.7 * gauss(ax, fy, 0.85, -1.9, 0.45, 0.4)
    brows = 0.55 * gauss(ax, fy, 2.5, 3.2, 1.7, 0.55)
    cheekbones = 0.55 * gauss(ax, fy, 3.9, -0.4, 1.3, 1.0)
    upper_lip = 0.65 * gauss(fx, fy, 0.0, -3.55, 1.7, 0.45)
    lower_lip = 0.55 * gauss(fx, fy, 0.0, -4.5, 1.5, 0.45)
    lip_crease = -0.12 * gauss(fx, fy, 0.0, MOUTH_Y, 2.0, 0.12)
    chin = 0.75 * gauss(fx, fy, 0.0, -7.0, 1.5, 1.1) - 0.3 * gauss(fx, fy, 0.0, -5.4, 1.2, 0.35)
    return nose_ridge + nose_wings + brows + cheekbones + upper_lip + lower_lip + lip_crease + chin


def _socket_dz(fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Eye-socket depression (negative dz) around both eyes."""
    return -1.1 * gauss(np.abs(fx), fy, EYE_X, EYE_Y + 0.1, 1.3, 1.05)


def lid_profile(t: np.ndarray) -> np.ndarray:
    """Almond profile of the eye opening: 1 at the centre, 0 at and beyond the corners."""
    return np.clip(1.0 - t * t, 0.0, None) ** 0.9


def _deform(base: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply jaw narrowing, the face relief and ear bumps; return (points, front weight)."""
    fx, fy = base[:, 0], base[:, 1]
    front = smoothstep(0.05, 0.55, np.cos(theta))
    pts = base.copy()
    pts[:, 0] *= 1.0 - 0.2 * smoothstep(-1.0, -9.5, fy)
    pts[:, 2] += front * (feature_dz(fx, fy) + _socket_dz(fx, fy))
    ear = gauss(np.abs(theta), fy, 1.62, 0.6, 0.13, 1.6)
    pts[:, 0] += np.sign(fx) * 0.9 * ear
    return pts, front


def eye_center(side: float) -> np.ndarray:
    """Eyeball centre ``[3]`` of the left (``side=+1``) or right (``-1``) eye."""
    fx, fy = np.array([EYE_X]), np.array([EYE_Y])
    z_face = HEAD_HALF_DEPTH * np.sqrt(
        1.0 - (EYE_X / HEAD_HALF_WIDTH) ** 2 - (EYE_Y / HEAD_HALF_HEIGHT) ** 2
    )
    z = z_face + float(feature_dz(fx, fy)[0]) - EYE_RADIUS - 0.3
    return np.array([side * EYE_X, EYE_Y, z])


def _open_eyes(pts: np.ndarray, fx: np.ndarray, fy: np.ndarray, upper: np.ndarray) -> None:
    """Open the almond eye slits and lay the lids on a shell around each eyeball (in place)."""
    shell = EYE_RADIUS + LID_GAP
    for side in (-1.0, 1.0):
        c = eye_center(side)
        sel = (np.abs(fx - c[0]) < 2.6) & (np.abs(fy - EYE_Y) < 2.6) & (pts[:, 2] > 0)
        t = (fx[sel] - c[0]) / EYE_HALF_WIDTH
        d = np.abs(fy[sel] - EYE_Y)
        amount = np.where(upper[sel], UPPER_LID_OPEN, -LOWER_LID_OPEN)
        p = pts[sel]
        p[:, 1] += amount * lid_profile(t) * smoothstep(LID_REACH, 0.0, d)
        dx, dy = p[:, 0] - c[0], p[:, 1] - c[1]
        inside = np.clip(shell**2 - dx * dx - dy * dy, 0.0, None)
        a, b = p[:, 2], c[2] + np.sqrt(inside)
        on_shell = 0.5 * (a + b + np.sqrt((a - b) ** 2 + 0.15**2))  # smooth max(face, shell)
        p[:, 2] = a + smoothstep(0.0, 0.5 * shell**2, inside) * (on_shell - a)
        pts[sel] = p


def _quads(rows: int, lower_copy: dict[tuple[int, int], int], mid: int) -> np.ndarray:
    """Triangles of the grid; a quad's upper edge on a slit row uses the lower copies."""
    tris = []
    for r in range(rows - 1):
        for c in range(N_COLS):
            c1 = (c + 1) % N_COLS
            a, b = r * N_COLS + c, r * N_COLS + c1
            d = lower_copy.get((r + 1, c), (r + 1) * N_COLS + c)
            e = lower_copy.get((r + 1, c1), (r + 1) * N_COLS + c1)
            if c < mid:
                tris += [(a, b, e), (a, e, d)]
            else:
                tris += [(a, b, d), (b, e, d)]
    return np.array(tris)


def _pole_fans(rows: int, bottom: int, top: int) -> np.ndarray:
    """Triangle fans closing the bottom and top rows at the poles."""
    c = np.arange(N_COLS)
    c1 = (c + 1) % N_COLS
    low = np.stack([np.full(N_COLS, bottom), c1, c], axis=1)
    r = (rows - 1) * N_COLS
    high = np.stack([r + c, r + c1, np.full(N_COLS, top)], axis=1)
    return np.vstack([low, high])


def _mirror_index(fx: np.ndarray, fy: np.ndarray, is_copy: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image, matched on (-fx, fy, slit copy or not)."""
    key = np.round(np.stack([fx, fy, is_copy], axis=1), 6)
    mkey = key * np.array([-1.0, 1.0, 1.0]) + 0.0
    order = np.lexsort(key.T[::-1])
    morder = np.lexsort(mkey.T[::-1])
    mirror = np.empty(fx.size, dtype=np.int64)
    mirror[morder] = order
    if not np.allclose(key[mirror], mkey):
        raise AssertionError("skin grid is not mirror-symmetric")
    return mirror


def build_skin() -> SkinMesh:
    """Build the neutral skin (deterministic; about 8,400 vertices, 16,900 triangles)."""
    base, theta, _ = _grid_base()
    n_grid, rows = ROW_Y.size * N_COLS, ROW_Y.size
    mouth_cols = _slit_columns(MOUTH_ROW, 0.0, MOUTH_HALF_WIDTH)
    eye_cols = [_slit_columns(EYE_ROW, s * EYE_X, EYE_HALF_WIDTH) for s in (-1.0, 1.0)]
    slit = [(MOUTH_ROW, int(c)) for c in mouth_cols]
    slit += [(EYE_ROW, int(c)) for cols in eye_cols for c in cols]
    lower_copy = {rc: n_grid + 2 + i for i, rc in enumerate(slit)}
    src = np.array([r * N_COLS + c for r, c in slit])
    base = np.vstack([base, base[src]])
    theta = np.concatenate([theta, theta[src]])
    is_copy = np.arange(base.shape[0]) >= n_grid + 2
    fx, fy = base[:, 0].copy(), base[:, 1].copy()
    pts, front = _deform(base, theta)
    _open_eyes(pts, fx, fy, (fy >= EYE_Y - 1e-9) & ~is_copy)
    upper_side = (fy >= MOUTH_Y - 1e-9) & ~is_copy
    tris = np.vstack([_quads(rows, lower_copy, N_COLS // 2), _pole_fans(rows, n_grid, n_grid + 1)])
    mirror = _mirror_index(fx, fy, is_copy.astype(float))
    n_mouth = mouth_cols.size
    corner = int(mouth_cols.max()) + 1
    eye_ids = [EYE_ROW * N_COLS + cols for cols in eye_cols]
    eye_low = [np.array([lower_copy[(EYE_ROW, int(c))] for c in cols]) for cols in eye_cols]
    return SkinMesh(
        vertices=pts,
        triangles=tris.astype(np.int32),
        fx=fx,
        fy=fy,
        front=front,
        theta=theta,
        upper_side=upper_side,
        mirror=mirror,
        upper_lip_ids=MOUTH_ROW * N_COLS + mouth_cols,
        lower_lip_ids=np.arange(n_grid + 2, n_grid + 2 + n_mouth),
        mouth_corner_x=float(base[MOUTH_ROW * N_COLS + corner, 0]),
        eye_centers=np.stack([eye_center(-1.0), eye_center(1.0)]),
        upper_lid_ids=np.stack(eye_ids),
        lower_lid_ids=np.stack(eye_low),
        eye_half_width=EYE_HALF_WIDTH,
    )


def skin_albedo(mesh: SkinMesh) -> np.ndarray:
    """Per-vertex base colour ``[V, 3]`` in [0, 1]: skin, lips, brows (for pictures and glTF)."""
    fx, fy, front = mesh.fx, mesh.fy, mesh.front
    skin = np.array([0.86, 0.67, 0.55])
    lips = np.array([0.72, 0.36, 0.36])
    brow = np.array([0.36, 0.25, 0.18])
    t = np.abs(fx) / (mesh.mouth_corner_x + 0.15)
    lip_band = np.where(fy >= MOUTH_Y, 0.75 * np.sqrt(np.clip(1 - t * t, 0, 1)) + 0.05, 0.85)
    lip_band = lip_band * np.clip(1 - t**6, 0, 1)
    d = np.where(fy >= MOUTH_Y, fy - MOUTH_Y, MOUTH_Y - fy)
    w_lip = front * smoothstep(lip_band + 0.08, lip_band - 0.08, d) * (t < 1)
    brow_y = 3.25 + 0.25 * gauss(np.abs(fx), fy, 2.4, 3.3, 1.0, 10.0) - 0.08 * (np.abs(fx) - 2.5)
    in_brow = gauss(np.abs(fx), fy, 2.55, brow_y, 1.35, 0.26) * smoothstep(0.7, 1.1, np.abs(fx))
    w_brow = front * smoothstep(0.35, 0.6, in_brow)
    col = skin * (1 - w_lip[:, None]) + lips * w_lip[:, None]
    return col * (1 - w_brow[:, None]) + brow * w_brow[:, None]
