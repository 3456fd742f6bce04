"""Diffusion training smoke test, styles, seams, and the package writer through the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from a2f_actors.model_package import DiffusionPackage, load_package  # noqa: E402
from a2f_train.train import styles  # noqa: E402
from a2f_train.train.diffusion import lr_factor, run, seam_stats  # noqa: E402

TINY = """
hidden: 8
channels: 8
emb: 4
batch: 2
windows: 2
steps: 2
minutes: 5
max_aug: 0
limit_clips: 2
log_every: 1
"""


def test_styles_are_distinct_and_deterministic() -> None:
    w = (np.random.default_rng(0).random((40, 68)) * 0.4).astype(np.float32)
    outs = {name: styles.apply_style(name, w) for name in styles.IDENTITIES}
    assert all(o.shape == (40, 68) for o in outs.values())
    np.testing.assert_array_equal(outs["ada_soft"], styles.apply_style("ada_soft", w))
    assert np.abs(outs["ada_crisp"] - w).max() > 0.01 and np.abs(outs["ada_soft"] - w).max() > 0.01
    for name, o in outs.items():
        assert np.all((o >= 0) & (o <= 1)), name
    with pytest.raises(ValueError):
        styles.apply_style("claire", w)


def test_styles_keep_bilabial_closures() -> None:
    from a2f_train.character import load_default_character

    ada = load_default_character()
    rng = np.random.default_rng(0)
    w = np.zeros((40, 68), np.float32)
    jaw, close = styles._IDX["JawOpen"], styles._IDX["MouthClose"]
    w[:, jaw] = rng.random(40) * 0.5
    w[:, close] = w[:, jaw]  # closed lips (MouthClose = JawOpen) with pressing on top
    for name in ("MouthPressLeft", "MouthPressRight", "MouthRollLower"):
        w[:, styles._IDX[name]] = rng.random(40) * 0.3
    for name in styles.IDENTITIES:
        assert ada.lip_gap(styles.apply_style(name, w)).max() < 0.05, name


def test_seam_stats_flags_a_step() -> None:
    t = np.linspace(0, 4, 240)
    smooth = np.stack([0.3 + 0.2 * np.sin(2 * np.pi * t)] * 68, axis=1)
    assert seam_stats(smooth)["max_boundary_over_local"] < 1.5
    jumpy = smooth.copy()
    jumpy[75:] += 0.2  # a step between frames 74 and 75 (74 % 30 == 14: a window boundary)
    assert seam_stats(jumpy)["max_boundary_over_local"] > 5


def test_lr_factor_warmup_and_decay() -> None:
    assert lr_factor(0, 100, 0.0, 60.0) == pytest.approx(0.05)
    assert lr_factor(3, 100, 0.0, 60.0) == pytest.approx(1.0)
    assert lr_factor(100, 100, 0.0, 60.0) == pytest.approx(0.05)
    assert lr_factor(10, 100, 59.9, 60.0) < 0.06  # the wall clock ends it too


def test_train_smoke_writes_a_package_that_animates(small_corpus: Path, tmp_path: Path) -> None:
    from a2f_actors.animator import DiffusionAnimator
    from a2f_actors.offline import animate_diffusion_clip
    from a2f_actors.params import BlendshapeOutputParams
    from a2f_train.evaluation.package_runner import onnx_infer

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    package = run(small_corpus, tmp_path / "models", cfg, seed=0)
    assert package.name == "ada_multi_v3.0"
    assert load_package(package).network_info.gru_latent_dim == 256
    pkg = load_package(package)
    assert isinstance(pkg, DiffusionPackage)
    assert tuple(i.name for i in pkg.identities) == styles.IDENTITIES
    for name in styles.IDENTITIES:
        assert (package / f"bs_skin_{name}.npz").is_file()
        assert (package / f"model_data_{name}.npz").is_file()
    tables = BlendshapeOutputParams()
    animator = DiffusionAnimator.from_package(pkg, "ada_soft", tables)
    audio = np.random.default_rng(0).normal(0, 0.05, 12000).astype(np.float32)
    clip = animate_diffusion_clip(
        animator, audio, pkg.identities[2].model_config.face_params(), tables,
        onnx_infer(pkg.files.network.onnx),
    )  # fmt: skip
    assert clip.weights.shape == (45, 68)
    assert np.isfinite(clip.weights).all()


def test_warped_sequence_matches_the_plain_one_at_speed_one(small_corpus: Path) -> None:
    from a2f_train.train import data_diffusion as dd

    clip = dd.load_split(small_corpus, "train", max_aug=0, limit=1, keep_audio=True)[0]
    assert clip.bilabial is not None and clip.bilabial.any()
    mel, code = dd.sequence(clip, 1, 3, clip.weights)
    wmel, wcode, wbil = dd.warped_sequence(clip, 1, 3, clip.weights, 1.0)
    assert wmel.shape == mel.shape and wcode.shape == code.shape == (3, 60, 72)
    assert np.abs(wmel - mel).max() < 0.05  # float16 storage of the plain mel
    assert np.array_equal(wcode, code)
    assert np.array_equal(wbil, dd.sequence_bilabial(clip, 1, 3))
    ac = dd.load_split(small_corpus, "train", max_aug=0, limit=1, keep_audio=True, lags=32)[0]
    amel, _ = dd.sequence(ac, 1, 3, ac.weights)
    wamel = dd.warped_sequence(ac, 1, 3, ac.weights, 1.0)[0]
    assert amel.shape == wamel.shape == (3, 72, 100)
    assert np.array_equal(amel[:, :40], mel) and np.abs(wamel - amel).max() < 0.05
    fast = dd.warped_sequence(clip, 2, 1, clip.weights, 1.1)[1][0]  # row q <- row 60 + 1.1 q
    full = np.concatenate([clip.weights, clip.eyes], axis=1)
    pos = 60 + 1.1 * np.arange(60)
    lo = np.floor(pos).astype(int)
    want = full[lo] * (1 - (pos - lo))[:, None] + full[lo + 1] * (pos - lo)[:, None]
    assert np.allclose(fast, want, atol=1e-4)
    assert np.abs(fast - dd.sequence(clip, 2, 1, clip.weights)[1][0]).max() > 1e-2


def test_finetune_with_closure_weight_and_augmentation(small_corpus: Path, tmp_path: Path) -> None:
    """Both stages with autocorrelation features and a dilated encoder (stage 2 re-synthesised)."""
    cfg = tmp_path / "tiny.yaml"
    tiny = TINY + "autocorr: 8\ndilations: [1, 3]\n"
    cfg.write_text(tiny.replace("steps: 2", "steps: 1") + f"checkpoint: {tmp_path / 'a.pt'}\n")
    run(small_corpus, tmp_path / "m1", cfg, seed=0)
    ft = tmp_path / "ft.yaml"
    ft.write_text(
        tiny + "closure_weight: 20.0\nspeeds: [0.9, 1.1]\neq_db: 3.0\np_band: 0.5\n"
        "chain_weight: 1.0\nseam_weight: 4.0\n"
        "freq_masks: 2\nunder_closure_weight: 4.0\nema: 0.9\n"
        f"init_from: {tmp_path / 'a.pt'}\n"
    )
    package = run(small_corpus, tmp_path / "m2", ft, seed=0)
    assert (package / "network.onnx").is_file()
    net = torch.load(tmp_path / "a.pt", weights_only=False)
    assert net.dims.autocorr == 8 and net.encoder.pre[0].in_channels == 48
    assert [b[0].dilation[0] for b in net.encoder.blocks] == [1, 3]


def _tiny_net() -> object:
    from a2f_train.nets.diffusion import CodeDecoder, DiffusionDims, DiffusionNet

    rng = np.random.default_rng(0)
    decoder = CodeDecoder(
        rng.normal(size=(52, 6)).astype(np.float32), rng.normal(size=(68, 3)).astype(np.float32),
        np.zeros(3, np.float32),
    )  # fmt: skip
    dims = DiffusionDims(identities=3, hidden=8, channels=8, emb=4)
    net = DiffusionNet(dims, decoder, rng.normal(size=72) * 0.1, 0.5 + rng.random(72))
    torch.manual_seed(0)
    for p in net.denoiser.out.parameters():  # zero-initialised: give the head an output
        torch.nn.init.normal_(p, std=0.3)
    return net.eval()


def _tiny_batch(b: int = 2, w: int = 3) -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "mel": torch.randn((b, w, 40, 100), generator=g),
        "code": torch.randn((b, w, 60, 72), generator=g),
        "emotion": torch.zeros(b, 30, 10),
        "identity": torch.eye(3)[:b],
        "bilabial": (torch.rand((b, w, 60), generator=g) > 0.8).float(),
    }


def test_served_windows_match_the_exported_forward() -> None:
    """The training chain reproduces the graph (sampler, GRU carry, cross-fade) window by window."""
    from a2f_train.train.diffusion import served_windows

    net, batch = _tiny_net(), _tiny_batch()
    b, w = batch["mel"].shape[:2]
    noise = torch.randn((b, 2, 60, 72), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        _, track = served_windows(net, batch, noise)
        full = torch.zeros(b, 3, 60, 72)
        full[:, :2] = noise
        latents = torch.zeros(2, 2, b, net.dims.latent)
        for k in range(w):
            audio, cond = net.conditions(batch["mel"][:, k], batch["identity"], batch["emotion"])
            x0, states = net.sample(audio, cond, latents, full)
            code, latents = net.crossfade(x0 * net.code_std + net.code_mean, latents, states)
            want = ((code - net.code_mean) / net.code_std)[:, 15:45]
            if k > 0:  # window 0 blends from the zero stash (frames the SDK drops)
                assert torch.allclose(track[:, 30 * k : 30 * k + 30], want, atol=1e-5)


def test_chain_loss_weights_the_seams() -> None:
    from a2f_train.train.diffusion import DiffusionConfig, chain_loss

    net, batch = _tiny_net(), _tiny_batch()
    lip = torch.randn((52, 4), generator=torch.Generator().manual_seed(3)) * 0.01

    def loss(seam: float) -> torch.Tensor:
        cfg = DiffusionConfig(closure_weight=5.0, seam_weight=seam)
        return chain_loss(net, batch, lip, cfg, torch.Generator().manual_seed(4))

    base, seam = loss(0.0), loss(4.0)
    assert torch.isfinite(base) and seam > base
    seam.backward()
    grads = [p.grad for p in net.denoiser.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_ema_replaces_the_weights_with_the_average_of_the_iterates(
    small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ema`` leaves the optimisation alone and ends on the ramped EMA of its iterates."""
    from a2f_train.character import load_default_character
    from a2f_train.train import data_diffusion as dd
    from a2f_train.train.diffusion import DiffusionConfig, build_net, prepare, train

    cfg = DiffusionConfig(hidden=8, channels=8, emb=4, batch=2, windows=2, steps=3, ema=0.9)
    clips = dd.load_split(small_corpus, "train", 0, 2)
    ts = prepare(clips, load_default_character())
    net, _ = build_net(cfg, ts, load_default_character())
    params = [p for p in net.parameters() if p.requires_grad]
    want = [p.detach().clone() for p in params]
    iterates = []
    step = torch.optim.AdamW.step

    def record(self: torch.optim.Optimizer, *args: object, **kwargs: object) -> object:
        out = step(self, *args, **kwargs)
        iterates.append([p.detach().clone() for p in params])
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", record)
    train(net, ts, cfg, seed=0, log=lambda _: None)
    assert len(iterates) == 3
    for t, it in enumerate(iterates):
        d = min(cfg.ema, (1 + t) / (10 + t))
        want = [d * w + (1 - d) * p for w, p in zip(want, it, strict=True)]
    moved = max(float((a - b).abs().max()) for a, b in zip(iterates[-1], want, strict=True))
    assert moved > 1e-6  # the average differs from the last iterate...
    for p, w in zip(params, want, strict=True):  # ...and it is what the net ends with
        torch.testing.assert_close(p.detach(), w, rtol=1e-5, atol=1e-6)


