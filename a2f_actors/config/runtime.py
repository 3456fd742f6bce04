"""Per-stream parameters: layer model defaults, the stylization config and the gRPC header.

Order (later wins): SDK defaults (``a2f_actors.params``) < the model package's
``model_config.json`` < the stylization config < the stream header's runtime values.

The header arrives as plain dicts (the gRPC layer converts the protobuf with
``preserving_proto_field_name=True``): ``face_params.float_params`` (camelCase names such as
``skinStrength``), ``blendshape_params`` (``bs_weight_multipliers``, ``bs_weight_offsets``,
``enable_clamping_bs_weight``), ``emotion_post_processing_params`` and ``emotion_params``
(``live_transition_time``, ``beginning_emotion``). Unknown names are errors naming the closest
valid one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from a2f_actors.config.stylization import StylizationConfig
from a2f_actors.errors import ConfigError
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from a2f_actors.params import (
    EMOTION_PARAM_SPECS,
    EMOTION_VALUE_RANGE,
    FACE_PARAM_SPECS,
    GRPC_FACE_PARAM_NAMES,
    BlendshapeOutputParams,
    EmotionPostParams,
    FaceParams,
    check_range,
    unknown_name_message,
)

#: Header sections this module reads; ``audio_header``/``animation_ids`` belong to the caller.
HEADER_SECTIONS = frozenset(
    {"face_params", "blendshape_params", "emotion_post_processing_params", "emotion_params"}
)
_IGNORED_SECTIONS = frozenset({"audio_header", "animation_ids"})
#: A2E model_config.json ``post_processing_config`` key -> EmotionPostParams field.
_A2E_MODEL_KEYS: dict[str, str] = {
    "emotion_contrast": "emotion_contrast",
    "live_blend_coef": "live_blend_coef",
    "enable_preferred_emotion": "enable_preferred_emotion",
    "preferred_emotion_strength": "preferred_emotion_strength",
    "emotion_strength": "emotion_strength",
    "max_emotions": "max_emotions",
    "transition_smoothing": "live_transition_time",
    "fixed_dt": "fixed_dt",
    "preferred_emotion": "preferred_emotion",
    "emotion_correspondence": "emotion_correspondence",
}
_A2E_MODEL_IGNORED = frozenset({"output_emotion_length"})
#: Relative slack for values that went through float32 (0.1 arrives as 0.10000000149).
_F32_SLACK = 1e-6


@dataclass(frozen=True)
class StreamParams:
    """Everything one stream needs from configuration.

    Attributes:
        face: face post-processing (SDK animator parameters).
        emotion: Audio2Emotion post-processing, beginning emotion included.
        blendshapes: solver pose tables and output multipliers/offsets/clamp.
        a2e_enabled: run Audio2Emotion on this stream.
    """

    face: FaceParams
    emotion: EmotionPostParams
    blendshapes: BlendshapeOutputParams
    a2e_enabled: bool = True


def _f32(value: Any, lo: float, hi: float) -> float:
    """Snap a float32-rounded value that lies just outside [lo, hi] back onto the bound."""
    v = float(value)
    if math.isfinite(v):
        for bound in (lo, hi):
            if v != bound and abs(v - bound) <= _F32_SLACK * max(1.0, abs(bound)):
                return bound
    return v


def face_from_model_config(model_config: Mapping[str, Any] | None) -> FaceParams:
    """SDK defaults overlaid by a ``model_config.json`` (whole file or its ``config`` object).

    Keys that are not animator parameters (``source_shot``, ``source_frame``) are skipped.
    """
    if not model_config:
        return FaceParams()
    inner = model_config.get("config", model_config)
    values = {k: v for k, v in inner.items() if k in FACE_PARAM_SPECS}
    return FaceParams.from_mapping(values, where="model_config.json: config")


def emotion_from_model_config(model_config: Mapping[str, Any] | None) -> EmotionPostParams:
    """SDK defaults overlaid by an A2E ``model_config.json`` ``post_processing_config``."""
    if not model_config:
        return EmotionPostParams()
    inner = model_config.get("post_processing_config", model_config)
    updates: dict[str, Any] = {}
    for key, value in inner.items():
        if key in _A2E_MODEL_IGNORED:
            continue
        if key not in _A2E_MODEL_KEYS:
            where = "A2E model_config.json: post_processing_config"
            raise ConfigError(f"{where}: {unknown_name_message('key', key, _A2E_MODEL_KEYS)}")
        updates[_A2E_MODEL_KEYS[key]] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(EmotionPostParams(), **updates)


def stylized_params(
    stylization: StylizationConfig,
    a2f_model_config: Mapping[str, Any] | None = None,
    a2e_model_config: Mapping[str, Any] | None = None,
) -> StreamParams:
    """The deployment-wide parameters: model defaults overlaid by the stylization config."""
    face = FaceParams.from_mapping(
        stylization.a2f.face_params.sdk_overrides(),
        base=face_from_model_config(a2f_model_config),
        where="stylization a2f.face_params",
    )
    a2e = stylization.a2e
    emotion = dataclasses.replace(
        emotion_from_model_config(a2e_model_config),
        **a2e.post_processing_params.model_dump(),
        live_transition_time=a2e.live_transition_time,
        beginning_emotion=tuple(stylization.default_beginning_emotions[n] for n in A2F_EMOTIONS),
    )
    bs = stylization.a2f.blendshape_params
    blendshapes = BlendshapeOutputParams(
        multipliers=tuple(bs.weight_multipliers[n] for n in BLENDSHAPES),
        offsets=tuple(bs.weight_offsets[n] for n in BLENDSHAPES),
        enable_clamping=bs.enable_clamping_bs_weight,
        active_poses=tuple(bs.active_poses[n] for n in BLENDSHAPES),
        cancel_poses=tuple(bs.cancel_poses[n] for n in BLENDSHAPES),
        symmetry_poses=tuple(bs.symmetry_poses[n] for n in BLENDSHAPES),
    )
    return StreamParams(face, emotion, blendshapes, a2e_enabled=a2e.enabled)


def _section(header: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = header.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a message (mapping), got {type(value).__name__}")
    return value


def _check_keys(where: str, given: Mapping[str, Any], valid: frozenset[str] | set[str]) -> None:
    for key in given:
        if key not in valid:
            raise ConfigError(f"{where}: {unknown_name_message('field', key, sorted(valid))}")


def _runtime_face(base: FaceParams, section: Mapping[str, Any]) -> FaceParams:
    _check_keys("face_params", section, {"float_params", "integer_params", "float_array_params"})
    for unused in ("integer_params", "float_array_params"):
        if section.get(unused):
            raise ConfigError(f"face_params.{unused}: no keys are defined; send float_params")
    floats = section.get("float_params") or {}
    values: dict[str, float] = {}
    for key, value in floats.items():
        if key not in GRPC_FACE_PARAM_NAMES:
            msg = unknown_name_message("face parameter", key, sorted(GRPC_FACE_PARAM_NAMES))
            raise ConfigError(f"face_params.float_params: {msg}")
        spec = FACE_PARAM_SPECS[GRPC_FACE_PARAM_NAMES[key]]
        values[key] = _f32(value, spec.lo, spec.hi)
    return FaceParams.from_mapping(values, base=base, where="face_params.float_params")


def _runtime_blendshapes(
    base: BlendshapeOutputParams, section: Mapping[str, Any]
) -> BlendshapeOutputParams:
    valid = {"bs_weight_multipliers", "bs_weight_offsets", "enable_clamping_bs_weight"}
    _check_keys("blendshape_params", section, valid)
    return base.with_overrides(
        multipliers=section.get("bs_weight_multipliers"),
        offsets=section.get("bs_weight_offsets"),
        enable_clamping=section.get("enable_clamping_bs_weight"),
        where="blendshape_params",
    )


def _runtime_emotion(
    base: EmotionPostParams, post: Mapping[str, Any], params: Mapping[str, Any]
) -> EmotionPostParams:
    post_keys = set(EMOTION_PARAM_SPECS) - {"live_transition_time", "fixed_dt"}
    _check_keys("emotion_post_processing_params", post, post_keys | {"enable_preferred_emotion"})
    _check_keys("emotion_params", params, {"live_transition_time", "beginning_emotion"})
    updates: dict[str, Any] = {}
    for key, value in post.items():
        if key == "enable_preferred_emotion":
            updates[key] = bool(value)
            continue
        spec = EMOTION_PARAM_SPECS[key]
        where = "emotion_post_processing_params"
        updates[key] = check_range(key, _f32(value, spec.lo, spec.hi), spec.lo, spec.hi, where)
    if "max_emotions" in updates:
        updates["max_emotions"] = int(updates["max_emotions"])
    if "live_transition_time" in params:
        spec = EMOTION_PARAM_SPECS["live_transition_time"]
        value = _f32(params["live_transition_time"], spec.lo, spec.hi)
        updates["live_transition_time"] = check_range(
            "live_transition_time", value, spec.lo, spec.hi, "emotion_params"
        )
    if params.get("beginning_emotion"):
        updates["beginning_emotion"] = _beginning(base, params["beginning_emotion"])
    return dataclasses.replace(base, **updates)


def _beginning(base: EmotionPostParams, given: Mapping[str, Any]) -> tuple[float, ...]:
    values = dict(zip(A2F_EMOTIONS, base.beginning_emotion, strict=True))
    lo, hi = EMOTION_VALUE_RANGE
    for name, value in given.items():
        if name not in values:
            msg = unknown_name_message("emotion", name, A2F_EMOTIONS)
            raise ConfigError(f"emotion_params.beginning_emotion: {msg}")
        values[name] = check_range(
            name, _f32(value, lo, hi), lo, hi, "emotion_params.beginning_emotion"
        )
    return tuple(values[n] for n in A2F_EMOTIONS)


def apply_runtime(base: StreamParams, header: Mapping[str, Any] | None) -> StreamParams:
    """Overlay one stream header's runtime parameters on ``base`` (partial maps allowed).

    Raises:
        ConfigError: for an unknown section, name or emotion, or a value out of its range; the
            message names the header field (``face_params.float_params: ...``).
    """
    if not header:
        return base
    _check_keys("header", header, HEADER_SECTIONS | _IGNORED_SECTIONS)
    return dataclasses.replace(
        base,
        face=_runtime_face(base.face, _section(header, "face_params")),
        blendshapes=_runtime_blendshapes(base.blendshapes, _section(header, "blendshape_params")),
        emotion=_runtime_emotion(
            base.emotion,
            _section(header, "emotion_post_processing_params"),
            _section(header, "emotion_params"),
        ),
    )


def resolve_stream_params(
    stylization: StylizationConfig,
    header: Mapping[str, Any] | None = None,
    a2f_model_config: Mapping[str, Any] | None = None,
    a2e_model_config: Mapping[str, Any] | None = None,
) -> StreamParams:
    """All four layers at once (use :func:`stylized_params` once + :func:`apply_runtime`)."""
    return apply_runtime(stylized_params(stylization, a2f_model_config, a2e_model_config), header)
