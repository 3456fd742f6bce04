"""Fixtures: small synthetic packages written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package.synthetic import (
    make_a2e_package,
    make_diffusion_package,
    make_regression_package,
)


@pytest.fixture
def regression_dir(tmp_path: Path) -> Path:
    make_regression_package(tmp_path / "mark", num_verts_skin=20, num_shapes_skin=5, seed=3)
    return tmp_path / "mark"


@pytest.fixture
def diffusion_dir(tmp_path: Path) -> Path:
    make_diffusion_package(tmp_path / "multi", num_verts_skin=20, num_verts_tongue=6, seed=4)
    return tmp_path / "multi"


@pytest.fixture
def a2e_dir(tmp_path: Path) -> Path:
    make_a2e_package(tmp_path / "a2e")
    return tmp_path / "a2e"


def rewrite_npz(path: Path, **changes: np.ndarray | None) -> None:
    """Rewrite ``path`` with arrays replaced (value) or removed (None)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for name, value in changes.items():
        if value is None:
            arrays.pop(name)
        else:
            arrays[name] = value
    np.savez(path, **arrays)
