"""Train the regression network (``a2f train regression``) and write the ``ada_v2.3`` package.

Samples (window, target frame) pairs at 30 fps from the train split (clean + augmented audio),
two adjacent frames per sample (SEQ_LEN 2, as NVIDIA). Losses, all on the standardised
outputs (``(result - out_bias) / out_scale``):

* **MSE** over skin PCA, tongue PCA and jaw deltas (eyes weighted ``w_eyes``: saccades are
  random per clip and cannot be predicted from audio);
* **motion**: MSE of the frame-to-frame difference against the target's (weight ``w_motion``);
* **lip distance**: the inner-lip gap of every lip pair reconstructed through the skin PCA
  basis (model units) against the target gap, frames inside /p b m/ closures weighted
  ``1 + w_closure`` (weight ``w_lip``);
* **volume stability**: windows whose centre (±160 ms) is near silent are pulled to the
  neutral pose, weight ``exp(-rms * vol_k)`` (weight ``w_volume``);
* **phoneme** (NVIDIA's recipe has one for English, a2f_reference.md section 5): a
  training-only linear classifier on the last hidden layer predicts the phone under the frame
  (the 41 classes of ``COMMON_PHONES``), cross-entropy weighted ``w_phoneme`` (0 = off, no
  head). It is not part of the exported network: the ONNX contract is unchanged.

Implicit emotion: a learned [11, 16] table, one row per corpus emotion "shot" (neutral first);
with probability ``p_neutral_row`` a sample is fed the neutral row instead of its own, so the
explicit 10-vector carries the emotion at run time (``source_shot`` = neutral).
Validation on the val split every ``val_every`` steps; the best state is kept and shipped.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from a2f_train.corpus.phonemes import COMMON_PHONES
from a2f_train.nets.regression import (
    RegressionNet,
    RegressionNetConfig,
    count_flops,
    export_onnx,
    num_params,
)
from a2f_train.train.averaging import ema_update
from a2f_train.train.data import (
    BUFFER_OFS,
    FPS,
    RATE,
    SHOTS,
    FrameSet,
    PackageBasis,
    load_frames,
    package_basis,
    random_channel,
    warped_windows,
)

__all__ = ["TrainConfig", "export_checkpoint", "run", "train"]

PRESETS = Path(__file__).parent / "presets"
PACKAGE_NAME = "ada_v2.3"


@dataclass
class TrainConfig:
    """Training recipe (YAML keys of ``presets/regression*.yaml``).

    Beyond the loss weights described in the module docstring: ``time_budget_s`` caps the
    step count after 30 measured steps; ``threads`` sets torch's intra-op threads;
    ``init_from`` starts from a checkpoint (``best.pt``, a second stage); ``tilt`` > 0 adds a
    random first-order spectral tilt to the windows; ``net`` overrides
    :class:`RegressionNetConfig` sizes; ``limit``/``val_limit`` keep the first clips only.

    Speaker/channel augmentation (:meth:`Batcher.draw`): ``speeds`` lists speed-perturbation
    factors drawn uniformly per sample (Kaldi-style ``[0.9, 1.0, 1.1]``; empty = off), with
    the targets time-warped to match; ``eq_db`` > 0 adds a random smooth EQ (dB std per knot)
    and ``p_band`` a random band limit (:func:`a2f_train.train.data.random_channel`).
    ``ema`` > 0 keeps an exponential moving average of the weights (decay ``ema``); it is
    what is validated, kept and shipped. ``autocorr_block`` > 0 computes the autocorrelation
    features in blocks of that many samples during training (0: the export's default block);
    the values agree to about 3e-6 but the float rounding differs, and the shipped package was
    trained with 32-sample blocks, so its presets set 32 to rebuild it bit for bit.
    """

    steps: int = 6000
    time_budget_s: float | None = None
    threads: int = 1
    batch: int = 64
    lr: float = 1.5e-3
    warmup: int = 200
    copies: int = 1
    limit: int | None = None
    val_limit: int | None = None
    val_frames: int = 4000
    val_every: int = 500
    log_every: int = 100
    w_eyes: float = 0.02
    w_motion: float = 4.0
    w_lip: float = 2.0
    w_closure: float = 9.0
    w_volume: float = 1.0
    vol_k: float = 2000.0
    gain_db: tuple[float, float] = (-18.0, 6.0)
    p_neutral_row: float = 0.5
    tilt: float = 0.0
    speeds: list[float] = field(default_factory=list)
    eq_db: float = 0.0
    p_band: float = 0.0
    ema: float = 0.0
    w_table: float = 1e-3
    w_phoneme: float = 0.0
    work_dir: str = "data/train/regression"
    init_from: str | None = None
    autocorr_block: int = 0
    net: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.autocorr_block < 0:
            raise ValueError(
                f"regression config autocorr_block={self.autocorr_block!r}: use 0 (the export's "
                "block) or a block that divides the frame and the lag count, e.g. 32"
            )

    @classmethod
    def load(cls, path: Path | None) -> TrainConfig:
        """Read a preset YAML (default ``presets/regression.yaml``)."""
        data = yaml.safe_load(Path(path or PRESETS / "regression.yaml").read_text()) or {}
        if "gain_db" in data:
            data["gain_db"] = tuple(data["gain_db"])
        return cls(**data)


class Batcher:
    """Draws (pair of adjacent frames) batches from a :class:`FrameSet`, seeded."""

    def __init__(self, frames: FrameSet, cfg: TrainConfig, seed: int) -> None:
        self.f, self.cfg = frames, cfg
        self.rng = np.random.default_rng(seed)
        self.pool = np.flatnonzero(frames.next_ok)

    def draw(self) -> dict[str, torch.Tensor]:
        """Windows [2B, 1, 8320] (frames i then i+1) and per-frame tables of length 2B."""
        b, rng = self.cfg.batch, self.rng
        idx = rng.choice(self.pool, size=b)
        ver = rng.integers(0, self.f.offsets.shape[0], size=b)
        both, vv = np.concatenate([idx, idx + 1]), np.concatenate([ver, ver])
        gain = 10 ** (rng.uniform(*self.cfg.gain_db, size=b) / 20)
        extra: dict[str, np.ndarray] = {}
        if self.cfg.speeds or self.cfg.eq_db > 0 or self.cfg.p_band > 0:
            win, extra = self._warped(idx, ver)
            win = win * np.concatenate([gain, gain])[:, None]
        else:
            win = self.f.windows(vv, both) * np.concatenate([gain, gain])[:, None]
        if self.cfg.tilt > 0:  # random spectral tilt: y[n] = x[n] - a x[n-1], a ~ U(-tilt, tilt)
            a = np.tile(rng.uniform(-self.cfg.tilt, self.cfg.tilt, size=b), 2)[:, None]
            win[:, 1:] -= a * win[:, :-1].copy()
        shot = self.f.emotion_id[both]
        keep = np.concatenate([rng.random(b) >= self.cfg.p_neutral_row] * 2)
        return _tensors(win, self.f, both, np.where(keep, shot, 0), **extra)

    def _warped(self, idx: np.ndarray, ver: np.ndarray) -> tuple[np.ndarray, dict]:
        """Speed-perturbed, re-channelled windows of frames ``idx`` and their successors.

        At speed ``s`` the second window starts ``1/30`` s later in the *perturbed* time,
        i.e. ``s/30`` s later in the original audio: its targets are interpolated at the
        fractional frame ``idx + s`` (clamped at the clip's last frame); its closure flag is
        the nearest frame's.
        """
        f, cfg, rng, b = self.f, self.cfg, self.rng, idx.size
        s = rng.choice(np.asarray(cfg.speeds or [1.0], float), size=b)
        c1 = f.offsets[ver, idx] + BUFFER_OFS
        step = np.rint(s * RATE / FPS).astype(np.int64)
        pos = idx + step * FPS / RATE
        lo = np.floor(pos).astype(np.int64)
        ok = f.next_ok[lo]
        hi = np.where(ok, lo + 1, lo)
        frac = np.where(ok, pos - lo, 0.0).astype(np.float32)[:, None]
        tgt2 = f.targets[lo] * (1 - frac) + f.targets[hi] * frac
        near = np.where(frac[:, 0] < 0.5, lo, hi)
        bil2 = f.bilabial[near]
        gain = None
        if cfg.eq_db > 0 or cfg.p_band > 0:
            gain = np.tile(random_channel(rng, b, cfg.eq_db, cfg.p_band), (2, 1))
        win = warped_windows(f.audio, np.concatenate([c1, c1 + step]), np.tile(s, 2), gain)
        extra = {
            "target": np.concatenate([f.targets[idx], tgt2]).astype(np.float32),
            "bilabial": np.concatenate([f.bilabial[idx], bil2]),
        }
        if f.phone is not None:
            extra["phone"] = np.concatenate([f.phone[idx], f.phone[near]])
        return win, extra


def _tensors(
    win: np.ndarray,
    f: FrameSet,
    idx: np.ndarray,
    shot: np.ndarray,
    target: np.ndarray | None = None,
    bilabial: np.ndarray | None = None,
    phone: np.ndarray | None = None,
) -> dict:
    mid = win[:, 4160 - 2560 : 4160 + 2560]
    target = f.targets[idx] if target is None else target
    bilabial = f.bilabial[idx] if bilabial is None else bilabial
    if phone is None:
        phone = f.phone[idx] if f.phone is not None else np.full(idx.size, -1)
    return {
        "phone": torch.from_numpy(phone.astype(np.int64)),
        "audio": torch.from_numpy(win.astype(np.float32)).unsqueeze(1),
        "target": torch.from_numpy(target),
        "bilabial": torch.from_numpy(bilabial.astype(np.float32)),
        "rms": torch.from_numpy(np.sqrt((mid**2).mean(axis=1)).astype(np.float32)),
        "shot": torch.from_numpy(shot.astype(np.int64)),
        "explicit": torch.from_numpy(f.explicit[idx]),
    }


class Model(torch.nn.Module):
    """The network plus the trainable implicit-emotion table and the loss constants."""

    def __init__(self, net: RegressionNet, basis: PackageBasis, cfg: TrainConfig) -> None:
        super().__init__()
        self.net, self.cfg = net, cfg
        self.table = torch.nn.Parameter(torch.randn(len(SHOTS), 16) * 0.01)
        self.register_buffer("lip_gap", torch.from_numpy(basis.lip_gap))
        d, s = net.cfg.result_size, net.cfg.num_skin
        w = torch.ones(d)
        w[d - net.cfg.eyes_size :] = cfg.w_eyes
        self.register_buffer("w_dim", w / w.sum() * d)
        self.s = s
        self.phone_head = (
            torch.nn.Linear(net.cfg.hidden, len(COMMON_PHONES)) if cfg.w_phoneme > 0 else None
        )

    def predict(self, batch: dict) -> torch.Tensor:
        """Standardised prediction [2B, D]."""
        return self.net.head(self._hidden(batch))

    def _hidden(self, batch: dict) -> torch.Tensor:
        emo = torch.cat([self.table[batch["shot"]], batch["explicit"]], dim=1).unsqueeze(1)
        return self.net.hidden(batch["audio"], emo)

    def losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Every loss term (scalars) of one batch; ``total`` is the weighted sum."""
        c, net = self.cfg, self.net
        hidden = self._hidden(batch)
        pred = net.head(hidden)
        tgt = (batch["target"] - net.out_bias) / net.out_scale
        err = (pred - tgt) ** 2 * self.w_dim
        half = pred.shape[0] // 2
        dp, dt = pred[half:] - pred[:half], tgt[half:] - tgt[:half]
        motion = ((dp - dt) ** 2 * self.w_dim).mean()
        gap_p = self._gap(pred)
        gap_t = self._gap(tgt)
        wf = 1.0 + c.w_closure * batch["bilabial"]
        lip = (wf[:, None] * (gap_p - gap_t) ** 2).mean()
        neutral = -net.out_bias / net.out_scale
        quiet = torch.exp(-batch["rms"] * c.vol_k)
        vol = (quiet[:, None] * (pred - neutral) ** 2 * self.w_dim)[:, : -net.cfg.eyes_size].mean()
        out = {"mse": err.mean(), "motion": motion, "lip": lip, "volume": vol}
        out["table"] = (self.table**2).mean()
        out["total"] = (out["mse"] + c.w_motion * motion + c.w_lip * lip + c.w_volume * vol
                        + c.w_table * out["table"])  # fmt: skip
        if self.phone_head is not None and bool((batch["phone"] >= 0).any()):
            logits = self.phone_head(hidden)
            out["phoneme"] = torch.nn.functional.cross_entropy(
                logits, batch["phone"], ignore_index=-1
            )
            out["total"] = out["total"] + c.w_phoneme * out["phoneme"]
        return out

    def _gap(self, std: torch.Tensor) -> torch.Tensor:
        n = self.net
        skin = std[:, : self.s] * n.out_scale[: self.s] + n.out_bias[: self.s]
        return skin @ self.lip_gap


def _fit_stats(net: RegressionNet, frames: FrameSet, seed: int, n: int = 2048) -> None:
    """Set feature and output standardisation buffers from ``n`` random training frames."""
    rng = np.random.default_rng(seed + 1)
    idx = rng.choice(len(frames), size=min(n, len(frames)), replace=False)
    ver = rng.integers(0, frames.offsets.shape[0], size=idx.size)
    with torch.no_grad():
        feats = []
        for i in range(0, idx.size, 256):
            win = frames.windows(ver[i : i + 256], idx[i : i + 256])
            feats.append(net.features(torch.from_numpy(win).unsqueeze(1)))
        f = torch.cat(feats).transpose(1, 2).reshape(-1, feats[0].shape[1])
        net.feat_mean.copy_(f.mean(0)[:, None])
        net.feat_std.copy_(f.std(0).clamp_min(1e-3)[:, None])
        t = torch.from_numpy(frames.targets)
        net.out_bias.copy_(t.mean(0))
        std = t.std(0)
        net.out_scale.copy_(torch.maximum(std, 0.05 * std.max().clamp_min(1e-6)))


def validate(model: Model, frames: FrameSet, cfg: TrainConfig) -> dict[str, float]:
    """Mean losses over ``val_frames`` evenly spaced val frames (clean audio, neutral row)."""
    idx = np.flatnonzero(frames.next_ok)
    idx = idx[np.linspace(0, idx.size - 1, min(cfg.val_frames, idx.size)).astype(int)]
    sums: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        for i in range(0, idx.size, 256):
            part = idx[i : i + 256]
            both, ver = np.concatenate([part, part + 1]), np.zeros(2 * part.size, int)
            batch = _tensors(frames.windows(ver, both), frames, both, frames.emotion_id[both] * 0)
            for k, v in model.losses(batch).items():
                sums[k] = sums.get(k, 0.0) + float(v) * part.size
    model.train()
    out = {k: v / idx.size for k, v in sums.items()}
    out["score"] = out["mse"] + cfg.w_lip * out["lip"]
    return out


def _lr(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * p)))