def test_under_closure_weight_is_asymmetric_and_only_inside_closures() -> None:
    from a2f_train.train.diffusion import DiffusionConfig, lip_error

    err = torch.tensor([[[0.1], [-0.1], [0.1], [-0.1]]])  # [B=1, F=4, K=1]
    bil = torch.tensor([[1.0, 1.0, 0.0, 0.0]])  # frames 0-1 inside a closure
    fw = torch.ones(4, 1)
    plain = lip_error(err, bil, DiffusionConfig(closure_weight=20.0), fw)
    torch.testing.assert_close(plain[0, :, 0], torch.tensor([0.21, 0.21, 0.01, 0.01]))
    cfg = DiffusionConfig(closure_weight=20.0, under_closure_weight=4.0)
    under = lip_error(err, bil, cfg, fw)
    # lips left open inside a closure weigh 5x more; too closed, or outside closures: unchanged
    torch.testing.assert_close(under[0, :, 0], torch.tensor([1.05, 0.21, 0.01, 0.01]))


def test_frequency_masks_flatten_whole_bands_and_leave_the_rest() -> None:
    from a2f_train.nets.diffusion import N_MELS
    from a2f_train.train.diffusion import mask_frequencies

    mel = np.random.default_rng(0).normal(size=(3, N_MELS + 4, 50)).astype(np.float32)
    out = mask_frequencies(mel, np.random.default_rng(1), count=3, width=8)
    changed = np.flatnonzero(np.abs(out - mel).max(axis=(0, 2)) > 0)
    assert 0 < changed.size <= 24 and changed.max() < N_MELS  # autocorrelation rows untouched
    for row in changed:  # a masked band is constant over time and windows, at its own mean
        assert np.ptp(out[:, row]) == 0.0
        assert np.isclose(out[0, row, 0], mel[:, row].mean(), atol=1e-6)
    assert np.array_equal(out[:, N_MELS:], mel[:, N_MELS:])
    assert np.array_equal(mask_frequencies(mel, np.random.default_rng(1), 0, 8), mel)


