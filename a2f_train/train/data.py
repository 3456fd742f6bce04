"""Corpus dataset utilities shared by the training scripts (NumPy only, no torch).

A :class:`FrameSet` holds every clip of one split in memory: audio as int16 in one buffer
(each clip and each augmented copy padded with ``pad`` zeros on both sides, so any window
``[t - 4160, t + 4160)`` is a plain slice) and per-frame tables at 30 fps. Frame ``i`` of a
clip sits at sample ``floor(i * 16000 / 30)`` (the SDK's regression schedule, section 2.2 of
a2f_reference.md), so its window starts at ``buffer offset + floor(i * 1600 / 3)`` in the
padded buffer.

Per-frame arrays (``F`` = frames of all clips of the split, ``D = S + T + 15 + 4``):

* ``targets`` [F, D] float32: skin PCA || tongue PCA in the *package* basis (deltas from the
  character's neutral, see :func:`package_basis`) || jaw keypoint deltas vs neutral (model
  units) || eye angles (degrees; right x, right y, left x, left y);
* ``bilabial`` [F] bool: frame time inside a /p b m/ closure ``[start, release]``;
* ``silence`` [F] bool: frame time inside a ``sil`` phone;
* ``phone`` [F] int16: index in :data:`~a2f_train.corpus.phonemes.COMMON_PHONES` of the phone
  under the frame time (-1 for a label outside it); the target of the phoneme loss;
* ``emotion_id`` [F] int: index in :data:`SHOTS` (0 = neutral);
* ``explicit`` [F, 10] float32: the clip's explicit emotion vector;
* ``clip`` [F] int and ``frame`` [F] int: clip index and frame index within the clip;
* ``next_ok`` [F] bool: frame ``i + 1`` exists in the same clip (pairs for the motion loss).

Each frame has ``1 + copies`` audio versions (clean, then augmented); ``offsets[v, f]`` is
the buffer start of frame ``f``'s window in version ``v``.

On-the-fly speaker/channel augmentation (:func:`warped_windows`, :func:`random_channel`):
speed perturbation (Kaldi-style: the audio is resampled by a factor ``s``, so tempo, pitch and
formants all scale by ``s``; the caller time-warps the targets accordingly) and a random
channel (smooth EQ curve, optional band limits), both applied in one FFT per window.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_actors.names import A2F_EMOTIONS

__all__ = [
    "BUFFER_LEN",
    "BUFFER_OFS",
    "SHOTS",
    "FrameSet",
    "load_frames",
    "package_basis",
    "phone_classes",
    "random_channel",
    "read_wav_int16",
    "warp_segment",
    "warped_windows",
]

RATE = 16000
FPS = 30
BUFFER_LEN = 8320
BUFFER_OFS = 4160
#: Implicit-emotion "shots": one per corpus emotion, neutral first (row 0).
SHOTS: tuple[str, ...] = ("neutral", *A2F_EMOTIONS)
BILABIAL = frozenset(("p", "b", "m"))


def read_wav_int16(path: Path) -> np.ndarray:
    """PCM16 mono WAV -> [N] int16."""
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


@dataclass(frozen=True)
class PackageBasis:
    """The corpus PCA re-centred on the character's neutral pose (NVIDIA's layout).

    ``coef_pkg = coef_corpus + offset`` where ``offset = (corpus_mean - neutral) @ M.T``, so
    ``neutral + coef_pkg @ M`` reconstructs the pose (rows of M are orthonormal).

    Attributes:
        skin_matrix: [S, 3V]; skin_neutral: [3V]; skin_offset: [S].
        tongue_matrix: [T, 3Vt]; tongue_neutral: [3Vt]; tongue_offset: [T].
        neutral_jaw: [15]; lip_gap: [S, K] opening of each inner-lip pair per coefficient.
    """

    skin_matrix: np.ndarray
    skin_neutral: np.ndarray
    skin_offset: np.ndarray
    tongue_matrix: np.ndarray
    tongue_neutral: np.ndarray
    tongue_offset: np.ndarray
    neutral_jaw: np.ndarray
    lip_gap: np.ndarray


def package_basis(corpus: Path, character: object) -> PackageBasis:
    """Read ``pca_*.npz`` of ``corpus`` and re-centre it on ``character``'s neutral pose."""
    from a2f_train.corpus.targets import load_pca

    skin, tongue = load_pca(corpus)
    ch = character
    sn = np.asarray(ch.skin_neutral, np.float32).reshape(-1)
    tn = np.asarray(ch.tongue_neutral, np.float32).reshape(-1)
    m = skin.matrix.reshape(skin.matrix.shape[0], -1, 3)
    opening = m[:, ch.upper_lip_ids] - m[:, ch.lower_lip_ids]
    gap = np.einsum("skc,kc->sk", opening, np.asarray(ch.lip_open_dirs, np.float32))
    return PackageBasis(
        skin_matrix=skin.matrix,
        skin_neutral=sn,
        skin_offset=((skin.mean - sn) @ skin.matrix.T).astype(np.float32),
        tongue_matrix=tongue.matrix,
        tongue_neutral=tn,
        tongue_offset=((tongue.mean - tn) @ tongue.matrix.T).astype(np.float32),
        neutral_jaw=np.asarray(ch.jaw_neutral, np.float32).reshape(-1),
        lip_gap=gap.astype(np.float32),
    )


