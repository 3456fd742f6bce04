from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package.arrays import read_blendshape_data
from a2f_actors.model_package.json_files import parse_bs_config
from a2f_actors.names import DEFAULT_INACTIVE_SKIN, SKIN_BLENDSHAPES, to_lower_camel
from a2f_actors.params import SolverParams
from a2f_actors.solver import SolverProblem, data_rhs, solve
from a2f_train.character import Character, write_character_assets
from a2f_train.character.gltf import export_gltf

_NO_REG = {"l1_reg": 0.0, "l2_reg": 0.0, "symmetry_reg": 0.0, "temporal_reg": 0.0}


def test_assets_round_trip_through_the_package_reader(ada: Character, tmp_path: Path) -> None:
    assets = write_character_assets(tmp_path, identity_suffix="_ada")
    names, neutral, deltas, mask = read_blendshape_data(assets.files["skin"]["data"], None)
    assert names == tuple(to_lower_camel(n) for n in SKIN_BLENDSHAPES)
    np.testing.assert_array_equal(neutral, ada.skin_neutral)
    np.testing.assert_array_equal(deltas, ada.skin_deltas)
    np.testing.assert_array_equal(mask, ada.frontal_mask)
    t_names, _, t_deltas, t_mask = read_blendshape_data(assets.files["tongue"]["data"], None)
    assert len(t_names) == 16 and t_mask is None
    np.testing.assert_array_equal(t_deltas, ada.tongue_deltas)
    cfg = parse_bs_config(assets.files["skin"]["config"])
    assert cfg == ada.skin_config
    inactive = {n for n, a in zip(SKIN_BLENDSHAPES, cfg.active_poses, strict=True) if not a}
    assert inactive == set(DEFAULT_INACTIVE_SKIN)
    assert parse_bs_config(assets.files["tongue"]["config"]) == ada.tongue_config
    assert assets.neutral_jaw.shape == (15,) and assets.saccade_rot_matrix.shape == (5000, 2)
    assert assets.lip_open_pose_delta.shape == (3 * ada.num_skin_verts,)
    again = write_character_assets(tmp_path / "again", identity_suffix="_ada")
    for part in ("skin", "tongue"):
        for kind in ("data", "config"):
            assert assets.files[part][kind].read_bytes() == again.files[part][kind].read_bytes()


def _round_trip(neutral, deltas, mask, config, weights) -> np.ndarray:
    params = SolverParams(**_NO_REG, template_bb_size=config.params.template_bb_size)
    problem = SolverProblem.from_arrays(
        neutral, deltas, mask, params, np.array(config.active_poses, dtype=bool),
        np.array(config.cancel_poses), np.array(config.symmetry_poses),
    )  # fmt: skip
    targets = neutral.astype(np.float64) + np.einsum("np,pvc->nvc", weights, deltas)
    solved, _ = solve(problem, data_rhs(problem, targets[:, None])[:, 0])
    return solved


def test_skin_round_trip_recovers_random_weights(ada: Character) -> None:
    rng = np.random.default_rng(4)
    cfg = ada.skin_config
    w = rng.uniform(0.0, 1.0, (16, 52))
    w[:, ~np.array(cfg.active_poses, dtype=bool)] = 0.0
    ids = np.array(cfg.cancel_poses)
    for pair in set(ids[ids >= 0]):
        i, j = np.flatnonzero(ids == pair)
        w[np.arange(len(w)), np.where(w[:, i] < w[:, j], i, j)] = 0.0  # the solver's contract
    solved = _round_trip(ada.skin_neutral, ada.skin_deltas, ada.frontal_mask, cfg, w)
    assert np.abs(solved - w).max() < 1e-3


def test_tongue_round_trip_recovers_random_weights(ada: Character) -> None:
    w = np.random.default_rng(5).uniform(0.0, 1.0, (16, 16))
    solved = _round_trip(ada.tongue_neutral, ada.tongue_deltas, None, ada.tongue_config, w)
    assert np.abs(solved - w).max() < 1e-3


@pytest.mark.parametrize("part", ["skin", "tongue"])
def test_blendshapes_are_well_conditioned_on_the_mask(ada: Character, part: str) -> None:
    if part == "skin":
        active = np.array(ada.skin_config.active_poses, dtype=bool)
        d = ada.skin_deltas[active][:, ada.frontal_mask]
    else:
        d = ada.tongue_deltas
    a = d.reshape(d.shape[0], -1).astype(np.float64)
    a /= np.linalg.norm(a, axis=1, keepdims=True)  # column-normalised
    eig = np.linalg.eigvalsh(a @ a.T)
    assert eig[-1] / eig[0] < 3e3


def test_gltf_export_rereads(ada: Character, tmp_path: Path) -> None:
    gltf_path, bin_path = export_gltf(tmp_path)
    doc = json.loads(gltf_path.read_text())
    blob = bin_path.read_bytes()
    assert doc["asset"]["version"] == "2.0"
    assert doc["buffers"][0]["byteLength"] == len(blob)
    mesh = doc["meshes"][0]
    assert len(mesh["extras"]["targetNames"]) == 68
    assert mesh["extras"]["targetNames"][17] == "JawOpen"
    skin, tongue = mesh["primitives"]
    assert len(skin["targets"]) == len(tongue["targets"]) == 68

    def read(index: int) -> np.ndarray:
        acc = doc["accessors"][index]
        if "bufferView" not in acc:
            return np.zeros((acc["count"], 3), dtype=np.float32)
        view = doc["bufferViews"][acc["bufferView"]]
        assert view["byteOffset"] + view["byteLength"] <= len(blob)
        dtype, width = (np.float32, 3) if acc["type"] == "VEC3" else (np.uint32, 1)
        assert view["byteLength"] == acc["count"] * width * 4
        data = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"])
        return data.reshape(-1, 3) if width == 3 else data

    pos = read(skin["attributes"]["POSITION"])
    np.testing.assert_array_equal(pos, ada.skin_neutral)
    acc = doc["accessors"][skin["attributes"]["POSITION"]]
    np.testing.assert_allclose(acc["min"], pos.min(axis=0))
    np.testing.assert_allclose(acc["max"], pos.max(axis=0))
    np.testing.assert_array_equal(read(skin["indices"]).reshape(-1, 3), ada.skin_triangles)
    np.testing.assert_array_equal(read(skin["targets"][17]["POSITION"]), ada.skin_deltas[17])
    np.testing.assert_array_equal(read(tongue["targets"][60]["POSITION"]), ada.tongue_deltas[8])
    assert not read(skin["targets"][60]["POSITION"]).any()
