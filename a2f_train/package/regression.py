"""Write a trained regression network as a complete NVIDIA-layout package (``ada_v2.3``).

Files (a2f_reference.md section 1.2): network.onnx, network_info.json (schema 1.3, buffer
8320 / 4160 / 16 kHz), model.json, model_config.json (post-processing defaults tuned for
"ada", ``source_shot`` = the neutral row of the implicit-emotion table), model_data.npz (the
8 arrays: the corpus PCA re-centred on ada's neutral pose, lip/eye deltas, tongue PCA,
neutral jaw, saccade table), implicit_emo_db.npz (one learned 16-dim row per corpus emotion
"shot", ``emo_spec_size`` 1 each), bs_skin/bs_tongue + configs (the character's), and
trt_info.json. Written with :func:`a2f_actors.model_package.write_package`, read back with
``load_package`` (full validation). NumPy only: the ONNX bytes come from the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from a2f_actors.model_package import (
    ImplicitEmotionDB,
    ModelConfig,
    RegressionModelData,
    RegressionNetworkInfo,
    RegressionPackage,
    TrtInfo,
    load_package,
    write_package,
)
from a2f_actors.model_package.schema import AudioParams, NetworkId
from a2f_actors.names import A2F_EMOTIONS, NUM_IMPLICIT_EMOTIONS

__all__ = ["ADA_CONFIG", "SHOT_PREFIX", "build_package", "write_regression_package"]

#: Shot names in implicit_emo_db.npz are ``ada_<emotion>`` (``ada_neutral`` is row 0).
SHOT_PREFIX = "ada_"

#: model_config.json defaults for ada. The network is trained on ada's own geometry, so every
#: strength is 1 and every offset 0 (Mark's 1.3 input / 1.4 lower-face / -0.03 lip offsets
#: compensate for his network; ours needs none). Lower-face smoothing 0.006 s (the diffusion
#: models' value): measured jitter 1.42x the ground truth's instead of 1.53x at Mark's 0.0023,
#: for one fewer closed real-speech bilabial in 34 (docs/models/regression.md).
ADA_CONFIG: dict[str, float] = {
    "input_strength": 1.0, "upper_face_smoothing": 0.001, "lower_face_smoothing": 0.006,
    "upper_face_strength": 1.0, "lower_face_strength": 1.0, "face_mask_level": 0.6,
    "face_mask_softness": 0.0085, "skin_strength": 1.0, "blink_strength": 1.0,
    "lower_teeth_strength": 1.0, "lower_teeth_height_offset": 0.0,
    "lower_teeth_depth_offset": 0.0, "lip_open_offset": 0.0, "tongue_strength": 1.0,
    "tongue_height_offset": 0.0, "tongue_depth_offset": 0.0, "eyeballs_strength": 1.0,
    "saccade_strength": 0.6, "right_eye_rot_x_offset": 0.0, "right_eye_rot_y_offset": 0.0,
    "left_eye_rot_x_offset": 0.0, "left_eye_rot_y_offset": 0.0, "eyelid_open_offset": 0.0,
    "eye_saccade_seed": 0,
}  # fmt: skip


def _ro(a: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=dtype)
    out.flags.writeable = False
    return out


def network_info(
    num_skin: int, num_tongue: int, verts: int, verts_tongue: int, actor: str
) -> RegressionNetworkInfo:
    """network_info.json record of an ada-style regression network."""
    return RegressionNetworkInfo(
        id=NetworkId(type="regression", output="geometry", actor=actor, version="2.3"),
        implicit_emotion_len=NUM_IMPLICIT_EMOTIONS,
        explicit_emotions=A2F_EMOTIONS,
        default_emotion=(0.0,) * len(A2F_EMOTIONS),
        num_shapes_skin=num_skin,
        num_shapes_tongue=num_tongue,
        num_verts_skin=verts,
        num_verts_tongue=verts_tongue,
        result_jaw_size=15,
        result_eyes_size=4,
        audio_params=AudioParams(samplerate=16000, buffer_len=8320, buffer_ofs=4160),
        identities=(actor,),
    )


def trt_info(emotion_size: int = 26, buffer_len: int = 8320) -> TrtInfo:
    """The trtexec profile in the training framework's format (min 1, opt 10, max 128)."""
    a, e = buffer_len, emotion_size
    return TrtInfo(
        trt_build_param={
            "batch": (
                f"--minShapes=input:1x1x{a},emotion:1x1x{e}",
                f"--optShapes=input:{{OPT_BATCH_SIZE}}x1x{a},emotion:{{OPT_BATCH_SIZE}}x1x{e}",
                f"--maxShapes=input:{{MAX_BATCH_SIZE}}x1x{a},emotion:{{MAX_BATCH_SIZE}}x1x{e}",
            ),
        },
        defaults={"MAX_BATCH_SIZE": 128, "OPT_BATCH_SIZE": 10},
    )


