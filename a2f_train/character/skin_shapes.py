"""The 52 ARKit skin shapes of "ada", in ``SKIN_BLENDSHAPES`` order, and the model_data deltas.

Left shapes come from :mod:`~a2f_train.character.skin_mouth`,
:mod:`~a2f_train.character.skin_upper` and :mod:`~a2f_train.character.jaw`; every
``...Right`` shape (and MouthRight, JawRight) is the exact mirror image of its left twin.
"""

from __future__ import annotations

import numpy as np

from a2f_actors.names import SKIN_BLENDSHAPES
from a2f_train.character.fields import mirror_field
from a2f_train.character.jaw import jaw_deltas
from a2f_train.character.mesh import SkinMesh
from a2f_train.character.skin_mouth import MouthFrame, left_shapes, mouth_close, symmetric_shapes
from a2f_train.character.skin_upper import EyeFrame, brow_cheek_nose_shapes, eye_shapes


def _right_name(name: str) -> str:
    return name[: -len("Left")] + "Right"


def skin_shape_fields(mesh: SkinMesh) -> dict[str, np.ndarray]:
    """All 52 skin deltas by UpperCamel name, each ``[V, 3]`` float64 (model units)."""
    mouth, eye = MouthFrame(mesh), EyeFrame(mesh)
    jaw = jaw_deltas(mesh)
    shapes = {k: v for k, v in jaw.items() if k != "JawRight"}
    shapes["MouthClose"] = mouth_close(mouth, jaw["JawOpen"])
    shapes.update(symmetric_shapes(mouth))
    shapes.update(left_shapes(mouth))
    shapes.update(eye_shapes(eye))
    shapes.update(brow_cheek_nose_shapes(eye))
    for name in [n for n in shapes if n.endswith("Left")]:
        shapes[_right_name(name)] = mirror_field(shapes[name], mesh.mirror)
    missing = set(SKIN_BLENDSHAPES) - set(shapes)
    if missing:
        raise AssertionError(f"skin shapes not defined: {sorted(missing)}")
    return shapes


def skin_deltas(mesh: SkinMesh) -> np.ndarray:
    """``[52, V, 3]`` float64 skin deltas in ``SKIN_BLENDSHAPES`` order."""
    fields = skin_shape_fields(mesh)
    return np.stack([fields[name] for name in SKIN_BLENDSHAPES])


def lip_open_pose_delta(deltas: np.ndarray) -> np.ndarray:
    """``[V, 3]`` lips parting without the jaw: the opposite of MouthClose (lips ~3 units apart)."""
    return -deltas[SKIN_BLENDSHAPES.index("MouthClose")]


def eye_close_pose_delta(deltas: np.ndarray) -> np.ndarray:
    """``[V, 3]`` both eyes closed: EyeBlinkLeft + EyeBlinkRight."""
    i, j = SKIN_BLENDSHAPES.index("EyeBlinkLeft"), SKIN_BLENDSHAPES.index("EyeBlinkRight")
    return deltas[i] + deltas[j]