def test_same_seed_same_weights(small_corpus: Path, tmp_path: Path) -> None:
    """``make train`` reproduces a model: the initial weights are seeded too, not only the loop."""
    states = []
    for name in ("a", "b"):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(TINY + f"checkpoint: {tmp_path / name}.pt\n")
        run(small_corpus, tmp_path / f"m_{name}", cfg, seed=3)
        states.append(torch.load(tmp_path / f"{name}.pt", weights_only=False).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.parametrize(
    ("key", "value"),
    [("ema", 1.0), ("freq_masks", -1), ("freq_mask_width", 41), ("under_closure_weight", -2.0)],
)
def test_bad_option_values_are_named(key: str, value: float, tmp_path: Path) -> None:
    from a2f_train.train.diffusion import DiffusionConfig

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"{key}: {value}\n")
    with pytest.raises(ValueError, match=f"{key}={value}: use "):
        DiffusionConfig.load(cfg)


def test_a_binding_wall_clock_cap_is_announced(small_corpus: Path) -> None:
    """Reruns are bit-identical only while the step count drives the schedule: say when not."""
    from a2f_train.character import load_default_character
    from a2f_train.train import data_diffusion as dd
    from a2f_train.train.diffusion import DiffusionConfig, build_net, prepare, train

    clips = dd.load_split(small_corpus, "train", 0, 2)
    ts = prepare(clips, load_default_character())
    for minutes, warned in ((60.0, False), (1e-9, True)):
        cfg = DiffusionConfig(
            hidden=8, channels=8, emb=4, batch=2, windows=2, steps=2, minutes=minutes
        )
        net, _ = build_net(cfg, ts, load_default_character())
        lines: list[str] = []
        train(net, ts, cfg, seed=0, log=lines.append)
        assert any("wall-clock cap" in line for line in lines) is warned