def _log(log: Path, text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    with log.open("a") as fh:
        fh.write(text + "\n")


def _budget_steps(cfg: TrainConfig, step: int, elapsed: float, log: Path) -> None:
    """After ``step`` steps, cap ``cfg.steps`` so training fits ``cfg.time_budget_s``."""
    per = elapsed / step
    fit = int(cfg.time_budget_s * 0.93 / per)  # ~7% for validation passes
    if fit < cfg.steps:
        cfg.steps = max(fit, step + 1)
        _log(log, f"WARNING: the time budget ({cfg.time_budget_s:g} s) cut the step count, so "
                  "this run will not be bit-identical to the shipped one (whose budget never "
                  "bound); run on an idle machine or raise time_budget_s")  # fmt: skip
    _log(log, f"[budget] {per * 1e3:.0f} ms/step measured over {step} steps -> {cfg.steps} steps")


def _step(model: Model, opt: torch.optim.Optimizer, batch: dict, lr: float) -> dict[str, float]:
    """One Adam step (gradient norm clipped at 5); returns the loss terms as floats."""
    for g in opt.param_groups:
        g["lr"] = lr
    loss = model.losses(batch)
    opt.zero_grad()
    loss["total"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return {k: float(v.detach()) for k, v in loss.items()}


def _progress(step: int, cfg: TrainConfig, acc: dict[str, float], elapsed: float) -> str:
    terms = " ".join(f"{k} {v / cfg.log_every:.4f}" for k, v in acc.items())
    per = elapsed / (step + 1)
    eta = per * (cfg.steps - step - 1)
    return (
        f"[train] step {step + 1}/{cfg.steps} {terms} lr {_lr(step, cfg):.2e} "
        f"{per * 1e3:.0f} ms/step elapsed {elapsed:.0f}s ETA {eta:.0f}s"
    )


def train(
    model: Model, train_f: FrameSet, val_f: FrameSet, cfg: TrainConfig, seed: int, log: Path
) -> dict:
    """Run the optimisation; keep the best-validating state in ``model``. Returns a summary.

    With ``cfg.time_budget_s`` the step count is sized after 30 measured steps (and the
    cosine schedule follows the new count).
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batcher, t0 = Batcher(train_f, cfg, seed), time.time()
    best, best_state, acc, step = math.inf, None, {}, -1
    params = [p for p in model.parameters() if p.requires_grad]
    ema = [p.detach().clone() for p in params] if cfg.ema > 0 else None
    while step + 1 < cfg.steps:
        step += 1
        if cfg.time_budget_s and step == 30:
            _budget_steps(cfg, step, time.time() - t0, log)
        terms = _step(model, opt, batcher.draw(), _lr(step, cfg))
        if ema is not None:
            ema_update(ema, params, cfg.ema, step)
        acc = {k: acc.get(k, 0.0) + v for k, v in terms.items()}
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.log_every == 0 or last:
            _log(log, _progress(step, cfg, acc, time.time() - t0))
            acc = {}
        if (step + 1) % cfg.val_every == 0 or last:
            live = _swap(params, ema)
            v = validate(model, val_f, cfg)
            _log(log, f"[val] step {step + 1} " + " ".join(f"{k} {x:.4f}" for k, x in v.items()))
            if v["score"] < best:
                best = v["score"]
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            _swap(params, live)
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"best_val_score": best, "wall_s": time.time() - t0, "steps": cfg.steps}


def _swap(params: list[torch.Tensor], values: list[torch.Tensor] | None) -> list | None:
    """Copy ``values`` into ``params`` (no-op for None); returns the previous values."""
    if values is None:
        return None
    old = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p, v in zip(params, values, strict=True):
            p.copy_(v)
    return old


def _load_data(corpus: Path, cfg: TrainConfig, basis: PackageBasis) -> tuple[FrameSet, FrameSet]:
    train_f = load_frames(corpus, "train", basis, cfg.copies, cfg.limit)
    try:
        val_f = load_frames(corpus, "val", basis, 0, cfg.val_limit)
    except ValueError:  # a tiny corpus may have no val clip: validate on train clips
        val_f = load_frames(corpus, "train", basis, 0, cfg.val_limit)
    return train_f, val_f


def run(corpus: Path, out: Path, config: Path | None = None, seed: int = 0) -> Path:
    """Train on ``corpus`` and write ``<out>/ada_v2.3``; returns the package folder.

    Args:
        corpus: corpus root with geometry (``a2f data build``).
        out: folder of model packages (``models``).
        config: training preset YAML (default ``presets/regression.yaml``).
        seed: seeds numpy, torch and the sampler.
    """
    from a2f_train.character import load_default_character
    from a2f_train.package.regression import write_regression_package

    cfg = TrainConfig.load(config)
    # 1 thread by default: on the shared, oversubscribed 2-core machine 2 threads spent most of
    # their time in barriers (one step measured 8x slower than with 1 thread).
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    log, t0 = work / "train.log", time.time()
    ch = load_default_character()
    basis = package_basis(Path(corpus), ch)
    train_f, val_f = _load_data(Path(corpus), cfg, basis)
    ncfg = RegressionNetConfig(basis.skin_matrix.shape[0], basis.tongue_matrix.shape[0], **cfg.net)
    net = RegressionNet(ncfg)
    net.autocorr_block = cfg.autocorr_block or None
    model = Model(net, basis, cfg)
    if cfg.init_from:  # second stage: start from a checkpoint (same net sizes and corpus)
        state = torch.load(cfg.init_from, weights_only=True)
        net.load_state_dict(state["net"])
        model.table.data.copy_(state["table"])
        if model.phone_head is not None and "phone_head" in state:
            model.phone_head.load_state_dict(state["phone_head"])
    else:
        _fit_stats(net, train_f, seed)
    mflop = count_flops(ncfg)["total"] / 1e6
    _log(log, f"[data] train {len(train_f)} frames x {train_f.offsets.shape[0]} versions, val "
              f"{len(val_f)} frames, load {time.time() - t0:.0f}s; net {mflop:.1f} MFLOP/frame, "
              f"{num_params(net)} params")  # fmt: skip
    summary = train(model, train_f, val_f, cfg, seed, log)
    state = {"net": net.state_dict(), "table": model.table.detach(), "net_cfg": ncfg.to_dict()}
    if model.phone_head is not None:  # training-only: kept for a later stage, never exported
        state["phone_head"] = model.phone_head.state_dict()
    torch.save(state, work / "best.pt")
    table = model.table.detach().numpy()
    net.autocorr_block = None  # the export's (faster) default block
    onnx = export_onnx(net)
    pkg = write_regression_package(Path(out) / PACKAGE_NAME, onnx, basis, ch, table, SHOTS)
    summary.update(total_wall_s=time.time() - t0, net=ncfg.to_dict(), train_frames=len(train_f))
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _log(log, f"[done] {pkg} total {summary['total_wall_s']:.0f}s")
    return pkg


def export_checkpoint(checkpoint: Path, corpus: Path, out: Path) -> Path:
    """Re-export a training checkpoint (``best.pt``) as ``<out>/ada_v2.3`` without training.

    Args:
        checkpoint: ``best.pt`` written by :func:`run` (net state, table, net sizes).
        corpus: the corpus it was trained on (for the PCA basis).
        out: folder of model packages.
    """
    from a2f_train.character import load_default_character
    from a2f_train.package.regression import write_regression_package

    state = torch.load(checkpoint, weights_only=True)
    cfg = dict(state["net_cfg"], channels=tuple(state["net_cfg"]["channels"]))
    net = RegressionNet(RegressionNetConfig(**cfg))
    net.load_state_dict(state["net"])
    ch = load_default_character()
    basis = package_basis(Path(corpus), ch)
    table = state["table"].numpy()
    onnx = export_onnx(net)
    return write_regression_package(Path(out) / PACKAGE_NAME, onnx, basis, ch, table, SHOTS)
