"""glTF 2.0 export of the character with its 68 morph targets (for a web viewer).

One mesh ``ada`` with two primitives, skin and tongue. glTF requires every primitive of a mesh
to have the same targets, so both carry all 68 in ``BLENDSHAPES`` order (NIM UpperCamel names
in ``mesh.extras.targetNames``): the skin's 16 tongue targets and the tongue's 52 skin targets
are accessors without a bufferView, which glTF defines as all zeros. Skin vertices carry
``COLOR_0`` (the albedo). Written as ``ada.gltf`` + ``ada.bin``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from a2f_actors.names import BLENDSHAPES, NUM_SKIN_BLENDSHAPES
from a2f_train.character.rig import Character, load_default_character

_FLOAT, _UINT = 5126, 5125  # glTF componentType: float32, uint32
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


class _Builder:
    """Accumulates binary chunks, bufferViews and accessors."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, data: np.ndarray, kind: str, target: int) -> int:
        """Append ``data`` (float32 VEC3 or uint32 SCALAR) and return its accessor index."""
        raw = np.ascontiguousarray(data).tobytes()
        self.blob += b"\0" * (-len(self.blob) % 4)
        self.views.append(
            {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw), "target": target}
        )
        self.blob += raw
        acc: dict[str, Any] = {
            "bufferView": len(self.views) - 1,
            "componentType": _UINT if kind == "SCALAR" else _FLOAT,
            "count": int(data.shape[0] if kind == "VEC3" else data.size),
            "type": kind,
        }
        if kind == "VEC3":
            acc["min"] = [float(x) for x in data.min(axis=0)]
            acc["max"] = [float(x) for x in data.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def zeros(self, count: int) -> int:
        """An all-zero VEC3 accessor without a bufferView (glTF 2.0 section 3.6.2.3)."""
        acc = {"componentType": _FLOAT, "count": count, "type": "VEC3"}
        self.accessors.append({**acc, "min": [0.0] * 3, "max": [0.0] * 3})
        return len(self.accessors) - 1


def _primitive(b: _Builder, verts: np.ndarray, tris: np.ndarray, deltas: dict[int, np.ndarray],
               colors: np.ndarray | None) -> dict[str, Any]:  # fmt: skip
    """A primitive whose targets are ``deltas`` (68 slots; missing slots are zeros)."""
    attrs = {"POSITION": b.add(verts.astype(np.float32), "VEC3", _ARRAY_BUFFER)}
    if colors is not None:
        attrs["COLOR_0"] = b.add(colors.astype(np.float32), "VEC3", _ARRAY_BUFFER)
    targets = []
    for k in range(len(BLENDSHAPES)):
        if k in deltas:
            targets.append({"POSITION": b.add(deltas[k].astype(np.float32), "VEC3", _ARRAY_BUFFER)})
        else:
            targets.append({"POSITION": b.zeros(verts.shape[0])})
    idx = b.add(tris.astype(np.uint32).ravel(), "SCALAR", _ELEMENT_ARRAY_BUFFER)
    return {"attributes": attrs, "indices": idx, "targets": targets, "mode": 4}


def export_gltf(out_dir: Path | str, character: Character | None = None) -> tuple[Path, Path]:
    """Write ``<name>.gltf`` and ``<name>.bin`` into ``out_dir``; return both paths."""
    ch = character or load_default_character()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    b = _Builder()
    skin = _primitive(b, ch.skin_neutral, ch.skin_triangles,
                      dict(enumerate(ch.skin_deltas)), ch.skin_albedo)  # fmt: skip
    tongue_targets = {NUM_SKIN_BLENDSHAPES + k: d for k, d in enumerate(ch.tongue_deltas)}
    tongue = _primitive(b, ch.tongue_neutral, ch.tongue_triangles, tongue_targets, None)
    bin_path, gltf_path = out / f"{ch.name}.bin", out / f"{ch.name}.gltf"
    doc = {
        "asset": {"version": "2.0", "generator": "a2f_train.character.gltf"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": ch.name}],
        "meshes": [
            {
                "name": ch.name,
                "primitives": [skin, tongue],
                "weights": [0.0] * len(BLENDSHAPES),
                "extras": {"targetNames": list(BLENDSHAPES)},
            }
        ],
        "buffers": [{"byteLength": len(b.blob), "uri": bin_path.name}],
        "bufferViews": b.views,
        "accessors": b.accessors,
    }
    bin_path.write_bytes(bytes(b.blob))
    gltf_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return gltf_path, bin_path
