"""Training data of the diffusion and emotion networks: corpus clips -> log-mel + 60 fps code.

Each clip (``clips/<id>.wav`` plus its augmented copies ``<id>.aug<k>.wav``, and
``clips/<id>.npz`` with ``weights_60`` [F, 68], ``eyes_60`` [F, 4], ``emotion`` [10]) becomes
a :class:`ClipFeatures`: the 40-band log-mel of :class:`~a2f_train.nets.diffusion.LogMel`
computed once with NumPy (frame j centred on sample ``160 j - PAD``, the clip padded with
``PAD`` = 16000 zero samples each side, the SDK's diffusion padding) and the code targets
padded with 60 rest frames each side. Window ``k`` of the SDK schedule (samples
``[8000 k - 16000, 8000 k)``, frames ``30 k - 60 .. 30 k - 1``) is then mel frames
``[50 k, 50 k + 100)`` and code rows ``[30 k, 30 k + 60)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.names import BLENDSHAPES
from a2f_train.nets.diffusion import FRAMES, HOP, N_FFT, mel_filterbank

PAD = 16000  # samples of zeros each side (padding_left / padding_right)
MEL_PER_WINDOW_HOP = 50  # 8000 samples / 160
FRAME_PER_WINDOW_HOP = 30


@dataclass(frozen=True)
class ClipFeatures:
    """One audio version of one clip.

    Attributes:
        clip_id: corpus clip id.
        mel: ``[n_frames, 40]`` float16 log-mel of the padded audio.
        weights: ``[F + 120, 68]`` float32 weights_60 padded with 60 zero rows each side.
        eyes: ``[F + 120, 4]`` float32 eyes_60, padded likewise.
        emotion: ``[10]`` float32 explicit emotion vector of the clip.
        emotion_name: corpus emotion label.
        num_windows: SDK inferences of the clip (``ceil((F + 15) / 30) + 1``).
    """

    clip_id: str
    mel: np.ndarray
    weights: np.ndarray
    eyes: np.ndarray
    emotion: np.ndarray
    emotion_name: str
    num_windows: int


def log_mel(audio: np.ndarray) -> np.ndarray:
    """NumPy twin of ``LogMel``: ``[N]`` -> ``[N // 160 + 1, 40]`` float32 (frame j at 160 j)."""
    x = np.pad(np.asarray(audio, np.float32), N_FFT // 2)
    n_frames = (len(x) - N_FFT) // HOP + 1
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    spec = np.fft.rfft(x[idx] * hann, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return ((np.log(power @ mel_filterbank() + 1e-6) + 7.0) / 4.0).astype(np.float32)


def read_wav(path: Path) -> np.ndarray:
    """16 kHz mono WAV -> ``[N]`` float32 in [-1, 1]."""
    from scipy.io import wavfile

    rate, data = wavfile.read(path)
    if rate != 16000:
        raise ValueError(f"{path}: {rate} Hz, expected 16000")
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0
    return np.asarray(data, np.float32)


def _pad_rows(a: np.ndarray) -> np.ndarray:
    return np.pad(np.asarray(a, np.float32), ((FRAMES, FRAMES), (0, 0)))


def manifest(corpus: Path) -> list[dict]:
    """Rows of ``manifest.jsonl`` (clip_id, split, wav, npz, aug ...)."""
    lines = (Path(corpus) / "manifest.jsonl").read_text().splitlines()
    return [json.loads(s) for s in lines if s.strip()]


def load_clip(corpus: Path, row: dict, max_aug: int = 1) -> list[ClipFeatures]:
    """The clean and up to ``max_aug`` augmented versions of one manifest row."""
    with np.load(Path(corpus) / row["npz"]) as d:
        w60, e60 = d["weights_60"], d["eyes_60"]
        emotion, name = d["emotion"].astype(np.float32), str(d["emotion_name"])
    f = w60.shape[0]
    n_win = int(np.ceil((f + 15) / 30)) + 1
    wavs = [row["wav"], *[a["wav"] for a in row.get("aug", [])[:max_aug]]]
    out = []
    for wav in wavs:
        audio = np.pad(read_wav(Path(corpus) / wav), PAD)
        mel = log_mel(audio).astype(np.float16)
        out.append(
            ClipFeatures(row["clip_id"], mel, _pad_rows(w60), _pad_rows(e60), emotion, name, n_win)
        )
    return out


def load_split(corpus: Path, split: str, max_aug: int = 1, limit: int | None = None) -> list:
    """All :class:`ClipFeatures` of one split (``train``/``val``/``test``)."""
    rows = [r for r in manifest(corpus) if r["split"] == split][:limit]
    clips: list[ClipFeatures] = []
    for r in rows:
        clips += load_clip(corpus, r, max_aug)
    return clips


def window_slices(k: int) -> tuple[slice, slice]:
    """(mel frames, code rows) of SDK window ``k`` in :class:`ClipFeatures` arrays."""
    m = MEL_PER_WINDOW_HOP * k
    c = FRAME_PER_WINDOW_HOP * k
    return slice(m, m + 100), slice(c, c + FRAMES)


def sequence(clip: ClipFeatures, k0: int, count: int, weights: np.ndarray) -> tuple:
    """Windows ``k0 .. k0+count-1``: mel ``[W, 40, 100]``, code ``[W, 60, 72]``.

    Args:
        clip: the clip.
        k0: first window.
        count: W windows.
        weights: ``[F + 120, 68]`` (possibly style-transformed) padded weights.
    """
    mels, codes = [], []
    for k in range(k0, k0 + count):
        ms, cs = window_slices(k)
        mel = clip.mel[ms].astype(np.float32)
        if mel.shape[0] < 100:
            mel = np.pad(mel, ((0, 100 - mel.shape[0]), (0, 0)), constant_values=mel.min())
        code = np.concatenate([weights[cs], clip.eyes[cs]], axis=1)
        if code.shape[0] < FRAMES:
            code = np.pad(code, ((0, FRAMES - code.shape[0]), (0, 0)))
        mels.append(mel.T)
        codes.append(code)
    return np.stack(mels), np.stack(codes)


def fit_tongue_jaw(
    character: object, weights: np.ndarray, ridge: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge least-squares linear map from the Jaw*/Tongue* weights to tongue and jaw deltas.

    Tongue vertices follow the jaw's rotation and jaw keypoints move rigidly, so the map is
    a linearisation; other weights get zero rows.

    Args:
        character: the default character (``pose``, ``tongue_neutral``, ``jaw_neutral``).
        weights: ``[N, 68]`` sample frames (all styles).
        ridge: Tikhonov weight (per frame) on the coefficients.

    Returns:
        ``(matrix [68, 3Vt+15], bias [3Vt+15], relative RMS error)``.
    """
    _, tongue, jaw = character.pose(weights)
    target = np.concatenate(
        [
            (tongue - character.tongue_neutral).reshape(len(weights), -1),
            (jaw - character.jaw_neutral).reshape(len(weights), -1),
        ],
        axis=1,
    ).astype(np.float64)
    cols = np.array([i for i, n in enumerate(BLENDSHAPES) if n.startswith(("Jaw", "Tongue"))])
    x = np.concatenate([weights[:, cols], np.ones((len(weights), 1))], axis=1).astype(np.float64)
    gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
    sol = np.linalg.solve(gram, x.T @ target)
    err = np.sqrt(np.mean((x @ sol - target) ** 2) / max(np.mean(target**2), 1e-12))
    matrix = np.zeros((weights.shape[1], target.shape[1]), np.float32)
    matrix[cols] = sol[:-1]
    return matrix, sol[-1].astype(np.float32), float(err)
