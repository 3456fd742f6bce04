"""Per-stream animation parameters: frozen, validated, with NVIDIA's names.

These are the compute-side parameter records that travel with every request. The YAML
configuration (``a2f_actors.config``) and the gRPC runtime parameters (camelCase
``float_params``) are both mapped onto them, so ranges are declared once, here.

Sources: a2f_reference.md section 2.3 (SDK animator defaults and ranges, ``animator.h``),
section 2.4 (A2E post-processing) and section 2.5 (blendshape solver).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from a2f_actors.errors import ConfigError
from a2f_actors.names import (
    A2F_EMOTIONS,
    BLENDSHAPES,
    DEFAULT_INACTIVE_SKIN,
    DEFAULT_SYMMETRY_IDS,
    NUM_BLENDSHAPES,
)


@dataclass(frozen=True)
class ParamSpec:
    """Default and allowed closed range of one float parameter.

    Attributes:
        default: SDK default (``animator.h``) used when neither the model nor the user sets it.
        lo: Smallest allowed value.
        hi: Largest allowed value.
        grpc_name: camelCase name in the NIM gRPC ``face_params.float_params`` map, if exposed.
        doc: One line describing the parameter and its unit.
    """

    default: float
    lo: float
    hi: float
    grpc_name: str | None
    doc: str


#: SDK animator parameters (snake_case as in model_config.json) -> spec.
FACE_PARAM_SPECS: dict[str, ParamSpec] = {
    "input_strength": ParamSpec(
        1.0,
        0.0,
        10.0,
        None,
        "gain applied to the 16 kHz audio before the network (our bound; NVIDIA documents none)",
    ),
    "upper_face_smoothing": ParamSpec(
        0.001,
        0.0,
        0.1,
        "upperFaceSmoothing",
        "half-life in seconds of the upper-face two-pole smoother",
    ),
    "lower_face_smoothing": ParamSpec(
        0.0023,
        0.0,
        0.1,
        "lowerFaceSmoothing",
        "half-life in seconds of the lower-face two-pole smoother",
    ),
    "upper_face_strength": ParamSpec(
        1.0, 0.0, 2.0, "upperFaceStrength", "gain on the upper-face motion"
    ),
    "lower_face_strength": ParamSpec(
        1.3, 0.0, 2.0, "lowerFaceStrength", "gain on the lower-face motion"
    ),
    "face_mask_level": ParamSpec(
        0.6, 0.0, 1.0, "faceMaskLevel", "normalised height of the upper/lower face boundary"
    ),
    "face_mask_softness": ParamSpec(
        0.0085,
        0.001,
        0.5,
        "faceMaskSoftness",
        "width of the sigmoid blend between upper and lower face",
    ),
    "skin_strength": ParamSpec(1.0, 0.0, 2.0, "skinStrength", "gain on the whole skin motion"),
    "blink_strength": ParamSpec(1.0, 0.0, 2.0, "blinkStrength", "gain on the blink offset"),
    "blink_offset": ParamSpec(
        0.0, 0.0, 1.0, "blinkOffset", "constant eye closing (0 open, 1 closed)"
    ),
    "eyelid_open_offset": ParamSpec(
        0.06, -1.0, 1.0, "eyelidOpenOffset", "constant eyelid opening along the eye-close delta"
    ),
    "lip_open_offset": ParamSpec(
        -0.03, -0.2, 0.2, "lipOpenOffset", "constant lip opening along the lip-open delta"
    ),
    "tongue_strength": ParamSpec(1.5, 0.0, 3.0, "tongueStrength", "gain on the tongue motion"),
    "tongue_height_offset": ParamSpec(
        0.2, -3.0, 3.0, "tongueHeightOffset", "tongue offset along +Y (model units)"
    ),
    "tongue_depth_offset": ParamSpec(
        0.13, -3.0, 3.0, "tongueDepthOffset", "tongue offset along +Z (model units)"
    ),
    "lower_teeth_strength": ParamSpec(1.0, 0.0, 2.0, None, "gain on the jaw keypoint motion"),
    "lower_teeth_height_offset": ParamSpec(0.0, -3.0, 3.0, None, "jaw keypoint offset along +Y"),
    "lower_teeth_depth_offset": ParamSpec(0.0, -3.0, 3.0, None, "jaw keypoint offset along +Z"),
    "eyeballs_strength": ParamSpec(1.0, 0.0, 2.0, None, "gain on the network's eye rotations"),
    "saccade_strength": ParamSpec(1.0, 0.0, 2.0, None, "gain on the saccade table"),
    "right_eye_rot_x_offset": ParamSpec(
        0.0, -10.0, 10.0, None, "right eye X rotation offset (degrees)"
    ),
    "right_eye_rot_y_offset": ParamSpec(
        0.0, -10.0, 10.0, None, "right eye Y rotation offset (degrees)"
    ),
    "left_eye_rot_x_offset": ParamSpec(
        0.0, -10.0, 10.0, None, "left eye X rotation offset (degrees)"
    ),
    "left_eye_rot_y_offset": ParamSpec(
        0.0, -10.0, 10.0, None, "left eye Y rotation offset (degrees)"
    ),
    "eye_saccade_seed": ParamSpec(
        0.0, 0.0, 4999.0, None, "start index into the 5000-frame saccade table"
    ),
}

#: camelCase gRPC float_params name -> snake_case field name.
GRPC_FACE_PARAM_NAMES: dict[str, str] = {
    spec.grpc_name: name for name, spec in FACE_PARAM_SPECS.items() if spec.grpc_name
}

#: NIM stylization ``a2f.face_params`` key -> SDK name (a2f_reference.md section 3.3). Only two
#: keys differ; the sign convention is the same (NIM ``lip_close_offset`` -0.03 is the SDK
#: ``lip_open_offset`` -0.03 of Mark).
STYLIZATION_FACE_PARAM_NAMES: dict[str, str] = {
    "eyelid_offset": "eyelid_open_offset",
    "face_mask_level": "face_mask_level",
    "face_mask_softness": "face_mask_softness",
    "input_strength": "input_strength",
    "lip_close_offset": "lip_open_offset",
    "lower_face_smoothing": "lower_face_smoothing",
    "lower_face_strength": "lower_face_strength",
    "skin_strength": "skin_strength",
    "upper_face_smoothing": "upper_face_smoothing",
    "upper_face_strength": "upper_face_strength",
    "tongue_strength": "tongue_strength",
    "tongue_height_offset": "tongue_height_offset",
    "tongue_depth_offset": "tongue_depth_offset",
}

#: Audio2Emotion post-processing: SDK default and allowed range. Ranges are NVIDIA's documented
#: runtime ranges (``EmotionPostProcessingParameters`` comments, a2f_protos.proto); the times
#: have no documented bound, ours are generous.
EMOTION_PARAM_SPECS: dict[str, ParamSpec] = {
    "emotion_contrast": ParamSpec(1.0, 0.3, 3.0, None, "logit gain before the softmax"),
    "live_blend_coef": ParamSpec(0.7, 0.0, 1.0, None, "weight of the previous A2E frame"),
    "preferred_emotion_strength": ParamSpec(
        0.5, 0.0, 1.0, None, "weight of the preferred emotion when enabled"
    ),
    "emotion_strength": ParamSpec(0.6, 0.0, 1.0, None, "final gain on the emotion vector"),
    "max_emotions": ParamSpec(6, 1, 6, None, "A2E classes kept per frame"),
    "live_transition_time": ParamSpec(
        0.5, 0.0, 100.0, None, "seconds of the emotion transition smoothing"
    ),
    "fixed_dt": ParamSpec(0.033, 1e-6, 10.0, None, "seconds between A2E frames"),
}

#: Range of one emotion value (beginning / preferred emotions): 0 = absent, 1 = full.
EMOTION_VALUE_RANGE: tuple[float, float] = (0.0, 1.0)

#: Per-blendshape output adjustment ``w * multiplier + offset`` (a2f_reference.md section 2.5).
#: NVIDIA documents no bound; ours reject typos (a multiplier of 100) without limiting tuning.
BS_MULTIPLIER_SPEC = ParamSpec(1.0, 0.0, 10.0, None, "gain on one output blendshape weight")
BS_OFFSET_SPEC = ParamSpec(0.0, -1.0, 1.0, None, "offset added to one output blendshape weight")
#: Pose ids of the cancel / symmetry tables: -1 = none, else a group id shared by two poses.
BS_POSE_ID_RANGE: tuple[int, int] = (-1, NUM_BLENDSHAPES - 1)


def closest_name(name: str, choices: Iterable[str]) -> str | None:
    """Return the valid name closest to ``name`` (case-insensitive), or None if none is close."""
    by_lower = {c.lower(): c for c in choices}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_name_message(kind: str, name: str, choices: Iterable[str]) -> str:
    """Build the message for an unknown ``name``: the closest valid name, or all of them."""
    choices = list(choices)
    best = closest_name(name, choices)
    if best is not None:
        return f"unknown {kind} {name!r}; did you mean {best!r}?"
    return f"unknown {kind} {name!r}; valid names: {', '.join(choices)}"


def check_range(name: str, value: float, lo: float, hi: float, where: str = "") -> float:
    """Return ``value`` as float if it is finite and within ``[lo, hi]``; else raise.

    Raises:
        ConfigError: naming ``where`` (file/key path or request field), the value and the range.
    """
    v = float(value)
    if not math.isfinite(v) or v < lo or v > hi:
        loc = f"{where}: " if where else ""
        raise ConfigError(
            f"{loc}{name}={value!r} is outside the allowed range [{lo}, {hi}]; "
            f"set it to a value in that range"
        )
    return v


@dataclass(frozen=True)
class FaceParams:
    """Post-processing parameters of one stream (SDK ``AnimatorParams``; section 2.3).

    Field names are the SDK's snake_case keys of ``model_config.json``. Construct with
    :meth:`from_mapping` to start from a model's defaults and validate overrides.
    """

    input_strength: float = FACE_PARAM_SPECS["input_strength"].default
    upper_face_smoothing: float = FACE_PARAM_SPECS["upper_face_smoothing"].default
    lower_face_smoothing: float = FACE_PARAM_SPECS["lower_face_smoothing"].default
    upper_face_strength: float = FACE_PARAM_SPECS["upper_face_strength"].default
    lower_face_strength: float = FACE_PARAM_SPECS["lower_face_strength"].default
    face_mask_level: float = FACE_PARAM_SPECS["face_mask_level"].default
    face_mask_softness: float = FACE_PARAM_SPECS["face_mask_softness"].default
    skin_strength: float = FACE_PARAM_SPECS["skin_strength"].default
    blink_strength: float = FACE_PARAM_SPECS["blink_strength"].default
    blink_offset: float = FACE_PARAM_SPECS["blink_offset"].default
    eyelid_open_offset: float = FACE_PARAM_SPECS["eyelid_open_offset"].default
    lip_open_offset: float = FACE_PARAM_SPECS["lip_open_offset"].default
    tongue_strength: float = FACE_PARAM_SPECS["tongue_strength"].default
    tongue_height_offset: float = FACE_PARAM_SPECS["tongue_height_offset"].default
    tongue_depth_offset: float = FACE_PARAM_SPECS["tongue_depth_offset"].default
    lower_teeth_strength: float = FACE_PARAM_SPECS["lower_teeth_strength"].default
    lower_teeth_height_offset: float = FACE_PARAM_SPECS["lower_teeth_height_offset"].default
    lower_teeth_depth_offset: float = FACE_PARAM_SPECS["lower_teeth_depth_offset"].default
    eyeballs_strength: float = FACE_PARAM_SPECS["eyeballs_strength"].default
    saccade_strength: float = FACE_PARAM_SPECS["saccade_strength"].default
    right_eye_rot_x_offset: float = FACE_PARAM_SPECS["right_eye_rot_x_offset"].default
    right_eye_rot_y_offset: float = FACE_PARAM_SPECS["right_eye_rot_y_offset"].default
    left_eye_rot_x_offset: float = FACE_PARAM_SPECS["left_eye_rot_x_offset"].default
    left_eye_rot_y_offset: float = FACE_PARAM_SPECS["left_eye_rot_y_offset"].default
    eye_saccade_seed: float = FACE_PARAM_SPECS["eye_saccade_seed"].default

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            spec = FACE_PARAM_SPECS[f.name]
            object.__setattr__(
                self, f.name, check_range(f.name, getattr(self, f.name), spec.lo, spec.hi)
            )

    @classmethod
    def from_mapping(
        cls, values: dict[str, Any], base: FaceParams | None = None, where: str = ""
    ) -> FaceParams:
        """Build from snake_case or gRPC camelCase keys, on top of ``base`` (or SDK defaults).

        Raises:
            ConfigError: for an unknown key (listing the known ones) or a value out of range.
        """
        base = base or cls()
        updates: dict[str, float] = {}
        for key, value in values.items():
            name = GRPC_FACE_PARAM_NAMES.get(key, key)
            if name not in FACE_PARAM_SPECS:
                known = sorted(set(FACE_PARAM_SPECS) | set(GRPC_FACE_PARAM_NAMES))
                msg = unknown_name_message("face parameter", key, known)
                raise ConfigError(f"{where + ': ' if where else ''}{msg}")
            spec = FACE_PARAM_SPECS[name]
            updates[name] = check_range(key, value, spec.lo, spec.hi, where)
        return dataclasses.replace(base, **updates)


@dataclass(frozen=True)
class SolverParams:
    """Regularisation of the blendshape solve (``bs_*_config.json``; section 2.5).

    Attributes:
        l1_reg: ``strengthL1regularization``; weight of the (sum w)^2 sparsity proxy.
        l2_reg: ``strengthL2regularization``; ridge weight.
        symmetry_reg: ``strengthSymmetry``; weight pulling symmetry pairs together.
        temporal_reg: ``strengthTemporalSmoothing``; weight pulling towards the previous frame.
        template_bb_size: ``templateBBSize``; bounding-box diagonal the weights are tuned for.
        tolerance: stopping tolerance of the solve (SDK BVLS uses 1e-10).
    """

    l1_reg: float = 1.0
    l2_reg: float = 3.5
    symmetry_reg: float = 100.0
    temporal_reg: float = 0.0
    template_bb_size: float = 54.7
    tolerance: float = 1e-10

    def __post_init__(self) -> None:
        for name in ("l1_reg", "l2_reg", "symmetry_reg", "temporal_reg"):
            check_range(name, getattr(self, name), 0.0, 1e6)
        check_range("template_bb_size", self.template_bb_size, 1e-9, 1e9)
        check_range("tolerance", self.tolerance, 0.0, 1.0)


@dataclass(frozen=True)
class EmotionPostParams:
    """Audio2Emotion post-processing (SDK ``postprocess.cpp``; section 2.4).

    Attributes:
        emotion_contrast: logit gain before the softmax.
        live_blend_coef: weight of the previous frame in the live blend (0 = no memory).
        enable_preferred_emotion: blend towards ``preferred_emotion``.
        preferred_emotion_strength: weight of the preferred emotion.
        emotion_strength: final gain on the 10-dim emotion vector.
        max_emotions: number of A2E classes kept per frame.
        live_transition_time: seconds of the transition smoothing.
        fixed_dt: seconds between A2E frames assumed by the transition smoothing.
        preferred_emotion: 10 floats in ``A2F_EMOTIONS`` order.
        beginning_emotion: 10 floats; the state before the first A2E frame.
        emotion_correspondence: A2E class name -> A2F emotion index (-1: dropped).
    """

    emotion_contrast: float = 1.0
    live_blend_coef: float = 0.7
    enable_preferred_emotion: bool = False
    preferred_emotion_strength: float = 0.5
    emotion_strength: float = 0.6
    max_emotions: int = 6
    live_transition_time: float = 0.5
    fixed_dt: float = 0.033
    preferred_emotion: tuple[float, ...] = (0.0,) * 10
    beginning_emotion: tuple[float, ...] = (0.0,) * 10
    emotion_correspondence: dict[str, int] = field(
        default_factory=lambda: {
            "angry": 1,
            "disgust": 3,
            "fear": 4,
            "happy": 6,
            "neutral": -1,
            "sad": 9,
        }
    )

    def __post_init__(self) -> None:
        for name, spec in EMOTION_PARAM_SPECS.items():
            check_range(name, getattr(self, name), spec.lo, spec.hi)
        if int(self.max_emotions) != self.max_emotions:
            raise ConfigError(f"max_emotions={self.max_emotions!r} must be an integer in [1, 6]")
        lo, hi = EMOTION_VALUE_RANGE
        for name in ("preferred_emotion", "beginning_emotion"):
            vec = tuple(float(v) for v in getattr(self, name))
            if len(vec) != len(A2F_EMOTIONS):
                raise ConfigError(f"{name} has {len(vec)} values; it needs 10 (A2F_EMOTIONS order)")
            for emotion, v in zip(A2F_EMOTIONS, vec, strict=True):
                check_range(f"{name}.{emotion}", v, lo, hi)
            object.__setattr__(self, name, vec)


def _default_active(name: str) -> int:
    return 0 if name in DEFAULT_INACTIVE_SKIN else 1


#: NIM 2.0 per-pose defaults, in ``BLENDSHAPES`` order (a2f_reference.md section 2.6).
DEFAULT_BS_MULTIPLIERS: tuple[float, ...] = (BS_MULTIPLIER_SPEC.default,) * NUM_BLENDSHAPES
DEFAULT_BS_OFFSETS: tuple[float, ...] = (BS_OFFSET_SPEC.default,) * NUM_BLENDSHAPES
DEFAULT_ACTIVE_POSES: tuple[int, ...] = tuple(_default_active(n) for n in BLENDSHAPES)
DEFAULT_CANCEL_POSES: tuple[int, ...] = (-1,) * NUM_BLENDSHAPES
DEFAULT_SYMMETRY_POSES: tuple[int, ...] = tuple(
    DEFAULT_SYMMETRY_IDS.get(n, -1) for n in BLENDSHAPES
)


def check_pose_groups(name: str, ids: tuple[int, ...], where: str = "") -> None:
    """Check that every non-negative group id of a cancel/symmetry table names exactly 2 poses.

    Raises:
        ConfigError: naming the group id and the poses that share it.
    """
    groups: dict[int, list[str]] = {}
    for pose, gid in zip(BLENDSHAPES, ids, strict=True):
        if gid >= 0:
            groups.setdefault(gid, []).append(pose)
    for gid, poses in sorted(groups.items()):
        if len(poses) != 2:
            loc = f"{where}: " if where else ""
            raise ConfigError(
                f"{loc}{name} group {gid} is used by {len(poses)} pose(s) ({', '.join(poses)}); "
                f"a group pairs exactly 2 poses: give each pair its own id, or -1 for none"
            )


@dataclass(frozen=True)
class BlendshapeOutputParams:
    """Output-side blendshape settings of one stream, indexed in ``names.BLENDSHAPES`` order.

    The solver uses ``active_poses`` / ``cancel_poses`` / ``symmetry_poses``; the output stage
    computes ``w * multipliers[i] + offsets[i]`` and clamps to [0, 1] only when
    ``enable_clamping`` (NIM default: unclamped).

    Attributes:
        multipliers: 68 gains (stylization ``weight_multipliers``, runtime
            ``bs_weight_multipliers``).
        offsets: 68 offsets (``weight_offsets`` / ``bs_weight_offsets``).
        enable_clamping: ``enable_clamping_bs_weight``.
        active_poses: 68 flags, 1 = the pose takes part in the solve, 0 = output 0.
        cancel_poses: 68 group ids (-1 none); the smaller weight of a pair is cancelled.
        symmetry_poses: 68 group ids (-1 none); the weights of a pair are pulled together.
    """

    multipliers: tuple[float, ...] = DEFAULT_BS_MULTIPLIERS
    offsets: tuple[float, ...] = DEFAULT_BS_OFFSETS
    enable_clamping: bool = False
    active_poses: tuple[int, ...] = DEFAULT_ACTIVE_POSES
    cancel_poses: tuple[int, ...] = DEFAULT_CANCEL_POSES
    symmetry_poses: tuple[int, ...] = DEFAULT_SYMMETRY_POSES

    def __post_init__(self) -> None:
        specs = {"multipliers": BS_MULTIPLIER_SPEC, "offsets": BS_OFFSET_SPEC}
        for name, spec in specs.items():
            values = tuple(float(v) for v in getattr(self, name))
            self._check_len(name, values)
            for pose, v in zip(BLENDSHAPES, values, strict=True):
                check_range(f"{name}.{pose}", v, spec.lo, spec.hi)
            object.__setattr__(self, name, values)
        for name in ("active_poses", "cancel_poses", "symmetry_poses"):
            values = tuple(int(v) for v in getattr(self, name))
            self._check_len(name, values)
            lo, hi = (0, 1) if name == "active_poses" else BS_POSE_ID_RANGE
            for pose, v in zip(BLENDSHAPES, values, strict=True):
                check_range(f"{name}.{pose}", v, lo, hi)
            object.__setattr__(self, name, values)
        check_pose_groups("cancel_poses", self.cancel_poses)
        check_pose_groups("symmetry_poses", self.symmetry_poses)
        object.__setattr__(self, "enable_clamping", bool(self.enable_clamping))

    @staticmethod
    def _check_len(name: str, values: tuple[Any, ...]) -> None:
        if len(values) != NUM_BLENDSHAPES:
            raise ConfigError(
                f"{name} has {len(values)} values; it needs {NUM_BLENDSHAPES} (BLENDSHAPES order)"
            )

    def with_overrides(
        self,
        multipliers: Mapping[str, float] | None = None,
        offsets: Mapping[str, float] | None = None,
        enable_clamping: bool | None = None,
        where: str = "",
    ) -> BlendshapeOutputParams:
        """Return a copy with some per-name multipliers/offsets replaced (partial maps).

        Raises:
            ConfigError: for an unknown blendshape name (naming the closest one) or a value out
                of range.
        """
        updates: dict[str, Any] = {}
        for name, table, spec in (
            ("multipliers", multipliers, BS_MULTIPLIER_SPEC),
            ("offsets", offsets, BS_OFFSET_SPEC),
        ):
            if table:
                values = list(getattr(self, name))
                for pose, value in table.items():
                    values[_pose_index(pose, f"{where}.{name}" if where else name)] = check_range(
                        f"{name}.{pose}", value, spec.lo, spec.hi, where
                    )
                updates[name] = tuple(values)
        if enable_clamping is not None:
            updates["enable_clamping"] = bool(enable_clamping)
        return dataclasses.replace(self, **updates)


_POSE_INDEX: dict[str, int] = {name: i for i, name in enumerate(BLENDSHAPES)}


def _pose_index(pose: str, where: str) -> int:
    if pose not in _POSE_INDEX:
        raise ConfigError(f"{where}: {unknown_name_message('blendshape', pose, BLENDSHAPES)}")
    return _POSE_INDEX[pose]
