"""Train the diffusion network (``a2f train diffusion``) and write ``models/ada_multi_v3.0``.

DDPM with the two respaced timesteps only (:data:`~a2f_train.nets.diffusion.TIMESTEPS`):
each batch picks one step, noises the normalised 72-dim code targets with q(x_t | x_0) and
trains the denoiser to predict x_0 over ``windows`` consecutive SDK windows of a clip, the GRU
state carried from window to window exactly as at inference (zeros at the first). Losses:
MSE on x_0 (centre frames weight 1, the 30 truncated frames 0.3), velocity MSE, and the
character's inner-lip openings (linear in the weights; frames inside /p b m/ closures weighted
``1 + closure_weight``). Identities are the speaking styles of :mod:`a2f_train.train.styles`.
Optional speaker/channel augmentation (``speeds``, ``eq_db``, ``p_band``: speed perturbation
with time-warped targets and a random channel, :func:`~a2f_train.train.data_diffusion.
warped_sequence`) and a fine-tune start (``init_from``). Options the presets leave off, each
measured as a candidate in docs/models/diffusion.md: ``autocorr``, ``dilations``, ``ema``,
``under_closure_weight``, ``freq_masks``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from a2f_train.nets.diffusion import (
    CENTER_FIRST,
    CENTER_LAST,
    FRAMES,
    N_MELS,
    TIMESTEPS,
    CodeDecoder,
    DiffusionDims,
    DiffusionNet,
    cosine_alpha_bar,
)
from a2f_train.train import data_diffusion as dd
from a2f_train.train.averaging import ema_update
from a2f_train.train.data import random_channel
from a2f_train.train.styles import IDENTITIES, apply_style

MODEL_ID = "ada_multi_v3.0"
_LOG = logging.getLogger(__name__)
PRESET = Path(__file__).with_name("presets") / "diffusion.yaml"


@dataclass(frozen=True)
class DiffusionConfig:
    """Training configuration (``presets/diffusion.yaml``)."""

    hidden: int = 128
    channels: int = 96
    emb: int = 32
    batch: int = 16
    windows: int = 4
    lr: float = 2e-3
    steps: int = 3000
    minutes: float = 40.0
    max_aug: int = 1
    limit_clips: int = 0
    velocity_weight: float = 1.0
    lip_weight: float = 0.5
    threads: int = 1
    checkpoint: str = ""  # torch.save of the trained module ("" = none)
    log_every: int = 25
    closure_weight: float = 0.0  # lip loss x (1 + closure_weight) inside /p b m/ closures
    init_from: str = ""  # start from this checkpoint (a torch.save'd module), "" = from scratch
    speeds: list[float] = field(default_factory=list)  # speed perturbation factors ([] = off)
    eq_db: float = 0.0  # random EQ, dB std per knot (0 = off)
    p_band: float = 0.0  # probability of a random band limit
    chain_weight: float = 0.0  # sampled-chain loss (the 2-step sampler as served), 0 = off
    seam_weight: float = 0.0  # extra weight of the stitched track's window-boundary velocity
    autocorr: int = 0  # autocorrelation lags added to the log-mel features (0 = log-mel only)
    dilations: list[int] = field(default_factory=lambda: [1, 1])  # audio encoder residual convs
    under_closure_weight: float = 0.0  # extra weight of lips-left-open errors in closures
    freq_masks: int = 0  # SpecAugment-style frequency masks per sequence (0 = off)
    freq_mask_width: int = 8  # each mask covers 0..width consecutive mel bands
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off)
    # more corpora whose train split joins the main corpus's (e.g. data/corpus/real_asterisk,
    # recorded speech: a2f_train.corpus.real_prompts); [] = the main corpus only
    extra_corpora: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        checks = (
            ("ema", 0.0 <= self.ema < 1.0, "a decay in [0, 1), e.g. 0.995 (0 = off)"),
            ("freq_masks", self.freq_masks >= 0, "a count >= 0 (0 = off)"),
            (
                "freq_mask_width", 0 <= self.freq_mask_width <= N_MELS,
                f"a band count in [0, {N_MELS}]",
            ),
            ("under_closure_weight", self.under_closure_weight >= 0, "a weight >= 0 (0 = off)"),
        )  # fmt: skip
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"diffusion config {name}={getattr(self, name)!r}: use {want}")

    @property
    def augment(self) -> bool:
        """True when sequences are re-synthesised on the fly (speed or channel)."""
        return bool(self.speeds) or self.eq_db > 0 or self.p_band > 0

    @classmethod
    def load(cls, path: Path | None) -> DiffusionConfig:
        """Read a YAML preset (unknown keys are errors); None gives the default preset."""
        import yaml

        data = yaml.safe_load(Path(path or PRESET).read_text()) or {}
        known = {f.name for f in fields(cls)}
        bad = set(data) - known
        if bad:
            raise ValueError(f"unknown diffusion config keys: {sorted(bad)}")
        return cls(**data)


@dataclass
class TrainSet:
    """Clips, styles and the statistics the network needs."""

    clips: list
    styled: dict[tuple[int, str], np.ndarray]
    mean: np.ndarray
    std: np.ndarray
    lip: np.ndarray  # [52, K] inner-lip opening per unit skin weight


def prepare(clips: list, character: object) -> TrainSet:
    """Precompute style curves, code statistics and the lip-opening matrix."""
    styled = {}
    for i, c in enumerate(clips):
        for ident in IDENTITIES:
            styled[(i, ident)] = apply_style(ident, c.weights)
    codes = np.concatenate(
        [
            np.concatenate([styled[(i, s)], c.eyes], 1)
            for i, c in enumerate(clips)
            for s in IDENTITIES
        ]
    )
    std = np.maximum(codes.std(0), 0.05).astype(np.float32)
    eye = np.eye(68, dtype=np.float32)[:52]
    lip = character.lip_openings(eye) - character.lip_openings(np.zeros((1, 68), np.float32))
    return TrainSet(clips, styled, codes.mean(0).astype(np.float32), std, lip.astype(np.float32))


def sample_batch(ts: TrainSet, cfg: DiffusionConfig, rng: np.random.Generator) -> dict:
    """A batch of ``batch`` sequences of ``windows`` windows (normalised code targets)."""
    mels, codes, emos, idents, bils = [], [], [], [], []
    length = 8000 * (cfg.windows - 1) + 16000 + 2 * dd.WARP_MARGIN
    for _ in range(cfg.batch):
        i = int(rng.integers(len(ts.clips)))
        c = ts.clips[i]
        s = int(rng.integers(len(IDENTITIES)))
        k0 = int(rng.integers(max(1, c.num_windows - cfg.windows + 1)))
        styled = ts.styled[(i, IDENTITIES[s])]
        if cfg.augment:
            speed = float(rng.choice(cfg.speeds)) if cfg.speeds else 1.0
            gain = None
            if cfg.eq_db > 0 or cfg.p_band > 0:
                gain = random_channel(rng, 1, cfg.eq_db, cfg.p_band, length)[0]
            mel, code, bil = dd.warped_sequence(c, k0, cfg.windows, styled, speed, gain)
        else:
            mel, code = dd.sequence(c, k0, cfg.windows, styled)
            bil = dd.sequence_bilabial(c, k0, cfg.windows)
        if cfg.freq_masks:
            mel = mask_frequencies(mel, rng, cfg.freq_masks, cfg.freq_mask_width)
        mels.append(mel)
        bils.append(bil)
        codes.append((code - ts.mean) / ts.std)
        emos.append(np.broadcast_to(c.emotion, (30, 10)))
        idents.append(np.eye(len(IDENTITIES), dtype=np.float32)[s])
    return {
        "mel": torch.from_numpy(np.stack(mels)),
        "code": torch.from_numpy(np.stack(codes).astype(np.float32)),
        "emotion": torch.from_numpy(np.stack(emos).astype(np.float32)),
        "identity": torch.from_numpy(np.stack(idents)),
        "bilabial": torch.from_numpy(np.stack(bils).astype(np.float32)),
    }


def mask_frequencies(
    mel: np.ndarray, rng: np.random.Generator, count: int, width: int
) -> np.ndarray:
    """SpecAugment-style frequency masking of one sequence's features (training only).

    ``count`` times, ``w ~ U{0..width}`` consecutive log-mel bands (of the first ``N_MELS``
    rows; autocorrelation rows are left alone) are replaced by their own mean over the whole
    sequence, which keeps each band's level and removes its time course. The network must then
    find every cue in more than one band: a defence against the TTS voices' particular spectra
    (Park et al. 2019).

    Args:
        mel: ``[W, R, T]`` features of a sequence's windows (R >= N_MELS).
        rng: Generator for the mask positions.
        count: Number of masks.
        width: Largest mask width in bands.

    Returns:
        A masked copy ``[W, R, T]``.
    """
    out = np.array(mel, dtype=np.float32, copy=True)
    for _ in range(count):
        w = int(rng.integers(0, width + 1))
        if w == 0:
            continue
        f0 = int(rng.integers(0, N_MELS - w + 1))
        band = out[:, f0 : f0 + w]
        out[:, f0 : f0 + w] = band.mean(axis=(0, 2), keepdims=True)
    return out


def frame_weights() -> torch.Tensor:
    """``[60, 1]`` loss weight per frame: 1 in the centre 30, 0.3 in the truncated ones."""
    w = torch.full((FRAMES, 1), 0.3)
    w[CENTER_FIRST:CENTER_LAST] = 1.0
    return w


def lip_error(
    gap_err: torch.Tensor, bilabial: torch.Tensor, cfg: DiffusionConfig, fw: torch.Tensor
) -> torch.Tensor:
    """Weighted squared inner-lip opening errors ``[B, F, K]`` (character units squared).

    Args:
        gap_err: ``[B, F, K]`` predicted minus target opening at the K lip points (positive:
            the lips are further apart than they should be).
        bilabial: ``[B, F]`` 1 on frames inside a /p b m/ closure.
        cfg: ``closure_weight`` multiplies every error inside closures by ``1 + closure_weight``;
            ``under_closure_weight`` multiplies the positive ones (lips left open) there by a
            further ``1 + under_closure_weight``. Squared error makes a network that is unsure
            whether a closure is happening predict a half-open mouth (the conditional mean);
            the asymmetry moves that optimum towards the closed side, because an unclosed
            /p b m/ is the error a viewer sees (docs/models/diffusion.md, candidate DU).
        fw: ``[F, 1]`` frame weights (:func:`frame_weights`).
    """
    inside = bilabial[..., None]
    weight = 1.0 + cfg.closure_weight * inside
    if cfg.under_closure_weight:
        weight = weight * (1.0 + cfg.under_closure_weight * inside * (gap_err > 0))
    return fw * weight * gap_err**2  # this operation order keeps the presets' runs bit-exact


def sequence_loss(
    net: DiffusionNet, batch: dict, step: int, ts_lip: torch.Tensor, cfg: DiffusionConfig,
    gen: torch.Generator,
) -> torch.Tensor:  # fmt: skip
    """DDPM x_0 loss of one batch at respaced step ``step`` with the GRU state carried."""
    t, ab = TIMESTEPS[step], cosine_alpha_bar(TIMESTEPS[step])
    code = batch["code"]
    b, w = code.shape[:2]
    h = torch.zeros(2, b, net.dims.hidden)
    fw = frame_weights()
    total = code.new_zeros(())
    for k in range(w):
        x0 = code[:, k]
        eps = torch.randn(x0.shape, generator=gen)
        x_t = math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * eps
        audio, cond = net.conditions(batch["mel"][:, k], batch["identity"], batch["emotion"])
        pred, h = net.denoiser(x_t, t, audio, cond, h)
        err = pred - x0
        mse = (fw * err**2).mean()
        vel = (fw[1:] * (err[:, 1:] - err[:, :-1]) ** 2).mean()
        dw = err[..., :52] * net.code_std[:52]
        lip = lip_error(dw @ ts_lip, batch["bilabial"][:, k], cfg, fw).mean()
        total = total + mse + cfg.velocity_weight * vel + cfg.lip_weight * lip
    return total / w


def served_windows(
    net: DiffusionNet, batch: dict, noise: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The 2-step sampler over a batch's consecutive windows, as served.

    Every window of a sequence uses the same ``noise`` (the SDK's ``constant_noise``); the GRU
    state of each step is carried from window to window (zeros at the first, as after a
    reset). The windows' centre frames are stitched as the SDK emits them (frames 15..44),
    the first :attr:`DiffusionDims.crossfade` of each window after the first blended from the
    previous window's frames 45.. exactly as the exported graph's cross-fade does (it is
    linear, so it commutes with the per-dimension normalisation).

    Args:
        net: the network.
        batch: :func:`sample_batch` output (``mel`` [B,W,40,100], identity, emotion).
        noise: ``[B, 2, 60, 72]`` N(0, 1): the code-space noise of the two steps.

    Returns:
        ``(x0 per window [B,60,72] normalised, stitched centre frames [B, 30 W, 72])``.
    """
    mel = batch["mel"]
    b, w = mel.shape[:2]
    n, ab = net.dims.crossfade, net.alpha_bars[1]
    states = torch.zeros(2, 2, b, net.dims.hidden)
    fade = net.fade
    outs, track, prev = [], [], None
    for k in range(w):
        audio, cond = net.conditions(mel[:, k], batch["identity"], batch["emotion"])
        x, new = noise[:, 0], []
        for s, t in enumerate(TIMESTEPS):
            x0, h = net.denoiser(x, t, audio, cond, states[s])
            new.append(h)
            if s == 0:
                x = math.sqrt(ab) * x0 + math.sqrt(1.0 - ab) * noise[:, 1]
        states = torch.stack(new)
        centre = x0[:, CENTER_FIRST:CENTER_LAST]
        if prev is not None and n > 0:
            mid = (1.0 - fade) * prev + fade * centre[:, :n]
            centre = torch.cat([mid, centre[:, n:]], dim=1)
        prev = x0[:, CENTER_LAST : CENTER_LAST + n]
        outs.append(x0)
        track.append(centre)
    return outs, torch.cat(track, dim=1)


