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


def test_warped_windows_at_speed_one_are_the_plain_windows(frames):
    from a2f_train.train.data import warped_windows

    _, fs = frames
    idx = np.flatnonzero(fs.next_ok)[::50][:16]
    ver = np.arange(idx.size) % 2
    plain = fs.windows(ver, idx)
    warped = warped_windows(fs.audio, fs.offsets[ver, idx] + 4160, np.ones(idx.size))
    assert np.abs(plain - warped).max() < 1e-5


def test_speed_perturbation_scales_frequency_and_keeps_the_centre():
    from a2f_train.train.data import random_channel, warp_segment, warped_windows

    t = np.arange(40000)
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 500 * t / 16000)).astype(np.int16)
    for s in (0.9, 1.1):
        w = warped_windows(tone, np.array([20000]), np.array([s]))[0]
        peak = np.argmax(np.abs(np.fft.rfft(w * np.hanning(w.size))))
        assert abs(peak * 16000 / w.size - 500 * s) < 5
    click = np.zeros(40000, np.int16)
    click[20000] = 30000  # an impulse at the window centre stays at the centre
    w = warped_windows(click, np.array([20000]), np.array([1.1]))[0]
    assert abs(int(np.argmax(w)) - 4160) <= 1
    gain = random_channel(np.random.default_rng(0), 3, 4.0, 1.0, length=2000)
    assert gain.shape == (3, 1001) and np.all(gain >= 0)
    assert warp_segment(tone, 100, 2000, 1.1, gain[0]).shape == (2000,)


def test_speed_perturbed_batches_warp_the_targets(frames):
    pytest.importorskip("torch", reason="the [train] extra is not installed")
    from a2f_train.train.regression import Batcher, TrainConfig

    _, fs = frames
    cfg = TrainConfig(batch=8, speeds=[1.1], eq_db=3.0, p_band=0.5)
    b = Batcher(fs, cfg, seed=0)
    rng = np.random.default_rng(0)
    idx = b.rng.choice(b.pool, size=8)
    b.rng = rng  # replay the draw: the first 8 frames drawn are idx
    batch = b.draw()
    assert batch["audio"].shape == (16, 1, 8320) and batch["target"].shape == (
        16,
        fs.targets.shape[1],
    )
    first = batch["target"][:8].numpy()
    assert np.array_equal(first, fs.targets[idx])
    second = batch["target"][8:].numpy()  # frame idx + 1.1 (clamped at the clip's end)
    frac = 587 * 30 / 16000 - 1  # the second window starts rint(1.1 * 16000 / 30) samples later
    ok = fs.next_ok[idx + 1]
    nxt = fs.targets[np.where(ok, idx + 2, idx + 1)]
    want = (1 - frac) * fs.targets[idx + 1] + frac * nxt
    want[~ok] = fs.targets[idx + 1][~ok]
    assert np.allclose(second, want, atol=1e-4)


def test_phone_classes_follow_the_phone_intervals():
    from a2f_train.corpus.phonemes import COMMON_PHONES
    from a2f_train.train.data import phone_classes

    data = {
        "phone_label": np.array(["sil", "m", "aa", "xx"]),
        "phone_start": np.array([0.0, 0.1, 0.2, 0.3]),
    }
    got = phone_classes(data, 12, fps=30)  # frames at 0, 33.3, ..., 366.7 ms
    want = ["sil"] * 3 + ["m"] * 3 + ["aa"] * 3
    assert [COMMON_PHONES[i] for i in got[:9]] == want
    assert np.all(got[9:] == -1)  # a label outside the inventory is ignored by the loss
    empty = {"phone_label": np.array([]), "phone_start": np.array([])}
    assert phone_classes(empty, 3).tolist() == [-1, -1, -1]


def test_frames_carry_the_phone_under_each_bilabial_frame(frames):
    from a2f_train.corpus.phonemes import COMMON_PHONES

    _, fs = frames
    assert fs.phone is not None and fs.phone.shape == (len(fs),)
    assert (fs.phone >= 0).mean() > 0.99
    labels = np.array(COMMON_PHONES)[fs.phone[fs.bilabial]]
    # a closure flag covers [start, release] of /p b/ and all of /m/: the frame's phone is one
    assert set(labels) <= {"p", "b", "m"}


def test_phoneme_loss_is_trained_but_not_exported(frames):
    pytest.importorskip("torch", reason="the [train] extra is not installed")
    from a2f_train.nets.regression import RegressionNet, RegressionNetConfig, export_onnx
    from a2f_train.train.regression import Batcher, Model, TrainConfig

    basis, fs = frames
    cfg = TrainConfig(batch=4, w_phoneme=0.1, speeds=[0.9, 1.1])
    ncfg = RegressionNetConfig(basis.skin_matrix.shape[0], basis.tongue_matrix.shape[0],
                               num_bands=8, channels=(16, 16), hidden=32)  # fmt: skip
    model = Model(RegressionNet(ncfg), basis, cfg)
    batch = Batcher(fs, cfg, seed=0).draw()
    assert batch["phone"].shape == (8,) and int(batch["phone"].min()) >= 0
    terms = model.losses(batch)
    assert float(terms["phoneme"].detach()) > 0.5  # an untrained classifier over 41 classes
    terms["total"].backward()
    assert model.phone_head.weight.grad.abs().sum() > 0
    off = Model(RegressionNet(ncfg), basis, TrainConfig(batch=4))
    assert off.phone_head is None and "phoneme" not in off.losses(batch)
    onnx = pytest.importorskip("onnx")
    graph = onnx.load_from_string(export_onnx(model.net)).graph
    assert [o.name for o in graph.output] == ["result"]
    assert all(int(init.dims[0]) != 41 for init in graph.initializer if init.dims)
