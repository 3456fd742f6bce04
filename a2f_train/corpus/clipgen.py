"""Make one corpus clip: synthesize, pad, draw expression, compute curves, write atomically.

The clip ``.npz`` (all arrays; strings as NumPy unicode arrays, no pickles):

=================  ==============  =====================================================
key                shape / dtype   meaning
=================  ==============  =====================================================
weights_30         [F30, 68] f32   blendshape weights at t = i/30 s (NIM order)
weights_60         [F60, 68] f32   same at t = i/60 s (``weights_60[2i] == weights_30[i]``)
eyes_30, eyes_60   [F, 4] f32      eye angles, degrees: right x, right y, left x, left y
phone_start/end    [P] f64         phone interval, seconds
phone_release      [P] f64         closure end for stops (= end otherwise), seconds
phone_label        [P] str         common inventory (ARPAbet + ax + sil)
phone_raw          [P] str         the engine's own label
word_start/end     [W] f64         word interval, seconds (NaN when unknown)
word_text          [W] str         the words
emotion            [10] f32        explicit emotion vector (A2F order) = one-hot x intensity
emotion_intensity  [] f32          intensity in [0, 1] (0 for neutral)
emotion_name       [] str          ``neutral`` or one of the 10 emotions
blinks             [B, 2] f64      blink start and length, seconds
saccades           [K, 3] f64      saccade onset s, target pitch deg, target yaw deg
blendshape_names   [68] str        ``a2f_actors.names.BLENDSHAPES``
meta               [] str          JSON: ids, text, split, engine, voice, params, style...
=================  ==============  =====================================================

``F30 = ceil(N * 30 / 16000)`` and ``F60 = ceil(N * 60 / 16000)`` for ``N`` audio samples.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import wave
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from a2f_actors.names import BLENDSHAPES
from a2f_train.corpus import augment, curves, expression, tts_espeak, tts_flite, tts_piper
from a2f_train.corpus.phonemes import SILENCE, PhoneSeq, Utterance, WordSeq
from a2f_train.corpus.sentences import hand_written

if TYPE_CHECKING:
    from a2f_train.corpus.build import ClipSpec
    from a2f_train.corpus.config import CorpusConfig

__all__ = [
    "NPZ_KEYS", "atomic_write_text", "make_clip", "pad_utterance", "verify_clip", "write_clip",
]  # fmt: skip

RATE_HZ = 16000
ESPEAK_UNITS_PER_SEMITONE = 5.7  # espeak pitch 50 -> ~101 Hz, 90 -> ~152 Hz (en-us)
NPZ_KEYS: frozenset[str] = frozenset(
    ("weights_30", "weights_60", "eyes_30", "eyes_60", "phone_start", "phone_end",
     "phone_release", "phone_label", "phone_raw", "word_start", "word_end", "word_text",
     "emotion", "emotion_intensity", "emotion_name", "blinks", "saccades",
     "blendshape_names", "meta")
)  # fmt: skip
BABBLE_TALKERS = 3


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def wav_bytes(audio: np.ndarray) -> bytes:
    """PCM16 mono 16 kHz WAV file contents of [N] float audio in [-1, 1] (clipped)."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def pad_utterance(utt: Utterance, lead_s: float, trail_s: float) -> Utterance:
    """Add digital silence before and after the speech, shifting phones and words.

    Leading/trailing ``sil`` phones are extended (or added) to cover the padding.
    """
    lead = round(lead_s * RATE_HZ)
    trail = round(trail_s * RATE_HZ)
    audio = np.concatenate([np.zeros(lead, np.float32), utt.audio, np.zeros(trail, np.float32)])
    shift = lead / RATE_HZ
    p = utt.phones
    start, end, rel = p.start + shift, p.end + shift, p.release + shift
    labels, raws = list(p.label), list(p.raw)
    total = audio.shape[0] / RATE_HZ
    if labels and labels[0] == SILENCE:
        start[0] = 0.0
    else:
        start, end, rel = np.r_[0.0, start], np.r_[shift, end], np.r_[shift, rel]
        labels, raws = [SILENCE, *labels], ["pad", *raws]
    if labels[-1] == SILENCE:
        end[-1] = rel[-1] = total
    else:
        start, end, rel = np.r_[start, end[-1]], np.r_[end, total], np.r_[rel, total]
        labels, raws = [*labels, SILENCE], [*raws, "pad"]
    phones = PhoneSeq(start, end, np.minimum(rel, end), tuple(labels), tuple(raws))
    words = WordSeq(utt.words.start + shift, utt.words.end + shift, utt.words.text)
    return Utterance(audio, phones, words, utt.engine, utt.voice, dict(utt.params))


