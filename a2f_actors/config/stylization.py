"""NIM v2.0 stylization config (``*_stylization_config.yaml``): the artist-facing file.

Keys and defaults: a2f_reference.md section 4.4 and NVIDIA's v2.0 migration guide. Ranges come
from :mod:`a2f_actors.params` (declared once there). Blendshape maps are keyed by the
UpperCamel names of :data:`a2f_actors.names.BLENDSHAPES`; a map may be partial (missing names
take the NIM 2.0 defaults), an unknown name is an error naming the closest valid one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from a2f_actors.config._base import StrictModel
from a2f_actors.config.model_ids import (
    DEFAULT_DIFFUSION_IDENTITY,
    DEFAULT_DIFFUSION_MODEL_ID,
    DEFAULT_REGRESSION_MODEL_ID,
    IDENTITY_PATTERN,
    KNOWN_DIFFUSION_IDENTITIES,
    MODEL_ID_PATTERN,
)
from a2f_actors.errors import ConfigError
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from a2f_actors.params import (
    BS_MULTIPLIER_SPEC,
    BS_OFFSET_SPEC,
    BS_POSE_ID_RANGE,
    DEFAULT_ACTIVE_POSES,
    DEFAULT_CANCEL_POSES,
    DEFAULT_SYMMETRY_POSES,
    EMOTION_PARAM_SPECS,
    EMOTION_VALUE_RANGE,
    FACE_PARAM_SPECS,
    STYLIZATION_FACE_PARAM_NAMES,
    ParamSpec,
    check_pose_groups,
    unknown_name_message,
)

ModelId = Annotated[
    str,
    Field(
        pattern=MODEL_ID_PATTERN,
        description="model package id '<name>_v<version>', e.g. claire_v2.3.1 or ada_v2.3",
    ),
]
EmotionValue = Annotated[float, Field(ge=EMOTION_VALUE_RANGE[0], le=EMOTION_VALUE_RANGE[1])]
Multiplier = Annotated[float, Field(ge=BS_MULTIPLIER_SPEC.lo, le=BS_MULTIPLIER_SPEC.hi)]
Offset = Annotated[float, Field(ge=BS_OFFSET_SPEC.lo, le=BS_OFFSET_SPEC.hi)]
ActiveFlag = Annotated[int, Field(ge=0, le=1)]
PoseGroupId = Annotated[int, Field(ge=BS_POSE_ID_RANGE[0], le=BS_POSE_ID_RANGE[1])]


def _emotion_field(name: str, default: float | int | None = None) -> object:
    spec = EMOTION_PARAM_SPECS[name]
    value = spec.default if default is None else default
    return Field(value, ge=spec.lo, le=spec.hi, description=f"{spec.doc} [{spec.lo}, {spec.hi}]")


def _face_field(nim_name: str) -> object:
    spec: ParamSpec = FACE_PARAM_SPECS[STYLIZATION_FACE_PARAM_NAMES[nim_name]]
    sdk = STYLIZATION_FACE_PARAM_NAMES[nim_name]
    alias = "" if sdk == nim_name else f" (SDK {sdk})"
    return Field(
        None,
        ge=spec.lo,
        le=spec.hi,
        description=f"{spec.doc}{alias}; [{spec.lo}, {spec.hi}]; null = model_config.json value",
    )


def _complete_map(kind: str, values: dict[str, object], defaults: tuple[object, ...]) -> dict:
    """Reject unknown names; return all 68 names in BLENDSHAPES order, missing ones defaulted."""
    for name in values:
        if name not in BLENDSHAPES:
            raise ValueError(unknown_name_message(kind, name, BLENDSHAPES))
    return {n: values.get(n, d) for n, d in zip(BLENDSHAPES, defaults, strict=True)}


class PostProcessingParams(StrictModel):
    """Audio2Emotion post-processing (``a2e.post_processing_params``; section 2.4)."""

    emotion_contrast: float = _emotion_field("emotion_contrast")
    emotion_strength: float = _emotion_field("emotion_strength")
    enable_preferred_emotion: bool = Field(
        True, description="blend the client's preferred emotion into the A2E output"
    )
    live_blend_coef: float = _emotion_field("live_blend_coef")
    max_emotions: int = _emotion_field("max_emotions", default=3)
    preferred_emotion_strength: float = _emotion_field("preferred_emotion_strength")


class A2EStylization(StrictModel):
    """Automatic emotion detection (``a2e``)."""

    enabled: bool = Field(
        False,
        description="run Audio2Emotion on the input audio (NIM files set true; ours default to "
        "false because the shipped emotion model is at chance, see docs/models/emotion.md)",
    )
    live_transition_time: float = _emotion_field("live_transition_time")
    post_processing_params: PostProcessingParams = Field(
        default_factory=PostProcessingParams, description="A2E post-processing"
    )


class RegressionModel(StrictModel):
    """Regression network selection (``a2f.regression_model``)."""

    inference_model_id: ModelId = Field(
        DEFAULT_REGRESSION_MODEL_ID,
        description="regression model id (NVIDIA: claire_v2.3.1, james_v2.3.1, mark_v2.3)",
    )


class DiffusionModel(StrictModel):
    """Diffusion network selection (``a2f.diffusion_model``)."""

    inference_model_id: ModelId = Field(
        DEFAULT_DIFFUSION_MODEL_ID, description="diffusion model id (NVIDIA: multi_v3.2)"
    )
    identity: str = Field(
        DEFAULT_DIFFUSION_IDENTITY,
        pattern=IDENTITY_PATTERN,
        description="identity of the multi-identity model (multi_v3.2: claire, james, mark)",
    )
    constant_noise: bool = Field(
        True, description="reuse one noise sample for every inference (deterministic output)"
    )

    @model_validator(mode="after")
    def _identity_known(self) -> DiffusionModel:
        known = KNOWN_DIFFUSION_IDENTITIES.get(self.inference_model_id)
        if known is not None and self.identity not in known:
            raise ValueError(
                f"identity {self.identity!r} is not one of {self.inference_model_id}'s "
                f"identities ({', '.join(known)}); set a2f.diffusion_model.identity to one of them"
            )
        return self


class FaceParamsStylization(StrictModel):
    """Face post-processing (``a2f.face_params``); null keeps the model's own default."""

    eyelid_offset: float | None = _face_field("eyelid_offset")
    face_mask_level: float | None = _face_field("face_mask_level")
    face_mask_softness: float | None = _face_field("face_mask_softness")
    input_strength: float | None = _face_field("input_strength")
    lip_close_offset: float | None = _face_field("lip_close_offset")
    lower_face_smoothing: float | None = _face_field("lower_face_smoothing")
    lower_face_strength: float | None = _face_field("lower_face_strength")
    skin_strength: float | None = _face_field("skin_strength")
    upper_face_smoothing: float | None = _face_field("upper_face_smoothing")
    upper_face_strength: float | None = _face_field("upper_face_strength")
    tongue_strength: float | None = _face_field("tongue_strength")
    tongue_height_offset: float | None = _face_field("tongue_height_offset")
    tongue_depth_offset: float | None = _face_field("tongue_depth_offset")

    def sdk_overrides(self) -> dict[str, float]:
        """Return the values that are set, keyed by SDK name (``eyelid_open_offset``, ...)."""
        return {
            STYLIZATION_FACE_PARAM_NAMES[k]: v
            for k, v in self.model_dump().items()
            if v is not None
        }


