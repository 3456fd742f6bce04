"""Small, structurally exact model packages for tests and the no-GPU default models.

Each ``build_*`` function returns an in-memory package record; each ``make_*`` function
writes it in NVIDIA's layout and returns the model.json path, ready for
:func:`~a2f_actors.model_package.load_package`. Dimensions are free (keep them small in
tests); everything else follows the published models: 52 skin + 16 tongue lowerCamel pose
names, Mark's solver configs, 10 explicit emotions, 16-dim implicit emotions, 15 jaw and 4
eye values, a 5000 x 2 saccade table, 8320/4160 (regression) and 16000 (diffusion) sample
windows. Arrays are random but reproducible from ``seed``. No ONNX is generated here; pass
``onnx=`` bytes to include one.

Example:
    >>> from a2f_actors.model_package.synthetic import make_regression_package
    >>> model_json = make_regression_package(tmp_dir, num_verts_skin=30, seed=1)
    >>> package = load_package(model_json)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a2f_actors.model_package.records import (
    A2EPackage,
    BlendshapeSet,
    DiffusionIdentity,
    DiffusionModelData,
    DiffusionPackage,
    ImplicitEmotionDB,
    RegressionModelData,
    RegressionPackage,
)
from a2f_actors.model_package.schema import (
    A2EModelConfig,
    A2ENetworkInfo,
    AudioParams,
    BlendshapeConfig,
    DiffusionNetworkInfo,
    ModelConfig,
    NetworkId,
    RegressionNetworkInfo,
    TrtInfo,
)
from a2f_actors.model_package.writer import write_package
from a2f_actors.names import (
    A2E_EMOTIONS,
    A2F_EMOTIONS,
    DEFAULT_INACTIVE_SKIN,
    DEFAULT_SYMMETRY_IDS,
    NUM_IMPLICIT_EMOTIONS,
    SKIN_BLENDSHAPES,
    TONGUE_BLENDSHAPES,
    to_lower_camel,
)
from a2f_actors.params import SolverParams

SKIN_POSE_NAMES: tuple[str, ...] = tuple(to_lower_camel(n) for n in SKIN_BLENDSHAPES)
TONGUE_POSE_NAMES: tuple[str, ...] = tuple(to_lower_camel(n) for n in TONGUE_BLENDSHAPES)
SACCADE_FRAMES = 5000  # rows of saccade_rot_matrix in NVIDIA's models (30 fps table)
JAW_SIZE = 15  # 5 jaw keypoints x xyz
EYES_SIZE = 4  # right x/y, left x/y rotation

#: Mark v2.3 model_config.json ``config`` values (a2f_reference.md section 1.3).
MARK_CONFIG: dict[str, float] = {
    "input_strength": 1.3, "upper_face_smoothing": 0.001, "lower_face_smoothing": 0.0023,
    "upper_face_strength": 1.0, "lower_face_strength": 1.4, "face_mask_level": 0.6,
    "face_mask_softness": 0.0085, "skin_strength": 1.1, "blink_strength": 1.0,
    "lower_teeth_strength": 1.3, "lower_teeth_height_offset": -0.1,
    "lower_teeth_depth_offset": 0.0, "lip_open_offset": -0.03, "tongue_strength": 1.5,
    "tongue_height_offset": 0.2, "tongue_depth_offset": 0.13, "eyeballs_strength": 1.0,
    "saccade_strength": 0.9, "right_eye_rot_x_offset": 0.0, "right_eye_rot_y_offset": -2.0,
    "left_eye_rot_x_offset": 0.0, "left_eye_rot_y_offset": 2.0, "eyelid_open_offset": 0.06,
    "eye_saccade_seed": 0,
}  # fmt: skip

#: v3.0 diffusion Claire model_config values (a2f_reference.md section 1.3).
DIFFUSION_CONFIG: dict[str, float] = {
    **MARK_CONFIG,
    "input_strength": 1.0, "lower_face_smoothing": 0.006, "lower_face_strength": 1.0,
    "skin_strength": 1.0, "eyelid_open_offset": 0.0, "lip_open_offset": 0.0,
    "tongue_strength": 1.3, "tongue_height_offset": 0.0, "tongue_depth_offset": 0.0,
    "lower_teeth_strength": 1.0, "lower_teeth_height_offset": 0.0, "saccade_strength": 0.6,
    "right_eye_rot_y_offset": 0.0, "left_eye_rot_y_offset": 0.0,
}  # fmt: skip


def _ro(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr, dtype=arr.dtype)
    arr.flags.writeable = False
    return arr


def _normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return _ro((rng.standard_normal(shape) * scale).astype(np.float32))


def skin_solver_config() -> BlendshapeConfig:
    """Mark's bs_skin_config.json: eye-look shapes and tongueOut inactive, 13 symmetry pairs."""
    n = len(SKIN_BLENDSHAPES)
    return BlendshapeConfig(
        params=SolverParams(
            l1_reg=0.5,
            l2_reg=0.5,
            symmetry_reg=100.0,
            temporal_reg=0.3,
            template_bb_size=53.4505028,
        ),
        num_poses=n,
        active_poses=tuple(0 if s in DEFAULT_INACTIVE_SKIN else 1 for s in SKIN_BLENDSHAPES),
        cancel_poses=(-1,) * n,
        symmetry_poses=tuple(DEFAULT_SYMMETRY_IDS.get(s, -1) for s in SKIN_BLENDSHAPES),
        weight_multipliers=(1.0,) * n,
        weight_offsets=(0.0,) * n,
    )


