"""The diffusion network: NVIDIA's I/O contract, ONNX parity, latents carry, noise determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from a2f_train.nets.diffusion import (  # noqa: E402
    TIMESTEPS,
    CodeDecoder,
    DiffusionDims,
    DiffusionNet,
    LogMel,
    cosine_alpha_bar,
)
from a2f_train.package.diffusion import INPUTS, dummy_inputs, export_onnx  # noqa: E402
from a2f_train.train.data_diffusion import log_mel  # noqa: E402

SKIN, TJ = 90, 21  # 30 skin vertices, 2 tongue vertices + 15 jaw (D >= 72)


@pytest.fixture(scope="module")
def net() -> DiffusionNet:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    dec = CodeDecoder(rng.normal(size=(52, SKIN)), rng.normal(size=(68, TJ)), rng.normal(size=TJ))
    dims = DiffusionDims(identities=3, hidden=8, channels=8, emb=4)
    model = DiffusionNet(dims, dec, np.zeros(72), np.ones(72))
    with torch.no_grad():  # the output layer is zero-initialised: make it do something
        model.denoiser.out.weight.normal_(0, 0.1)
    return model.eval()


def _run(net: DiffusionNet, inputs: tuple) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        pred, lat = net(*inputs)
    return pred.numpy(), lat.numpy()


def test_shapes(net: DiffusionNet) -> None:
    pred, lat = _run(net, dummy_inputs(net, batch=3))
    assert pred.shape == (3, 60, SKIN + TJ + 4)
    assert lat.shape == (2, 2, 3, 256)  # NVIDIA's latent width; GRU state in the first 8


def test_onnx_parity_dynamic_batch(net: DiffusionNet) -> None:
    session = ort.InferenceSession(export_onnx(net), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(INPUTS)
    assert [o.name for o in session.get_outputs()] == ["prediction", "output_latents"]
    for batch in (1, 4):
        inputs = dummy_inputs(net, batch=batch, seed=batch)
        ref = _run(net, inputs)
        got = session.run(None, {n: t.numpy() for n, t in zip(INPUTS, inputs, strict=True)})
        for a, b in zip(got, ref, strict=True):
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max())


def test_latents_batch_axis_and_carry(net: DiffusionNet) -> None:
    inputs = list(dummy_inputs(net, batch=2))
    pred, lat = _run(net, tuple(inputs))
    # batch lives on axis 2 of the latents: swapping the two streams swaps everything
    perm = [t[[1, 0]] for t in inputs]
    perm[3] = inputs[3][:, :, [1, 0]]
    pred_p, lat_p = _run(net, tuple(perm))
    np.testing.assert_allclose(pred_p, pred[[1, 0]], atol=1e-5)
    np.testing.assert_allclose(lat_p, lat[:, :, [1, 0]], atol=1e-6)
    # the carried state matters: feeding output_latents back changes the next window
    inputs[3] = torch.from_numpy(lat)
    pred2, _ = _run(net, tuple(inputs))
    assert np.abs(pred2 - pred).max() > 1e-6


def test_crossfade_from_the_previous_window(net: DiffusionNet) -> None:
    first = list(dummy_inputs(net, batch=1, seed=3))
    first[3] = torch.zeros_like(first[3])
    pred1, lat1 = _run(net, tuple(first))
    second = list(dummy_inputs(net, batch=1, seed=4))
    second[3] = torch.from_numpy(lat1)
    pred2, _ = _run(net, tuple(second))
    plain = dataclasses.replace(net.dims, crossfade=0)
    faded, net.dims = net.dims, plain
    try:
        raw2, _ = _run(net, tuple(second))
    finally:
        net.dims = faded
    n = faded.crossfade
    for i in range(n):
        u = (i + 1) / (n + 1)
        a = 3 * u**2 - 2 * u**3
        expect = (1 - a) * pred1[0, 45 + i] + a * raw2[0, 15 + i]
        np.testing.assert_allclose(pred2[0, 15 + i], expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(pred2[0, 15 + n :], raw2[0, 15 + n :])


def test_noise_determinism(net: DiffusionNet) -> None:
    inputs = list(dummy_inputs(net, batch=1))
    a, _ = _run(net, tuple(inputs))
    b, _ = _run(net, tuple(inputs))
    np.testing.assert_array_equal(a, b)
    last = inputs[4].clone()
    last[:, 2] = 5.0  # the last DDPM step adds no noise: noise[:, 2] is unused
    inputs[4] = last
    np.testing.assert_array_equal(_run(net, tuple(inputs))[0], a)
    first = last.clone()
    first[:, 0] += 1.0
    inputs[4] = first
    assert np.abs(_run(net, tuple(inputs))[0] - a).max() > 1e-6


def test_schedule_and_logmel_twin() -> None:
    assert cosine_alpha_bar(TIMESTEPS[0]) < 1e-3 < 0.3 < cosine_alpha_bar(TIMESTEPS[1]) < 0.7
    audio = np.random.default_rng(1).normal(0, 0.1, 4000).astype(np.float32)
    with torch.no_grad():
        ref = LogMel()(torch.from_numpy(audio)[None])[0].numpy().T
    np.testing.assert_allclose(log_mel(audio), ref, atol=1e-4)


def test_autocorr_twin_and_values() -> None:
    from a2f_train.nets.diffusion import Autocorr
    from a2f_train.train.data_diffusion import audio_features, autocorr

    rng = np.random.default_rng(2)
    audio = rng.normal(0, 0.1, 4000).astype(np.float32)
    with torch.no_grad():
        ref = Autocorr(32)(torch.from_numpy(audio)[None])[0].numpy().T
    got = autocorr(audio, 32)
    assert got.shape == ref.shape == (4000 // 160 + 1, 32)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert audio_features(audio, 32).shape == (26, 72)
    # a 200 Hz tone correlates +1 at its period (80 samples: not a lag) and -1 at half of it
    t = np.arange(16000) / 16000
    tone = autocorr(0.3 * np.sin(2 * np.pi * 400 * t).astype(np.float32), 32)[50]
    assert tone[20] < -0.9 and tone[1] > 0.9  # lag 20 = half a 400 Hz period
    assert np.abs(got[5:-5, 1:]).mean() < 0.15  # white noise: no correlation at lags > 0
    silence = autocorr(np.zeros(1600, np.float32), 32)
    assert np.all(silence[:, 1:] == 0) and np.allclose(silence[:, 0], (np.log(1e-6) + 7) / 4)
    with pytest.raises(ValueError, match="divisor of 320"):
        Autocorr(30)


def test_autocorr_net_onnx_parity() -> None:
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    dec = CodeDecoder(rng.normal(size=(52, SKIN)), rng.normal(size=(68, TJ)), rng.normal(size=TJ))
    dims = DiffusionDims(identities=3, hidden=8, channels=8, emb=4, autocorr=16)
    model = DiffusionNet(dims, dec, np.zeros(72), np.ones(72))
    with torch.no_grad():
        model.denoiser.out.weight.normal_(0, 0.1)
    model.eval()
    inputs = dummy_inputs(model, batch=2, seed=7)
    assert model.features(inputs[0]).shape == (2, 56, 100)
    session = ort.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    ref = _run(model, inputs)
    got = session.run(None, {n: t.numpy() for n, t in zip(INPUTS, inputs, strict=True)})
    for a, b in zip(got, ref, strict=True):
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max())
    # the autocorrelation rows reach the output
    with torch.no_grad():
        model.encoder.pre[0].weight[:, 40:] += 1.0
    assert np.abs(_run(model, inputs)[0] - ref[0]).max() > 1e-6


@pytest.mark.parametrize(("autocorr", "dilations"), [(0, (1, 1)), (16, (1, 2, 4))])
def test_benchmark_reads_the_flops_from_the_package_graph(autocorr, dilations, tmp_path) -> None:
    """bench_models_diffusion needs no training checkpoint: sizes come from the ONNX weights."""
    import importlib.util
    from pathlib import Path

    from a2f_train.nets.diffusion import count_flops

    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location(
        "bench_diff", root / "benchmarks/bench_models_diffusion.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    dec = CodeDecoder(rng.normal(size=(52, SKIN)), rng.normal(size=(68, TJ)), rng.normal(size=TJ))
    dims = DiffusionDims(
        identities=3, hidden=8, channels=8, emb=4, autocorr=autocorr, dilations=dilations
    )
    model = DiffusionNet(dims, dec, np.zeros(72), np.ones(72)).eval()
    path = tmp_path / "network.onnx"
    path.write_bytes(export_onnx(model))
    assert bench.package_flops(path) == pytest.approx(sum(count_flops(dims, SKIN, TJ).values()))


def test_dilated_encoder_reaches_further_and_exports() -> None:
    """dilations (1, 2, 4) widen the audio context to about +-273 ms; (1, 1) stays near +-107."""
    from a2f_train.nets.diffusion import AudioEncoder

    torch.manual_seed(0)
    reach = {}
    for dil in [(1, 1), (1, 2, 4)]:
        enc = AudioEncoder(8, dilations=dil).eval()
        mel = torch.zeros(1, 40, 100)
        bumped = mel.clone()
        bumped[0, :, 50] = 1.0  # one 100 fps frame at t = 0.5 s (60 fps frame 30)
        with torch.no_grad():
            diff = (enc(bumped) - enc(mel)).abs().sum(-1)[0]
        touched = np.flatnonzero(diff.numpy() > 1e-7)
        reach[dil] = (touched.min(), touched.max())
    assert reach[(1, 1)][0] >= 30 - 8 and reach[(1, 1)][1] <= 30 + 8
    assert reach[(1, 2, 4)][0] <= 30 - 14 and reach[(1, 2, 4)][1] >= 30 + 14
    rng = np.random.default_rng(3)
    dec = CodeDecoder(rng.normal(size=(52, SKIN)), rng.normal(size=(68, TJ)), rng.normal(size=TJ))
    dims = DiffusionDims(identities=3, hidden=8, channels=8, emb=4, dilations=(1, 2, 4))
    model = DiffusionNet(dims, dec, np.zeros(72), np.ones(72)).eval()
    inputs = dummy_inputs(model, batch=2, seed=5)
    session = ort.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(INPUTS, inputs, strict=True)})
    for a, b in zip(got, _run(model, inputs), strict=True):
        assert np.abs(a - b).max() <= 1e-4 * max(1.0, np.abs(b).max())