class BlendshapeParamsStylization(StrictModel):
    """Blendshape solve and output settings (``a2f.blendshape_params``), per output name."""

    enable_clamping_bs_weight: bool = Field(
        False, description="clamp output weights to [0, 1] after multiplier and offset"
    )
    weight_multipliers: dict[str, Multiplier] = Field(
        default_factory=dict, description="per-name gain on the output weight (default 1)"
    )
    weight_offsets: dict[str, Offset] = Field(
        default_factory=dict, description="per-name offset added to the output weight (default 0)"
    )
    active_poses: dict[str, ActiveFlag] = Field(
        default_factory=dict, description="1 = pose is solved, 0 = always 0 (EyeLook*, TongueOut)"
    )
    cancel_poses: dict[str, PoseGroupId] = Field(
        default_factory=dict, description="cancel group id shared by 2 poses, -1 = none"
    )
    symmetry_poses: dict[str, PoseGroupId] = Field(
        default_factory=dict, description="symmetry group id shared by 2 poses, -1 = none"
    )

    @field_validator("weight_multipliers")
    @classmethod
    def _fill_multipliers(cls, v: dict[str, float]) -> dict[str, float]:
        return _complete_map("blendshape", v, (BS_MULTIPLIER_SPEC.default,) * len(BLENDSHAPES))

    @field_validator("weight_offsets")
    @classmethod
    def _fill_offsets(cls, v: dict[str, float]) -> dict[str, float]:
        return _complete_map("blendshape", v, (BS_OFFSET_SPEC.default,) * len(BLENDSHAPES))

    @field_validator("active_poses")
    @classmethod
    def _fill_active(cls, v: dict[str, int]) -> dict[str, int]:
        return _complete_map("blendshape", v, DEFAULT_ACTIVE_POSES)

    @field_validator("cancel_poses")
    @classmethod
    def _fill_cancel(cls, v: dict[str, int]) -> dict[str, int]:
        return _check_groups("cancel_poses", _complete_map("blendshape", v, DEFAULT_CANCEL_POSES))

    @field_validator("symmetry_poses")
    @classmethod
    def _fill_symmetry(cls, v: dict[str, int]) -> dict[str, int]:
        filled = _complete_map("blendshape", v, DEFAULT_SYMMETRY_POSES)
        return _check_groups("symmetry_poses", filled)