def tongue_solver_config() -> BlendshapeConfig:
    """Mark's bs_tongue_config.json: all 16 active, TipUp x2, RollUp x3, Stretch x2."""
    n = len(TONGUE_BLENDSHAPES)
    gains = {"TongueTipUp": 2.0, "TongueRollUp": 3.0, "TongueStretch": 2.0}
    return BlendshapeConfig(
        params=SolverParams(
            l1_reg=1.0,
            l2_reg=3.5,
            symmetry_reg=100.0,
            temporal_reg=5.0,
            template_bb_size=7.9358663,
        ),
        num_poses=n,
        active_poses=(1,) * n,
        cancel_poses=(-1,) * n,
        symmetry_poses=(-1,) * n,
        weight_multipliers=tuple(gains.get(s, 1.0) for s in TONGUE_BLENDSHAPES),
        weight_offsets=(0.0,) * n,
    )


def _blendshapes(rng: np.random.Generator, neutral_flat: np.ndarray, skin: bool) -> BlendshapeSet:
    """Blendshapes on ``neutral_flat`` [3V]; skin sets get a frontal mask of 2/3 of vertices."""
    verts = neutral_flat.size // 3
    names = SKIN_POSE_NAMES if skin else TONGUE_POSE_NAMES
    mask = None
    if skin:
        mask = _ro(np.sort(rng.choice(verts, size=max(1, 2 * verts // 3), replace=False)))
        mask = _ro(mask.astype(np.int32))
    return BlendshapeSet(
        pose_names=names,
        neutral=_ro(neutral_flat.reshape(verts, 3)),
        deltas=_normal(rng, (len(names), verts, 3), 0.5),
        frontal_mask=mask,
        config=skin_solver_config() if skin else tongue_solver_config(),
    )


def _regression_trt_info(info: RegressionNetworkInfo) -> TrtInfo:
    """Return the trtexec profile in the Training Framework's export_trt_info format."""
    audio, emo = info.audio_params.buffer_len, info.emotion_size
    return TrtInfo(
        trt_build_param={
            "cuda_in_graphics": ("--memPoolSize=tacticSharedMem:0.046875",),
            "batch": (
                f"--minShapes=input:1x1x{audio},emotion:1x1x{emo}",
                f"--maxShapes=input:{{MAX_BATCH_SIZE}}x1x{audio},emotion:{{MAX_BATCH_SIZE}}x1x{emo}",
                f"--optShapes=input:{{OPT_BATCH_SIZE}}x1x{audio},emotion:{{OPT_BATCH_SIZE}}x1x{emo}",
            ),
        },
        defaults={"MAX_BATCH_SIZE": 8, "OPT_BATCH_SIZE": 3},
    )


def build_regression_package(
    *,
    num_verts_skin: int = 40,
    num_shapes_skin: int = 8,
    num_verts_tongue: int = 12,
    num_shapes_tongue: int = 4,
    actor: str = "mark",
    seed: int = 0,
    shots: tuple[tuple[str, int], ...] = (("g2a_neutral", 12), ("g2a_anger", 8)),
) -> RegressionPackage:
    """Return an in-memory regression package (see :func:`make_regression_package`)."""
    rng = np.random.default_rng(seed)
    info = RegressionNetworkInfo(
        id=NetworkId(type="regression", output="geometry", actor=actor, version="2.3"),
        implicit_emotion_len=NUM_IMPLICIT_EMOTIONS,
        explicit_emotions=A2F_EMOTIONS,
        default_emotion=(0.0,) * len(A2F_EMOTIONS),
        num_shapes_skin=num_shapes_skin,
        num_shapes_tongue=num_shapes_tongue,
        num_verts_skin=num_verts_skin,
        num_verts_tongue=num_verts_tongue,
        result_jaw_size=JAW_SIZE,
        result_eyes_size=EYES_SIZE,
        audio_params=AudioParams(samplerate=16000, buffer_len=8320, buffer_ofs=4160),
        identities=(actor,),
    )
    vs, vt = 3 * num_verts_skin, 3 * num_verts_tongue
    data = RegressionModelData(
        shapes_matrix_skin=_normal(rng, (num_shapes_skin, vs), 0.1),
        shapes_mean_skin=_normal(rng, (vs,), 10.0),
        lip_open_pose_delta=_normal(rng, (vs,), 0.2),
        eye_close_pose_delta=_normal(rng, (vs,), 0.2),
        shapes_matrix_tongue=_normal(rng, (num_shapes_tongue, vt), 0.1),
        shapes_mean_tongue=_normal(rng, (vt,), 2.0),
        neutral_jaw=_normal(rng, (JAW_SIZE,), 5.0),
        saccade_rot_matrix=_normal(rng, (SACCADE_FRAMES, 2), 0.5),
    )
    sizes = tuple(n for _, n in shots)
    starts = tuple(int(s) for s in np.cumsum((0, *sizes[:-1])))
    db = ImplicitEmotionDB(
        emo_db=_normal(rng, (sum(sizes), NUM_IMPLICIT_EMOTIONS)),
        names=tuple(name for name, _ in shots),
        start=starts,
        size=sizes,
    )
    return RegressionPackage(
        network_info=info,
        model_config=ModelConfig(values=dict(MARK_CONFIG), source_shot=shots[0][0], source_frame=0),
        model_data=data,
        emotion_db=db,
        skin=_blendshapes(rng, data.shapes_mean_skin, skin=True),
        tongue=_blendshapes(rng, data.shapes_mean_tongue, skin=False),
        trt_info=_regression_trt_info(info),
    )


def make_regression_package(
    directory: Path | str,
    *,
    num_verts_skin: int = 40,
    num_shapes_skin: int = 8,
    num_verts_tongue: int = 12,
    num_shapes_tongue: int = 4,
    actor: str = "mark",
    seed: int = 0,
    onnx: bytes | None = None,
) -> Path:
    """Write a synthetic regression package into ``directory``; return its model.json.

    Args:
        directory: Target directory (created if needed).
        num_verts_skin: Skin vertices V (Mark: 61520).
        num_shapes_skin: Skin PCA shapes (Mark: 272).
        num_verts_tongue: Tongue vertices (Mark: 5602).
        num_shapes_tongue: Tongue PCA shapes (Mark: 10).
        actor: ``id.actor`` and the single identity.
        seed: Seed of every random array.
        onnx: Optional network.onnx bytes to include.
    """
    package = build_regression_package(
        num_verts_skin=num_verts_skin,
        num_shapes_skin=num_shapes_skin,
        num_verts_tongue=num_verts_tongue,
        num_shapes_tongue=num_shapes_tongue,
        actor=actor,
        seed=seed,
    )
    return write_package(package, directory, onnx=onnx)


def _diffusion_trt_info(info: DiffusionNetworkInfo) -> TrtInfo:
    """Return the trtexec profile of the Training Framework's diffusion export."""
    steps, layers, latent = info.num_diffusion_steps, info.num_gru_layers, info.gru_latent_dim
    center, ids, emo = info.num_frames_center, len(info.identities), len(info.emotions)

    def shapes(flag: str, b: str) -> str:
        return (
            f"--{flag}=window:{b}x{info.audio_params.buffer_len},identity:{b}x{ids},"
            f"emotion:{b}x{center}x{emo},input_latents:{steps}x{layers}x{b}x{latent},"
            f"noise:{b}x{steps + 1}x{info.num_frames}x{info.frame_size}"
        )

    return TrtInfo(
        trt_build_param={
            "cuda_in_graphics": ("--memPoolSize=tacticSharedMem:0.046875",),
            "batch": (
                shapes("minShapes", "1"),
                shapes("maxShapes", "{MAX_BATCH_SIZE}"),
                shapes("optShapes", "{OPT_BATCH_SIZE}"),
            ),
        },
        defaults={"MAX_BATCH_SIZE": 8, "OPT_BATCH_SIZE": 3},
        estimated_trt_builder_time=150,
    )


def build_diffusion_package(
    *,
    identities: tuple[str, ...] = ("Claire", "James", "Mark"),
    num_verts_skin: int = 40,
    num_verts_tongue: int = 12,
    seed: int = 0,
) -> DiffusionPackage:
    """Return an in-memory diffusion package (see :func:`make_diffusion_package`)."""
    rng = np.random.default_rng(seed)
    vs, vt = 3 * num_verts_skin, 3 * num_verts_tongue
    info = DiffusionNetworkInfo(
        id=NetworkId(type="diffusion", output="geometry", actor="multi", version="3.0"),
        emotions=A2F_EMOTIONS,
        default_emotion=(0.0,) * len(A2F_EMOTIONS),
        identities=tuple(identities),
        skin_size=vs,
        tongue_size=vt,
        jaw_size=JAW_SIZE,
        eyes_size=EYES_SIZE,
        num_diffusion_steps=2,
        num_gru_layers=2,
        gru_latent_dim=256,
        num_frames_left_truncate=15,
        num_frames_right_truncate=15,
        num_frames_center=30,
        audio_params=AudioParams(
            samplerate=16000, buffer_len=16000, padding_left=16000, padding_right=16000
        ),
    )
    idents = []
    for name in identities:
        data = DiffusionModelData(
            neutral_skin=_normal(rng, (vs,), 10.0),
            neutral_tongue=_normal(rng, (vt,), 2.0),
            neutral_jaw=_normal(rng, (JAW_SIZE,), 5.0),
            lip_open_pose_delta=_normal(rng, (vs,), 0.2),
            eye_close_pose_delta=_normal(rng, (vs,), 0.2),
            saccade_rot_matrix=_normal(rng, (SACCADE_FRAMES, 2), 0.5),
        )
        idents.append(
            DiffusionIdentity(
                name=name,
                model_config=ModelConfig(values=dict(DIFFUSION_CONFIG)),
                model_data=data,
                skin=_blendshapes(rng, data.neutral_skin, skin=True),
                tongue=_blendshapes(rng, data.neutral_tongue, skin=False),
            )
        )
    return DiffusionPackage(
        network_info=info, identities=tuple(idents), trt_info=_diffusion_trt_info(info)
    )


def make_diffusion_package(
    directory: Path | str,
    *,
    identities: tuple[str, ...] = ("Claire", "James", "Mark"),
    num_verts_skin: int = 40,
    num_verts_tongue: int = 12,
    seed: int = 0,
    onnx: bytes | None = None,
) -> Path:
    """Write a synthetic diffusion package (one file set per identity); return its model.json."""
    package = build_diffusion_package(
        identities=identities,
        num_verts_skin=num_verts_skin,
        num_verts_tongue=num_verts_tongue,
        seed=seed,
    )
    return write_package(package, directory, onnx=onnx)


def build_a2e_package() -> A2EPackage:
    """Return an in-memory Audio2Emotion package with the SDK's default post-processing."""
    return A2EPackage(
        network_info=A2ENetworkInfo(samplerate=16000, emotions=A2E_EMOTIONS),
        model_config=A2EModelConfig(
            output_emotion_length=len(A2F_EMOTIONS),
            emotion_contrast=1.0,
            max_emotions=6,
            live_blend_coef=0.7,
            enable_preferred_emotion=False,
            preferred_emotion_strength=0.5,
            transition_smoothing=0.5,
            fixed_dt=0.033,
            emotion_strength=0.6,
            preferred_emotion=(0.0,) * len(A2F_EMOTIONS),
            emotion_correspondence={
                "angry": 1,
                "disgust": 3,
                "fear": 4,
                "happy": 6,
                "neutral": -1,
                "sad": 9,
            },
        ),
        trt_info=TrtInfo(
            trt_build_param={
                "batch": (
                    "--minShapes=input_values:1x5000",
                    "--optShapes=input_values:{OPT_BATCH_SIZE}x30000",
                    "--maxShapes=input_values:{MAX_BATCH_SIZE}x{MAX_BUFFER_LEN}",
                )
            },
            defaults={"MAX_BATCH_SIZE": 128, "OPT_BATCH_SIZE": 8, "MAX_BUFFER_LEN": 60000},
        ),
    )


def make_a2e_package(directory: Path | str, *, onnx: bytes | None = None) -> Path:
    """Write a synthetic Audio2Emotion package into ``directory``; return its model.json."""
    return write_package(build_a2e_package(), directory, onnx=onnx)