def test_extra_corpora_join_the_train_set_with_the_checkpoint_statistics(
    small_corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    """Recorded speech (real_prompts) joins a fine-tune; targets keep the checkpoint's scaling."""
    import logging

    from a2f_train.train import diffusion as trainer

    seen = []
    real_train = trainer.train

    def spy(net, ts, cfg, seed, log=print):  # the statistics the batches are normalised with
        seen.append((len(ts.clips), ts.mean.copy(), ts.std.copy()))
        return real_train(net, ts, cfg, seed, log)

    base = tmp_path / "base.yaml"
    base.write_text(TINY + f"checkpoint: {tmp_path / 'a.pt'}\n")
    run(small_corpus, tmp_path / "m1", base, seed=0)
    before = torch.load(tmp_path / "a.pt", weights_only=False)
    ft = tmp_path / "ft.yaml"
    ft.write_text(
        TINY.replace("limit_clips: 2", "limit_clips: 1") + f"init_from: {tmp_path / 'a.pt'}\n"
        f"checkpoint: {tmp_path / 'b.pt'}\nextra_corpora: [{small_corpus}]\n"
    )
    monkeypatch.setattr(trainer, "train", spy)
    with caplog.at_level(logging.INFO, logger="a2f_train.train.diffusion"):
        run(small_corpus, tmp_path / "m2", ft, seed=0)
    extra = [r.getMessage() for r in caplog.records if str(small_corpus) in r.getMessage()]
    train_clips = sum(
        '"split": "train"' in line
        for line in (small_corpus / "manifest.jsonl").read_text().splitlines()
    )
    assert extra == [f"{train_clips} clip versions from {small_corpus}"]
    ((clips, mean, std),) = seen
    assert clips == 1 + train_clips  # limit_clips applies to the main corpus only
    assert np.array_equal(mean, before.code_mean.numpy())
    assert np.array_equal(std, before.code_std.numpy())


def test_an_empty_extra_corpus_is_refused_by_name(small_corpus: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.jsonl").write_text("")
    cfg = tmp_path / "e.yaml"
    cfg.write_text(TINY + f"extra_corpora: [{empty}]\n")
    with pytest.raises(ValueError, match=f"extra corpus {empty}: no train clips"):
        run(small_corpus, tmp_path / "m", cfg, seed=0)
