"""Character geometry targets: posed skin/tongue as PCA coefficients, jaw keypoints, eye angles.

Follows NVIDIA's training framework (a2f_reference.md sections 1.4 and 5): a PCA basis over the
corpus's posed skin frames keeping the smallest number of components whose explained variance
reaches ``VARIANCE_THRESHOLD`` (0.9995), stored once at the corpus root as

* ``pca_skin.npz``: ``shapes_matrix_skin`` [S, 3V], ``shapes_mean_skin`` [3V], ``explained``;
* ``pca_tongue.npz``: ``shapes_matrix_tongue`` [St, 3Vt], ``shapes_mean_tongue`` [3Vt].

Reconstruction is ``mean + coef @ matrix`` (rows of ``matrix`` are orthonormal), so
``coef = (x - mean) @ matrix.T`` with ``x`` the flattened [V*3] vertex positions.
The basis is fitted on up to ``pca_frames`` frames sampled (seeded) from the train split.

Per clip ``geometry/<clip_id>.npz`` holds ``skin_pca_30/60`` [F, S], ``tongue_pca_30/60``
[F, St], ``jaw_30/60`` [F, 5, 3] and ``eyes_30/60`` [F, 4] (degrees, copied from the clip).
:func:`clip_geometry` computes the same dict lazily for training code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "VARIANCE_THRESHOLD",
    "CharacterUnavailable",
    "PcaBasis",
    "clip_geometry",
    "fit_pca",
    "geometry_hook",
    "load_character",
    "load_pca",
    "materialise",
]

VARIANCE_THRESHOLD = 0.9995
_POSE_CHUNK = 256  # frames posed at once (bounds memory)


class CharacterUnavailable(RuntimeError):
    """The procedural character (``a2f_train.character``) cannot be loaded."""


@dataclass(frozen=True)
class PcaBasis:
    """A PCA basis in NVIDIA's layout.

    Attributes:
        matrix: [S, D] float32, orthonormal rows.
        mean: [D] float32.
        explained: [S] float64 cumulative explained-variance ratio.
    """

    matrix: np.ndarray
    mean: np.ndarray
    explained: np.ndarray

    def project(self, x: np.ndarray) -> np.ndarray:
        """[N, D] flattened positions -> [N, S] float32 coefficients."""
        return ((x - self.mean) @ self.matrix.T).astype(np.float32)

    def reconstruct(self, coef: np.ndarray) -> np.ndarray:
        """[N, S] coefficients -> [N, D] positions."""
        return self.mean + coef @ self.matrix


def load_character() -> Any:
    """``a2f_train.character.load_default_character()``, or :class:`CharacterUnavailable`."""
    try:
        from a2f_train.character import load_default_character

        return load_default_character()
    except (ImportError, NotImplementedError, AttributeError) as exc:
        raise CharacterUnavailable(f"procedural character not available: {exc!r}") from exc


def fit_pca(frames: np.ndarray, threshold: float = VARIANCE_THRESHOLD) -> PcaBasis:
    """PCA of [N, D] frames keeping the fewest components reaching ``threshold`` variance.

    Uses the N x N Gram matrix (N frames << D coordinates): frames are centred in float32
    (memory: N * D * 4 bytes) and the Gram matrix is eigendecomposed in float64.
    """
    x = np.asarray(frames, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64)
    xc = x - mean.astype(np.float32)
    gram = (xc @ xc.T).astype(np.float64)
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.maximum(evals[order], 0.0), evecs[:, order]
    total = evals.sum()
    if total <= 0:
        return PcaBasis(np.zeros((1, x.shape[1]), np.float32), mean.astype(np.float32), np.ones(1))
    ratio = np.cumsum(evals) / total
    keep = int(np.searchsorted(ratio, threshold) + 1)
    keep = min(keep, int(np.sum(evals > total * 1e-12)))
    comps = (xc.T.astype(np.float64) @ evecs[:, :keep]) / np.sqrt(evals[:keep])
    return PcaBasis(comps.T.astype(np.float32), mean.astype(np.float32), ratio[:keep])


def _pose_flat(character: Any, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    skins, tongues, jaws = [], [], []
    for i in range(0, weights.shape[0], _POSE_CHUNK):
        skin, tongue, jaw = character.pose(weights[i : i + _POSE_CHUNK])
        skins.append(skin.reshape(skin.shape[0], -1))
        tongues.append(tongue.reshape(tongue.shape[0], -1))
        jaws.append(jaw)
    return np.concatenate(skins), np.concatenate(tongues), np.concatenate(jaws)


def _manifest(out: Path) -> list[dict[str, Any]]:
    lines = (out / "manifest.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _sample_weights(out: Path, rows: list[dict], n_frames: int, seed: int) -> np.ndarray:
    train = [r for r in rows if r["split"] == "train"] or rows
    frames = []
    for r in train:
        with np.load(out / r["npz"]) as data:
            frames.append(data["weights_30"])
    allw = np.concatenate(frames)
    rng = np.random.default_rng(seed)
    pick = rng.choice(allw.shape[0], size=min(n_frames, allw.shape[0]), replace=False)
    return allw[np.sort(pick)]


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    from a2f_train.corpus.clipgen import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_pca(out_dir: str | Path) -> tuple[PcaBasis, PcaBasis]:
    """Read ``pca_skin.npz`` and ``pca_tongue.npz`` of a corpus."""
    out = Path(out_dir)
    bases = []
    for part in ("skin", "tongue"):
        with np.load(out / f"pca_{part}.npz") as d:
            m, mu = d[f"shapes_matrix_{part}"], d[f"shapes_mean_{part}"]
            bases.append(PcaBasis(m, mu, d["explained"]))
    return bases[0], bases[1]


def clip_geometry(
    clip_npz: str | Path, character: Any, skin: PcaBasis, tongue: PcaBasis
) -> dict[str, np.ndarray]:
    """Geometry targets of one clip (lazy form of ``geometry/<clip_id>.npz``)."""
    out: dict[str, np.ndarray] = {}
    with np.load(clip_npz) as data:
        w30, w60 = data["weights_30"], data["weights_60"]
        eyes = {fps: data[f"eyes_{fps}"] for fps in (30, 60)}
    s, t, jaw = _pose_flat(character, w60)
    coefs = {"skin_pca": skin.project(s), "tongue_pca": tongue.project(t), "jaw": jaw}
    shared = np.array_equal(w60[: 2 * w30.shape[0] : 2], w30)  # 30 fps = even 60 fps frames
    if not shared:
        s30, t30, jaw30 = _pose_flat(character, w30)
        low = {"skin_pca": skin.project(s30), "tongue_pca": tongue.project(t30), "jaw": jaw30}
    for key, val in coefs.items():
        out[f"{key}_60"] = val.astype(np.float32)
        out[f"{key}_30"] = (val[::2][: w30.shape[0]] if shared else low[key]).astype(np.float32)
    out.update(eyes_30=eyes[30], eyes_60=eyes[60])
    return out


def materialise(
    out_dir: str | Path, pca_frames: int = 2000, seed: int = 0, character: Any = None
) -> int:
    """Fit the PCA bases and write every clip's geometry file; returns files written.

    Resumable: existing geometry files fitted with the same basis (same ``pca_id``) are kept.
    """
    out = Path(out_dir)
    character = character if character is not None else load_character()
    rows = _manifest(out)
    if not (out / "pca_skin.npz").is_file() or not (out / "pca_tongue.npz").is_file():
        skin_f, tongue_f, _ = _pose_flat(character, _sample_weights(out, rows, pca_frames, seed))
        for part, frames in (("skin", skin_f), ("tongue", tongue_f)):
            b = fit_pca(frames)
            _save_npz(out / f"pca_{part}.npz", **{f"shapes_matrix_{part}": b.matrix,
                      f"shapes_mean_{part}": b.mean, "explained": b.explained})  # fmt: skip
    skin, tongue = load_pca(out)
    pca_id = f"{skin.matrix.shape}-{float(np.abs(skin.matrix).sum()):.6e}"
    (out / "geometry").mkdir(exist_ok=True)
    written = 0
    for r in rows:
        path = out / "geometry" / f"{r['clip_id']}.npz"
        if path.is_file():
            with np.load(path) as d:
                if str(d["pca_id"]) == pca_id:
                    continue
        arrays = clip_geometry(out / r["npz"], character, skin, tongue)
        _save_npz(path, pca_id=np.array(pca_id), **arrays)
        written += 1
    return written


def geometry_hook(mode: str) -> Callable[[Path, Any], None] | None:
    """The ``geometry_fn`` for :func:`build.build` in mode ``auto``, ``on`` or ``off``.

    ``off`` gives None; ``auto`` skips quietly when the character is unavailable; ``on``
    raises :class:`CharacterUnavailable` then.
    """
    if mode == "off":
        return None

    def hook(out: Path, cfg: Any) -> None:
        try:
            character = load_character()
        except CharacterUnavailable:
            if mode == "on":
                raise
            return
        materialise(out, cfg.pca_frames, cfg.seed, character)

    return hook