def chain_loss(
    net: DiffusionNet, batch: dict, ts_lip: torch.Tensor, cfg: DiffusionConfig,
    gen: torch.Generator,
) -> torch.Tensor:  # fmt: skip
    """Loss of the output as served (:func:`served_windows`, one noise draw per sequence).

    The per-window x_0 loss of :func:`sequence_loss` taken on the *sampled* output, plus the
    velocity error of the stitched track, its jumps across window boundaries weighted
    ``1 + seam_weight``. Trains the chain the server runs (step 2 sees the model's own step-1
    estimate, not a noised target) and trains away jitter that the constant noise locks to a
    fixed frame of every window, and so to the seams.
    """
    code = batch["code"]
    b, w = code.shape[:2]
    noise = torch.randn((b, 2, FRAMES, code.shape[-1]), generator=gen)
    outs, pred = served_windows(net, batch, noise)
    fw = frame_weights()
    total = code.new_zeros(())
    for k, x0 in enumerate(outs):
        err = x0 - code[:, k]
        mse = (fw * err**2).mean()
        vel = (fw[1:] * (err[:, 1:] - err[:, :-1]) ** 2).mean()
        dw = err[..., :52] * net.code_std[:52]
        lip = lip_error(dw @ ts_lip, batch["bilabial"][:, k], cfg, fw).mean()
        total = total + mse + cfg.velocity_weight * vel + cfg.lip_weight * lip
    true = code[:, :, CENTER_FIRST:CENTER_LAST].reshape(b, -1, code.shape[-1])
    verr = (pred[:, 1:] - pred[:, :-1]) - (true[:, 1:] - true[:, :-1])
    period = CENTER_LAST - CENTER_FIRST
    jw = torch.ones(verr.shape[1], 1)
    jw[period - 1 :: period] += cfg.seam_weight  # a window's last frame -> the next's first
    return total / w + cfg.velocity_weight * (jw * verr**2).mean()


