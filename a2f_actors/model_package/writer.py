"""Write package records in NVIDIA's directory layout (the inverse of :func:`load_package`).

File names follow the SDK samples and the Training Framework's ``deploy.py``: regression uses
``model_config.json``, ``model_data.npz``, ``implicit_emo_db.npz``, ``bs_skin.npz`` ...;
diffusion suffixes every per-identity file with ``_<identity>``. Output is deterministic
(sorted JSON keys, fixed npz timestamps), so writing the same records twice gives identical
bytes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from a2f_actors.model_package import arrays
from a2f_actors.model_package.json_files import (
    a2e_config_json,
    bs_config_json,
    model_config_json,
    network_info_json,
    trt_info_json,
    write_json,
)
from a2f_actors.model_package.npz_io import save_npz
from a2f_actors.model_package.reader import MODEL_JSON, ONNX_NAME, TRT_INFO_JSON
from a2f_actors.model_package.records import (
    A2EPackage,
    BlendshapeSet,
    DiffusionPackage,
    Package,
    RegressionPackage,
)

NETWORK_INFO_JSON = "network_info.json"
#: What model.json's ``networkPath`` names: the engine trtexec builds from network.onnx.
DEFAULT_NETWORK_PATH = "network.trt"


def write_package(
    package: Package,
    directory: Path | str,
    *,
    onnx: bytes | Path | None = None,
    network_path: str = DEFAULT_NETWORK_PATH,
) -> Path:
    """Write ``package`` into ``directory`` (created if needed) and return its model.json.

    Args:
        package: A regression, diffusion or A2E package record.
        directory: Target model directory.
        onnx: network.onnx content (bytes) or a file to copy. When None, the network.onnx of a
            package read from disk is copied if it exists; otherwise none is written.
        network_path: Value of model.json ``networkPath`` (relative to the directory).

    Returns:
        The path of the written model.json.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(package, RegressionPackage):
        index = _write_regression(package, out)
    elif isinstance(package, DiffusionPackage):
        index = _write_diffusion(package, out)
    else:
        index = _write_a2e(package, out)
    write_json(out / NETWORK_INFO_JSON, network_info_json(package.network_info))
    if package.trt_info is not None:
        write_json(out / TRT_INFO_JSON, trt_info_json(package.trt_info))
    _write_onnx(package, out / ONNX_NAME, onnx)
    model = {"networkInfoPath": NETWORK_INFO_JSON, "networkPath": network_path, **index}
    write_json(out / MODEL_JSON, model)
    return out / MODEL_JSON


def _write_onnx(package: Package, target: Path, onnx: bytes | Path | None) -> None:
    if onnx is None and package.files is not None:
        onnx = package.files.network.onnx
    if isinstance(onnx, bytes | bytearray):
        target.write_bytes(bytes(onnx))
    elif onnx is not None and Path(onnx).resolve() != target.resolve():
        shutil.copyfile(onnx, target)


def _write_blendshapes(
    out: Path, skin: BlendshapeSet | None, tongue: BlendshapeSet | None, tag: str
) -> dict[str, dict[str, str]]:
    """Write bs_{part}{tag}.npz + bs_{part}_config{tag}.json; return blendshapePaths entry."""
    entry: dict[str, dict[str, str]] = {}
    for part, bs in (("skin", skin), ("tongue", tongue)):
        if bs is None:
            continue
        data, config = f"bs_{part}{tag}.npz", f"bs_{part}_config{tag}.json"
        save_npz(
            out / data,
            arrays.blendshape_arrays(bs.pose_names, bs.neutral, bs.deltas, bs.frontal_mask),
        )
        write_json(out / config, bs_config_json(bs.config))
        entry[part] = {"config": config, "data": data}
    return entry


def _write_regression(package: RegressionPackage, out: Path) -> dict[str, Any]:
    write_json(out / "model_config.json", model_config_json(package.model_config))
    save_npz(out / "model_data.npz", arrays.model_data_arrays(package.model_data))
    save_npz(out / "implicit_emo_db.npz", arrays.emotion_db_arrays(package.emotion_db))
    return {
        "modelConfigPath": "model_config.json",
        "modelDataPath": "model_data.npz",
        "emotionDatabasePath": "implicit_emo_db.npz",
        "blendshapePaths": _write_blendshapes(out, package.skin, package.tongue, ""),
    }


def _write_diffusion(package: DiffusionPackage, out: Path) -> dict[str, Any]:
    configs, datas, blendshapes = [], [], []
    for ident in package.identities:
        config, data = f"model_config_{ident.name}.json", f"model_data_{ident.name}.npz"
        write_json(out / config, model_config_json(ident.model_config))
        save_npz(out / data, arrays.model_data_arrays(ident.model_data))
        configs.append(config)
        datas.append(data)
        blendshapes.append(_write_blendshapes(out, ident.skin, ident.tongue, f"_{ident.name}"))
    return {"modelConfigPaths": configs, "modelDataPaths": datas, "blendshapePaths": blendshapes}


def _write_a2e(package: A2EPackage, out: Path) -> dict[str, Any]:
    write_json(out / "model_config.json", a2e_config_json(package.model_config))
    return {"modelConfigPath": "model_config.json"}