def _check_groups(name: str, table: dict[str, int]) -> dict[str, int]:
    try:
        check_pose_groups(name, tuple(table.values()))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return table


class A2FStylization(StrictModel):
    """Face animation (``a2f``): network choice, face post-processing and blendshape output."""

    inference_type: Literal["regression", "diffusion"] = Field(
        "regression", description="which network animates the face"
    )
    regression_model: RegressionModel = Field(
        default_factory=RegressionModel, description="used when inference_type is regression"
    )
    diffusion_model: DiffusionModel = Field(
        default_factory=DiffusionModel, description="used when inference_type is diffusion"
    )
    face_params: FaceParamsStylization = Field(
        default_factory=FaceParamsStylization, description="face post-processing"
    )
    blendshape_params: BlendshapeParamsStylization = Field(
        default_factory=BlendshapeParamsStylization, description="blendshape solve and output"
    )
    enable_tongue_blendshapes: bool = Field(
        True, description="stream the 16 tongue blendshapes after the 52 skin ones (68 in all)"
    )

    @property
    def model_id(self) -> str:
        """Id of the selected model package."""
        if self.inference_type == "diffusion":
            return self.diffusion_model.inference_model_id
        return self.regression_model.inference_model_id


class StylizationConfig(StrictModel):
    """Root of ``stylization_config.yaml``."""

    default_beginning_emotions: dict[str, EmotionValue] = Field(
        default_factory=dict,
        description="emotion state at the start of every clip, 10 A2F emotions in [0, 1]",
    )
    a2e: A2EStylization = Field(default_factory=A2EStylization, description="Audio2Emotion")
    a2f: A2FStylization = Field(default_factory=A2FStylization, description="Audio2Face")

    @field_validator("default_beginning_emotions")
    @classmethod
    def _fill_emotions(cls, v: dict[str, float]) -> dict[str, float]:
        for name in v:
            if name not in A2F_EMOTIONS:
                raise ValueError(unknown_name_message("emotion", name, A2F_EMOTIONS))
        return {n: v.get(n, 0.0) for n in A2F_EMOTIONS}
