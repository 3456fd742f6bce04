"""A hand-written package with NVIDIA's exact key names and numpy-written npz layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package import RegressionPackage, load_package
from a2f_actors.names import A2F_EMOTIONS

FACE_CONFIG = {
    "input_strength": 1.3, "upper_face_smoothing": 0.001, "lower_face_smoothing": 0.0023,
    "upper_face_strength": 1.0, "lower_face_strength": 1.4, "face_mask_level": 0.6,
    "face_mask_softness": 0.0085, "skin_strength": 1.1, "blink_strength": 1.0,
    "lower_teeth_strength": 1.3, "lower_teeth_height_offset": -0.1,
    "lower_teeth_depth_offset": 0, "lip_open_offset": -0.03, "tongue_strength": 1.5,
    "tongue_height_offset": 0.2, "tongue_depth_offset": 0.13, "eyeballs_strength": 1.0,
    "saccade_strength": 0.9, "right_eye_rot_x_offset": 0, "right_eye_rot_y_offset": -2.0,
    "left_eye_rot_x_offset": 0, "left_eye_rot_y_offset": 2.0, "eyelid_open_offset": 0.06,
    "eye_saccade_seed": 0, "source_shot": "g2a_neutral", "source_frame": 3,
}  # fmt: skip


def _dump(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _bs_config(num: int) -> dict:
    return {
        "blendshape_params": {  # templateBBSize omitted on purpose: SDK default 54.7
            "strengthL1regularization": 0.5, "strengthL2regularization": 0.5,
            "strengthSymmetry": 100.0, "strengthTemporalSmoothing": 0.3, "numPoses": num,
            "bsSolveActivePoses": [1] * num, "bsSolveCancelPoses": [-1] * num,
            "bsSolveSymmetryPoses": [-1] * num, "bsWeightMultipliers": [1.0] * num,
            "bsWeightOffsets": [0.0] * num,
        }
    }  # fmt: skip


@pytest.fixture
def mark_like(tmp_path: Path) -> Path:
    """Mark-style directory: V=6 skin verts, 4 skin shapes, 3 tongue verts, 2 tongue shapes."""
    rng = np.random.default_rng(0)
    root = tmp_path / "Audio2Face-3D-v2.3-Mark"
    elsewhere = tmp_path / "shared_bs"
    _dump(
        root / "model.json",
        {
            "networkInfoPath": "network_info.json",
            "networkPath": "network.trt",
            "emotionDatabasePath": "implicit_emo_db.npz",
            "modelConfigPath": "model_config.json",
            "modelDataPath": "model_data.npz",
            "blendshapePaths": {
                "skin": {"config": "bs_skin_config.json", "data": "bs_skin.npz"},
                "tongue": {
                    "config": "bs/bs_tongue_config.json",
                    "data": str(elsewhere / "bs_tongue.npz"),
                },
            },
        },
    )
    _dump(
        root / "network_info.json",
        {
            "id": {"type": "regression", "output": "geometry", "actor": "mark", "version": "2.3"},
            "params": {
                "implicit_emotion_len": 16, "explicit_emotions": list(A2F_EMOTIONS),
                "default_emotion": [0] * 10, "num_shapes_skin": 4, "num_shapes_tongue": 2,
                "num_verts_skin": 6, "num_verts_tongue": 3, "result_jaw_size": 15,
                "result_eyes_size": 4,
            },
            "audio_params": {"buffer_len": 8320, "buffer_ofs": 4160, "samplerate": 16000},
        },
    )  # fmt: skip
    _dump(root / "model_config.json", {"config": FACE_CONFIG})
    f32 = np.float32
    np.savez(
        root / "model_data.npz",
        shapes_matrix_skin=rng.standard_normal((4, 6, 3)).astype(f32),  # [K, V, 3] layout
        shapes_mean_skin=rng.standard_normal((6, 3)).astype(f32),
        lip_open_pose_delta=rng.standard_normal((6, 3)).astype(f32),
        eye_close_pose_delta=rng.standard_normal(18).astype(f32),
        shapes_matrix_tongue=rng.standard_normal((2, 9)).astype(f32),
        shapes_mean_tongue=rng.standard_normal((3, 3)).astype(f32),
        neutral_jaw=rng.standard_normal((5, 3)).astype(f32),
        saccade_rot_matrix=rng.standard_normal((5000, 2)).astype(f32),
    )
    np.savez(
        root / "implicit_emo_db.npz",
        emo_db=rng.standard_normal((10, 16)).astype(f32),
        emo_spec_names=np.array(["g2a_anger", "g2a_neutral"], dtype="S"),
        emo_spec_start=np.array([0, 4], np.int32),
        emo_spec_size=np.array([4, 6], np.int32),
    )
    np.savez(
        root / "bs_skin.npz",
        poseNames=np.array(["neutral", "jawOpen", "mouthClose"]),  # unicode, not bytes
        neutral=rng.standard_normal((6, 3)).astype(f32),
        jawOpen=rng.standard_normal((6, 3)).astype(f32),
        mouthClose=rng.standard_normal(18).astype(f32),
        frontalMask=np.array([0, 2, 4], np.int64),
    )
    _dump(root / "bs_skin_config.json", _bs_config(2))
    elsewhere.mkdir()
    np.savez(
        elsewhere / "bs_tongue.npz",
        poseNames=np.array([b"neutral", b"tongueTipUp"]),
        neutral=rng.standard_normal((3, 3)).astype(f32),
        tongueTipUp=rng.standard_normal((3, 3)).astype(f32),
    )
    _dump(root / "bs" / "bs_tongue_config.json", _bs_config(1))
    (root / "network.onnx").write_bytes(b"onnx")
    return root


def test_load_package_reads_regression_when_files_use_nvidia_key_names(mark_like: Path) -> None:
    package = load_package(mark_like / "model.json")
    assert isinstance(package, RegressionPackage)
    info = package.network_info
    assert (info.id.actor, info.id.version, info.result_size, info.emotion_size) == (
        "mark", "2.3", 4 + 2 + 15 + 4, 26
    )  # fmt: skip
    assert package.identities == ("mark",)
    with np.load(mark_like / "model_data.npz") as raw:
        expected = raw["shapes_matrix_skin"].reshape(4, 18)
        jaw = raw["neutral_jaw"].reshape(15)
    np.testing.assert_array_equal(package.model_data.shapes_matrix_skin, expected)
    np.testing.assert_array_equal(package.model_data.neutral_jaw, jaw)
    assert package.model_data.shapes_mean_skin.shape == (18,)
    assert package.model_data.saccade_rot_matrix.shape == (5000, 2)


def test_load_package_selects_implicit_emotion_when_source_shot_is_set(mark_like: Path) -> None:
    package = load_package(mark_like)
    assert isinstance(package, RegressionPackage)
    with np.load(mark_like / "implicit_emo_db.npz") as raw:
        row = raw["emo_db"][4 + 3]
    np.testing.assert_array_equal(package.implicit_emotion(), row)
    assert package.emotion_db.names == ("g2a_anger", "g2a_neutral")


def test_load_package_reads_blendshapes_when_paths_are_nested_and_absolute(
    mark_like: Path,
) -> None:
    package = load_package(mark_like)
    assert isinstance(package, RegressionPackage)
    skin, tongue = package.skin, package.tongue
    assert skin is not None and tongue is not None
    assert skin.pose_names == ("jawOpen", "mouthClose")
    assert skin.deltas.shape == (2, 6, 3) and skin.deltas.dtype == np.float32
    assert skin.frontal_mask is not None and skin.frontal_mask.dtype == np.int32
    assert skin.frontal_mask.tolist() == [0, 2, 4]
    assert skin.config.params.template_bb_size == 54.7
    assert skin.config.params.l1_reg == 0.5
    assert tongue.pose_names == ("tongueTipUp",)
    paths = package.files.paths
    assert paths["blendshapePaths.tongue.config"] == mark_like / "bs" / "bs_tongue_config.json"
    assert paths["blendshapePaths.tongue.data"].parent.name == "shared_bs"


def test_load_package_maps_model_config_to_face_params_when_values_in_range(
    mark_like: Path,
) -> None:
    package = load_package(mark_like)
    assert isinstance(package, RegressionPackage)
    params = package.model_config.face_params()
    assert params.lower_face_strength == 1.4
    assert params.left_eye_rot_y_offset == 2.0
    assert params.blink_offset == 0.0  # not in the file: SDK forces 0
    assert package.model_config.source_shot == "g2a_neutral"
    assert package.model_config.source_frame == 3


def test_load_package_records_network_files_when_only_onnx_exists(mark_like: Path) -> None:
    package = load_package(mark_like)
    network = package.files.network
    assert network.declared.name == "network.trt" and network.trt is None
    assert network.onnx == mark_like / "network.onnx"
    assert package.trt_info is None  # no trt_info.json in this directory