@dataclass
class FrameSet:
    """Frames of one split in memory (see the module docstring for every field)."""

    audio: np.ndarray
    offsets: np.ndarray
    targets: np.ndarray
    bilabial: np.ndarray
    silence: np.ndarray
    emotion_id: np.ndarray
    explicit: np.ndarray
    clip: np.ndarray
    frame: np.ndarray
    next_ok: np.ndarray
    clip_ids: list[str]
    phone: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def windows(self, version: np.ndarray, index: np.ndarray) -> np.ndarray:
        """[B] audio versions and [B] frame indices -> [B, 8320] float32 windows in [-1, 1]."""
        starts = self.offsets[version, index]
        idx = starts[:, None] + np.arange(BUFFER_LEN)[None, :]
        return self.audio[idx].astype(np.float32) / 32768.0


#: Extra context each side of a warped window, so the FFT's circular edges stay outside it.
WARP_MARGIN = 640
_WARP_LEN = BUFFER_LEN + 2 * WARP_MARGIN  # 9600 samples: 9600 * s is an integer for s = k/240
_EQ_KNOTS_HZ = np.array([60.0, 150.0, 350.0, 800.0, 1600.0, 3200.0, 6000.0, 8000.0])


def warped_windows(
    audio: np.ndarray, centres: np.ndarray, speeds: np.ndarray, gain: np.ndarray | None = None
) -> np.ndarray:
    """Windows of speed-perturbed audio, band-limited resampling in the frequency domain.

    Window ``b`` holds the audio around buffer sample ``centres[b]`` played ``speeds[b]`` times
    faster: its sample ``k`` is the original audio at ``centres[b] + (k - 4160) * s``
    (band-limited interpolation; for ``s > 1`` the band above ``8000 / s`` Hz is dropped, for
    ``s < 1`` the result has nothing above ``8000 * s`` Hz). ``s = 1`` without ``gain``
    returns the plain window (up to float rounding).

    Args:
        audio: [N] int16 buffer of a :class:`FrameSet` (indices outside it read as its ends,
            which are zero padding).
        centres: [B] int buffer index of each window centre (``offset + 4160``).
        speeds: [B] factors with ``9600 * s`` integral (0.9, 0.95, 1.0, 1.05, 1.1, ...).
        gain: optional [B, 4801] magnitude response (:func:`random_channel`) applied to the
            output spectrum (bin ``k`` = ``k * 16000 / 9600`` Hz).

    Returns:
        [B, 8320] float32 windows in [-1, 1] (before gain, may slightly exceed it).
    """
    out = np.empty((centres.size, BUFFER_LEN), np.float32)
    for s in np.unique(speeds):
        sel = np.flatnonzero(speeds == s)
        n_in = _input_length(_WARP_LEN, float(s))
        idx = centres[sel, None] - n_in // 2 + np.arange(n_in)[None, :]
        seg = audio[np.clip(idx, 0, audio.size - 1)].astype(np.float32) / 32768.0
        w = _fft_warp(seg, _WARP_LEN, None if gain is None else gain[sel])
        out[sel] = w[:, WARP_MARGIN : WARP_MARGIN + BUFFER_LEN]
    return out


def _input_length(length: int, speed: float) -> int:
    """Input samples that ``length`` output samples played ``speed`` times faster consume."""
    n_in = round(length * speed)
    if abs(n_in - length * speed) > 1e-6:
        raise ValueError(f"speed {speed}: {length} * speed must be an integer")
    return n_in


