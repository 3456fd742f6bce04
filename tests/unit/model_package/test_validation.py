"""Every validation failure raises ModelPackageError naming the file, the array/key, expected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.errors import ModelPackageError
from a2f_actors.model_package import load_package
from tests.unit.model_package.conftest import rewrite_npz


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _error(path: Path) -> str:
    with pytest.raises(ModelPackageError) as info:
        load_package(path)
    return str(info.value)


def test_load_package_rejects_skin_matrix_when_shape_disagrees_with_network_info(
    regression_dir: Path,
) -> None:
    rewrite_npz(regression_dir / "model_data.npz", shapes_matrix_skin=np.zeros((5, 57), np.float32))
    msg = _error(regression_dir)
    assert "model_data.npz" in msg and "'shapes_matrix_skin'" in msg
    assert "[5, 57]" in msg and "[num_shapes_skin=5, 3*num_verts_skin=60]" in msg


def test_load_package_rejects_skin_matrix_when_shape_count_is_wrong(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", shapes_matrix_skin=np.zeros((6, 50), np.float32))
    msg = _error(regression_dir)
    assert "'shapes_matrix_skin'" in msg and "[6, 50]" in msg


def test_load_package_rejects_tongue_matrix_when_shape_disagrees(regression_dir: Path) -> None:
    rewrite_npz(
        regression_dir / "model_data.npz", shapes_matrix_tongue=np.zeros((4, 3), np.float32)
    )
    msg = _error(regression_dir)
    assert (
        "model_data.npz" in msg and "'shapes_matrix_tongue'" in msg and "num_shapes_tongue" in msg
    )


def test_load_package_rejects_model_data_when_array_is_missing(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", neutral_jaw=None)
    msg = _error(regression_dir)
    assert "model_data.npz" in msg and "missing" in msg and "'neutral_jaw'" in msg


def test_load_package_rejects_model_data_when_array_is_unexpected(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", blink_keys=np.zeros(10, np.float32))
    msg = _error(regression_dir)
    assert "model_data.npz" in msg and "unexpected" in msg and "'blink_keys'" in msg


def test_load_package_rejects_neutral_jaw_when_not_result_jaw_size(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", neutral_jaw=np.zeros(12, np.float32))
    msg = _error(regression_dir)
    assert "'neutral_jaw'" in msg and "result_jaw_size=15" in msg


def test_load_package_rejects_saccade_when_length_is_odd(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", saccade_rot_matrix=np.zeros(9, np.float32))
    msg = _error(regression_dir)
    assert "model_data.npz" in msg and "'saccade_rot_matrix'" in msg and "even" in msg


def test_load_package_rejects_model_data_when_dtype_is_float64(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "model_data.npz", shapes_mean_skin=np.zeros(60, np.float64))
    msg = _error(regression_dir)
    assert "'shapes_mean_skin'" in msg and "float64" in msg and "float32" in msg


def test_load_package_rejects_frontal_mask_when_index_out_of_range(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "bs_skin.npz", frontalMask=np.array([0, 5, 20], np.int32))
    msg = _error(regression_dir)
    assert "bs_skin.npz" in msg and "'frontalMask'" in msg and "20" in msg and "[0, 19]" in msg


def test_load_package_rejects_bs_config_when_table_length_differs_from_num_poses(
    regression_dir: Path,
) -> None:
    def drop_one(data: dict) -> None:
        data["blendshape_params"]["bsWeightOffsets"].pop()

    _edit_json(regression_dir / "bs_skin_config.json", drop_one)
    msg = _error(regression_dir)
    assert "bs_skin_config.json" in msg and "blendshape_params.bsWeightOffsets" in msg
    assert "52" in msg


def test_load_package_rejects_bs_config_when_num_poses_differs_from_pose_names(
    regression_dir: Path,
) -> None:
    def shrink(data: dict) -> None:
        params = data["blendshape_params"]
        params["numPoses"] = 15
        for key in ("bsSolveActivePoses", "bsSolveCancelPoses", "bsSolveSymmetryPoses"):
            params[key] = params[key][:15]
        for key in ("bsWeightMultipliers", "bsWeightOffsets"):
            params[key] = params[key][:15]

    _edit_json(regression_dir / "bs_tongue_config.json", shrink)
    msg = _error(regression_dir)
    assert "bs_tongue_config.json" in msg and "numPoses" in msg and "16" in msg


def test_load_package_rejects_pose_names_when_first_is_not_neutral(regression_dir: Path) -> None:
    with np.load(regression_dir / "bs_tongue.npz") as f:
        names = f["poseNames"][::-1].copy()
    rewrite_npz(regression_dir / "bs_tongue.npz", poseNames=names)
    msg = _error(regression_dir)
    assert "bs_tongue.npz" in msg and "'poseNames'" in msg and "'neutral'" in msg


def test_load_package_rejects_blendshapes_when_vertex_count_differs(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "bs_skin.npz", jawOpen=np.zeros((19, 3), np.float32))
    msg = _error(regression_dir)
    assert "bs_skin.npz" in msg and "'jawOpen'" in msg and "num_verts" in msg and "20" in msg


def test_load_package_rejects_blendshapes_when_pose_array_is_missing(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "bs_skin.npz", mouthClose=None)
    msg = _error(regression_dir)
    assert "bs_skin.npz" in msg and "missing array 'mouthClose'" in msg


def test_load_package_names_key_when_referenced_file_is_missing(regression_dir: Path) -> None:
    (regression_dir / "implicit_emo_db.npz").unlink()
    msg = _error(regression_dir)
    assert "model.json" in msg and "'emotionDatabasePath'" in msg and "implicit_emo_db.npz" in msg


def test_load_package_names_nested_key_when_blendshape_file_is_missing(diffusion_dir: Path) -> None:
    (diffusion_dir / "bs_tongue_config_James.json").unlink()
    msg = _error(diffusion_dir)
    assert "'blendshapePaths[1].tongue.config'" in msg and "bs_tongue_config_James.json" in msg


def test_load_package_rejects_path_when_model_json_does_not_exist(tmp_path: Path) -> None:
    msg = _error(tmp_path)
    assert "model.json" in msg and "not found" in msg


def test_load_package_rejects_network_info_when_key_is_missing(regression_dir: Path) -> None:
    _edit_json(regression_dir / "network_info.json", lambda d: d["params"].pop("num_verts_skin"))
    msg = _error(regression_dir)
    assert "network_info.json" in msg and "'params.num_verts_skin' is missing" in msg


def test_load_package_rejects_network_info_when_type_is_unknown(regression_dir: Path) -> None:
    _edit_json(regression_dir / "network_info.json", lambda d: d["id"].update(type="gan"))
    msg = _error(regression_dir)
    assert "network_info.json" in msg and "'id.type' = 'gan'" in msg


def test_load_package_rejects_default_emotion_when_length_differs(regression_dir: Path) -> None:
    _edit_json(regression_dir / "network_info.json", lambda d: d["params"]["default_emotion"].pop())
    msg = _error(regression_dir)
    assert "'params.default_emotion'" in msg and "10" in msg


def test_load_package_rejects_source_shot_when_not_in_emotion_db(regression_dir: Path) -> None:
    _edit_json(regression_dir / "model_config.json", lambda d: d["config"].update(source_shot="x"))
    msg = _error(regression_dir)
    assert "model_config.json" in msg and "'config.source_shot' = 'x'" in msg


def test_load_package_rejects_model_config_when_face_key_is_missing(regression_dir: Path) -> None:
    _edit_json(regression_dir / "model_config.json", lambda d: d["config"].pop("skin_strength"))
    msg = _error(regression_dir)
    assert "model_config.json" in msg and "'config.skin_strength' is missing" in msg


def test_load_package_rejects_emotion_db_when_row_width_is_wrong(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "implicit_emo_db.npz", emo_db=np.zeros((20, 15), np.float32))
    msg = _error(regression_dir)
    assert "implicit_emo_db.npz" in msg and "'emo_db'" in msg and "implicit_emotion_len=16" in msg


def test_load_package_rejects_emotion_db_when_shot_exceeds_rows(regression_dir: Path) -> None:
    rewrite_npz(regression_dir / "implicit_emo_db.npz", emo_spec_size=np.array([12, 9], np.int32))
    msg = _error(regression_dir)
    assert "implicit_emo_db.npz" in msg and "'g2a_anger'" in msg and "20 rows" in msg


def test_load_package_rejects_diffusion_skin_when_not_skin_size(diffusion_dir: Path) -> None:
    rewrite_npz(diffusion_dir / "model_data_Mark.npz", neutral_skin=np.zeros(63, np.float32))
    msg = _error(diffusion_dir)
    assert "model_data_Mark.npz" in msg and "'neutral_skin'" in msg and "skin_size=60" in msg


def test_load_package_rejects_diffusion_model_data_when_array_is_unexpected(
    diffusion_dir: Path,
) -> None:
    rewrite_npz(diffusion_dir / "model_data_Claire.npz", shapes_mean_skin=np.zeros(60, np.float32))
    msg = _error(diffusion_dir)
    assert "model_data_Claire.npz" in msg and "unexpected" in msg and "'shapes_mean_skin'" in msg


def test_load_package_rejects_diffusion_blendshapes_when_verts_differ_from_skin_size(
    diffusion_dir: Path,
) -> None:
    rewrite_npz(diffusion_dir / "bs_skin_Claire.npz", neutral=np.zeros((21, 3), np.float32))
    msg = _error(diffusion_dir)
    assert "bs_skin_Claire.npz" in msg and "'neutral'" in msg and "[21, 3]" in msg


def test_load_package_rejects_diffusion_when_identity_lists_differ(diffusion_dir: Path) -> None:
    _edit_json(diffusion_dir / "model.json", lambda d: d["modelDataPaths"].pop())
    msg = _error(diffusion_dir)
    assert "model.json" in msg and "'modelDataPaths'" in msg and "3" in msg


def test_load_package_rejects_diffusion_info_when_skin_size_not_multiple_of_3(
    diffusion_dir: Path,
) -> None:
    _edit_json(diffusion_dir / "network_info.json", lambda d: d["params"].update(skin_size=61))
    msg = _error(diffusion_dir)
    assert "network_info.json" in msg and "'params.skin_size' = 61" in msg


def test_load_package_rejects_a2e_config_when_correspondence_lacks_emotion(a2e_dir: Path) -> None:
    def drop(data: dict) -> None:
        data["post_processing_config"]["emotion_correspondence"].pop("sad")

    _edit_json(a2e_dir / "model_config.json", drop)
    msg = _error(a2e_dir)
    assert "model_config.json" in msg and "emotion_correspondence.sad" in msg


def test_load_package_rejects_npz_when_file_is_not_an_archive(regression_dir: Path) -> None:
    (regression_dir / "bs_skin.npz").write_bytes(b"not a zip")
    msg = _error(regression_dir)
    assert "bs_skin.npz" in msg and "not a readable .npz" in msg


def test_load_package_rejects_json_when_file_is_invalid(regression_dir: Path) -> None:
    (regression_dir / "trt_info.json").write_text("{")
    msg = _error(regression_dir)
    assert "trt_info.json" in msg and "invalid JSON" in msg
