"""Typed, frozen records of the JSON files of NVIDIA's Audio2Face-3D / Audio2Emotion packages.

One record per JSON file of the published layout (a2f_reference.md section 1): network_info,
model_config, bs_*_config and trt_info. Field names keep NVIDIA's snake_case JSON keys;
camelCase solver keys map onto :class:`SolverParams`. The array files and whole packages are
in :mod:`a2f_actors.model_package.records`; their arrays are read-only NumPy arrays (large
ones memory-mapped), normalised to these canonical shapes:

* vertex vectors are flat, xyz interleaved: ``[3 * V]`` float32;
* PCA matrices are ``[K, 3 * V]`` float32 (row k = shape k);
* ``neutral_jaw`` is ``[result_jaw_size]`` (15 = 5 keypoints x xyz) float32;
* ``saccade_rot_matrix`` is ``[N, 2]`` float32 (N frames at 30 fps, two angles);
* blendshape poses are ``[V, 3]`` (neutral) and ``[P, V, 3]`` (deltas) float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from a2f_actors.errors import ModelPackageError
from a2f_actors.params import EmotionPostParams, FaceParams, SolverParams

#: SDK default of ``templateBBSize`` when a bs_*_config.json omits it (blendshape_solver.h).
DEFAULT_TEMPLATE_BB_SIZE = 54.7

#: The exact arrays of a regression ``model_data.npz`` (SDK rejects unexpected tensors).
REGRESSION_DATA_ARRAYS: tuple[str, ...] = (
    "shapes_matrix_skin",
    "shapes_mean_skin",
    "lip_open_pose_delta",
    "eye_close_pose_delta",
    "shapes_matrix_tongue",
    "shapes_mean_tongue",
    "neutral_jaw",
    "saccade_rot_matrix",
)

#: The exact arrays of a diffusion ``model_data_<identity>.npz``.
DIFFUSION_DATA_ARRAYS: tuple[str, ...] = (
    "neutral_skin",
    "neutral_tongue",
    "neutral_jaw",
    "lip_open_pose_delta",
    "eye_close_pose_delta",
    "saccade_rot_matrix",
)

#: Keys of the ``config`` block of an A2F model_config.json (SDK ReadAnimatorParams, TF deploy).
FACE_CONFIG_KEYS: tuple[str, ...] = (
    "input_strength",
    "upper_face_smoothing",
    "lower_face_smoothing",
    "upper_face_strength",
    "lower_face_strength",
    "face_mask_level",
    "face_mask_softness",
    "skin_strength",
    "blink_strength",
    "lower_teeth_strength",
    "lower_teeth_height_offset",
    "lower_teeth_depth_offset",
    "lip_open_offset",
    "tongue_strength",
    "tongue_height_offset",
    "tongue_depth_offset",
    "eyeballs_strength",
    "saccade_strength",
    "right_eye_rot_x_offset",
    "right_eye_rot_y_offset",
    "left_eye_rot_x_offset",
    "left_eye_rot_y_offset",
    "eyelid_open_offset",
    "eye_saccade_seed",
)


# --------------------------------------------------------------------------- network_info.json


@dataclass(frozen=True)
class NetworkId:
    """The ``id`` block of network_info.json.

    Attributes:
        type: ``"regression"`` or ``"diffusion"`` (A2E files carry no id the SDK reads).
        output: ``"geometry"`` for every A2F network.
        actor: Actor name (``"mark"``) or ``"multi"``; absent in some files.
        version: Model version string (``"2.3"``); absent in some files.
    """

    type: str
    output: str = "geometry"
    actor: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class AudioParams:
    """The ``audio_params`` block: window sizes in samples at ``samplerate`` Hz.

    Attributes:
        samplerate: Input sample rate in Hz (16000 for every published model).
        buffer_len: Network input window in samples (8320 regression, 16000 diffusion).
        buffer_ofs: Regression only: window centre offset in samples (4160).
        padding_left: Diffusion only: samples of left context (16000).
        padding_right: Diffusion only: samples of right context (16000).
    """

    samplerate: int
    buffer_len: int | None = None
    buffer_ofs: int | None = None
    padding_left: int | None = None
    padding_right: int | None = None


@dataclass(frozen=True)
class RegressionNetworkInfo:
    """network_info.json of a regression model (Mark / Claire / James v2.3).

    The network output per frame is ``num_shapes_skin + num_shapes_tongue + result_jaw_size +
    result_eyes_size`` floats (:attr:`result_size`); the emotion input is
    ``implicit_emotion_len + len(explicit_emotions)`` floats (:attr:`emotion_size`).
    """

    id: NetworkId
    implicit_emotion_len: int
    explicit_emotions: tuple[str, ...]
    default_emotion: tuple[float, ...]
    num_shapes_skin: int
    num_shapes_tongue: int
    num_verts_skin: int
    num_verts_tongue: int
    result_jaw_size: int
    result_eyes_size: int
    audio_params: AudioParams
    identities: tuple[str, ...] | None = None

    @property
    def result_size(self) -> int:
        """Length of the ``result`` output row (301 for Mark)."""
        return (
            self.num_shapes_skin
            + self.num_shapes_tongue
            + self.result_jaw_size
            + self.result_eyes_size
        )

    @property
    def emotion_size(self) -> int:
        """Length of the ``emotion`` input row (26 = 16 implicit + 10 explicit)."""
        return self.implicit_emotion_len + len(self.explicit_emotions)


@dataclass(frozen=True)
class DiffusionNetworkInfo:
    """network_info.json of a diffusion model (v3.0, several identities).

    ``skin_size`` etc. are float counts (3 x vertices for skin / tongue). One network call
    produces ``num_frames_left_truncate + num_frames_center + num_frames_right_truncate``
    frames of :attr:`frame_size` floats.
    """

    id: NetworkId
    emotions: tuple[str, ...]
    default_emotion: tuple[float, ...]
    identities: tuple[str, ...]
    skin_size: int
    tongue_size: int
    jaw_size: int
    eyes_size: int
    num_diffusion_steps: int
    num_gru_layers: int
    gru_latent_dim: int
    num_frames_left_truncate: int
    num_frames_right_truncate: int
    num_frames_center: int
    audio_params: AudioParams

    @property
    def frame_size(self) -> int:
        """Floats per predicted frame (88831 for v3.0)."""
        return self.skin_size + self.tongue_size + self.jaw_size + self.eyes_size

    @property
    def num_frames(self) -> int:
        """Frames per network call (60 for v3.0)."""
        return (
            self.num_frames_left_truncate + self.num_frames_center + self.num_frames_right_truncate
        )


@dataclass(frozen=True)
class A2ENetworkInfo:
    """network_info.json of an Audio2Emotion classifier.

    Attributes:
        samplerate: ``audio_params.samplerate`` in Hz.
        emotions: Classifier output names in logit order.
        id: The ``id`` block if the file has one (the SDK does not read it).
    """

    samplerate: int
    emotions: tuple[str, ...]
    id: NetworkId | None = None


NetworkInfo = RegressionNetworkInfo | DiffusionNetworkInfo | A2ENetworkInfo


# --------------------------------------------------------------------------- model_config.json


@dataclass(frozen=True)
class ModelConfig:
    """The ``config`` block of an A2F model_config.json (per-model post-processing defaults).

    Attributes:
        values: The 24 :data:`FACE_CONFIG_KEYS` (snake_case, as FaceParams names them).
        source_shot: Regression only: implicit-emotion shot name in implicit_emo_db.npz.
        source_frame: Regression only: frame index within ``source_shot``.
        extras: Any other keys found in the block (kept for round trips, unused).
    """

    values: Mapping[str, float]
    source_shot: str | None = None
    source_frame: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def face_params(self, base: FaceParams | None = None) -> FaceParams:
        """Return these defaults as validated :class:`FaceParams` (raises ``ConfigError``)."""
        return FaceParams.from_mapping(dict(self.values), base=base, where="model_config.json")


@dataclass(frozen=True)
class A2EModelConfig:
    """The ``post_processing_config`` block of an A2E model_config.json (section 2.4)."""

    output_emotion_length: int
    emotion_contrast: float
    max_emotions: int
    live_blend_coef: float
    enable_preferred_emotion: bool
    preferred_emotion_strength: float
    transition_smoothing: float
    fixed_dt: float
    emotion_strength: float
    preferred_emotion: tuple[float, ...]
    emotion_correspondence: Mapping[str, int]

    def emotion_post_params(self) -> EmotionPostParams:
        """Return the block as :class:`EmotionPostParams` (raises ``ConfigError``)."""
        return EmotionPostParams(
            emotion_contrast=self.emotion_contrast,
            live_blend_coef=self.live_blend_coef,
            enable_preferred_emotion=self.enable_preferred_emotion,
            preferred_emotion_strength=self.preferred_emotion_strength,
            emotion_strength=self.emotion_strength,
            max_emotions=self.max_emotions,
            live_transition_time=self.transition_smoothing,
            fixed_dt=self.fixed_dt,
            preferred_emotion=self.preferred_emotion,
            emotion_correspondence=dict(self.emotion_correspondence),
        )


# ------------------------------------------------------------------------- bs_*_config.json


@dataclass(frozen=True)
class BlendshapeConfig:
    """bs_*_config.json ``blendshape_params``: solver weights and per-pose tables.

    Attributes:
        params: Regularisation (strengthL1regularization -> ``l1_reg``, ...,
            templateBBSize -> ``template_bb_size``, default 54.7 when absent).
        num_poses: ``numPoses`` (poses excluding neutral).
        active_poses: ``bsSolveActivePoses``: 1 solve this pose, 0 output 0.
        cancel_poses: ``bsSolveCancelPoses``: pair id per pose, -1 none.
        symmetry_poses: ``bsSolveSymmetryPoses``: pair id per pose, -1 none.
        weight_multipliers: ``bsWeightMultipliers``: gain applied to each solved weight.
        weight_offsets: ``bsWeightOffsets``: offset added to each solved weight.
    """

    params: SolverParams
    num_poses: int
    active_poses: tuple[int, ...]
    cancel_poses: tuple[int, ...]
    symmetry_poses: tuple[int, ...]
    weight_multipliers: tuple[float, ...]
    weight_offsets: tuple[float, ...]


# --------------------------------------------------------------------------- trt_info.json


@dataclass(frozen=True)
class TrtInfo:
    """trt_info.json: trtexec arguments to build the TensorRT engine from network.onnx.

    Attributes:
        trt_build_param: Named groups of trtexec arguments; may contain ``{MAX_BATCH_SIZE}``
            / ``{OPT_BATCH_SIZE}`` (and other ``{NAME}``) placeholders.
        defaults: Placeholder values (e.g. ``MAX_BATCH_SIZE: 8``).
        estimated_trt_builder_time: Upstream build-time estimate in seconds, if given.
    """

    trt_build_param: Mapping[str, tuple[str, ...]]
    defaults: Mapping[str, int] = field(default_factory=dict)
    estimated_trt_builder_time: float | None = None

    def trtexec_args(self, **overrides: int) -> list[str]:
        """Return every argument with placeholders filled from defaults and ``overrides``.

        Raises:
            ModelPackageError: if a placeholder has no value.
        """
        values = {**self.defaults, **overrides}
        out: list[str] = []
        for group in sorted(self.trt_build_param):
            for arg in self.trt_build_param[group]:
                try:
                    out.append(arg.format(**values))
                except KeyError as exc:
                    raise ModelPackageError(
                        f"trt_info.json: trt_build_param[{group!r}] argument {arg!r} needs "
                        f"a value for {exc.args[0]}; pass it or add it to 'defaults'"
                    ) from exc
        return out
