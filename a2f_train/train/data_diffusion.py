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
from a2f_train.nets.diffusion import AC_FRAME, FRAMES, HOP, N_FFT, N_MELS, mel_filterbank
from a2f_train.train.data import _phone_flags, warp_segment

PAD = 16000  # samples of zeros each side (padding_left / padding_right)
MEL_PER_WINDOW_HOP = 50  # 8000 samples / 160
FRAME_PER_WINDOW_HOP = 30


@dataclass(frozen=True)
class ClipFeatures:
    """One audio version of one clip.

    Attributes:
        clip_id: corpus clip id.
        mel: ``[n_frames, 40 + A]`` float16 log-mel (then A autocorrelation rows, see
            :func:`audio_features`) of the padded audio.
        weights: ``[F + 120, 68]`` float32 weights_60 padded with 60 zero rows each side.
        eyes: ``[F + 120, 4]`` float32 eyes_60, padded likewise.
        emotion: ``[10]`` float32 explicit emotion vector of the clip.
        emotion_name: corpus emotion label.
        num_windows: SDK inferences of the clip (``ceil((F + 15) / 30) + 1``).
        bilabial: ``[F + 120]`` bool, frame inside a /p b m/ closure (padded with False), or
            None.
        audio: the padded audio as int16 (kept only for on-the-fly augmentation), or None.
    """

    clip_id: str
    mel: np.ndarray
    weights: np.ndarray
    eyes: np.ndarray
    emotion: np.ndarray
    emotion_name: str
    num_windows: int
    bilabial: np.ndarray | None = None
    audio: np.ndarray | None = None