def _fft_warp(seg: np.ndarray, length: int, gain: np.ndarray | None) -> np.ndarray:
    """[..., n_in] -> [..., length]: band-limited resampling by spectrum truncation/padding.

    ``gain``: optional magnitude response on the ``length // 2 + 1`` output bins.
    """
    n_in = seg.shape[-1]
    spec = np.fft.rfft(seg, axis=-1)
    keep = min(n_in, length) // 2 + 1
    y = np.zeros((*seg.shape[:-1], length // 2 + 1), np.complex64)
    y[..., :keep] = spec[..., :keep]
    if gain is not None:
        y *= gain
    return np.fft.irfft(y, n=length, axis=-1) * (length / n_in)


def random_channel(
    rng: np.random.Generator, n: int, eq_db: float, p_band: float, length: int = _WARP_LEN
) -> np.ndarray:
    """[n, length // 2 + 1] random magnitude responses (a microphone/room).

    For an FFT of ``length`` samples at 16 kHz (default: the 9600 of :func:`warped_windows`).

    A smooth EQ: gains ~ N(0, ``eq_db``) dB at 8 log-spaced knots (60 Hz .. 8 kHz),
    interpolated in log frequency; with probability ``p_band`` also a band limit: high-pass
    at U(80, 400) Hz and low-pass at U(3.4, 7.5) kHz, raised-cosine edges (25 % of the
    cut-off wide, so the impulse response stays short).
    """
    f = np.arange(length // 2 + 1) * (RATE / length)
    lf, knots = np.log(np.maximum(f, 30.0)), np.log(_EQ_KNOTS_HZ)
    db = rng.normal(0.0, eq_db, size=(n, knots.size))
    g = np.stack([np.interp(lf, knots, d) for d in db])
    out = 10 ** (g / 20)
    band = rng.random(n) < p_band
    for i in np.flatnonzero(band):
        hp, lp = rng.uniform(80, 400), rng.uniform(3400, 7500)
        up = np.clip((f - 0.75 * hp) / (0.5 * hp), 0, 1)
        down = np.clip((1.125 * lp - f) / (0.25 * lp), 0, 1)
        out[i] *= (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))
    return out.astype(np.float32)


def warp_segment(
    audio: np.ndarray, start: int, length: int, speed: float, gain: np.ndarray | None = None
) -> np.ndarray:
    """``length`` samples of ``audio`` played ``speed`` times faster, from sample ``start``.

    Output sample ``j`` is the band-limited interpolation of the input at ``start + j *
    speed`` (one FFT; ``length * speed`` must be an integer). Samples outside ``audio`` read
    as zeros. ``gain``: optional [length // 2 + 1] magnitude response (:func:`random_channel`).
    Keep a margin at both ends: the FFT's circular edges ring over a few hundred samples.

    Returns:
        [length] float32 (int16 input is scaled to [-1, 1]).
    """
    n_in = _input_length(length, speed)
    lo, hi = max(start, 0), min(start + n_in, audio.size)
    seg = np.zeros(n_in, np.float32)
    if hi > lo:
        seg[lo - start : hi - start] = audio[lo:hi]
    if audio.dtype == np.int16:
        seg /= 32768.0
    return _fft_warp(seg, length, gain).astype(np.float32)


def _phone_flags(
    data: np.lib.npyio.NpzFile, n: int, fps: int = FPS
) -> tuple[np.ndarray, np.ndarray]:
    """Closure flags [n] (``[start, release]`` of /p b/, all of /m/) and silence flags [n]."""
    t = np.arange(n) / fps
    bil, sil = np.zeros(n, bool), np.zeros(n, bool)
    labels = [str(x) for x in data["phone_label"]]
    for lab, s, e, r in zip(
        labels, data["phone_start"], data["phone_end"], data["phone_release"], strict=True
    ):
        if lab in BILABIAL:
            bil |= (t >= s) & (t <= (r if lab != "m" else e))
        elif lab == "sil":
            sil |= (t >= s) & (t < e)
    return bil, sil


def phone_classes(data: np.lib.npyio.NpzFile, n: int, fps: int = FPS) -> np.ndarray:
    """[n] int16 index in ``COMMON_PHONES`` of the phone under each frame time (-1: none).

    Frame ``i`` sits at ``i / fps`` s; a phone covers ``[start, end)``; frames after the last
    phone keep the last phone's class (the trailing silence of a clip).
    """
    from a2f_train.corpus.phonemes import COMMON_PHONES

    index = {p: i for i, p in enumerate(COMMON_PHONES)}
    cls = np.array([index.get(str(x), -1) for x in data["phone_label"]], np.int16)
    start = np.asarray(data["phone_start"], np.float64)
    if cls.size == 0:
        return np.full(n, -1, np.int16)
    pos = np.searchsorted(start, np.arange(n) / fps, side="right") - 1
    return np.where(pos >= 0, cls[np.clip(pos, 0, cls.size - 1)], -1).astype(np.int16)


def _clip_targets(corpus: Path, row: dict, basis: PackageBasis) -> np.ndarray:
    with np.load(corpus / "geometry" / f"{row['clip_id']}.npz") as g:
        skin = g["skin_pca_30"] + basis.skin_offset
        tongue = g["tongue_pca_30"] + basis.tongue_offset
        jaw = g["jaw_30"].reshape(len(skin), -1) - basis.neutral_jaw
        eyes = g["eyes_30"]
    return np.concatenate([skin, tongue, jaw, eyes], axis=1).astype(np.float32)


def _manifest(corpus: Path, split: str, limit: int | None) -> list[dict]:
    lines = (corpus / "manifest.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines if x.strip()]
    rows = [r for r in rows if r["split"] == split]
    rows = [r for r in rows if (corpus / "geometry" / f"{r['clip_id']}.npz").is_file()]
    return rows[:limit] if limit else rows


def load_frames(
    corpus: Path, split: str, basis: PackageBasis, copies: int = 1, limit: int | None = None
) -> FrameSet:
    """Load every clip of ``split`` (clean + up to ``copies`` augmented WAVs) and its targets.

    Args:
        corpus: corpus root (``manifest.jsonl``, ``clips/``, ``geometry/``).
        split: ``train``, ``val`` or ``test``.
        basis: :func:`package_basis` of the corpus.
        copies: augmented copies to load per clip (0 = clean only); a clip with fewer copies
            repeats its clean audio.
        limit: only the first ``limit`` clips of the split (tests, smoke runs). Clips whose
            ``geometry/<id>.npz`` is missing (geometry still being built) are skipped.

    Raises:
        ValueError: the split has no clip.
    """
    rows = _manifest(Path(corpus), split, limit)
    if not rows:
        raise ValueError(f"{corpus}: no clip in split {split!r}")
    audio_parts, cursor, pad = [], 0, BUFFER_OFS
    offs, tables = [], {k: [] for k in ("t", "b", "s", "e", "x", "c", "f", "n", "p")}
    for ci, row in enumerate(rows):
        with np.load(Path(corpus) / row["npz"]) as data:
            n = int(data["weights_30"].shape[0])
            bil, sil = _phone_flags(data, n)
            phone = phone_classes(data, n)
            explicit = np.asarray(data["emotion"], np.float32)
        wavs = [row["wav"], *[a["wav"] for a in row.get("aug", [])][:copies]]
        wavs += [row["wav"]] * (1 + copies - len(wavs))
        starts = (np.arange(n) * (RATE // 10)) // (FPS // 10)
        vers = []
        for w in wavs:
            pcm = read_wav_int16(Path(corpus) / w)
            audio_parts += [np.zeros(pad, np.int16), pcm, np.zeros(pad, np.int16)]
            vers.append(cursor + starts)
            cursor += 2 * pad + len(pcm)
        offs.append(np.stack(vers))
        emo = SHOTS.index(row["emotion"]) if row["emotion"] in SHOTS else 0
        for key, val in (("t", _clip_targets(Path(corpus), row, basis)[:n]), ("b", bil),
                         ("s", sil), ("e", np.full(n, emo)), ("x", np.tile(explicit, (n, 1))),
                         ("c", np.full(n, ci)), ("f", np.arange(n)),
                         ("n", np.arange(n) < n - 1), ("p", phone)):  # fmt: skip
            tables[key].append(val)
    audio_parts.append(np.zeros(BUFFER_LEN, np.int16))
    cat = {k: np.concatenate(v) for k, v in tables.items()}
    return FrameSet(
        audio=np.concatenate(audio_parts), offsets=np.concatenate(offs, axis=1),
        targets=cat["t"], bilabial=cat["b"], silence=cat["s"], emotion_id=cat["e"],
        explicit=cat["x"].astype(np.float32), clip=cat["c"], frame=cat["f"],
        next_ok=cat["n"], clip_ids=[r["clip_id"] for r in rows], phone=cat["p"],
    )  # fmt: skip
