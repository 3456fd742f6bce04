"""Train the emotion classifier (``a2f train emotion``) and write ``models/ada_a2e_v1.0``.

Data: the synthetic corpus, whose speech engines vary rate, pitch and pitch range per emotion
(``a2f_train.corpus.expression``). Corpus labels map to NVIDIA's six classes: anger->angry,
disgust->disgust, fear->fear, joy->happy, neutral->neutral, sadness and grief->sad; clips
labelled amazement, cheekiness, outofbreath and pain are dropped. Training crops 1.5-3.75 s
of log-mel (clean and augmented audio), class-balanced cross-entropy; held-out evaluation on
whole ``test`` clips (accuracy and confusion matrix, saved beside the package).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from a2f_train.nets.emotion import CLASSES, EmotionNet
from a2f_train.train import data_diffusion as dd
from a2f_train.train.diffusion import lr_factor

MODEL_ID = "ada_a2e_v1.0"
_LOG = logging.getLogger(__name__)
PRESET = Path(__file__).with_name("presets") / "emotion.yaml"
CORPUS_TO_CLASS = {
    "anger": "angry", "disgust": "disgust", "fear": "fear", "joy": "happy",
    "neutral": "neutral", "sadness": "sad", "grief": "sad",
}  # fmt: skip


@dataclass(frozen=True)
class EmotionConfig:
    """Training configuration (``presets/emotion.yaml``)."""

    width: int = 96
    batch: int = 32
    lr: float = 2e-3
    steps: int = 800
    minutes: float = 8.0
    min_frames: int = 150
    max_frames: int = 375
    max_aug: int = 1
    limit_clips: int = 0
    threads: int = 1
    checkpoint: str = ""  # torch.save of the trained module ("" = none)

    @classmethod
    def load(cls, path: Path | None) -> EmotionConfig:
        """Read a YAML preset (unknown keys are errors); None gives the default preset."""
        import yaml

        data = yaml.safe_load(Path(path or PRESET).read_text()) or {}
        bad = set(data) - {f.name for f in fields(cls)}
        if bad:
            raise ValueError(f"unknown emotion config keys: {sorted(bad)}")
        return cls(**data)


def labelled(clips: list) -> list[tuple[np.ndarray, int]]:
    """(mel ``[T, 40]`` without the 1 s zero padding, class index) of the mapped clips."""
    out = []
    pad = dd.PAD // 160
    for c in clips:
        name = CORPUS_TO_CLASS.get(c.emotion_name)
        if name is not None:
            out.append((c.mel[pad:-pad], CLASSES.index(name)))
    return out


def sample_batch(data: list, cfg: EmotionConfig, rng: np.random.Generator) -> tuple:
    """Class-balanced batch of random crops: mel ``[B, 40, T]``, labels ``[B]``."""
    by_class = [[i for i, (_, y) in enumerate(data) if y == k] for k in range(len(CLASSES))]
    by_class = [ids for ids in by_class if ids]
    length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    mels, labels = [], []
    for _ in range(cfg.batch):
        ids = by_class[int(rng.integers(len(by_class)))]
        mel, y = data[ids[int(rng.integers(len(ids)))]]
        if len(mel) > length:
            s = int(rng.integers(len(mel) - length + 1))
            mel = mel[s : s + length]
        else:
            mel = np.pad(mel, ((0, length - len(mel)), (0, 0)), mode="edge")
        mels.append(mel.T.astype(np.float32))
        labels.append(y)
    return torch.from_numpy(np.stack(mels)), torch.tensor(labels)


def train(net: EmotionNet, data: list, cfg: EmotionConfig, seed: int, log: object = print) -> dict:
    """Optimise with AdamW + one-cycle; stops at ``steps`` or ``minutes``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr * 0.05, weight_decay=1e-3)
    start, losses, step = time.time(), [], 0
    for step in range(cfg.steps):
        mel, y = sample_batch(data, cfg, rng)
        loss = torch.nn.functional.cross_entropy(net.classify_mel(mel), y, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(
                step + 1, cfg.steps, time.time() - start, cfg.minutes * 60
            )
        losses.append(float(loss.detach()))
        if step % 25 == 0:
            log(f"step {step} loss {np.mean(losses[-25:]):.4f} {time.time() - start:.0f}s")
        if time.time() - start > cfg.minutes * 60:
            break
    return {
        "steps": step + 1,
        "seconds": time.time() - start,
        "final_loss": float(np.mean(losses[-50:])),
    }


def evaluate(net: EmotionNet, data: list, max_frames: int = 375) -> dict:
    """Accuracy and confusion (rows true, columns predicted) on whole clips (first 3.75 s)."""
    conf = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    with torch.no_grad():
        for mel, y in data:
            x = torch.from_numpy(mel[:max_frames].T.astype(np.float32))[None]
            conf[y, int(net.classify_mel(x).argmax())] += 1
    acc = float(np.trace(conf) / max(conf.sum(), 1))
    return {
        "accuracy": acc,
        "confusion": conf.tolist(),
        "classes": list(CLASSES),
        "clips": int(conf.sum()),
    }


def run(corpus: Path, out: Path, config: Path | None, seed: int) -> Path:
    """Train on ``corpus`` and write ``out/ada_a2e_v1.0``; returns the package directory."""
    from a2f_train.package.a2e import write_a2e_package

    cfg = EmotionConfig.load(config)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(seed)  # the network's initial weights (train() reseeds for the loop)
    limit = cfg.limit_clips or None
    train_data = labelled(dd.load_split(Path(corpus), "train", cfg.max_aug, limit))
    test_data = labelled(dd.load_split(Path(corpus), "test", 0, limit))
    _LOG.info(f"{len(train_data)} train / {len(test_data)} test clips")
    net = EmotionNet(cfg.width)
    summary = train(net, train_data, cfg, seed, log=_LOG.info)
    net.eval()
    summary["test"] = evaluate(net, test_data)
    _LOG.info(json.dumps(summary["test"]))
    if cfg.checkpoint:
        Path(cfg.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save(net, cfg.checkpoint)
    package = Path(out) / MODEL_ID
    write_a2e_package(net, package, summary=summary)
    return package


if __name__ == "__main__":  # pragma: no cover - background runs: python -m a2f_train.train.emotion
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.stdout.write(f"{run(Path(sys.argv[1]), Path(sys.argv[2]), None, 0)}\n")
