from __future__ import annotations

import io
import json

import numpy as np

from a2f_train.corpus import build, config, targets


class _LinearCharacter:
    """A tiny linear rig standing in for a2f_train.character in unit tests."""

    def __init__(self, v=40, vt=12, seed=0):
        rng = np.random.default_rng(seed)
        self.skin_neutral = rng.standard_normal((v, 3))
        self.skin_deltas = rng.standard_normal((52, v, 3)) * 0.1
        self.tongue_neutral = rng.standard_normal((vt, 3))
        self.tongue_deltas = rng.standard_normal((16, vt, 3)) * 0.1

    def pose(self, w):
        skin = self.skin_neutral + np.einsum("nk,kvc->nvc", w[:, :52], self.skin_deltas)
        tongue = self.tongue_neutral + np.einsum("nk,kvc->nvc", w[:, 52:], self.tongue_deltas)
        jaw = np.repeat(w[:, 17:18, None], 15, axis=2).reshape(-1, 5, 3)
        return skin, tongue, jaw


def test_fit_pca_threshold_and_reconstruction():
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((5, 60))
    x = rng.standard_normal((300, 5)) * np.array([10, 5, 2, 1, 0.5]) @ basis + 3.0
    pca = targets.fit_pca(x)
    assert pca.matrix.shape == (5, 60) and pca.explained[-1] >= targets.VARIANCE_THRESHOLD
    np.testing.assert_allclose(pca.matrix @ pca.matrix.T, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(pca.reconstruct(pca.project(x)), x, atol=1e-3)
    assert targets.fit_pca(x, threshold=0.5).matrix.shape[0] < 5


def test_materialise_writes_nvidia_layout(tmp_path):
    cfg = config.load_config("small").model_copy(update={"clips": 2, "geometry": "off"})
    build.build(cfg, tmp_path, workers=1, progress_stream=io.StringIO())
    char = _LinearCharacter()
    assert targets.materialise(tmp_path, 128, 0, char) == 2
    with np.load(tmp_path / "pca_skin.npz") as d:
        s, dim = d["shapes_matrix_skin"].shape
        assert dim == 40 * 3 and d["shapes_mean_skin"].shape == (120,)
    with np.load(tmp_path / "pca_tongue.npz") as d:
        assert d["shapes_matrix_tongue"].shape[1] == 36
    row = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    with (
        np.load(tmp_path / "geometry" / f"{row['clip_id']}.npz") as g,
        np.load(tmp_path / row["npz"]) as c,
    ):
        assert g["skin_pca_30"].shape == (c["weights_30"].shape[0], s)
        assert g["jaw_60"].shape == (c["weights_60"].shape[0], 5, 3)
        skin, _, _ = char.pose(c["weights_30"])
        skin_pca, _ = targets.load_pca(tmp_path)
        rec = skin_pca.reconstruct(g["skin_pca_30"])
        assert np.abs(rec - skin.reshape(len(skin), -1)).max() < 0.05
    assert targets.materialise(tmp_path, 128, 0, char) == 0  # resumable


def test_geometry_hook_modes():
    assert targets.geometry_hook("off") is None
    assert callable(targets.geometry_hook("auto"))
