"""The :class:`Character` record: "ada"'s arrays and how 68 weights pose her.

``pose`` is the linear blendshape model the solver inverts (neutral + sum of w * delta) for the
skin, the same for the tongue plus two rig-only couplings that make pictures right (the
tongue follows the jaw, partly at the root and fully at the tip, and skin TongueOut pushes
the tongue out between the lips), and the rigid jaw motion for the 5 jaw keypoints.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from a2f_actors.model_package import BlendshapeConfig
from a2f_actors.names import NUM_SKIN_BLENDSHAPES, SKIN_BLENDSHAPES, TONGUE_BLENDSHAPES
from a2f_train.character import eyes, jaw, mesh, skin_shapes, tongue
from a2f_train.character.solver_config import skin_solver_config, tongue_solver_config

CHARACTER_NAME = "ada"
_JAW = [SKIN_BLENDSHAPES.index(n) for n in ("JawOpen", "JawForward", "JawLeft", "JawRight")]
_TONGUE_OUT = SKIN_BLENDSHAPES.index("TongueOut")
_TONGUE_ROOT_FOLLOW = 0.3  # share of the jaw motion the tongue root takes (the tip takes all)


def _ro(a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=dtype)
    out.flags.writeable = False
    return out


def _weights(weights: np.ndarray) -> np.ndarray:
    """Accept ``[68]``, ``[N, 68]`` or ``[N, 52]`` (tongue zero); return float64 ``[N, 68]``."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[-1] == NUM_SKIN_BLENDSHAPES:
        w = np.concatenate([w, np.zeros((w.shape[0], len(TONGUE_BLENDSHAPES)))], axis=1)
    if w.ndim != 2 or w.shape[1] != len(SKIN_BLENDSHAPES) + len(TONGUE_BLENDSHAPES):
        raise ValueError(f"weights have shape {np.shape(weights)}; expected [N, 68] or [N, 52]")
    return w


