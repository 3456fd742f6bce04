"""write -> read -> equal, determinism and lazy loading of model packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package import (
    A2EPackage,
    DiffusionPackage,
    RegressionPackage,
    load_package,
    npz_io,
    write_package,
)
from a2f_actors.model_package.synthetic import (
    SKIN_POSE_NAMES,
    build_a2e_package,
    build_diffusion_package,
    build_regression_package,
    make_regression_package,
)
from tests.unit.model_package.compare import assert_same


def _tree(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def test_regression_package_round_trips_when_written_and_read(tmp_path: Path) -> None:
    built = build_regression_package(num_verts_skin=25, num_shapes_skin=6, seed=1)
    loaded = load_package(write_package(built, tmp_path))
    assert isinstance(loaded, RegressionPackage)
    assert_same(built, loaded)
    assert loaded.model_data.shapes_matrix_skin.shape == (6, 75)
    assert loaded.skin is not None and loaded.skin.pose_names == SKIN_POSE_NAMES
    assert loaded.skin.deltas.shape == (52, 25, 3)
    assert loaded.tongue is not None and loaded.tongue.frontal_mask is None


def test_diffusion_package_round_trips_when_three_identities(tmp_path: Path) -> None:
    built = build_diffusion_package(num_verts_skin=15, num_verts_tongue=5, seed=2)
    loaded = load_package(write_package(built, tmp_path))
    assert isinstance(loaded, DiffusionPackage)
    assert [i.name for i in loaded.identities] == ["Claire", "James", "Mark"]
    assert_same(built, loaded)
    assert (tmp_path / "model_data_James.npz").is_file()
    assert (tmp_path / "bs_tongue_config_Mark.json").is_file()
    # identities differ from each other (one random draw each)
    claire, james = loaded.identity("Claire"), loaded.identity("James")
    assert not np.array_equal(claire.model_data.neutral_skin, james.model_data.neutral_skin)


def test_a2e_package_round_trips_when_written_and_read(tmp_path: Path) -> None:
    built = build_a2e_package()
    loaded = load_package(write_package(built, tmp_path))
    assert isinstance(loaded, A2EPackage)
    assert_same(built, loaded)
    assert loaded.model_config.emotion_correspondence["happy"] == 6


@pytest.mark.parametrize(
    "build", [build_regression_package, build_diffusion_package, build_a2e_package]
)
def test_write_package_is_byte_identical_when_written_twice(tmp_path: Path, build) -> None:
    write_package(build(), tmp_path / "a")
    write_package(build(), tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def test_write_package_reproduces_files_when_loaded_package_is_rewritten(tmp_path: Path) -> None:
    make_regression_package(tmp_path / "a", num_verts_skin=10, onnx=b"onnx-bytes")
    write_package(load_package(tmp_path / "a"), tmp_path / "b")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert (tmp_path / "b" / "network.onnx").read_bytes() == b"onnx-bytes"


def test_write_package_rewrites_in_place_when_arrays_are_memory_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(npz_io, "MMAP_MIN_BYTES", 0)
    make_regression_package(tmp_path, num_verts_skin=10)
    before = _tree(tmp_path)
    write_package(load_package(tmp_path), tmp_path)
    assert _tree(tmp_path) == before


def test_load_package_memory_maps_read_only_when_array_is_large(
    regression_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(npz_io, "MMAP_MIN_BYTES", 0)
    package = load_package(regression_dir)
    matrix = package.model_data.shapes_matrix_skin
    assert isinstance(matrix, np.memmap)
    assert not matrix.flags.writeable


def test_load_package_reads_small_arrays_into_memory_when_below_threshold(
    regression_dir: Path,
) -> None:
    matrix = load_package(regression_dir).model_data.shapes_matrix_skin
    assert not isinstance(matrix, np.memmap)
    assert not matrix.flags.writeable


def test_load_package_records_onnx_beside_trt_when_engine_is_missing(tmp_path: Path) -> None:
    make_regression_package(tmp_path, num_verts_skin=10, onnx=b"x")
    package = load_package(tmp_path / "model.json")
    assert package.files is not None
    assert package.files.network.declared == tmp_path / "network.trt"
    assert package.files.network.trt is None
    assert package.files.network.onnx == tmp_path / "network.onnx"


def test_load_package_records_trt_when_engine_exists(tmp_path: Path) -> None:
    make_regression_package(tmp_path, num_verts_skin=10)
    (tmp_path / "network.trt").write_bytes(b"engine")
    network = load_package(tmp_path).files.network
    assert network.trt == tmp_path / "network.trt"
    assert network.onnx is None


def test_load_package_reads_arrays_when_npz_is_compressed(regression_dir: Path) -> None:
    expected = load_package(regression_dir)
    path = regression_dir / "model_data.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez_compressed(path, **arrays)
    assert_same(expected.model_data, load_package(regression_dir).model_data)