def _breathless(text: str, rng: np.random.Generator) -> str:
    """Insert pauses every 2-4 words (out-of-breath phrasing)."""
    words, out, gap = text.split(), [], int(rng.integers(2, 5))
    for i, w in enumerate(words):
        out.append(w)
        if (i + 1) % gap == 0 and i + 1 < len(words) and w[-1].isalpha():
            out[-1] += ","
    return " ".join(out)


def synthesize(spec: ClipSpec, cfg: CorpusConfig, rng: np.random.Generator) -> Utterance:
    """Speak ``spec.text`` with the spec's engine/voice and emotion-scaled random prosody."""
    pro = expression.PROSODY[spec.emotion]
    k = spec.intensity
    rate = 1.0 + (pro.rate - 1.0) * k
    semis = pro.pitch_semitones * k
    span = 1.0 + (pro.range_scale - 1.0) * k
    text = _breathless(spec.text, rng) if spec.emotion == "outofbreath" else spec.text
    v = cfg.voices
    if spec.engine == "espeak":
        return tts_espeak.synthesize(
            text, spec.voice,
            rate_wpm=int(np.clip(rng.uniform(*v.rate_wpm) * rate, 80, 450)),
            pitch=int(np.clip(rng.uniform(*v.pitch) + ESPEAK_UNITS_PER_SEMITONE * semis, 0, 100)),
            pitch_range=int(np.clip(rng.uniform(*v.pitch_range) * span, 0, 100)),
            timeout_s=cfg.timeout_s,
        )  # fmt: skip
    if spec.engine == "piper":  # rate only: piper's pitch is not controllable
        return tts_piper.synthesize(
            text, spec.voice,
            length_scale=float(rng.uniform(*v.piper_length_scale) / rate),
            timeout_s=cfg.timeout_s,
        )  # fmt: skip
    return tts_flite.synthesize(
        text, spec.voice,
        duration_stretch=float(rng.uniform(*v.flite_stretch) / rate),
        f0_shift_semitones=float(rng.uniform(*v.flite_semitones) + semis),
        f0_range=span, timeout_s=cfg.timeout_s,
    )  # fmt: skip


def voice_style(voice: str) -> curves.ArticulationStyle:
    """Deterministic per-voice articulation style (so it is learnable from the voice)."""
    seed = int.from_bytes(hashlib.sha256(voice.encode()).digest()[:4], "big")
    r = np.random.default_rng(seed)
    return curves.ArticulationStyle(
        jaw_scale=float(r.uniform(0.85, 1.15)),
        lip_scale=float(r.uniform(0.85, 1.15)),
        tau_scale=float(r.uniform(0.85, 1.2)),
    )


