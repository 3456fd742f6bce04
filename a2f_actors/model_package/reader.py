"""Load an NVIDIA model directory (model.json and the files it names) into typed records.

Paths inside model.json are relative to model.json's directory (absolute paths are kept), as
in the SDK's ``parse_helper.cpp``. The package kind is taken from network_info.json's
``id.type``; Audio2Emotion packages are recognised by their network_info (top-level
``emotions``) and by a model.json without model data. Every shape is validated against
network_info.json; the first problem raises :class:`ModelPackageError` naming the file, the
array or key, and what was expected versus found.
"""

from __future__ import annotations

from pathlib import Path

from a2f_actors.errors import ModelPackageError
from a2f_actors.model_package import arrays
from a2f_actors.model_package.json_files import (
    JsonObject,
    parse_a2e_config,
    parse_bs_config,
    parse_model_config,
    parse_network_info,
    parse_trt_info,
    read_json,
)
from a2f_actors.model_package.records import (
    A2EPackage,
    BlendshapeSet,
    DiffusionIdentity,
    DiffusionPackage,
    ImplicitEmotionDB,
    NetworkFiles,
    Package,
    PackageFiles,
    RegressionPackage,
)
from a2f_actors.model_package.schema import (
    A2ENetworkInfo,
    DiffusionNetworkInfo,
    ModelConfig,
    RegressionNetworkInfo,
    TrtInfo,
)

MODEL_JSON = "model.json"
TRT_INFO_JSON = "trt_info.json"
ONNX_NAME = "network.onnx"


class _Index:
    """model.json with path resolution; records every resolved path by its key."""

    def __init__(self, model_json: Path) -> None:
        self.path = model_json
        self.root = model_json.parent
        self.obj = JsonObject(read_json(model_json), model_json)
        self.paths: dict[str, Path] = {}

    def file(self, obj: JsonObject, key: str, *, must_exist: bool = True) -> Path:
        """Resolve path ``key`` of ``obj``; it must name an existing file unless told."""
        resolved = self.root / obj.get_str(key)  # an absolute value replaces root
        label = f"{obj.prefix}{key}"
        self.paths[label] = resolved
        if must_exist and not resolved.is_file():
            raise ModelPackageError(
                f"{self.path}: key '{label}' names {obj.data[key]!r}, but {resolved} does not exist"
            )
        return resolved

    def network(self) -> NetworkFiles:
        """Resolve ``networkPath`` and the network.onnx beside it (either may be absent)."""
        declared = self.file(self.obj, "networkPath", must_exist=False)
        onnx = declared if declared.suffix == ".onnx" else declared.parent / ONNX_NAME
        return NetworkFiles(
            declared=declared,
            trt=declared if declared.suffix != ".onnx" and declared.is_file() else None,
            onnx=onnx if onnx.is_file() else None,
        )

    def trt_info(self) -> TrtInfo | None:
        """Read trt_info.json beside model.json when present (model.json does not name it)."""
        path = self.root / TRT_INFO_JSON
        if not path.is_file():
            return None
        self.paths["trt_info"] = path
        return parse_trt_info(path)

    def files(self, network: NetworkFiles) -> PackageFiles:
        """Return the provenance record of everything resolved so far."""
        return PackageFiles(model_json=self.path, paths=dict(self.paths), network=network)