def emotion_db(table: np.ndarray, shots: tuple[str, ...]) -> ImplicitEmotionDB:
    """implicit_emo_db record: one row per shot (``ada_<shot>``), one frame each."""
    n = len(shots)
    return ImplicitEmotionDB(
        emo_db=_ro(np.asarray(table, np.float32).reshape(n, NUM_IMPLICIT_EMOTIONS)),
        names=tuple(SHOT_PREFIX + s for s in shots),
        start=tuple(range(n)),
        size=(1,) * n,
    )


def build_package(
    basis: Any, character: Any, table: np.ndarray, shots: tuple[str, ...], actor: str = "ada"
) -> RegressionPackage:
    """The package record (no ONNX) from a ``data.PackageBasis``, the character and the table.

    Args:
        basis: ``a2f_train.train.data.PackageBasis`` (PCA re-centred on the neutral pose).
        character: ``a2f_train.character.Character``.
        table: [len(shots), 16] learned implicit-emotion rows.
        shots: shot names, ``shots[0]`` the neutral one (``source_shot``).
        actor: ``id.actor`` and the identity.
    """
    from a2f_train.character.assets import blendshape_sets

    ch = character
    data = RegressionModelData(
        shapes_matrix_skin=_ro(basis.skin_matrix),
        shapes_mean_skin=_ro(basis.skin_neutral),
        lip_open_pose_delta=_ro(np.asarray(ch.lip_open_pose_delta).reshape(-1)),
        eye_close_pose_delta=_ro(np.asarray(ch.eye_close_pose_delta).reshape(-1)),
        shapes_matrix_tongue=_ro(basis.tongue_matrix),
        shapes_mean_tongue=_ro(basis.tongue_neutral),
        neutral_jaw=_ro(basis.neutral_jaw),
        saccade_rot_matrix=_ro(ch.saccade),
    )
    skin, tongue = blendshape_sets(ch)
    info = network_info(
        basis.skin_matrix.shape[0], basis.tongue_matrix.shape[0], ch.num_skin_verts,
        ch.num_tongue_verts, actor,
    )  # fmt: skip
    cfg = ModelConfig(values=dict(ADA_CONFIG), source_shot=SHOT_PREFIX + shots[0], source_frame=0)
    return RegressionPackage(
        network_info=info,
        model_config=cfg,
        model_data=data,
        emotion_db=emotion_db(table, shots),
        skin=skin,
        tongue=tongue,
        trt_info=trt_info(),
    )


def write_regression_package(
    out_dir: Path | str,
    onnx: bytes,
    basis: Any,
    character: Any,
    table: np.ndarray,
    shots: tuple[str, ...],
    config_overrides: dict[str, float] | None = None,
) -> Path:
    """Write the package into ``out_dir`` and validate it with ``load_package``.

    Args:
        out_dir: package folder (``models/ada_v2.3``).
        onnx: network.onnx bytes (:func:`a2f_train.nets.regression.export_onnx`).
        basis: ``a2f_train.train.data.PackageBasis`` (see :func:`build_package`).
        character: ``a2f_train.character.Character``.
        table: [len(shots), 16] learned implicit-emotion rows.
        shots: shot names, neutral first.
        config_overrides: model_config.json values replacing :data:`ADA_CONFIG` entries.

    Returns:
        The package folder.
    """
    pkg = build_package(basis, character, table, shots)
    if config_overrides:
        values = {**pkg.model_config.values, **config_overrides}
        cfg = ModelConfig(values, pkg.model_config.source_shot, pkg.model_config.source_frame)
        pkg = RegressionPackage(
            pkg.network_info, cfg, pkg.model_data, pkg.emotion_db, pkg.skin, pkg.tongue,
            pkg.trt_info,
        )  # fmt: skip
    out = Path(out_dir)
    write_package(pkg, out, onnx=onnx)
    load_package(out)
    return out