def build_net(cfg: DiffusionConfig, ts: TrainSet, character: object) -> tuple[DiffusionNet, float]:
    """The network with its fixed decoder (tongue/jaw map fitted on styled corpus frames)."""
    rng = np.random.default_rng(0)
    keys = list(ts.styled)
    pick = [keys[i] for i in rng.choice(len(keys), size=min(len(keys), 300), replace=False)]
    frames = np.concatenate([ts.styled[k][FRAMES:-FRAMES:7] for k in pick])
    tj, bias, err = dd.fit_tongue_jaw(character, frames)
    skin = np.asarray(character.skin_deltas, np.float32).reshape(52, -1)
    decoder = CodeDecoder(skin, tj, bias)
    dims = DiffusionDims(
        len(IDENTITIES), cfg.hidden, cfg.channels, cfg.emb, autocorr=cfg.autocorr,
        dilations=tuple(cfg.dilations),
    )  # fmt: skip
    return DiffusionNet(dims, decoder, ts.mean, ts.std), err


def lr_factor(step: int, steps: int, elapsed: float, budget: float) -> float:
    """Warm-up then cosine decay over progress = max(step fraction, wall-clock fraction)."""
    progress = min(1.0, max(step / steps, elapsed / budget))
    if progress < 0.03:
        return max(progress / 0.03, 0.05)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (progress - 0.03) / 0.97))


