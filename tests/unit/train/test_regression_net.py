"""Regression network: shapes, FLOP count, ONNX parity (tiny dims)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from a2f_train.nets.regression import (  # noqa: E402
    RegressionNet,
    RegressionNetConfig,
    count_flops,
    export_onnx,
)

TINY = RegressionNetConfig(num_skin=5, num_tongue=3, num_bands=8, channels=(8, 8, 8, 8), hidden=16)


def _inputs(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 1, 8320, generator=g) * 0.1, torch.randn(b, 1, 26, generator=g)


def test_forward_shapes_follow_nvidia_contract():
    net = RegressionNet(TINY).eval()
    audio, emo = _inputs(3)
    out = net(audio, emo)
    assert out.shape == (3, 1, 5 + 3 + 15 + 4)
    assert net.features(audio).shape == (3, 8 + 32, 25)
    assert TINY.steps() == [25, 13, 7, 4]


def test_frame_12_is_centred_on_the_target_sample():
    net = RegressionNet(TINY)
    audio = torch.arange(8320, dtype=torch.float32).reshape(1, 1, -1)
    fr = net.frames(audio)
    assert fr.shape == (1, 25, 640)
    assert float(fr[0, 12].mean()) == pytest.approx(4159.5)


def test_autocorrelation_is_gain_invariant_except_energy():
    net = RegressionNet(TINY)
    audio, _ = _inputs(2)
    a, b = net.features(audio), net.features(audio * 4.0)
    nb = TINY.num_bands
    assert torch.allclose(a[:, nb + 1 :], b[:, nb + 1 :], atol=1e-4)
    assert torch.allclose(b[:, nb] - a[:, nb], torch.full_like(a[:, nb], np.log(16.0)), atol=1e-3)


def test_flops_of_the_shipped_size_are_in_budget():
    total = count_flops(RegressionNetConfig(num_skin=12, num_tongue=7))["total"]
    assert 5e6 < total < 30e6


def test_onnx_export_names_dynamic_batch_and_parity():
    torch.manual_seed(0)
    net = RegressionNet(TINY).eval()
    sess = ort.InferenceSession(export_onnx(net), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input", "emotion"]
    assert [o.name for o in sess.get_outputs()] == ["result"]
    for b in (1, 4):
        audio, emo = _inputs(b, seed=b)
        with torch.no_grad():
            ref = net(audio, emo).numpy()
        got = sess.run(None, {"input": audio.numpy(), "emotion": emo.numpy()})[0]
        assert got.shape == (b, 1, 27)
        assert np.abs(got - ref).max() <= 1e-4


def test_autocorrelation_matches_the_direct_sum():
    from a2f_train.nets.regression import autocorrelation

    x = torch.randn(2, 3, 640, dtype=torch.float64)
    ref = torch.stack([(x[..., : 640 - k] * x[..., k:]).sum(-1) for k in range(32)], dim=-1)
    for block in (None, 4, 16, 32):  # None: 16
        got = autocorrelation(x, 32, block)
        assert got.shape == (2, 3, 32)
        assert torch.allclose(got, ref, atol=1e-9)
    cut = x[..., :600]  # 16 divides neither 600 nor 24: blocks of 24
    want = torch.stack([(cut[..., : 600 - k] * cut[..., k:]).sum(-1) for k in range(24)], dim=-1)
    assert torch.allclose(autocorrelation(cut, 24), want, atol=1e-9)
    with pytest.raises(ValueError, match="block 7 must divide"):
        autocorrelation(x, 32, 7)


def test_autocorrelation_block_of_the_net_is_not_a_weight_and_keeps_the_values():
    net = RegressionNet(TINY).eval()
    audio, _ = _inputs(2)
    with torch.no_grad():
        default = net.features(audio)
        net.autocorr_block = 32  # what the shipped package was trained with
        trained = net.features(audio)
    assert "autocorr_block" not in str(list(net.state_dict()))
    assert torch.allclose(trained, default, rtol=1e-5, atol=1e-5)


def test_band_norm_cancels_a_fixed_channel_gain_and_exports():
    from dataclasses import replace

    cfg = replace(TINY, band_norm=True)
    net = RegressionNet(cfg).eval()
    audio, emo = _inputs(2)
    with torch.no_grad():
        f1, f2 = net.features(audio * 10.0), net.features(audio * 30.0)
    nb = cfg.num_bands
    assert torch.allclose(f1[:, :nb], f2[:, :nb], atol=1e-3)  # band shapes: gain cancels
    assert torch.allclose(f1[:, :nb].mean(dim=2), torch.zeros(2, nb), atol=1e-4)
    assert float((f2[:, nb] - f1[:, nb]).mean()) == pytest.approx(2 * np.log(3.0), abs=1e-2)
    sess = ort.InferenceSession(export_onnx(net), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": audio.numpy(), "emotion": emo.numpy()})[0]
    with torch.no_grad():
        want = net(audio, emo).numpy()
    assert np.abs(got - want).max() < 1e-4


def test_fine_front_end_with_a_fixed_filterbank_exports_with_parity():
    from dataclasses import replace

    cfg = replace(TINY, frame_len=320, hop=160, learn_filterbank=False)
    assert cfg.num_frames == 51 and cfg.steps() == [51, 26, 13, 7]
    net = RegressionNet(cfg).eval()
    assert not net.fb.requires_grad and all(
        p.requires_grad for n, p in net.named_parameters() if n != "fb"
    )
    frames = net.frames(torch.arange(8320.0).reshape(1, 1, -1))
    assert frames.shape == (1, 51, 320)
    assert float(frames[0, 25, 160]) == 4160.0  # frame 25's centre is the target sample
    audio, emo = _inputs(4)
    sess = ort.InferenceSession(export_onnx(net))
    got = sess.run(None, {"input": audio.numpy(), "emotion": emo.numpy()})[0]
    assert np.abs(got - net(audio, emo).detach().numpy()).max() < 1e-4


@pytest.mark.parametrize("frame_len,hop", [(400, 160), (640, 300)])
def test_framing_that_the_net_cannot_cut_is_refused(frame_len, hop):
    with pytest.raises(ValueError, match="frame_len"):
        RegressionNetConfig(num_skin=5, num_tongue=3, frame_len=frame_len, hop=hop)