@dataclass(frozen=True, eq=False)
class Character:
    """A procedural character: meshes, blendshapes, solver configs and rig data.

    Arrays are read-only float32 (int32 for indices), model units, +Y up, +Z forward,
    +X the character's left. V skin vertices, Vt tongue vertices.

    Attributes:
        name: identity name (``"ada"``).
        skin_neutral: ``[V, 3]`` neutral skin.
        skin_triangles: ``[F, 3]`` skin triangles (counter-clockwise from outside).
        skin_deltas: ``[52, V, 3]`` ARKit deltas in ``SKIN_BLENDSHAPES`` order.
        skin_albedo: ``[V, 3]`` base colour in [0, 1] (pictures, glTF).
        tongue_neutral: ``[Vt, 3]``; tongue_triangles ``[Ft, 3]``.
        tongue_deltas: ``[16, Vt, 3]`` in ``TONGUE_BLENDSHAPES`` order.
        tongue_out_delta: ``[Vt, 3]`` tongue motion driven by skin TongueOut (rig only).
        tongue_follow: ``[Vt]`` share of the jaw motion each tongue vertex takes (rig only).
        jaw_neutral: ``[5, 3]`` jaw keypoints: lower incisor tip, left/right canine,
            left/right first molar (model_data ``neutral_jaw`` is this, flattened).
        eye_centers: ``[2, 3]`` eyeball centres, (right, left) as NVIDIA's eye outputs.
        eye_radius: eyeball radius (model units).
        eye_rotation_limits_deg: ((x min, x max), (y min, y max)) degrees; +x looks down,
            +y looks to the character's left.
        saccade: ``[5000, 2]`` fixational eye angles (degrees), one row per 30 fps frame.
        frontal_mask: ``[M]`` int32 front-facing skin vertices the solver uses.
        upper_lip_ids: ``[K]`` int32 inner-lip (mouth slit) vertices of the upper lip.
        lower_lip_ids: ``[K]`` int32 their lower-lip twins (same position at neutral).
        lip_center_ids: (upper, lower) vertex ids at the lip centre (x = 0).
        lip_open_dirs: ``[K, 3]`` unit directions in which each pair opens (lower to upper).
        upper_lid_ids: ``[2, Ke]`` int32 upper-lid edge vertices (right, left eye).
        lower_lid_ids: ``[2, Ke]`` int32 their lower-lid twins.
        lip_open_pose_delta: ``[V, 3]`` model_data ``lip_open_pose_delta`` (lips part ~3).
        eye_close_pose_delta: ``[V, 3]`` model_data ``eye_close_pose_delta`` (both lids shut).
        skin_config: bs_skin_config.json contents; tongue_config: bs_tongue_config.json.
    """

    name: str
    skin_neutral: np.ndarray
    skin_triangles: np.ndarray
    skin_deltas: np.ndarray
    skin_albedo: np.ndarray
    tongue_neutral: np.ndarray
    tongue_triangles: np.ndarray
    tongue_deltas: np.ndarray
    tongue_out_delta: np.ndarray
    tongue_follow: np.ndarray
    jaw_neutral: np.ndarray
    eye_centers: np.ndarray
    eye_radius: float
    eye_rotation_limits_deg: tuple[tuple[float, float], tuple[float, float]]
    saccade: np.ndarray
    frontal_mask: np.ndarray
    upper_lip_ids: np.ndarray
    lower_lip_ids: np.ndarray
    lip_center_ids: tuple[int, int]
    lip_open_dirs: np.ndarray
    upper_lid_ids: np.ndarray
    lower_lid_ids: np.ndarray
    lip_open_pose_delta: np.ndarray
    eye_close_pose_delta: np.ndarray
    skin_config: BlendshapeConfig
    tongue_config: BlendshapeConfig

    @property
    def num_skin_verts(self) -> int:
        """V."""
        return int(self.skin_neutral.shape[0])

    @property
    def num_tongue_verts(self) -> int:
        """Vt."""
        return int(self.tongue_neutral.shape[0])

    def skin_at(self, weights: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Posed skin positions of the vertices ``ids`` only: ``[N, len(ids), 3]`` float64.

        Args:
            weights: ``[N, 68]`` (or ``[N, 52]``, ``[68]``) blendshape weights.
            ids: ``[K]`` vertex indices.
        """
        w = _weights(weights)[:, :NUM_SKIN_BLENDSHAPES]
        d = self.skin_deltas[:, ids].astype(np.float64)
        return self.skin_neutral[ids].astype(np.float64) + np.einsum("np,pkc->nkc", w, d)

    def move_with_jaw(self, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Move neutral-pose ``points`` [K, 3] rigidly with the mandible: ``[N, K, 3]``."""
        w = _weights(weights)
        pts = np.asarray(points, dtype=np.float64)
        pts = np.ascontiguousarray(np.broadcast_to(pts, (w.shape[0], *pts.shape)))
        return jaw.jaw_motion(pts, *(w[:, i] for i in _JAW))

    def jaw_keypoints(self, weights: np.ndarray) -> np.ndarray:
        """``[N, 5, 3]`` float64 jaw keypoints after the rigid motion of the jaw weights."""
        return self.move_with_jaw(self.jaw_neutral, weights)

    def pose(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pose the character.

        Args:
            weights: ``[N, 68]`` weights (52 skin then 16 tongue; ``[N, 52]`` or ``[68]`` ok).

        Returns:
            ``(skin [N, V, 3], tongue [N, Vt, 3], jaw [N, 5, 3])`` float32 model units.
            Skin is exactly neutral + sum w * delta (what the solver inverts).
        """
        w = _weights(weights)
        skin = self.skin_neutral + np.einsum(
            "np,pvc->nvc", w[:, :NUM_SKIN_BLENDSHAPES].astype(np.float32), self.skin_deltas
        )
        tg = self.tongue_neutral.astype(np.float64) + np.einsum(
            "np,pvc->nvc", w[:, NUM_SKIN_BLENDSHAPES:], self.tongue_deltas.astype(np.float64)
        )
        tg += w[:, _TONGUE_OUT, None, None] * self.tongue_out_delta
        moved = jaw.jaw_motion(tg, *(w[:, i] for i in _JAW))
        tg += self.tongue_follow[None, :, None] * (moved - tg)
        return (
            skin.astype(np.float32),
            tg.astype(np.float32),
            self.jaw_keypoints(w).astype(np.float32),
        )

    def lip_openings(self, weights: np.ndarray) -> np.ndarray:
        """Signed opening of every inner-lip pair, ``[N, K]`` model units.

        The upper minus the lower slit vertex, projected on the pair's opening direction:
        0 when the lips touch, positive when parted, negative when pressed into each other.
        """
        up = self.skin_at(weights, self.upper_lip_ids)
        low = self.skin_at(weights, self.lower_lip_ids)
        return np.einsum("nkc,kc->nk", up - low, self.lip_open_dirs.astype(np.float64))

    def lip_gap(self, weights: np.ndarray) -> np.ndarray:
        """Mean inner-lip gap ``[N]`` (model units): the mean of the positive openings.

        ~0 when the lips are closed (neutral, or JawOpen + MouthClose); about 3 at JawOpen = 1.
        """
        return np.clip(self.lip_openings(weights), 0.0, None).mean(axis=1)

    def mouth_open(self, weights: np.ndarray) -> np.ndarray:
        """Signed opening at the lip centre ``[N]`` (model units; negative = lips pressed)."""
        k = int(np.flatnonzero(self.upper_lip_ids == self.lip_center_ids[0])[0])
        return self.lip_openings(weights)[:, k]


def _lip_dirs(skin: mesh.SkinMesh, deltas: np.ndarray) -> np.ndarray:
    """Unit opening direction of each lip pair: JawOpen's lower-lip motion, reversed."""
    d = deltas[SKIN_BLENDSHAPES.index("JawOpen")]
    v = d[skin.upper_lip_ids] - d[skin.lower_lip_ids]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def frontal_mask(skin: mesh.SkinMesh) -> np.ndarray:
    """Front-facing face vertices the solver uses (about 1/3 of the skin), sorted int32."""
    keep = (np.cos(skin.theta) > 0.7) & (skin.fy > -8.7) & (skin.fy < 5.3)
    return np.flatnonzero(keep).astype(np.int32)


def build_character() -> Character:
    """Build "ada" from code (deterministic; about 0.2 s). Prefer :func:`load_default_character`."""
    skin = mesh.build_skin()
    deltas = skin_shapes.skin_deltas(skin)
    tg = tongue.build_tongue()
    centre = int(np.argmin(np.abs(skin.fx[skin.upper_lip_ids])))
    neutral = _ro(skin.vertices)
    return Character(
        name=CHARACTER_NAME,
        skin_neutral=neutral,
        skin_triangles=_ro(skin.triangles, np.int32),
        skin_deltas=_ro(deltas),
        skin_albedo=_ro(mesh.skin_albedo(skin)),
        tongue_neutral=_ro(tg.vertices),
        tongue_triangles=_ro(tg.triangles, np.int32),
        tongue_deltas=_ro(tongue.tongue_deltas(tg)),
        tongue_out_delta=_ro(tongue.tongue_out_field(tg)),
        tongue_follow=_ro(_TONGUE_ROOT_FOLLOW + (1 - _TONGUE_ROOT_FOLLOW) * tg.s),
        jaw_neutral=_ro(jaw.NEUTRAL_JAW),
        eye_centers=_ro(skin.eye_centers),
        eye_radius=mesh.EYE_RADIUS,
        eye_rotation_limits_deg=eyes.EYE_ROTATION_LIMITS_DEG,
        saccade=_ro(eyes.saccade_table()),
        frontal_mask=_ro(frontal_mask(skin), np.int32),
        upper_lip_ids=_ro(skin.upper_lip_ids, np.int32),
        lower_lip_ids=_ro(skin.lower_lip_ids, np.int32),
        lip_center_ids=(int(skin.upper_lip_ids[centre]), int(skin.lower_lip_ids[centre])),
        lip_open_dirs=_ro(_lip_dirs(skin, deltas)),
        upper_lid_ids=_ro(skin.upper_lid_ids, np.int32),
        lower_lid_ids=_ro(skin.lower_lid_ids, np.int32),
        lip_open_pose_delta=_ro(skin_shapes.lip_open_pose_delta(deltas)),
        eye_close_pose_delta=_ro(skin_shapes.eye_close_pose_delta(deltas)),
        skin_config=skin_solver_config(neutral),
        tongue_config=tongue_solver_config(tg.vertices),
    )


@functools.lru_cache(maxsize=1)
def load_default_character() -> Character:
    """The default character "ada", built once per process (arrays are read-only)."""
    return build_character()
