"""Parse and serialise the JSON files of a model package with NVIDIA's exact key names.

Parsers raise :class:`ModelPackageError` naming the file and the dotted key path; serialisers
return plain dicts that :func:`write_json` dumps deterministically (sorted keys, 4-space
indent, Python's shortest round-trip float repr).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from a2f_actors.errors import ConfigError, ModelPackageError
from a2f_actors.model_package.schema import (
    DEFAULT_TEMPLATE_BB_SIZE,
    FACE_CONFIG_KEYS,
    A2EModelConfig,
    A2ENetworkInfo,
    AudioParams,
    BlendshapeConfig,
    DiffusionNetworkInfo,
    ModelConfig,
    NetworkId,
    NetworkInfo,
    RegressionNetworkInfo,
    TrtInfo,
)
from a2f_actors.params import SolverParams


def read_json(path: Path) -> dict[str, Any]:
    """Load a JSON object from ``path`` (ModelPackageError if missing, invalid or not an object)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelPackageError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ModelPackageError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelPackageError(f"{path}: invalid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelPackageError(f"{path}: top level is {type(data).__name__}; expected an object")
    return data


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` deterministically (sorted keys, indent 4, trailing newline)."""
    text = json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


class JsonObject:
    """A JSON object with typed getters whose errors name the file and the key path."""

    def __init__(self, data: Mapping[str, Any], path: Path, prefix: str = "") -> None:
        self.data, self.path, self.prefix = data, path, prefix

    def error(self, key: str, expected: str) -> ModelPackageError:
        """Build the error for ``key`` holding a wrong or no value."""
        if key not in self.data:
            return ModelPackageError(
                f"{self.path}: key '{self.prefix}{key}' is missing; expected {expected}"
            )
        return ModelPackageError(
            f"{self.path}: key '{self.prefix}{key}' = {self.data[key]!r}; expected {expected}"
        )

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self.data

    def obj(self, key: str) -> JsonObject:
        """Return the nested object ``key``."""
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self.error(key, "an object")
        return JsonObject(value, self.path, f"{self.prefix}{key}.")

    def get_int(self, key: str) -> int:
        """Return integer ``key`` (integral floats accepted)."""
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "an integer")
        if value != int(value):
            raise self.error(key, "an integer")
        return int(value)

    def get_float(self, key: str) -> float:
        """Return number ``key`` as float."""
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, "a number")
        return float(value)

    def get_str(self, key: str) -> str:
        """Return string ``key``."""
        value = self.data.get(key)
        if not isinstance(value, str):
            raise self.error(key, "a string")
        return value

    def get_bool(self, key: str) -> bool:
        """Return boolean ``key``."""
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.error(key, "true or false")
        return value

    def get_list(self, key: str, kind: type, length: int | None = None) -> tuple[Any, ...]:
        """Return list ``key`` of ``kind`` (int, float, str) items, of ``length`` if given."""
        value = self.data.get(key)
        what = f"a list of {length if length is not None else 'any number of'} {kind.__name__}"
        if not isinstance(value, list) or (length is not None and len(value) != length):
            raise self.error(key, what)
        ok = (int, float) if kind is float else (kind,)
        if any(isinstance(v, bool) or not isinstance(v, ok) for v in value):
            raise self.error(key, what)
        return tuple(kind(v) for v in value)


def _opt(obj: JsonObject, key: str, getter: str) -> Any:
    return getattr(obj, getter)(key) if obj.has(key) else None


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- network_info.json


def _network_id(obj: JsonObject) -> NetworkId:
    ident = obj.obj("id")
    return NetworkId(
        type=ident.get_str("type"),
        output=ident.get_str("output"),
        actor=_opt(ident, "actor", "get_str"),
        version=_opt(ident, "version", "get_str"),
    )


def _audio_params(obj: JsonObject) -> AudioParams:
    audio = obj.obj("audio_params")
    return AudioParams(
        samplerate=audio.get_int("samplerate"),
        buffer_len=_opt(audio, "buffer_len", "get_int"),
        buffer_ofs=_opt(audio, "buffer_ofs", "get_int"),
        padding_left=_opt(audio, "padding_left", "get_int"),
        padding_right=_opt(audio, "padding_right", "get_int"),
    )


def _regression_info(obj: JsonObject) -> RegressionNetworkInfo:
    params = obj.obj("params")
    emotions = params.get_list("explicit_emotions", str)
    identities = params.get_list("identities", str) if params.has("identities") else None
    return RegressionNetworkInfo(
        id=_network_id(obj),
        implicit_emotion_len=params.get_int("implicit_emotion_len"),
        explicit_emotions=emotions,
        default_emotion=params.get_list("default_emotion", float, len(emotions)),
        num_shapes_skin=params.get_int("num_shapes_skin"),
        num_shapes_tongue=params.get_int("num_shapes_tongue"),
        num_verts_skin=params.get_int("num_verts_skin"),
        num_verts_tongue=params.get_int("num_verts_tongue"),
        result_jaw_size=params.get_int("result_jaw_size"),
        result_eyes_size=params.get_int("result_eyes_size"),
        audio_params=_audio_params(obj),
        identities=identities,
    )


def _diffusion_info(obj: JsonObject) -> DiffusionNetworkInfo:
    params = obj.obj("params")
    emotions = params.get_list("emotions", str)
    sizes = {
        k: params.get_int(k)
        for k in (
            "skin_size",
            "tongue_size",
            "jaw_size",
            "eyes_size",
            "num_diffusion_steps",
            "num_gru_layers",
            "gru_latent_dim",
            "num_frames_left_truncate",
            "num_frames_right_truncate",
            "num_frames_center",
        )
    }
    for key in ("skin_size", "tongue_size"):
        if sizes[key] % 3:
            raise params.error(key, "a multiple of 3 (3 floats per vertex)")
    return DiffusionNetworkInfo(
        id=_network_id(obj),
        emotions=emotions,
        default_emotion=params.get_list("default_emotion", float, len(emotions)),
        identities=params.get_list("identities", str),
        audio_params=_audio_params(obj),
        **sizes,
    )


def _a2e_info(obj: JsonObject) -> A2ENetworkInfo:
    return A2ENetworkInfo(
        samplerate=obj.obj("audio_params").get_int("samplerate"),
        emotions=obj.get_list("emotions", str),
        id=_network_id(obj) if obj.has("id") else None,
    )


def parse_network_info(path: Path) -> NetworkInfo:
    """Parse network_info.json, dispatching on ``id.type`` (A2E: top-level ``emotions``)."""
    obj = JsonObject(read_json(path), path)
    if not obj.has("id") and obj.has("emotions"):
        return _a2e_info(obj)
    kind = obj.obj("id").get_str("type")
    if kind == "regression":
        return _regression_info(obj)
    if kind == "diffusion":
        return _diffusion_info(obj)
    if obj.has("emotions"):
        return _a2e_info(obj)
    raise obj.obj("id").error("type", "'regression' or 'diffusion' (or an A2E file)")


def network_info_json(info: NetworkInfo) -> dict[str, Any]:
    """Serialise a network info record to NVIDIA's network_info.json layout."""
    if isinstance(info, A2ENetworkInfo):
        out: dict[str, Any] = {
            "audio_params": {"samplerate": info.samplerate},
            "emotions": list(info.emotions),
        }
        if info.id is not None:
            out["id"] = _drop_none(vars(info.id))
        return out
    params = {k: v for k, v in vars(info).items() if k not in ("id", "audio_params")}
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return {
        "id": _drop_none(vars(info.id)),
        "params": _drop_none(params),
        "audio_params": _drop_none(vars(info.audio_params)),
    }


# --------------------------------------------------------------------------- model_config.json


def parse_model_config(path: Path, regression: bool) -> ModelConfig:
    """Parse an A2F model_config.json ``config`` block (regression: source_shot/frame too)."""
    cfg = JsonObject(read_json(path), path).obj("config")
    # ints stay ints (eye_saccade_seed, offsets written as 0) so a rewrite is byte-identical
    values = {
        k: cfg.get_int(k) if isinstance(cfg.data.get(k), int) else cfg.get_float(k)
        for k in FACE_CONFIG_KEYS
    }
    known = {*FACE_CONFIG_KEYS, "source_shot", "source_frame"}
    extras = {k: v for k, v in cfg.data.items() if k not in known}
    if not regression:
        return ModelConfig(values=values, extras=extras)
    frame = cfg.get_int("source_frame")
    if frame < 0:
        raise cfg.error("source_frame", "a frame index >= 0")
    return ModelConfig(
        values=values, source_shot=cfg.get_str("source_shot"), source_frame=frame, extras=extras
    )


def model_config_json(cfg: ModelConfig) -> dict[str, Any]:
    """Serialise a :class:`ModelConfig` as ``{"config": {...}}``."""
    block = {**cfg.extras, **cfg.values}
    if cfg.source_shot is not None:
        block["source_shot"] = cfg.source_shot
    if cfg.source_frame is not None:
        block["source_frame"] = cfg.source_frame
    return {"config": block}


def parse_a2e_config(path: Path, emotions: tuple[str, ...]) -> A2EModelConfig:
    """Parse an A2E model_config.json ``post_processing_config`` block."""
    cfg = JsonObject(read_json(path), path).obj("post_processing_config")
    length = cfg.get_int("output_emotion_length")
    corr = cfg.obj("emotion_correspondence")
    return A2EModelConfig(
        output_emotion_length=length,
        emotion_contrast=cfg.get_float("emotion_contrast"),
        max_emotions=cfg.get_int("max_emotions"),
        live_blend_coef=cfg.get_float("live_blend_coef"),
        enable_preferred_emotion=cfg.get_bool("enable_preferred_emotion"),
        preferred_emotion_strength=cfg.get_float("preferred_emotion_strength"),
        transition_smoothing=cfg.get_float("transition_smoothing"),
        fixed_dt=cfg.get_float("fixed_dt"),
        emotion_strength=cfg.get_float("emotion_strength"),
        preferred_emotion=cfg.get_list("preferred_emotion", float, length),
        emotion_correspondence={name: corr.get_int(name) for name in emotions},
    )


def a2e_config_json(cfg: A2EModelConfig) -> dict[str, Any]:
    """Serialise an :class:`A2EModelConfig` as ``{"post_processing_config": {...}}``."""
    block = dict(vars(cfg))
    block["preferred_emotion"] = list(cfg.preferred_emotion)
    block["emotion_correspondence"] = dict(cfg.emotion_correspondence)
    return {"post_processing_config": block}


# --------------------------------------------------------------------------- bs_*_config.json

_POSE_TABLES = (
    ("bsSolveActivePoses", "active_poses", int),
    ("bsSolveCancelPoses", "cancel_poses", int),
    ("bsSolveSymmetryPoses", "symmetry_poses", int),
    ("bsWeightMultipliers", "weight_multipliers", float),
    ("bsWeightOffsets", "weight_offsets", float),
)


def parse_bs_config(path: Path) -> BlendshapeConfig:
    """Parse bs_*_config.json ``blendshape_params``; every table must have numPoses entries."""
    cfg = JsonObject(read_json(path), path).obj("blendshape_params")
    num = cfg.get_int("numPoses")
    tables = {attr: cfg.get_list(key, kind, num) for key, attr, kind in _POSE_TABLES}
    bb = cfg.get_float("templateBBSize") if cfg.has("templateBBSize") else DEFAULT_TEMPLATE_BB_SIZE
    try:
        params = SolverParams(
            l1_reg=cfg.get_float("strengthL1regularization"),
            l2_reg=cfg.get_float("strengthL2regularization"),
            symmetry_reg=cfg.get_float("strengthSymmetry"),
            temporal_reg=cfg.get_float("strengthTemporalSmoothing"),
            template_bb_size=bb,
        )
    except ConfigError as exc:
        raise ModelPackageError(f"{path}: blendshape_params: {exc}") from exc
    return BlendshapeConfig(params=params, num_poses=num, **tables)


def bs_config_json(cfg: BlendshapeConfig) -> dict[str, Any]:
    """Serialise a :class:`BlendshapeConfig` as ``{"blendshape_params": {...}}``."""
    block: dict[str, Any] = {
        "strengthL1regularization": cfg.params.l1_reg,
        "strengthL2regularization": cfg.params.l2_reg,
        "strengthSymmetry": cfg.params.symmetry_reg,
        "strengthTemporalSmoothing": cfg.params.temporal_reg,
        "templateBBSize": cfg.params.template_bb_size,
        "numPoses": cfg.num_poses,
    }
    for key, attr, _ in _POSE_TABLES:
        block[key] = list(getattr(cfg, attr))
    return {"blendshape_params": block}


# --------------------------------------------------------------------------- trt_info.json


def parse_trt_info(path: Path) -> TrtInfo:
    """Parse trt_info.json (``trt_build_param`` groups, ``defaults``, build-time estimate)."""
    obj = JsonObject(read_json(path), path)
    groups = obj.obj("trt_build_param")
    build = {name: groups.get_list(name, str) for name in groups.data}
    defaults_obj = obj.obj("defaults") if obj.has("defaults") else None
    defaults = {k: defaults_obj.get_int(k) for k in defaults_obj.data} if defaults_obj else {}
    estimate = _opt(obj, "estimated_trt_builder_time", "get_float")
    return TrtInfo(trt_build_param=build, defaults=defaults, estimated_trt_builder_time=estimate)


def trt_info_json(info: TrtInfo) -> dict[str, Any]:
    """Serialise a :class:`TrtInfo` to trt_info.json's layout."""
    out: dict[str, Any] = {"trt_build_param": {k: list(v) for k, v in info.trt_build_param.items()}}
    if info.defaults:
        out["defaults"] = dict(info.defaults)
    if info.estimated_trt_builder_time is not None:
        est = info.estimated_trt_builder_time
        out["estimated_trt_builder_time"] = int(est) if float(est).is_integer() else est
    return out