def _targets(utt: Utterance, spec: ClipSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = utt.audio.shape[0]
    dur = n / RATE_HZ
    blinks = expression.blink_times(dur, rng)
    sacc = expression.saccade_track(dur, rng)
    offset = expression.emotion_offset(spec.emotion, spec.intensity)
    style = voice_style(utt.voice)
    out: dict[str, np.ndarray] = {}
    for fps in (30, 60):
        t = curves.frame_times(n, fps)
        blink = expression.blink_curve(blinks, t)
        out[f"weights_{fps}"] = curves.face_weights(utt.phones, t, style, offset, blink)
        out[f"eyes_{fps}"] = expression.eye_angles(sacc, t)
    out.update(blinks=blinks, saccades=sacc)
    return out


def _babble_sources(rng: np.random.Generator, timeout_s: float) -> list[np.ndarray]:
    texts = hand_written()
    accents = tts_espeak.ESPEAK_ACCENTS
    return [
        tts_espeak.synthesize(
            texts[int(rng.integers(len(texts)))], accents[int(rng.integers(len(accents)))],
            rate_wpm=int(rng.integers(140, 200)), pitch=int(rng.integers(20, 80)),
            timeout_s=timeout_s,
        ).audio
        for _ in range(BABBLE_TALKERS)
    ]  # fmt: skip


def _write_augmented(
    clips: Path, spec: ClipSpec, cfg: CorpusConfig, audio: np.ndarray, rng: np.random.Generator
) -> list[dict[str, Any]]:
    a = cfg.augment
    aug_spec = augment.AugmentSpec(
        snr_db=a.snr_db, noise_prob=a.noise_prob, reverb_prob=a.reverb_prob, rt60_s=a.rt60_s,
        bandlimit_prob=a.bandlimit_prob, gain_db=a.gain_db,
    )  # fmt: skip
    babble = _babble_sources(rng, cfg.timeout_s) if a.copies else []
    out = []
    for k in range(1, a.copies + 1):
        y, info = augment.augment(audio, aug_spec, rng, babble)
        name = f"{spec.clip_id}.aug{k}.wav"
        atomic_write_bytes(clips / name, wav_bytes(y))
        out.append({"wav": f"clips/{name}", **info})
    return out


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def make_clip(spec: ClipSpec, out: Path, cfg: CorpusConfig) -> dict[str, Any]:
    """Synthesize and write one clip; returns its manifest row."""
    rng = np.random.default_rng(spec.seed)
    utt = pad_utterance(synthesize(spec, cfg, rng), *rng.uniform(*cfg.pad_s, size=2))
    return write_clip(spec, out, cfg, utt, rng)


def write_clip(
    spec: ClipSpec, out: Path, cfg: CorpusConfig, utt: Utterance, rng: np.random.Generator
) -> dict[str, Any]:
    """Targets, augmented copies and files of one clip whose audio and phones are ``utt``.

    Used by :func:`make_clip` (synthetic speech) and by :mod:`a2f_train.corpus.real_prompts`
    (recorded speech, force-aligned). ``rng`` draws blinks, saccades and the augmentation.
    """
    arrays = _targets(utt, spec, rng)
    clips = out / "clips"
    aug = _write_augmented(clips, spec, cfg, utt.audio, rng)
    n = int(utt.audio.shape[0])
    meta = {
        "clip_id": spec.clip_id, "sentence_id": spec.sentence_id, "text": spec.text,
        "split": spec.split, "engine": utt.engine, "voice": utt.voice, "params": utt.params,
        "emotion": spec.emotion, "intensity": spec.intensity, "seed": spec.seed,
        "style": asdict(voice_style(utt.voice)), "num_samples": n,
        "duration_s": n / RATE_HZ, "wav": f"clips/{spec.clip_id}.wav",
        "npz": f"clips/{spec.clip_id}.npz", "aug": aug,
    }  # fmt: skip
    p, w = utt.phones, utt.words
    arrays.update(
        phone_start=p.start, phone_end=p.end, phone_release=p.release,
        phone_label=np.array(p.label, dtype=str), phone_raw=np.array(p.raw, dtype=str),
        word_start=w.start, word_end=w.end, word_text=np.array(w.text, dtype=str),
        emotion=expression.emotion_vector(spec.emotion, spec.intensity),
        emotion_intensity=np.float32(spec.intensity), emotion_name=np.array(spec.emotion),
        blendshape_names=np.array(BLENDSHAPES), meta=np.array(json.dumps(meta)),
    )  # fmt: skip
    atomic_write_bytes(clips / f"{spec.clip_id}.wav", wav_bytes(utt.audio))
    atomic_write_bytes(clips / f"{spec.clip_id}.npz", _npz_bytes(arrays))  # last: marks done
    return meta


def verify_clip(clips: Path, clip_id: str, copies: int) -> dict[str, Any] | None:
    """The clip's manifest row if its files are complete and consistent, else ``None``."""
    npz = clips / f"{clip_id}.npz"
    if not npz.is_file():
        return None
    try:
        with np.load(npz) as data:
            if not set(data.files) >= NPZ_KEYS:
                return None
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    size = 44 + 2 * int(meta["num_samples"])
    wavs = [clips / f"{clip_id}.wav"] + [
        clips / f"{clip_id}.aug{k}.wav" for k in range(1, copies + 1)
    ]
    if len(meta.get("aug", [])) != copies:
        return None
    if not all(w.is_file() and w.stat().st_size == size for w in wavs):
        return None
    return meta
