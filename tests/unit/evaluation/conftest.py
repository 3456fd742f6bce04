"""Fixtures: a tiny synthetic corpus in the corpus' npz layout, built in a temp folder."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.names import BLENDSHAPES

SR = 16000
JAW = BLENDSHAPES.index("JawOpen")
#: (label, start, release, end) of a clip: silence, "ba ma pa", silence.
PHONES = [
    ("sil", 0.0, 0.5, 0.5),
    ("b", 0.5, 0.56, 0.6),
    ("aa", 0.6, 0.8, 0.8),
    ("m", 0.8, 0.9, 0.9),
    ("aa", 0.9, 1.1, 1.1),
    ("p", 1.1, 1.17, 1.2),
    ("aa", 1.2, 1.4, 1.4),
    ("sil", 1.4, 2.0, 2.0),
]


def write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def clip_audio(seed: int = 0) -> np.ndarray:
    """Noise bursts during vowels, near-silence elsewhere (2.0 s)."""
    rng = np.random.default_rng(seed)
    audio = rng.normal(0.0, 1e-4, int(2.0 * SR))
    for label, start, _, end in PHONES:
        if label == "aa":
            a, b = int(start * SR), int(end * SR)
            audio[a:b] += rng.normal(0.0, 0.1, b - a) * np.hanning(b - a)
    return audio.astype(np.float32)


def clip_weights(fps: int) -> np.ndarray:
    """JawOpen 0.4 on vowels (raised cosine), 0 in silences and bilabial closures."""
    t = np.arange(int(2.0 * fps)) / fps
    w = np.zeros((t.size, len(BLENDSHAPES)), dtype=np.float32)
    for label, start, _, end in PHONES:
        if label == "aa":
            inside = (t >= start) & (t < end)
            w[inside, JAW] = 0.4 * np.sin(np.pi * (t[inside] - start) / (end - start))
    return w


def write_clip(folder: Path, name: str, split: str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / f"{name}.wav", clip_audio(seed))
    np.savez(
        folder / f"{name}.npz",
        weights_30=clip_weights(30),
        weights_60=clip_weights(60),
        phone_start=np.array([p[1] for p in PHONES]),
        phone_release=np.array([p[2] for p in PHONES]),
        phone_end=np.array([p[3] for p in PHONES]),
        phone_label=np.array([p[0] for p in PHONES]),
        word_start=np.array([0.5]),
        word_end=np.array([1.4]),
        word_text=np.array(["bamapa"]),
        meta=np.array(json.dumps({"clip_id": name, "split": split, "text": "ba ma pa"})),
    )
    return folder / f"{name}.npz"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"  # the builder's layout: <corpus>/clips/<id>.{wav,npz}
    write_clip(root / "clips", "clip_a", "test", seed=1)
    write_clip(root / "clips", "clip_b", "test", seed=2)
    write_clip(root / "clips", "clip_c", "train", seed=3)
    return root