def _model_json_path(path: Path | str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_JSON
    if not p.is_file():
        raise ModelPackageError(f"{p}: file not found (pass a model directory or its model.json)")
    return p


def load_package(path: Path | str) -> Package:
    """Load and validate a model package.

    Args:
        path: A model directory (its ``model.json`` is read) or the model.json file itself
            (e.g. ``model_fp16.json``).

    Returns:
        A :class:`RegressionPackage`, :class:`DiffusionPackage` or :class:`A2EPackage`.
        Large arrays are memory-mapped read-only.

    Raises:
        ModelPackageError: naming the file, the key or array, and expected versus found.
    """
    index = _Index(_model_json_path(path))
    info = parse_network_info(index.file(index.obj, "networkInfoPath"))
    if isinstance(info, RegressionNetworkInfo):
        return _load_regression(index, info)
    if isinstance(info, DiffusionNetworkInfo):
        return _load_diffusion(index, info)
    return _load_a2e(index, info)


def _blendshape_set(index: _Index, obj: JsonObject, part: str, verts: int) -> BlendshapeSet | None:
    """Read ``blendshapePaths...<part>`` ({config, data}) if model.json lists it."""
    if not obj.has(part):
        return None
    paths = obj.obj(part)
    config_path = index.file(paths, "config")
    data_path = index.file(paths, "data")
    config = parse_bs_config(config_path)
    names, neutral, deltas, mask = arrays.read_blendshape_data(data_path, verts)
    if config.num_poses != len(names):
        raise ModelPackageError(
            f"{config_path}: key 'blendshape_params.numPoses' = {config.num_poses}; expected "
            f"{len(names)} = poses in {data_path.name} poseNames (excluding 'neutral')"
        )
    return BlendshapeSet(
        pose_names=names, neutral=neutral, deltas=deltas, frontal_mask=mask, config=config
    )


def _check_source(config: ModelConfig, config_path: Path, db: ImplicitEmotionDB) -> None:
    shot, frame = config.source_shot or "", config.source_frame or 0
    if shot not in db.names:
        raise ModelPackageError(
            f"{config_path}: key 'config.source_shot' = {shot!r}; expected one of "
            f"implicit_emo_db.npz emo_spec_names {list(db.names)[:8]}"
        )
    size = db.size[db.names.index(shot)]
    if frame >= size:
        raise ModelPackageError(
            f"{config_path}: key 'config.source_frame' = {frame}; expected < {size} "
            f"(emo_spec_size of shot {shot!r})"
        )


def _load_regression(index: _Index, info: RegressionNetworkInfo) -> RegressionPackage:
    obj = index.obj
    network = index.network()
    config_path = index.file(obj, "modelConfigPath")
    config = parse_model_config(config_path, regression=True)
    data = arrays.read_regression_model_data(index.file(obj, "modelDataPath"), info)
    db_path = index.file(obj, "emotionDatabasePath")
    emotion_db = arrays.read_emotion_db(db_path, info.implicit_emotion_len)
    _check_source(config, config_path, emotion_db)
    bs = obj.obj("blendshapePaths") if obj.has("blendshapePaths") else JsonObject({}, index.path)
    skin = _blendshape_set(index, bs, "skin", info.num_verts_skin)
    tongue = _blendshape_set(index, bs, "tongue", info.num_verts_tongue)
    trt_info = index.trt_info()
    return RegressionPackage(
        network_info=info,
        model_config=config,
        model_data=data,
        emotion_db=emotion_db,
        skin=skin,
        tongue=tongue,
        trt_info=trt_info,
        files=index.files(network),
    )


def _per_identity(index: _Index, key: str, count: int) -> list[JsonObject]:
    """Return model.json list ``key`` as one JsonObject per identity, keyed ``key[i]``."""
    values = index.obj.data.get(key)
    if not isinstance(values, list) or len(values) != count:
        raise index.obj.error(
            key, f"a list with one entry per identity ({count}, network_info.json identities)"
        )
    return [JsonObject({f"{key}[{i}]": v}, index.path) for i, v in enumerate(values)]


def _identity(
    index: _Index, info: DiffusionNetworkInfo, i: int, bs: JsonObject | None
) -> DiffusionIdentity:
    configs = _per_identity(index, "modelConfigPaths", len(info.identities))
    datas = _per_identity(index, "modelDataPaths", len(info.identities))
    config_path = index.file(configs[i], f"modelConfigPaths[{i}]")
    data_path = index.file(datas[i], f"modelDataPaths[{i}]")
    bs_obj = bs.obj(f"blendshapePaths[{i}]") if bs is not None else JsonObject({}, index.path)
    return DiffusionIdentity(
        name=info.identities[i],
        model_config=parse_model_config(config_path, regression=False),
        model_data=arrays.read_diffusion_model_data(data_path, info),
        skin=_blendshape_set(index, bs_obj, "skin", info.skin_size // 3),
        tongue=_blendshape_set(index, bs_obj, "tongue", info.tongue_size // 3),
    )


def _load_diffusion(index: _Index, info: DiffusionNetworkInfo) -> DiffusionPackage:
    network = index.network()
    count = len(info.identities)
    bs_list: list[JsonObject | None] = [None] * count
    if index.obj.has("blendshapePaths"):
        bs_list = list(_per_identity(index, "blendshapePaths", count))
    identities = tuple(_identity(index, info, i, bs_list[i]) for i in range(count))
    trt_info = index.trt_info()
    return DiffusionPackage(
        network_info=info, identities=identities, trt_info=trt_info, files=index.files(network)
    )


def _load_a2e(index: _Index, info: A2ENetworkInfo) -> A2EPackage:
    network = index.network()
    config = parse_a2e_config(index.file(index.obj, "modelConfigPath"), info.emotions)
    trt_info = index.trt_info()
    return A2EPackage(
        network_info=info, model_config=config, trt_info=trt_info, files=index.files(network)
    )