def log_mel(audio: np.ndarray) -> np.ndarray:
    """NumPy twin of ``LogMel``: ``[N]`` -> ``[N // 160 + 1, 40]`` float32 (frame j at 160 j)."""
    x = np.pad(np.asarray(audio, np.float32), N_FFT // 2)
    n_frames = (len(x) - N_FFT) // HOP + 1
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    spec = np.fft.rfft(x[idx] * hann, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return ((np.log(power @ mel_filterbank() + 1e-6) + 7.0) / 4.0).astype(np.float32)


def autocorr(audio: np.ndarray, lags: int) -> np.ndarray:
    """NumPy twin of ``Autocorr``: ``[N]`` -> ``[N // 160 + 1, lags]`` float32 (frame j: 160 j)."""
    x = np.pad(np.asarray(audio, np.float32), (HOP, HOP + (-len(audio)) % HOP))
    n_frames = len(audio) // HOP + 1
    idx = np.arange(AC_FRAME)[None, :] + HOP * np.arange(n_frames)[:, None]
    fr = x[idx].astype(np.float64)
    fr = (fr - fr.mean(axis=1, keepdims=True)) * np.hanning(AC_FRAME)
    spec = np.fft.rfft(fr, n=2 * AC_FRAME, axis=1)  # zero padded: linear, not circular
    r = np.fft.irfft(spec.real**2 + spec.imag**2, axis=1)[:, :lags]
    r0 = r[:, :1]
    energy = (np.log(np.maximum(r0, 0) + 1e-6) + 7.0) / 4.0
    out = np.concatenate([energy, r[:, 1:] / (r0 + 1e-6)], axis=1)
    return out.astype(np.float32)


def audio_features(audio: np.ndarray, lags: int = 0) -> np.ndarray:
    """NumPy twin of ``DiffusionNet.features`` on a whole clip: ``[N // 160 + 1, 40 + lags]``."""
    mel = log_mel(audio)
    return mel if not lags else np.concatenate([mel, autocorr(audio, lags)], axis=1)


def pad_value(feats: np.ndarray) -> np.ndarray:
    """``[40 + A]`` fill for feature rows past the clip.

    The log-mel's minimum (as before autocorrelation rows existed), then silence's
    autocorrelation: the lowest log energy and zero normalised lags.
    """
    fill = np.full(feats.shape[1], feats[:, :N_MELS].min(), np.float32)
    if feats.shape[1] > N_MELS:
        fill[N_MELS] = feats[:, N_MELS].min()
        fill[N_MELS + 1 :] = 0.0
    return fill


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


def load_clip(
    corpus: Path, row: dict, max_aug: int = 1, keep_audio: bool = False, lags: int = 0
) -> list[ClipFeatures]:
    """The clean and up to ``max_aug`` augmented versions of one manifest row.

    ``keep_audio`` keeps the padded int16 audio (for :func:`warped_sequence`); ``lags`` adds
    that many autocorrelation rows to the features (:func:`audio_features`).
    """
    with np.load(Path(corpus) / row["npz"]) as d:
        w60, e60 = d["weights_60"], d["eyes_60"]
        emotion, name = d["emotion"].astype(np.float32), str(d["emotion_name"])
        bil, _ = _phone_flags(d, w60.shape[0], fps=60)
    f = w60.shape[0]
    n_win = int(np.ceil((f + 15) / 30)) + 1
    bil = np.pad(bil, FRAMES)
    wavs = [row["wav"], *[a["wav"] for a in row.get("aug", [])[:max_aug]]]
    out = []
    for wav in wavs:
        audio = np.pad(read_wav(Path(corpus) / wav), PAD)
        mel = audio_features(audio, lags).astype(np.float16)
        pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16) if keep_audio else None
        out.append(
            ClipFeatures(
                row["clip_id"], mel, _pad_rows(w60), _pad_rows(e60), emotion, name, n_win,
                bil, pcm,
            )
        )  # fmt: skip
    return out


def load_split(
    corpus: Path, split: str, max_aug: int = 1, limit: int | None = None,
    keep_audio: bool = False, lags: int = 0,
) -> list:  # fmt: skip
    """All :class:`ClipFeatures` of one split (``train``/``val``/``test``)."""
    rows = [r for r in manifest(corpus) if r["split"] == split][:limit]
    clips: list[ClipFeatures] = []
    for r in rows:
        clips += load_clip(corpus, r, max_aug, keep_audio, lags)
    return clips


def window_slices(k: int) -> tuple[slice, slice]:
    """(mel frames, code rows) of SDK window ``k`` in :class:`ClipFeatures` arrays."""
    m = MEL_PER_WINDOW_HOP * k
    c = FRAME_PER_WINDOW_HOP * k
    return slice(m, m + 100), slice(c, c + FRAMES)


def sequence(clip: ClipFeatures, k0: int, count: int, weights: np.ndarray) -> tuple:
    """Windows ``k0 .. k0+count-1``: features ``[W, 40 + A, 100]``, code ``[W, 60, 72]``.

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
            fill = np.broadcast_to(pad_value(mel), (100 - mel.shape[0], mel.shape[1]))
            mel = np.concatenate([mel, fill])
        code = np.concatenate([weights[cs], clip.eyes[cs]], axis=1)
        if code.shape[0] < FRAMES:
            code = np.pad(code, ((0, FRAMES - code.shape[0]), (0, 0)))
        mels.append(mel.T)
        codes.append(code)
    return np.stack(mels), np.stack(codes)


def sequence_bilabial(clip: ClipFeatures, k0: int, count: int) -> np.ndarray:
    """``[W, 60]`` closure flags of windows ``k0 .. k0+count-1`` (zeros without flags)."""
    out = np.zeros((count, FRAMES), np.float32)
    if clip.bilabial is None:
        return out
    for r, k in enumerate(range(k0, k0 + count)):
        rows = clip.bilabial[window_slices(k)[1]]
        out[r, : rows.size] = rows
    return out


#: Context each side of a warped sequence: 5 mel frames, so no mel frame sees the FFT edges.
WARP_MARGIN = 800


def warped_sequence(
    clip: ClipFeatures, k0: int, count: int, weights: np.ndarray, speed: float,
    gain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`sequence` of the clip's audio played ``speed`` times faster (and re-channelled).

    Kaldi-style speed perturbation: the audio from window ``k0``'s first sample on is
    resampled by ``speed`` (:func:`a2f_train.train.data.warp_segment`; tempo, pitch and
    formants scale together) and the 60 fps targets are time-warped to match: perturbed row
    ``q`` after the sequence start is the original row ``30 k0 + speed * q`` (linear
    interpolation; rows past the clip are the rest padding). Needs ``clip.audio``.

    Args:
        clip: the clip (loaded with ``keep_audio``).
        k0: first window (its start is the anchor of the warp).
        count: W windows.
        weights: ``[F + 120, 68]`` (possibly style-transformed) padded weights.
        speed: factor with ``(8000 (W - 1) + 16000 + 1600) * speed`` integral (0.9, 1.0, 1.1).
        gain: optional magnitude response for that length
            (:func:`a2f_train.train.data.random_channel` with ``length`` = the sum above).

    Returns:
        features ``[W, 40 + A, 100]`` (A autocorrelation rows, as in the clip's ``mel``),
        code ``[W, 60, 72]``, closure flags ``[W, 60]``.
    """
    if clip.audio is None:
        raise ValueError("warped_sequence needs ClipFeatures.audio (load_split keep_audio=True)")
    n_out = 8000 * (count - 1) + 16000
    length = n_out + 2 * WARP_MARGIN
    start = 8000 * k0 - round(WARP_MARGIN * speed)
    y = warp_segment(clip.audio, start, length, speed, gain)
    # frame j centred on y[160 j]: window r is frames 5 + 50 r .. + 100
    mel = audio_features(y, clip.mel.shape[1] - N_MELS)
    m0 = WARP_MARGIN // HOP
    rows = 30 * (count - 1) + FRAMES
    pos = np.minimum(30 * k0 + speed * np.arange(rows), len(clip.weights) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(clip.weights) - 1)
    frac = (pos - lo)[:, None].astype(np.float32)
    code = np.concatenate([weights, clip.eyes], axis=1)
    code = code[lo] * (1 - frac) + code[hi] * frac
    bil = np.zeros(rows, np.float32)
    if clip.bilabial is not None:
        bil = clip.bilabial[np.where(frac[:, 0] < 0.5, lo, hi)].astype(np.float32)
    mels = np.stack([mel[m0 + 50 * r : m0 + 50 * r + 100].T for r in range(count)])
    codes = np.stack([code[30 * r : 30 * r + FRAMES] for r in range(count)])
    bils = np.stack([bil[30 * r : 30 * r + FRAMES] for r in range(count)])
    return mels.astype(np.float32), codes.astype(np.float32), bils


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
