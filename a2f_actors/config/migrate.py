"""Convert NIM v1.3 config files to the v2.0 layout (NVIDIA's v1.3 -> v2.0 migration guide).

Stylization: ``a2f.inference_model_id`` moves under ``a2f.regression_model`` (claire/james ids
upgraded to v2.3.1, mark stays v2.3), ``inference_type: regression`` and a ``diffusion_model``
section (multi_v3.2 with the same character) are added, ``blendshape_id`` and
``tongue_blendshape_id`` are removed, the tongue face params and the 16 tongue blendshapes are
added. Advanced: the v2.0 pacing keys are written explicitly. Deployment: renamed log levels.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from a2f_actors.config._version import detect_version
from a2f_actors.config.advanced import DEFAULT_BLENDSHAPE_STREAMING_FPS, DEFAULT_BURST_MODE
from a2f_actors.config.deployment import V13_LOG_LEVELS
from a2f_actors.config.loader import Kind, detect_kind, parse_yaml, validate_data
from a2f_actors.config.model_ids import (
    NVIDIA_DIFFUSION_IDENTITIES,
    NVIDIA_DIFFUSION_MODEL_ID,
    V13_MODEL_ID_UPGRADES,
)
from a2f_actors.names import TONGUE_BLENDSHAPES

#: v2.0 defaults of the keys the migration adds (migration guide).
NEW_TONGUE_FACE_PARAMS: dict[str, float] = {
    "tongue_strength": 1.3,
    "tongue_height_offset": 0.0,
    "tongue_depth_offset": 0.0,
}
NEW_TONGUE_POSE_DEFAULTS: dict[str, float | int] = {
    "weight_multipliers": 1.0,
    "weight_offsets": 0.0,
    "active_poses": 1,
    "cancel_poses": -1,
    "symmetry_poses": -1,
}


@dataclass(frozen=True)
class MigrationResult:
    """Outcome of migrating one file.

    Attributes:
        kind: stylization, deployment or advanced.
        from_version: "1.3" or "2.0" (detected).
        changed: False when the file was already v2.0 (nothing to do).
        data: the v2.0 data (equal to the input when unchanged).
        notes: one line per change made.
        text: the YAML to write (empty when unchanged).
    """

    kind: Kind
    from_version: str
    changed: bool
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    text: str = ""


def _character(model_id: str) -> str:
    return model_id.split("_v", 1)[0]


def _migrate_a2f(a2f: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    old_id = a2f.pop("inference_model_id", None)
    for key in ("blendshape_id", "tongue_blendshape_id"):
        if a2f.pop(key, None) is not None:
            notes.append(f"a2f.{key}: removed (no longer used in v2.0)")
    out: dict[str, Any] = {"inference_type": "regression"}
    notes.append("a2f.inference_type: added (regression)")
    if old_id is not None:
        new_id = V13_MODEL_ID_UPGRADES.get(old_id, old_id)
        out["regression_model"] = {"inference_model_id": new_id}
        notes.append(f"a2f.inference_model_id {old_id} -> a2f.regression_model ({new_id})")
        if _character(new_id) in NVIDIA_DIFFUSION_IDENTITIES:
            out["diffusion_model"] = {
                "inference_model_id": NVIDIA_DIFFUSION_MODEL_ID,
                "identity": _character(new_id),
                "constant_noise": True,
            }
            notes.append(f"a2f.diffusion_model: added ({NVIDIA_DIFFUSION_MODEL_ID})")
    out["enable_tongue_blendshapes"] = a2f.pop("enable_tongue_blendshapes", True)
    face = dict(a2f.pop("face_params", None) or {})
    for key, value in NEW_TONGUE_FACE_PARAMS.items():
        if key not in face:
            face[key] = value
            notes.append(f"a2f.face_params.{key}: added ({value})")
    out["face_params"] = face
    if isinstance(a2f.get("blendshape_params"), Mapping):
        out["blendshape_params"] = _add_tongue_poses(dict(a2f.pop("blendshape_params")), notes)
    out.update(a2f)
    return out


def _add_tongue_poses(params: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    for key, default in NEW_TONGUE_POSE_DEFAULTS.items():
        table = params.get(key)
        if isinstance(table, Mapping):
            added = {name: default for name in TONGUE_BLENDSHAPES if name not in table}
            params[key] = {**table, **added}
            if added:
                notes.append(f"a2f.blendshape_params.{key}: {len(added)} tongue blendshapes added")
    return params


def _migrate_data(kind: Kind, data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    new = copy.deepcopy(data)
    if kind == "stylization":
        new["a2f"] = _migrate_a2f(dict(new["a2f"]), notes)
    elif kind == "deployment":
        old = new["logging"]["log_level"]
        old = "off" if old is False else old  # YAML 1.1 reads a bare `off` as false
        new["logging"]["log_level"] = V13_LOG_LEVELS[old]
        notes.append(f"logging.log_level: {old} -> {V13_LOG_LEVELS[old]}")
    else:
        old = new["pipeline_parameters"]
        fps = DEFAULT_BLENDSHAPE_STREAMING_FPS
        added = {"burst_mode": DEFAULT_BURST_MODE, "blendshape_streaming_fps": int(fps)}
        rest = {k: v for k, v in old.items() if k != "streammux"}
        tail = {"streammux": old["streammux"]} if "streammux" in old else {}
        new["pipeline_parameters"] = {**rest, **added, **tail}
        notes.append("pipeline_parameters: burst_mode and blendshape_streaming_fps added")
    return new


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def migrate_text(text: str, where: str, kind: Kind | None = None) -> MigrationResult:
    """Migrate the YAML ``text`` of one file (``where`` names it in messages).

    Raises:
        ConfigError: if the text is not valid YAML, or the migrated data is not a valid v2.0
            config (the message names the key).
    """
    data = parse_yaml(text, where)
    kind = kind or detect_kind(data, where)
    version = detect_version(kind, data)
    if version == "2.0":
        return MigrationResult(kind, version, changed=False, data=data)
    notes: list[str] = []
    new = _migrate_data(kind, data, notes)
    validate_data(kind, new, f"{where} (migrated)")
    header = _leading_comments(text) + "# Migrated from NIM v1.3 to v2.0 by `a2f config migrate`.\n"
    body = yaml.safe_dump(new, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return MigrationResult(kind, version, True, new, notes, header + body)
