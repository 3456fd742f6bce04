"""Corpus frame sampling for the regression training (small preset with geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from a2f_train.train.data import BUFFER_LEN, SHOTS, load_frames, package_basis


@pytest.fixture(scope="module")
def frames(small_corpus):
    from a2f_train.character import load_default_character

    ch = load_default_character()
    basis = package_basis(small_corpus, ch)
    return basis, load_frames(small_corpus, "train", basis, copies=1)


def test_package_basis_reconstructs_from_the_neutral_pose(small_corpus):
    from a2f_train.character import load_default_character
    from a2f_train.corpus.targets import load_pca

    ch = load_default_character()
    basis = package_basis(small_corpus, ch)
    skin, _ = load_pca(small_corpus)
    rebuilt = basis.skin_neutral + basis.skin_offset @ basis.skin_matrix
    assert np.abs(rebuilt - skin.mean).max() < 0.05
    assert basis.lip_gap.shape == (skin.matrix.shape[0], len(ch.upper_lip_ids))


def test_frames_tables_are_consistent(frames):
    basis, fs = frames
    n = len(fs)
    s, t = basis.skin_matrix.shape[0], basis.tongue_matrix.shape[0]
    assert fs.targets.shape == (n, s + t + 19)
    assert fs.offsets.shape == (2, n)
    assert fs.bilabial.any() and fs.silence.any()
    assert set(np.unique(fs.emotion_id)) <= set(range(len(SHOTS)))
    last = np.flatnonzero(~fs.next_ok)
    assert np.array_equal(fs.clip[last], np.arange(len(fs.clip_ids)))


def test_windows_are_centred_on_the_frame_time(frames):
    _, fs = frames
    first = np.flatnonzero(fs.frame == 0)[0]
    w = fs.windows(np.array([0]), np.array([first]))
    assert w.shape == (1, BUFFER_LEN)
    assert np.all(w[0, :4160] == 0)  # padding before sample 0
    i = first + 30  # 1 s into the clip: window starts at sample 16000 - 4160
    start = fs.offsets[0, first] + 16000
    assert fs.offsets[0, i] == start
    assert np.array_equal(fs.windows(np.array([1]), np.array([i])).shape, (1, BUFFER_LEN))