def train(
    net: DiffusionNet, ts: TrainSet, cfg: DiffusionConfig, seed: int, log: object = print
) -> dict:
    """Run the optimisation loop (stops at ``steps`` or ``minutes``); returns a summary."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr * 0.05, weight_decay=1e-4)
    lip = torch.from_numpy(ts.lip)
    start, losses, step = time.time(), [], 0
    clock_driven = False
    # The EMA replaces the final weights (Polyak averaging of the last ~1 / (1 - ema) steps, as
    # DDPM training usually does). Measured here (candidates DM, DM1): no real-speech gain, so
    # the presets leave it off.
    ema = [p.detach().clone() for p in params] if cfg.ema > 0 else None
    for step in range(cfg.steps):
        batch = sample_batch(ts, cfg, rng)
        loss = sequence_loss(net, batch, step % 2, lip, cfg, gen)
        if cfg.chain_weight > 0:
            loss = loss + cfg.chain_weight * chain_loss(net, batch, lip, cfg, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if ema is not None:
            ema_update(ema, params, cfg.ema, step)
        losses.append(float(loss.detach()))
        elapsed = time.time() - start
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step + 1, cfg.steps, elapsed, cfg.minutes * 60)
        if not clock_driven and elapsed / (cfg.minutes * 60) > (step + 1) / cfg.steps:
            clock_driven = True  # said once: from here the schedule depends on machine speed
            log(f"WARNING: step {step + 1}: the wall-clock cap ({cfg.minutes:g} min) now drives "
                "the learning-rate schedule, so this run will not be bit-identical to another "
                "(the presets' shipped runs never reached it); run on an idle machine")  # fmt: skip
        if step % cfg.log_every == 0:
            log(f"step {step} loss {np.mean(losses[-cfg.log_every :]):.4f} {elapsed:.0f}s")
        if elapsed > cfg.minutes * 60:
            break
    if ema is not None:
        with torch.no_grad():
            for p, e in zip(params, ema, strict=True):
                p.copy_(e)
    return {"steps": step + 1, "seconds": time.time() - start, "final_loss": np.mean(losses[-50:])}


def seam_stats(weights: np.ndarray, first_good: int = 0) -> dict[str, float]:
    """Window-boundary seam statistics of a 60 fps weight track ``[F, 68]``.

    Inference ``k`` yields global frames ``30 k - 45 .. 30 k - 16``, so consecutive windows
    meet between frames ``f`` and ``f + 1`` with ``f % 30 == 14``. Jumps are L2 norms of the
    frame-to-frame weight differences.

    Args:
        weights: ``[F, 68]`` track at 60 fps (frame 0 at t = 0).
        first_good: ignore boundaries before this frame.

    Returns:
        ``max_boundary_over_median`` (max boundary jump / median jump of the clip),
        ``boundary_mean_over_mean`` (mean boundary jump / mean non-boundary jump) and
        ``max_boundary_over_local`` (max over boundaries of the jump / the median of the 10
        surrounding jumps).
    """
    jumps = np.linalg.norm(np.diff(np.asarray(weights, np.float64), axis=0), axis=1)
    idx = np.arange(len(jumps))
    seam = (idx % 30 == 14) & (idx >= first_good)
    if not seam.any() or (~seam).sum() < 2:
        return {}
    local = []
    for i in idx[seam]:
        around = np.r_[jumps[max(0, i - 5) : i], jumps[i + 1 : i + 6]]
        local.append(jumps[i] / max(float(np.median(around)), 1e-9))
    med = max(float(np.median(jumps)), 1e-9)
    return {
        "max_boundary_over_median": float(jumps[seam].max() / med),
        "boundary_mean_over_mean": float(jumps[seam].mean() / max(jumps[~seam].mean(), 1e-9)),
        "max_boundary_over_local": float(max(local)),
    }


def run(corpus: Path, out: Path, config: Path | None, seed: int) -> Path:
    """Train on ``corpus`` and write ``out/ada_multi_v3.0``; returns the package directory."""
    from a2f_train.character import load_default_character
    from a2f_train.package.diffusion import write_diffusion_package

    cfg = DiffusionConfig.load(config)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)  # the network's initial weights (train() reseeds for the loop)
    character = load_default_character()
    clips = dd.load_split(
        Path(corpus), "train", cfg.max_aug, cfg.limit_clips or None, keep_audio=cfg.augment,
        lags=cfg.autocorr,
    )  # fmt: skip
    for extra in cfg.extra_corpora:
        more = dd.load_split(Path(extra), "train", cfg.max_aug, keep_audio=cfg.augment,
                             lags=cfg.autocorr)  # fmt: skip
        if not more:
            raise ValueError(f"extra corpus {extra}: no train clips (build it first)")
        _LOG.info(f"{len(more)} clip versions from {extra}")
        clips += more
    ts = prepare(clips, character)
    net, tj_err = build_net(cfg, ts, character)
    if cfg.init_from:  # fine-tune: same sizes, same corpus statistics
        net.load_state_dict(torch.load(cfg.init_from, weights_only=False).state_dict())
        # targets are normalised with the checkpoint's statistics, whatever clips are added
        # (the buffers alias ts.mean/std today; the copy keeps that true after a refactor)
        ts.mean, ts.std = net.code_mean.numpy().copy(), net.code_std.numpy().copy()
    _LOG.info(f"{len(clips)} clip versions; tongue/jaw linear decode rel. error {tj_err:.4f}")
    summary = train(net, ts, cfg, seed, log=_LOG.info)
    summary["tongue_jaw_fit_error"] = tj_err
    _LOG.info(f"trained {summary}")
    if cfg.checkpoint:
        Path(cfg.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save(net, cfg.checkpoint)
    package = Path(out) / MODEL_ID
    write_diffusion_package(net.eval(), package, summary=summary)
    return package


def _cli() -> None:  # pragma: no cover - convenience entry for long background runs
    import argparse
    import sys

    p = argparse.ArgumentParser()
    p.add_argument("--corpus", type=Path, default=Path("data/corpus/full"))
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.stdout.write(f"{run(a.corpus, a.out, a.config, a.seed)}\n")


if __name__ == "__main__":  # pragma: no cover
    _cli()
