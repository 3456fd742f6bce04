"""A JSON-ready description of a loaded package (what ``a2f models inspect`` prints)."""

from __future__ import annotations

from typing import Any

from a2f_actors.model_package.records import (
    A2EPackage,
    BlendshapeSet,
    DiffusionPackage,
    Package,
    RegressionPackage,
)


def _blendshapes(skin: BlendshapeSet | None, tongue: BlendshapeSet | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, bs in (("skin", skin), ("tongue", tongue)):
        if bs is None:
            continue
        out[part] = {
            "poses": len(bs.pose_names),
            "active": int(sum(bs.config.active_poses)),
            "verts": bs.num_verts,
            "frontal_mask": None if bs.frontal_mask is None else int(bs.frontal_mask.size),
        }
    return out


def _regression(package: RegressionPackage) -> dict[str, Any]:
    info = package.network_info
    return {
        "identities": list(package.identities),
        "dims": {
            "num_shapes_skin": info.num_shapes_skin,
            "num_shapes_tongue": info.num_shapes_tongue,
            "num_verts_skin": info.num_verts_skin,
            "num_verts_tongue": info.num_verts_tongue,
            "result_size": info.result_size,
            "emotion_size": info.emotion_size,
            "buffer_len": info.audio_params.buffer_len,
            "emotion_db_rows": int(package.emotion_db.emo_db.shape[0]),
        },
        "blendshapes": {info.id.actor or "": _blendshapes(package.skin, package.tongue)},
    }


def _diffusion(package: DiffusionPackage) -> dict[str, Any]:
    info = package.network_info
    return {
        "identities": [i.name for i in package.identities],
        "dims": {
            "skin_size": info.skin_size,
            "tongue_size": info.tongue_size,
            "jaw_size": info.jaw_size,
            "eyes_size": info.eyes_size,
            "frame_size": info.frame_size,
            "frames_per_call": info.num_frames,
            "num_diffusion_steps": info.num_diffusion_steps,
            "buffer_len": info.audio_params.buffer_len,
        },
        "blendshapes": {i.name: _blendshapes(i.skin, i.tongue) for i in package.identities},
    }


def summarize(package: Package) -> dict[str, Any]:
    """Describe ``package``: type, actor/version, identities, dims, files, blendshape counts."""
    if isinstance(package, A2EPackage):
        ident = package.network_info.id
        body: dict[str, Any] = {
            "type": "a2e",
            "emotions": list(package.network_info.emotions),
            "samplerate": package.network_info.samplerate,
        }
    else:
        ident = package.network_info.id
        is_reg = isinstance(package, RegressionPackage)
        body = {"type": ident.type, **(_regression(package) if is_reg else _diffusion(package))}
    body["actor"] = ident.actor if ident else None
    body["version"] = ident.version if ident else None
    if package.files is not None:
        net = package.files.network
        body["files"] = {k: str(v) for k, v in sorted(package.files.paths.items())}
        body["network"] = {
            "declared": str(net.declared),
            "trt": str(net.trt) if net.trt else None,
            "onnx": str(net.onnx) if net.onnx else None,
        }
    return body
